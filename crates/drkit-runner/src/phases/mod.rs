//! The lifecycle of one step, as phases that can be read and tested alone:
//!
//! ```text
//! build -> check -> (step_ready) -> approval -> guards -> execute -> verify
//!            \-> done: skipped                                  (run failed: rollback)
//! ```
//!
//! Each phase is a function of what it needs, returning what the next phase needs or the
//! [`Ending`] that stops the step there. [`run_step`] composes them and records the ending in
//! the journal ([`Ending::record`]); [`undo`] is the rollback of one step, which the scheduler
//! calls for each completed mutating step, newest first.

mod approval;
mod check;
mod ending;
mod execute;
mod guards;
mod intent;
mod rollback;
mod verify;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use drkit_core::{
    ActionError, ActionExt, ActionRef, CancellationToken, Context, ErrorKind, Outputs,
};
use tokio::time::Instant;

use crate::approval::{ApprovalPolicy, ApprovalRequest, Approver};
use crate::events::{Hub, StepEvents};
use crate::journal::{Event, Journal};
use crate::pause::{FailureChoice, FailureRequest};
use crate::plan::{ActionSource, OnFailure, Plan, Step, StepInputs, StepPolicy};

pub(crate) use ending::{Ending, StepEnd, StepResult};
pub(crate) use intent::recorded as recorded_intents;
pub(crate) use rollback::{Started as RollbackStarted, Undo, started as rollback_started, undo};

/// What a step's context is seeded with: its intent log, the intents an earlier run part
/// recorded for it, and the run's impaired regions.
pub(crate) struct StepSeed {
    pub(crate) log: Arc<dyn drkit_core::IntentLog>,
    pub(crate) change: Option<Outputs>,
    pub(crate) compensation: Option<Outputs>,
    /// The run's impaired regions.
    pub(crate) impaired_regions: Vec<String>,
    /// The run's id and when it (first) started.
    pub(crate) run: (String, std::time::SystemTime),
    /// Refuses remote calls once the journal lock is lost.
    pub(crate) gate: Option<Arc<dyn drkit_core::SendGate>>,
}

/// What every step task shares.
#[derive(Debug)]
pub(crate) struct StepEnv {
    pub(crate) journal: Journal,
    pub(crate) hub: Arc<Hub>,
    pub(crate) approver: Arc<dyn Approver>,
    pub(crate) cancel: CancellationToken,
    pub(crate) plan: Plan,
    pub(crate) run: String,
    /// When the run started (a resumed run: when the run it continues did).
    pub(crate) run_started: std::time::SystemTime,
    /// The action each step was built into when it ran, by step index: a rollback compensates
    /// with that same instance (it remembers what it changed), not a fresh build.
    pub(crate) built: std::sync::Mutex<Vec<Option<ActionRef>>>,
    /// The last intent each step (`false`) and compensation (`true`) recorded in the journal,
    /// by an earlier run part (a resume reconciles from it) or this one.
    pub(crate) intents: intent::Intents,
    /// The run's mode and impaired regions.
    pub(crate) conditions: crate::Conditions,
    /// Who decides after a failed step, when the run pauses on failures.
    pub(crate) pause: Option<Arc<dyn crate::pause::FailureHandler>>,
    /// Refuses the steps' remote calls once the journal lock is lost (its lease ran out on this
    /// machine's clock): asked as each call starts, before the cancellation that follows.
    pub(crate) gate: Option<Arc<dyn drkit_core::SendGate>>,
}

impl StepEnv {
    fn remember(&self, idx: usize, action: &ActionRef) {
        let mut built = self
            .built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(slot) = built.get_mut(idx) {
            *slot = Some(Arc::clone(action));
        }
    }

