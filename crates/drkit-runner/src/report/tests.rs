//! The critical path, the RTO until healthy and the trend, from hand-built journal records.

use std::time::{Duration, SystemTime};

use drkit_core::Outputs;

use super::*;
use crate::approval::Decision;
use crate::journal::StepInfo;
use crate::rto::Verdict;

/// The records of one run, at whole seconds after `t0`.
struct Journal {
    run: String,
    t0: SystemTime,
    records: Vec<Record>,
}

impl Journal {
    /// A run of plan `p` that starts at `t0 + start` (the incident 10 minutes before `t0`) with
    /// `steps`: (id, tier, dependencies).
    fn new(run: &str, t0: SystemTime, start: u64, steps: &[(&str, Tier, &[&str])]) -> Self {
        let mut j = Self {
            run: run.to_owned(),
            t0,
            records: Vec::new(),
        };
        j.at(
            start,
            Event::RunStarted {
                plan: "p".into(),
                fingerprint: "f".into(),
                resumed: false,
                holder: "test".into(),
                incident_start: t0 - Duration::from_secs(600),
                rto: RtoBudgets::default(),
                rpo: RpoObjectives::none(),
                steps: steps
                    .iter()
                    .map(|(id, tier, deps)| StepInfo {
                        id: (*id).to_owned(),
                        depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
                        tier: *tier,
                        service: "demo".into(),
                        kind: None,
                        target: None,
                    })
                    .collect(),
                source: None,
                mode: Mode::default(),
                impaired_regions: BTreeSet::new(),
            },
        );
        j
    }

    fn at(&mut self, secs: u64, event: Event) {
        self.records.push(Record {
            seq: self.records.len() as u64,
            at: self.t0 + Duration::from_secs(secs),
            run: self.run.clone(),
            event,
        });
    }

    /// Step `id` runs from `start` to `end` and succeeds.
    fn step(&mut self, id: &str, mutates: bool, start: u64, end: u64) {
        self.started(id, mutates, start);
        self.at(
            end,
            Event::StepSucceeded {
                step: id.into(),
                outputs: Outputs::new(),
                verified: "ok".into(),
                duration: Duration::from_secs(end - start),
            },
        );
    }

    fn started(&mut self, id: &str, mutates: bool, at: u64) {
        self.at(
            at,
            Event::StepStarted {
                step: id.into(),
                kind: "demo.step".into(),
                target: format!("demo:thing/{id}"),
                mutates,
            },
        );
    }

    fn finish(mut self, secs: u64, outcome: Outcome) -> Vec<Record> {
        self.at(secs, Event::RunFinished { outcome });
        self.records
    }
}

