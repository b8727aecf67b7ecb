//! Execute: the change itself, within the step's time-out and through its layers.

use drkit_core::{Context, ErrorKind, Outputs};

use super::{Ending, StepAction};

/// The action's outputs, or the ending: failed, or interrupted (cancelled: stopped at a safe
/// point). A failed execute mutated nothing to compensate, unless it recorded an intent (it
/// sent, or was about to send, its change) or its error says the change may have been made:
/// then the step counts as mutated, and a rollback compensates it (the action reconciles from
/// its intent: undoing a change that never happened is a no-op).
pub(super) async fn execute(ctx: &Context, action: &StepAction) -> Result<Outputs, Ending> {
    match action.within(ctx, action.layered.execute(ctx)).await {
        Ok(outputs) => Ok(outputs),
        Err(e) if e.kind() == ErrorKind::Cancelled => Err(Ending::Interrupted(e)),
        Err(e) => {
            let maybe = action.built.mutates() && (e.maybe_applied() || ctx.intent().is_some());
            match action.failed(e) {
                Ending::Failed { error, .. } => Err(Ending::Failed {
                    error,
                    mutated: maybe,
                }),
                other => Err(other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use drkit_core::ActionError;

    use super::*;
    use crate::phases::testing::{failure, mock, step_action};

    async fn executed(result: fn() -> Result<Outputs, ActionError>) -> Result<Outputs, Ending> {
        let mut m = mock("a", true);
        m.expect_execute().times(1).returning(move |_| result());
        execute(&Context::new(), &step_action(m, None)).await
    }

    #[tokio::test]
    async fn outputs_or_a_failure_naming_the_action_or_an_interruption() {
        let outputs = executed(|| Ok(Outputs::new().with("arn", "arn:x")))
            .await
            .unwrap();
        assert_eq!(outputs.get("arn").unwrap(), "arn:x");
        let (e, mutated) = failure(
            executed(|| Err(ActionError::new(ErrorKind::Conflict, "busy")))
                .await
                .unwrap_err(),
        );
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert!(e.to_string().contains("demo.mock"), "{e}");
        assert!(!mutated, "a failed execute mutated nothing to compensate");
        assert!(matches!(
            executed(|| Err(ActionError::cancelled("stop"))).await,
            Err(Ending::Interrupted(_))
        ));
    }
}