    /// Where `step` records its intents, and what an earlier run part recorded for it.
    pub(crate) fn intents(&self, step: &str) -> StepSeed {
        StepSeed {
            log: Arc::new(intent::JournalIntents {
                journal: self.journal.clone(),
                last: Arc::clone(&self.intents),
            }),
            change: self.intent(step, false),
            compensation: self.intent(step, true),
            impaired_regions: self.conditions.impaired_regions.iter().cloned().collect(),
            run: (self.run.clone(), self.run_started),
            gate: self.gate.clone(),
        }
    }

    fn intent(&self, step: &str, rollback: bool) -> Option<Outputs> {
        self.intents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(step.to_owned(), rollback))
            .cloned()
    }

    pub(crate) fn built(&self, idx: usize) -> Option<ActionRef> {
        self.built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(idx)
            .cloned()
            .flatten()
    }

    /// The progress sink of a step's context: the run's hub, and the journal for retries.
    pub(crate) fn events(&self) -> StepEvents {
        StepEvents {
            hub: Arc::clone(&self.hub),
            journal: self.journal.clone(),
        }
    }
}

/// The step's action wrapped in the layers its policy asks for (attempt time-out, retry).
pub(crate) fn layer(action: ActionRef, policy: &StepPolicy) -> ActionRef {
    let mut action = action;
    if let Some(t) = policy.attempt_timeout {
        action = action.with_timeout(t);
    }
    if let Some(retry) = &policy.retry {
        action = action.with_retry(retry.clone());
    }
    action
}

/// Runs `fut`, cut off at the context's deadline (the step's time-out) even if the action does
/// not watch it. Cancellation is left to the action, which stops at a safe point.
pub(crate) async fn within<T>(
    ctx: &Context,
    timeout: Option<Duration>,
    fut: impl Future<Output = Result<T, ActionError>>,
) -> Result<T, ActionError> {
    match (ctx.deadline(), timeout) {
        (Some(deadline), Some(timeout)) => tokio::time::timeout_at(deadline, fut)
            .await
            .unwrap_or_else(|_| {
                Err(ActionError::deadline_exceeded(format!(
                    "the step did not finish within its time-out of {}",
                    humantime::format_duration(timeout)
                )))
            }),
        _ => fut.await,
    }
}

/// A built step action, as the phases use it.
#[derive(Debug)]
pub(crate) struct StepAction {
    /// As built: named in errors, asked its kind, target and whether it mutates.
    pub(crate) built: ActionRef,
    /// With the step's layers: what the phases call.
    pub(crate) layered: ActionRef,
    /// The step's time-out (check, guards, execute, verify; not the wait for an approval).
    pub(crate) timeout: Option<Duration>,
}

impl StepAction {
    pub(crate) fn new(built: ActionRef, policy: &StepPolicy) -> Self {
        Self {
            layered: layer(Arc::clone(&built), policy),
            built,
            timeout: policy.timeout,
        }
    }

    /// `base` bounded by the step's time-out, counted from now.
    pub(crate) fn bounded(&self, base: &Context) -> Context {
        match self.timeout {
            Some(t) => base.clone().with_timeout(t),
            None => base.clone(),
        }
    }

    /// Runs `fut` within the step's time-out (see [`within`]).
    pub(crate) async fn within<T>(
        &self,
        ctx: &Context,
        fut: impl Future<Output = Result<T, ActionError>>,
    ) -> Result<T, ActionError> {
        within(ctx, self.timeout, fut).await
    }

    /// The step fails before its execute completed, with `error` naming the action.
    pub(crate) fn failed(&self, error: ActionError) -> Ending {
        Ending::Failed {
            error: error.in_action(self.built.as_ref()),
            mutated: false,
        }
    }
}

