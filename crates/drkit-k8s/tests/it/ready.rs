//! `k8s.wait_ready` against the mock API server, under paused tokio time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use drkit_core::{Check, Context, ErrorKind, RecoveryAction};
use drkit_k8s::{ClusterRef, WaitReady, WaitReadyParams, WorkloadKind};
use serde_json::{Value, json};

use crate::mock::{MockApi, list, status};

fn deployment(updated: u32, available: u32, total: u32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "api", "namespace": "mint-replica", "generation": 2},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}}, "template": {}},
           "status": {"observedGeneration": 2, "replicas": total, "updatedReplicas": updated,
                      "availableReplicas": available, "readyReplicas": available}})
}

fn pod(name: &str, ready: bool, waiting: Option<(&str, &str)>) -> Value {
    let state = match waiting {
        Some((reason, message)) => json!({"waiting": {"reason": reason, "message": message}}),
        None => json!({"running": {}}),
    };
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "mint-replica", "labels": {"app": "api"}},
           "status": {"phase": "Running",
               "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
               "containerStatuses": [{"name": "api", "ready": ready, "restartCount": 4,
                   "image": "mint/api:1", "imageID": "", "state": state}]}})
}

fn action(api: &MockApi, params: WaitReadyParams) -> WaitReady {
    WaitReady::new(
        "services-ready",
        params,
        &ClusterRef::Kubeconfig { context: None },
        api.connect(),
    )
}

/// A rollout in progress (1 of 2 updated, then 2 updated but 1 available) completes on the
/// third poll; the wait returns the ready pods, and every list used the selector.
#[tokio::test(start_paused = true)]
async fn waits_from_progressing_to_complete() {
    let polls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&polls);
    let api = MockApi::new(move |r| {
        let poll = seen.load(Ordering::SeqCst);
        match r.path.as_str() {
            "/apis/apps/v1/namespaces/mint-replica/deployments" => {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let d = match n {
                    0 => deployment(1, 1, 3),
                    1 => deployment(2, 1, 2),
                    _ => deployment(2, 2, 2),
                };
                list("DeploymentList", vec![d])
            }
            "/apis/apps/v1/namespaces/mint-replica/statefulsets" => list("StatefulSetList", vec![]),
            "/apis/apps/v1/namespaces/mint-replica/daemonsets" => list("DaemonSetList", vec![]),
            "/api/v1/namespaces/mint-replica/pods" => {
                let pods = if poll < 2 {
                    vec![
                        pod("api-1", true, None),
                        pod("api-2", false, Some(("ContainerCreating", "pulling"))),
                    ]
                } else {
                    vec![pod("api-1", true, None), pod("api-2", true, None)]
                };
                list("PodList", pods)
            }
            other => status(404, "NotFound", &format!("no {other}")),
        }
    });
    let wait = action(
        &api,
        WaitReadyParams::new("mint-replica")
            .selector("app=api")
            .min_ready(2),
    );
    let check = wait.check(&Context::new()).await.unwrap();
    let Check::Ready { change } = check else {
        panic!("{check:?}")
    };
    assert!(change.contains("1 of 2 replicas updated"), "{change}");

    let out = wait
        .execute(&Context::new().with_timeout(Duration::from_secs(300)))
        .await
        .unwrap();
    assert_eq!(out.get("ready_pods"), Some(&json!(2)));
    assert_eq!(out.get("pods"), Some(&json!(["api-1", "api-2"])));
    assert_eq!(
        out.get("workloads"),
        Some(&json!(["Deployment api: 2/2 available"]))
    );
    assert!(polls.load(Ordering::SeqCst) >= 3);
    for r in api.requests() {
        assert_eq!(r.method, "GET");
        assert!(r.query.contains("labelSelector=app%3Dapi"), "{}", r.query);
    }
    let verified = wait.verify(&Context::new()).await.unwrap();
    assert!(verified.contains("2 pods ready"), "{verified}");
}

