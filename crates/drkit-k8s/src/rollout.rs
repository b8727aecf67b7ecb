//! Rollout and pod readiness, as `kubectl rollout status` judges them, in pure functions.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;

/// Whether a workload's rollout is complete: `Ok(summary)` or `Err(what is still pending)`.
pub type Rollout = Result<String, String>;

fn generation_pending(
    kind: &str,
    name: &str,
    generation: Option<i64>,
    observed: Option<i64>,
) -> Option<String> {
    let generation = generation.unwrap_or(0);
    let observed = observed.unwrap_or(0);
    (generation > observed).then(|| {
        format!("{kind} {name}: waiting for the controller to observe generation {generation} (seen {observed})")
    })
}

/// A Deployment: observed generation, the `Progressing` condition, updated, total and
/// available replicas.
pub fn deployment(d: &Deployment) -> Rollout {
    let name = d.metadata.name.as_deref().unwrap_or("?");
    let status = d.status.clone().unwrap_or_default();
    if let Some(p) = generation_pending(
        "Deployment",
        name,
        d.metadata.generation,
        status.observed_generation,
    ) {
        return Err(p);
    }
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let deadline = status.conditions.iter().flatten().find(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    let prefix = match deadline {
        Some(_) => format!("Deployment {name} exceeded its progress deadline: "),
        None => format!("Deployment {name}: "),
    };
    if updated < desired {
        return Err(format!("{prefix}{updated} of {desired} replicas updated"));
    }
    if total > updated {
        return Err(format!(
            "{prefix}{} old replicas pending termination",
            total - updated
        ));
    }
    if available < updated {
        return Err(format!(
            "{prefix}{available} of {updated} updated replicas available"
        ));
    }
    Ok(format!(
        "Deployment {name}: {available}/{desired} available"
    ))
}

/// A StatefulSet: observed generation, ready replicas, the rolling update (partition or
/// revisions), available replicas.
pub fn stateful_set(s: &StatefulSet) -> Rollout {
    let name = s.metadata.name.as_deref().unwrap_or("?");
    let status = s.status.clone().unwrap_or_default();
    if let Some(p) = generation_pending(
        "StatefulSet",
        name,
        s.metadata.generation,
        status.observed_generation,
    ) {
        return Err(p);
    }
    let spec = s.spec.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1);
    let ready = status.ready_replicas.unwrap_or(0);
    if ready < desired {
        return Err(format!(
            "StatefulSet {name}: {ready} of {desired} replicas ready"
        ));
    }
    let strategy = spec.update_strategy.unwrap_or_default();
    if strategy.type_.as_deref() != Some("OnDelete") {
        let partition = strategy
            .rolling_update
            .and_then(|r| r.partition)
            .unwrap_or(0);
        let updated = status.updated_replicas.unwrap_or(0);
        if partition > 0 {
            if updated < desired - partition {
                return Err(format!(
                    "StatefulSet {name}: {updated} of {} replicas updated (partition {partition})",
                    desired - partition
                ));
            }
        } else if status.update_revision.is_some()
            && status.update_revision != status.current_revision
        {
            return Err(format!(
                "StatefulSet {name}: rolling update to revision {} in progress ({updated} of \
                 {desired} updated)",
                status.update_revision.as_deref().unwrap_or("?")
            ));
        }
    }
    let available = status.available_replicas.unwrap_or(ready);
    if available < desired {
        return Err(format!(
            "StatefulSet {name}: {available} of {desired} replicas available"
        ));
    }
    Ok(format!("StatefulSet {name}: {ready}/{desired} ready"))
}

/// A DaemonSet: observed generation, updated and available pods on every node it targets.
pub fn daemon_set(d: &DaemonSet) -> Rollout {
    let name = d.metadata.name.as_deref().unwrap_or("?");
    let status = d.status.clone().unwrap_or_default();
    if let Some(p) = generation_pending(
        "DaemonSet",
        name,
        d.metadata.generation,
        status.observed_generation,
    ) {
        return Err(p);
    }
    let desired = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let available = status.number_available.unwrap_or(0);
    if updated < desired {
        return Err(format!(
            "DaemonSet {name}: {updated} of {desired} pods updated"
        ));
    }
    if available < desired {
        return Err(format!(
            "DaemonSet {name}: {available} of {desired} pods available"
        ));
    }
    Ok(format!("DaemonSet {name}: {available}/{desired} available"))
}

