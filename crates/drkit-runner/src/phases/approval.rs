//! Approval: a step whose policy asks for it waits for a decision before its guards and its
//! execute. The request and the decision (with the approver's identity) are journalled.

use drkit_core::{ActionError, CancellationToken};

use super::{Ending, StepAction};
use crate::approval::{ApprovalPolicy, ApprovalRequest, Approver, Decision};
use crate::journal::{Event, Journal};

/// Where a step's approval is asked and recorded.
#[derive(Debug)]
pub(super) struct Gate<'a> {
    pub(super) journal: &'a Journal,
    pub(super) approver: &'a dyn Approver,
    /// Cancels the wait (the step is interrupted).
    pub(super) cancel: &'a CancellationToken,
}

impl Gate<'_> {
    /// Records `approval_requested`, waits at most `policy.timeout` for the approver's
    /// decision on `request` and records it durably (`approval_decided`). Approved -> go on;
    /// denied, no decision in time or an approver error -> the step fails; cancelled while
    /// waiting -> interrupted.
    pub(super) async fn approve(
        &self,
        policy: &ApprovalPolicy,
        request: &ApprovalRequest,
        action: &StepAction,
    ) -> Result<(), Ending> {
        self.journal.record(Event::ApprovalRequested {
            step: request.step.clone(),
        });
        let decided = tokio::select! {
            biased;
            () = self.cancel.cancelled() => {
                return Err(Ending::Interrupted(ActionError::cancelled(
                    "cancelled while waiting for approval",
                )));
            }
            decided = tokio::time::timeout(policy.timeout, self.approver.decide(request)) => decided,
        };
        let decision = match decided {
            Ok(Ok(decision)) => decision,
            Ok(Err(e)) => return Err(action.failed(e)),
            Err(_) => {
                return Err(action.failed(ActionError::precondition(format!(
                    "no approval decision within {}",
                    humantime::format_duration(policy.timeout)
                ))));
            }
        };
        let denied = match &decision {
            Decision::Approved { .. } => None,
            Decision::Denied { by, reason } => Some(format!("denied by {by}: {reason}")),
        };
        self.journal
            .record_durable(Event::ApprovalDecided {
                step: request.step.clone(),
                decision,
            })
            .await
            .map_err(Ending::Unrecorded)?;
        match denied {
            None => Ok(()),
            Some(denied) => Err(action.failed(ActionError::precondition(denied))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use async_trait::async_trait;
    use drkit_core::ErrorKind;

    use super::*;
    use crate::approval::AutoApprove;
    use crate::phases::testing::{self, failure, mock, step_action};

    /// Decides as told, after `after`.
    #[derive(Debug)]
    struct Scripted {
        after: Duration,
        /// The decision, or the approver's error message.
        answer: Result<Decision, &'static str>,
    }

    #[async_trait]
    impl Approver for Scripted {
        async fn decide(&self, _: &ApprovalRequest) -> Result<Decision, ActionError> {
            tokio::time::sleep(self.after).await;
            self.answer
                .clone()
                .map_err(|e| ActionError::new(ErrorKind::Unavailable, e))
        }
    }

    fn request() -> ApprovalRequest {
        ApprovalRequest {
            run: "run-1".into(),
            plan: "plan".into(),
            step: "promote".into(),
            kind: "demo.mock".into(),
            target: "demo:thing/promote".into(),
            change: "promote it".into(),
            unknown_outcome: false,
        }
    }

    /// The phase's result with `approver`, and the events it recorded.
    async fn approve(
        approver: &dyn Approver,
        cancel: &CancellationToken,
    ) -> (Result<(), Ending>, Vec<Event>) {
        let (journal, _hub, committer) = testing::journal();
        let gate = Gate {
            journal: &journal,
            approver,
            cancel,
        };
        let action = step_action(mock("promote", true), None);
        let result = gate
            .approve(
                &ApprovalPolicy::within(Duration::from_secs(60)),
                &request(),
                &action,
            )
            .await;
        (result, testing::events(journal, committer).await)
    }

    #[tokio::test]
    async fn an_approval_is_requested_and_recorded_with_its_approver() {
        let (result, events) = approve(&AutoApprove::new("alice"), &CancellationToken::new()).await;
        assert!(result.is_ok());
        assert!(matches!(&events[0], Event::ApprovalRequested { step } if step == "promote"));
        assert!(matches!(
            &events[1],
            Event::ApprovalDecided { decision: Decision::Approved { by }, .. } if by == "alice"
        ));
    }

    #[tokio::test]
    async fn a_denial_fails_the_step_after_recording_it() {
        let denier = Scripted {
            after: Duration::ZERO,
            answer: Ok(Decision::Denied {
                by: "bob".into(),
                reason: "not now".into(),
            }),
        };
        let (result, events) = approve(&denier, &CancellationToken::new()).await;
        let (e, mutated) = failure(result.unwrap_err());
        assert_eq!(e.kind(), ErrorKind::PreconditionFailed);
        assert!(e.message().contains("denied by bob: not now"), "{e}");
        assert!(!mutated);
        assert_eq!(events.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn no_decision_in_time_or_an_approver_error_fails_without_a_decision() {
        let slow = Scripted {
            after: Duration::from_secs(3600),
            answer: Ok(Decision::Approved { by: "late".into() }),
        };
        let (result, events) = approve(&slow, &CancellationToken::new()).await;
        let (e, _) = failure(result.unwrap_err());
        assert!(
            e.message().contains("no approval decision within 1m"),
            "{e}"
        );
        assert_eq!(events.len(), 1, "{events:?}");

        let broken = Scripted {
            after: Duration::ZERO,
            answer: Err("chat is down"),
        };
        let (result, _) = approve(&broken, &CancellationToken::new()).await;
        let (e, _) = failure(result.unwrap_err());
        assert_eq!(e.kind(), ErrorKind::Unavailable);
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_the_wait_interrupts_the_step() {
        let slow = Scripted {
            after: Duration::from_secs(30),
            answer: Ok(Decision::Approved { by: "late".into() }),
        };
        let cancel = CancellationToken::new();
        cancel.cancel();
        let (result, events) = approve(&slow, &cancel).await;
        assert!(
            matches!(result, Err(Ending::Interrupted(e)) if e.message().contains("waiting for approval"))
        );
        assert_eq!(events.len(), 1);
    }
}