/// Runs step `idx` through its phases and records how it ended.
pub(crate) async fn run_step(
    env: Arc<StepEnv>,
    idx: usize,
    inputs: BTreeMap<String, Outputs>,
    skip: Option<String>,
) -> StepResult {
    let env: &StepEnv = &env;
    let step = &env.plan.inner.steps[idx];
    if let Some(detail) = skip {
        // Not run under the run's conditions: nothing is built, nothing is sent.
        let journal = env
            .journal
            .record_durable(Event::StepSkipped {
                step: step.id.clone(),
                detail,
                outputs: Outputs::new(),
                condition: true,
            })
            .await;
        return StepResult::new(StepEnd::Skipped(Outputs::new()), false, journal);
    }
    let mut failures = 0;
    let mut mutated = false;
    loop {
        let mut result = attempt(env, idx, &inputs).await;
        // A change an earlier attempt completed stays to be compensated.
        mutated |= result.mutated;
        result.mutated = mutated;
        let Some(handler) = &env.pause else {
            return result;
        };
        if !matches!(result.end, StepEnd::Failed)
            || result.journal.is_err()
            || env.cancel.is_cancelled()
        {
            return result;
        }
        failures += 1;
        let request = FailureRequest {
            run: env.run.clone(),
            plan: env.plan.name().to_owned(),
            step: step.id.clone(),
            error: result.error.clone().unwrap_or_default(),
            failures,
        };
        let decided = tokio::select! {
            biased;
            () = env.cancel.cancelled() => return result,
            decided = handler.decide(&request) => decided,
        };
        let (choice, by) = match decided {
            Ok(decided) => decided,
            Err(e) => {
                tracing::warn!(step = %step.id, "no decision after the failure, the step's own policy applies: {e}");
                return result;
            }
        };
        let reason = match &choice {
            FailureChoice::Skip { reason } => Some(reason.clone()),
            _ => None,
        };
        let recorded = env
            .journal
            .record_durable(Event::OperatorDecided {
                step: step.id.clone(),
                decision: choice.name().to_owned(),
                by: by.clone(),
                reason: reason.clone(),
            })
            .await;
        if recorded.is_err() {
            result.journal = recorded;
            return result;
        }
        match choice {
            FailureChoice::Retry => {}
            FailureChoice::Skip { reason } => {
                let journal = env
                    .journal
                    .record_durable(Event::StepSkipped {
                        step: step.id.clone(),
                        detail: format!("skipped by {by}: {reason}"),
                        outputs: Outputs::new(),
                        condition: false,
                    })
                    .await;
                let mut skipped =
                    StepResult::new(StepEnd::Skipped(Outputs::new()), mutated, journal);
                skipped.operator_skip = Some(reason);
                return skipped;
            }
            FailureChoice::Continue => {
                result.on_failure = Some(OnFailure::Continue);
                return result;
            }
            FailureChoice::Rollback => {
                result.on_failure = Some(OnFailure::Rollback);
                return result;
            }
            FailureChoice::Abort => {
                result.on_failure = Some(OnFailure::Abort);
                return result;
            }
        }
    }
}

/// One attempt of step `idx`: built, through its phases, its ending recorded.
async fn attempt(env: &StepEnv, idx: usize, inputs: &BTreeMap<String, Outputs>) -> StepResult {
    let step = &env.plan.inner.steps[idx];
    let start = Instant::now();
    let inputs = Arc::new(inputs.clone());
    let built = match &step.source {
        ActionSource::Ready(a) => Ok(Arc::clone(a)),
        ActionSource::Deferred { build, .. } => build(&StepInputs::new(&step.id, &inputs)),
    };
    let ending = match built {
        Ok(action) => {
            env.remember(idx, &action);
            match phases(env, step, action, inputs).await {
                Ok(ending) | Err(ending) => ending,
            }
        }
        Err(error) => {
            env.journal.record(Event::StepStarted {
                step: step.id.clone(),
                kind: "(not built)".to_owned(),
                target: "(not built)".to_owned(),
                mutates: false,
            });
            Ending::Failed {
                error,
                mutated: false,
            }
        }
    };
    let ending = match ending {
        Ending::Failed { error, mutated } => Ending::Failed {
            error: region_hint(env, step, error),
            mutated,
        },
        other => other,
    };
    ending.record(&env.journal, &step.id, start).await
}

