//! Verify: the steady state after a completed execute.

use drkit_core::{ActionError, Context, ErrorKind};

use super::{Ending, StepAction};

/// What verify saw, or the failure: a post-condition failure (any other error is one too, as
/// "verify after execute failed"). The execute completed, so a mutating action has mutated:
/// the failed step is one a rollback must compensate.
pub(super) async fn verify(ctx: &Context, action: &StepAction) -> Result<String, Ending> {
    action
        .within(ctx, action.layered.verify(ctx))
        .await
        .map_err(|e| {
            let e = if e.kind() == ErrorKind::PostconditionFailed {
                e
            } else {
                ActionError::postcondition(format!("verify after execute failed: {e}"))
            };
            Ending::Failed {
                error: e.in_action(action.built.as_ref()),
                mutated: action.built.mutates(),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phases::testing::{failure, mock, step_action};

    async fn verified(
        mutates: bool,
        result: fn() -> Result<String, ActionError>,
    ) -> Result<String, Ending> {
        let mut m = mock("a", mutates);
        m.expect_verify().times(1).returning(move |_| result());
        verify(&Context::new(), &step_action(m, None)).await
    }

    #[tokio::test]
    async fn what_verify_saw_or_a_postcondition_failure_that_mutated() {
        assert_eq!(
            verified(true, || Ok("primary is writable".into()))
                .await
                .unwrap(),
            "primary is writable"
        );
        let (e, mutated) = failure(
            verified(true, || Err(ActionError::postcondition("still read-only")))
                .await
                .unwrap_err(),
        );
        assert_eq!(e.kind(), ErrorKind::PostconditionFailed);
        assert_eq!(e.message(), "still read-only");
        assert!(mutated);

        let (e, mutated) = failure(
            verified(false, || {
                Err(ActionError::new(ErrorKind::Unavailable, "503"))
            })
            .await
            .unwrap_err(),
        );
        assert_eq!(e.kind(), ErrorKind::PostconditionFailed);
        assert!(
            e.message().starts_with("verify after execute failed: "),
            "{e}"
        );
        assert!(e.to_string().contains("demo.mock"), "{e}");
        assert!(!mutated, "a read-only action mutated nothing");
    }
}
