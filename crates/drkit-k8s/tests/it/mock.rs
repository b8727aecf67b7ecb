//! A scripted Kubernetes API server behind kube-rs's `Client::new(service, namespace)`.

use std::sync::{Arc, Mutex};

use drkit_k8s::{Connect, FixedClient};
use kube::client::Body;
use serde_json::{Value, json};

/// One request the client sent.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Value,
}

impl Recorded {
    /// `PATCH /apis/apps/v1/...` without the query.
    pub(crate) fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Whether the query has `name=value`.
    pub(crate) fn has_param(&self, name: &str, value: &str) -> bool {
        self.query
            .split('&')
            .any(|p| p == format!("{name}={value}"))
    }
}

type Handler = dyn Fn(&Recorded) -> (u16, Value) + Send + Sync;

/// The mock server: a handler and the log of requests.
#[derive(Clone)]
pub(crate) struct MockApi {
    pub(crate) log: Arc<Mutex<Vec<Recorded>>>,
    handler: Arc<Handler>,
}

impl MockApi {
    pub(crate) fn new(handler: impl Fn(&Recorded) -> (u16, Value) + Send + Sync + 'static) -> Self {
        Self {
            log: Arc::default(),
            handler: Arc::new(handler),
        }
    }

    pub(crate) fn client(&self) -> kube::Client {
        let log = Arc::clone(&self.log);
        let handler = Arc::clone(&self.handler);
        let service = tower::service_fn(move |req: http::Request<Body>| {
            let log = Arc::clone(&log);
            let handler = Arc::clone(&handler);
            async move {
                let (parts, body) = req.into_parts();
                let bytes = body.collect_bytes().await.unwrap_or_default();
                let recorded = Recorded {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().unwrap_or_default().to_owned(),
                    content_type: parts
                        .headers
                        .get(http::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                };
                let (status, answer) = handler(&recorded);
                log.lock().unwrap().push(recorded);
                let response = http::Response::builder()
                    .status(status)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                    .unwrap();
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        kube::Client::new(service, "default")
    }

    pub(crate) fn connect(&self) -> Arc<dyn Connect> {
        Arc::new(FixedClient::new(self.client()))
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }
}

/// A `Status` failure answer.
pub(crate) fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

/// The discovery answers for `/api/v1` and `/apis/apps/v1`, else `None`.
pub(crate) fn discovery(path: &str) -> Option<(u16, Value)> {
    let res = |name: &str, kind: &str, namespaced: bool| {
        json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind,
               "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
    };
    match path {
        "/api/v1" => Some((
            200,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
            "resources": [
                res("namespaces", "Namespace", false),
                res("services", "Service", true),
                res("pods", "Pod", true),
                res("configmaps", "ConfigMap", true),
            ]}),
        )),
        "/apis/apps/v1" => Some((
            200,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1",
            "resources": [
                res("deployments", "Deployment", true),
                res("deployments/scale", "Scale", true),
                res("statefulsets", "StatefulSet", true),
                res("daemonsets", "DaemonSet", true),
            ]}),
        )),
        _ => None,
    }
}

/// A list answer.
#[allow(clippy::needless_pass_by_value)] // call sites read better with vec![...]
pub(crate) fn list(kind: &str, items: Vec<Value>) -> (u16, Value) {
    (
        200,
        json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
               "items": items}),
    )
}

/// The example manifests of the docs.
pub(crate) fn example_manifests() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/k8s/dr-manifests")
}
