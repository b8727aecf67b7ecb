//! A **fake** Kubernetes API server, over plain HTTP, for exercising drkit's `k8s.*` actions
//! end to end (kube-rs client, discovery, server-side apply, lists with label selectors,
//! readiness polling) where no real `kube-apiserver` can run.
//!
//! It is a fake: a small in-memory imitation of the parts of the Kubernetes API that drkit
//! uses, written from the API's documented behaviour. Passing against it shows that drkit's
//! requests are well formed and that its logic copes with answers shaped like a real API
//! server's; it does not show that a real cluster behaves the same way.
//!
//! # What it serves
//!
//! - `GET /version`, `/healthz`, `/readyz`, `/livez`.
//! - Discovery (the legacy, non-aggregated documents): `/api` (`APIVersions`), `/api/v1`,
//!   `/apis` (`APIGroupList`), `/apis/apps`, `/apis/apps/v1` (`APIResourceList`s). Served
//!   kinds: core/v1 Namespace, ConfigMap, Secret, ServiceAccount, Service, Pod; apps/v1
//!   Deployment, ReplicaSet, StatefulSet, DaemonSet (with `scale` subresources for the first
//!   three). Any other group or version is answered 404, any other kind is absent from
//!   discovery: to kube-rs (and drkit) such a kind is "not served".
//! - Objects in memory, keyed by (group, version, plural, namespace, name), as JSON:
//!   - `GET` one, `GET` a collection (namespaced, or across namespaces) with `labelSelector`
//!     (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`) and `fieldSelector`
//!     (`metadata.name`, `metadata.namespace`, `status.phase`, `spec.nodeName`; `=`, `==`,
//!     `!=`). Everything comes in one page (`limit` / `continue` are ignored). List items
//!     carry no `apiVersion` / `kind`, as a real server's typed lists.
//!   - `PATCH` with `application/apply-patch+yaml` (server-side apply; the body must be JSON,
//!     which is what kube-rs sends; `fieldManager` required, `force` accepted, `dryRun=All`),
//!     creating (201) or updating (200) the object. The applied configuration is merged into
//!     the live object (maps merged key by key, lists replaced whole); fields this field
//!     manager applied before and no longer applies are removed. Server fields are set:
//!     `metadata.uid`, `resourceVersion` (one global counter), `creationTimestamp`,
//!     `generation` (1 on create, bumped only when `spec` changes), and a few defaults a
//!     real API server sets (Service `type`, `clusterIP`, port `protocol` / `targetPort`;
//!     workload `strategy`, `revisionHistoryLimit`, pod-template `restartPolicy`,
//!     `dnsPolicy`, container `imagePullPolicy`, probe periods, ...; Namespace label
//!     `kubernetes.io/metadata.name`, `status.phase`). An apply that changes nothing is not
//!     written: the stored object comes back with the same `resourceVersion`. `status` in an
//!     applied body is ignored. `dryRun=All` answers the would-be object and stores nothing.
//!   - `PATCH` with `application/merge-patch+json` (RFC 7386) of an object, and of the
//!     `scale` subresource (`GET`/`PATCH .../scale`, an `autoscaling/v1` `Scale`).
//!   - `POST` (create, 409 `AlreadyExists`), `DELETE` (owned objects are garbage-collected
//!     at once; deleting a Namespace deletes what is in it at once, no `Terminating`).
//!   - Errors as `Status` objects: 404 `NotFound`, 409 `AlreadyExists` / `Conflict` (a stale
//!     `metadata.resourceVersion` in a body), 400 `BadRequest` (a body that is not JSON, or
//!     whose `apiVersion` / `kind` / name / namespace do not match the URL), 422 `Invalid`
//!     (a bad name, a workload whose selector does not match its template labels, no
//!     containers, negative replicas, no `fieldManager` on an apply), 415 for other patch
//!     types, 405 for other methods. Creating in a namespace that does not exist is 404.
//! - A simulated rollout, the only "controller": a Deployment gets a ReplicaSet
//!   `<name>-<pod-template-hash>` (owned by it), the ReplicaSet gets pods `<rs-name>-<n>`
//!   (labels from the template plus `pod-template-hash`, owned by the ReplicaSet, on node
//!   `fake-node-1`). A changed pod template replaces the old ReplicaSet and its pods at once
//!   (no surge, no gradual scale-down); a changed replica count adds or removes pods. Every
//!   pod (created by the fake or applied) is, from its creation: `Pending` with its containers
//!   `ContainerCreating` and `Ready=False` (`ContainersNotReady`) for the first half of
//!   `rollout_delay`; then, when a container has a readiness probe, `Running` but not ready
//!   until `rollout_delay`; then `Running` and `Ready`. ReplicaSet and Deployment `status`
//!   (observed generation, replicas, updated / ready / available / unavailable replicas,
//!   conditions `Available` and `Progressing` with reason `ReplicaSetUpdated` then
//!   `NewReplicaSetAvailable`) follow from the pods. All of it is computed lazily from
//!   timestamps at each request (no background task); a status change bumps the object's
//!   `resourceVersion`, as a controller's write would.
//!
//! # What it does NOT do
//!
//! No authentication or authorization (any or no bearer token is accepted), no TLS, no
//! admission (webhooks, quotas, limit ranges), no validation against OpenAPI schemas (only the
//! few checks above), no strategic merge patch, JSON patch or `PUT`, no real field-manager
//! tracking (no `managedFields` in answers, no conflict detection: `force` changes nothing),
//! no watch (`watch=true` is a 400), no aggregated discovery, no CRDs, no pagination, no
//! finalizers or graceful deletion, no events. There are no controllers besides the simulated
//! rollout above: StatefulSets and DaemonSets are stored but never get pods or a status, so
//! their rollout never completes. Objects live only as long as the server.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::time::Duration;
//! use drkit_testkit::fake_kube::{FakeKubeApi, FakeKubeOptions};
//!
//! let fake = FakeKubeApi::start(FakeKubeOptions {
//!     port: None,
//!     rollout_delay: Duration::from_millis(300),
//! })
//! .await?;
//! fake.write_kubeconfig("/tmp/fake-kubeconfig", "fake")?;
//! println!("{} served {} requests", fake.url(), fake.requests().len());
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The default time from a pod's creation to its being Ready.
pub const DEFAULT_ROLLOUT_DELAY: Duration = Duration::from_secs(2);

