//! Check: the steady state before. Done -> the step is skipped; ready -> the change to make;
//! blocked -> the step fails. Done while the run has journalled the step's intent (a resume
//! after the call was sent): the change is this run's, so the step succeeded and mutated (a
//! later failure rolls it back), it was not merely found done.

use drkit_core::{ActionError, Check, Context, ErrorKind};

use super::{Ending, StepAction};

/// What the check lets the step do next.
#[derive(Debug, PartialEq)]
pub(super) struct Go {
    /// The change the step would make (or the question its check asks).
    pub(super) change: String,
    /// Whether an earlier attempt's outcome is unknown: a person must approve executing again.
    pub(super) unknown_outcome: bool,
}

/// The change the step would make, or the ending when there is none to make: skipped (done
/// already), failed (blocked, or the check failed) or interrupted (cancelled).
pub(super) async fn check(ctx: &Context, action: &StepAction) -> Result<Go, Ending> {
    match action.within(ctx, action.layered.check(ctx)).await {
        Ok(Check::Ready { change }) => Ok(Go {
            change,
            unknown_outcome: false,
        }),
        Ok(Check::Unknown { question }) => Ok(Go {
            change: question,
            unknown_outcome: true,
        }),
        Ok(Check::Done { detail, outputs }) if action.built.mutates() && ctx.intent().is_some() => {
            Err(Ending::Succeeded {
                outputs,
                verified: format!("the change this run requested took effect: {detail}"),
                mutated: true,
            })
        }
        Ok(Check::Done { detail, outputs }) => Err(Ending::Skipped { detail, outputs }),
        Ok(Check::Blocked { reason }) => Err(action.failed(ActionError::precondition(format!(
            "check says blocked: {reason}"
        )))),
        Err(e) if e.kind() == ErrorKind::Cancelled => Err(Ending::Interrupted(e)),
        Err(e) => Err(action.failed(e)),
    }
}

#[cfg(test)]
mod tests {
    use drkit_core::Outputs;

    use super::*;
    use crate::phases::testing::{failure, mock, step_action};

    async fn checked(result: fn() -> Result<Check, ActionError>) -> Result<Go, Ending> {
        let mut m = mock("a", true);
        m.expect_check().returning(move |_| result());
        check(&Context::new(), &step_action(m, None)).await
    }

    #[tokio::test]
    async fn ready_gives_the_change_and_done_skips() {
        assert_eq!(
            checked(|| Ok(Check::ready("flip it"))).await.unwrap(),
            Go {
                change: "flip it".into(),
                unknown_outcome: false
            }
        );
        match checked(|| {
            Ok(Check::Done {
                detail: "flipped".into(),
                outputs: Outputs::new().with("x", 1),
            })
        })
        .await
        {
            Err(Ending::Skipped { detail, outputs }) => {
                assert_eq!(detail, "flipped");
                assert!(outputs.get("x").is_some());
            }
            other => panic!("{other:?}"),
        }
    }

    /// Resumed after the call was sent: the journalled intent makes "done" this run's change.
    #[tokio::test]
    async fn done_with_a_recorded_intent_is_this_runs_change() {
        let mut m = mock("a", true);
        m.expect_check().returning(|_| {
            Ok(Check::Done {
                detail: "writer b".into(),
                outputs: Outputs::new().with("writer", "b"),
            })
        });
        let action = step_action(m, None);
        let ctx = Context::new().with_recorded_intent(Some(Outputs::new().with("from", "a")));
        match check(&ctx, &action).await {
            Err(Ending::Succeeded {
                outputs,
                verified,
                mutated,
            }) => {
                assert!(mutated);
                assert_eq!(outputs.get_str("writer"), Some("b"));
                assert_eq!(
                    verified,
                    "the change this run requested took effect: writer b"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// An unknown earlier outcome goes on to a person's decision, with the check's question.
    #[tokio::test]
    async fn unknown_asks_its_question() {
        assert_eq!(
            checked(|| Ok(Check::unknown("run it again?")))
                .await
                .unwrap(),
            Go {
                change: "run it again?".into(),
                unknown_outcome: true
            }
        );
    }

    #[tokio::test]
    async fn blocked_or_failed_fails_naming_the_action_and_cancelled_interrupts() {
        let (e, mutated) = failure(
            checked(|| Ok(Check::blocked("no replica")))
                .await
                .unwrap_err(),
        );
        assert_eq!(e.kind(), ErrorKind::PreconditionFailed);
        assert!(
            e.message().contains("check says blocked: no replica"),
            "{e}"
        );
        assert!(e.to_string().contains("demo.mock"), "{e}");
        assert!(!mutated);
        let (e, _) = failure(
            checked(|| Err(ActionError::new(ErrorKind::AccessDenied, "nope")))
                .await
                .unwrap_err(),
        );
        assert_eq!(e.kind(), ErrorKind::AccessDenied);
        assert!(matches!(
            checked(|| Err(ActionError::cancelled("stop"))).await,
            Err(Ending::Interrupted(_))
        ));
    }
}
