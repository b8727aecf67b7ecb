use drkit_core::ErrorKind;
use drkit_runner::{FileJournalStore, JournalStore, OnFailure, Plan, Report, Runner, Step, Tier};

use crate::common::{Fake, Log, action, failed_report};

#[tokio::test(start_paused = true)]
async fn the_report_is_built_from_the_journal_alone() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let plan = Plan::new(
        "failover",
        vec![
            Step::new(action(&Fake::new("fence", &log).latency(30).arc())).tier(Tier::Critical),
            Step::new(action(
                &Fake::new("promote", &log)
                    .latency(90)
                    .output("rpo_seconds", 42)
                    .output("rpo_class", "database")
                    .arc(),
            ))
            .tier(Tier::Critical)
            .depends_on(["fence"]),
            Step::new(action(
                &Fake::new("dns", &log)
                    .fails(1, ErrorKind::AccessDenied)
                    .arc(),
            ))
            .depends_on(["promote"])
            .on_failure(OnFailure::Continue),
        ],
    )
    .unwrap();
    let runner = Runner::new().with_journal(FileJournalStore::new(dir.path()).unwrap());
    let returned = failed_report(runner.run(&plan).await);

    // Another process, later: only the journal directory.
    let records = FileJournalStore::new(dir.path())
        .unwrap()
        .load("failover")
        .await
        .unwrap();
    let report = Report::from_records(&records).unwrap();
    assert_eq!(report.to_json(), returned.to_json());
    assert_eq!(
        report.step("promote").unwrap().duration.unwrap().as_secs(),
        90
    );

    let md = report.to_markdown();
    for expected in [
        "# Recovery run `failover-",
        "- Outcome: **failed**",
        "## RTO",
        "| critical (2 steps) | 1h | 2m | met |",
        "| full (3 steps) | 8h | - | unknown |",
        "## RPO",
        "| promote | database | 42s | 5m | met |",
        "| fence | critical | demo | succeeded | T+0ms | 30s | 1 | - |",
        "| promote | critical | demo | succeeded | T+30s | 1m 30s | 1 | - |",
        "| dns | full | demo | FAILED | T+2m |",
        "## Failures",
        "- `dns` (FAILED): demo.fake [dns] on demo:thing/dns: dns broke (access_denied, a retry will not help)",
        "## Timeline",
        "| step_failed |",
        "| run_finished | failed |",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
    let json = report.to_json();
    assert_eq!(json["outcome"], "failed");
    assert_eq!(json["rto"][0]["verdict"], "met");
    assert_eq!(json["steps"][2]["state"], "failed");
}

/// A plan `trend` of `a` and `b` (independent) then `c`, with `b` taking `b_secs`.
fn trend_plan(log: &Log, b_secs: u64) -> Plan {
    Plan::new(
        "trend",
        vec![
            Step::new(action(&Fake::new("a", log).latency(10).arc())).tier(Tier::Critical),
            Step::new(action(&Fake::new("b", log).latency(b_secs).arc())).tier(Tier::Critical),
            Step::new(action(&Fake::new("c", log).read_only().latency(5).arc()))
                .tier(Tier::Critical)
                .depends_on(["a", "b"]),
        ],
    )
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_critical_path_and_the_trend_from_a_file_journal_and_its_archive() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let runner = || {
        Runner::new()
            .with_journal(FileJournalStore::new(dir.path()).unwrap())
            .with_max_concurrency(1)
    };
    runner().run(&trend_plan(&log, 20)).await.unwrap();
    // Run ids are the start's milliseconds: the next run starts in another one.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let returned = runner().run(&trend_plan(&log, 50)).await.unwrap();

    let store = FileJournalStore::new(dir.path()).unwrap();
    let current = store.load("trend").await.unwrap();
    let mut records = store.load_archived("trend").await.unwrap();
    assert!(!records.is_empty(), "the first run was not archived");
    records.extend(current.iter().cloned());
    let report = Report::from_records(&current).unwrap();
    assert_eq!(report.to_json(), returned.to_json());
    let report = report.with_previous(&records);

    // One step at a time: the second of `a` and `b` waited for the first.
    let path: Vec<(&str, u64, u64)> = report.rto[0]
        .critical_path
        .iter()
        .map(|p| (p.step.as_str(), p.waiting.as_secs(), p.working.as_secs()))
        .collect();
    let (first, second) = if path[0].0 == "a" { (50, 10) } else { (10, 50) };
    assert_eq!(path.len(), 2, "{path:?}");
    assert_eq!((path[0].1, path[0].2), (first, second), "{path:?}");
    assert_eq!(path[1], ("c", 0, 5));
    // `c` is read-only: the tier is healthy when it passed, after the last change.
    let critical = &report.rto[0];
    assert_eq!(critical.healthy_after, critical.recovered_after);
    assert!(critical.last_change_after < critical.healthy_after);

    let trend = report.trend.as_ref().unwrap();
    assert_ne!(trend.previous_run, report.run);
    assert_eq!(trend.steps[0].step, "b");
    assert_eq!(trend.steps[0].change_secs.round(), 30.0);
    let md = report.to_markdown();
    assert!(md.contains("| b | 20s | 50s | +30s (+150 %) |"), "{md}");
}
