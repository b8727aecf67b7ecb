//! Approval gates: a step can require a decision from someone before it executes.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::ActionError;
use serde::{Deserialize, Serialize};

/// What an approver is asked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApprovalRequest {
    /// The run.
    pub run: String,
    /// The plan.
    pub plan: String,
    /// The step.
    pub step: String,
    /// The action kind, e.g. `rds.failover_db_cluster`.
    pub kind: String,
    /// The resource, e.g. `rds:db-cluster/mint@us-west-2`.
    pub target: String,
    /// The change the step would make, as its check said (or, when `unknown_outcome`, the
    /// question its check asks).
    pub change: String,
    /// The step's check cannot tell whether an earlier attempt made the change
    /// ([`Check::Unknown`](drkit_core::Check::Unknown)): running it again may make it twice.
    /// [`AutoApprove`] refuses such a request; a person must decide.
    #[serde(default)]
    pub unknown_outcome: bool,
}

/// An approver's decision. `by` is the approver's identity, written to the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Go ahead.
    Approved {
        /// Who approved.
        by: String,
    },
    /// Do not.
    Denied {
        /// Who denied.
        by: String,
        /// Why.
        reason: String,
    },
}

/// Decides whether a step may run: auto-approve, a terminal prompt, a chat-ops bot, the
/// embedder's own. The runner bounds the wait by the step's [`ApprovalPolicy::timeout`].
#[async_trait]
pub trait Approver: Send + Sync + fmt::Debug {
    /// Decides on `request`. An error fails the step.
    async fn decide(&self, request: &ApprovalRequest) -> Result<Decision, ActionError>;
}

/// Approves everything, under a stated identity (e.g. `auto-approve (drill)`).
#[derive(Clone, Debug)]
pub struct AutoApprove {
    identity: String,
}

impl AutoApprove {
    /// Approves as `identity`.
    pub fn new(identity: impl Into<String>) -> Self {
        Self {
            identity: identity.into(),
        }
    }
}

impl Default for AutoApprove {
    fn default() -> Self {
        Self::new("auto-approve")
    }
}

#[async_trait]
impl Approver for AutoApprove {
    /// Approves, except a step whose earlier outcome is unknown: repeating a change that may
    /// have been made is a person's decision.
    async fn decide(&self, request: &ApprovalRequest) -> Result<Decision, ActionError> {
        Ok(if request.unknown_outcome {
            Decision::Denied {
                by: self.identity.clone(),
                reason: "an automatic approval never repeats a change whose earlier outcome is \
                         unknown: decide at a terminal (drkit resume without --auto-approve), or \
                         give the step a check"
                    .to_owned(),
            }
        } else {
            Decision::Approved {
                by: self.identity.clone(),
            }
        })
    }
}

/// A step's approval requirement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ApprovalPolicy {
    /// How long to wait for a decision before failing the step (seed: 15 min).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15 * 60),
        }
    }
}

impl ApprovalPolicy {
    /// Waits at most `timeout` for a decision.
    pub fn within(timeout: Duration) -> Self {
        Self { timeout }
    }
}

/// Asks a person: writes the request to `output` and reads a `yes`/`no` line from `input`.
/// Concurrent requests are asked one after the other. The answer's author is `identity`
/// (e.g. the operator's `user@host`), written to the journal.
///
/// [`PromptApprover::terminal`] prompts on standard error and reads standard input; the
/// generic form lets an embedder (or a test) use any reader and writer.
pub struct PromptApprover<R, W> {
    identity: String,
    io: tokio::sync::Mutex<(R, W)>,
}

impl<R, W> fmt::Debug for PromptApprover<R, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromptApprover")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl PromptApprover<tokio::io::BufReader<tokio::io::Stdin>, tokio::io::Stderr> {
    /// Prompts on the terminal (standard error) and reads the answer from standard input.
    pub fn terminal(identity: impl Into<String>) -> Self {
        Self::new(
            identity,
            tokio::io::BufReader::new(tokio::io::stdin()),
            tokio::io::stderr(),
        )
    }
}

