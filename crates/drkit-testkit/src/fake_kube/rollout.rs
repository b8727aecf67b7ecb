//! The simulated controllers (deployment, replica set, garbage collector) and kubelets (of
//! pods, and of nodes registering): the rollout and node readiness, computed lazily from
//! timestamps at each request.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value, json};

use super::FAKE_NODE;
use super::discovery::resource;
use super::json::{now_rfc3339, set_path, template_hash};
use super::store::{Key, Store, has_readiness_probe};

impl Store {
    /// Brings every simulated controller up to `now`.
    pub(super) fn reconcile(&mut self, now: Instant) {
        self.collect_garbage();
        self.deployment_controller();
        self.collect_garbage();
        self.replica_set_controller(now);
        self.collect_garbage();
        self.kubelet(now);
        self.node_kubelet(now);
        self.replica_set_status();
        self.deployment_status();
    }

    /// Deletes every object all of whose owners are gone.
    fn collect_garbage(&mut self) {
        loop {
            let uids: BTreeSet<String> = self
                .objects
                .values()
                .filter_map(|e| e.value.pointer("/metadata/uid").and_then(Value::as_str))
                .map(str::to_owned)
                .collect();
            let orphans: Vec<Key> = self
                .objects
                .iter()
                .filter(|(_, e)| {
                    e.value
                        .pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(|refs| {
                            !refs.is_empty()
                                && refs.iter().all(|o| {
                                    o.get("uid")
                                        .and_then(Value::as_str)
                                        .is_none_or(|u| !uids.contains(u))
                                })
                        })
                })
                .map(|(k, _)| k.clone())
                .collect();
            if orphans.is_empty() {
                return;
            }
            for k in orphans {
                self.objects.remove(&k);
            }
            self.rv += 1;
        }
    }

    fn owner_ref(api_version: &str, kind: &str, obj: &Value) -> Value {
        json!({"apiVersion": api_version, "kind": kind,
               "name": obj.pointer("/metadata/name").cloned().unwrap_or(Value::Null),
               "uid": obj.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
               "controller": true, "blockOwnerDeletion": true})
    }

