//! Tests of `nodes.rs`.

use serde_json::{Value, json};

use super::*;

fn node(name: &str, ready: &str, extra: Value) -> Node {
    let mut node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
        "status": {"conditions": [
            {"type": "MemoryPressure", "status": "False"},
            {"type": "Ready", "status": ready, "reason": "KubeletNotReady",
             "message": "container runtime network not ready"}]}});
    if let (Some(node), Value::Object(extra)) = (node.as_object_mut(), extra) {
        node.extend(extra);
    }
    serde_json::from_value(node).unwrap()
}

#[test]
fn a_node_counts_when_ready_and_schedulable() {
    assert_eq!(node_problem(&node("a", "True", json!({}))), None);
    assert_eq!(
        node_problem(&node("a", "False", json!({}))).as_deref(),
        Some("NotReady: KubeletNotReady (container runtime network not ready)")
    );
    let cordoned = node("a", "True", json!({"spec": {"unschedulable": true}}));
    assert_eq!(
        node_problem(&cordoned).as_deref(),
        Some("cordoned (unschedulable)")
    );
    let unreachable: Node = serde_json::from_value(json!({
        "metadata": {"name": "b"},
        "spec": {"taints": [
            {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
            {"key": "dedicated", "value": "db", "effect": "NoSchedule"}]},
        "status": {"conditions": [{"type": "Ready", "status": "Unknown",
            "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}]}}))
    .unwrap();
    assert_eq!(
        node_problem(&unreachable).as_deref(),
        Some(
            "Ready Unknown: NodeStatusUnknown (Kubelet stopped posting node status.); taint \
             node.kubernetes.io/unreachable:NoExecute"
        )
    );
    // Ready, but the lifecycle controller's taint is still there: pods cannot land yet.
    let tainted = node(
        "c",
        "True",
        json!({"spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}}),
    );
    assert_eq!(
        node_problem(&tainted).as_deref(),
        Some("taint node.kubernetes.io/not-ready:NoSchedule")
    );
    let fresh: Node = serde_json::from_value(json!({"metadata": {"name": "d"}})).unwrap();
    assert!(
        node_problem(&fresh)
            .unwrap()
            .starts_with("no Ready condition yet")
    );
    let leaving = node(
        "e",
        "True",
        json!({"metadata": {"name": "e", "deletionTimestamp": "2026-01-01T00:00:00Z"}}),
    );
    assert_eq!(node_problem(&leaving).as_deref(), Some("being deleted"));
}

#[test]
fn the_state_counts_and_names_a_few_nodes_that_do_not_count() {
    let mut nodes = vec![node("ip-1", "True", json!({}))];
    nodes.extend((2..10).map(|i| node(&format!("ip-{i}"), "False", json!({}))));
    let r = NodeReadiness::of(&nodes, 3);
    assert!(!r.is_ready());
    let state = r.state();
    assert!(
        state.starts_with("1 of 9 nodes ready (want at least 3); not ready: ip-2: NotReady"),
        "{state}"
    );
    assert!(state.contains("ip-6: NotReady"), "{state}");
    assert!(!state.contains("ip-7:"), "{state}");
    assert!(state.ends_with(", and 3 more"), "{state}");
    assert_eq!(r.outputs().get("ready_nodes"), Some(&json!(1)));
    assert_eq!(r.outputs().get("not_ready"), Some(&json!(8)));
    assert!(NodeReadiness::of(&nodes, 1).is_ready());
    assert_eq!(
        NodeReadiness::of(&[], 2).state(),
        "no node matches (want at least 2)"
    );
}

#[test]
fn the_nodes_output_is_bounded() {
    let nodes: Vec<Node> = (0..MAX_NODES_LISTED + 20)
        .map(|i| node(&format!("n{i:04}"), "True", json!({})))
        .collect();
    let out = NodeReadiness::of(&nodes, 1).outputs();
    assert_eq!(out.get("ready_nodes"), Some(&json!(MAX_NODES_LISTED + 20)));
    let listed = out.get("nodes").and_then(Value::as_array).unwrap();
    assert_eq!(listed.len(), MAX_NODES_LISTED);
    assert_eq!(listed[0], "n0000");
}

fn refused(params: Value) -> ParamError {
    let p: WaitNodesReadyParams = serde_json::from_value(params).unwrap();
    WaitNodesReady::validate(&p).unwrap_err()
}

#[test]
fn exactly_one_of_nodegroup_and_selector_and_a_count_of_at_least_one() {
    let ok = |p: WaitNodesReadyParams| WaitNodesReady::validate(&p);
    ok(WaitNodesReadyParams::nodegroup("primary-nodes", 4)).unwrap();
    ok(WaitNodesReadyParams::selector(
        "karpenter.sh/nodepool=default",
        1,
    ))
    .unwrap();
    let both = refused(json!({"nodegroup": "a", "selector": "x=y", "count": 1}));
    assert_eq!(both.param.as_deref(), Some("selector"));
    assert!(both.to_string().contains("not both"), "{both}");
    let neither = refused(json!({"count": 1}));
    assert_eq!(neither.param.as_deref(), Some("nodegroup"));
    assert_eq!(
        refused(json!({"nodegroup": "a", "count": 0}))
            .param
            .as_deref(),
        Some("count")
    );
    assert_eq!(
        refused(json!({"nodegroup": "-bad-", "count": 1}))
            .param
            .as_deref(),
        Some("nodegroup")
    );
    assert_eq!(
        refused(json!({"selector": "  ", "count": 1}))
            .param
            .as_deref(),
        Some("selector")
    );
    assert_eq!(
        refused(json!({"nodegroup": "a", "count": 1, "region": "us-west-2"}))
            .param
            .as_deref(),
        Some("region")
    );
}

#[test]
fn the_label_selector_of_a_node_group() {
    assert_eq!(
        WaitNodesReadyParams::nodegroup("primary-nodes", 4).label_selector(),
        "eks.amazonaws.com/nodegroup=primary-nodes"
    );
    assert_eq!(
        WaitNodesReadyParams::selector("pool in (a,b)", 4).label_selector(),
        "pool in (a,b)"
    );
}
