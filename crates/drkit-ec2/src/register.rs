//! Registration of the EC2 actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::AwsContext;
use drkit_core::ActionRef;
use drkit_core::registry::{
    ActionDescriptor, ActionSpec, BuildError, DuplicateKind, OutputDoc, ParamDoc, Registry,
    decode_params,
};
use serde::Deserialize;

use crate::authorize::{self, AuthorizeIngress};
use crate::check_sg::{self, CheckSecurityGroup};
use crate::port::{Ec2Api, GroupRef};
use crate::rule::{IngressRule, RuleParam};
use crate::sdk::SdkEc2;

const fn out(name: &'static str, doc: &'static str) -> OutputDoc {
    OutputDoc { name, doc }
}

const RULES_TYPE: &str =
    "list of {protocol, port | from_port + to_port, cidr | source_group, description?}";

/// `ec2.authorize_ingress`.
pub const AUTHORIZE_INGRESS: ActionDescriptor = ActionDescriptor {
    kind: authorize::KIND,
    summary: "Add the missing ingress rules to a security group (existing ones are left alone)",
    mutates: true,
    iam_actions: authorize::IAM,
    params: &[
        ParamDoc::required(
            "group",
            "string",
            "the security group id (`sg-...`) or name",
        ),
        ParamDoc::required(
            "rules",
            RULES_TYPE,
            "the ingress rules the group must allow",
        ),
    ],
    outputs: &[
        out("group_id", "the group's id"),
        out("group_name", "the group's name"),
        out(
            "added",
            "the rules this run added (rollback revokes exactly these)",
        ),
        out("added_rule_ids", "their rule ids, when EC2 reports them"),
        out(
            "already_present",
            "how many of the rules were already there",
        ),
    ],
};

/// `ec2.check_security_group`.
pub const CHECK_SECURITY_GROUP: ActionDescriptor = ActionDescriptor {
    kind: check_sg::KIND,
    summary: "Check that a security group exists and has the expected ingress rules",
    mutates: false,
    iam_actions: check_sg::IAM,
    params: &[
        ParamDoc::required(
            "group",
            "string",
            "the security group id (`sg-...`) or name",
        ),
        ParamDoc::required("expect_rules", RULES_TYPE, "the ingress rules it must have"),
    ],
    outputs: &[
        out("group_id", "the group's id"),
        out("group_name", "the group's name"),
        out("vpc_id", "its VPC"),
        out("ingress_rules", "how many ingress rules it has"),
        out(
            "missing",
            "the expected rules it lacks (empty when the check holds)",
        ),
    ],
};

/// Every EC2 action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[AUTHORIZE_INGRESS, CHECK_SECURITY_GROUP];

/// Builds the EC2 port for a step's region (`None`: the default region).
pub type Ec2ApiFactory = Arc<dyn Fn(Option<&str>) -> Arc<dyn Ec2Api> + Send + Sync>;

/// The EC2 port over the AWS SDK, configured by `aws`.
pub fn aws_factory(aws: &AwsContext) -> Ec2ApiFactory {
    let aws = aws.clone();
    Arc::new(move |region| {
        Arc::new(SdkEc2::from_config(&aws.for_region(region))) as Arc<dyn Ec2Api>
    })
}

/// Registers every EC2 action, talking to AWS as configured in `aws`.
pub fn register(registry: &mut Registry, aws: &AwsContext) -> Result<(), DuplicateKind> {
    register_with(registry, &aws_factory(aws))
}

/// Registers every EC2 action with the given port factory (e.g. mocks in the embedder's tests).
pub fn register_with(registry: &mut Registry, ec2: &Ec2ApiFactory) -> Result<(), DuplicateKind> {
    with_ec2(
        registry,
        AUTHORIZE_INGRESS,
        ec2,
        |spec, p: AuthorizeParams, api| {
            let group = group(spec, &p.group)?;
            let rules = rules(spec, "rules", &p.rules)?;
            let region = spec.region.as_deref();
            Ok(Arc::new(AuthorizeIngress::new(
                spec.id.clone(),
                group,
                rules,
                api,
                region,
            )))
        },
    )?;
    with_ec2(
        registry,
        CHECK_SECURITY_GROUP,
        ec2,
        |spec, p: CheckParams, api| {
            let group = group(spec, &p.group)?;
            let rules = rules(spec, "expect_rules", &p.expect_rules)?;
            let region = spec.region.as_deref();
            Ok(Arc::new(CheckSecurityGroup::new(
                spec.id.clone(),
                group,
                rules,
                api,
                region,
            )))
        },
    )
}

/// Validates decoded parameters and builds the action with the port.
type Build<P> = fn(&ActionSpec, P, Arc<dyn Ec2Api>) -> Result<ActionRef, BuildError>;

