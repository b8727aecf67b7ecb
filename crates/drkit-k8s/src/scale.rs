//! `k8s.scale`: set a workload's replica count through the `scale` subresource, and wait
//! until it runs at that count.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::Memo;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params, Poll,
    Resource, StepSpec,
};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde::Deserialize;

use crate::common::{EKS_IAM_ACTIONS, cluster_ref, connect, iam_for, label, subdomain};
use crate::connect::{ClusterRef, Connect};
use crate::error::kube_error;
use crate::register::K8sPorts;
use crate::rollout;

/// A workload kind with a `scale` subresource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum ScaleKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` ReplicaSet.
    ReplicaSet,
}

impl fmt::Display for ScaleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::ReplicaSet => "ReplicaSet",
        })
    }
}

/// The parameters of `k8s.scale`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ScaleParams {
    /// the namespace
    pub namespace: String,
    /// Deployment, StatefulSet or ReplicaSet
    #[param(ty = "string")]
    pub kind: ScaleKind,
    /// the workload's name
    pub name: String,
    /// the replica count to set
    pub replicas: u32,
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

impl ScaleParams {
    /// Scale `kind` `namespace/name` to `replicas`.
    pub fn new(
        namespace: impl Into<String>,
        kind: ScaleKind,
        name: impl Into<String>,
        replicas: u32,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            kind,
            name: name.into(),
            replicas,
            context: None,
            cluster: None,
            region: None,
        }
    }
}

/// The replica counts of a workload, from its `scale` subresource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    spec: u32,
    status: u32,
}

/// Sets a workload's replica count through the `scale` subresource and waits until it runs at
/// that count.
///
/// - `check`: the workload exists (else blocked); at the count with a complete rollout ->
///   done; else ready (`from -> to`).
/// - `execute`: `GET .../scale` (the previous count, remembered), then, if it differs,
///   `PATCH .../scale` (merge patch of `spec.replicas`), then waits until the scale status
///   and the rollout (as `k8s.wait_ready` judges it) reach the count. Executed again after a
///   failure, it keeps the first previous count and does not patch twice.
/// - `verify`: at the count with a complete rollout.
/// - `rollback`: scales back to the previous count (only if this action changed it).
///
/// Outputs: `previous_replicas`, `replicas`, `ready` (the rollout summary).
#[derive(Debug, HasBase)]
pub struct ScaleWorkload {
    base: Base<Self>,
    /// The count before this action changed it, once it has read it.
    previous: Memo<u32>,
}

impl ActionKind for ScaleWorkload {
    const KIND: &'static str = "k8s.scale";
    const SUMMARY: &'static str = "Set a Deployment's, StatefulSet's or ReplicaSet's replicas \
                                   through the scale subresource and wait until it runs them \
                                   (rollback restores the count)";
    const MUTATES: bool = true;
    /// Only when a step names an EKS `cluster` (see [`Act::iam`]).
    const IAM_ACTIONS: &'static [&'static str] = EKS_IAM_ACTIONS;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new(
            "previous_replicas",
            "the replica count before the change (what rollback restores)",
        ),
        OutputDoc::new("replicas", "the replica count set"),
        OutputDoc::new(
            "ready",
            "the rollout summary, e.g. `Deployment api: 4/4 available`",
        ),
    ];
    type Params = ScaleParams;
    type Port = dyn Connect;
    type Ports = K8sPorts;

    fn validate(p: &ScaleParams) -> Result<(), ParamError> {
        label("namespace", &p.namespace)?;
        subdomain("name", &p.name)?;
        if i32::try_from(p.replicas).is_err() {
            return Err(ParamError::new(
                "replicas",
                format!("{} is too large (Kubernetes counts are int32)", p.replicas),
            ));
        }
        cluster_ref(p.context.as_ref(), p.cluster.as_ref(), p.region.as_ref()).map(|_| ())
    }

    fn build(step: StepSpec<ScaleParams>, ports: &K8sPorts) -> Result<Self, ParamError> {
        let p = &step.params;
        let cluster = cluster_ref(p.context.as_ref(), p.cluster.as_ref(), p.region.as_ref())?;
        let conn = connect(ports, &cluster, step.region())?;
        Ok(Self::new(step.id, step.params, &cluster, conn))
    }
}

