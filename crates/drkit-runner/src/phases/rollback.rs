//! Rollback: the compensation of one step whose mutating execute completed, when a failure
//! with `on_failure = "rollback"` stops the run. Not interrupted by the run's cancellation: a
//! half-done rollback is worse than a finished one.

use std::collections::BTreeMap;
use std::sync::Arc;

use drkit_core::{ActionRef, Context, EventSink, Outputs};

use super::{layer, within};
use crate::plan::{ActionSource, Step, StepInputs};

/// Rolls `step` back, within its time-out and through its layers. `ran` is the instance that
/// executed (it remembers what it changed); without one (after a resume) a new one is built.
/// `inputs` are what the step saw, plus its own recorded outputs (what a new instance undoes
/// from, `ctx.outputs_of(own id)`). The error says why the change remains.
pub(crate) async fn undo(
    step: &Step,
    ran: Option<ActionRef>,
    inputs: BTreeMap<String, Outputs>,
    events: impl EventSink,
) -> Result<(), String> {
    let inputs = Arc::new(inputs);
    let action = match (ran, &step.source) {
        (Some(a), _) => a,
        (None, ActionSource::Ready(a)) => Arc::clone(a),
        (None, ActionSource::Deferred { build, .. }) => {
            build(&StepInputs::new(&step.id, &inputs)).map_err(|e| e.to_string())?
        }
    };
    if !action.supports_rollback() {
        return Err(format!(
            "{} on {} has no rollback: its change remains",
            action.kind(),
            action.target()
        ));
    }
    let mut ctx = Context::new()
        .with_step(step.id.as_str())
        .with_outputs(Arc::clone(&inputs))
        .with_events(events);
    if let Some(t) = step.policy.timeout {
        ctx = ctx.with_timeout(t);
    }
    let layered = layer(Arc::clone(&action), &step.policy);
    within(&ctx, step.policy.timeout, layered.rollback(&ctx))
        .await
        .map_err(|e| e.in_action(action.as_ref()).to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use drkit_core::{ActionError, ErrorKind, MockRecoveryAction, TracingSink};

    use super::*;
    use crate::phases::testing::mock;

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

    #[tokio::test]
    async fn the_instance_that_ran_undoes_from_the_steps_own_outputs() {
        let seen = Arc::new(Mutex::new(None));
        let ran: ActionRef = Arc::new(undoable(Arc::clone(&seen), true));
        let step = Step::new(Arc::new(mock("dns", true)));
        undo(&step, Some(ran), own_outputs(), TracingSink)
            .await
            .unwrap();
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
        let err = undo(&step, None, own_outputs(), TracingSink)
            .await
            .unwrap_err();
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
        let err = undo(&step, None, BTreeMap::new(), TracingSink)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            "demo.mock on demo:thing/dns has no rollback: its change remains"
        );

        let step = Step::deferred("dns", "demo", [], |_| {
            Err(ActionError::new(ErrorKind::InvalidInput, "no zone id"))
        });
        let err = undo(&step, None, BTreeMap::new(), TracingSink)
            .await
            .unwrap_err();
        assert!(err.contains("no zone id"), "{err}");
    }
}
