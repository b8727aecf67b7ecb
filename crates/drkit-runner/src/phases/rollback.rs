//! Rollback: the compensation of one step whose mutating execute completed, when a failure
//! with `on_failure = "rollback"` stops the run.
//!
//! - **Bounded**: each compensation runs with the run's cancellation and a deadline: the step's
//!   time-out, else the runner's rollback time-out (30 min unless set). Once the run is
//!   cancelled (Ctrl-C) no further compensation starts, and the one in flight stops at its next
//!   safe point; each step left is journalled `step_rollback_failed` with an error that starts
//!   with `interrupted`.
//! - **Resumable**: once `rollback_started` is journalled, the run only rolls back. A resume
//!   ([`started`]) compensates the listed steps not yet journalled `step_rolled_back`, in the
//!   recorded order, and executes nothing; after a finished rollback there is nothing to resume.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use drkit_core::{
    ActionError, ActionRef, CancellationToken, Context, ErrorKind, EventSink, Outputs,
};

use super::layer;
use crate::journal::{Event, Record};
use crate::plan::{ActionSource, Step, StepInputs};

/// Why a compensation did not complete: the change remains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Undo {
    /// It failed, timed out, or the action has none.
    Failed(String),
    /// The run was cancelled before or while it ran: a resume continues the rollback.
    Interrupted(String),
}

impl fmt::Display for Undo {
    /// The error journalled in `step_rollback_failed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(e) => f.write_str(e),
            Self::Interrupted(e) => {
                write!(f, "interrupted: {e}; a resume continues the rollback")
            }
        }
    }
}

/// A rollback the journal shows started (`rollback_started`), finished or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Started {
    /// The failed step that asked for it.
    pub(crate) because_of: String,
    /// The steps to compensate, by index, in the order first recorded, without those already
    /// journalled `step_rolled_back` (failed or interrupted compensations are tried again).
    pub(crate) left: Vec<usize>,
}

/// The rollback `records` (of one run) show started, if any. `index` maps step ids to indices.
pub(crate) fn started(index: &HashMap<String, usize>, records: &[Record]) -> Option<Started> {
    let mut started: Option<(String, Vec<usize>)> = None;
    let mut done = Vec::new();
    for r in records {
        match &r.event {
            Event::RollbackStarted { because_of, steps } if started.is_none() => {
                let order = steps.iter().filter_map(|s| index.get(s).copied()).collect();
                started = Some((because_of.clone(), order));
            }
            Event::StepRolledBack { step } => done.extend(index.get(step).copied()),
            _ => {}
        }
    }
    started.map(|(because_of, order)| Started {
        because_of,
        left: order.into_iter().filter(|i| !done.contains(i)).collect(),
    })
}