/// The Markdown section that starts with `heading`, up to the next `## `.
fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md.find(heading).unwrap_or(md.len());
    let rest = &md[start..];
    let end = rest[heading.len()..]
        .find("\n## ")
        .map_or(rest.len(), |i| i + heading.len());
    &rest[..end]
}

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// (step, after, waiting, approval, working) of each step of `tier`'s critical path.
fn chain(report: &Report, tier: Tier) -> Vec<(&str, Option<&str>, u64, u64, u64)> {
    report
        .rto
        .iter()
        .find(|v| v.tier == tier)
        .map(|v| {
            v.critical_path
                .iter()
                .map(|p| {
                    (
                        p.step.as_str(),
                        p.after.as_deref(),
                        p.waiting.as_secs(),
                        p.approval.as_secs(),
                        p.working.as_secs(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_critical_path_of_a_diamond_is_its_slower_branch() {
    use Tier::Critical as C;
    let mut j = Journal::new(
        "r",
        t0(),
        0,
        &[
            ("fence", C, &[]),
            ("fast", C, &["fence"]),
            ("slow", C, &["fence"]),
            ("dns", C, &["fast", "slow"]),
        ],
    );
    j.step("fence", true, 0, 10);
    j.step("fast", true, 10, 20);
    j.step("slow", true, 10, 70);
    j.step("dns", true, 70, 80);
    let report = Report::from_records(&j.finish(80, Outcome::Succeeded)).unwrap();
    assert_eq!(
        chain(&report, Tier::Critical),
        [
            ("fence", None, 0, 0, 10),
            ("slow", Some("fence"), 0, 0, 60),
            ("dns", Some("slow"), 0, 0, 10),
        ]
    );
    // Full recovery has the same steps: the same chain.
    assert_eq!(chain(&report, Tier::Full), chain(&report, Tier::Critical));
    let md = report.to_markdown();
    for expected in [
        "## Critical path",
        "The run started at T+10m.",
        "### critical: recovered after 11m 20s",
        "| Step | After | Waiting | Approval | Working | Ended |",
        "| fence | run start | 0ms | - | 10s | T+10m 10s |",
        "| slow | fence | 0ms | - | 1m | T+11m 10s |",
        "| dns | slow | 0ms | - | 10s | T+11m 20s |",
        "| **total** | | 0ms | 0ms | 1m 20s | |",
        "### full: recovered after 11m 20s\n\nThe same chain as the critical tier.",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
    assert!(
        !section(&md, "## Critical path").contains("| fast |"),
        "{md}"
    );
    let json = report.to_json();
    assert_eq!(json["rto"][0]["critical_path"][1]["step"], "slow");
    assert_eq!(json["rto"][0]["critical_path"][1]["after"], "fence");
    assert_eq!(json["rto"][0]["critical_path"][1]["working"], "1m");
    assert_eq!(json["steps"][3]["depends_on"][1], "slow");
}

#[test]
fn a_step_held_by_a_concurrency_limit_and_an_approval_shows_both_waits() {
    use Tier::Critical as C;
    let mut j = Journal::new(
        "r",
        t0(),
        0,
        &[
            ("excluded", C, &[]),
            ("a", C, &[]),
            ("b", C, &[]),
            ("promote", C, &["b", "excluded"]),
        ],
    );
    // Skipped for the run's conditions: never started, no work.
    j.at(
        1,
        Event::StepSkipped {
            step: "excluded".into(),
            detail: "region us-east-1 impaired".into(),
            outputs: Outputs::new(),
            condition: true,
        },
    );
    // One step at a time: `b` starts when `a` ends.
    j.step("a", false, 0, 10);
    j.step("b", false, 10, 20);
    // `promote` waits 30 s for its approver.
    j.started("promote", true, 20);
    j.at(
        22,
        Event::ApprovalRequested {
            step: "promote".into(),
        },
    );
    j.at(
        52,
        Event::ApprovalDecided {
            step: "promote".into(),
            decision: Decision::Approved { by: "alice".into() },
        },
    );
    j.at(
        65,
        Event::StepSucceeded {
            step: "promote".into(),
            outputs: Outputs::new(),
            verified: "ok".into(),
            duration: secs(45),
        },
    );
    let report = Report::from_records(&j.finish(65, Outcome::Succeeded)).unwrap();
    assert_eq!(
        chain(&report, Tier::Critical),
        [("b", None, 10, 0, 10), ("promote", Some("b"), 0, 30, 15)]
    );
    assert_eq!(
        report.step("promote").unwrap().approval_wait,
        Some(secs(30))
    );
    assert_eq!(
        report.step("promote").unwrap().approved_by.as_deref(),
        Some("alice")
    );
    let md = report.to_markdown();
    for expected in [
        "| b | run start | 10s | - | 10s | T+10m 20s |",
        "| promote | b | 0ms | 30s | 15s | T+11m 5s |",
        "| **total** | | 10s | 30s | 25s | |",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }

    // When the excluded step is what the next one waited for: zero work.
    let mut j = Journal::new("r", t0(), 0, &[("skip", C, &[]), ("next", C, &["skip"])]);
    j.at(
        3,
        Event::StepSkipped {
            step: "skip".into(),
            detail: "not run in ungraceful mode".into(),
            outputs: Outputs::new(),
            condition: true,
        },
    );
    j.step("next", true, 3, 8);
    let report = Report::from_records(&j.finish(8, Outcome::Succeeded)).unwrap();
    assert_eq!(
        chain(&report, Tier::Critical),
        [("skip", None, 3, 0, 0), ("next", Some("skip"), 0, 0, 5)]
    );
    assert!(
        report
            .to_markdown()
            .contains("| skip (skipped) | run start | 3s | - | 0ms |"),
        "{}",
        report.to_markdown()
    );
}

#[test]
fn a_tier_is_healthy_when_its_last_health_check_passed_after_its_last_change() {
    use Tier::{Critical as C, NonCritical as N};
    let mut j = Journal::new(
        "r",
        t0(),
        0,
        &[
            ("db-before", C, &[]),
            ("promote", C, &["db-before"]),
            ("db-after", C, &["promote"]),
            ("cdn", N, &["db-after"]),
        ],
    );
    j.step("db-before", false, 0, 5);
    j.step("promote", true, 5, 35);
    j.step("db-after", false, 35, 95);
    // The non-critical tier's last step is a change: its last health check came before it.
    j.step("cdn", true, 95, 100);
    let report = Report::from_records(&j.finish(100, Outcome::Succeeded)).unwrap();
    let critical = &report.rto[0];
    assert_eq!(critical.verdict, Verdict::Met);
    assert_eq!(critical.recovered_after, Some(secs(695)));
    assert_eq!(critical.last_change_after, Some(secs(635)));
    assert_eq!(critical.healthy_after, Some(secs(695)));
    let non_critical = &report.rto[1];
    assert_eq!(non_critical.last_change_after, Some(secs(700)));
    assert_eq!(non_critical.healthy_after, Some(secs(695)));
    let md = report.to_markdown();
    for expected in [
        "| Tier | Budget | Recovered after | Verdict | Last change | Healthy after |",
        "| critical (3 steps) | 1h | 11m 35s | met | 10m 35s | 11m 35s |",
        "| non-critical (4 steps) | 4h | 11m 40s | met | 11m 40s | 11m 35s (before the last change) |",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
    let json = report.to_json();
    assert_eq!(json["rto"][0]["healthy_after"], "11m 35s");
    assert_eq!(json["rto"][0]["last_change_after"], "10m 35s");
    // The existing fields are unchanged.
    assert_eq!(json["rto"][0]["recovered_after"], "11m 35s");
    assert_eq!(json["rto"][0]["verdict"], "met");
    assert_eq!(json["steps"][1]["mutates"], true);

    // Not recovered: no last change, no health, no path.
    let mut j = Journal::new(
        "r",
        t0(),
        0,
        &[("promote", C, &[]), ("check", C, &["promote"])],
    );
    j.step("promote", true, 0, 30);
    j.started("check", false, 30);
    let report = Report::from_records(&j.records).unwrap();
    let critical = &report.rto[0];
    assert_eq!(critical.recovered_after, None);
    assert_eq!(
        (critical.last_change_after, critical.healthy_after),
        (None, None)
    );
    assert!(critical.critical_path.is_empty());
    assert!(!report.to_markdown().contains("## Critical path"));
}

#[test]
fn the_trend_lists_the_step_that_got_slower_first() {
    use Tier::Critical as C;
    let steps: &[(&str, Tier, &[&str])] = &[
        ("fence", C, &[]),
        ("promote", C, &["fence"]),
        ("dns", C, &["promote"]),
    ];
    // The previous successful run.
    let mut first = Journal::new("run-1", t0(), 0, steps);
    first.step("fence", true, 0, 10);
    first.step("promote", true, 10, 40);
    first.step("dns", true, 40, 100);
    // A failed run after it (passed over, however slow).
    let mut failed = Journal::new("run-2", t0(), 1000, steps);
    failed.step("fence", true, 1000, 1900);
    failed.at(
        1950,
        Event::StepFailed {
            step: "promote".into(),
            error: "broke".into(),
            kind: drkit_core::ErrorKind::AccessDenied,
            outputs: Outputs::new(),
            duration: secs(50),
        },
    );
    // This run: promote 90 s slower, fence 5 s slower, dns 40 s faster.
    let mut now = Journal::new("run-3", t0(), 2000, steps);
    now.step("fence", true, 2000, 2015);
    now.step("promote", true, 2015, 2135);
    now.step("dns", true, 2135, 2155);
    let mut records = first.finish(100, Outcome::Succeeded);
    records.extend(failed.finish(1950, Outcome::Failed));
    let current = now.finish(2155, Outcome::Succeeded);
    records.extend(current.clone());

    let report = Report::from_records(&current).unwrap();
    assert_eq!(report.trend, None, "no earlier run in its records");
    let report = report.with_previous(&records);
    let trend = report.trend.as_ref().unwrap();
    assert_eq!(trend.previous_run, "run-1");
    let order: Vec<(&str, f64)> = trend
        .steps
        .iter()
        .map(|s| (s.step.as_str(), s.change_secs))
        .collect();
    assert_eq!(order, [("promote", 90.0), ("fence", 5.0), ("dns", -40.0)]);
    // Under the report's resolution, a change is noise.
    let noise = StepTrend {
        change_secs: 0.0004,
        ..trend.steps[0].clone()
    };
    assert!(trend.steps[0].is_regression() && !noise.is_regression());
    let md = report.to_markdown();
    let promote = "| promote | 30s | 2m | +1m 30s (+300 %) |";
    let fence = "| fence | 10s | 15s | +5s (+50 %) |";
    for expected in [
        "## Trend",
        "Against the previous successful run `run-1` (",
        "3 step(s) compared, 2 slower; the slowest regressions first.",
        promote,
        fence,
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
    assert!(md.find(promote) < md.find(fence), "{md}");
    assert!(
        !section(&md, "## Trend").contains("| dns |"),
        "an improvement listed: {md}"
    );
    let json = report.to_json();
    assert_eq!(json["trend"]["previous_run"], "run-1");
    assert_eq!(json["trend"]["steps"][0]["step"], "promote");
    assert_eq!(json["trend"]["steps"][0]["previous"], "30s");
    assert_eq!(json["trend"]["steps"][0]["now"], "2m");

    // The earlier run itself has no previous one; nor does a run whose only earlier run failed.
    let first = Report::for_run(&records, "run-1")
        .unwrap()
        .with_previous(&records);
    assert_eq!(first.trend, None);
    let only_failed: Vec<Record> = records
        .iter()
        .filter(|r| r.run != "run-1")
        .cloned()
        .collect();
    let report = Report::for_run(&only_failed, "run-3")
        .unwrap()
        .with_previous(&only_failed);
    assert_eq!(report.trend, None);
    assert!(!report.to_markdown().contains("## Trend"));
}

#[test]
fn only_the_top_ten_regressions_are_listed() {
    let ids: Vec<String> = (0..12).map(|i| format!("s{i:02}")).collect();
    let steps: Vec<(&str, Tier, &[&str])> = ids
        .iter()
        .map(|id| (id.as_str(), Tier::Full, &[][..]))
        .collect();
    let mut before = Journal::new("run-1", t0(), 0, &steps);
    let mut now = Journal::new("run-2", t0(), 1000, &steps);
    for (i, id) in ids.iter().enumerate() {
        before.step(id, true, 0, 10);
        now.step(id, true, 1000, 1011 + i as u64);
    }
    let mut records = before.finish(30, Outcome::Succeeded);
    records.extend(now.finish(1030, Outcome::Succeeded));
    let report = Report::from_records(&records)
        .unwrap()
        .with_previous(&records);
    assert_eq!(report.trend.as_ref().unwrap().steps.len(), 12);
    let md = report.to_markdown();
    assert!(
        md.contains("12 step(s) compared, 12 slower; the slowest regressions first (the top 10)."),
        "{md}"
    );
    assert!(md.contains("| s11 | 10s | 22s | +12s (+120 %) |"), "{md}");
    let trend = section(&md, "## Trend");
    assert!(
        trend.contains("| s02 |") && !trend.contains("| s01 |"),
        "{md}"
    );
}

/// A graceful run that met a dark region and was resumed ungraceful: the report's mode is the
/// last part's, and it says where the mode changed.
#[test]
fn a_resume_that_switches_the_mode_is_shown() {
    use Tier::Critical as C;
    let mut j = Journal::new("r", t0(), 0, &[("db", C, &[])]);
    j.started("db", true, 1);
    j.at(
        20,
        Event::RunFinished {
            outcome: Outcome::Failed,
        },
    );
    let mut resumed = j.records[0].event.clone();
    if let Event::RunStarted {
        resumed: r,
        mode,
        impaired_regions,
        ..
    } = &mut resumed
    {
        *r = true;
        *mode = Mode::Ungraceful;
        impaired_regions.insert("us-east-1".into());
    }
    j.at(30, resumed);
    j.step("db", true, 31, 40);
    let report = Report::from_records(&j.finish(40, Outcome::Succeeded)).unwrap();
    assert_eq!(report.mode, Mode::Ungraceful);
    assert_eq!(
        report.mode_switches,
        [ModeSwitch {
            from: Mode::Graceful,
            to: Mode::Ungraceful,
            at: t0() + secs(30),
        }]
    );
    let md = report.to_markdown();
    assert!(
        md.contains(
            "- Mode: ungraceful; impaired regions: us-east-1 (switched from graceful to \
             ungraceful at the resume at T+10m 30s)"
        ),
        "{md}"
    );
}