/// A graceful run's step that got no answer from its region: the error says so, and that the
/// run can go on without that region (`drkit resume ... --mode ungraceful --impaired-region`).
fn region_hint(env: &StepEnv, step: &Step, error: ActionError) -> ActionError {
    let unanswered = error.code().is_none()
        && matches!(
            error.kind(),
            ErrorKind::Timeout | ErrorKind::Unavailable | ErrorKind::DeadlineExceeded
        );
    match step.region() {
        Some(region) if unanswered && env.conditions.mode == crate::Mode::Graceful => error
            .with_note(format!(
                "no answer from {region}; if {region} is down, go on without it: \
                 `drkit resume JOURNAL --mode ungraceful --impaired-region {region}`"
            )),
        _ => error,
    }
}

/// The phases of a built step, in order; `Err` is the ending of a phase that stopped the step.
async fn phases(
    env: &StepEnv,
    step: &Step,
    built: ActionRef,
    inputs: Arc<BTreeMap<String, Outputs>>,
) -> Result<Ending, Ending> {
    let id = step.id.as_str();
    env.journal.record(Event::StepStarted {
        step: id.to_owned(),
        kind: built.kind().to_owned(),
        target: built.target().to_string(),
        mutates: built.mutates(),
    });
    let action = StepAction::new(built, &step.policy);
    let intents = env.intents(id);
    let base = Context::new()
        .with_step(id)
        .with_cancellation(env.cancel.clone())
        .with_outputs(inputs)
        .with_events(env.events())
        .with_intent_log(intents.log)
        .with_recorded_intent(intents.change)
        .with_recorded_compensation_intent(intents.compensation)
        .with_impaired_regions(intents.impaired_regions)
        .with_run(intents.run.0, intents.run.1)
        .with_send_gate(intents.gate);
    let mut ctx = action.bounded(&base);

    // Steady state before: already done -> skipped.
    let go = check::check(&ctx, &action).await?;
    env.journal.record(Event::StepReady {
        step: id.to_owned(),
        change: go.change.clone(),
    });

    // A step whose earlier outcome is unknown always asks, with its approval policy's time-out
    // or the default one.
    let unknown_policy = go.unknown_outcome.then(ApprovalPolicy::default);
    if let Some(policy) = step.policy.approval.as_ref().or(unknown_policy.as_ref()) {
        let request = ApprovalRequest {
            run: env.run.clone(),
            plan: env.plan.name().to_owned(),
            step: id.to_owned(),
            kind: action.built.kind().to_owned(),
            target: action.built.target().to_string(),
            change: go.change,
            unknown_outcome: go.unknown_outcome,
        };
        let gate = approval::Gate {
            journal: &env.journal,
            approver: env.approver.as_ref(),
            cancel: &env.cancel,
        };
        gate.approve(policy, &request, &action).await?;
        // The step's time-out does not count the wait for a human.
        ctx = action.bounded(&base);
    }

    // Safety interlocks, just before executing.
    guards::hold(&ctx, &action, &step.guards).await?;
    if env.cancel.is_cancelled() {
        return Err(Ending::Interrupted(ActionError::cancelled(
            "cancelled before executing",
        )));
    }

    let outputs = execute::execute(&ctx, &action).await?;
    // Steady state after.
    let verified = verify::verify(&ctx, &action).await?;
    Ok(Ending::Succeeded {
        outputs,
        verified,
        mutated: action.built.mutates(),
    })
}

#[cfg(test)]
pub(crate) mod testing {
    //! What the phases' unit tests share: a journal in memory, mock actions.

    use std::collections::HashMap;
    use std::time::SystemTime;

    use drkit_core::{MockRecoveryAction, Resource};
    use tokio::sync::broadcast;

    use super::*;
    use crate::clock::Clock;
    use crate::journal::Committed;
    use crate::rto::RtoBudgets;

