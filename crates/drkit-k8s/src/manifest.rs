//! Manifests: YAML (or JSON) files, each with one or more documents, read from a file or a
//! folder, put in a safe apply order.
//!
//! - A folder contributes its `*.yaml`, `*.yml` and `*.json` files, by file name (like
//!   `kubectl apply -f <folder>`, not recursive).
//! - Empty documents are skipped; a `kind: List` (or `*List`) contributes its `items`.
//! - Order: Namespaces, then CustomResourceDefinitions, then the kinds others depend on
//!   (quotas, service accounts, secrets, config maps, storage, RBAC, services), then workloads,
//!   then everything else (custom resources last); within one rank, the order of the files and
//!   documents. The sort is stable.

use std::fmt;
use std::path::{Path, PathBuf};

use drkit_core::ActionError;
use serde_json::Value;

/// One object of a manifest, with where it came from.
///
/// Documents are numbered from 1, counting only non-empty documents (a document with only
/// comments is skipped by the YAML parser and not counted).
#[derive(Clone, Debug, PartialEq)]
pub struct ManifestObject {
    /// `file.yaml#2` (1-based number among the file's non-empty documents).
    pub source: String,
    /// The object as written (with `apiVersion`, `kind`, `metadata.name`).
    pub value: Value,
    /// The API group (`""` for the core group).
    pub group: String,
    /// The API version (`v1`).
    pub version: String,
    /// The kind (`Deployment`).
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, as written.
    pub namespace: Option<String>,
}

impl ManifestObject {
    /// `Kind namespace/name` or `Kind name`, for messages and outputs.
    pub fn id(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }

    /// `apiVersion` as written (`apps/v1`, `v1`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether this object is a CustomResourceDefinition defining `group`/`kind`.
    pub fn defines(&self, group: &str, kind: &str) -> bool {
        self.kind == "CustomResourceDefinition"
            && self.value.pointer("/spec/group").and_then(Value::as_str) == Some(group)
            && self
                .value
                .pointer("/spec/names/kind")
                .and_then(Value::as_str)
                == Some(kind)
    }
}

impl fmt::Display for ManifestObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

/// The apply rank of a kind: lower first.
pub fn kind_rank(kind: &str) -> u8 {
    const ORDER: &[&str] = &[
        "Namespace",
        "CustomResourceDefinition",
        "PriorityClass",
        "NetworkPolicy",
        "ResourceQuota",
        "LimitRange",
        "PodDisruptionBudget",
        "ServiceAccount",
        "Secret",
        "ConfigMap",
        "StorageClass",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "DaemonSet",
        "Pod",
        "ReplicationController",
        "ReplicaSet",
        "Deployment",
        "HorizontalPodAutoscaler",
        "StatefulSet",
        "Job",
        "CronJob",
        "IngressClass",
        "Ingress",
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ];
    ORDER
        .iter()
        .position(|k| *k == kind)
        .and_then(|p| u8::try_from(p).ok())
        .unwrap_or(u8::MAX)
}

/// Sorts `objects` into apply order (stable).
pub fn sort_for_apply(objects: &mut [ManifestObject]) {
    objects.sort_by_key(|o| kind_rank(&o.kind));
}

fn invalid(message: impl Into<String>) -> ActionError {
    ActionError::invalid_input(message).with_operation("read manifests")
}

/// The files `path` stands for: itself, or a folder's manifest files by name.
pub fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, ActionError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let entries = std::fs::read_dir(path)
        .map_err(|e| invalid(format!("cannot list {}: {e}", path.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| invalid(format!("cannot list {}: {e}", path.display())))?;
        let file = entry.path();
        let is_manifest = file
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        if is_manifest && file.is_file() {
            files.push(file);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(invalid(format!(
            "{} holds no .yaml, .yml or .json file",
            path.display()
        )));
    }
    Ok(files)
}

/// Parses the documents of one file's `text`; `name` labels the sources.
pub fn parse_documents(name: &str, text: &str) -> Result<Vec<ManifestObject>, ActionError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| invalid(format!("{name}: not valid YAML: {e}")))?;
    let mut out = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        let source = format!("{name}#{}", i + 1);
        push_object(&source, doc, &mut out)?;
    }
    Ok(out)
}

fn push_object(source: &str, doc: Value, out: &mut Vec<ManifestObject>) -> Result<(), ActionError> {
    if doc.is_null() || doc.as_object().is_some_and(serde_json::Map::is_empty) {
        return Ok(());
    }
    let kind = doc
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{source}: the document has no `kind`")))?
        .to_owned();
    if kind.ends_with("List")
        && let Some(items) = doc.get("items").and_then(Value::as_array)
    {
        for (j, item) in items.iter().enumerate() {
            push_object(&format!("{source}.items[{j}]"), item.clone(), out)?;
        }
        return Ok(());
    }
    let api_version = doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{source}: {kind} has no `apiVersion`")))?;
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (String::new(), api_version.to_owned()),
    };
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            invalid(format!(
                "{source}: {kind} has no `metadata.name` (generateName is not supported by \
                 server-side apply)"
            ))
        })?
        .to_owned();
    let namespace = doc
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    out.push(ManifestObject {
        source: source.to_owned(),
        value: doc,
        group,
        version,
        kind,
        name,
        namespace,
    });
    Ok(())
}

/// Reads every object under `path`, in apply order.
pub fn load(path: &Path) -> Result<Vec<ManifestObject>, ActionError> {
    let mut objects = Vec::new();
    for file in manifest_files(path)? {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| invalid(format!("cannot read {}: {e}", file.display())))?;
        let name = file.display().to_string();
        objects.extend(parse_documents(&name, &text)?);
    }
    if objects.is_empty() {
        return Err(invalid(format!("{} holds no object", path.display())));
    }
    sort_for_apply(&mut objects);
    Ok(objects)
}

#[cfg(test)]
#[path = "manifest_tests.rs"]
mod tests;
