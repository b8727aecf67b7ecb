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
