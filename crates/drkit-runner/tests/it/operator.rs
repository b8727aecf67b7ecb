//! `resume --retry STEP` / `--skip STEP --reason ...`: the operator's decisions, journalled
//! with who made them, before any step runs; bad decisions refused with nothing journalled.

use std::sync::Arc;

use drkit_core::{ActionRef, Check, ErrorKind, Outputs};
use drkit_runner::{
    Event, FileJournalStore, JournalStore, OperatorDecisions, Outcome, OutputRef, Plan, RunError,
    Runner, Step, StepState,
};

use crate::common::{Fake, Log, action, failed_report, mock};

/// a -> b (fails twice) -> c; and d uses b's output `id`.
fn plan(log: &Log) -> (Plan, Arc<Fake>) {
    let a = Fake::new("a", log).arc();
    let b = Fake::new("b", log)
        .output("id", "b-1")
        .fails(2, ErrorKind::Conflict)
        .arc();
    let c = Fake::new("c", log).arc();
    let d = Fake::new("d", log).arc();
    let d_action: ActionRef = action(&d);
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&a)),
            Step::new(action(&b)).depends_on(["a"]),
            Step::new(action(&c)).depends_on(["b"]),
            Step::deferred("d", "demo", [OutputRef::new("b", "id")], move |_| {
                Ok(Arc::clone(&d_action))
            })
            .depends_on(["b"]),
        ],
    )
    .unwrap();
    (plan, b)
}

#[tokio::test(start_paused = true)]
async fn a_skipped_step_is_journalled_with_who_and_why_and_its_dependents_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let (plan, _b) = plan(&log);
    let store = || FileJournalStore::new(dir.path()).unwrap();
    let first = failed_report(Runner::new().with_journal(store()).run(&plan).await);
    assert_eq!(first.step("b").unwrap().state, StepState::Failed);

    let report = Runner::new()
        .with_journal(store())
        .with_operator_decisions(
            OperatorDecisions::by("alice@bastion").skip("b", "done by hand in the console"),
        )
        .resume(&plan)
        .await
        .unwrap();
    assert_eq!(report.outcome, Some(Outcome::Succeeded));
    assert_eq!(log.count("execute:b"), 1, "b was run again");
    assert_eq!(log.count("execute:c"), 1, "c (after b) went on");
    assert_eq!(log.count("execute:d"), 0, "d uses b's output: skipped too");
    let b = report.step("b").unwrap();
    assert_eq!(b.state, StepState::Skipped);
    let records = store().load("p").await.unwrap();
    let decided = records
        .iter()
        .find_map(|r| match &r.event {
            Event::OperatorDecided {
                step,
                decision,
                by,
                reason,
            } => Some((step.clone(), decision.clone(), by.clone(), reason.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        decided,
        (
            "b".into(),
            "skip".into(),
            "alice@bastion".into(),
            Some("done by hand in the console".into())
        )
    );
    let d_skipped = records.iter().any(|r| {
        matches!(&r.event, Event::StepSkipped { step, detail, .. }
            if step == "d" && detail.contains("skipped by the operator: done by hand"))
    });
    assert!(d_skipped, "{records:#?}");
}

/// A step whose outcome is unknown: a plain automatic resume refuses it, `--retry` is the
/// person's decision.
#[tokio::test(start_paused = true)]
async fn retry_is_the_persons_decision_for_an_unknown_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let store = || FileJournalStore::new(dir.path()).unwrap();
    let unknown = |executes: usize| {
        let mut m = mock("drain");
        m.expect_check()
            .returning(|_| Ok(Check::unknown("it may have run; run it again?")));
        m.expect_execute()
            .times(executes)
            .returning(|_| Ok(Outputs::new()));
        m.expect_verify().returning(|_| Ok("ok".into()));
        Plan::new("u", vec![Step::new(Arc::new(m))]).unwrap()
    };
    let first = failed_report(Runner::new().with_journal(store()).run(&unknown(0)).await);
    assert_eq!(first.step("drain").unwrap().state, StepState::Failed);
    let report = Runner::new()
        .with_journal(store())
        .with_operator_decisions(OperatorDecisions::by("alice@bastion").retry("drain"))
        .resume(&unknown(1))
        .await
        .unwrap();
    assert_eq!(
        report.step("drain").unwrap().approved_by.as_deref(),
        Some("alice@bastion (--retry drain)")
    );
}

/// Unknown steps, steps already done, and decisions on a new run are refused; nothing is
/// journalled.
#[tokio::test(start_paused = true)]
async fn bad_decisions_are_refused_and_journal_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let (plan, _b) = plan(&log);
    let store = || FileJournalStore::new(dir.path()).unwrap();
    failed_report(Runner::new().with_journal(store()).run(&plan).await);
    let before = store().load("p").await.unwrap().len();
    let refused = |decisions: OperatorDecisions, resume: bool| {
        let plan = plan.clone();
        let runner = Runner::new()
            .with_journal(store())
            .with_operator_decisions(decisions);
        async move {
            let result = if resume {
                runner.resume(&plan).await
            } else {
                runner.run(&plan).await
            };
            match result {
                Err(RunError::OperatorDecision(why)) => why,
                other => panic!("not refused: {:?}", other.map(|r| r.outcome)),
            }
        }
    };
    let why = refused(OperatorDecisions::by("x").skip("nope", "r"), true).await;
    assert!(
        why.contains("unknown step `nope`") && why.contains("a, b, c, d"),
        "{why}"
    );
    let why = refused(OperatorDecisions::by("x").retry("a"), true).await;
    assert_eq!(
        why,
        "step `a` succeeded in this run already: nothing to retry"
    );
    let why = refused(OperatorDecisions::by("x").retry("b"), false).await;
    assert!(why.contains("resume only"), "{why}");
    assert_eq!(store().load("p").await.unwrap().len(), before);
}