/// The bearer token the kubeconfig carries (the fake accepts any token, or none).
pub const FAKE_TOKEN: &str = "fake-kube-token";

/// The node every simulated pod runs on.
pub const FAKE_NODE: &str = "fake-node-1";

/// The `gitVersion` of `/version`.
pub const FAKE_VERSION: &str = "v1.34.0-drkit-fake";

/// The largest request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// How the fake is started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeKubeOptions {
    /// The 127.0.0.1 port to listen on; a free one when `None`.
    pub port: Option<u16>,
    /// From a pod's creation to its being Ready (see the module docs).
    pub rollout_delay: Duration,
}

impl Default for FakeKubeOptions {
    fn default() -> Self {
        Self {
            port: None,
            rollout_delay: DEFAULT_ROLLOUT_DELAY,
        }
    }
}

impl FakeKubeOptions {
    /// Sets the rollout delay.
    #[must_use]
    pub fn rollout_delay(mut self, delay: Duration) -> Self {
        self.rollout_delay = delay;
        self
    }

    /// Sets the port.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
}

/// One request the fake received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeRequest {
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// The path, e.g. `/apis/apps/v1/namespaces/mint-replica/deployments/api`.
    pub path: String,
    /// The raw query string, without `?` (empty when none).
    pub query: String,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The scheme of the `Authorization` header (`Bearer`), if any; the credentials themselves
    /// are never recorded.
    pub auth_scheme: Option<String>,
}

impl FakeRequest {
    /// `path?query` (just the path when there is no query).
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// `METHOD path?query`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path_and_query())
    }

    /// Whether the query has `name=value` (compared after percent-decoding).
    pub fn has_param(&self, name: &str, value: &str) -> bool {
        parse_query(&self.query)
            .iter()
            .any(|(k, v)| k == name && v == value)
    }
}

/// Starts fake API servers (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct FakeKubeApi;

