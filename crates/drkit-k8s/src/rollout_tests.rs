//! Tests of `rollout.rs`.

use serde_json::json;

use super::*;

fn deploy(v: serde_json::Value) -> Deployment {
    serde_json::from_value(v).unwrap()
}

#[test]
fn deployment_rollout_stages() {
    let base = |status: serde_json::Value, generation: i64| {
        deploy(json!({
            "metadata": {"name": "api", "generation": generation},
            "spec": {"replicas": 3, "selector": {}, "template": {}},
            "status": status
        }))
    };
    let d = base(json!({"observedGeneration": 1}), 2);
    assert!(deployment(&d).unwrap_err().contains("observe generation 2"));
    let d = base(
        json!({"observedGeneration": 2, "updatedReplicas": 1, "replicas": 3}),
        2,
    );
    assert!(
        deployment(&d)
            .unwrap_err()
            .contains("1 of 3 replicas updated")
    );
    let d = base(
        json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 4}),
        2,
    );
    assert!(
        deployment(&d)
            .unwrap_err()
            .contains("1 old replicas pending termination")
    );
    let d = base(
        json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 2}),
        2,
    );
    assert!(
        deployment(&d)
            .unwrap_err()
            .contains("2 of 3 updated replicas available")
    );
    let d = base(
        json!({"observedGeneration": 2, "updatedReplicas": 1, "replicas": 3, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
        2,
    );
    assert!(
        deployment(&d)
            .unwrap_err()
            .contains("exceeded its progress deadline")
    );
    let d = base(
        json!({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3}),
        2,
    );
    assert_eq!(deployment(&d).unwrap(), "Deployment api: 3/3 available");
}

#[test]
fn stateful_set_and_daemon_set_rollouts() {
    let s: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "db", "generation": 1},
        "spec": {"replicas": 2, "selector": {}, "serviceName": "db", "template": {}},
        "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2,
                   "availableReplicas": 2, "updatedReplicas": 1,
                   "currentRevision": "db-1", "updateRevision": "db-2"}
    }))
    .unwrap();
    assert!(
        stateful_set(&s)
            .unwrap_err()
            .contains("rolling update to revision db-2")
    );
    let mut done = s;
    if let Some(st) = done.status.as_mut() {
        st.current_revision = Some("db-2".into());
    }
    assert_eq!(stateful_set(&done).unwrap(), "StatefulSet db: 2/2 ready");

    let d: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent", "generation": 1},
        "spec": {"selector": {}, "template": {}},
        "status": {"observedGeneration": 1, "desiredNumberScheduled": 3,
                   "currentNumberScheduled": 3, "numberMisscheduled": 0, "numberReady": 2,
                   "updatedNumberScheduled": 3, "numberAvailable": 2}
    }))
    .unwrap();
    assert!(
        daemon_set(&d)
            .unwrap_err()
            .contains("2 of 3 pods available")
    );
}

#[test]
fn pod_reasons_name_the_container_and_the_reason() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "api-1"},
        "status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [{
                "name": "api", "ready": false, "restartCount": 5, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "CrashLoopBackOff",
                    "message": "back-off 5m0s restarting failed container=api"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}
            }]}
    }))
    .unwrap();
    assert!(!is_ready(&pod));
    assert_eq!(
        not_ready_reason(&pod),
        "container api CrashLoopBackOff (back-off 5m0s restarting failed container=api); \
         last exit 1 Error (restarts 5)"
    );
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "api-2"},
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled",
            "status": "False", "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient cpu."}]}
    }))
    .unwrap();
    assert_eq!(
        not_ready_reason(&pod),
        "not scheduled: Unschedulable (0/3 nodes are available: 3 Insufficient cpu.)"
    );
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "api-3"},
        "status": {"phase": "Pending", "containerStatuses": [{
            "name": "api", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
            "state": {"waiting": {"reason": "ImagePullBackOff",
                "message": "Back-off pulling image \"x\""}}}]}
    }))
    .unwrap();
    assert!(not_ready_reason(&pod).starts_with("container api ImagePullBackOff"));
}
