//! `iam.check_role`: the role exists and its policies allow the actions recovery needs.

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    ActionError, ActionKind, Base, Context, ErrorKind, Finding, HasBase, Outputs, Params,
    PortFactory, Probe, ProbeExecute, Resource, StepSpec,
};
use serde::Deserialize;
use serde_json::Value;

use crate::policy::PolicyDocument;
use crate::port::{IamApi, Role};
use crate::put_policy::iam_name;

/// The parameters of `iam.check_role`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckRoleParams {
    /// The IAM role name.
    pub role: String,
    /// IAM actions that must be allowed (e.g. "rds:FailoverDBCluster"); simple wildcard
    /// matching, not a full IAM evaluation.
    #[serde(default)]
    #[param(ty = "list of strings")]
    pub expect_actions: Vec<String>,
}

impl CheckRoleParams {
    /// Check that `role` exists and allows `expect_actions` (e.g. `rds:FailoverDBCluster`,
    /// `rds:Describe*`).
    pub fn new(role: impl Into<String>, expect_actions: Vec<String>) -> Self {
        Self {
            role: role.into(),
            expect_actions,
        }
    }
}

/// `service:Action`, with `*`/`?` wildcards allowed in the action part.
fn iam_action(i: usize, action: &str) -> Result<(), ParamError> {
    let valid = action.split_once(':').is_some_and(|(service, name)| {
        !service.is_empty()
            && service
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
    });
    if valid || action == "*" {
        Ok(())
    } else {
        Err(ParamError::new(
            format!("expect_actions[{i}]"),
            format!(
                "`{action}` is not an IAM action (`service:Action`, e.g. `rds:FailoverDBCluster`)"
            ),
        ))
    }
}

/// What was found about the role.
#[derive(Debug)]
struct Found {
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
/// `check` is `Done` when it holds and `Blocked` with the missing actions when not; `execute`
/// returns the same outputs (it changes nothing); `verify` fails with `PostconditionFailed`.
/// Outputs: `role`, `role_arn`, `policies`, `allowed`, `missing`.
#[derive(Debug, HasBase)]
pub struct CheckRole {
    base: Base<Self>,
}

impl ActionKind for CheckRole {
    const KIND: &'static str = "iam.check_role";
    const SUMMARY: &'static str =
        "Check that an IAM role exists and its policies allow the given actions";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "iam:GetRole",
        "iam:ListRolePolicies",
        "iam:GetRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("role", "the role name"),
        OutputDoc::new("role_arn", "its ARN"),
        OutputDoc::new(
            "policies",
            "the policies read (`inline:<name>`, `managed:<name>`)",
        ),
        OutputDoc::new("allowed", "the expected actions that are allowed"),
        OutputDoc::new("missing", "the expected actions that are not"),
    ];
    type Params = CheckRoleParams;
    type Port = dyn IamApi;
    type Ports = PortFactory<dyn IamApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        iam_name("role", &p.role, 64)?;
        for (i, action) in p.expect_actions.iter().enumerate() {
            iam_action(i, action)?;
        }
        Ok(())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        // IAM is global: the region only picks the endpoint; the resource has none.
        let port = ports.get(step.region());
        Ok(Self::new(step.id, step.params, port))
    }
}

impl CheckRole {
    /// A check step `id` with `params`, talking to IAM through `api`.
    pub fn new(id: impl Into<String>, params: CheckRoleParams, api: Arc<dyn IamApi>) -> Self {
        let target = Resource::new("iam", "role", params.role.clone());
        Self {
            base: Base::new(id, params, target, api),
        }
    }

    fn role(&self) -> &str {
        &self.base.params.role
    }

    fn expect_actions(&self) -> &[String] {
        &self.base.params.expect_actions
    }

    /// `Ok(None)` when the role does not exist.
    async fn read(&self, ctx: &Context) -> Result<Option<Found>, ActionError> {
        let api = &self.base.port;
        let role = match ctx.bounded(api.get_role(self.role())).await {
            Ok(role) => role,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut policies = Vec::new();
        let mut documents = Vec::new();
        if !self.expect_actions().is_empty() {
            let inline = ctx.bounded(api.list_role_policies(self.role())).await?;
            for name in inline {
                let text = match ctx.bounded(api.get_role_policy(self.role(), &name)).await {
                    Ok(text) => text,
                    // Deleted between the list and the read.
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                documents.push(self.parse(&format!("inline policy {name}"), &text)?);
                policies.push(format!("inline:{name}"));
            }
            let attached = ctx
                .bounded(api.list_attached_role_policies(self.role()))
                .await?;
            for policy in attached {
                let text = ctx
                    .bounded(api.get_managed_policy_document(&policy.arn))
                    .await
                    .map_err(|e| e.with_resource(&policy.arn))?;
                documents.push(self.parse(&format!("managed policy {}", policy.arn), &text)?);
                policies.push(format!("managed:{}", policy.name));
            }
        }
        let (allowed, missing) = self.expect_actions().iter().cloned().partition(|action| {
            documents.iter().any(|d| d.allows(action))
                && !documents.iter().any(|d| d.denies(action))
        });
        Ok(Some(Found {
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
                    format!("{what} of role {} is not JSON: {e}", self.role()),
                )
            })
    }

    fn outputs(f: &Found) -> Outputs {
        Outputs::new()
            .with("role", f.role.name.clone())
            .with("role_arn", f.role.arn.clone())
            .with("policies", f.policies.clone())
            .with("allowed", f.allowed.clone())
            .with("missing", f.missing.clone())
    }

    fn shortfall(&self, f: &Found) -> String {
        let read = if f.policies.is_empty() {
            "it has no inline or attached policy".to_owned()
        } else {
            format!("read {}", f.policies.join(", "))
        };
        format!(
            "role {} is not allowed {} ({read}; simple wildcard matching, not a full IAM \
             evaluation)",
            self.role(),
            f.missing.join(", ")
        )
    }

    fn holds(&self, f: &Found) -> String {
        if self.expect_actions().is_empty() {
            format!("role {} exists ({})", self.role(), f.role.arn)
        } else {
            format!(
                "role {} allows {} (by {})",
                self.role(),
                f.allowed.join(", "),
                f.policies.join(", ")
            )
        }
    }
}

/// A probe that reports ([`ProbeExecute::Report`]): `execute` reports what it found without
/// failing (as the docs say), and a missing role is `NotFound` there.
#[async_trait]
impl Probe for CheckRole {
    const EXECUTE: ProbeExecute = ProbeExecute::Report;

    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let Some(f) = self.read(ctx).await? else {
            let absent = format!("role {} does not exist", self.role());
            return Err(ActionError::new(ErrorKind::NotFound, absent).with_operation("GetRole"));
        };
        Ok(if f.missing.is_empty() {
            Finding::pass(self.holds(&f), Self::outputs(&f))
        } else {
            Finding::fail(self.shortfall(&f), Self::outputs(&f))
        })
    }
}

#[cfg(test)]
#[path = "check_role_tests.rs"]
mod tests;
