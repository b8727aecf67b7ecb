//! Guards: safety interlocks evaluated in order just before executing; the first that does
//! not hold (or cannot be evaluated) fails the step as a failed precondition.

use std::sync::Arc;

use drkit_core::{ActionError, Context, ErrorKind};

use super::{Ending, StepAction};
use crate::guard::{Guard, GuardVerdict};

/// Ok when every guard holds; else the ending: failed (violated or not evaluated) or
/// interrupted (cancelled while evaluating).
pub(super) async fn hold(
    ctx: &Context,
    action: &StepAction,
    guards: &[Arc<dyn Guard>],
) -> Result<(), Ending> {
    for guard in guards {
        match action.within(ctx, guard.evaluate(ctx)).await {
            Ok(GuardVerdict::Holds(_)) => {}
            Ok(GuardVerdict::Violated(why)) => {
                return Err(action.failed(ActionError::precondition(format!(
                    "guard `{}` does not hold: {why}",
                    guard.name()
                ))));
            }
            Err(e) if e.kind() == ErrorKind::Cancelled => return Err(Ending::Interrupted(e)),
            Err(e) => {
                return Err(action.failed(ActionError::precondition(format!(
                    "guard `{}` could not be evaluated: {e}",
                    guard.name()
                ))));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::phases::testing::{failure, mock, step_action};

    /// A guard that answers as told and counts its evaluations.
    #[derive(Debug)]
    struct Fixed {
        name: &'static str,
        verdict: Result<GuardVerdict, ErrorKind>,
        evaluated: AtomicU32,
    }

    impl Fixed {
        fn new(name: &'static str, verdict: Result<GuardVerdict, ErrorKind>) -> Arc<Self> {
            Arc::new(Self {
                name,
                verdict,
                evaluated: AtomicU32::new(0),
            })
        }
    }

    #[async_trait]
    impl Guard for Fixed {
        fn name(&self) -> &str {
            self.name
        }
        async fn evaluate(&self, _: &Context) -> Result<GuardVerdict, ActionError> {
            self.evaluated.fetch_add(1, Ordering::SeqCst);
            self.verdict
                .clone()
                .map_err(|kind| ActionError::new(kind, "probe broke"))
        }
    }

    async fn held(guards: &[Arc<Fixed>]) -> Result<(), Ending> {
        let guards: Vec<Arc<dyn Guard>> = guards
            .iter()
            .map(|g| Arc::clone(g) as Arc<dyn Guard>)
            .collect();
        hold(
            &Context::new(),
            &step_action(mock("a", true), None),
            &guards,
        )
        .await
    }

    #[tokio::test]
    async fn every_guard_holds_or_the_first_that_does_not_fails_the_step() {
        let fenced = Fixed::new("fenced", Ok(GuardVerdict::Holds("yes".into())));
        let quiet = Fixed::new("quiet", Ok(GuardVerdict::Holds("yes".into())));
        assert!(held(&[Arc::clone(&fenced), quiet]).await.is_ok());

        let violated = Fixed::new("lagless", Ok(GuardVerdict::Violated("lag 9s".into())));
        let after = Fixed::new("after", Ok(GuardVerdict::Holds("yes".into())));
        let (e, mutated) = failure(
            held(&[fenced, Arc::clone(&violated), Arc::clone(&after)])
                .await
                .unwrap_err(),
        );
        assert_eq!(e.kind(), ErrorKind::PreconditionFailed);
        assert!(
            e.message()
                .contains("guard `lagless` does not hold: lag 9s"),
            "{e}"
        );
        assert!(!mutated);
        assert_eq!(after.evaluated.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_guard_that_cannot_be_evaluated_fails_and_a_cancelled_one_interrupts() {
        let broken = Fixed::new("fenced", Err(ErrorKind::AccessDenied));
        let (e, _) = failure(held(&[broken]).await.unwrap_err());
        assert_eq!(e.kind(), ErrorKind::PreconditionFailed);
        assert!(
            e.message()
                .contains("guard `fenced` could not be evaluated: "),
            "{e}"
        );
        let cancelled = Fixed::new("fenced", Err(ErrorKind::Cancelled));
        assert!(matches!(
            held(&[cancelled]).await,
            Err(Ending::Interrupted(_))
        ));
    }
}
