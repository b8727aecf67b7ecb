//! `iam.put_role_policy`: restore a role's inline policy (the seed's "Permission Restoration").

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use drkit_core::{
    ActionError, Check, Context, ErrorKind, Outputs, Poll, RecoveryAction, Resource, WaitPolicy,
    wait_until,
};
use serde_json::Value;

use crate::policy::PolicyDocument;
use crate::port::IamApi;
use drkit_core::action_identity as identity;

pub(crate) const KIND: &str = "iam.put_role_policy";
pub(crate) const IAM: &[&str] = &[
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
];

/// What the role's inline policy was before this action changed it.
#[derive(Clone, Debug, PartialEq)]
enum Previous {
    /// The policy did not exist: rollback deletes it.
    None,
    /// The policy's earlier document (JSON text): rollback puts it back.
    Document(String),
}

/// What [`PutRolePolicy::current`] found.
enum Current {
    RoleMissing,
    NoPolicy,
    Policy { text: String, value: Value },
}

/// Creates or replaces an inline policy of an IAM role, idempotently: when the role already has
/// the policy with the same meaning (compared as parsed JSON), `check` says done and nothing is
/// written. Outputs: `role`, `policy_name`, `changed`, `had_previous`, `previous_document`.
/// Rollback puts back the document found before (or deletes the policy if there was none).
pub struct PutRolePolicy {
    id: String,
    role: String,
    policy_name: String,
    document: PolicyDocument,
    target: Resource,
    api: Arc<dyn IamApi>,
    wait: WaitPolicy,
    applied: Mutex<Option<Previous>>,
}

impl fmt::Debug for PutRolePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutRolePolicy")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("policy_name", &self.policy_name)
            .finish_non_exhaustive()
    }
}

impl PutRolePolicy {
    /// A step `id` that makes `document` the inline policy `policy_name` of `role`. The
    /// document was validated when it was built ([`PolicyDocument::parse`]).
    pub fn new(
        id: impl Into<String>,
        role: impl Into<String>,
        policy_name: impl Into<String>,
        document: PolicyDocument,
        api: Arc<dyn IamApi>,
    ) -> Self {
        let role = role.into();
        let policy_name = policy_name.into();
        Self {
            id: id.into(),
            target: Resource::new("iam", "role", role.clone()),
            role,
            policy_name,
            document,
            api,
            wait: WaitPolicy::default(),
            applied: Mutex::new(None),
        }
    }

