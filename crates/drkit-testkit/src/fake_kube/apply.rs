//! Server-side apply, and the checks of a body against its URL.

use serde_json::{Value, json};

use super::discovery::ResourceType;
use super::error::ApiError;
use super::http::{Reply, Req};
use super::json::{merge_apply, prune, set_path};
use super::store::{Key, Store};

/// Server-side apply.
pub(super) fn apply(
    store: &mut Store,
    req: &Req<'_>,
    r: &'static ResourceType,
    key: &Key,
) -> Result<Reply, ApiError> {
    let manager = req
        .param("fieldManager")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                r,
                &key.name,
                "fieldManager",
                "Required value: is required for apply patch",
            )
        })?
        .to_owned();
    match req.param("force") {
        None | Some("true" | "false") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "invalid force value {other:?}"
            )));
        }
    }
    let dry_run = req.dry_run()?;
    let mut config = req.json_body()?;
    for (field, want) in [("apiVersion", r.api_version()), ("kind", r.kind.to_owned())] {
        match config.get(field).and_then(Value::as_str) {
            None => {
                return Err(ApiError::bad_request(format!(
                    "{field} must be set in a server-side apply body"
                )));
            }
            Some(v) if v != want => {
                return Err(ApiError::bad_request(format!(
                    "the {field} of the object ({v}) does not match the URL's ({want})"
                )));
            }
            Some(_) => {}
        }
    }
    // What the server owns is not the applier's: drop it from the applied configuration.
    let rv_wanted = config
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(meta) = config.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "managedFields",
            "selfLink",
            "deletionTimestamp",
        ] {
            meta.remove(k);
        }
    }
    if let Some(o) = config.as_object_mut() {
        o.remove("status");
    }
    let config = checked_body(r, key, config)?;
    match store.objects.get(key) {
        None => {
            if rv_wanted.is_some() {
                return Err(ApiError::conflict(r, &key.name));
            }
            let created =
                store.create(r, key, &config, Some((manager, config.clone())), dry_run)?;
            Ok(Reply::Json(201, created))
        }
        Some(entry) => {
            let old = entry.value.clone();
            if rv_wanted.is_some() && rv_wanted.as_deref() != rv_of(&old) {
                return Err(ApiError::conflict(r, &key.name));
            }
            let mut new = old;
            if let Some(previous) = entry.applied.get(&manager) {
                prune(&mut new, previous, &config);
            }
            merge_apply(&mut new, &config);
            let updated = store.update(r, key, new, dry_run)?;
            if !dry_run && let Some(entry) = store.objects.get_mut(key) {
                entry.applied.insert(manager, config);
            }
            Ok(Reply::Json(200, updated))
        }
    }
}

/// Checks and completes `metadata.name` / `namespace` of a body against the URL.
pub(super) fn checked_body(
    r: &ResourceType,
    key: &Key,
    mut body: Value,
) -> Result<Value, ApiError> {
    if !body.get("metadata").is_some_and(Value::is_object) {
        set_path(&mut body, &["metadata"], json!({}));
    }
    match body.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) if n != key.name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({})",
                key.name
            )));
        }
        _ => set_path(&mut body, &["metadata", "name"], json!(key.name)),
    }
    if r.namespaced {
        match body.pointer("/metadata/namespace").and_then(Value::as_str) {
            Some(n) if !n.is_empty() && n != key.namespace => {
                return Err(ApiError::bad_request(format!(
                    "the namespace of the provided object ({n}) does not match the namespace \
                     sent on the request ({})",
                    key.namespace
                )));
            }
            _ => set_path(&mut body, &["metadata", "namespace"], json!(key.namespace)),
        }
    } else if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("namespace");
    }
    set_path(&mut body, &["apiVersion"], json!(r.api_version()));
    set_path(&mut body, &["kind"], json!(r.kind));
    Ok(body)
}

pub(super) fn rv_of(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}
