//! The object store: keys, entries, server-set fields and defaults, validation, create and
//! update.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::discovery::{ResourceType, resource};
use super::error::ApiError;
use super::json::{default_key, now_rfc3339, set_path, str_map};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    pub(super) group: String,
    pub(super) version: String,
    pub(super) plural: String,
    /// `""` for cluster-scoped objects.
    pub(super) namespace: String,
    pub(super) name: String,
}

impl Key {
    pub(super) fn new(
        group: &str,
        version: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            plural: plural.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    fn is(&self, group: &str, plural: &str) -> bool {
        self.group == group && self.plural == plural
    }
}

pub(super) struct Entry {
    pub(super) value: Value,
    /// The last configuration each field manager applied (the fake's stand-in for
    /// `managedFields`).
    pub(super) applied: BTreeMap<String, Value>,
    pub(super) created: Instant,
    pub(super) created_wall: SystemTime,
    /// A client wrote its `status` (a Node created with one, or a `PATCH` of `.../status`):
    /// the simulated kubelet of nodes leaves it alone.
    pub(super) client_status: bool,
}

pub(super) struct Store {
    pub(super) objects: BTreeMap<Key, Entry>,
    pub(super) rv: u64,
    pub(super) uids: u64,
    pub(super) cluster_ips: u32,
    pub(super) pod_ips: u32,
    pub(super) rollout_delay: Duration,
}

fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

pub(super) fn has_readiness_probe(pod_spec: &Value) -> bool {
    pod_spec
        .get("containers")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c.get("readinessProbe").is_some()))
}

fn default_probe(probe: &mut Value) {
    for (k, v) in [
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ] {
        default_key(probe, k, json!(v));
    }
    if let Some(h) = probe.get_mut("httpGet") {
        default_key(h, "scheme", json!("HTTP"));
    }
}

/// A few of the defaults a real API server sets on a pod spec.
fn default_pod_spec(spec: &mut Value) {
    default_key(spec, "restartPolicy", json!("Always"));
    default_key(spec, "terminationGracePeriodSeconds", json!(30));
    default_key(spec, "dnsPolicy", json!("ClusterFirst"));
    default_key(spec, "securityContext", json!({}));
    default_key(spec, "schedulerName", json!("default-scheduler"));
    let Some(containers) = spec.get_mut("containers").and_then(Value::as_array_mut) else {
        return;
    };
    for c in containers {
        let image = c
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let tag = image.rsplit('/').next().unwrap_or_default();
        let pull = if tag.contains('@') || (tag.contains(':') && !tag.ends_with(":latest")) {
            "IfNotPresent"
        } else {
            "Always"
        };
        default_key(c, "imagePullPolicy", json!(pull));
        default_key(c, "terminationMessagePath", json!("/dev/termination-log"));
        default_key(c, "terminationMessagePolicy", json!("File"));
        default_key(c, "resources", json!({}));
        if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports {
                default_key(p, "protocol", json!("TCP"));
            }
        }
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            if let Some(p) = c.get_mut(probe) {
                default_probe(p);
            }
        }
    }
}

