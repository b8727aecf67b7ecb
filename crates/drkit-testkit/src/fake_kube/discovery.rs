//! The resource catalog (what the fake serves) and the discovery documents built from it.

use std::collections::BTreeSet;

use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
pub(super) struct ResourceType {
    pub(super) group: &'static str,
    pub(super) version: &'static str,
    pub(super) plural: &'static str,
    pub(super) singular: &'static str,
    pub(super) kind: &'static str,
    pub(super) namespaced: bool,
    pub(super) short_names: &'static [&'static str],
    pub(super) scale: bool,
    pub(super) status: bool,
}

impl ResourceType {
    pub(super) fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, `pods` (as a real server names it in messages).
    pub(super) fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

#[allow(clippy::too_many_arguments)] // one row of the table below
const fn rt(
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    scale: bool,
    status: bool,
) -> ResourceType {
    ResourceType {
        group,
        version: "v1",
        plural,
        singular,
        kind,
        namespaced,
        short_names,
        scale,
        status,
    }
}

/// What the fake serves: (group, plural, singular, kind, namespaced, short names, has
/// `scale`, has `status`), all at version `v1`.
#[rustfmt::skip]
const RESOURCES: &[ResourceType] = &[
    rt("", "configmaps", "configmap", "ConfigMap", true, &["cm"], false, false),
    rt("", "namespaces", "namespace", "Namespace", false, &["ns"], false, true),
    rt("", "nodes", "node", "Node", false, &["no"], false, true),
    rt("", "pods", "pod", "Pod", true, &["po"], false, true),
    rt("", "secrets", "secret", "Secret", true, &[], false, false),
    rt("", "serviceaccounts", "serviceaccount", "ServiceAccount", true, &["sa"], false, false),
    rt("", "services", "service", "Service", true, &["svc"], false, true),
    rt("apps", "daemonsets", "daemonset", "DaemonSet", true, &["ds"], false, true),
    rt("apps", "deployments", "deployment", "Deployment", true, &["deploy"], true, true),
    rt("apps", "replicasets", "replicaset", "ReplicaSet", true, &["rs"], true, true),
    rt("apps", "statefulsets", "statefulset", "StatefulSet", true, &["sts"], true, true),
];

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

pub(super) fn resource(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource of objects of `kind` at `api_version` (`v1`, `apps/v1`).
pub(super) fn resource_of(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

pub(super) fn serves(group: &str, version: &str) -> bool {
    RESOURCES
        .iter()
        .any(|r| r.group == group && r.version == version)
}

pub(super) fn groups() -> Vec<&'static str> {
    let set: BTreeSet<&str> = RESOURCES
        .iter()
        .map(|r| r.group)
        .filter(|g| !g.is_empty())
        .collect();
    set.into_iter().collect()
}

pub(super) fn resource_list(group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for r in RESOURCES
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        resources.push(json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": VERBS, "shortNames": r.short_names,
        }));
        if r.scale {
            resources.push(json!({
                "name": format!("{}/scale", r.plural), "singularName": "", "namespaced": true,
                "group": "autoscaling", "version": "v1", "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        if r.status {
            resources.push(json!({
                "name": format!("{}/status", r.plural), "singularName": "",
                "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
           "resources": resources})
}

pub(super) fn api_group(group: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv],
           "preferredVersion": gv})
}