impl FakeKubeApi {
    /// Starts a fake API server on 127.0.0.1 (`options.port`, or a free port), serving until
    /// the handle is dropped or shut down. Needs a tokio runtime.
    pub async fn start(options: FakeKubeOptions) -> std::io::Result<FakeKubeHandle> {
        let listen = SocketAddr::from(([127, 0, 0, 1], options.port.unwrap_or(0)));
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(options.rollout_delay)),
            requests: Mutex::new(Vec::new()),
            addr,
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (stop, task) = crate::serve(listener, app);
        Ok(FakeKubeHandle {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A running fake API server. Dropping it stops the server.
pub struct FakeKubeHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for FakeKubeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeKubeHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeKubeHandle {
    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL, `http://127.0.0.1:PORT` (the kubeconfig's `server`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig (YAML) with one cluster (`server: http://127.0.0.1:PORT`), one user with a
    /// dummy token ([`FAKE_TOKEN`]) and one context named `context` (namespace `default`),
    /// which is the current context.
    pub fn kubeconfig_yaml(&self, context: &str) -> String {
        let q = |s: &str| Value::from(s).to_string();
        format!(
            "# A kubeconfig for drkit's FAKE Kubernetes API server (drkit_testkit::fake_kube).\n\
             apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: fake-kube\n  \
               cluster:\n    \
                 server: {server}\n\
             users:\n\
             - name: fake-kube-user\n  \
               user:\n    \
                 token: {token}\n\
             contexts:\n\
             - name: {context}\n  \
               context:\n    \
                 cluster: fake-kube\n    \
                 user: fake-kube-user\n    \
                 namespace: default\n\
             current-context: {context}\n\
             preferences: {{}}\n",
            server = q(&self.url()),
            token = q(FAKE_TOKEN),
            context = q(context),
        )
    }

    /// Writes [`kubeconfig_yaml`](Self::kubeconfig_yaml) to `path`.
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>, context: &str) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml(context))
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<FakeRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// The stored object, as a `GET` would answer it now (`group` is `""` for the core
    /// group; `namespace` is `None` for cluster-scoped kinds).
    pub fn object(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let mut store = lock(&self.shared.store);
        store.reconcile(Instant::now());
        let key = Key::new(group, version, plural, namespace.unwrap_or(""), name);
        store.objects.get(&key).map(|e| e.value.clone())
    }

    /// How many objects are stored (including the built-in namespaces `default`,
    /// `kube-system`, `kube-public`, `kube-node-lease`).
    pub fn object_count(&self) -> usize {
        lock(&self.shared.store).objects.len()
    }

    /// The current (global) resource version.
    pub fn resource_version(&self) -> u64 {
        lock(&self.shared.store).rv
    }

    /// Stops the server.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for FakeKubeHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Shared {
    store: Mutex<Store>,
    requests: Mutex<Vec<FakeRequest>>,
    addr: SocketAddr,
}

// ---------------------------------------------------------------------------------------------
// The resource catalog.

#[derive(Clone, Copy, Debug)]
struct ResourceType {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    scale: bool,
    status: bool,
}

impl ResourceType {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, `pods` (as a real server names it in messages).
    fn qualified(&self) -> String {
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

fn resource(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

fn serves(group: &str, version: &str) -> bool {
    RESOURCES
        .iter()
        .any(|r| r.group == group && r.version == version)
}

fn groups() -> Vec<&'static str> {
    let set: BTreeSet<&str> = RESOURCES
        .iter()
        .map(|r| r.group)
        .filter(|g| !g.is_empty())
        .collect();
    set.into_iter().collect()
}

fn resource_list(group: &str, version: &str) -> Value {
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

fn api_group(group: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": [gv],
           "preferredVersion": gv})
}

// ---------------------------------------------------------------------------------------------
// Errors.

/// A failure answered as a `Status` object.
#[derive(Debug)]
struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
    details: Value,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: json!({}),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    fn not_found_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    fn not_found(r: &ResourceType, name: &str) -> Self {
        Self {
            details: json!({"name": name, "group": r.group, "kind": r.plural}),
            ..Self::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", r.qualified()),
            )
        }
    }

    fn invalid(r: &ResourceType, name: &str, field: &str, problem: &str) -> Self {
        let kind = if r.group.is_empty() {
            r.kind.to_owned()
        } else {
            format!("{}.{}", r.kind, r.group)
        };
        Self {
            details: json!({"name": name, "group": r.group, "kind": r.kind,
                "causes": [{"reason": "FieldValueInvalid", "message": problem, "field": field}]}),
            ..Self::new(
                422,
                "Invalid",
                format!("{kind} \"{name}\" is invalid: {field}: {problem}"),
            )
        }
    }

    fn conflict(r: &ResourceType, name: &str) -> Self {
        Self {
            details: json!({"name": name, "group": r.group, "kind": r.plural}),
            ..Self::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been \
                     modified; please apply your changes to the latest version and try again",
                    r.qualified()
                ),
            )
        }
    }

    fn body(&self) -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": self.message, "reason": self.reason, "details": self.details,
               "code": self.code})
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP.

