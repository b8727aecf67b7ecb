//! Guards (safety interlocks): conditions that must hold just before a step executes, evaluated
//! by read-only probes — e.g. "the old primary is fenced" before promoting a replica.

use std::fmt;

use async_trait::async_trait;
use drkit_core::{ActionError, ActionRef, Check, Context};

/// What a guard found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuardVerdict {
    /// The condition holds; what was seen.
    Holds(String),
    /// The condition does not hold; why, in words an operator can act on.
    Violated(String),
}

/// A condition checked by a read-only probe just before a step executes. A violated guard or
/// a probe error fails the step (as a failed precondition) without executing it.
#[async_trait]
pub trait Guard: Send + Sync + fmt::Debug {
    /// A short name for the journal, e.g. `old-primary-fenced`.
    fn name(&self) -> &str;
    /// Evaluates the condition. Must be read-only.
    async fn evaluate(&self, ctx: &Context) -> Result<GuardVerdict, ActionError>;
}

/// A guard that holds when a read-only action's `check` says *done* (its post-condition holds).
/// Only `check` is ever called on the probe.
#[derive(Clone, Debug)]
pub struct ProbeGuard {
    name: String,
    probe: ActionRef,
}

impl ProbeGuard {
    /// A guard named `name` over `probe`.
    pub fn new(name: impl Into<String>, probe: ActionRef) -> Self {
        Self {
            name: name.into(),
            probe,
        }
    }
}

#[async_trait]
impl Guard for ProbeGuard {
    fn name(&self) -> &str {
        &self.name
    }

    async fn evaluate(&self, ctx: &Context) -> Result<GuardVerdict, ActionError> {
        Ok(match self.probe.check(ctx).await? {
            Check::Done { detail, .. } => GuardVerdict::Holds(detail),
            Check::Ready { change } => GuardVerdict::Violated(format!("not yet: {change}")),
            Check::Blocked { reason } => GuardVerdict::Violated(reason),
            Check::Unknown { question } => GuardVerdict::Violated(format!("unknown: {question}")),
        })
    }
}
