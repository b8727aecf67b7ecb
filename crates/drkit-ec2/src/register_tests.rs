//! Tests of `register.rs`.

use drkit_core::ActionRef;
use drkit_core::registry::{ActionSpec, BuildError, Registry};
use serde_json::{Value, json};

use super::*;
use crate::port::MockEc2Api;

/// A registry whose port fails the test on any call: building must call nothing.
fn registry() -> Registry {
    let mut registry = Registry::new();
    register_with(
        &mut registry,
        &PortFactory::new(|_| Arc::new(MockEc2Api::new()) as Arc<dyn Ec2Api>),
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
    let err = build(
        "ec2.check_security_group",
        json!({"group": "g", "expect_rules": [{"protocol": "udp", "port": 99999, "cidr": "::/0"}]}),
    )
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
