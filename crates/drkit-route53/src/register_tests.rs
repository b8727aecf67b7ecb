//! Tests of `register.rs`.

use drkit_core::ActionRef;
use drkit_core::registry::{ActionSpec, BuildError, Registry};
use serde_json::json;

use super::*;
use crate::port::MockRoute53Api;

fn registry() -> Registry {
    let mut registry = Registry::new();
    register_with(
        &mut registry,
        &PortFactory::fixed(Arc::new(MockRoute53Api::new()) as Arc<dyn Route53Api>),
    )
    .unwrap();
    registry
}

fn build(params: serde_json::Value) -> Result<ActionRef, BuildError> {
    registry().build(&ActionSpec::new("dns", "route53.change_records", params))
}

#[test]
fn builds_a_valid_change() {
    let action = build(json!({"zone": "example.com", "changes": [
        {"action": "UPSERT", "name": "api.example.com", "type": "A", "ttl": 60,
         "values": ["192.0.2.10"], "set_identifier": "dr", "weight": 100},
        {"action": "DELETE", "name": "old.example.com", "type": "CNAME", "ttl": 300,
         "values": ["x.example.net"]},
    ]}))
    .unwrap();
    assert_eq!(action.kind(), "route53.change_records");
    assert!(action.mutates());
    assert!(action.supports_rollback());
    assert_eq!(
        action.target().to_string(),
        "route53:hostedzone/example.com"
    );
}

#[test]
fn bad_parameters_are_refused_before_any_call() {
    let cases = [
        (
            json!({"zone": "example.com", "changes": []}),
            "at least one change",
        ),
        (
            json!({"zone": "example.com", "changes": [{"action": "UPSERT", "name": "api.example.org", "type": "A", "ttl": 60, "values": ["192.0.2.1"]}]}),
            "parameter `changes[0]`: api.example.org. is not in zone example.com.",
        ),
        (
            json!({"zone": "example.com", "changes": [{"action": "MOVE", "name": "a.example.com", "type": "A", "ttl": 60, "values": ["192.0.2.1"]}]}),
            "unknown variant `MOVE`",
        ),
        (
            json!({"zone": "example.com", "changes": [{"action": "UPSERT", "name": "a.example.com", "type": "A", "ttl": 60, "values": ["192.0.2.1"], "weigth": 1}]}),
            "unknown field `weigth`",
        ),
        (
            json!({"zone": "Z123", "changes": [{"action": "UPSERT", "name": "a.example.com", "type": "A", "values": ["192.0.2.1"]}]}),
            "`ttl` is required",
        ),
        (
            json!({"zone": "example.com", "changes": [
                {"action": "UPSERT", "name": "a.example.com", "type": "A", "ttl": 60, "values": ["192.0.2.1"]},
                {"action": "DELETE", "name": "A.example.com.", "type": "a", "ttl": 60, "values": ["192.0.2.1"]}]}),
            "changed twice",
        ),
    ];
    for (params, expected) in cases {
        let err = build(params).unwrap_err().to_string();
        assert!(err.contains(expected), "{err} lacks {expected}");
    }
}

#[test]
fn the_health_check_is_read_only() {
    let action = registry()
        .build(&ActionSpec::new(
            "h",
            "route53.check_health",
            json!({"health_check_id": "abc"}),
        ))
        .unwrap();
    assert!(!action.mutates());
    assert_eq!(action.iam_actions(), ["route53:GetHealthCheckStatus"]);
}

/// An alias to another record of the zone needs no `hosted_zone_id`: with the zone given by
/// name its target must lie in it; given by id, `check` sees that once the name is known.
#[test]
fn an_alias_to_a_record_of_the_zone_needs_no_zone_id() {
    let alias = |zone: &str, name: &str, target: &str| {
        build(
            json!({"zone": zone, "changes": [{"action": "UPSERT", "name": name, "type": "A",
            "alias": {"dns_name": target}}]}),
        )
    };
    assert!(alias("example.com", "a.b.example.com", "lb.example.com").is_ok());
    assert!(alias("Z0123456789", "a.b.example.com", "lb.example.com").is_ok());
    let err = alias("example.com", "a.example.com", "lb.example.net")
        .unwrap_err()
        .to_string();
    assert!(err.contains("give `alias.hosted_zone_id`"), "{err}");
}
