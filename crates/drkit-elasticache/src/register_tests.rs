//! Tests of `register.rs`.

use serde_json::json;

use drkit_core::registry::{ActionSpec, BuildError, Registry};
use drkit_core::{ActionKind, ActionRef};

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

    // The call goes to the step's region; without one, to the region that becomes primary.
    let params = json!({
        "global_replication_group": "ldgnf-mint-global",
        "primary_region": "us-west-2",
        "primary_replication_group": "mint-cache-west",
    });
    let a = build("elasticache.failover_global_datastore", params.clone()).unwrap();
    assert!(a.mutates());
    assert!(a.supports_rollback());
    assert_eq!(
        a.target().to_string(),
        "elasticache:global-replication-group/ldgnf-mint-global@us-west-2"
    );
    assert_eq!(
        a.iam_actions(),
        [
            "elasticache:DescribeGlobalReplicationGroups",
            "elasticache:FailoverGlobalReplicationGroup"
        ]
    );
    let regions = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&regions);
    let mut reg = Registry::new();
    register_with(
        &mut reg,
        &PortFactory::new(move |region: Option<&str>| {
            seen.lock()
                .unwrap()
                .push(region.map(str::to_owned).unwrap_or_default());
            Arc::new(MockElastiCacheApi::new()) as Arc<dyn ElastiCacheApi>
        }),
    )
    .unwrap();
    let no_region = reg
        .build(&ActionSpec::new(
            "step",
            "elasticache.failover_global_datastore",
            params.clone(),
        ))
        .unwrap();
    assert_eq!(
        no_region.target().to_string(),
        "elasticache:global-replication-group/ldgnf-mint-global@us-west-2"
    );
    reg.build(
        &ActionSpec::new("step", "elasticache.failover_global_datastore", params)
            .in_region("eu-west-1"),
    )
    .unwrap();
    assert_eq!(*regions.lock().unwrap(), ["us-west-2", "eu-west-1"]);
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
        (
            "elasticache.failover_global_datastore",
            json!({"global_replication_group": "", "primary_region": "us-west-2",
                   "primary_replication_group": "mint-cache-west"}),
            "parameter `global_replication_group`: `` is not a valid global datastore id: it \
             must have 1 to 255 characters",
        ),
        (
            "elasticache.failover_global_datastore",
            json!({"global_replication_group": "ldgnf mint", "primary_region": "us-west-2",
                   "primary_replication_group": "mint-cache-west"}),
            "parameter `global_replication_group`: `ldgnf mint` is not a valid global datastore \
             id: only letters, digits and hyphens are allowed",
        ),
        (
            "elasticache.failover_global_datastore",
            json!({"global_replication_group": "ldgnf-mint-global", "primary_region": "",
                   "primary_replication_group": "mint-cache-west"}),
            "parameter `primary_region`: `` is not a region name (e.g. us-east-1, eu-central-2)",
        ),
        (
            "elasticache.failover_global_datastore",
            json!({"global_replication_group": "ldgnf-mint-global", "primary_region": "US-WEST-2",
                   "primary_replication_group": "mint-cache-west"}),
            "parameter `primary_region`: `US-WEST-2` is not a region name",
        ),
        (
            "elasticache.failover_global_datastore",
            json!({"global_replication_group": "ldgnf-mint-global",
                   "primary_region": "us-west-2a", "primary_replication_group": "mint-cache-west"}),
            "parameter `primary_region`: `us-west-2a` is not a region name",
        ),
        (
            "elasticache.failover_global_datastore",
            json!({"global_replication_group": "ldgnf-mint-global", "primary_region": "us-west-2",
                   "primary_replication_group": ""}),
            "parameter `primary_replication_group`: `` is not a valid ElastiCache identifier: it \
             must have 1 to 40 characters",
        ),
        (
            "elasticache.failover_global_datastore",
            json!({"global_replication_group": "ldgnf-mint-global", "primary_region": "us-west-2"}),
            "missing field `primary_replication_group`",
        ),
        (
            "elasticache.failover_global_datastore",
            json!({"global_replication_group": "ldgnf-mint-global", "primary_region": "us-west-2",
                   "primary_replication_group": "mint-cache-west", "region": "us-west-2"}),
            "unknown field `region`",
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
            "elasticache.failover_global_datastore",
            "elasticache.set_primary",
            "elasticache.test_failover"
        ]
    );
    let d = reg.descriptor("elasticache.test_failover").unwrap();
    assert!(d.summary.contains("a few such calls per rolling 24 hours"));
    assert_eq!(d.iam_actions, TestFailover::IAM_ACTIONS);
}
