//! Routing and the handlers of resource, collection, object and `scale` requests.

use std::net::SocketAddr;

use axum::http::Method;
use serde_json::{Map, Value, json};

use super::FAKE_VERSION;
use super::apply::{apply, checked_body, rv_of};
use super::discovery::{ResourceType, api_group, groups, resource, resource_list, serves};
use super::error::ApiError;
use super::http::{Reply, Req};
use super::json::{disown, merge_patch, set_path};
use super::selectors::{parse_field_selector, parse_selector};
use super::store::{Key, Store};

pub(super) fn route(store: &mut Store, req: &Req<'_>, addr: SocketAddr) -> Result<Reply, ApiError> {
    let segments: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    let get_only = || {
        if req.method == Method::GET {
            Ok(())
        } else {
            Err(method_not_allowed(&req.method))
        }
    };
    match segments.as_slice() {
        ["healthz" | "readyz" | "livez"] => {
            get_only()?;
            Ok(Reply::Text(200, "ok"))
        }
        ["version"] => {
            get_only()?;
            Ok(Reply::Json(
                200,
                json!({"major": "1", "minor": "34", "gitVersion": FAKE_VERSION,
                    "gitCommit": "0000000000000000000000000000000000000000",
                    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                    "goVersion": "none (drkit fake)", "compiler": "none",
                    "platform": "linux/amd64"}),
            ))
        }
        ["api"] => {
            get_only()?;
            Ok(Reply::Json(
                200,
                json!({"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": addr.to_string()}]}),
            ))
        }
        ["apis"] => {
            get_only()?;
            let groups: Vec<Value> = groups().into_iter().map(api_group).collect();
            Ok(Reply::Json(
                200,
                json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            ))
        }
        ["apis", group] if serves(group, "v1") => {
            get_only()?;
            Ok(Reply::Json(200, api_group(group)))
        }
        ["api", version, rest @ ..] if serves("", version) => {
            resource_request(store, req, "", version, rest)
        }
        ["apis", group, version, rest @ ..] if serves(group, version) => {
            resource_request(store, req, group, version, rest)
        }
        _ => Err(ApiError::not_found_path()),
    }
}

fn method_not_allowed(method: &Method) -> ApiError {
    ApiError::new(
        405,
        "MethodNotAllowed",
        format!(
            "the server does not allow this method on the requested resource ({method}; this \
             fake serves GET, POST, PATCH, DELETE)"
        ),
    )
}

fn resource_request(
    store: &mut Store,
    req: &Req<'_>,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Reply, ApiError> {
    if rest.is_empty() {
        if req.method != Method::GET {
            return Err(method_not_allowed(&req.method));
        }
        return Ok(Reply::Json(200, resource_list(group, version)));
    }
    let namespaced_path = rest.len() >= 3
        && rest[0] == "namespaces"
        && resource(group, version, rest[2]).is_some_and(|r| r.namespaced);
    let (namespace, plural, name, sub) = if namespaced_path {
        let tail = &rest[3..];
        if tail.len() > 2 {
            return Err(ApiError::not_found_path());
        }
        (
            Some(rest[1]),
            rest[2],
            tail.first().copied(),
            tail.get(1).copied(),
        )
    } else {
        if rest.len() > 3 {
            return Err(ApiError::not_found_path());
        }
        (None, rest[0], rest.get(1).copied(), rest.get(2).copied())
    };
    let r = resource(group, version, plural).ok_or_else(ApiError::not_found_path)?;
    if namespace.is_some() && !r.namespaced {
        return Err(ApiError::not_found_path());
    }
    let Some(name) = name else {
        return collection_request(store, req, r, namespace);
    };
    if r.namespaced && namespace.is_none() {
        return Err(ApiError::not_found_path());
    }
    let ns = namespace.unwrap_or("");
    let key = Key::new(group, version, plural, ns, name);
    match sub {
        None => object_request(store, req, r, &key),
        Some("scale") if r.scale => scale_request(store, req, r, &key),
        Some("status") if r.status => status_request(store, req, r, &key),
        Some(_) => Err(ApiError::not_found_path()),
    }
}