enum Reply {
    Json(u16, Value),
    Text(u16, &'static str),
}

fn json_response(code: u16, value: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, value.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    lock(&shared.requests).push(FakeRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type: content_type.clone(),
        auth_scheme: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_whitespace().next())
            .map(str::to_owned),
    });
    let bytes = match axum::body::to_bytes(Body::new(body), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            let err = ApiError::bad_request(format!("cannot read the request body: {e}"));
            return json_response(err.code, &err.body());
        }
    };
    let req = Req {
        method: parts.method,
        path,
        query: parse_query(&query),
        content_type: content_type.unwrap_or_default(),
        body: &bytes,
    };
    let now = Instant::now();
    let result = {
        let mut store = lock(&shared.store);
        store.reconcile(now);
        let result = route(&mut store, &req, shared.addr);
        // The controllers react to the write at once (the answer is the object as written).
        store.reconcile(now);
        result
    };
    match result {
        Ok(Reply::Json(code, value)) => json_response(code, &value),
        Ok(Reply::Text(code, text)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
            (status, text).into_response()
        }
        Err(e) => json_response(e.code, &e.body()),
    }
}

struct Req<'a> {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    content_type: String,
    body: &'a [u8],
}

impl Req<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn dry_run(&self) -> Result<bool, ApiError> {
        match self.param("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "unsupported dryRun value {other:?} (only \"All\")"
            ))),
        }
    }

    fn json_body(&self) -> Result<Value, ApiError> {
        let value: Value = serde_json::from_slice(self.body).map_err(|e| {
            ApiError::bad_request(format!(
                "the request body is not JSON (this fake parses JSON bodies only, no YAML): {e}"
            ))
        })?;
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "the request body is not a JSON object",
            ));
        }
        Ok(value)
    }

    fn media_type(&self) -> &str {
        self.content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding of a query component (`+` is a space).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h * 16 + l);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn route(store: &mut Store, req: &Req<'_>, addr: SocketAddr) -> Result<Reply, ApiError> {
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
        Some("status") if r.status => {
            if req.method != Method::GET {
                return Err(method_not_allowed(&req.method));
            }
            store
                .objects
                .get(&key)
                .map(|e| Reply::Json(200, e.value.clone()))
                .ok_or_else(|| ApiError::not_found(r, name))
        }
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
            if r.namespaced && namespace.is_none() {
                return Err(ApiError::not_found_path());
            }
            let body = req.json_body()?;
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
            let dry_run = req.dry_run()?;
            let created = store.create(r, &key, &body, None, dry_run)?;
            Ok(Reply::Json(201, created))
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
            if req.media_type() != "application/merge-patch+json" {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "this fake accepts only application/merge-patch+json on the scale subresource",
                ));
            }
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

