//! `k8s.apply`: server-side apply of every object of a manifest file or folder (the seed's
//! `kubectl apply -f k8s/dr-manifests/`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params, Poll,
    Resource, StepSpec,
};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use kube::{Client, discovery};
use serde::Deserialize;
use serde_json::Value;

use crate::common::{EKS_IAM_ACTIONS, cluster_ref, connect, iam_for, label};
use crate::connect::{ClusterRef, Connect};
use crate::error::{is_not_found, kube_error};
use crate::manifest::{self, ManifestObject};
use crate::register::K8sPorts;

/// The field manager drkit applies as.
pub const FIELD_MANAGER: &str = "drkit";

fn default_true() -> bool {
    true
}

/// The parameters of `k8s.apply`.
///
/// `namespace`: else the context's namespace, else `default`; an object naming another
/// namespace is refused, as `kubectl apply -n` does. `force_conflicts` is kubectl's
/// `--force-conflicts`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ApplyParams {
    /// a YAML/JSON file (one or more documents) or a folder of them (*.yaml, *.yml, *.json,
    /// by name, not recursive)
    #[param(ty = "path")]
    pub manifests: PathBuf,
    /// the namespace of namespaced objects that name none; an object naming another one is
    /// refused
    #[serde(default)]
    pub namespace: Option<String>,
    /// take over fields owned by another field manager (default true)
    #[serde(default = "default_true")]
    #[param(ty = "boolean")]
    pub force_conflicts: bool,
    /// the kubeconfig context (kubeconfig from KUBECONFIG, else ~/.kube/config); the current
    /// context when absent
    #[serde(default)]
    pub context: Option<String>,
    /// an EKS cluster name, instead of a kubeconfig context: endpoint and CA from
    /// eks:DescribeCluster, token as `aws eks get-token` makes it
    #[serde(default)]
    pub cluster: Option<String>,
    /// the EKS cluster's region (only with `cluster`); default the step's region, else the
    /// default region
    #[serde(default)]
    pub region: Option<String>,
}

impl ApplyParams {
    /// Apply `manifests` through the current kubeconfig context, forcing conflicts.
    pub fn new(manifests: impl Into<PathBuf>) -> Self {
        Self {
            manifests: manifests.into(),
            namespace: None,
            force_conflicts: true,
            context: None,
            cluster: None,
            region: None,
        }
    }

    /// Sets the default namespace.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sets whether field conflicts are forced.
    #[must_use]
    pub fn force_conflicts(mut self, force: bool) -> Self {
        self.force_conflicts = force;
        self
    }
}

/// What applying one object did (or would do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Created,
    Configured,
    Unchanged,
}

#[derive(Default)]
struct Changes {
    created: Vec<String>,
    configured: Vec<String>,
    unchanged: Vec<String>,
}

impl Changes {
    fn add(&mut self, change: Change, id: String) {
        match change {
            Change::Created => self.created.push(id),
            Change::Configured => self.configured.push(id),
            Change::Unchanged => self.unchanged.push(id),
        }
    }

    fn outputs(&self) -> Outputs {
        Outputs::new()
            .with("created", self.created.clone())
            .with("configured", self.configured.clone())
            .with("unchanged", self.unchanged.clone())
            .with(
                "objects",
                self.created.len() + self.configured.len() + self.unchanged.len(),
            )
    }

    fn summary(&self) -> String {
        let list = |v: &[String]| v.join(", ");
        let mut parts = Vec::new();
        if !self.created.is_empty() {
            parts.push(format!("create {}", list(&self.created)));
        }
        if !self.configured.is_empty() {
            parts.push(format!("configure {}", list(&self.configured)));
        }
        parts.push(format!("{} unchanged", self.unchanged.len()));
        parts.join("; ")
    }
}

/// An object with the API it goes to.
struct Resolved {
    api: Api<DynamicObject>,
    body: Value,
    id: String,
    name: String,
}

