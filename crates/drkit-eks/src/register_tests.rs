//! Tests of `register.rs`.

use drkit_core::registry::{ActionSpec, BuildError, Registry};
use drkit_core::{ActionKind, ActionRef};
use serde_json::json;

use super::*;
use crate::port::MockEksApi;

fn registry() -> Registry {
    let mut registry = Registry::new();
    register_with(
        &mut registry,
        &PortFactory::new(|_| Arc::new(MockEksApi::new()) as Arc<dyn EksApi>),
    )
    .unwrap();
    registry
}

fn build(kind: &str, params: serde_json::Value) -> Result<ActionRef, BuildError> {
    registry().build(&ActionSpec::new("step", kind, params).in_region("us-west-2"))
}

#[test]
fn builds_each_kind_with_the_step_region_on_the_resource() {
    let a = build("eks.check_cluster", json!({"cluster": "mint-dr"})).unwrap();
    assert_eq!(a.target().to_string(), "eks:cluster/mint-dr@us-west-2");
    assert!(!a.mutates());
    assert_eq!(a.iam_actions(), ["eks:DescribeCluster"]);

    let a = build(
        "eks.check_nodegroup",
        json!({"cluster": "mint-dr", "nodegroup": "standby", "min_ready": 3}),
    )
    .unwrap();
    assert_eq!(
        a.target().to_string(),
        "eks:nodegroup/mint-dr/standby@us-west-2"
    );
    assert!(!a.mutates());

    let a = build(
        "eks.scale_nodegroup",
        json!({"cluster": "mint-dr", "nodegroup": "standby", "min_size": 2, "max_size": 6, "desired_size": 3}),
    )
    .unwrap();
    assert_eq!(a.kind(), "eks.scale_nodegroup");
    assert!(a.mutates());
    assert!(a.supports_rollback());
    assert!(a.iam_actions().contains(&"eks:UpdateNodegroupConfig"));
}

#[test]
fn bad_parameters_are_refused_before_any_call() {
    let cases = [
        ("eks.check_cluster", json!({}), "missing field `cluster`"),
        (
            "eks.check_cluster",
            json!({"cluster": "c", "region": "x"}),
            "unknown field `region`, expected `cluster`",
        ),
        (
            "eks.check_cluster",
            json!({"cluster": "-c"}),
            "parameter `cluster`: `-c` is not a valid EKS cluster name: it must start with a letter or a digit",
        ),
        (
            "eks.check_nodegroup",
            json!({"cluster": "c", "nodegroup": "a b"}),
            "parameter `nodegroup`: `a b` is not a valid EKS node group name: only letters",
        ),
        (
            "eks.check_nodegroup",
            json!({"cluster": "c", "nodegroup": "n", "min_ready": -1}),
            "parameter `min_ready`: invalid value: integer `-1`, expected u32",
        ),
        (
            "eks.scale_nodegroup",
            json!({"cluster": "c", "nodegroup": "n"}),
            "missing field `desired_size`",
        ),
        (
            "eks.scale_nodegroup",
            json!({"cluster": "c", "nodegroup": "n", "desired_size": "3"}),
            "parameter `desired_size`: invalid type: string \"3\", expected u32",
        ),
        (
            "eks.scale_nodegroup",
            json!({"cluster": "c", "nodegroup": "n", "desired_size": 5, "max_size": 4}),
            "parameter `desired_size`: desired_size 5 is above max_size 4",
        ),
        (
            "eks.scale_nodegroup",
            json!({"cluster": "c", "nodegroup": "n", "desired_size": 1, "min_size": 2}),
            "parameter `desired_size`: desired_size 1 is below min_size 2",
        ),
        (
            "eks.scale_nodegroup",
            json!({"cluster": "c", "nodegroup": "n", "desired_size": 0, "max_size": 0}),
            "parameter `max_size`: EKS needs max_size >= 1",
        ),
        (
            "eks.scale_nodegroup",
            json!({"cluster": "c", "nodegroup": "n", "desired": 3}),
            "unknown field `desired`",
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
            "eks.check_cluster",
            "eks.check_nodegroup",
            "eks.scale_nodegroup"
        ]
    );
    let d = reg.descriptor("eks.scale_nodegroup").unwrap();
    let names: Vec<_> = d.params.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        [
            "cluster",
            "nodegroup",
            "min_size",
            "max_size",
            "desired_size"
        ]
    );
    assert_eq!(d.iam_actions, ScaleNodegroup::IAM_ACTIONS);
    assert!(d.outputs.iter().any(|o| o.name == "previous_desired_size"));
}
