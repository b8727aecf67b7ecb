//! `drkit check`: exit codes, the metrics file, drift through `--journal`, bad input refused
//! before any request. The runbook's steps are local (`checks.http` against a local server,
//! `exec.command`), so no emulator is needed.

use std::time::Duration;

use crate::cli::{drkit, text, write};
use crate::hardening::Health;

fn runbook(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    write(
        dir,
        "ready.toml",
        &format!(
            r#"
version = 1
name = "ready-demo"
[[steps]]
id = "api-up"
action = "checks.http"
tier = "critical"
[steps.params]
url = "{url}"
timeout = "2s"
[[steps]]
id = "drain"
action = "exec.command"
tier = "critical"
depends_on = ["api-up"]
[steps.params]
command = ["true"]
check = ["sh", "-c", "exit 1"]
[[steps]]
id = "after-drain"
action = "checks.http"
tier = "critical"
depends_on = ["drain"]
[steps.params]
url = "{url}"
"#
        ),
    )
}

#[test]
fn check_says_ready_or_not_writes_metrics_and_lists_drift() {
    let health = Health::start(true);
    let dir = tempfile::tempdir().unwrap();
    let file = runbook(dir.path(), &health.url());
    let metrics = dir.path().join("drkit.prom");
    let args = |extra: &[&str]| {
        let mut args = vec![
            "check".to_owned(),
            file.display().to_string(),
            "--metrics".to_owned(),
            metrics.display().to_string(),
            "--journal".to_owned(),
            dir.path().display().to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args
    };
    let run = |extra: &[&str]| {
        let args = args(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        drkit(&args, &[])
    };
    let out = run(&[]);
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}{}", text(&out.stderr));
    assert!(
        shown.contains("READY")
            && shown.contains("| drain | exec.command | ready | can run `true`"),
        "{shown}"
    );
    assert!(
        shown.contains("| after-drain | - | after | evaluated after `drain`"),
        "{shown}"
    );
    assert!(
        shown.contains("Permissions: no step to run calls AWS."),
        "{shown}"
    );
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains("drkit_plan_ready{plan=\"ready-demo\"} 1"),
        "{prom}"
    );
    assert!(prom.ends_with("# EOF\n"), "{prom}");

    // The endpoint goes down: not ready (exit 1), named, and the drift says what changed.
    health.set_down();
    std::thread::sleep(Duration::from_millis(50));
    let out = run(&["--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not ready: api-up: "),
        "{}",
        text(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ready"], false);
    assert!(
        doc["drift"][0]
            .as_str()
            .unwrap()
            .starts_with("`api-up`: was ready, now not_ready"),
        "{doc:#}"
    );
    assert!(
        std::fs::read_to_string(&metrics)
            .unwrap()
            .contains("drkit_plan_ready{plan=\"ready-demo\"} 0")
    );
}

#[test]
fn bad_input_is_refused_before_any_request() {
    let health = Health::start(true);
    let dir = tempfile::tempdir().unwrap();
    let file = runbook(dir.path(), &health.url());
    let out = drkit(
        &[
            "check",
            file.to_str().unwrap(),
            "--metrics",
            "/nonexistent-drkit-dir/m.prom",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("the directory does not exist"));
    assert_eq!(health.hits(), 0, "a request was sent");

    // A principal that is not a role or user ARN.
    let out = drkit(
        &[
            "check",
            file.to_str().unwrap(),
            "--principal",
            "arn:aws:sts::123456789012:assumed-role/op/session",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not the ARN of an IAM role or user"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(health.hits(), 0, "a request was sent");
}