fn collection_request(
    store: &mut Store,
    req: &Req<'_>,
    r: &'static ResourceType,
    namespace: Option<&str>,
) -> Result<Reply, ApiError> {
    match req.method {
        Method::GET => {
            if req.param("watch").is_some_and(|w| w == "true" || w == "1") {
                return Err(ApiError::bad_request(
                    "watch is not supported by this fake Kubernetes API server",
                ));
            }
            let labels = parse_selector(req.param("labelSelector").unwrap_or_default())
                .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
            let fields = parse_field_selector(req.param("fieldSelector").unwrap_or_default())
                .map_err(ApiError::bad_request)?;
            let items: Vec<Value> = store
                .objects
                .iter()
                .filter(|(k, _)| {
                    k.group == r.group
                        && k.version == r.version
                        && k.plural == r.plural
                        && namespace.is_none_or(|ns| k.namespace == ns)
                })
                .map(|(_, e)| &e.value)
                .filter(|v| labels.iter().all(|req| req.matches(v)))
                .filter(|v| fields.iter().all(|f| f.matches(v)))
                .map(|v| {
                    let mut item = v.clone();
                    if let Some(o) = item.as_object_mut() {
                        o.remove("apiVersion");
                        o.remove("kind");
                    }
                    item
                })
                .collect();
            Ok(Reply::Json(
                200,
                json!({"kind": format!("{}List", r.kind), "apiVersion": r.api_version(),
                       "metadata": {"resourceVersion": store.rv.to_string()}, "items": items}),
            ))
        }
        Method::POST => {
            let body = req.json_body()?;
            let dry_run = req.dry_run()?;
            let created = post(store, r, namespace, body, dry_run)?;
            Ok(Reply::Json(201, created))
        }
        _ => Err(method_not_allowed(&req.method)),
    }
}

/// A `POST` of `body` to the collection of `r` (in `namespace`): the object created.
pub(super) fn post(
    store: &mut Store,
    r: &ResourceType,
    namespace: Option<&str>,
    body: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    if r.namespaced && namespace.is_none() {
        return Err(ApiError::not_found_path());
    }
    let name = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                r,
                "",
                "metadata.name",
                "Required value: name or generateName is required",
            )
        })?
        .to_owned();
    let key = Key::new(r.group, r.version, r.plural, namespace.unwrap_or(""), &name);
    if store.objects.contains_key(&key) {
        return Err(ApiError {
            details: json!({"name": name, "group": r.group, "kind": r.plural}),
            ..ApiError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", r.qualified()),
            )
        });
    }
    let body = checked_body(r, &key, body)?;
    store.create(r, &key, &body, None, dry_run)
}

/// Refuses a patch that is not a JSON merge patch (all `what` accepts).
fn merge_patch_only(req: &Req<'_>, what: &str) -> Result<(), ApiError> {
    if req.media_type() == "application/merge-patch+json" {
        Ok(())
    } else {
        Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("this fake accepts only application/merge-patch+json on {what}"),
        ))
    }
}

/// `GET` or `PATCH` (JSON merge patch) of the `status` subresource: a patch changes `status`
/// only, as a kubelet or controller writes it.
fn status_request(
    store: &mut Store,
    req: &Req<'_>,
    r: &'static ResourceType,
    key: &Key,
) -> Result<Reply, ApiError> {
    let old = store
        .objects
        .get(key)
        .map(|e| e.value.clone())
        .ok_or_else(|| ApiError::not_found(r, &key.name))?;
    match req.method {
        Method::GET => Ok(Reply::Json(200, old)),
        Method::PATCH => {
            merge_patch_only(req, "the status subresource")?;
            let patch = req.json_body()?;
            let dry_run = req.dry_run()?;
            let mut patched = old.clone();
            merge_patch(&mut patched, &patch);
            let status = patched.get("status").cloned().unwrap_or_else(|| json!({}));
            if dry_run {
                let mut would = old;
                set_path(&mut would, &["status"], status);
                return Ok(Reply::Json(200, would));
            }
            store.set_status(key, status);
            let entry = store
                .objects
                .get_mut(key)
                .ok_or_else(|| ApiError::not_found(r, &key.name))?;
            entry.client_status = true;
            Ok(Reply::Json(200, entry.value.clone()))
        }
        _ => Err(method_not_allowed(&req.method)),
    }
}

