//! Tests of `register.rs`.

use serde_json::json;

use drkit_core::ActionRef;
use drkit_core::registry::{ActionSpec, BuildError};

use super::*;
use crate::port::MockElastiCacheApi;

fn registry() -> Registry {
    let mut registry = Registry::new();
    register_with(
        &mut registry,
        &PortFactory::new(|_| Arc::new(MockElastiCacheApi::new()) as Arc<dyn ElastiCacheApi>),
    )
    .unwrap();
    registry
}

fn build(kind: &str, params: serde_json::Value) -> Result<ActionRef, BuildError> {
    registry().build(&ActionSpec::new("step", kind, params).in_region("us-west-2"))
}

#[test]
fn builds_each_kind_with_the_step_region_on_the_resource() {
    let a = build(
        "elasticache.check_replication_group",
        json!({"replication_group": "mint-cache"}),
    )
    .unwrap();
    assert_eq!(
        a.target().to_string(),
        "elasticache:replication-group/mint-cache@us-west-2"
    );
    assert!(!a.mutates());

    let a = build(
        "elasticache.set_primary",
        json!({"replication_group": "mint-cache", "primary_cluster": "mint-cache-002"}),
    )
    .unwrap();
    assert!(a.mutates());
    assert!(a.supports_rollback());
    assert!(
        a.iam_actions()
            .contains(&"elasticache:ModifyReplicationGroup")
    );

    let a = build(
        "elasticache.test_failover",
        json!({"replication_group": "mint-cache", "node_group": "0001"}),
    )
    .unwrap();
    assert!(a.mutates());
    assert!(!a.supports_rollback());
    assert!(a.iam_actions().contains(&"elasticache:TestFailover"));
}

#[test]
fn bad_parameters_are_refused_before_any_call() {
    let cases = [
        (
            "elasticache.check_replication_group",
            json!({}),
            "missing field `replication_group`",
        ),
        (
            "elasticache.check_replication_group",
            json!({"replication_group": "1cache"}),
            "parameter `replication_group`: `1cache` is not a valid ElastiCache identifier: it must start with a letter",
        ),
        (
            "elasticache.check_replication_group",
            json!({"replication_group": "a".repeat(41)}),
            "it must have 1 to 40 characters",
        ),
        (
            "elasticache.set_primary",
            json!({"replication_group": "mint-cache"}),
            "missing field `primary_cluster`",
        ),
        (
            "elasticache.set_primary",
            json!({"replication_group": "mint-cache", "primary_cluster": "mint--002"}),
            "parameter `primary_cluster`: `mint--002` is not a valid ElastiCache identifier: it cannot end with a hyphen or contain two hyphens in a row",
        ),
        (
            "elasticache.set_primary",
            json!({"replication_group": "mint-cache", "primary": "x"}),
            "unknown field `primary`, expected `replication_group` or `primary_cluster`",
        ),
        (
            "elasticache.test_failover",
            json!({"replication_group": "mint-cache", "node_group": "00001"}),
            "parameter `node_group`: `00001` is not a valid node group id",
        ),
        (
            "elasticache.test_failover",
            json!({"replication_group": "mint-cache", "node_group": 1}),
            "parameter `node_group`: invalid type: integer `1`, expected a string",
        ),
    ];
    for (kind, params, expected) in cases {
        let err = build(kind, params).unwrap_err().to_string();
        assert!(err.contains(expected), "{err} lacks {expected}");
        assert!(err.starts_with(&format!("step `step` ({kind}): ")), "{err}");
    }
}

#[test]
fn the_descriptors_document_the_actions() {
    let reg = registry();
    let kinds: Vec<_> = reg.descriptors().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            "elasticache.check_replication_group",
            "elasticache.set_primary",
            "elasticache.test_failover"
        ]
    );
    let d = reg.descriptor("elasticache.test_failover").unwrap();
    assert!(d.summary.contains("a few such calls per rolling 24 hours"));
    assert_eq!(d.iam_actions, TestFailover::IAM_ACTIONS);
}
