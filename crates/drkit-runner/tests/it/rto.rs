use std::time::{Duration, SystemTime};

use drkit_runner::rto::{RPO_CLASS_OUTPUT, RPO_SECONDS_OUTPUT};
use drkit_runner::{Plan, RunEventKind, Runner, Step, Tier, Verdict};

use crate::common::{Fake, Log, action};

#[tokio::test(start_paused = true)]
async fn tiers_are_judged_against_their_budgets_from_the_incident_start() {
    let log = Log::default();
    // The incident began 50 minutes ago; the critical step takes 20 minutes.
    let incident = SystemTime::now() - Duration::from_secs(50 * 60);
    let db = Fake::new("db", &log).latency(20 * 60).arc();
    let app = Fake::new("app", &log).latency(30 * 60).arc();
    let rest = Fake::new("rest", &log).latency(60).arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&db)).tier(Tier::Critical),
            Step::new(action(&app))
                .tier(Tier::NonCritical)
                .depends_on(["db"]),
            Step::new(action(&rest)).depends_on(["app"]),
        ],
    )
    .unwrap();
    let runner = Runner::new().with_incident_start(incident);
    let mut events = runner.subscribe();
    let report = runner.run(&plan).await.unwrap();
    let v: Vec<(Tier, Verdict)> = report.rto.iter().map(|v| (v.tier, v.verdict)).collect();
    assert_eq!(
        v,
        [
            (Tier::Critical, Verdict::Breached),
            (Tier::NonCritical, Verdict::Met),
            (Tier::Full, Verdict::Met)
        ]
    );
    let critical = &report.rto[0];
    let after = critical.recovered_after.unwrap().as_secs_f64();
    assert!((after - 70.0 * 60.0).abs() < 2.0, "{after}");
    assert_eq!(report.rto[1].steps, 2);
    // Events carry the budget left for the step's tier.
    let mut db_done = None;
    while let Ok(e) = events.try_recv() {
        if let RunEventKind::Journal(r) = &e.kind
            && r.event.name() == "step_succeeded"
            && r.event.step() == Some("db")
        {
            db_done = e.budget;
        }
    }
    let budget = db_done.unwrap();
    assert_eq!(budget.tier, Tier::Critical);
    assert!(
        (budget.seconds - (-600.0)).abs() < 2.0,
        "{}",
        budget.seconds
    );
}

#[tokio::test(start_paused = true)]
async fn measured_data_loss_is_compared_with_the_objectives() {
    let log = Log::default();
    let db = Fake::new("restore-db", &log)
        .output(RPO_SECONDS_OUTPUT, 120)
        .output(RPO_CLASS_OUTPUT, "database")
        .arc();
    let files = Fake::new("restore-files", &log)
        .output(RPO_SECONDS_OUTPUT, 1800)
        .output(RPO_CLASS_OUTPUT, "files")
        .arc();
    let plan = Plan::new("p", vec![Step::new(action(&db)), Step::new(action(&files))]).unwrap();
    let report = Runner::new().run(&plan).await.unwrap();
    let v: Vec<(&str, &str, Verdict)> = report
        .rpo
        .iter()
        .map(|v| (v.step.as_str(), v.class.as_str(), v.verdict))
        .collect();
    assert_eq!(
        v,
        [
            ("restore-db", "database", Verdict::Met),
            ("restore-files", "files", Verdict::Breached)
        ]
    );
    assert_eq!(report.rpo[1].objective, Some(Duration::from_secs(15 * 60)));
}

/// A data check that fails because too much data was lost still reports what it measured: the
/// report's RPO verdict says breached, with the measured window, not "unknown".
#[tokio::test(start_paused = true)]
async fn a_failed_check_still_feeds_the_rpo_verdict() {
    use std::sync::Arc;

    use drkit_core::{ActionError, ActionRef, MockRecoveryAction, Outputs, Resource};
    use drkit_runner::RunError;

    let mut check = MockRecoveryAction::new();
    check.expect_id().return_const("data-loss".to_owned());
    check.expect_kind().return_const("checks.pg_data_loss");
    check
        .expect_target()
        .return_const(Resource::new("postgres", "table", "transactions"));
    check.expect_mutates().return_const(false);
    check.expect_iam_actions().return_const(&[][..]);
    check.expect_supports_rollback().return_const(false);
    check.expect_check().returning(|_| {
        Err(
            ActionError::postcondition("12 min of transactions lost, more than 5 min")
                .with_outputs(
                    Outputs::new()
                        .with(RPO_SECONDS_OUTPUT, 720)
                        .with(RPO_CLASS_OUTPUT, "database"),
                ),
        )
    });
    check.expect_execute().never();
    let plan = Plan::new("p", vec![Step::new(Arc::new(check) as ActionRef)]).unwrap();
    let report = match Runner::new().run(&plan).await {
        Err(RunError::Unsuccessful(report)) => report,
        other => panic!("expected a failed run, got {other:?}"),
    };
    assert_eq!(report.rpo.len(), 1);
    assert_eq!(report.rpo[0].verdict, Verdict::Breached);
    assert_eq!(report.rpo[0].measured, Duration::from_secs(720));
    assert!(report.to_markdown().contains("data-loss"));
}