    /// Uses `policy` for the wait until IAM shows the new document.
    #[must_use]
    pub fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    fn applied(&self) -> Option<Previous> {
        self.applied
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_applied(&self, previous: Option<Previous>) {
        *self.applied.lock().unwrap_or_else(PoisonError::into_inner) = previous;
    }

    /// The inline policy now, telling a missing role from a missing policy (both are IAM's
    /// `NoSuchEntity`).
    async fn current(&self, ctx: &Context) -> Result<Current, ActionError> {
        match ctx
            .bounded(self.api.get_role_policy(&self.role, &self.policy_name))
            .await
        {
            Ok(text) => {
                let value = serde_json::from_str(&text).map_err(|e| {
                    ActionError::new(
                        ErrorKind::Other,
                        format!(
                            "inline policy {} of role {} is not JSON: {e}",
                            self.policy_name, self.role
                        ),
                    )
                    .with_operation("GetRolePolicy")
                    .in_action(self)
                })?;
                Ok(Current::Policy { text, value })
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                match ctx.bounded(self.api.get_role(&self.role)).await {
                    Ok(_) => Ok(Current::NoPolicy),
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(Current::RoleMissing),
                    Err(e) => Err(e.in_action(self)),
                }
            }
            Err(e) => Err(e.in_action(self)),
        }
    }

    fn outputs(&self, changed: bool, previous: &Previous) -> Outputs {
        let out = Outputs::new()
            .with("role", self.role.clone())
            .with("policy_name", self.policy_name.clone())
            .with("changed", changed);
        match previous {
            Previous::None => out
                .with("had_previous", false)
                .with("previous_document", Value::Null),
            Previous::Document(text) => out
                .with("had_previous", true)
                .with("previous_document", text.clone()),
        }
    }

    fn name(&self) -> String {
        format!("inline policy {} of role {}", self.policy_name, self.role)
    }

    /// What to roll back: what this action remembers, else its recorded outputs (a resumed
    /// run), else nothing.
    fn to_undo(&self, ctx: &Context) -> Option<Previous> {
        if let Some(previous) = self.applied() {
            return Some(previous);
        }
        let out = ctx.outputs_of(&self.id)?;
        if out.get("changed").and_then(Value::as_bool) != Some(true) {
            return None;
        }
        match (out.get("had_previous"), out.get_str("previous_document")) {
            (Some(Value::Bool(true)), Some(text)) => Some(Previous::Document(text.to_owned())),
            (Some(Value::Bool(false)), _) => Some(Previous::None),
            _ => None,
        }
    }
}

#[async_trait]
impl RecoveryAction for PutRolePolicy {
    identity!(kind = KIND, mutates = true, iam = IAM);

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        Ok(match self.current(ctx).await? {
            Current::RoleMissing => Check::blocked(format!("role {} does not exist", self.role)),
            Current::NoPolicy => Check::ready(format!("create {}", self.name())),
            Current::Policy { text, value } if self.document.same_as_value(&value) => Check::Done {
                detail: format!("{} already has the wanted document", self.name()),
                outputs: match self.applied() {
                    Some(previous) => self.outputs(true, &previous),
                    None => self.outputs(false, &Previous::Document(text)),
                },
            },
            Current::Policy { .. } => {
                Check::ready(format!("replace the document of {}", self.name()))
            }
        })
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        ctx.refuse_dry_run().map_err(|e| e.in_action(self))?;
        let previous = match self.current(ctx).await? {
            Current::RoleMissing => {
                return Err(ActionError::new(
                    ErrorKind::PreconditionFailed,
                    format!("role {} does not exist", self.role),
                )
                .in_action(self));
            }
            Current::Policy { text, value } if self.document.same_as_value(&value) => {
                ctx.progress(format!("{} already has the wanted document", self.name()));
                return Ok(match self.applied() {
                    // Executed again after this action's own change: keep what rollback needs.
                    Some(previous) => self.outputs(true, &previous),
                    None => self.outputs(false, &Previous::Document(text)),
                });
            }
            Current::Policy { text, .. } => Previous::Document(text),
            Current::NoPolicy => Previous::None,
        };
        // Remember the first document found: a second attempt must not take our own document
        // for the one to restore.
        let previous = self.applied().unwrap_or(previous);
        ctx.bounded(self.api.put_role_policy(
            &self.role,
            &self.policy_name,
            &self.document.to_json(),
        ))
        .await
        .map_err(|e| e.in_action(self))?;
        self.set_applied(Some(previous.clone()));
        ctx.progress(format!("PutRolePolicy accepted for {}", self.name()));
        // IAM is eventually consistent: wait until a read shows the new document.
        let what = format!("{} to show the new document", self.name());
        wait_until(ctx, &what, &self.wait, || async {
            match ctx
                .bounded(self.api.get_role_policy(&self.role, &self.policy_name))
                .await
            {
                Ok(text) => match serde_json::from_str::<Value>(&text) {
                    Ok(v) if self.document.same_as_value(&v) => Ok(Poll::Ready(())),
                    _ => Ok(Poll::Pending("an older document".into())),
                },
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    Ok(Poll::Pending("not visible yet".into()))
                }
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| e.in_action(self))?;
        Ok(self.outputs(true, &previous))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let found = match self.current(ctx).await? {
            Current::Policy { value, .. } if self.document.same_as_value(&value) => {
                return Ok(format!("{} has the wanted document", self.name()));
            }
            Current::Policy { .. } => "a different document",
            Current::NoPolicy => "no such policy",
            Current::RoleMissing => "no such role",
        };
        Err(ActionError::postcondition(format!("{}: found {found}", self.name())).in_action(self))
    }

    async fn rollback(&self, ctx: &Context) -> Result<(), ActionError> {
        let Some(previous) = self.to_undo(ctx) else {
            ctx.progress(format!(
                "nothing to roll back: this action did not change {}",
                self.name()
            ));
            return Ok(());
        };
        match previous {
            Previous::Document(text) => {
                ctx.bounded(
                    self.api
                        .put_role_policy(&self.role, &self.policy_name, &text),
                )
                .await
                .map_err(|e| e.in_action(self))?;
                ctx.progress(format!("{} restored to its previous document", self.name()));
            }
            Previous::None => {
                match ctx
                    .bounded(self.api.delete_role_policy(&self.role, &self.policy_name))
                    .await
                {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e.in_action(self)),
                }
                ctx.progress(format!("{} deleted (it did not exist before)", self.name()));
            }
        }
        self.set_applied(None);
        Ok(())
    }

    fn supports_rollback(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[path = "put_policy_tests.rs"]
mod tests;