/// Server-side applies every object of a manifest file or folder, in a safe order.
///
/// - Objects: every document of the file, or of the folder's `*.yaml`/`*.yml`/`*.json` files
///   by name; Namespaces, then CRDs, then the kinds others depend on, then workloads, then
///   everything else (see [`crate::manifest`]). Each object's resource (plural, scope) comes
///   from API discovery; a custom resource whose CRD is in the same set is applied once the
///   CRD is served.
/// - `execute`: `PATCH` with `application/apply-patch+yaml`, field manager `drkit`,
///   `force=true` unless `force_conflicts` is false (then another manager's field is a
///   `Conflict` error naming it). An object is *created* when it did not exist, *unchanged*
///   when its `resourceVersion` did not move (the API server does not write a no-op apply) or
///   when it moved but only through `status` (a controller wrote it between the `GET` and
///   the `PATCH`), else *configured*. Applying is idempotent, so executing again is safe.
/// - `check`: for each object, a `GET`, then the same apply with `dryRun=All`; the object is
///   unchanged when the dry-run result equals the live object, ignoring `status`,
///   `metadata.managedFields`, `resourceVersion` and `generation` (what `kubectl diff
///   --server-side` shows); all unchanged -> done. A missing object (or one whose namespace
///   or CRD does not exist yet) would be created. A field conflict without force, or a kind
///   the cluster does not serve (and no CRD of the set defines) -> blocked.
/// - `verify`: the same comparison; anything that would still change fails it.
/// - No rollback: deleting what was created, or restoring what was overwritten, is not a safe
///   automatic compensation.
///
/// Outputs: `created`, `configured`, `unchanged` (lists of `Kind namespace/name`), `objects`.
#[derive(Debug, HasBase)]
pub struct ApplyManifests {
    base: Base<Self>,
}

impl ActionKind for ApplyManifests {
    const KIND: &'static str = "k8s.apply";
    const SUMMARY: &'static str = "Server-side apply every object of a manifest file or folder \
                                   (Namespaces and CRDs first), field manager drkit";
    const MUTATES: bool = true;
    /// Only when a step names an EKS `cluster` (see [`Act::iam`]).
    const IAM_ACTIONS: &'static [&'static str] = EKS_IAM_ACTIONS;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("created", "the objects created, as `Kind namespace/name`"),
        OutputDoc::new("configured", "the objects changed"),
        OutputDoc::new("unchanged", "the objects already as the manifests say"),
        OutputDoc::new("objects", "how many objects were applied"),
    ];
    type Params = ApplyParams;
    type Port = dyn Connect;
    type Ports = K8sPorts;

    fn validate(p: &ApplyParams) -> Result<(), ParamError> {
        if p.manifests.as_os_str().is_empty() {
            return Err(ParamError::new("manifests", "the path is empty"));
        }
        if let Some(ns) = &p.namespace {
            label("namespace", ns)?;
        }
        cluster_ref(p.context.as_ref(), p.cluster.as_ref(), p.region.as_ref()).map(|_| ())
    }

    fn build(step: StepSpec<ApplyParams>, ports: &K8sPorts) -> Result<Self, ParamError> {
        let p = &step.params;
        let cluster = cluster_ref(p.context.as_ref(), p.cluster.as_ref(), p.region.as_ref())?;
        let conn = connect(ports, &cluster, step.region())?;
        // Read and parse the manifests now, so `drkit validate` (not a step mid-recovery) says
        // that a file is missing or a document malformed. They are read again when the step
        // runs.
        manifest::load(&p.manifests).map_err(|e| ParamError::new("manifests", e.message()))?;
        Ok(Self::new(step.id, step.params, &cluster, conn))
    }
}

/// What an apply can change: the object without `status` (written by controllers, never by
/// an apply) and without the server's bookkeeping.
fn normalized(value: &Value) -> Value {
    let mut v = value.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("status");
    }
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
        meta.remove("generation");
    }
    v
}

fn resource_version(obj: &DynamicObject) -> Option<&str> {
    obj.metadata.resource_version.as_deref()
}

/// Whether `after` (the apply's answer) is `before` unchanged: same `resourceVersion`, or the
/// same once [`normalized`] (a controller's status write moved the version meanwhile).
fn unchanged(before: &DynamicObject, after: &DynamicObject) -> bool {
    resource_version(before) == resource_version(after)
        || serde_json::to_value(before)
            .ok()
            .zip(serde_json::to_value(after).ok())
            .is_some_and(|(a, b)| normalized(&a) == normalized(&b))
}

impl ApplyManifests {
    /// An apply step `id` with `params`, on `cluster`, connecting through `connect`.
    pub fn new(
        id: impl Into<String>,
        params: ApplyParams,
        cluster: &ClusterRef,
        connect: Arc<dyn Connect>,
    ) -> Self {
        let target = Resource::new("k8s", "manifests", params.manifests.display().to_string())
            .in_region(Some(cluster.location()));
        Self {
            base: Base::new(id, params, target, connect),
        }
    }

    fn params(&self) -> &ApplyParams {
        &self.base.params
    }

    fn patch_params(&self, dry_run: bool) -> PatchParams {
        let mut pp = PatchParams::apply(FIELD_MANAGER);
        if self.params().force_conflicts {
            pp = pp.force();
        }
        if dry_run {
            pp = pp.dry_run();
        }
        pp
    }

