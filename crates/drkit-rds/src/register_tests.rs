//! Tests of `register.rs`.

use drkit_core::ActionRef;
use drkit_core::registry::{ActionSpec, BuildError};
use serde_json::json;

use super::*;
use crate::port::{MockMetricsApi, MockRdsApi};

fn registry() -> Registry {
    let mut registry = Registry::new();
    register_with(
        &mut registry,
        &RdsPorts {
            rds: PortFactory::new(|_| Arc::new(MockRdsApi::new()) as Arc<dyn RdsApi>),
            metrics: PortFactory::new(|_| Arc::new(MockMetricsApi::new()) as Arc<dyn MetricsApi>),
        },
    )
    .unwrap();
    registry
}

fn build(params: serde_json::Value) -> Result<ActionRef, BuildError> {
    registry().build(
        &ActionSpec::new("failover-db", "rds.failover_db_cluster", params).in_region("us-west-2"),
    )
}

#[test]
fn builds_with_the_step_region_on_the_resource() {
    let action =
        build(json!({"cluster": "mint-replica-cluster", "target_instance": "mint-2"})).unwrap();
    assert_eq!(action.kind(), "rds.failover_db_cluster");
    assert_eq!(action.id(), "failover-db");
    assert_eq!(
        action.target().to_string(),
        "rds:db-cluster/mint-replica-cluster@us-west-2"
    );
    assert!(action.mutates());
    assert!(action.iam_actions().contains(&"rds:FailoverDBCluster"));
}

#[test]
fn bad_parameters_are_refused_before_any_call() {
    let cases = [
        (json!({}), "missing field `cluster`"),
        (
            json!({"cluster": 7}),
            "parameter `cluster`: invalid type: integer `7`, expected a string",
        ),
        (
            json!({"cluster": "c", "target": "x"}),
            "unknown field `target`, expected `cluster` or `target_instance`",
        ),
        (
            json!({"cluster": "1abc"}),
            "parameter `cluster`: `1abc` is not a valid RDS identifier: it must start with a letter",
        ),
        (
            json!({"cluster": "a_b"}),
            "only letters, digits and hyphens",
        ),
        (
            json!({"cluster": "ok", "target_instance": "bad-"}),
            "parameter `target_instance`",
        ),
    ];
    for (params, expected) in cases {
        let err = build(params).unwrap_err().to_string();
        assert!(err.contains(expected), "{err} lacks {expected}");
        assert!(
            err.starts_with("step `failover-db` (rds.failover_db_cluster): "),
            "{err}"
        );
    }
}

#[test]
fn either_or_parameters_are_checked_before_any_call() {
    let reg = registry();
    let build = |kind: &str, params| reg.build(&ActionSpec::new("s", kind, params));
    // An automated snapshot's name is accepted as it is.
    assert!(
        build(
            "rds.restore_instance_from_snapshot",
            json!({"target": "mint-restored", "snapshot": "rds:mint-2026-11-28-08-00"})
        )
        .is_ok()
    );
    let err = build(
        "rds.restore_instance_from_snapshot",
        json!({"target": "mint-restored", "snapshot": "s", "latest_snapshot_of": "mint"}),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("exactly one of `snapshot` and `latest_snapshot_of`"),
        "{err}"
    );
    let err = build("rds.create_snapshot", json!({})).unwrap_err();
    assert!(
        err.to_string()
            .contains("exactly one of `instance` and `cluster`"),
        "{err}"
    );
    let err = build(
        "rds.restore_instance_to_point_in_time",
        json!({"source": "a", "target": "b"}),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("exactly one of `restore_time`"),
        "{err}"
    );
}

#[test]
fn the_descriptor_documents_the_action() {
    let reg = registry();
    let d = reg.descriptor("rds.failover_db_cluster").unwrap();
    assert!(d.mutates);
    let names: Vec<_> = d.params.iter().map(|p| p.name).collect();
    assert_eq!(names, ["cluster", "target_instance"]);
    assert_eq!(d.iam_actions, FailoverDbCluster::IAM_ACTIONS);
}