fn count(value: Option<i32>) -> u32 {
    value.and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

impl ScaleWorkload {
    /// A step `id` with `params`, on `cluster`, connecting through `connect`.
    pub fn new(
        id: impl Into<String>,
        params: ScaleParams,
        cluster: &ClusterRef,
        connect: Arc<dyn Connect>,
    ) -> Self {
        let target = Resource::new(
            "k8s",
            params.kind.to_string().to_lowercase(),
            format!("{}/{}", params.namespace, params.name),
        )
        .in_region(Some(cluster.location()));
        Self {
            base: Base::new(id, params, target, connect),
            previous: Memo::default(),
        }
    }

    fn params(&self) -> &ScaleParams {
        &self.base.params
    }

    fn object(&self) -> String {
        format!(
            "{} {}/{}",
            self.params().kind,
            self.params().namespace,
            self.params().name
        )
    }

    async fn client(&self, ctx: &Context) -> Result<Client, ActionError> {
        ctx.bounded(self.base.port.client()).await
    }

    async fn get_scale(&self, ctx: &Context, client: &Client) -> Result<Counts, ActionError> {
        let ns = &self.params().namespace;
        let name = &self.params().name;
        let object = self.object();
        ctx.bounded(async {
            let scale = match self.params().kind {
                ScaleKind::Deployment => {
                    Api::<Deployment>::namespaced(client.clone(), ns)
                        .get_scale(name)
                        .await
                }
                ScaleKind::StatefulSet => {
                    Api::<StatefulSet>::namespaced(client.clone(), ns)
                        .get_scale(name)
                        .await
                }
                ScaleKind::ReplicaSet => {
                    Api::<ReplicaSet>::namespaced(client.clone(), ns)
                        .get_scale(name)
                        .await
                }
            }
            .map_err(|e| kube_error(e, "get scale", &object))?;
            Ok(Counts {
                spec: count(scale.spec.and_then(|s| s.replicas)),
                status: scale.status.map_or(0, |s| count(Some(s.replicas))),
            })
        })
        .await
    }

    async fn patch_scale(
        &self,
        ctx: &Context,
        client: &Client,
        replicas: u32,
    ) -> Result<(), ActionError> {
        let ns = &self.params().namespace;
        let name = &self.params().name;
        let object = self.object();
        let patch = Patch::Merge(serde_json::json!({ "spec": { "replicas": replicas } }));
        let pp = PatchParams::default();
        ctx.bounded(async {
            match self.params().kind {
                ScaleKind::Deployment => Api::<Deployment>::namespaced(client.clone(), ns)
                    .patch_scale(name, &pp, &patch)
                    .await
                    .map(|_| ()),
                ScaleKind::StatefulSet => Api::<StatefulSet>::namespaced(client.clone(), ns)
                    .patch_scale(name, &pp, &patch)
                    .await
                    .map(|_| ()),
                ScaleKind::ReplicaSet => Api::<ReplicaSet>::namespaced(client.clone(), ns)
                    .patch_scale(name, &pp, &patch)
                    .await
                    .map(|_| ()),
            }
            .map_err(|e| kube_error(e, "patch scale", &object))
        })
        .await
    }

    async fn rollout(
        &self,
        ctx: &Context,
        client: &Client,
    ) -> Result<rollout::Rollout, ActionError> {
        let ns = &self.params().namespace;
        let name = &self.params().name;
        let object = self.object();
        ctx.bounded(async {
            match self.params().kind {
                ScaleKind::Deployment => Api::<Deployment>::namespaced(client.clone(), ns)
                    .get(name)
                    .await
                    .map(|d| rollout::deployment(&d)),
                ScaleKind::StatefulSet => Api::<StatefulSet>::namespaced(client.clone(), ns)
                    .get(name)
                    .await
                    .map(|s| rollout::stateful_set(&s)),
                ScaleKind::ReplicaSet => Api::<ReplicaSet>::namespaced(client.clone(), ns)
                    .get(name)
                    .await
                    .map(|r| rollout::replica_set(&r)),
            }
            .map_err(|e| kube_error(e, "get", &object))
        })
        .await
    }

    /// `Ok(summary)` when the workload runs at `replicas`, else `Err(state)`.
    async fn at(
        &self,
        ctx: &Context,
        client: &Client,
        replicas: u32,
    ) -> Result<Result<String, String>, ActionError> {
        let counts = self.get_scale(ctx, client).await?;
        if counts.spec != replicas {
            return Ok(Err(format!(
                "{} is set to {} replicas",
                self.object(),
                counts.spec
            )));
        }
        if counts.status != replicas {
            return Ok(Err(format!(
                "{} has {} replicas, {replicas} wanted",
                self.object(),
                counts.status
            )));
        }
        self.rollout(ctx, client).await
    }

    /// Sets the count to `replicas` if it differs, then waits until the workload runs at it.
    async fn scale_to(
        &self,
        ctx: &Context,
        client: &Client,
        replicas: u32,
    ) -> Result<String, ActionError> {
        let counts = self.get_scale(ctx, client).await?;
        if counts.spec != replicas {
            self.patch_scale(ctx, client, replicas).await?;
            ctx.progress(format!(
                "{}: scale {} -> {replicas} requested",
                self.object(),
                counts.spec
            ));
        }
        let what = format!("{} to run {replicas} replicas", self.object());
        crate::waiting::wait_keeping_state(ctx, &what, &self.base.wait, || async {
            Ok(match self.at(ctx, client, replicas).await? {
                Ok(summary) => Poll::Ready(summary),
                Err(state) => Poll::Pending(state),
            })
        })
        .await
    }
}

#[async_trait]
impl Act for ScaleWorkload {
    fn iam(&self) -> &'static [&'static str] {
        iam_for(self.params().cluster.as_deref())
    }

    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let client = self.client(ctx).await?;
        let counts = match self.get_scale(ctx, &client).await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!("{} does not exist", self.object())));
            }
            Err(e) => return Err(e),
        };
        let wanted = self.params().replicas;
        if counts.spec == wanted {
            if let Ok(summary) = self.at(ctx, &client, wanted).await? {
                return Ok(Check::Done {
                    detail: format!("{} runs {wanted} replicas: {summary}", self.object()),
                    outputs: Outputs::new()
                        .with("previous_replicas", self.previous.get().unwrap_or(wanted))
                        .with("replicas", wanted)
                        .with("ready", summary),
                });
            }
            return Ok(Check::ready(format!(
                "wait until {} runs its {wanted} replicas",
                self.object()
            )));
        }
        Ok(Check::ready(format!(
            "scale {}: {} -> {wanted} replicas",
            self.object(),
            counts.spec
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let wanted = self.params().replicas;
        let client = self.client(ctx).await?;
        // Executed again after a failure: keep the count found the first time.
        let previous = match self.previous.get() {
            Some(p) => p,
            None => {
                let counts = self.get_scale(ctx, &client).await?;
                self.previous.set(counts.spec);
                counts.spec
            }
        };
        let summary = self.scale_to(ctx, &client, wanted).await?;
        Ok(Outputs::new()
            .with("previous_replicas", previous)
            .with("replicas", wanted)
            .with("ready", summary))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let client = self.client(ctx).await?;
        self.at(ctx, &client, self.params().replicas)
            .await?
            .map_err(ActionError::postcondition)
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        // What this instance did, else (after a resume) what the step recorded.
        let recorded = || {
            ctx.outputs_of(&self.base.id)?
                .get("previous_replicas")
                .and_then(serde_json::Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
        };
        let Some(previous) = self.previous.get().or_else(recorded) else {
            return Err(ActionError::unsupported(
                "nothing to roll back: this action did not scale the workload",
            ));
        };
        if previous == self.params().replicas {
            ctx.progress(format!(
                "{} was already at {previous} replicas: nothing to restore",
                self.object()
            ));
            return Ok(());
        }
        let client = self.client(ctx).await?;
        self.scale_to(ctx, &client, previous).await?;
        ctx.progress(format!("{} is back at {previous} replicas", self.object()));
        Ok(())
    }
}
