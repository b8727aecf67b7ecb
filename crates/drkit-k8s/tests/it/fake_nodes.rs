//! `k8s.wait_nodes_ready` over real HTTP against the **fake** API server's Nodes: nodes its
//! simulated kubelet makes Ready after the rollout delay, and nodes a test creates with a
//! status and flips through `PATCH .../status`, as a kubelet does. Real time, short delays.

use std::sync::Arc;
use std::time::{Duration, Instant};

use drkit_core::{ActionKind, Check, Context, ErrorKind, RecoveryAction};
use drkit_k8s::{WaitNodesReady, WaitNodesReadyParams};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use crate::fake_server::{Cluster, cluster, cluster_ref, ctx, fast};

/// A Node of `group`; with `ready`, created with that `Ready` status (else its simulated
/// kubelet reports one).
#[allow(clippy::needless_pass_by_value)] // call sites read better with json!({...})
fn node(name: &str, group: &str, ready: Option<&str>, spec: Value) -> Value {
    let mut node = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"eks.amazonaws.com/nodegroup": group}},
        "spec": spec});
    if let Some(ready) = ready {
        node["status"] = json!({"conditions": [{"type": "Ready", "status": ready,
            "reason": if ready == "True" { "KubeletReady" } else { "KubeletNotReady" },
            "message": if ready == "True" { "kubelet is posting ready status" }
                       else { "PLEG is not healthy: pleg was last seen active 3m0s ago" }}]});
    }
    node
}

fn wait(c: &Cluster, params: WaitNodesReadyParams) -> WaitNodesReady {
    WaitNodesReady::new(
        "standby-nodes-ready",
        params,
        &cluster_ref(),
        Arc::clone(&c.connect),
    )
    .with_wait_policy(fast())
}

/// Three nodes join the group and become Ready after the delay; the other group's nodes (one
/// Ready, one NotReady) neither count nor hold the wait up.
#[tokio::test]
async fn the_groups_nodes_become_ready_after_the_delay() {
    let started = Instant::now();
    let c = cluster(Duration::from_millis(600)).await;
    for i in 11..14 {
        c.fake
            .create(&node(
                &format!("ip-10-0-1-{i}"),
                "primary-nodes",
                None,
                json!({}),
            ))
            .unwrap();
    }
    c.fake
        .create(&node("ip-10-0-9-98", "system", Some("True"), json!({})))
        .unwrap();
    c.fake
        .create(&node("ip-10-0-9-99", "system", Some("False"), json!({})))
        .unwrap();

    let nodes = wait(&c, WaitNodesReadyParams::nodegroup("primary-nodes", 3));
    let Check::Ready { change } = nodes.check(&ctx()).await.unwrap() else {
        panic!("ready before the delay")
    };
    assert!(
        change.contains(
            "0 of 3 nodes ready (want at least 3); not ready: ip-10-0-1-11: NotReady: \
             KubeletNotReady (container runtime network not ready"
        ),
        "{change}"
    );
    assert!(!change.contains("ip-10-0-9"), "{change}");

    let out = nodes.execute(&ctx()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!(
        out.get("nodes"),
        Some(&json!(["ip-10-0-1-11", "ip-10-0-1-12", "ip-10-0-1-13"]))
    );
    assert_eq!(out.get("ready_nodes"), Some(&json!(3)));
    assert_eq!(out.get("not_ready"), Some(&json!(0)));
    nodes.verify(&ctx()).await.unwrap();
    assert!(c.fake.requests().iter().any(|r| r.path == "/api/v1/nodes"
        && r.has_param("labelSelector", "eks.amazonaws.com/nodegroup=primary-nodes")));
    // The other group's Ready node is not one of this group's.
    let more = wait(&c, WaitNodesReadyParams::nodegroup("primary-nodes", 4));
    let Check::Ready { change } = more.check(&ctx()).await.unwrap() else {
        panic!("4 counted")
    };
    assert!(
        change.ends_with("now: 3 of 3 nodes ready (want at least 4)"),
        "{change}"
    );
}

/// A node the test's "kubelet" flips to Ready counts from then on; a cordoned Ready node never
/// does.
#[tokio::test]
async fn a_node_flipped_ready_counts_and_a_cordoned_one_does_not() {
    let c = cluster(Duration::from_millis(100)).await;
    c.fake
        .create(&node(
            "ip-10-0-1-11",
            "primary-nodes",
            Some("False"),
            json!({}),
        ))
        .unwrap();
    c.fake
        .create(&node(
            "ip-10-0-1-12",
            "primary-nodes",
            Some("True"),
            json!({"unschedulable": true}),
        ))
        .unwrap();
    c.fake
        .create(&node(
            "ip-10-0-1-13",
            "primary-nodes",
            Some("True"),
            json!({}),
        ))
        .unwrap();
    let nodes = wait(&c, WaitNodesReadyParams::nodegroup("primary-nodes", 2));
    let Check::Ready { change } = nodes.check(&ctx()).await.unwrap() else {
        panic!("ready with one node")
    };
    assert!(
        change.contains("ip-10-0-1-12: cordoned (unschedulable)"),
        "{change}"
    );

    let client = c.connect.client().await.unwrap();
    let kubelet = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "True",
            "reason": "KubeletReady", "message": "kubelet is posting ready status"}]}});
        Api::<Node>::all(client)
            .patch_status(
                "ip-10-0-1-11",
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .unwrap();
    });
    let out = nodes.execute(&ctx()).await.unwrap();
    kubelet.await.unwrap();
    assert_eq!(
        out.get("nodes"),
        Some(&json!(["ip-10-0-1-11", "ip-10-0-1-13"]))
    );
    assert_eq!(out.get("not_ready"), Some(&json!(1)));
}

/// A node that stays NotReady: the time-out names it, with its condition's reason and
/// message, and how many of how many are ready.
#[tokio::test]
async fn the_time_out_names_the_node_that_stays_not_ready() {
    let c = cluster(Duration::from_millis(100)).await;
    c.fake
        .create(&node(
            "ip-10-0-1-11",
            "primary-nodes",
            Some("False"),
            json!({}),
        ))
        .unwrap();
    c.fake
        .create(&node(
            "ip-10-0-1-12",
            "primary-nodes",
            Some("True"),
            json!({}),
        ))
        .unwrap();
    let err = wait(&c, WaitNodesReadyParams::nodegroup("primary-nodes", 2))
        .execute(&Context::new().with_timeout(Duration::from_millis(800)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    let text = err.to_string();
    assert!(
        text.contains(
            "1 of 2 nodes ready (want at least 2); not ready: ip-10-0-1-11: NotReady: \
             KubeletNotReady (PLEG is not healthy: pleg was last seen active 3m0s ago)"
        ),
        "{text}"
    );
}