/// A ReplicaSet: observed generation, ready and available replicas.
pub fn replica_set(r: &ReplicaSet) -> Rollout {
    let name = r.metadata.name.as_deref().unwrap_or("?");
    let status = r.status.clone().unwrap_or_default();
    if let Some(p) = generation_pending(
        "ReplicaSet",
        name,
        r.metadata.generation,
        status.observed_generation,
    ) {
        return Err(p);
    }
    let desired = r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let available = status.available_replicas.unwrap_or(0);
    if status.replicas != desired || available < desired {
        return Err(format!(
            "ReplicaSet {name}: {available} of {desired} replicas available ({} exist)",
            status.replicas
        ));
    }
    Ok(format!(
        "ReplicaSet {name}: {available}/{desired} available"
    ))
}

/// Whether a pod counts at all: not being deleted, not completed.
pub fn is_counted(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Succeeded")
}

/// Whether the pod's `Ready` condition is true.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// `reason (message)`, or the reason alone without a message.
pub(crate) fn with_message(reason: &str, message: Option<&str>) -> String {
    match message.filter(|m| !m.is_empty()) {
        Some(m) => format!("{reason} ({m})"),
        None => reason.to_owned(),
    }
}

/// Why a pod is not ready, in words: container waiting reasons (`CrashLoopBackOff`,
/// `ImagePullBackOff`, ...), terminations, the scheduler's `Unschedulable` message, the phase.
pub fn not_ready_reason(pod: &Pod) -> String {
    let Some(status) = pod.status.as_ref() else {
        return "no status yet".to_owned();
    };
    let mut reasons = Vec::new();
    if status.phase.as_deref() == Some("Failed") {
        reasons.push(with_message(
            &format!(
                "Failed: {}",
                status.reason.as_deref().unwrap_or("pod failed")
            ),
            status.message.as_deref(),
        ));
    }
    for c in status.conditions.iter().flatten() {
        if c.type_ == "PodScheduled" && c.status == "False" {
            reasons.push(with_message(
                &format!(
                    "not scheduled: {}",
                    c.reason.as_deref().unwrap_or("Unschedulable")
                ),
                c.message.as_deref(),
            ));
        }
    }
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .map(|c| ("init container", c))
        .chain(
            status
                .container_statuses
                .iter()
                .flatten()
                .map(|c| ("container", c)),
        );
    for (what, c) in containers {
        let state = c.state.as_ref();
        if let Some(w) = state.and_then(|s| s.waiting.as_ref()) {
            let reason = w.reason.as_deref().unwrap_or("Waiting");
            if reason == "PodInitializing" || reason == "ContainerCreating" && w.message.is_none() {
                continue;
            }
            let last = c
                .last_state
                .as_ref()
                .and_then(|l| l.terminated.as_ref())
                .map(|t| {
                    format!(
                        "; last exit {} {}",
                        t.exit_code,
                        t.reason.as_deref().unwrap_or("")
                    )
                    .trim_end()
                    .to_owned()
                })
                .unwrap_or_default();
            reasons.push(format!(
                "{what} {} {}{} (restarts {})",
                c.name,
                with_message(reason, w.message.as_deref()),
                last,
                c.restart_count
            ));
        } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            if what == "init container" && t.exit_code == 0 {
                continue;
            }
            reasons.push(format!(
                "{what} {} terminated: {} exit {}",
                c.name,
                with_message(
                    t.reason.as_deref().unwrap_or("Terminated"),
                    t.message.as_deref()
                ),
                t.exit_code
            ));
        } else if !c.ready && what == "container" {
            reasons.push(format!(
                "container {} running but not ready (readiness probe; restarts {})",
                c.name, c.restart_count
            ));
        }
    }
    if reasons.is_empty() {
        reasons.push(format!(
            "phase {}",
            status.phase.as_deref().unwrap_or("Unknown")
        ));
    }
    reasons.join("; ")
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
