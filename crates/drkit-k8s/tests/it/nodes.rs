//! `k8s.wait_nodes_ready` against the mock API server, under paused tokio time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use drkit_core::{Check, Context, ErrorKind, RecoveryAction};
use drkit_k8s::{ClusterRef, WaitNodesReady, WaitNodesReadyParams};
use serde_json::{Value, json};

use crate::mock::{MockApi, list, status};

const NODES: &str = "/api/v1/nodes";

/// A node of the group `primary-nodes` whose `Ready` condition has `ready` as its status.
#[allow(clippy::needless_pass_by_value)] // call sites read better with json!({...})
fn node(name: &str, ready: &str, spec: Value) -> Value {
    let (reason, message) = match ready {
        "True" => ("KubeletReady", "kubelet is posting ready status"),
        "Unknown" => ("NodeStatusUnknown", "Kubelet stopped posting node status."),
        _ => (
            "KubeletNotReady",
            "container runtime network not ready: NetworkReady=false \
             reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not \
             initialized",
        ),
    };
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": name,
                        "labels": {"eks.amazonaws.com/nodegroup": "primary-nodes"}},
           "spec": spec,
           "status": {"conditions": [
               {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
               {"type": "Ready", "status": ready, "reason": reason, "message": message}]}})
}

fn action(api: &MockApi, params: WaitNodesReadyParams) -> WaitNodesReady {
    WaitNodesReady::new(
        "standby-nodes-ready",
        params,
        &ClusterRef::Kubeconfig { context: None },
        api.connect(),
    )
}

/// Three new nodes join NotReady and become Ready over polls; check says wait, execute returns
/// once 4 count, every list is of the node group's label.
#[tokio::test(start_paused = true)]
async fn nodes_become_ready_over_polls() {
    let polls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&polls);
    let api = MockApi::new(move |r| {
        if r.path != NODES {
            return status(404, "NotFound", &format!("no {}", r.path));
        }
        let n = seen.fetch_add(1, Ordering::SeqCst);
        let joining = |name: &str, after: u32| {
            node(name, if n >= after { "True" } else { "False" }, json!({}))
        };
        list(
            "NodeList",
            vec![
                node("ip-10-0-1-10", "True", json!({})),
                joining("ip-10-0-1-11", 1),
                joining("ip-10-0-1-12", 2),
                joining("ip-10-0-1-13", 3),
            ],
        )
    });
    let wait = action(&api, WaitNodesReadyParams::nodegroup("primary-nodes", 4));
    let Check::Ready { change } = wait.check(&Context::new()).await.unwrap() else {
        panic!("not ready at first")
    };
    assert!(
        change.starts_with(
            "wait until nodes of node group primary-nodes are ready; now: 1 of 4 nodes ready \
             (want at least 4); not ready: ip-10-0-1-11: NotReady: KubeletNotReady"
        ),
        "{change}"
    );

    let out = wait
        .execute(&Context::new().with_timeout(Duration::from_secs(600)))
        .await
        .unwrap();
    assert_eq!(out.get("ready_nodes"), Some(&json!(4)));
    assert_eq!(out.get("not_ready"), Some(&json!(0)));
    assert_eq!(
        out.get("nodes"),
        Some(&json!([
            "ip-10-0-1-10",
            "ip-10-0-1-11",
            "ip-10-0-1-12",
            "ip-10-0-1-13"
        ]))
    );
    assert!(polls.load(Ordering::SeqCst) >= 4);
    for r in api.requests() {
        assert_eq!(r.line(), "GET /api/v1/nodes");
        assert!(
            r.has_param(
                "labelSelector",
                "eks.amazonaws.com%2Fnodegroup%3Dprimary-nodes"
            ),
            "{}",
            r.query
        );
    }
    let verified = wait.verify(&Context::new()).await.unwrap();
    assert!(verified.contains("4 of 4 nodes ready"), "{verified}");
    let Check::Done { outputs, .. } = wait.check(&Context::new()).await.unwrap() else {
        panic!("done once ready")
    };
    assert_eq!(outputs.get("ready_nodes"), Some(&json!(4)));
}