    /// A journal kept in memory; [`events`] stops it and gives what it recorded.
    pub(crate) fn journal() -> (Journal, Arc<Hub>, tokio::task::JoinHandle<Committed>) {
        let clock = Clock::start();
        let hub = Arc::new(Hub {
            run: "run-1".to_owned(),
            plan: "plan".to_owned(),
            tx: broadcast::channel(16).0,
            sinks: Vec::new(),
            incident_start: SystemTime::now(),
            budgets: RtoBudgets::default(),
            tiers: HashMap::new(),
            clock,
            sink_queue: Default::default(),
        });
        let (journal, committer) = Journal::start(
            None,
            "plan".to_owned(),
            "run-1".to_owned(),
            0,
            clock,
            Arc::clone(&hub),
        );
        (journal, hub, committer)
    }

    /// The events `journal` recorded, once it is dropped.
    pub(crate) async fn events(
        journal: Journal,
        committer: tokio::task::JoinHandle<Committed>,
    ) -> Vec<Event> {
        drop(journal);
        committer
            .await
            .unwrap()
            .records
            .into_iter()
            .map(|r| r.event)
            .collect()
    }

    /// No intent recorded, and an intent log that keeps them in memory only.
    pub(crate) fn no_intents() -> StepSeed {
        let (journal, _hub, _committer) = self::journal();
        StepSeed {
            log: Arc::new(super::intent::JournalIntents {
                journal,
                last: Arc::default(),
            }),
            change: None,
            compensation: None,
            impaired_regions: Vec::new(),
            run: ("test-run".to_owned(), std::time::SystemTime::UNIX_EPOCH),
            gate: None,
        }
    }

    /// A mock action `step` of kind `demo.mock` on `demo:thing/step`: add the calls expected.
    pub(crate) fn mock(step: &str, mutates: bool) -> MockRecoveryAction {
        let mut m = MockRecoveryAction::new();
        m.expect_id().return_const(step.to_owned());
        m.expect_kind().return_const("demo.mock");
        m.expect_target()
            .return_const(Resource::new("demo", "thing", step));
        m.expect_mutates().return_const(mutates);
        m
    }

    /// `action` with no layers, bounded by `timeout`.
    pub(crate) fn step_action(action: MockRecoveryAction, timeout: Option<Duration>) -> StepAction {
        let action: ActionRef = Arc::new(action);
        StepAction::new(
            action,
            &StepPolicy {
                timeout,
                ..StepPolicy::default()
            },
        )
    }

    /// The error of a failed ending, and whether the step had mutated.
    pub(crate) fn failure(ending: Ending) -> (ActionError, bool) {
        match ending {
            Ending::Failed { error, mutated } => (error, mutated),
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use drkit_core::ErrorKind;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn within_cuts_off_at_the_step_timeout_and_only_with_one() {
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok::<_, ActionError>("finished")
        };
        let ctx = Context::new().with_timeout(Duration::from_secs(5));
        let e = within(&ctx, Some(Duration::from_secs(5)), slow())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DeadlineExceeded);
        assert_eq!(
            e.message(),
            "the step did not finish within its time-out of 5s"
        );
        // No step time-out: the action's own deadline handling is left alone.
        assert_eq!(within(&ctx, None, slow()).await.unwrap(), "finished");
        assert_eq!(
            within(&Context::new(), None, slow()).await.unwrap(),
            "finished"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_action_is_bounded_from_now_and_fails_naming_itself() {
        let action = testing::step_action(testing::mock("a", true), Some(Duration::from_secs(5)));
        let before = Instant::now();
        let ctx = action.bounded(&Context::new());
        assert_eq!(ctx.deadline(), Some(before + Duration::from_secs(5)));
        let unbounded = testing::step_action(testing::mock("a", true), None);
        assert_eq!(unbounded.bounded(&Context::new()).deadline(), None);
        let (e, mutated) = testing::failure(action.failed(ActionError::precondition("no")));
        assert!(e.to_string().contains("demo.mock"), "{e}");
        assert!(!mutated);
    }
}
