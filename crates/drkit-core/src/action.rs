//! The [`RecoveryAction`] trait and the values it exchanges.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ActionError, Context};

/// The resource an action acts on, e.g. `rds:db-cluster/mint-replica-cluster@us-west-2`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Resource {
    /// The service, e.g. `rds`.
    pub service: String,
    /// The resource type within the service, e.g. `db-cluster`.
    pub kind: String,
    /// The resource's identifier, e.g. `mint-replica-cluster`.
    pub id: String,
    /// The region (or other location), when it matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

impl Resource {
    /// A resource without a region.
    pub fn new(service: impl Into<String>, kind: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            kind: kind.into(),
            id: id.into(),
            region: None,
        }
    }

    /// The same resource in `region`.
    #[must_use]
    pub fn in_region(mut self, region: Option<impl Into<String>>) -> Self {
        self.region = region.map(Into::into);
        self
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.service, self.kind, self.id)?;
        if let Some(region) = &self.region {
            write!(f, "@{region}")?;
        }
        Ok(())
    }
}

/// Named values an action returns for later steps (e.g. `certificate_arn`, `writer`).
///
/// Outputs are written to the journal: never put a secret in them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Outputs(BTreeMap<String, Value>);

impl Outputs {
    /// No outputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an output, builder style.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds or replaces an output.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        self.0.insert(name.into(), value.into());
    }

    /// An output by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A string output by name.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// All outputs, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many outputs there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Outputs {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// What a read-only [`RecoveryAction::check`] found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Check {
    /// The post-condition already holds: executing would change nothing. `outputs` are what
    /// `execute` would have returned, so later steps can use them on a re-run.
    Done {
        /// What was found, for the journal.
        detail: String,
        /// The outputs of the already-done change.
        #[serde(default)]
        outputs: Outputs,
    },
    /// The action can run; `change` says what it would change (this is what a dry run prints).
    Ready {
        /// The change `execute` would make, in words.
        change: String,
    },
    /// The action cannot run now.
    Blocked {
        /// Why, in words an operator can act on.
        reason: String,
    },
    /// Whether the change was made cannot be told: an earlier attempt's outcome was lost and
    /// the action has nothing to read it from (e.g. a program with no `check`). The runner asks
    /// a person `question` before executing again; an automatic approval refuses.
    Unknown {
        /// What the person is asked, with what is known.
        question: String,
    },
}

impl Check {
    /// Already done, with no outputs.
    pub fn done(detail: impl Into<String>) -> Self {
        Self::Done {
            detail: detail.into(),
            outputs: Outputs::new(),
        }
    }

    /// Ready to make `change`.
    pub fn ready(change: impl Into<String>) -> Self {
        Self::Ready {
            change: change.into(),
        }
    }

    /// Blocked for `reason`.
    pub fn blocked(reason: impl Into<String>) -> Self {
        Self::Blocked {
            reason: reason.into(),
        }
    }

    /// Unknown whether the change was made: ask `question`.
    pub fn unknown(question: impl Into<String>) -> Self {
        Self::Unknown {
            question: question.into(),
        }
    }

    /// Whether the post-condition already holds.
    pub fn is_done(&self) -> bool {
        matches!(self, Self::Done { .. })
    }
}

/// One recovery step: a change to one resource that can be checked, executed, verified and
/// (sometimes) rolled back.
///
/// Usable as `Arc<dyn RecoveryAction>` ([`ActionRef`]). Provider actions do not implement it
/// by hand: they implement [`ActionKind`](crate::ActionKind) and [`Act`](crate::Act) (or
/// [`Probe`](crate::Probe)), and this trait comes with them (see [`kind`](crate::kind)). A
/// program's own action — a wrapper, a layer, a test double — may implement it directly.
///
/// Contract:
/// - [`check`](Self::check) is read-only. Dry runs and idempotent re-runs use only it.
/// - [`execute`](Self::execute) makes the change and returns only once it has really taken
///   effect, within [`Context::deadline`], honouring [`Context::cancellation`]. Executing again
///   after a failure must not repeat a change that was already made.
/// - [`verify`](Self::verify) is read-only and checks the post-condition.
/// - [`rollback`](Self::rollback) compensates a completed `execute`; unsupported by default.
#[async_trait]
pub trait RecoveryAction: Send + Sync + fmt::Debug {
    /// The stable step id, unique within a plan (e.g. `failover-db`).
    fn id(&self) -> &str;

    /// The kind name the action is registered under: `<service>.<operation>`, e.g.
    /// `rds.failover_db_cluster`.
    fn kind(&self) -> &'static str;

    /// The resource it acts on.
    fn target(&self) -> &Resource;

    /// Whether `execute` changes anything (false for probes and checks).
    fn mutates(&self) -> bool;

    /// The IAM actions `check`, `execute`, `verify` and `rollback` need, e.g.
    /// `rds:FailoverDBCluster`, so a least-privilege policy can be generated from a plan.
    fn iam_actions(&self) -> &'static [&'static str];

    /// Read-only: is the change already done, ready to make, or blocked?
    async fn check(&self, ctx: &Context) -> Result<Check, ActionError>;

    /// Makes the change and waits until it has taken effect. Returns named outputs.
    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError>;

    /// Read-only: does the post-condition hold? Returns a description of what was verified.
    async fn verify(&self, ctx: &Context) -> Result<String, ActionError>;

    /// Compensates a completed `execute`. Not supported unless the action says otherwise.
    ///
    /// The runner gives the rollback's context the step's own recorded outputs
    /// (`ctx.outputs_of(self.id())`), also after a resume in another process: an action that
    /// puts what it needs to undo into its outputs (e.g. the previous value) can roll back even
    /// when it did not run `execute` itself.
    async fn rollback(&self, ctx: &Context) -> Result<(), ActionError> {
        let _ = ctx;
        Err(ActionError::unsupported("this action has no rollback").in_action(self))
    }

    /// Whether [`rollback`](Self::rollback) is supported.
    fn supports_rollback(&self) -> bool {
        false
    }
}

/// A shared, type-erased action.
pub type ActionRef = Arc<dyn RecoveryAction>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_display_is_compact() {
        let r = Resource::new("rds", "db-cluster", "mint").in_region(Some("us-west-2"));
        assert_eq!(r.to_string(), "rds:db-cluster/mint@us-west-2");
        let r = Resource::new("s3", "bucket", "b");
        assert_eq!(r.to_string(), "s3:bucket/b");
    }

    #[test]
    fn check_serializes_with_a_state_tag() {
        let json = serde_json::to_value(Check::blocked("no reader")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"state": "blocked", "reason": "no reader"})
        );
        let done = Check::Done {
            detail: "writer is b".into(),
            outputs: Outputs::new().with("writer", "b"),
        };
        let back: Check = serde_json::from_value(serde_json::to_value(&done).unwrap()).unwrap();
        assert_eq!(back, done);
        assert!(back.is_done());
    }

    #[test]
    fn outputs_keep_values_by_name() {
        let out: Outputs = [("a", 1), ("b", 2)].into_iter().collect();
        assert_eq!(out.len(), 2);
        assert_eq!(out.get("b"), Some(&Value::from(2)));
        let out = Outputs::new().with("arn", "arn:aws:acm:x");
        assert_eq!(out.get_str("arn"), Some("arn:aws:acm:x"));
        assert_eq!(out.get_str("missing"), None);
    }
}