/// A pod in CrashLoopBackOff and one that cannot be scheduled: at the deadline the error
/// names both pods and why, and is not retryable.
#[tokio::test(start_paused = true)]
async fn a_crash_looping_pod_is_named_at_the_deadline() {
    let api = MockApi::new(|r| match r.path.as_str() {
        "/apis/apps/v1/namespaces/mint-replica/deployments" => {
            list("DeploymentList", vec![deployment(2, 0, 2)])
        }
        "/api/v1/namespaces/mint-replica/pods" => list(
            "PodList",
            vec![
                pod(
                    "api-7f9c-abcde",
                    false,
                    Some((
                        "CrashLoopBackOff",
                        "back-off 5m0s restarting failed container=api",
                    )),
                ),
                json!({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "api-7f9c-fghij", "namespace": "mint-replica"},
                       "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled",
                           "status": "False", "reason": "Unschedulable",
                           "message": "0/3 nodes are available: 3 Insufficient cpu."}]}}),
            ],
        ),
        other => status(404, "NotFound", &format!("no {other}")),
    });
    let wait = action(
        &api,
        WaitReadyParams::new("mint-replica").kinds(vec![WorkloadKind::Deployment]),
    );
    let started = tokio::time::Instant::now();
    let err = wait
        .execute(&Context::new().with_timeout(Duration::from_secs(120)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert!(!err.is_retryable());
    assert!(started.elapsed() >= Duration::from_secs(120));
    let text = err.to_string();
    assert!(
        text.contains("Deployment api: 0 of 2 updated replicas available"),
        "{text}"
    );
    assert!(
        text.contains(
            "api-7f9c-abcde: container api CrashLoopBackOff (back-off 5m0s restarting failed \
             container=api)"
        ),
        "{text}"
    );
    assert!(
        text.contains("api-7f9c-fghij: not scheduled: Unschedulable (0/3 nodes are available: 3 Insufficient cpu.)"),
        "{text}"
    );
    // Only Deployments were listed (kinds), and pods.
    assert!(
        api.requests()
            .iter()
            .all(|r| !r.path.contains("statefulsets"))
    );
    let err = wait.verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
}

/// A 403 on a list ends the wait at once: not retryable, names what was listed.
#[tokio::test(start_paused = true)]
async fn forbidden_ends_the_wait_at_once() {
    let api = MockApi::new(|_| {
        status(
            403,
            "Forbidden",
            "deployments.apps is forbidden: User \"dr\" cannot list resource \"deployments\"",
        )
    });
    let wait = action(&api, WaitReadyParams::new("mint-replica"));
    let started = tokio::time::Instant::now();
    let err = wait
        .execute(&Context::new().with_timeout(Duration::from_secs(600)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        err.to_string().contains("list Deployments in mint-replica"),
        "{err}"
    );
    assert_eq!(api.requests().len(), 1);
}

/// A 503 while polling does not end the wait: the next poll succeeds.
#[tokio::test(start_paused = true)]
async fn a_server_error_while_polling_is_retried_by_the_wait() {
    let calls = Arc::new(AtomicU32::new(0));
    let n = Arc::clone(&calls);
    let api = MockApi::new(move |r| {
        if r.path.ends_with("/deployments") && n.fetch_add(1, Ordering::SeqCst) == 0 {
            return status(503, "ServiceUnavailable", "etcd leader changed");
        }
        match r.path.as_str() {
            "/apis/apps/v1/namespaces/mint-replica/deployments" => {
                list("DeploymentList", vec![deployment(2, 2, 2)])
            }
            "/api/v1/namespaces/mint-replica/pods" => {
                list("PodList", vec![pod("api-1", true, None)])
            }
            _ => list("List", vec![]),
        }
    });
    let wait = action(&api, WaitReadyParams::new("mint-replica"));
    let out = wait
        .execute(&Context::new().with_timeout(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(out.get("ready_pods"), Some(&json!(1)));
}
