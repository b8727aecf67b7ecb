//! Operator control of a resumed run: `drkit resume JOURNAL --retry STEP` and `--skip STEP
//! --reason "..."`. Each decision is journalled with who made it and why, before any step
//! runs.
//!
//! - **retry**: the step (failed, interrupted, or never finished) runs again. When its check
//!   cannot tell whether an earlier attempt made its change (`Check::Unknown`), the operator's
//!   `--retry` is the person's decision the runner otherwise asks for.
//! - **skip**: the step is recorded as skipped by the operator and its dependents go on; a
//!   dependent that uses one of its outputs is skipped too, naming it.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use drkit_core::ActionError;
use serde::{Deserialize, Serialize};

use crate::approval::{ApprovalRequest, Approver, Decision};

/// What the operator decided for a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "choice", rename_all = "snake_case")]
#[non_exhaustive]
pub enum OperatorChoice {
    /// Run the step again (also when its earlier outcome is unknown).
    Retry,
    /// Record it as skipped, with why, and go on with its dependents.
    Skip {
        /// Why, in the operator's words.
        reason: String,
    },
}

/// The operator's decisions for a resume, and who made them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperatorDecisions {
    by: String,
    choices: BTreeMap<String, OperatorChoice>,
}

impl OperatorDecisions {
    /// Decisions made by `by` (e.g. `alice@bastion-1`), journalled with each.
    pub fn by(by: impl Into<String>) -> Self {
        Self {
            by: by.into(),
            choices: BTreeMap::new(),
        }
    }

    /// Runs `step` again.
    #[must_use]
    pub fn retry(mut self, step: impl Into<String>) -> Self {
        self.choices.insert(step.into(), OperatorChoice::Retry);
        self
    }

    /// Skips `step`, for `reason`.
    #[must_use]
    pub fn skip(mut self, step: impl Into<String>, reason: impl Into<String>) -> Self {
        self.choices.insert(
            step.into(),
            OperatorChoice::Skip {
                reason: reason.into(),
            },
        );
        self
    }

    /// Who decided.
    pub fn who(&self) -> &str {
        &self.by
    }

    /// The decisions, by step.
    pub fn choices(&self) -> impl Iterator<Item = (&str, &OperatorChoice)> {
        self.choices.iter().map(|(s, c)| (s.as_str(), c))
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.choices.is_empty()
    }

    /// Whether `step` is to be retried.
    pub(crate) fn retries(&self, step: &str) -> bool {
        matches!(self.choices.get(step), Some(OperatorChoice::Retry))
    }
}

/// The run's approver, except that a step the operator chose to retry is approved by the
/// operator's `--retry` when its earlier outcome is unknown.
pub(crate) struct RetryApprover {
    pub(crate) inner: std::sync::Arc<dyn Approver>,
    pub(crate) decisions: OperatorDecisions,
}

impl fmt::Debug for RetryApprover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryApprover")
            .field("inner", &self.inner)
            .field("decisions", &self.decisions)
            .finish()
    }
}

#[async_trait]
impl Approver for RetryApprover {
    async fn decide(&self, request: &ApprovalRequest) -> Result<Decision, ActionError> {
        if request.unknown_outcome && self.decisions.retries(&request.step) {
            return Ok(Decision::Approved {
                by: format!("{} (--retry {})", self.decisions.by, request.step),
            });
        }
        self.inner.decide(request).await
    }
}