/// A Ready node that is cordoned, or still carries the not-ready taint, does not count.
#[tokio::test(start_paused = true)]
async fn a_cordoned_or_tainted_node_does_not_count() {
    let api = MockApi::new(|_| {
        list(
            "NodeList",
            vec![
                node("ip-10-0-1-10", "True", json!({})),
                node("ip-10-0-1-11", "True", json!({"unschedulable": true})),
                node(
                    "ip-10-0-1-12",
                    "True",
                    json!({"taints": [{"key": "node.kubernetes.io/not-ready",
                                       "effect": "NoSchedule"}]}),
                ),
            ],
        )
    });
    let wait = action(&api, WaitNodesReadyParams::selector("pool=standby", 2));
    let Check::Ready { change } = wait.check(&Context::new()).await.unwrap() else {
        panic!("a cordoned node counted")
    };
    assert!(
        change.contains(
            "1 of 3 nodes ready (want at least 2); not ready: ip-10-0-1-11: cordoned \
             (unschedulable), ip-10-0-1-12: taint node.kubernetes.io/not-ready:NoSchedule"
        ),
        "{change}"
    );
    let err = wait.verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    assert!(err.to_string().contains("cordoned"), "{err}");
    assert!(api.requests()[0].has_param("labelSelector", "pool%3Dstandby"));
}

/// Nodes that never become Ready: at the deadline the error says how many of how many are
/// ready, names each that is not and why, and is not retryable.
#[tokio::test(start_paused = true)]
async fn a_node_that_stays_not_ready_is_named_at_the_deadline() {
    let api = MockApi::new(|_| {
        list(
            "NodeList",
            vec![
                node("ip-10-0-1-10", "True", json!({})),
                node("ip-10-0-1-11", "False", json!({})),
                node(
                    "ip-10-0-1-12",
                    "Unknown",
                    json!({"taints": [{"key": "node.kubernetes.io/unreachable",
                                       "effect": "NoExecute"}]}),
                ),
            ],
        )
    });
    let wait = action(&api, WaitNodesReadyParams::nodegroup("primary-nodes", 3));
    let started = tokio::time::Instant::now();
    let err = wait
        .execute(&Context::new().with_timeout(Duration::from_secs(300)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert!(!err.is_retryable());
    assert!(started.elapsed() >= Duration::from_secs(300));
    let text = err.to_string();
    assert!(
        text.contains("nodes of node group primary-nodes to be ready"),
        "{text}"
    );
    assert!(
        text.contains("1 of 3 nodes ready (want at least 3)"),
        "{text}"
    );
    assert!(
        text.contains(
            "ip-10-0-1-11: NotReady: KubeletNotReady (container runtime network not ready: \
             NetworkReady=false"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "ip-10-0-1-12: Ready Unknown: NodeStatusUnknown (Kubelet stopped posting node \
             status.); taint node.kubernetes.io/unreachable:NoExecute"
        ),
        "{text}"
    );
}

/// No node matches (a wrong group name, or none registered yet): said so.
#[tokio::test(start_paused = true)]
async fn no_matching_node_is_said() {
    let api = MockApi::new(|_| list("NodeList", vec![]));
    let wait = action(&api, WaitNodesReadyParams::nodegroup("primary-nodez", 1));
    let Check::Ready { change } = wait.check(&Context::new()).await.unwrap() else {
        panic!("no node is not ready")
    };
    assert!(
        change.ends_with("now: no node matches (want at least 1)"),
        "{change}"
    );
}

/// A 403 on the list ends the wait at once: not retryable, names what was listed; a 503
/// while polling does not end it.
#[tokio::test(start_paused = true)]
async fn forbidden_ends_the_wait_at_once_and_unavailable_does_not() {
    let api = MockApi::new(|_| {
        status(
            403,
            "Forbidden",
            "nodes is forbidden: User \"dr\" cannot list resource \"nodes\" in API group \"\" \
             at the cluster scope",
        )
    });
    let wait = action(&api, WaitNodesReadyParams::nodegroup("primary-nodes", 1));
    let started = tokio::time::Instant::now();
    let err = wait
        .execute(&Context::new().with_timeout(Duration::from_secs(600)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        err.to_string()
            .contains("list Nodes (eks.amazonaws.com/nodegroup=primary-nodes)"),
        "{err}"
    );
    assert_eq!(api.requests().len(), 1);

    let calls = Arc::new(AtomicU32::new(0));
    let n = Arc::clone(&calls);
    let api = MockApi::new(move |_| {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            return status(503, "ServiceUnavailable", "etcd leader changed");
        }
        list("NodeList", vec![node("ip-10-0-1-10", "True", json!({}))])
    });
    let out = action(&api, WaitNodesReadyParams::nodegroup("primary-nodes", 1))
        .execute(&Context::new().with_timeout(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(out.get("ready_nodes"), Some(&json!(1)));
}
