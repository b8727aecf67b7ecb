//! `iam.put_role_policy`: restore a role's inline policy (the seed's "Permission Restoration").

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::Memo;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params, Poll,
    PortFactory, Resource, StepSpec, wait_until,
};
use serde::Deserialize;
use serde_json::Value;

use crate::policy::PolicyDocument;
use crate::port::IamApi;

/// The parameters of `iam.put_role_policy`.
#[derive(Clone, Debug, PartialEq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PutRolePolicyParams {
    /// The IAM role name.
    pub role: String,
    /// The inline policy's name.
    pub policy_name: String,
    /// The policy document; validated before any call.
    #[param(ty = "JSON text, table, or \"file:<path>\"")]
    pub document: Value,
}

impl PutRolePolicyParams {
    /// Make `document` (JSON text, a JSON object, or `file:<path>`) the inline policy
    /// `policy_name` of `role`.
    pub fn new(role: impl Into<String>, policy_name: impl Into<String>, document: Value) -> Self {
        Self {
            role: role.into(),
            policy_name: policy_name.into(),
            document,
        }
    }
}

/// IAM role and policy names: 1 to `max` characters among letters, digits and `+=,.@_-`.
pub(crate) fn iam_name(param: &str, value: &str, max: usize) -> Result<(), ParamError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    if value.is_empty() || value.len() > max || !value.chars().all(ok_char) {
        return Err(ParamError::new(
            param,
            format!("`{value}` is not a valid IAM name: 1 to {max} letters, digits or `+=,.@_-`"),
        ));
    }
    Ok(())
}

/// The `document` parameter, read (a `file:` now) and validated.
fn document(param: &Value) -> Result<PolicyDocument, ParamError> {
    PolicyDocument::from_param(param)
        .map_err(|e| ParamError::new("document", format!("invalid IAM policy: {e}")))
}

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
#[derive(Debug, HasBase)]
pub struct PutRolePolicy {
    base: Base<Self>,
    document: PolicyDocument,
    applied: Memo<Previous>,
}

