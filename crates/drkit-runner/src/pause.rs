//! Paused by a failed step: with a [`FailureHandler`] (the CLI's `--pause-on-failure` at a
//! terminal), a step that fails does not end the run's part there; the handler — a person —
//! chooses what happens next, as ARC Region switch's "paused by failed step" does:
//!
//! - **retry**: the step runs again (check first, as always);
//! - **skip**: it is recorded as skipped by that person, with the reason, and its dependents go
//!   on (a step that uses one of its outputs is skipped too);
//! - **continue**: it stays failed and the run goes on with what does not depend on it;
//! - **rollback**: the run stops and compensates what it changed;
//! - **abort**: the run stops; nothing is compensated.
//!
//! Every choice is journalled (`operator_decided`, with who chose) before it is acted on.

use std::fmt;

use async_trait::async_trait;
use drkit_core::ActionError;
use serde::{Deserialize, Serialize};

/// What a person is asked when a step failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FailureRequest {
    /// The run.
    pub run: String,
    /// The plan.
    pub plan: String,
    /// The step.
    pub step: String,
    /// The step's failure, as one line.
    pub error: String,
    /// How many times the step has failed in this run part (1 the first time).
    pub failures: u32,
}

/// What the person chose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "choice", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureChoice {
    /// Run the step again.
    Retry,
    /// Record it as skipped, with why, and go on with its dependents.
    Skip {
        /// Why.
        reason: String,
    },
    /// Leave it failed and go on with what does not depend on it.
    Continue,
    /// Stop and compensate what the run changed.
    Rollback,
    /// Stop; compensate nothing.
    Abort,
}

impl FailureChoice {
    /// The journal's name of the choice: `retry`, `skip`, `continue`, `rollback`, `abort`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Skip { .. } => "skip",
            Self::Continue => "continue",
            Self::Rollback => "rollback",
            Self::Abort => "abort",
        }
    }
}

/// Decides what a run does after a failed step (see the [module docs](self)). Returns the
/// choice and who made it (journalled). An error leaves the step failed, with its own policy.
#[async_trait]
pub trait FailureHandler: Send + Sync + fmt::Debug {
    /// Decides on `request`.
    async fn decide(
        &self,
        request: &FailureRequest,
    ) -> Result<(FailureChoice, String), ActionError>;
}

/// Parses a person's answer: `r`/`retry`, `s`/`skip`, `c`/`continue`, `b`/`rollback`,
/// `a`/`abort` (case and surrounding space ignored); `None` for anything else.
pub(crate) fn parse_choice(answer: &str) -> Option<fn(String) -> FailureChoice> {
    match answer.trim().to_ascii_lowercase().as_str() {
        "r" | "retry" => Some(|_| FailureChoice::Retry),
        "s" | "skip" => Some(|reason| FailureChoice::Skip { reason }),
        "c" | "continue" => Some(|_| FailureChoice::Continue),
        "b" | "rollback" => Some(|_| FailureChoice::Rollback),
        "a" | "abort" => Some(|_| FailureChoice::Abort),
        _ => None,
    }
}
