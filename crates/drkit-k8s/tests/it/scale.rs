//! `k8s.scale` against the mock API server: the scale subresource, waiting, rollback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{Check, Context, ErrorKind, RecoveryAction};
use drkit_k8s::{ClusterRef, ScaleKind, ScaleParams, ScaleWorkload};
use serde_json::json;

use crate::mock::{MockApi, status};

/// A Deployment whose controller converges to the asked count after two reads.
#[derive(Default)]
struct Cluster {
    spec: u32,
    running: u32,
    reads_since_patch: u32,
}

fn server(state: Arc<Mutex<Cluster>>) -> MockApi {
    MockApi::new(move |r| {
        let mut s = state.lock().unwrap();
        let base = "/apis/apps/v1/namespaces/mint-replica/deployments/api";
        match (r.method.as_str(), r.path.as_str()) {
            ("PATCH", p) if p == format!("{base}/scale") => {
                s.spec = u32::try_from(r.body["spec"]["replicas"].as_u64().unwrap()).unwrap();
                s.reads_since_patch = 0;
                (
                    200,
                    json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                    "metadata": {"name": "api", "namespace": "mint-replica"},
                    "spec": {"replicas": s.spec}, "status": {"replicas": s.running}}),
                )
            }
            ("GET", p) if p == format!("{base}/scale") => {
                s.reads_since_patch += 1;
                if s.reads_since_patch > 2 {
                    s.running = s.spec;
                }
                (
                    200,
                    json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                    "metadata": {"name": "api", "namespace": "mint-replica"},
                    "spec": {"replicas": s.spec}, "status": {"replicas": s.running}}),
                )
            }
            ("GET", p) if p == base => (
                200,
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "api", "namespace": "mint-replica", "generation": 3},
                "spec": {"replicas": s.spec, "selector": {}, "template": {}},
                "status": {"observedGeneration": 3, "replicas": s.running,
                    "updatedReplicas": s.running, "availableReplicas": s.running}}),
            ),
            _ => status(404, "NotFound", "deployments.apps \"api\" not found"),
        }
    })
}

fn action(api: &MockApi, replicas: u32) -> ScaleWorkload {
    ScaleWorkload::new(
        "scale-api",
        ScaleParams::new("mint-replica", ScaleKind::Deployment, "api", replicas),
        &ClusterRef::Kubeconfig { context: None },
        api.connect(),
    )
}

/// 2 -> 5 through the scale subresource (merge patch of spec.replicas), waiting until 5 run;
/// the previous count is in the outputs; rollback patches 2 back and waits again.
#[tokio::test(start_paused = true)]
async fn scale_then_rollback_restores_the_previous_count() {
    let state = Arc::new(Mutex::new(Cluster {
        spec: 2,
        running: 2,
        reads_since_patch: 10,
    }));
    let api = server(Arc::clone(&state));
    let scale = action(&api, 5);
    let ctx = Context::new().with_timeout(Duration::from_secs(300));

    let check = scale.check(&ctx).await.unwrap();
    assert_eq!(
        check,
        Check::ready("scale Deployment mint-replica/api: 2 -> 5 replicas")
    );
    let out = scale.execute(&ctx).await.unwrap();
    assert_eq!(out.get("previous_replicas"), Some(&json!(2)));
    assert_eq!(out.get("replicas"), Some(&json!(5)));
    assert_eq!(
        out.get("ready"),
        Some(&json!("Deployment api: 5/5 available"))
    );
    assert_eq!(state.lock().unwrap().running, 5);

    let patches: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0].path,
        "/apis/apps/v1/namespaces/mint-replica/deployments/api/scale"
    );
    assert_eq!(
        patches[0].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(patches[0].body, json!({"spec": {"replicas": 5}}));

    // Executed again (e.g. by the retry layer): no second PATCH, same previous count.
    let again = scale.execute(&ctx).await.unwrap();
    assert_eq!(again.get("previous_replicas"), Some(&json!(2)));
    assert_eq!(
        api.requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count(),
        1
    );
    assert!(matches!(
        scale.check(&ctx).await.unwrap(),
        Check::Done { .. }
    ));

    assert!(scale.supports_rollback());
    scale.rollback(&ctx).await.unwrap();
    let s = state.lock().unwrap();
    assert_eq!((s.spec, s.running), (2, 2));
    let last = api
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(last.body, json!({"spec": {"replicas": 2}}));
}

/// Rollback before any execute: nothing to undo, said so.
#[tokio::test]
async fn rollback_without_execute_is_unsupported() {
    let api = server(Arc::new(Mutex::new(Cluster::default())));
    let err = action(&api, 3).rollback(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(api.requests().is_empty());
}

/// After a resume the action instance is new and remembers nothing: rollback restores the
/// count the step recorded (`previous_replicas`).
#[tokio::test(start_paused = true)]
async fn rollback_after_a_resume_uses_the_recorded_previous_count() {
    let state = Arc::new(Mutex::new(Cluster {
        spec: 5,
        running: 5,
        reads_since_patch: 10,
    }));
    let api = server(Arc::clone(&state));
    let ctx = Context::new()
        .with_timeout(Duration::from_secs(300))
        .with_outputs(std::collections::BTreeMap::from([(
            "scale-api".to_owned(),
            drkit_core::Outputs::new()
                .with("previous_replicas", 2)
                .with("replicas", 5),
        )]));
    action(&api, 5).rollback(&ctx).await.unwrap();
    let s = state.lock().unwrap();
    assert_eq!((s.spec, s.running), (2, 2));
}

/// A missing Deployment: check is blocked, execute fails NotFound (not retryable).
#[tokio::test]
async fn a_missing_workload_blocks_the_check() {
    let api = MockApi::new(|_| status(404, "NotFound", "deployments.apps \"api\" not found"));
    let scale = action(&api, 3);
    assert_eq!(
        scale.check(&Context::new()).await.unwrap(),
        Check::blocked("Deployment mint-replica/api does not exist")
    );
    let err = scale.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(!err.is_retryable());
    assert!(
        err.to_string()
            .contains("get scale Deployment mint-replica/api"),
        "{err}"
    );
}
