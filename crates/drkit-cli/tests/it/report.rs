//! The report of `drkit run` and `drkit report JOURNAL`: each tier's critical path, the time
//! until it was healthy, and the trend against the plan's previous successful run (read from
//! the journal's archive). With `exec.command` steps: no network.

use crate::cli::{drkit, text, write};

const RUNBOOK: &str = r#"
version = 1
name = "trend"
[[steps]]
id = "work"
action = "exec.command"
tier = "critical"
[steps.params]
command = ["sh", "-c", "sleep \"$PAUSE\""]
env = { PAUSE = "${env.DRKIT_TEST_TREND_PAUSE}" }
[[steps]]
id = "health"
action = "exec.command"
tier = "critical"
depends_on = ["work"]
[steps.params]
command = ["true"]
mutates = false
"#;

#[test]
fn run_and_report_show_the_critical_path_and_the_step_that_got_slower() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "trend.toml", RUNBOOK);
    let journal = dir.path().join("journal");
    let run = |pause: &str| {
        let out = drkit(
            &[
                "run",
                file.to_str().unwrap(),
                "--journal",
                journal.to_str().unwrap(),
                "--auto-approve",
            ],
            &[("DRKIT_TEST_TREND_PAUSE", pause)],
        );
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
        stdout
    };
    let first = run("0");
    assert!(!first.contains("## Trend"), "no earlier run: {first}");
    let second = run("1.5");
    for expected in [
        "| Tier | Budget | Recovered after | Verdict | Last change | Healthy after |",
        "## Critical path",
        "| work | run start |",
        "| health | work |",
        "## Trend",
        "2 step(s) compared",
        "| work | ",
    ] {
        assert!(
            second.contains(expected),
            "missing {expected:?} in\n{second}"
        );
    }

    // From the journal alone: the previous run is in its archive.
    let out = drkit(
        &[
            "report",
            journal.join("trend.journal.jsonl").to_str().unwrap(),
            "--output",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let trend = &report["trend"];
    assert_ne!(trend["previous_run"], report["run"]);
    assert_eq!(trend["steps"][0]["step"], "work", "{trend}");
    assert!(
        trend["steps"][0]["change_secs"].as_f64().unwrap() >= 1.0,
        "{trend}"
    );
    let critical = &report["rto"][0];
    assert_eq!(critical["critical_path"][1]["step"], "health");
    assert_eq!(critical["healthy_after"], critical["recovered_after"]);
    assert!(critical["last_change_after"].is_string(), "{critical}");
}