    /// Each Deployment gets one ReplicaSet for its current pod template.
    fn deployment_controller(&mut self) {
        let Some(rs_type) = resource("apps", "v1", "replicasets") else {
            return;
        };
        for key in self.keys_of("apps", "deployments") {
            let Some(d) = self.objects.get(&key).map(|e| e.value.clone()) else {
                continue;
            };
            let Some(uid) = d.pointer("/metadata/uid").and_then(Value::as_str) else {
                continue;
            };
            let template = d.pointer("/spec/template").cloned().unwrap_or(Value::Null);
            let hash = template_hash(&template);
            let rs_name = format!("{}-{hash}", key.name);
            for old in self.owned("apps", "replicasets", &key.namespace, uid) {
                if old.name != rs_name {
                    self.objects.remove(&old);
                    self.rv += 1;
                }
            }
            let replicas = d
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let mut template = template;
            set_path(
                &mut template,
                &["metadata", "labels", "pod-template-hash"],
                json!(hash),
            );
            let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
            set_path(
                &mut selector,
                &["matchLabels", "pod-template-hash"],
                json!(hash),
            );
            let labels = template
                .pointer("/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            let rs_key = Key::new("apps", "v1", "replicasets", &key.namespace, &rs_name);
            let spec = json!({"replicas": replicas, "selector": selector, "template": template,
                              "minReadySeconds": 0});
            match self.objects.get(&rs_key).map(|e| e.value.clone()) {
                None => {
                    let body = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "metadata": {"name": rs_name, "namespace": key.namespace,
                            "labels": labels,
                            "annotations": {"deployment.kubernetes.io/desired-replicas":
                                replicas.to_string()},
                            "ownerReferences": [Self::owner_ref("apps/v1", "Deployment", &d)]},
                        "spec": spec});
                    let _ = self.create(rs_type, &rs_key, &body, None, false);
                }
                Some(rs) if rs.pointer("/spec/replicas") != Some(&json!(replicas)) => {
                    let mut new = rs;
                    set_path(&mut new, &["spec", "replicas"], json!(replicas));
                    set_path(
                        &mut new,
                        &[
                            "metadata",
                            "annotations",
                            "deployment.kubernetes.io/desired-replicas",
                        ],
                        json!(replicas.to_string()),
                    );
                    let _ = self.update(rs_type, &rs_key, new, false);
                }
                Some(_) => {}
            }
        }
    }

    /// Each ReplicaSet gets pods `<rs>-0` .. `<rs>-(replicas-1)`.
    fn replica_set_controller(&mut self, now: Instant) {
        let Some(pod_type) = resource("", "v1", "pods") else {
            return;
        };
        for key in self.keys_of("apps", "replicasets") {
            let Some(rs) = self.objects.get(&key).map(|e| e.value.clone()) else {
                continue;
            };
            let Some(uid) = rs.pointer("/metadata/uid").and_then(Value::as_str) else {
                continue;
            };
            let replicas = rs
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let wanted: BTreeSet<String> = (0..replicas.max(0))
                .map(|n| format!("{}-{n}", key.name))
                .collect();
            for pod in self.owned("", "pods", &key.namespace, uid) {
                if !wanted.contains(&pod.name) {
                    self.objects.remove(&pod);
                    self.rv += 1;
                }
            }
            for name in &wanted {
                let pod_key = Key::new("", "v1", "pods", &key.namespace, name);
                if self.objects.contains_key(&pod_key) {
                    continue;
                }
                let mut spec = rs
                    .pointer("/spec/template/spec")
                    .cloned()
                    .unwrap_or(json!({}));
                set_path(&mut spec, &["nodeName"], json!(FAKE_NODE));
                let labels = rs
                    .pointer("/spec/template/metadata/labels")
                    .cloned()
                    .unwrap_or(json!({}));
                let body = json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": key.namespace, "labels": labels,
                        "ownerReferences": [Self::owner_ref("apps/v1", "ReplicaSet", &rs)]},
                    "spec": spec});
                let _ = self.create(pod_type, &pod_key, &body, None, false);
                if let Some(e) = self.objects.get_mut(&pod_key) {
                    e.created = now;
                }
            }
        }
    }

    /// Every pod goes ContainerCreating -> (Running, not ready) -> Ready over the delay.
    fn kubelet(&mut self, now: Instant) {
        let delay = self.rollout_delay;
        for key in self.keys_of("", "pods") {
            let Some(e) = self.objects.get(&key) else {
                continue;
            };
            let spec = e.value.get("spec").cloned().unwrap_or(json!({}));
            let probe = has_readiness_probe(&spec);
            let age = now.saturating_duration_since(e.created);
            let started_after = if probe { delay / 2 } else { delay };
            let wall = |d: Duration| now_rfc3339(e.created_wall + d);
            let created = wall(Duration::ZERO);
            let ip = match e.value.pointer("/status/podIP") {
                Some(Value::String(ip)) => Some(ip.clone()),
                _ => None,
            };
            let containers = spec
                .get("containers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let (phase, ready_at) = if age < started_after {
                ("Pending", None)
            } else if age < delay {
                ("Running", None)
            } else {
                ("Running", Some(wall(delay)))
            };
            let running_since = wall(started_after);
            let ip = if phase == "Running" {
                Some(ip.unwrap_or_else(|| {
                    self.pod_ips += 1;
                    format!(
                        "10.244.{}.{}",
                        (self.pod_ips / 250) % 250,
                        self.pod_ips % 250 + 1
                    )
                }))
            } else {
                None
            };
            let statuses: Vec<Value> = containers
                .iter()
                .map(|c| {
                    let name = c.get("name").cloned().unwrap_or(Value::Null);
                    let image = c.get("image").cloned().unwrap_or(Value::Null);
                    let has_probe = c.get("readinessProbe").is_some();
                    let (state, ready, started) = match phase {
                        "Pending" => (
                            json!({"waiting": {"reason": "ContainerCreating"}}),
                            false,
                            false,
                        ),
                        _ => (
                            json!({"running": {"startedAt": running_since}}),
                            ready_at.is_some() || !has_probe,
                            true,
                        ),
                    };
                    json!({"name": name, "image": image, "imageID": "", "ready": ready,
                           "started": started, "restartCount": 0, "state": state})
                })
                .collect();
            let unready: Vec<String> = statuses
                .iter()
                .filter(|s| s.get("ready") != Some(&json!(true)))
                .filter_map(|s| s.get("name").and_then(Value::as_str).map(str::to_owned))
                .collect();
            let ready_condition = |type_: &str| match &ready_at {
                Some(at) => json!({"type": type_, "status": "True", "lastProbeTime": null,
                                   "lastTransitionTime": at}),
                None => json!({"type": type_, "status": "False", "lastProbeTime": null,
                    "lastTransitionTime": created, "reason": "ContainersNotReady",
                    "message": format!("containers with unready status: [{}]", unready.join(" "))}),
            };
            let mut status = json!({
                "phase": phase,
                "conditions": [
                    {"type": "PodReadyToStartContainers",
                     "status": if phase == "Pending" { "False" } else { "True" },
                     "lastProbeTime": null, "lastTransitionTime": created},
                    {"type": "Initialized", "status": "True", "lastProbeTime": null,
                     "lastTransitionTime": created},
                    ready_condition("Ready"),
                    ready_condition("ContainersReady"),
                    {"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                     "lastTransitionTime": created},
                ],
                "hostIP": "10.0.0.1",
                "hostIPs": [{"ip": "10.0.0.1"}],
                "startTime": created,
                "qosClass": "BestEffort",
                "containerStatuses": statuses,
            });
            if let Some(ip) = ip {
                set_path(&mut status, &["podIP"], json!(ip));
                set_path(&mut status, &["podIPs"], json!([{"ip": ip}]));
            }
            self.set_status(&key, status);
        }
    }

    /// Every Node whose status no client wrote is `Ready=False` (`KubeletNotReady`: its
    /// network plugin is starting) for the delay after its creation, then `Ready=True`.
    fn node_kubelet(&mut self, now: Instant) {
        let delay = self.rollout_delay;
        for key in self.keys_of("", "nodes") {
            let Some(e) = self.objects.get(&key) else {
                continue;
            };
            if e.client_status {
                continue;
            }
            let ready = now.saturating_duration_since(e.created) >= delay;
            let created = now_rfc3339(e.created_wall);
            let since = if ready {
                now_rfc3339(e.created_wall + delay)
            } else {
                created.clone()
            };
            let healthy = |type_: &str, reason: &str, message: &str| {
                json!({"type": type_, "status": "False", "reason": reason, "message": message,
                       "lastHeartbeatTime": created, "lastTransitionTime": created})
            };
            let (status, reason, message) = if ready {
                ("True", "KubeletReady", "kubelet is posting ready status")
            } else {
                (
                    "False",
                    "KubeletNotReady",
                    "container runtime network not ready: NetworkReady=false \
                     reason:NetworkPluginNotReady message:Network plugin returns error: cni \
                     plugin not initialized",
                )
            };
            let status = json!({"conditions": [
                healthy("MemoryPressure", "KubeletHasSufficientMemory",
                        "kubelet has sufficient memory available"),
                healthy("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                healthy("PIDPressure", "KubeletHasSufficientPID",
                        "kubelet has sufficient PID available"),
                {"type": "Ready", "status": status, "reason": reason, "message": message,
                 "lastHeartbeatTime": since, "lastTransitionTime": since},
            ]});
            self.set_status(&key, status);
        }
    }

    fn pods_of(&self, namespace: &str, rs_uid: &str) -> (i64, i64) {
        let pods = self.owned("", "pods", namespace, rs_uid);
        let total = i64::try_from(pods.len()).unwrap_or(i64::MAX);
        let ready = pods
            .iter()
            .filter_map(|k| self.objects.get(k))
            .filter(|e| {
                e.value
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c.get("type") == Some(&json!("Ready"))
                                && c.get("status") == Some(&json!("True"))
                        })
                    })
            })
            .count();
        (total, i64::try_from(ready).unwrap_or(i64::MAX))
    }

    fn replica_set_status(&mut self) {
        for key in self.keys_of("apps", "replicasets") {
            let Some(rs) = self.objects.get(&key).map(|e| e.value.clone()) else {
                continue;
            };
            let uid = rs
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let (total, ready) = self.pods_of(&key.namespace, uid);
            let mut status = Map::new();
            status.insert("replicas".into(), json!(total));
            for (k, v) in [
                ("fullyLabeledReplicas", total),
                ("readyReplicas", ready),
                ("availableReplicas", ready),
            ] {
                if v > 0 {
                    status.insert(k.into(), json!(v));
                }
            }
            status.insert(
                "observedGeneration".into(),
                rs.pointer("/metadata/generation")
                    .cloned()
                    .unwrap_or(json!(1)),
            );
            self.set_status(&key, Value::Object(status));
        }
    }

    fn deployment_status(&mut self) {
        let wall = now_rfc3339(SystemTime::now());
        for key in self.keys_of("apps", "deployments") {
            let Some(d) = self.objects.get(&key).map(|e| e.value.clone()) else {
                continue;
            };
            let uid = d
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let desired = d
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let hash = template_hash(&d.pointer("/spec/template").cloned().unwrap_or(Value::Null));
            let current_rs = format!("{}-{hash}", key.name);
            let (mut total, mut updated, mut available) = (0, 0, 0);
            for rs in self.owned("apps", "replicasets", &key.namespace, uid) {
                let rs_uid = self
                    .objects
                    .get(&rs)
                    .and_then(|e| e.value.pointer("/metadata/uid"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let (t, r) = self.pods_of(&key.namespace, &rs_uid);
                total += t;
                available += r;
                if rs.name == current_rs {
                    updated += t;
                }
            }
            let max_unavailable = d
                .pointer("/spec/strategy/rollingUpdate/maxUnavailable")
                .map_or(desired / 4, |v| match v {
                    Value::Number(n) => n.as_i64().unwrap_or(0),
                    Value::String(s) => s
                        .strip_suffix('%')
                        .and_then(|p| p.parse::<i64>().ok())
                        .map_or(0, |p| desired * p / 100),
                    _ => 0,
                });
            let complete = updated == desired && available == desired && total == desired;
            let previous = d
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let condition = |type_: &str, status: &str, reason: &str, message: String| {
                let same = previous.iter().find(|c| {
                    c.get("type") == Some(&json!(type_))
                        && c.get("status") == Some(&json!(status))
                        && c.get("reason") == Some(&json!(reason))
                });
                let since = same
                    .and_then(|c| c.get("lastTransitionTime"))
                    .cloned()
                    .unwrap_or_else(|| json!(wall));
                let updated_at = same
                    .and_then(|c| c.get("lastUpdateTime"))
                    .cloned()
                    .unwrap_or_else(|| json!(wall));
                json!({"type": type_, "status": status, "reason": reason, "message": message,
                       "lastUpdateTime": updated_at, "lastTransitionTime": since})
            };
            let available_condition = if available >= desired - max_unavailable {
                condition(
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.".to_owned(),
                )
            } else {
                condition(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.".to_owned(),
                )
            };
            let progressing = if complete {
                condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    format!("ReplicaSet \"{current_rs}\" has successfully progressed."),
                )
            } else {
                condition(
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    format!("ReplicaSet \"{current_rs}\" is progressing."),
                )
            };
            let mut status = Map::new();
            status.insert(
                "observedGeneration".into(),
                d.pointer("/metadata/generation")
                    .cloned()
                    .unwrap_or(json!(1)),
            );
            for (k, v) in [
                ("replicas", total),
                ("updatedReplicas", updated),
                ("readyReplicas", available),
                ("availableReplicas", available),
                (
                    "unavailableReplicas",
                    (total.max(desired) - available).max(0),
                ),
            ] {
                if v > 0 {
                    status.insert(k.into(), json!(v));
                }
            }
            status.insert(
                "conditions".into(),
                json!([available_condition, progressing]),
            );
            self.set_status(&key, Value::Object(status));
        }
    }
}
