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
//!   kinds: core/v1 Namespace, Node, ConfigMap, Secret, ServiceAccount, Service, Pod; apps/v1
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
//!   - `PATCH` with `application/merge-patch+json` (RFC 7386) of an object, of the `scale`
//!     subresource (`GET`/`PATCH .../scale`, an `autoscaling/v1` `Scale`), and of the `status`
//!     subresource (`GET`/`PATCH .../status`: only `status` changes, as a kubelet or a
//!     controller writes it; the simulated controllers below keep writing the status of what
//!     they own).
//!   - Nodes are cluster-scoped (`/api/v1/nodes`, `/api/v1/nodes/<name>`). A Node created
//!     with a `status` (by `POST`, as a kubelet registers its node) keeps it, as on a real
//!     server; other kinds lose a `status` given on create. [`FakeKubeHandle::create`] seeds
//!     objects the same way without HTTP (the binary's `--node`).
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
//! - A simulated kubelet per Node whose status no client wrote (created without one, never
//!   patched through `.../status`): `Ready=False` with reason `KubeletNotReady` (the network
//!   plugin is not ready) for the first `rollout_delay` after the Node's creation, then
//!   `Ready=True` (`KubeletReady`), with `MemoryPressure`, `DiskPressure` and `PIDPressure`
//!   `False`. It sets no taints and no `nodeInfo`; a test that needs a node NotReady for
//!   good, cordoned or tainted creates it so or patches it (`spec` by merge patch, `status`
//!   through `.../status`). Pods are not scheduled on Nodes: every simulated pod runs on
//!   [`FAKE_NODE`], which need not exist.
//!
//! # What it does NOT do
//!
//! No authentication or authorization (any or no bearer token is accepted), no TLS, no
//! admission (webhooks, quotas, limit ranges), no validation against OpenAPI schemas (only the
//! few checks above), no strategic merge patch, JSON patch or `PUT`, no real field-manager
//! tracking (no `managedFields` in answers, no conflict detection: `force` changes nothing),
//! no watch (`watch=true` is a 400), no aggregated discovery, no CRDs, no pagination, no
//! finalizers or graceful deletion, no events, no node lifecycle controller (no
//! `node.kubernetes.io/not-ready` / `unreachable` taints, no eviction), no leases. There are
//! no controllers besides the simulated rollout and node kubelets above: StatefulSets and DaemonSets are stored but never get pods or a status, so
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

mod apply;
mod discovery;
mod error;
mod handlers;
mod http;
mod json;
mod rollout;
mod selectors;
mod store;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use self::discovery::resource_of;
use self::handlers::post;
use self::http::{handle, parse_query};
use self::store::{Key, Store};

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

    /// Creates `object` as a `POST` to its collection would (its `apiVersion`, `kind` and
    /// `metadata` say where; a namespaced object without a namespace goes to `default`): how a
    /// test or the binary seeds the cluster, e.g. with Nodes. The object as stored, or the
    /// API's error message (409 `AlreadyExists`, 422 `Invalid`, an unserved kind, ...).
    pub fn create(&self, object: &Value) -> Result<Value, String> {
        let field = |f: &str| object.get(f).and_then(Value::as_str).unwrap_or_default();
        let (api_version, kind) = (field("apiVersion"), field("kind"));
        let r = resource_of(api_version, kind)
            .ok_or_else(|| format!("this fake does not serve kind {kind} of {api_version}"))?;
        let namespace = r.namespaced.then(|| {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
        });
        let mut store = lock(&self.shared.store);
        let now = Instant::now();
        store.reconcile(now);
        let created = post(&mut store, r, namespace, object.clone(), false).map_err(|e| e.message);
        store.reconcile(now);
        created
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