fn object_request(
    store: &mut Store,
    req: &Req<'_>,
    r: &'static ResourceType,
    key: &Key,
) -> Result<Reply, ApiError> {
    match req.method {
        Method::GET => store
            .objects
            .get(key)
            .map(|e| Reply::Json(200, e.value.clone()))
            .ok_or_else(|| ApiError::not_found(r, &key.name)),
        Method::PATCH => match req.media_type() {
            "application/apply-patch+yaml" => apply(store, req, r, key),
            "application/merge-patch+json" => {
                let patch = req.json_body()?;
                let dry_run = req.dry_run()?;
                let entry = store
                    .objects
                    .get(key)
                    .ok_or_else(|| ApiError::not_found(r, &key.name))?;
                let old = entry.value.clone();
                let mut new = old.clone();
                merge_patch(&mut new, &patch);
                let rv_wanted = patch
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if rv_wanted.is_some() && rv_wanted.as_deref() != rv_of(&old) {
                    return Err(ApiError::conflict(r, &key.name));
                }
                let new = checked_body(r, key, new)?;
                let updated = store.update(r, key, new, dry_run)?;
                if !dry_run && let Some(entry) = store.objects.get_mut(key) {
                    // A write by another manager takes the fields it set from the appliers.
                    for applied in entry.applied.values_mut() {
                        disown(applied, &patch);
                    }
                }
                Ok(Reply::Json(200, updated))
            }
            other => Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types \
                     (in this fake): application/apply-patch+yaml, application/merge-patch+json \
                     (got {other:?})"
                ),
            )),
        },
        Method::DELETE => {
            let dry_run = req.dry_run()?;
            let entry = store
                .objects
                .get(key)
                .ok_or_else(|| ApiError::not_found(r, &key.name))?;
            let value = entry.value.clone();
            if !dry_run {
                store.objects.remove(key);
                if r.plural == "namespaces" && r.group.is_empty() {
                    store.objects.retain(|k, _| k.namespace != key.name);
                }
                store.rv += 1;
            }
            Ok(Reply::Json(200, value))
        }
        _ => Err(method_not_allowed(&req.method)),
    }
}

fn scale_of(obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let mut scale_meta = Map::new();
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta.get(k) {
            scale_meta.insert(k.to_owned(), v.clone());
        }
    }
    let replicas = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let running = obj
        .pointer("/status/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": scale_meta,
           "spec": {"replicas": replicas}, "status": {"replicas": running, "selector": selector}})
}

fn scale_request(
    store: &mut Store,
    req: &Req<'_>,
    r: &'static ResourceType,
    key: &Key,
) -> Result<Reply, ApiError> {
    let old = store
        .objects
        .get(key)
        .map(|e| e.value.clone())
        .ok_or_else(|| ApiError::not_found(r, &key.name))?;
    match req.method {
        Method::GET => Ok(Reply::Json(200, scale_of(&old))),
        Method::PATCH => {
            merge_patch_only(req, "the scale subresource")?;
            let patch = req.json_body()?;
            let dry_run = req.dry_run()?;
            let mut scale = scale_of(&old);
            merge_patch(&mut scale, &patch);
            let replicas = scale
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .filter(|n| *n >= 0 && i32::try_from(*n).is_ok())
                .ok_or_else(|| {
                    ApiError::invalid(
                        r,
                        &key.name,
                        "spec.replicas",
                        "Invalid value: must be a non-negative 32-bit integer",
                    )
                })?;
            let mut new = old;
            set_path(&mut new, &["spec", "replicas"], json!(replicas));
            let updated = store.update(r, key, new, dry_run)?;
            if !dry_run && let Some(entry) = store.objects.get_mut(key) {
                let taken = json!({"spec": {"replicas": replicas}});
                for applied in entry.applied.values_mut() {
                    disown(applied, &taken);
                }
            }
            Ok(Reply::Json(200, scale_of(&updated)))
        }
        _ => Err(method_not_allowed(&req.method)),
    }
}