impl<R, W> PromptApprover<R, W>
where
    R: tokio::io::AsyncBufRead + Unpin + Send,
    W: tokio::io::AsyncWrite + Unpin + Send,
{
    /// Prompts on `output`, reads answers from `input`; answers are `identity`'s.
    pub fn new(identity: impl Into<String>, input: R, output: W) -> Self {
        Self {
            identity: identity.into(),
            io: tokio::sync::Mutex::new((input, output)),
        }
    }
}

fn io_error(e: &std::io::Error) -> ActionError {
    ActionError::new(
        drkit_core::ErrorKind::Other,
        format!("the approval prompt failed: {e}"),
    )
}

#[async_trait]
impl<R, W> Approver for PromptApprover<R, W>
where
    R: tokio::io::AsyncBufRead + Unpin + Send,
    W: tokio::io::AsyncWrite + Unpin + Send,
{
    async fn decide(&self, request: &ApprovalRequest) -> Result<Decision, ActionError> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

        let mut io = self.io.lock().await;
        let (input, output) = &mut *io;
        let (title, what) = if request.unknown_outcome {
            ("Outcome unknown", "asks")
        } else {
            ("Approval needed", "will")
        };
        let prompt = format!(
            "\n{title} — plan {}, run {}\n  step {} ({}) on {}\n  {what}: {}\nApprove? [yes/no] ",
            request.plan, request.run, request.step, request.kind, request.target, request.change
        );
        output
            .write_all(prompt.as_bytes())
            .await
            .map_err(|e| io_error(&e))?;
        output.flush().await.map_err(|e| io_error(&e))?;
        let mut line = String::new();
        let read = input.read_line(&mut line).await.map_err(|e| io_error(&e))?;
        if read == 0 {
            return Err(ActionError::invalid_input(
                "no answer to the approval prompt: standard input is closed (use auto-approval \
                 for unattended runs)",
            ));
        }
        let answer = line.trim().to_ascii_lowercase();
        Ok(if matches!(answer.as_str(), "y" | "yes") {
            Decision::Approved {
                by: self.identity.clone(),
            }
        } else {
            Decision::Denied {
                by: self.identity.clone(),
                reason: format!("answered `{}` at the prompt", line.trim()),
            }
        })
    }
}

#[async_trait]
impl<T: Approver + ?Sized> Approver for std::sync::Arc<T> {
    async fn decide(&self, request: &ApprovalRequest) -> Result<Decision, ActionError> {
        (**self).decide(request).await
    }
}