/// Registers `descriptor`: decode the parameters as `P`, then validate them and build the
/// action (before any call) with the EC2 port of the step's region.
fn with_ec2<P: serde::de::DeserializeOwned + 'static>(
    registry: &mut Registry,
    descriptor: ActionDescriptor,
    ec2: &Ec2ApiFactory,
    build: Build<P>,
) -> Result<(), DuplicateKind> {
    let ec2 = Arc::clone(ec2);
    registry.register_fn(descriptor, move |spec| {
        let params: P = decode_params(spec)?;
        build(spec, params, ec2(spec.region.as_deref()))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizeParams {
    group: String,
    rules: Vec<RuleParam>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckParams {
    group: String,
    expect_rules: Vec<RuleParam>,
}

fn group(spec: &ActionSpec, group: &str) -> Result<GroupRef, BuildError> {
    let g = group.trim();
    if g.is_empty() || g.len() > 255 || g != group {
        return Err(BuildError::invalid(
            spec,
            Some("group"),
            format!(
                "`{group}` is not a security group id or name (1 to 255 characters, no surrounding spaces)"
            ),
        ));
    }
    if g.starts_with("sg-") && !crate::rule::is_group_id(g) {
        return Err(BuildError::invalid(
            spec,
            Some("group"),
            format!("`{group}` is not a security group id (`sg-` and hex digits)"),
        ));
    }
    Ok(GroupRef::parse(g))
}

fn rules(
    spec: &ActionSpec,
    param: &str,
    rules: &[RuleParam],
) -> Result<Vec<IngressRule>, BuildError> {
    if rules.is_empty() {
        return Err(BuildError::invalid(
            spec,
            Some(param),
            "give at least one rule",
        ));
    }
    let mut out: Vec<IngressRule> = Vec::new();
    for (i, p) in rules.iter().enumerate() {
        let rule = IngressRule::from_param(p).map_err(|(field, message)| {
            BuildError::invalid(spec, Some(&format!("{param}[{i}].{field}")), message)
        })?;
        if let Some(j) = out.iter().position(|r| r.same_as(&rule)) {
            return Err(BuildError::invalid(
                spec,
                Some(&format!("{param}[{i}]")),
                format!("the same rule as {param}[{j}] ({rule})"),
            ));
        }
        out.push(rule);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::port::MockEc2Api;

    /// A registry whose port fails the test on any call: building must call nothing.
    fn registry() -> Registry {
        let mut registry = Registry::new();
        register_with(
            &mut registry,
            &(Arc::new(|_: Option<&str>| Arc::new(MockEc2Api::new()) as Arc<dyn Ec2Api>)
                as Ec2ApiFactory),
        )
        .unwrap();
        registry
    }

    fn build(kind: &str, params: Value) -> Result<ActionRef, BuildError> {
        registry().build(&ActionSpec::new("open-443", kind, params).in_region("us-west-2"))
    }

    #[test]
    fn builds_with_the_step_region_on_the_resource() {
        let a = build(
            "ec2.authorize_ingress",
            json!({"group": "sg-0123abcd", "rules": [{"protocol": "tcp", "port": 443, "cidr": "10.0.0.0/8"}]}),
        )
        .unwrap();
        assert_eq!(
            a.target().to_string(),
            "ec2:security-group/sg-0123abcd@us-west-2"
        );
        assert!(a.mutates() && a.supports_rollback());
        let c = build(
            "ec2.check_security_group",
            json!({"group": "mint-replica-api", "expect_rules": [{"protocol": "tcp", "port": 443, "cidr": "10.0.0.0/8"}]}),
        )
        .unwrap();
        assert!(!c.mutates());
    }

    #[test]
    fn bad_parameters_name_the_rule_and_field() {
        let cases = [
            (
                json!({"group": "sg-1", "rules": []}),
                "parameter `rules`: give at least one rule",
            ),
            (
                json!({"group": "sg-xyz", "rules": [{"protocol": "tcp", "port": 443, "cidr": "10.0.0.0/8"}]}),
                "parameter `group`: `sg-xyz` is not a security group id",
            ),
            (
                json!({"group": "g", "rules": [{"protocol": "tcp", "port": 443, "cidr": "10.0.0.0/8"},
                                                {"protocol": "tcp", "port": 443, "cidr": "10.0.0.0/33"}]}),
                "parameter `rules[1].cidr`: `10.0.0.0/33`: the prefix length must be 0 to 32",
            ),
            (
                json!({"group": "g", "rules": [{"protocol": "tcp", "cidr": "10.0.0.0/8"}]}),
                "parameter `rules[0].port`: tcp needs `port`",
            ),
            (
                json!({"group": "g", "rules": [{"protocol": "tcp", "port": 443, "cidr": "10.0.0.0/8", "source": "x"}]}),
                "unknown field `source`",
            ),
            (
                json!({"group": "g", "rules": [{"protocol": "tcp", "port": 443, "cidr": "10.0.0.0/8"},
                                                {"protocol": "TCP", "from_port": 443, "to_port": 443, "cidr": "10.0.0.0/8"}]}),
                "parameter `rules[1]`: the same rule as rules[0]",
            ),
        ];
        for (params, expected) in cases {
            let err = build("ec2.authorize_ingress", params)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err} lacks {expected}");
        }
        let err = build("ec2.check_security_group", json!({"group": "g", "expect_rules": [{"protocol": "udp", "port": 99999, "cidr": "::/0"}]}))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("parameter `expect_rules[0].port`: 99999 is not a port"),
            "{err}"
        );
    }

    #[test]
    fn descriptors_match_the_actions() {
        let reg = registry();
        for d in DESCRIPTORS {
            assert_eq!(reg.descriptor(d.kind), Some(d));
        }
        assert_eq!(reg.descriptors().count(), DESCRIPTORS.len());
    }
}

#[cfg(test)]
mod docs_tests {
    use super::DESCRIPTORS;

    /// docs/actions/ec2.md names every registered kind, each of its parameters, outputs and IAM
    /// actions, and shows it in a runbook example.
    #[test]
    fn the_actions_page_documents_every_action() {
        drkit_core::registry::documented(
            "docs/actions/ec2.md",
            include_str!("../../../docs/actions/ec2.md"),
            DESCRIPTORS,
        )
        .unwrap();
    }
}
