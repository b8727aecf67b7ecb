use drkit_core::ErrorKind;
use drkit_runner::{OnFailure, Outcome, Plan, Runner, Step, StepState};

use crate::common::{Fake, Log, action, events_of, failed_report};

#[tokio::test(start_paused = true)]
async fn completed_steps_are_compensated_in_reverse_order() {
    let log = Log::default();
    let a = Fake::new("a", &log).arc();
    let b = Fake::new("b", &log).arc();
    let probe = Fake::new("probe", &log).read_only().arc();
    let skipped = Fake::new("skipped", &log).done().arc();
    let bad = Fake::new("bad", &log).fails(1, ErrorKind::Conflict).arc();
    let never = Fake::new("never", &log).arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&a)),
            Step::new(action(&b)).depends_on(["a"]),
            Step::new(action(&probe)).depends_on(["a"]),
            Step::new(action(&skipped)),
            Step::new(action(&bad))
                .depends_on(["b", "probe", "skipped"])
                .on_failure(OnFailure::Rollback),
            Step::new(action(&never)).depends_on(["bad"]),
        ],
    )
    .unwrap();
    let report = failed_report(Runner::new().run(&plan).await);
    assert_eq!(report.outcome, Some(Outcome::RolledBack));
    // Only executed, mutating steps: b then a. Not the read-only probe, nor the skipped one,
    // nor the failed step.
    let rollbacks: Vec<String> = log
        .entries()
        .into_iter()
        .filter(|e| e.starts_with("rollback:"))
        .collect();
    assert_eq!(rollbacks, ["rollback:b", "rollback:a"]);
    assert_eq!(report.step("a").unwrap().state, StepState::RolledBack);
    assert_eq!(report.step("b").unwrap().state, StepState::RolledBack);
    assert_eq!(report.step("skipped").unwrap().state, StepState::Skipped);
    assert_eq!(report.step("never").unwrap().state, StepState::NotRun);
    assert_eq!(events_of(&report, "b").last(), Some(&"step_rolled_back"));
    let started = report
        .timeline
        .iter()
        .find_map(|r| match &r.event {
            drkit_runner::Event::RollbackStarted { because_of, steps } => {
                Some((because_of.clone(), steps.clone()))
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(
        started,
        ("bad".to_owned(), vec!["b".to_owned(), "a".to_owned()])
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_rollback_is_never_a_success() {
    let log = Log::default();
    let a = Fake::new("a", &log).arc();
    let b = Fake::new("b", &log).rollback(Some(false)).arc();
    let c = Fake::new("c", &log).rollback(None).arc();
    let bad = Fake::new("bad", &log).fails(1, ErrorKind::Conflict).arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&a)),
            Step::new(action(&b)).depends_on(["a"]),
            Step::new(action(&c)).depends_on(["b"]),
            Step::new(action(&bad))
                .depends_on(["c"])
                .on_failure(OnFailure::Rollback),
        ],
    )
    .unwrap();
    let err = Runner::new().run(&plan).await.unwrap_err();
    assert!(err.to_string().contains("its rollback failed"), "{err}");
    let report = failed_report(Err(err));
    assert_eq!(report.outcome, Some(Outcome::RollbackFailed));
    assert_eq!(report.step("c").unwrap().state, StepState::RollbackFailed);
    assert!(
        report
            .step("c")
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("has no rollback"),
        "{:?}",
        report.step("c").unwrap().error
    );
    assert_eq!(report.step("b").unwrap().state, StepState::RollbackFailed);
    // The others are still compensated, in reverse order.
    assert_eq!(report.step("a").unwrap().state, StepState::RolledBack);
    assert!(log.position("rollback:b") < log.position("rollback:a"));
    let failures: Vec<&str> = report.failures().map(|s| s.id.as_str()).collect();
    assert_eq!(failures, ["b", "c", "bad"]);
}

#[tokio::test(start_paused = true)]
async fn a_step_whose_verify_failed_after_executing_is_compensated_too() {
    let log = Log::default();
    let a = Fake::new("a", &log).verify_fails().arc();
    let plan = Plan::new(
        "p",
        vec![Step::new(action(&a)).on_failure(OnFailure::Rollback)],
    )
    .unwrap();
    let report = failed_report(Runner::new().run(&plan).await);
    assert_eq!(report.outcome, Some(Outcome::RolledBack));
    assert_eq!(log.count("rollback:a"), 1);
}

/// A deferred step (how every runbook step is built) is rolled back by the instance that
/// executed it — which remembers what it changed — not by a fresh build that remembers
/// nothing.
#[tokio::test(start_paused = true)]
async fn a_deferred_step_is_rolled_back_by_the_instance_that_ran() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let log = Log::default();
    let builds = Arc::new(AtomicUsize::new(0));
    let step = {
        let (log, builds) = (log.clone(), Arc::clone(&builds));
        Step::deferred("a", "demo", [], move |_| {
            builds.fetch_add(1, Ordering::SeqCst);
            Ok(action(&Fake::new("a", &log).rollback(Some(true)).arc()))
        })
    };
    let bad = Fake::new("bad", &log).fails(1, ErrorKind::Conflict).arc();
    let plan = Plan::new(
        "p",
        vec![
            step,
            Step::new(action(&bad))
                .depends_on(["a"])
                .on_failure(OnFailure::Rollback),
        ],
    )
    .unwrap();
    let report = failed_report(Runner::new().run(&plan).await);
    assert_eq!(report.outcome, Some(Outcome::RolledBack));
    assert_eq!(log.count("rollback:a"), 1);
    assert_eq!(
        builds.load(Ordering::SeqCst),
        1,
        "built again for the rollback"
    );
}