/// Rolls `step` back, through its layers, with the run's cancellation `cancel` and within the
/// step's time-out (`default_timeout` when it has none). `ran` is the instance that executed
/// (it remembers what it changed); without one (after a resume) a new one is built. `inputs`
/// are what the step saw, plus its own recorded outputs (what a new instance undoes from,
/// `ctx.outputs_of(own id)`). The error says why the change remains. Nothing is called once
/// `cancel` is cancelled.
pub(crate) async fn undo(
    step: &Step,
    ran: Option<ActionRef>,
    inputs: BTreeMap<String, Outputs>,
    events: impl EventSink,
    intents: super::StepSeed,
    cancel: &CancellationToken,
    default_timeout: Duration,
) -> Result<(), Undo> {
    if cancel.is_cancelled() {
        return Err(Undo::Interrupted(
            "the run was cancelled before this step was compensated".to_owned(),
        ));
    }
    let inputs = Arc::new(inputs);
    let action = match (ran, &step.source) {
        (Some(a), _) => a,
        (None, ActionSource::Ready(a)) => Arc::clone(a),
        (None, ActionSource::Deferred { build, .. }) => {
            build(&StepInputs::new(&step.id, &inputs)).map_err(|e| Undo::Failed(e.to_string()))?
        }
    };
    if !action.supports_rollback() {
        return Err(Undo::Failed(format!(
            "{} on {} has no rollback: its change remains",
            action.kind(),
            action.target()
        )));
    }
    let timeout = step.policy.timeout.unwrap_or(default_timeout);
    let ctx = Context::new()
        .with_step(step.id.as_str())
        .with_outputs(Arc::clone(&inputs))
        .with_events(events)
        .with_intent_log(intents.log)
        .with_recorded_intent(intents.change)
        .with_recorded_compensation_intent(intents.compensation)
        .with_impaired_regions(intents.impaired_regions)
        .with_run(intents.run.0, intents.run.1)
        .with_send_gate(intents.gate)
        .with_cancellation(cancel.clone())
        .with_timeout(timeout);
    let layered = layer(Arc::clone(&action), &step.policy);
    // Cut off at the deadline even if the action does not watch it; cancellation is left to
    // the action, which stops at a safe point (never in the middle of a call).
    let result = tokio::time::timeout(timeout, layered.rollback(&ctx))
        .await
        .unwrap_or_else(|_| {
            Err(ActionError::deadline_exceeded(format!(
                "the rollback did not finish within {} (the step's time-out, or the runner's \
                 rollback time-out when the step has none)",
                humantime::format_duration(timeout)
            )))
        });
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::Cancelled => {
            Err(Undo::Interrupted(e.in_action(action.as_ref()).to_string()))
        }
        Err(e) => Err(Undo::Failed(e.in_action(action.as_ref()).to_string())),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use drkit_core::{ActionError, ErrorKind, MockRecoveryAction, TracingSink};

    use super::*;
    use crate::phases::testing::{mock, no_intents};

    fn undoable(seen: Arc<Mutex<Option<String>>>, ok: bool) -> MockRecoveryAction {
        let mut m = mock("dns", true);
        m.expect_supports_rollback().return_const(true);
        m.expect_rollback().times(1).returning(move |ctx| {
            *seen.lock().unwrap() = ctx
                .outputs_of("dns")
                .and_then(|o| o.get("previous"))
                .map(ToString::to_string);
            if ok {
                Ok(())
            } else {
                Err(ActionError::new(ErrorKind::Conflict, "cannot undo"))
            }
        });
        m
    }

    fn own_outputs() -> BTreeMap<String, Outputs> {
        BTreeMap::from([("dns".to_owned(), Outputs::new().with("previous", "1.2.3.4"))])
    }

    const HALF_HOUR: Duration = Duration::from_secs(30 * 60);

    /// `undo` with no intent recorded, a run that is not cancelled and a 30 min default.
    async fn undo_now(
        step: &Step,
        ran: Option<ActionRef>,
        inputs: BTreeMap<String, Outputs>,
    ) -> Result<(), Undo> {
        let cancel = CancellationToken::new();
        undo_with(step, ran, inputs, &cancel, HALF_HOUR).await
    }

    async fn undo_with(
        step: &Step,
        ran: Option<ActionRef>,
        inputs: BTreeMap<String, Outputs>,
        cancel: &CancellationToken,
        default_timeout: Duration,
    ) -> Result<(), Undo> {
        undo(
            step,
            ran,
            inputs,
            TracingSink,
            no_intents(),
            cancel,
            default_timeout,
        )
        .await
    }

    #[tokio::test]
    async fn the_instance_that_ran_undoes_from_the_steps_own_outputs() {
        let seen = Arc::new(Mutex::new(None));
        let ran: ActionRef = Arc::new(undoable(Arc::clone(&seen), true));
        let step = Step::new(Arc::new(mock("dns", true)));
        undo_now(&step, Some(ran), own_outputs()).await.unwrap();
        assert_eq!(seen.lock().unwrap().as_deref(), Some("\"1.2.3.4\""));
    }

    #[tokio::test]
    async fn without_the_instance_a_new_one_is_built_and_its_failure_is_said() {
        let seen = Arc::new(Mutex::new(None));
        let fresh = Arc::new(Mutex::new(Some(undoable(Arc::clone(&seen), false))));
        let step = Step::deferred("dns", "demo", [], move |_| {
            let action = fresh.lock().unwrap().take().unwrap();
            Ok(Arc::new(action) as ActionRef)
        });
        let err = undo_now(&step, None, own_outputs()).await.unwrap_err();
        assert!(matches!(err, Undo::Failed(_)), "{err:?}");
        let err = err.to_string();
        assert!(err.contains("cannot undo"), "{err}");
        assert!(err.contains("demo.mock"), "{err}");
        assert!(seen.lock().unwrap().is_some());
    }

    #[tokio::test]
    async fn no_rollback_or_no_build_leaves_the_change_and_says_so() {
        let mut m = mock("dns", true);
        m.expect_supports_rollback().return_const(false);
        m.expect_rollback().never();
        let step = Step::new(Arc::new(m));
        let err = undo_now(&step, None, BTreeMap::new()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "demo.mock on demo:thing/dns has no rollback: its change remains"
        );

        let step = Step::deferred("dns", "demo", [], |_| {
            Err(ActionError::new(ErrorKind::InvalidInput, "no zone id"))
        });
        let err = undo_now(&step, None, BTreeMap::new()).await.unwrap_err();
        assert!(err.to_string().contains("no zone id"), "{err}");
    }

    /// A compensation that waits `wait`: on the run's cancellation (`ctx.sleep`) when
    /// `cooperative`, else on nothing at all (it ignores the cancellation and the deadline).
    #[derive(Debug)]
    struct Slow {
        target: drkit_core::Resource,
        wait: Duration,
        cooperative: bool,
        calls: std::sync::atomic::AtomicU32,
    }

    impl Slow {
        fn new(wait: Duration, cooperative: bool) -> Arc<Self> {
            Arc::new(Self {
                target: drkit_core::Resource::new("demo", "thing", "dns"),
                wait,
                cooperative,
                calls: std::sync::atomic::AtomicU32::new(0),
            })
        }
        fn calls(&self) -> u32 {
            self.calls.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[drkit_core::async_trait]
    impl drkit_core::RecoveryAction for Slow {
        fn id(&self) -> &str {
            "dns"
        }
        fn kind(&self) -> &'static str {
            "demo.slow"
        }
        fn target(&self) -> &drkit_core::Resource {
            &self.target
        }
        fn mutates(&self) -> bool {
            true
        }
        fn iam_actions(&self) -> &'static [&'static str] {
            &[]
        }
        async fn check(&self, _: &Context) -> Result<drkit_core::Check, ActionError> {
            Ok(drkit_core::Check::ready("change"))
        }
        async fn execute(&self, _: &Context) -> Result<Outputs, ActionError> {
            Ok(Outputs::new())
        }
        async fn verify(&self, _: &Context) -> Result<String, ActionError> {
            Ok("ok".into())
        }
        async fn rollback(&self, ctx: &Context) -> Result<(), ActionError> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if self.cooperative {
                ctx.sleep(self.wait).await
            } else {
                tokio::time::sleep(self.wait).await;
                Ok(())
            }
        }
        fn supports_rollback(&self) -> bool {
            true
        }
    }

    fn step_with(action: &Arc<Slow>, timeout: Option<Duration>) -> Step {
        let mut step = Step::new(Arc::clone(action) as ActionRef);
        step.policy.timeout = timeout;
        step
    }

    #[tokio::test(start_paused = true)]
    async fn a_compensation_is_cut_off_at_the_steps_timeout_else_the_default() {
        let day = Duration::from_secs(86_400);
        for (step_timeout, cut_at) in [
            (None, HALF_HOUR),
            (Some(Duration::from_secs(60)), Duration::from_secs(60)),
        ] {
            let action = Slow::new(day, false);
            let step = step_with(&action, step_timeout);
            let start = tokio::time::Instant::now();
            let err = undo_now(&step, None, BTreeMap::new()).await.unwrap_err();
            assert_eq!(start.elapsed(), cut_at, "{step_timeout:?}");
            assert!(matches!(err, Undo::Failed(_)), "{err:?}");
            let err = err.to_string();
            let within = format!(
                "the rollback did not finish within {}",
                humantime::format_duration(cut_at)
            );
            assert!(err.contains(&within), "{err}");
            assert!(err.contains("demo.slow"), "{err}");
        }
        // The default is the runner's, when set.
        let action = Slow::new(day, false);
        let start = tokio::time::Instant::now();
        let cancel = CancellationToken::new();
        let ten_min = Duration::from_secs(600);
        let err = undo_with(
            &step_with(&action, None),
            None,
            BTreeMap::new(),
            &cancel,
            ten_min,
        )
        .await
        .unwrap_err();
        assert_eq!(start.elapsed(), ten_min);
        assert!(err.to_string().contains("within 10m"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancellation_stops_the_compensation_at_a_safe_point_or_before_it_starts() {
        let action = Slow::new(Duration::from_secs(3600), true);
        let step = step_with(&action, None);
        let cancel = CancellationToken::new();
        let ctrl_c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            ctrl_c.cancel();
        });
        let start = tokio::time::Instant::now();
        let err = undo_with(&step, None, BTreeMap::new(), &cancel, HALF_HOUR)
            .await
            .unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        assert!(matches!(err, Undo::Interrupted(_)), "{err:?}");
        assert!(
            err.to_string().starts_with("interrupted: ")
                && err.to_string().ends_with("a resume continues the rollback"),
            "{err}"
        );
        assert_eq!(action.calls(), 1);
        // Already cancelled: the action is not even called.
        let err = undo_with(&step, None, BTreeMap::new(), &cancel, HALF_HOUR)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "interrupted: the run was cancelled before this step was compensated; a resume \
             continues the rollback"
        );
        assert_eq!(action.calls(), 1);
    }

    fn record(seq: u64, event: Event) -> Record {
        Record {
            seq,
            at: std::time::SystemTime::UNIX_EPOCH,
            run: "r".into(),
            event,
        }
    }

    #[test]
    fn a_started_rollback_leaves_the_steps_not_rolled_back_in_the_recorded_order() {
        let index: HashMap<String, usize> = ["a", "b", "c", "bad"]
            .iter()
            .enumerate()
            .map(|(i, s)| ((*s).to_owned(), i))
            .collect();
        let started_with = |events: Vec<Event>| {
            let records: Vec<Record> = events
                .into_iter()
                .enumerate()
                .map(|(i, e)| record(i as u64, e))
                .collect();
            started(&index, &records)
        };
        assert_eq!(started_with(vec![]), None);
        let begin = Event::RollbackStarted {
            because_of: "bad".into(),
            steps: vec!["c".into(), "b".into(), "a".into()],
        };
        let rolled = |s: &str| Event::StepRolledBack { step: s.into() };
        let failed = |s: &str| Event::StepRollbackFailed {
            step: s.into(),
            error: "interrupted: ...".into(),
        };
        // Interrupted after `c`: `b` (interrupted) and `a` (not reached) are left, in order.
        let left = started_with(vec![begin.clone(), rolled("c"), failed("b"), failed("a")]);
        assert_eq!(
            left,
            Some(Started {
                because_of: "bad".into(),
                left: vec![1, 0],
            })
        );
        // A resumed part recorded the rest again: the first record's order holds.
        let resumed = Event::RollbackStarted {
            because_of: "bad".into(),
            steps: vec!["b".into(), "a".into()],
        };
        let left = started_with(vec![begin.clone(), rolled("c"), resumed, rolled("b")]);
        assert_eq!(left.map(|s| s.left), Some(vec![0]));
        // Finished: nothing left.
        let left = started_with(vec![begin, rolled("c"), rolled("b"), rolled("a")]);
        assert_eq!(left.map(|s| s.left), Some(vec![]));
    }
}