    async fn client(&self, ctx: &Context) -> Result<Client, ActionError> {
        ctx.bounded(self.base.port.client()).await
    }

    fn load(&self) -> Result<Vec<ManifestObject>, ActionError> {
        manifest::load(&self.params().manifests)
    }

    /// Discovery of `obj`'s kind; `None` when the cluster does not serve it.
    async fn discover(
        &self,
        ctx: &Context,
        client: &Client,
        obj: &ManifestObject,
        cache: &mut HashMap<(String, String, String), (ApiResource, Scope)>,
    ) -> Result<Option<(ApiResource, Scope)>, ActionError> {
        let key = (obj.group.clone(), obj.version.clone(), obj.kind.clone());
        if let Some(found) = cache.get(&key) {
            return Ok(Some(found.clone()));
        }
        let gvk = GroupVersionKind::gvk(&obj.group, &obj.version, &obj.kind);
        let found = ctx
            .bounded(async {
                match discovery::pinned_kind(client, &gvk).await {
                    Ok((ar, caps)) => Ok(Some((ar, caps.scope))),
                    Err(kube::Error::Discovery(_)) => Ok(None),
                    Err(e) if is_not_found(&e) => Ok(None),
                    Err(e) => Err(kube_error(
                        e,
                        "discover",
                        &format!("{} {}", obj.api_version(), obj.kind),
                    )),
                }
            })
            .await?;
        if let Some(found) = &found {
            cache.insert(key, found.clone());
        }
        Ok(found)
    }

    /// The API and body of `obj` once its kind is known.
    fn resolve(
        &self,
        client: &Client,
        obj: &ManifestObject,
        ar: &ApiResource,
        scope: &Scope,
    ) -> Result<Resolved, ActionError> {
        let mut body = obj.value.clone();
        match scope {
            Scope::Namespaced => {
                let ns = match (&obj.namespace, &self.params().namespace) {
                    (Some(own), Some(given)) if own != given => {
                        return Err(ActionError::invalid_input(format!(
                            "{} ({}) is in namespace {own}, but the step's namespace is {given}",
                            obj.id(),
                            obj.source
                        ))
                        .with_operation("read manifests"));
                    }
                    (Some(own), _) => own.clone(),
                    (None, Some(given)) => given.clone(),
                    (None, None) => client.default_namespace().to_owned(),
                };
                if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("namespace".to_owned(), Value::from(ns.clone()));
                }
                Ok(Resolved {
                    api: Api::namespaced_with(client.clone(), &ns, ar),
                    body,
                    id: format!("{} {ns}/{}", obj.kind, obj.name),
                    name: obj.name.clone(),
                })
            }
            Scope::Cluster => {
                if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.remove("namespace");
                }
                Ok(Resolved {
                    api: Api::all_with(client.clone(), ar),
                    body,
                    id: format!("{} {}", obj.kind, obj.name),
                    name: obj.name.clone(),
                })
            }
        }
    }

    async fn get_live(
        &self,
        ctx: &Context,
        r: &Resolved,
    ) -> Result<Option<DynamicObject>, ActionError> {
        ctx.bounded(async {
            match r.api.get(&r.name).await {
                Ok(obj) => Ok(Some(obj)),
                Err(e) if is_not_found(&e) => Ok(None),
                Err(e) => Err(kube_error(e, "get", &r.id)),
            }
        })
        .await
    }

    async fn apply_one(
        &self,
        ctx: &Context,
        r: &Resolved,
        dry_run: bool,
    ) -> Result<DynamicObject, ActionError> {
        let operation = if dry_run { "apply (dry run)" } else { "apply" };
        ctx.bounded(async {
            r.api
                .patch(&r.name, &self.patch_params(dry_run), &Patch::Apply(&r.body))
                .await
                .map_err(|e| kube_error(e, operation, &r.id))
        })
        .await
    }

    /// What applying would change, object by object, without changing anything.
    async fn preview(&self, ctx: &Context) -> Result<Changes, ActionError> {
        let client = self.client(ctx).await?;
        let objects = self.load()?;
        let mut cache = HashMap::new();
        let mut changes = Changes::default();
        for obj in &objects {
            let Some((ar, scope)) = self.discover(ctx, &client, obj, &mut cache).await? else {
                if objects.iter().any(|o| o.defines(&obj.group, &obj.kind)) {
                    changes.add(Change::Created, obj.id());
                    continue;
                }
                return Err(self.unknown_kind(obj));
            };
            let r = self.resolve(&client, obj, &ar, &scope)?;
            let Some(live) = self.get_live(ctx, &r).await? else {
                changes.add(Change::Created, r.id);
                continue;
            };
            let dry = self.apply_one(ctx, &r, true).await?;
            let same = serde_json::to_value(&dry)
                .ok()
                .zip(serde_json::to_value(&live).ok())
                .is_some_and(|(a, b)| normalized(&a) == normalized(&b));
            changes.add(
                if same {
                    Change::Unchanged
                } else {
                    Change::Configured
                },
                r.id,
            );
        }
        Ok(changes)
    }

    fn unknown_kind(&self, obj: &ManifestObject) -> ActionError {
        ActionError::new(
            ErrorKind::NotFound,
            format!(
                "the cluster does not serve kind {} of apiVersion {} ({}, {}); install its CRD \
                 first or add it to the manifests",
                obj.kind,
                obj.api_version(),
                obj.id(),
                obj.source
            ),
        )
        .with_operation("discover")
    }

    /// Waits until the cluster serves `obj`'s kind (its CRD was just applied).
    async fn await_kind(
        &self,
        ctx: &Context,
        client: &Client,
        obj: &ManifestObject,
        cache: &mut HashMap<(String, String, String), (ApiResource, Scope)>,
    ) -> Result<(ApiResource, Scope), ActionError> {
        let what = format!("kind {} of {} to be served", obj.kind, obj.api_version());
        let found = crate::waiting::wait_keeping_state(ctx, &what, &self.base.wait, || async {
            let mut scratch = HashMap::new();
            Ok(match self.discover(ctx, client, obj, &mut scratch).await? {
                Some(found) => Poll::Ready(found),
                None => Poll::Pending("not yet in API discovery".to_owned()),
            })
        })
        .await?;
        cache.insert(
            (obj.group.clone(), obj.version.clone(), obj.kind.clone()),
            found.clone(),
        );
        Ok(found)
    }
}

