//! Paused by a failed step: a person (here a scripted handler) chooses retry, skip, continue,
//! rollback or abort; each choice is journalled with who made it, then acted on.

use std::sync::{Arc, Mutex};

use drkit_core::{ActionError, ActionRef, ErrorKind, async_trait};
use drkit_runner::{
    Event, FailureChoice, FailureHandler, FailureRequest, OnFailure, Outcome, OutputRef, Plan,
    Runner, Step, StepState,
};

use crate::common::{Fake, Log, action, failed_report};

/// Answers with `choices` in turn, remembering what it was asked.
#[derive(Debug)]
struct Person {
    choices: Mutex<Vec<FailureChoice>>,
    asked: Mutex<Vec<FailureRequest>>,
}

impl Person {
    fn answering(choices: Vec<FailureChoice>) -> Arc<Self> {
        Arc::new(Self {
            choices: Mutex::new(choices),
            asked: Mutex::default(),
        })
    }
}

#[async_trait]
impl FailureHandler for Person {
    async fn decide(
        &self,
        request: &FailureRequest,
    ) -> Result<(FailureChoice, String), ActionError> {
        self.asked.lock().unwrap().push(request.clone());
        let mut choices = self.choices.lock().unwrap();
        assert!(!choices.is_empty(), "asked once too often: {request:?}");
        Ok((choices.remove(0), "alice@bastion".to_owned()))
    }
}

/// a -> b (fails `b_failures` times, output `id`) -> c; d uses b's `id`; e is independent.
fn plan(log: &Log, b_failures: u32, b_policy: OnFailure) -> Plan {
    let a = Fake::new("a", log).arc();
    let b = Fake::new("b", log)
        .output("id", "b-1")
        .fails(b_failures, ErrorKind::Conflict)
        .arc();
    let c = Fake::new("c", log).arc();
    let d: ActionRef = action(&Fake::new("d", log).arc());
    let e = Fake::new("e", log).latency(5).arc();
    Plan::new(
        "p",
        vec![
            Step::new(action(&a)),
            Step::new(action(&b)).depends_on(["a"]).on_failure(b_policy),
            Step::new(action(&c)).depends_on(["b"]),
            Step::deferred("d", "demo", [OutputRef::new("b", "id")], move |_| {
                Ok(Arc::clone(&d))
            })
            .depends_on(["b"]),
            Step::new(action(&e)),
        ],
    )
    .unwrap()
}

fn decisions(report: &drkit_runner::Report) -> Vec<(String, String)> {
    report
        .timeline
        .iter()
        .filter_map(|r| match &r.event {
            Event::OperatorDecided {
                step, decision, by, ..
            } => {
                assert_eq!(by, "alice@bastion");
                Some((step.clone(), decision.clone()))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn retry_runs_the_step_again() {
    let log = Log::default();
    let person = Person::answering(vec![FailureChoice::Retry]);
    let report = Runner::new()
        .with_failure_handler(person.clone())
        .run(&plan(&log, 1, OnFailure::Abort))
        .await
        .unwrap();
    assert_eq!(report.outcome, Some(Outcome::Succeeded));
    assert_eq!(log.count("execute:b"), 2);
    assert_eq!(decisions(&report), [("b".to_owned(), "retry".to_owned())]);
    let asked = person.asked.lock().unwrap();
    assert_eq!(asked[0].step, "b");
    assert_eq!(asked[0].failures, 1);
    assert!(!asked[0].error.is_empty());
}

#[tokio::test(start_paused = true)]
async fn skip_goes_on_with_the_dependents_but_not_the_users_of_its_outputs() {
    let log = Log::default();
    let person = Person::answering(vec![FailureChoice::Skip {
        reason: "done by hand".into(),
    }]);
    let report = Runner::new()
        .with_failure_handler(person)
        .run(&plan(&log, 10, OnFailure::Abort))
        .await
        .unwrap();
    assert_eq!(report.outcome, Some(Outcome::Succeeded));
    assert_eq!(report.step("b").unwrap().state, StepState::Skipped);
    assert_eq!(log.count("execute:c"), 1);
    assert_eq!(log.count("execute:d"), 0, "d uses b's output");
    assert_eq!(decisions(&report), [("b".to_owned(), "skip".to_owned())]);
}

#[tokio::test(start_paused = true)]
async fn continue_leaves_it_failed_and_runs_what_does_not_depend_on_it() {
    let log = Log::default();
    let person = Person::answering(vec![FailureChoice::Continue]);
    let report = failed_report(
        Runner::new()
            .with_failure_handler(person)
            .run(&plan(&log, 10, OnFailure::Abort))
            .await,
    );
    assert_eq!(report.step("b").unwrap().state, StepState::Failed);
    assert_eq!(report.step("c").unwrap().state, StepState::NotRun);
    assert_eq!(report.step("e").unwrap().state, StepState::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn rollback_or_abort_override_the_steps_own_policy() {
    let log = Log::default();
    let rolled = failed_report(
        Runner::new()
            .with_failure_handler(Person::answering(vec![FailureChoice::Rollback]))
            .run(&plan(&log, 10, OnFailure::Abort))
            .await,
    );
    assert_eq!(rolled.outcome, Some(Outcome::RolledBack));
    assert_eq!(rolled.step("a").unwrap().state, StepState::RolledBack);

    let log = Log::default();
    let aborted = failed_report(
        Runner::new()
            .with_failure_handler(Person::answering(vec![FailureChoice::Abort]))
            .run(&plan(&log, 10, OnFailure::Rollback))
            .await,
    );
    assert_eq!(aborted.outcome, Some(Outcome::Failed));
    assert_eq!(aborted.step("a").unwrap().state, StepState::Succeeded);
    assert_eq!(log.count("rollback:a"), 0);
}
