//! `ec2.check_security_group`: the seed's "Security Validation" (`describe-security-groups`).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::{ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource};

use crate::authorize::list;
use crate::port::{Ec2Api, GroupRef, SecurityGroup};
use crate::rule::IngressRule;
use drkit_core::action_identity as identity;

pub(crate) const KIND: &str = "ec2.check_security_group";
pub(crate) const IAM: &[&str] = &["ec2:DescribeSecurityGroups"];

/// Read-only: the security group exists and has every rule of `expect_rules` (compared
/// normalized, descriptions ignored). `check` is `Done` when it holds and `Blocked` listing the
/// missing rules when not; `verify` fails with `PostconditionFailed`. Outputs: `group_id`,
/// `group_name`, `vpc_id`, `ingress_rules` (how many the group has), `missing`.
pub struct CheckSecurityGroup {
    id: String,
    group: GroupRef,
    expect: Vec<IngressRule>,
    target: Resource,
    api: Arc<dyn Ec2Api>,
}

impl fmt::Debug for CheckSecurityGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckSecurityGroup")
            .field("id", &self.id)
            .field("group", &self.group)
            .field("expect_rules", &self.expect.len())
            .finish_non_exhaustive()
    }
}

impl CheckSecurityGroup {
    /// A check step `id` of `group` (id or name) expecting `expect_rules`.
    pub fn new(
        id: impl Into<String>,
        group: GroupRef,
        expect_rules: Vec<IngressRule>,
        api: Arc<dyn Ec2Api>,
        region: Option<&str>,
    ) -> Self {
        Self {
            id: id.into(),
            target: Resource::new("ec2", "security-group", group.as_str()).in_region(region),
            group,
            expect: expect_rules,
            api,
        }
    }

    /// `Ok(None)` when the group does not exist.
    async fn describe(&self, ctx: &Context) -> Result<Option<SecurityGroup>, ActionError> {
        match ctx
            .bounded(self.api.describe_security_group(&self.group))
            .await
        {
            Ok(sg) => Ok(Some(sg)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.in_action(self)),
        }
    }

    fn outputs(sg: &SecurityGroup, missing: &[&IngressRule]) -> Outputs {
        Outputs::new()
            .with("group_id", sg.id.clone())
            .with("group_name", sg.name.clone())
            .with("vpc_id", sg.vpc_id.clone().unwrap_or_default())
            .with("ingress_rules", sg.ingress.len())
            .with(
                "missing",
                missing.iter().map(ToString::to_string).collect::<Vec<_>>(),
            )
    }

    fn lacks(sg: &SecurityGroup, missing: &[&IngressRule]) -> String {
        format!(
            "security group {} ({}) lacks {} of the expected rules: {}",
            sg.id,
            sg.name,
            missing.len(),
            list(missing)
        )
    }

    fn holds(&self, sg: &SecurityGroup) -> String {
        format!(
            "security group {} ({}) has all {} expected rules",
            sg.id,
            sg.name,
            self.expect.len()
        )
    }

    fn absent(&self) -> String {
        format!("security group {} does not exist", self.group)
    }
}

#[async_trait]
impl RecoveryAction for CheckSecurityGroup {
    identity!(kind = KIND, mutates = false, iam = IAM);

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        let Some(sg) = self.describe(ctx).await? else {
            return Ok(Check::blocked(self.absent()));
        };
        let missing = sg.missing(&self.expect);
        Ok(if missing.is_empty() {
            Check::Done {
                detail: self.holds(&sg),
                outputs: Self::outputs(&sg, &missing),
            }
        } else {
            Check::blocked(Self::lacks(&sg, &missing))
        })
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let Some(sg) = self.describe(ctx).await? else {
            return Err(ActionError::new(ErrorKind::NotFound, self.absent())
                .with_operation("DescribeSecurityGroups")
                .in_action(self));
        };
        let missing = sg.missing(&self.expect);
        ctx.progress(if missing.is_empty() {
            self.holds(&sg)
        } else {
            Self::lacks(&sg, &missing)
        });
        Ok(Self::outputs(&sg, &missing))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let Some(sg) = self.describe(ctx).await? else {
            return Err(ActionError::postcondition(self.absent()).in_action(self));
        };
        let missing = sg.missing(&self.expect);
        if missing.is_empty() {
            Ok(self.holds(&sg))
        } else {
            Err(ActionError::postcondition(Self::lacks(&sg, &missing))
                .with_outputs(Self::outputs(&sg, &missing))
                .in_action(self))
        }
    }
}

#[cfg(test)]
#[path = "check_sg_tests.rs"]
mod tests;