#[async_trait]
impl Act for ApplyManifests {
    fn iam(&self) -> &'static [&'static str] {
        iam_for(self.params().cluster.as_deref())
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let changes = match self.preview(ctx).await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::Conflict => {
                return Ok(Check::blocked(format!(
                    "another field manager owns fields of the manifests and force_conflicts \
                     is false: {}",
                    e.message()
                )));
            }
            Err(e) if e.kind() == ErrorKind::NotFound && e.operation() == Some("discover") => {
                return Ok(Check::blocked(e.message().to_owned()));
            }
            Err(e) => return Err(e),
        };
        if changes.created.is_empty() && changes.configured.is_empty() {
            return Ok(Check::Done {
                detail: format!(
                    "all {} objects of {} are applied and unchanged",
                    changes.unchanged.len(),
                    self.params().manifests.display()
                ),
                outputs: changes.outputs(),
            });
        }
        Ok(Check::ready(format!(
            "server-side apply {} (field manager {FIELD_MANAGER}{}): {}",
            self.params().manifests.display(),
            if self.params().force_conflicts {
                ", forcing conflicts"
            } else {
                ""
            },
            changes.summary()
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let client = self.client(ctx).await?;
        let objects = self.load()?;
        let mut cache = HashMap::new();
        let mut changes = Changes::default();
        for obj in &objects {
            let (ar, scope) = match self.discover(ctx, &client, obj, &mut cache).await? {
                Some(found) => found,
                None if objects.iter().any(|o| o.defines(&obj.group, &obj.kind)) => {
                    self.await_kind(ctx, &client, obj, &mut cache).await?
                }
                None => return Err(self.unknown_kind(obj)),
            };
            let r = self.resolve(&client, obj, &ar, &scope)?;
            let before = self.get_live(ctx, &r).await?;
            let after = self.apply_one(ctx, &r, false).await?;
            let change = match &before {
                None => Change::Created,
                Some(b) if unchanged(b, &after) => Change::Unchanged,
                Some(_) => Change::Configured,
            };
            ctx.progress(format!(
                "{}: {}",
                r.id,
                match change {
                    Change::Created => "created",
                    Change::Configured => "configured",
                    Change::Unchanged => "unchanged",
                }
            ));
            changes.add(change, r.id);
        }
        Ok(changes.outputs())
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let changes = self.preview(ctx).await?;
        if changes.created.is_empty() && changes.configured.is_empty() {
            Ok(format!(
                "all {} objects of {} are applied",
                changes.unchanged.len(),
                self.params().manifests.display()
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "the cluster differs from {}: would {}",
                self.params().manifests.display(),
                changes.summary()
            )))
        }
    }
}
