//! `ec2.check_security_group`: the seed's "Security Validation" (`describe-security-groups`).

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    ActionError, ActionKind, Base, Context, ErrorKind, Finding, HasBase, Outputs, Params,
    PortFactory, Probe, ProbeExecute, StepSpec,
};
use serde::Deserialize;

use crate::authorize::{group_param, group_resource, list, rules_param};
use crate::port::{Ec2Api, GroupRef, SecurityGroup};
use crate::rule::{IngressRule, RuleParam};

/// The parameters of `ec2.check_security_group`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckSecurityGroupParams {
    /// The security group id (`sg-...`) or name.
    pub group: String,
    /// The ingress rules it must have.
    #[param(
        ty = "list of {protocol, port | from_port + to_port, cidr | source_group, description?}"
    )]
    pub expect_rules: Vec<RuleParam>,
}

impl CheckSecurityGroupParams {
    /// Check that `group` (id or name) has `expect_rules`.
    pub fn new(group: impl Into<String>, expect_rules: Vec<RuleParam>) -> Self {
        Self {
            group: group.into(),
            expect_rules,
        }
    }
}

/// Read-only: the security group exists and has every rule of `expect_rules` (compared
/// normalized, descriptions ignored). `check` is `Done` when it holds and `Blocked` listing the
/// missing rules when not; `execute` returns the outputs whatever they show (it changes
/// nothing); `verify` fails with `PostconditionFailed`. Outputs: `group_id`, `group_name`,
/// `vpc_id`, `ingress_rules` (how many the group has), `missing`.
#[derive(Debug, HasBase)]
pub struct CheckSecurityGroup {
    base: Base<Self>,
    group: GroupRef,
    expect: Vec<IngressRule>,
}

impl ActionKind for CheckSecurityGroup {
    const KIND: &'static str = "ec2.check_security_group";
    const SUMMARY: &'static str =
        "Check that a security group exists and has the expected ingress rules";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &["ec2:DescribeSecurityGroups"];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("group_id", "the group's id"),
        OutputDoc::new("group_name", "the group's name"),
        OutputDoc::new("vpc_id", "its VPC"),
        OutputDoc::new("ingress_rules", "how many ingress rules it has"),
        OutputDoc::new(
            "missing",
            "the expected rules it lacks (empty when the check holds)",
        ),
    ];
    type Params = CheckSecurityGroupParams;
    type Port = dyn Ec2Api;
    type Ports = PortFactory<dyn Ec2Api>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        group_param(&p.group)?;
        rules_param("expect_rules", &p.expect_rules).map(drop)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let group = group_param(&step.params.group)?;
        let expect = rules_param("expect_rules", &step.params.expect_rules)?;
        let target = group_resource(&group);
        Ok(Self {
            base: step.into_base(target, ports),
            group,
            expect,
        })
    }
}

impl CheckSecurityGroup {
    /// A check step `id` of `group` (id or name) expecting `expect_rules` (already validated),
    /// talking to EC2 through `api`; `region` only labels the resource.
    pub fn new(
        id: impl Into<String>,
        group: GroupRef,
        expect_rules: Vec<IngressRule>,
        api: Arc<dyn Ec2Api>,
        region: Option<&str>,
    ) -> Self {
        let params = CheckSecurityGroupParams::new(
            group.as_str(),
            expect_rules.iter().map(IngressRule::to_param).collect(),
        );
        let target = group_resource(&group).in_region(region);
        Self {
            base: Base::new(id, params, target, api),
            group,
            expect: expect_rules,
        }
    }

    /// `Ok(None)` when the group does not exist.
    async fn describe(&self, ctx: &Context) -> Result<Option<SecurityGroup>, ActionError> {
        match ctx
            .bounded(self.base.port.describe_security_group(&self.group))
            .await
        {
            Ok(sg) => Ok(Some(sg)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
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

/// A probe that reports ([`ProbeExecute::Report`]): `execute` reports what it found without
/// failing (as the docs say), and a missing group is `NotFound` there.
#[async_trait]
impl Probe for CheckSecurityGroup {
    const EXECUTE: ProbeExecute = ProbeExecute::Report;

    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let Some(sg) = self.describe(ctx).await? else {
            return Err(ActionError::new(ErrorKind::NotFound, self.absent())
                .with_operation("DescribeSecurityGroups"));
        };
        let missing = sg.missing(&self.expect);
        let outputs = Self::outputs(&sg, &missing);
        Ok(if missing.is_empty() {
            Finding::pass(self.holds(&sg), outputs)
        } else {
            Finding::fail(Self::lacks(&sg, &missing), outputs)
        })
    }
}

#[cfg(test)]
#[path = "check_sg_tests.rs"]
mod tests;