/// The same person, at the same prompt, decides what happens after a failed step (one lock
/// for both kinds of question, so they never interleave).
#[async_trait]
impl<R, W> crate::pause::FailureHandler for PromptApprover<R, W>
where
    R: tokio::io::AsyncBufRead + Unpin + Send,
    W: tokio::io::AsyncWrite + Unpin + Send,
{
    async fn decide(
        &self,
        request: &crate::pause::FailureRequest,
    ) -> Result<(crate::pause::FailureChoice, String), ActionError> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

        let mut io = self.io.lock().await;
        let (input, output) = &mut *io;
        let mut ask = async |question: String| -> Result<String, ActionError> {
            output
                .write_all(question.as_bytes())
                .await
                .map_err(|e| io_error(&e))?;
            output.flush().await.map_err(|e| io_error(&e))?;
            let mut line = String::new();
            if input.read_line(&mut line).await.map_err(|e| io_error(&e))? == 0 {
                return Err(ActionError::invalid_input(
                    "no answer at the prompt: standard input is closed",
                ));
            }
            Ok(line.trim().to_owned())
        };
        let mut question = format!(
            "\nStep failed — plan {}, run {}\n  step {} (failure {}): {}\nWhat now? [r]etry, [s]kip, [c]ontinue without it, roll[b]ack, [a]bort: ",
            request.plan, request.run, request.step, request.failures, request.error
        );
        for _ in 0..5 {
            let answer = ask(question).await?;
            if let Some(choice) = crate::pause::parse_choice(&answer) {
                let mut choice = choice(String::new());
                if let crate::pause::FailureChoice::Skip { reason } = &mut choice {
                    while reason.is_empty() {
                        *reason = ask(format!("Why skip {}? ", request.step)).await?;
                    }
                }
                return Ok((choice, self.identity.clone()));
            }
            question = "Answer r, s, c, b or a: ".to_owned();
        }
        Err(ActionError::invalid_input("no valid answer at the prompt"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ApprovalRequest {
        ApprovalRequest {
            run: "mint-1".into(),
            plan: "mint".into(),
            step: "promote".into(),
            kind: "rds.promote_read_replica".into(),
            target: "rds:db-instance/mint-replica".into(),
            change: "promote mint-replica".into(),
            unknown_outcome: false,
        }
    }

    /// After a failed step, the same prompt asks what now; a skip asks why; a wrong answer is
    /// asked again.
    #[tokio::test]
    async fn the_prompt_asks_what_to_do_after_a_failure() {
        use crate::pause::{FailureChoice, FailureHandler, FailureRequest};
        let request = FailureRequest {
            run: "mint-1".into(),
            plan: "mint".into(),
            step: "db-switchover".into(),
            error: "timed out".into(),
            failures: 1,
        };
        let mut shown = Vec::new();
        let prompt =
            PromptApprover::new("ops@host", &b"maybe\nS\n\ndone by hand\n"[..], &mut shown);
        let (choice, by) = FailureHandler::decide(&prompt, &request).await.unwrap();
        assert_eq!(
            choice,
            FailureChoice::Skip {
                reason: "done by hand".into()
            }
        );
        assert_eq!(by, "ops@host");
        drop(prompt);
        let shown = String::from_utf8(shown).unwrap();
        assert!(
            shown.contains("step db-switchover (failure 1): timed out"),
            "{shown}"
        );
        assert!(
            shown.contains("Answer r, s, c, b or a") && shown.contains("Why skip db-switchover?"),
            "{shown}"
        );
        let mut sink = Vec::new();
        let closed = PromptApprover::new("ops@host", &b""[..], &mut sink);
        assert!(FailureHandler::decide(&closed, &request).await.is_err());
    }

    /// A change whose earlier outcome is unknown is never repeated by an automatic approval;
    /// a person is asked, and told so.
    #[tokio::test]
    async fn an_unknown_outcome_is_refused_automatically_and_asked_at_the_prompt() {
        let unknown = ApprovalRequest {
            change: "it may have run; run it again?".into(),
            unknown_outcome: true,
            ..request()
        };
        match AutoApprove::new("auto-approve (--auto-approve)")
            .decide(&unknown)
            .await
            .unwrap()
        {
            Decision::Denied { by, reason } => {
                assert_eq!(by, "auto-approve (--auto-approve)");
                assert!(reason.contains("never repeats"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            AutoApprove::default().decide(&request()).await.unwrap(),
            Decision::Approved { .. }
        ));
        let mut shown = Vec::new();
        let prompt = PromptApprover::new("ops@host", &b"yes\n"[..], &mut shown);
        assert!(matches!(
            prompt.decide(&unknown).await.unwrap(),
            Decision::Approved { .. }
        ));
        drop(prompt);
        let shown = String::from_utf8(shown).unwrap();
        assert!(
            shown.contains("Outcome unknown") && shown.contains("asks: it may have run"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn the_prompt_shows_the_change_and_reads_the_answer() {
        let approver = PromptApprover::new("alice@bastion", &b"yes\nno way\n"[..], Vec::new());
        assert_eq!(
            approver.decide(&request()).await.unwrap(),
            Decision::Approved {
                by: "alice@bastion".into()
            }
        );
        assert_eq!(
            approver.decide(&request()).await.unwrap(),
            Decision::Denied {
                by: "alice@bastion".into(),
                reason: "answered `no way` at the prompt".into()
            }
        );
        let io = approver.io.lock().await;
        let shown = String::from_utf8(io.1.clone()).unwrap();
        assert!(
            shown.contains("step promote (rds.promote_read_replica)"),
            "{shown}"
        );
        assert!(shown.contains("will: promote mint-replica"), "{shown}");
        drop(io);
        // Input exhausted: an error, not a silent approval.
        let err = approver.decide(&request()).await.unwrap_err();
        assert!(err.message().contains("standard input is closed"), "{err}");
    }
}
