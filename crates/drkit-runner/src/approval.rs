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
    /// The change the step would make, as its check said.
    pub change: String,
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
    async fn decide(&self, _: &ApprovalRequest) -> Result<Decision, ActionError> {
        Ok(Decision::Approved {
            by: self.identity.clone(),
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