impl Store {
    pub(super) fn new(rollout_delay: Duration) -> Self {
        let mut store = Self {
            objects: BTreeMap::new(),
            rv: 0,
            uids: 0,
            cluster_ips: 0,
            pod_ips: 0,
            rollout_delay,
        };
        let ns = resource("", "v1", "namespaces");
        for name in ["default", "kube-node-lease", "kube-public", "kube-system"] {
            if let Some(r) = ns {
                let key = Key::new("", "v1", "namespaces", "", name);
                let body = json!({"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": name}});
                let _ = store.create(r, &key, &body, None, false);
            }
        }
        store
    }

    fn next_uid(&mut self) -> String {
        self.uids += 1;
        format!("fa4e0000-0000-4000-8000-{:012x}", self.uids)
    }

    /// The server's defaults for `r` on `obj` (idempotent; run after every change).
    fn defaults(&mut self, r: &ResourceType, obj: &mut Value, creating: bool) {
        match (r.group, r.kind) {
            ("", "Namespace") => {
                let name = obj
                    .pointer("/metadata/name")
                    .cloned()
                    .unwrap_or(Value::Null);
                set_path(
                    obj,
                    &["metadata", "labels", "kubernetes.io/metadata.name"],
                    name,
                );
                if obj.pointer("/spec/finalizers").is_none() {
                    set_path(obj, &["spec", "finalizers"], json!(["kubernetes"]));
                }
                if creating {
                    set_path(obj, &["status"], json!({"phase": "Active"}));
                }
            }
            ("", "Service") => {
                if obj.get("spec").is_none() {
                    set_path(obj, &["spec"], json!({}));
                }
                let needs_ip = obj.pointer("/spec/clusterIP").is_none();
                if needs_ip {
                    self.cluster_ips += 1;
                    let n = self.cluster_ips;
                    let ip = format!("10.96.{}.{}", (n / 250) % 250, n % 250 + 1);
                    set_path(obj, &["spec", "clusterIP"], json!(ip));
                    set_path(obj, &["spec", "clusterIPs"], json!([ip]));
                }
                if let Some(spec) = obj.get_mut("spec") {
                    default_key(spec, "type", json!("ClusterIP"));
                    default_key(spec, "sessionAffinity", json!("None"));
                    default_key(spec, "ipFamilies", json!(["IPv4"]));
                    default_key(spec, "ipFamilyPolicy", json!("SingleStack"));
                    default_key(spec, "internalTrafficPolicy", json!("Cluster"));
                    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                        for p in ports {
                            default_key(p, "protocol", json!("TCP"));
                            let port = p.get("port").cloned().unwrap_or(Value::Null);
                            default_key(p, "targetPort", port);
                        }
                    }
                }
                if creating {
                    set_path(obj, &["status"], json!({"loadBalancer": {}}));
                }
            }
            ("", "Pod") => {
                if let Some(spec) = obj.get_mut("spec") {
                    default_pod_spec(spec);
                }
            }
            ("apps", kind) => {
                let Some(spec) = obj.get_mut("spec") else {
                    return;
                };
                if kind != "DaemonSet" {
                    default_key(spec, "replicas", json!(1));
                }
                default_key(spec, "revisionHistoryLimit", json!(10));
                match kind {
                    "Deployment" => {
                        default_key(spec, "progressDeadlineSeconds", json!(600));
                        default_key(
                            spec,
                            "strategy",
                            json!({"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
                        );
                    }
                    "StatefulSet" => {
                        default_key(spec, "podManagementPolicy", json!("OrderedReady"));
                        default_key(
                            spec,
                            "updateStrategy",
                            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                        );
                    }
                    "DaemonSet" => {
                        default_key(
                            spec,
                            "updateStrategy",
                            json!({"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
                        );
                    }
                    _ => {}
                }
                if let Some(pod_spec) = spec.pointer_mut("/template/spec") {
                    default_pod_spec(pod_spec);
                }
            }
            _ => {}
        }
    }

    /// The few validations the fake does.
    fn validate(r: &ResourceType, obj: &Value) -> Result<(), ApiError> {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !is_dns_subdomain(name) {
            return Err(ApiError::invalid(
                r,
                name,
                "metadata.name",
                "Invalid value: a lowercase RFC 1123 subdomain must consist of lower case \
                 alphanumeric characters, '-' or '.', and must start and end with an \
                 alphanumeric character",
            ));
        }
        let pod_spec = match (r.group, r.kind) {
            ("", "Pod") => obj.get("spec"),
            ("apps", _) => {
                if let Some(n) = obj.pointer("/spec/replicas")
                    && !n
                        .as_i64()
                        .is_some_and(|n| n >= 0 && i32::try_from(n).is_ok())
                {
                    return Err(ApiError::invalid(
                        r,
                        name,
                        "spec.replicas",
                        "Invalid value: must be greater than or equal to 0",
                    ));
                }
                let selector = str_map(obj.pointer("/spec/selector/matchLabels"));
                if selector.is_empty() {
                    return Err(ApiError::invalid(
                        r,
                        name,
                        "spec.selector",
                        "Required value (this fake needs spec.selector.matchLabels)",
                    ));
                }
                let labels = str_map(obj.pointer("/spec/template/metadata/labels"));
                if selector.iter().any(|(k, v)| labels.get(k) != Some(v)) {
                    return Err(ApiError::invalid(
                        r,
                        name,
                        "spec.template.metadata.labels",
                        "Invalid value: `selector` does not match template `labels`",
                    ));
                }
                obj.pointer("/spec/template/spec")
            }
            _ => return Ok(()),
        };
        let containers = pod_spec
            .and_then(|s| s.get("containers"))
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ApiError::invalid(r, name, "spec.containers", "Required value"))?;
        for c in containers {
            if c.get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
                || c.get("image")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
            {
                return Err(ApiError::invalid(
                    r,
                    name,
                    "spec.containers",
                    "Required value: every container needs a name and an image",
                ));
            }
        }
        Ok(())
    }

    fn ensure_namespace(&self, r: &ResourceType, key: &Key) -> Result<(), ApiError> {
        if !r.namespaced {
            return Ok(());
        }
        let ns = Key::new("", "v1", "namespaces", "", &key.namespace);
        if self.objects.contains_key(&ns) {
            Ok(())
        } else {
            Err(ApiError {
                details: json!({"name": key.namespace, "kind": "namespaces"}),
                ..ApiError::new(
                    404,
                    "NotFound",
                    format!("namespaces \"{}\" not found", key.namespace),
                )
            })
        }
    }

    /// Creates `key` from `body` (already checked against the URL).
    pub(super) fn create(
        &mut self,
        r: &ResourceType,
        key: &Key,
        body: &Value,
        applied: Option<(String, Value)>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        self.ensure_namespace(r, key)?;
        let mut obj = body.clone();
        // Nodes keep a status given on create (the kubelet registers its node with one), as
        // a real API server's node strategy does; every other kind loses it.
        let keeps_status = r.group.is_empty() && r.kind == "Node";
        if let Some(o) = obj.as_object_mut()
            && !keeps_status
        {
            o.remove("status");
        }
        let client_status = obj.get("status").is_some();
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in ["resourceVersion", "managedFields", "deletionTimestamp"] {
                meta.remove(k);
            }
        }
        self.defaults(r, &mut obj, true);
        Self::validate(r, &obj)?;
        let wall = SystemTime::now();
        let uid = self.next_uid();
        set_path(&mut obj, &["metadata", "uid"], json!(uid));
        set_path(
            &mut obj,
            &["metadata", "creationTimestamp"],
            json!(now_rfc3339(wall)),
        );
        set_path(&mut obj, &["metadata", "generation"], json!(1));
        if dry_run {
            return Ok(obj);
        }
        self.rv += 1;
        set_path(
            &mut obj,
            &["metadata", "resourceVersion"],
            json!(self.rv.to_string()),
        );
        let mut entry = Entry {
            value: obj.clone(),
            applied: BTreeMap::new(),
            created: Instant::now(),
            created_wall: wall,
            client_status,
        };
        if let Some((manager, config)) = applied {
            entry.applied.insert(manager, config);
        }
        self.objects.insert(key.clone(), entry);
        Ok(obj)
    }

    /// Writes `new` over `key` unless nothing changes; server fields and `status` are kept.
    pub(super) fn update(
        &mut self,
        r: &ResourceType,
        key: &Key,
        mut new: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let Some(old) = self.objects.get(key).map(|e| e.value.clone()) else {
            return Err(ApiError::not_found(r, &key.name));
        };
        for field in [
            "uid",
            "creationTimestamp",
            "resourceVersion",
            "generation",
            "deletionTimestamp",
        ] {
            match old.pointer(&format!("/metadata/{field}")) {
                Some(v) => set_path(&mut new, &["metadata", field], v.clone()),
                None => {
                    if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                        m.remove(field);
                    }
                }
            }
        }
        if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
        match old.get("status") {
            Some(s) => set_path(&mut new, &["status"], s.clone()),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
        self.defaults(r, &mut new, false);
        Self::validate(r, &new)?;
        if new == old {
            return Ok(old);
        }
        if new.get("spec") != old.get("spec") {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            set_path(&mut new, &["metadata", "generation"], json!(generation + 1));
        }
        if dry_run {
            return Ok(new);
        }
        self.rv += 1;
        set_path(
            &mut new,
            &["metadata", "resourceVersion"],
            json!(self.rv.to_string()),
        );
        if let Some(e) = self.objects.get_mut(key) {
            e.value = new.clone();
        }
        Ok(new)
    }

    /// Writes `status` of `key` if it changed (a controller's status update).
    pub(super) fn set_status(&mut self, key: &Key, status: Value) {
        let Some(e) = self.objects.get_mut(key) else {
            return;
        };
        if e.value.get("status") == Some(&status) {
            return;
        }
        self.rv += 1;
        set_path(&mut e.value, &["status"], status);
        set_path(
            &mut e.value,
            &["metadata", "resourceVersion"],
            json!(self.rv.to_string()),
        );
    }

    pub(super) fn keys_of(&self, group: &str, plural: &str) -> Vec<Key> {
        self.objects
            .keys()
            .filter(|k| k.is(group, plural))
            .cloned()
            .collect()
    }

    /// The keys of `group`/`plural` objects in `namespace` whose controller is `owner_uid`.
    pub(super) fn owned(
        &self,
        group: &str,
        plural: &str,
        namespace: &str,
        owner_uid: &str,
    ) -> Vec<Key> {
        self.objects
            .iter()
            .filter(|(k, e)| {
                k.is(group, plural)
                    && k.namespace == namespace
                    && e.value
                        .pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(|refs| {
                            refs.iter().any(|o| {
                                o.get("uid").and_then(Value::as_str) == Some(owner_uid)
                                    && o.get("controller").and_then(Value::as_bool) == Some(true)
                            })
                        })
            })
            .map(|(k, _)| k.clone())
            .collect()
    }
}
