//! `iam.check_role`: the role exists and its policies allow the actions recovery needs.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::{ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource};
use serde_json::Value;

use crate::policy::PolicyDocument;
use crate::port::{IamApi, Role};
use drkit_core::action_identity as identity;

pub(crate) const KIND: &str = "iam.check_role";
pub(crate) const IAM: &[&str] = &[
    "iam:GetRole",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
];

/// What was found about the role.
#[derive(Debug)]
struct Finding {
    role: Role,
    /// `inline:<name>` and `managed:<name>`, in the order read.
    policies: Vec<String>,
    allowed: Vec<String>,
    missing: Vec<String>,
}

/// Read-only: the IAM role exists and every action in `expect_actions` is allowed by at least
/// one of its inline or attached managed policies and denied by none.
///
/// Not a full IAM policy evaluator: `*`/`?` wildcards in `Action`/`NotAction` are matched
/// (case-insensitively), `Resource`, `Condition`, permission boundaries, SCPs and session
/// policies are not considered, and any matching `Deny` counts (see [`PolicyDocument::allows`]).
/// `check` is `Done` when it holds and `Blocked` with the missing actions when not; `verify`
/// fails with `PostconditionFailed`. Outputs: `role`, `role_arn`, `policies`, `allowed`,
/// `missing`.
pub struct CheckRole {
    id: String,
    role: String,
    expect_actions: Vec<String>,
    target: Resource,
    api: Arc<dyn IamApi>,
}

impl fmt::Debug for CheckRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckRole")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("expect_actions", &self.expect_actions)
            .finish_non_exhaustive()
    }
}

impl CheckRole {
    /// A check step `id` of `role`, expecting `expect_actions` (e.g. `rds:FailoverDBCluster`,
    /// `rds:Describe*`) to be allowed.
    pub fn new(
        id: impl Into<String>,
        role: impl Into<String>,
        expect_actions: Vec<String>,
        api: Arc<dyn IamApi>,
    ) -> Self {
        let role = role.into();
        Self {
            id: id.into(),
            target: Resource::new("iam", "role", role.clone()),
            role,
            expect_actions,
            api,
        }
    }

    /// `Ok(None)` when the role does not exist.
    async fn evaluate(&self, ctx: &Context) -> Result<Option<Finding>, ActionError> {
        let role = match ctx.bounded(self.api.get_role(&self.role)).await {
            Ok(role) => role,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.in_action(self)),
        };
        let mut policies = Vec::new();
        let mut documents = Vec::new();
        if !self.expect_actions.is_empty() {
            let inline = ctx
                .bounded(self.api.list_role_policies(&self.role))
                .await
                .map_err(|e| e.in_action(self))?;
            for name in inline {
                let text = match ctx
                    .bounded(self.api.get_role_policy(&self.role, &name))
                    .await
                {
                    Ok(text) => text,
                    // Deleted between the list and the read.
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.in_action(self)),
                };
                documents.push(self.parse(&format!("inline policy {name}"), &text)?);
                policies.push(format!("inline:{name}"));
            }
            let attached = ctx
                .bounded(self.api.list_attached_role_policies(&self.role))
                .await
                .map_err(|e| e.in_action(self))?;
            for policy in attached {
                let text = ctx
                    .bounded(self.api.get_managed_policy_document(&policy.arn))
                    .await
                    .map_err(|e| e.with_resource(&policy.arn).in_action(self))?;
                documents.push(self.parse(&format!("managed policy {}", policy.arn), &text)?);
                policies.push(format!("managed:{}", policy.name));
            }
        }
        let (allowed, missing) = self.expect_actions.iter().cloned().partition(|action| {
            documents.iter().any(|d| d.allows(action))
                && !documents.iter().any(|d| d.denies(action))
        });
        Ok(Some(Finding {
            role,
            policies,
            allowed,
            missing,
        }))
    }

    fn parse(&self, what: &str, text: &str) -> Result<PolicyDocument, ActionError> {
        serde_json::from_str::<Value>(text)
            .map(PolicyDocument::read_back)
            .map_err(|e| {
                ActionError::new(
                    ErrorKind::Other,
                    format!("{what} of role {} is not JSON: {e}", self.role),
                )
                .in_action(self)
            })
    }

    fn outputs(f: &Finding) -> Outputs {
        Outputs::new()
            .with("role", f.role.name.clone())
            .with("role_arn", f.role.arn.clone())
            .with("policies", f.policies.clone())
            .with("allowed", f.allowed.clone())
            .with("missing", f.missing.clone())
    }

    fn shortfall(&self, f: &Finding) -> String {
        let read = if f.policies.is_empty() {
            "it has no inline or attached policy".to_owned()
        } else {
            format!("read {}", f.policies.join(", "))
        };
        format!(
            "role {} is not allowed {} ({read}; simple wildcard matching, not a full IAM \
             evaluation)",
            self.role,
            f.missing.join(", ")
        )
    }

    fn holds(&self, f: &Finding) -> String {
        if self.expect_actions.is_empty() {
            format!("role {} exists ({})", self.role, f.role.arn)
        } else {
            format!(
                "role {} allows {} (by {})",
                self.role,
                f.allowed.join(", "),
                f.policies.join(", ")
            )
        }
    }
}

#[async_trait]
impl RecoveryAction for CheckRole {
    identity!(kind = KIND, mutates = false, iam = IAM);

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        Ok(match self.evaluate(ctx).await? {
            None => Check::blocked(format!("role {} does not exist", self.role)),
            Some(f) if !f.missing.is_empty() => Check::blocked(self.shortfall(&f)),
            Some(f) => Check::Done {
                detail: self.holds(&f),
                outputs: Self::outputs(&f),
            },
        })
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        match self.evaluate(ctx).await? {
            None => Err(ActionError::new(
                ErrorKind::NotFound,
                format!("role {} does not exist", self.role),
            )
            .with_operation("GetRole")
            .in_action(self)),
            Some(f) => {
                ctx.progress(if f.missing.is_empty() {
                    self.holds(&f)
                } else {
                    self.shortfall(&f)
                });
                Ok(Self::outputs(&f))
            }
        }
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        match self.evaluate(ctx).await? {
            Some(f) if f.missing.is_empty() => Ok(self.holds(&f)),
            Some(f) => Err(ActionError::postcondition(self.shortfall(&f))
                .with_outputs(Self::outputs(&f))
                .in_action(self)),
            None => Err(
                ActionError::postcondition(format!("role {} does not exist", self.role))
                    .in_action(self),
            ),
        }
    }
}

#[cfg(test)]
#[path = "check_role_tests.rs"]
mod tests;