/// Server-side apply.
fn apply(
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
fn checked_body(r: &ResourceType, key: &Key, mut body: Value) -> Result<Value, ApiError> {
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

fn rv_of(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}

// ---------------------------------------------------------------------------------------------
// JSON helpers.

/// Sets `path` in `v`, making objects on the way.
fn set_path(v: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *v = value;
        return;
    };
    let mut cur = v;
    for p in parents {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(o) = cur.as_object_mut() else { return };
        cur = o.entry((*p).to_owned()).or_insert_with(|| json!({}));
    }
    if !cur.is_object() {
        *cur = json!({});
    }
    if let Some(o) = cur.as_object_mut() {
        o.insert((*last).to_owned(), value);
    }
}

/// Sets `key` of object `v` when missing.
fn default_key(v: &mut Value, key: &str, value: Value) {
    if let Some(o) = v.as_object_mut()
        && !o.contains_key(key)
    {
        o.insert(key.to_owned(), value);
    }
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Some(t) = target.as_object_mut() {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Server-side apply's merge, simplified: maps key by key, everything else (lists included)
/// replaced whole; a `null` removes the field.
fn merge_apply(live: &mut Value, config: &Value) {
    merge_patch(live, config);
}

/// Removes from `live` what `previous` applied and `current` no longer applies.
fn prune(live: &mut Value, previous: &Value, current: &Value) {
    let (Some(prev), Some(l)) = (previous.as_object(), live.as_object_mut()) else {
        return;
    };
    let nothing = Value::Object(Map::new());
    for (k, pv) in prev {
        let cv = current.get(k);
        if pv.is_object() && cv.is_none_or(Value::is_object) {
            // A map this manager applied: only its own keys go (others' keys stay).
            if let Some(lv) = l.get_mut(k) {
                prune(lv, pv, cv.unwrap_or(&nothing));
                if cv.is_none() && lv.as_object().is_some_and(Map::is_empty) {
                    l.remove(k);
                }
            }
        } else if cv.is_none() {
            l.remove(k);
        }
    }
}

/// Removes from an applied configuration the fields `taken` sets (another manager took them).
fn disown(applied: &mut Value, taken: &Value) {
    let (Some(a), Some(t)) = (applied.as_object_mut(), taken.as_object()) else {
        return;
    };
    for (k, tv) in t {
        let nested = tv.is_object() && a.get(k).is_some_and(Value::is_object);
        if nested {
            if let Some(av) = a.get_mut(k) {
                disown(av, tv);
            }
        } else {
            a.remove(k);
        }
    }
}

fn str_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn now_rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// FNV-1a, 64 bits.
fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A `pod-template-hash` (10 characters from Kubernetes' "safe" alphabet).
fn template_hash(template: &Value) -> String {
    const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = fnv(&template.to_string());
    let mut out = String::new();
    for _ in 0..10 {
        let i = usize::try_from(h % 27).unwrap_or(0);
        out.push(char::from(SAFE[i]));
        h /= 27;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Selectors.

#[derive(Debug)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl LabelReq {
    fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        match self {
            Self::Eq(k, v) => get(k) == Some(v.as_str()),
            Self::NotEq(k, v) => get(k) != Some(v.as_str()),
            Self::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Self::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Self::Exists(k) => get(k).is_some(),
            Self::NotExists(k) => get(k).is_none(),
        }
    }
}

fn valid_label_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 317
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(s: &str) -> bool {
    s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Splits at commas outside parentheses.
fn split_terms(s: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut depth = 0_i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => terms.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    terms.push(cur);
    terms
        .into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_set(key: &str, rest: &str) -> Result<(String, Vec<String>), String> {
    let key = key.trim();
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected (values) after {key:?}"))?;
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
    if !valid_label_part(key) || values.iter().any(|v| !valid_value(v)) {
        return Err(format!("invalid set requirement on {key:?}"));
    }
    Ok((key.to_owned(), values))
}

fn parse_selector(s: &str) -> Result<Vec<LabelReq>, String> {
    let mut out = Vec::new();
    for term in split_terms(s) {
        let req = if let Some(k) = term.strip_prefix('!') {
            LabelReq::NotExists(k.trim().to_owned())
        } else if let Some((k, v)) = term.split_once("!=") {
            LabelReq::NotEq(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = term.split_once("==") {
            LabelReq::Eq(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = term.split_once('=') {
            LabelReq::Eq(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, rest)) = term.split_once(" notin ") {
            let (k, vs) = parse_set(k, rest)?;
            LabelReq::NotIn(k, vs)
        } else if let Some((k, rest)) = term.split_once(" in ") {
            let (k, vs) = parse_set(k, rest)?;
            LabelReq::In(k, vs)
        } else {
            LabelReq::Exists(term.clone())
        };
        let ok = match &req {
            LabelReq::Eq(k, v) | LabelReq::NotEq(k, v) => valid_label_part(k) && valid_value(v),
            LabelReq::Exists(k) | LabelReq::NotExists(k) => valid_label_part(k),
            LabelReq::In(..) | LabelReq::NotIn(..) => true,
        };
        if !ok {
            return Err(format!("invalid label selector term {term:?}"));
        }
        out.push(req);
    }
    Ok(out)
}

#[derive(Debug)]
struct FieldReq {
    pointer: &'static str,
    value: String,
    equal: bool,
}

impl FieldReq {
    fn matches(&self, obj: &Value) -> bool {
        let actual = obj
            .pointer(self.pointer)
            .and_then(Value::as_str)
            .unwrap_or_default();
        (actual == self.value) == self.equal
    }
}

fn parse_field_selector(s: &str) -> Result<Vec<FieldReq>, String> {
    let mut out = Vec::new();
    for term in split_terms(s) {
        let (field, value, equal) = if let Some((f, v)) = term.split_once("!=") {
            (f, v, false)
        } else if let Some((f, v)) = term.split_once("==") {
            (f, v, true)
        } else if let Some((f, v)) = term.split_once('=') {
            (f, v, true)
        } else {
            return Err(format!("invalid field selector {term:?}"));
        };
        let pointer = match field.trim() {
            "metadata.name" => "/metadata/name",
            "metadata.namespace" => "/metadata/namespace",
            "status.phase" => "/status/phase",
            "spec.nodeName" => "/spec/nodeName",
            other => {
                return Err(format!(
                    "field label not supported: {other} (this fake supports metadata.name, \
                     metadata.namespace, status.phase, spec.nodeName)"
                ));
            }
        };
        out.push(FieldReq {
            pointer,
            value: value.trim().to_owned(),
            equal,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// The store and the "controllers".

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    group: String,
    version: String,
    plural: String,
    /// `""` for cluster-scoped objects.
    namespace: String,
    name: String,
}

impl Key {
    fn new(group: &str, version: &str, plural: &str, namespace: &str, name: &str) -> Self {
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

struct Entry {
    value: Value,
    /// The last configuration each field manager applied (the fake's stand-in for
    /// `managedFields`).
    applied: BTreeMap<String, Value>,
    created: Instant,
    created_wall: SystemTime,
}

struct Store {
    objects: BTreeMap<Key, Entry>,
    rv: u64,
    uids: u64,
    cluster_ips: u32,
    pod_ips: u32,
    rollout_delay: Duration,
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

fn has_readiness_probe(pod_spec: &Value) -> bool {
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
    fn new(rollout_delay: Duration) -> Self {
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
    fn create(
        &mut self,
        r: &ResourceType,
        key: &Key,
        body: &Value,
        applied: Option<(String, Value)>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        self.ensure_namespace(r, key)?;
        let mut obj = body.clone();
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
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
        };
        if let Some((manager, config)) = applied {
            entry.applied.insert(manager, config);
        }
        self.objects.insert(key.clone(), entry);
        Ok(obj)
    }

    /// Writes `new` over `key` unless nothing changes; server fields and `status` are kept.
    fn update(
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
    fn set_status(&mut self, key: &Key, status: Value) {
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

    fn keys_of(&self, group: &str, plural: &str) -> Vec<Key> {
        self.objects
            .keys()
            .filter(|k| k.is(group, plural))
            .cloned()
            .collect()
    }

    /// The keys of `group`/`plural` objects in `namespace` whose controller is `owner_uid`.
    fn owned(&self, group: &str, plural: &str, namespace: &str, owner_uid: &str) -> Vec<Key> {
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

    /// Brings every simulated controller up to `now`.
    fn reconcile(&mut self, now: Instant) {
        self.collect_garbage();
        self.deployment_controller();
        self.collect_garbage();
        self.replica_set_controller(now);
        self.collect_garbage();
        self.kubelet(now);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn selectors_parse_and_match() {
        let pod = json!({"metadata": {"labels": {"app": "api", "tier": "web"}}});
        let m = |s: &str| parse_selector(s).unwrap().iter().all(|r| r.matches(&pod));
        assert!(m(""));
        assert!(m("app=api"));
        assert!(m("app==api,tier"));
        assert!(!m("app=api,tier=db"));
        assert!(m("app!=db"));
        assert!(m("!missing"));
        assert!(!m("missing"));
        assert!(m("tier in (web, db)"));
        assert!(!m("tier notin (web,db)"));
        assert!(parse_selector("a=b=c").is_err());
        assert!(parse_selector("a in b").is_err());
    }

    #[test]
    fn queries_are_percent_decoded() {
        assert_eq!(
            parse_query("labelSelector=app%3Dapi%2Ctier&dryRun=All&x"),
            vec![
                ("labelSelector".to_owned(), "app=api,tier".to_owned()),
                ("dryRun".to_owned(), "All".to_owned()),
                ("x".to_owned(), String::new()),
            ]
        );
        assert_eq!(decode("a+b%2"), "a b%2");
    }

    #[test]
    fn apply_merge_and_prune() {
        let mut live =
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}, "spec": {"x": 1, "y": [1]}});
        let previous = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"x": 1}});
        let current = json!({"spec": {"y": [2]}});
        prune(&mut live, &previous, &current);
        merge_apply(&mut live, &current);
        assert_eq!(
            live,
            json!({"metadata": {"labels": {"b": "2"}}, "spec": {"y": [2]}})
        );
    }

    #[test]
    fn template_hashes_are_stable_and_safe() {
        let a = template_hash(&json!({"spec": {"containers": [{"name": "a"}]}}));
        assert_eq!(a.len(), 10);
        assert_eq!(
            a,
            template_hash(&json!({"spec": {"containers": [{"name": "a"}]}}))
        );
        assert_ne!(
            a,
            template_hash(&json!({"spec": {"containers": [{"name": "b"}]}}))
        );
        assert!(a.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    }
}