impl ActionKind for PutRolePolicy {
    const KIND: &'static str = "iam.put_role_policy";
    const SUMMARY: &'static str =
        "Create or replace an IAM role's inline policy (validated first; done when the same)";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "iam:GetRole",
        "iam:GetRolePolicy",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("role", "the role"),
        OutputDoc::new("policy_name", "the inline policy"),
        OutputDoc::new("changed", "whether this run wrote the policy"),
        OutputDoc::new(
            "had_previous",
            "whether the role had this inline policy before",
        ),
        OutputDoc::new(
            "previous_document",
            "the document found before (JSON text), or null; rollback restores it",
        ),
    ];
    type Params = PutRolePolicyParams;
    type Port = dyn IamApi;
    type Ports = PortFactory<dyn IamApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        iam_name("role", &p.role, 64)?;
        iam_name("policy_name", &p.policy_name, 128)?;
        document(&p.document).map(drop)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let document = document(&step.params.document)?;
        // IAM is global: the region only picks the endpoint; the resource has none.
        let port = ports.get(step.region());
        let target = Resource::new("iam", "role", step.params.role.clone());
        Ok(Self {
            base: Base::new(step.id, step.params, target, port),
            document,
            applied: Memo::default(),
        })
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
        let params = PutRolePolicyParams::new(role, policy_name, document.as_value().clone());
        let target = Resource::new("iam", "role", params.role.clone());
        Self {
            base: Base::new(id, params, target, api),
            document,
            applied: Memo::default(),
        }
    }

    fn role(&self) -> &str {
        &self.base.params.role
    }

    fn policy_name(&self) -> &str {
        &self.base.params.policy_name
    }

    /// The inline policy now, telling a missing role from a missing policy (both are IAM's
    /// `NoSuchEntity`).
    async fn current(&self, ctx: &Context) -> Result<Current, ActionError> {
        let api = &self.base.port;
        match ctx
            .bounded(api.get_role_policy(self.role(), self.policy_name()))
            .await
        {
            Ok(text) => {
                let value = serde_json::from_str(&text).map_err(|e| {
                    ActionError::new(
                        ErrorKind::Other,
                        format!(
                            "inline policy {} of role {} is not JSON: {e}",
                            self.policy_name(),
                            self.role()
                        ),
                    )
                    .with_operation("GetRolePolicy")
                })?;
                Ok(Current::Policy { text, value })
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                match ctx.bounded(api.get_role(self.role())).await {
                    Ok(_) => Ok(Current::NoPolicy),
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(Current::RoleMissing),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn outputs(&self, changed: bool, previous: &Previous) -> Outputs {
        let out = Outputs::new()
            .with("role", self.role().to_owned())
            .with("policy_name", self.policy_name().to_owned())
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
        format!(
            "inline policy {} of role {}",
            self.policy_name(),
            self.role()
        )
    }

    /// What to roll back: what this action remembers, else its recorded outputs (a resumed
    /// run), else nothing.
    fn to_undo(&self, ctx: &Context) -> Option<Previous> {
        if let Some(previous) = self.applied.get() {
            return Some(previous);
        }
        let out = ctx.outputs_of(&self.base.id)?;
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
impl Act for PutRolePolicy {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        Ok(match self.current(ctx).await? {
            Current::RoleMissing => Check::blocked(format!("role {} does not exist", self.role())),
            Current::NoPolicy => Check::ready(format!("create {}", self.name())),
            Current::Policy { text, value } if self.document.same_as_value(&value) => Check::Done {
                detail: format!("{} already has the wanted document", self.name()),
                outputs: match self.applied.get() {
                    Some(previous) => self.outputs(true, &previous),
                    None => self.outputs(false, &Previous::Document(text)),
                },
            },
            Current::Policy { .. } => {
                Check::ready(format!("replace the document of {}", self.name()))
            }
        })
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let previous = match self.current(ctx).await? {
            Current::RoleMissing => {
                return Err(ActionError::new(
                    ErrorKind::PreconditionFailed,
                    format!("role {} does not exist", self.role()),
                ));
            }
            Current::Policy { text, value } if self.document.same_as_value(&value) => {
                ctx.progress(format!("{} already has the wanted document", self.name()));
                return Ok(match self.applied.get() {
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
        let previous = self.applied.get().unwrap_or(previous);
        let api = &self.base.port;
        ctx.bounded(api.put_role_policy(self.role(), self.policy_name(), &self.document.to_json()))
            .await?;
        self.applied.set(previous.clone());
        ctx.progress(format!("PutRolePolicy accepted for {}", self.name()));
        // IAM is eventually consistent: wait until a read shows the new document.
        let what = format!("{} to show the new document", self.name());
        wait_until(ctx, &what, &self.base.wait, || async {
            match ctx
                .bounded(api.get_role_policy(self.role(), self.policy_name()))
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
        .await?;
        Ok(self.outputs(true, &previous))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let found = match self.current(ctx).await? {
            Current::Policy { value, .. } if self.document.same_as_value(&value) => {
                return Ok(format!("{} has the wanted document", self.name()));
            }
            Current::Policy { .. } => "a different document",
            Current::NoPolicy => "no such policy",
            Current::RoleMissing => "no such role",
        };
        Err(ActionError::postcondition(format!(
            "{}: found {found}",
            self.name()
        )))
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let Some(previous) = self.to_undo(ctx) else {
            ctx.progress(format!(
                "nothing to roll back: this action did not change {}",
                self.name()
            ));
            return Ok(());
        };
        let api = &self.base.port;
        match previous {
            Previous::Document(text) => {
                ctx.bounded(api.put_role_policy(self.role(), self.policy_name(), &text))
                    .await?;
                ctx.progress(format!("{} restored to its previous document", self.name()));
            }
            Previous::None => {
                match ctx
                    .bounded(api.delete_role_policy(self.role(), self.policy_name()))
                    .await
                {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                ctx.progress(format!("{} deleted (it did not exist before)", self.name()));
            }
        }
        self.applied.clear();
        Ok(())
    }

    fn can_undo(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[path = "put_policy_tests.rs"]
mod tests;
