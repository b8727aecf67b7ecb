//! `k8s.wait_ready`: wait until the workloads of a namespace have rolled out and their pods are
//! Ready (the seed's `kubectl get pods -n mint-replica | grep Running`, done properly).

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, HasBase, Outputs, Params, Resource,
    StepSpec,
};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams};
use serde::Deserialize;

use crate::common::{EKS_IAM_ACTIONS, cluster_ref, connect, iam_for, label, list, named_list};
use crate::connect::{ClusterRef, Connect};
use crate::register::K8sPorts;
use crate::rollout;
use crate::waiting::{Observation, check_ready, confirm_ready, wait_ready};

/// How many not-ready pods a state names (the rest are counted).
const MAX_PODS_NAMED: usize = 10;

/// A workload kind `k8s.wait_ready` follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub enum WorkloadKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
}

fn all_kinds() -> Vec<WorkloadKind> {
    vec![
        WorkloadKind::Deployment,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
    ]
}

/// The parameters of `k8s.wait_ready`.
///
/// `selector` is a label selector such as `app=api,tier!=cache`; `min_ready` defaults to 1: an
/// empty namespace is not "ready".
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WaitReadyParams {
    /// the namespace
    pub namespace: String,
    /// a label selector for workloads and pods (e.g. `app=api`); all when absent
    #[serde(default)]
    pub selector: Option<String>,
    /// the workload kinds to follow: Deployment, StatefulSet, DaemonSet (default all)
    #[serde(default = "all_kinds")]
    #[param(ty = "list of strings")]
    pub kinds: Vec<WorkloadKind>,
    /// the fewest Ready pods (default 1)
    #[serde(default)]
    pub min_ready: Option<u32>,
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

impl WaitReadyParams {
    /// Everything in `namespace`.
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            selector: None,
            kinds: all_kinds(),
            min_ready: None,
            context: None,
            cluster: None,
            region: None,
        }
    }

    /// Only what matches `selector`.
    #[must_use]
    pub fn selector(mut self, selector: impl Into<String>) -> Self {
        self.selector = Some(selector.into());
        self
    }

    /// At least `n` Ready pods.
    #[must_use]
    pub fn min_ready(mut self, n: u32) -> Self {
        self.min_ready = Some(n);
        self
    }

    /// Only these workload kinds.
    #[must_use]
    pub fn kinds(mut self, kinds: Vec<WorkloadKind>) -> Self {
        self.kinds = kinds;
        self
    }
}

/// One observation of the namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Readiness {
    pub(crate) complete: Vec<String>,
    pub(crate) pending: Vec<String>,
    pub(crate) ready_pods: Vec<String>,
    /// `pod: reason`.
    pub(crate) not_ready: Vec<String>,
    pub(crate) min_ready: u32,
}

impl Observation for Readiness {
    fn is_ready(&self) -> bool {
        self.pending.is_empty()
            && self.not_ready.is_empty()
            && self.ready_pods.len() >= usize::try_from(self.min_ready).unwrap_or(usize::MAX)
    }

    fn state(&self) -> String {
        let mut parts = Vec::new();
        if self.complete.is_empty() && self.pending.is_empty() {
            parts.push("no workload matches".to_owned());
        }
        parts.extend(self.pending.iter().cloned());
        parts.push(format!(
            "{} pods ready (want at least {})",
            self.ready_pods.len(),
            self.min_ready
        ));
        if !self.not_ready.is_empty() {
            parts.push(format!(
                "not ready: {}",
                named_list(&self.not_ready, MAX_PODS_NAMED)
            ));
        }
        parts.join("; ")
    }

    fn outputs(&self) -> Outputs {
        Outputs::new()
            .with("ready_pods", self.ready_pods.len())
            .with("pods", self.ready_pods.clone())
            .with("workloads", self.complete.clone())
    }
}

/// Waits until the workloads of a namespace have rolled out and their pods are Ready.
///
/// Read-only. Ready means: every Deployment, StatefulSet and DaemonSet (of `kinds`, matching
/// `selector`) has a complete rollout as `kubectl rollout status` judges it (observed
/// generation, updated / ready / available replicas, StatefulSet revisions), every pod that
/// matches `selector` (except pods being deleted and `Succeeded` ones) is `Ready`, and at least
/// `min_ready` (default 1) pods are Ready.
///
/// - `check`: ready now -> done; else ready to wait (with the current state).
/// - `execute`: waits with `wait_until` until ready; at the deadline, the error names each
///   pending rollout and each pod that is not ready and why (`CrashLoopBackOff` with its
///   message and last exit code, `ImagePullBackOff`, the scheduler's `Unschedulable`
///   message, a failing readiness probe).
/// - `verify`: ready now, else `PostconditionFailed` with the same details.
///
/// Outputs: `ready_pods` (count), `pods` (names of the Ready pods), `workloads` (one line
/// per workload, e.g. `Deployment api: 2/2 available`).
///
/// Not a [`Probe`](drkit_core::Probe): its `execute` waits for readiness instead of failing
/// at once.
#[derive(Debug, HasBase)]
pub struct WaitReady {
    base: Base<Self>,
}

impl ActionKind for WaitReady {
    const KIND: &'static str = "k8s.wait_ready";
    const SUMMARY: &'static str = "Wait until the Deployments, StatefulSets and DaemonSets of a \
                                   namespace have rolled out and their pods are Ready";
    const MUTATES: bool = false;
    /// Only when a step names an EKS `cluster` (see [`Act::iam`]).
    const IAM_ACTIONS: &'static [&'static str] = EKS_IAM_ACTIONS;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("ready_pods", "how many matching pods are Ready"),
        OutputDoc::new("pods", "the names of the Ready pods"),
        OutputDoc::new(
            "workloads",
            "one line per workload, e.g. `Deployment api: 2/2 available`",
        ),
    ];
    type Params = WaitReadyParams;
    type Port = dyn Connect;
    type Ports = K8sPorts;

    fn validate(p: &WaitReadyParams) -> Result<(), ParamError> {
        label("namespace", &p.namespace)?;
        if p.kinds.is_empty() {
            return Err(ParamError::new(
                "kinds",
                "give at least one of Deployment, StatefulSet, DaemonSet (or leave it out)",
            ));
        }
        if p.selector.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(ParamError::new(
                "selector",
                "the selector is empty; leave it out to select everything",
            ));
        }
        cluster_ref(p.context.as_ref(), p.cluster.as_ref(), p.region.as_ref()).map(|_| ())
    }

    fn build(step: StepSpec<WaitReadyParams>, ports: &K8sPorts) -> Result<Self, ParamError> {
        let p = &step.params;
        let cluster = cluster_ref(p.context.as_ref(), p.cluster.as_ref(), p.region.as_ref())?;
        let conn = connect(ports, &cluster, step.region())?;
        Ok(Self::new(step.id, step.params, &cluster, conn))
    }
}

impl WaitReady {
    /// A step `id` with `params`, on `cluster`, connecting through `connect`.
    pub fn new(
        id: impl Into<String>,
        params: WaitReadyParams,
        cluster: &ClusterRef,
        connect: Arc<dyn Connect>,
    ) -> Self {
        let target = Resource::new("k8s", "namespace", params.namespace.clone())
            .in_region(Some(cluster.location()));
        Self {
            base: Base::new(id, params, target, connect),
        }
    }

    fn what(&self) -> String {
        let p = &self.base.params;
        match &p.selector {
            Some(s) => format!("workloads and pods ({s}) in namespace {}", p.namespace),
            None => format!("workloads and pods in namespace {}", p.namespace),
        }
    }

    fn list_params(&self) -> ListParams {
        match &self.base.params.selector {
            Some(s) => ListParams::default().labels(s),
            None => ListParams::default(),
        }
    }

    /// One observation.
    async fn observe(&self, ctx: &Context) -> Result<Readiness, ActionError> {
        let client: Client = ctx.bounded(self.base.port.client()).await?;
        let ns = &self.base.params.namespace;
        let lp = self.list_params();
        let mut r = Readiness {
            min_ready: self.base.params.min_ready.unwrap_or(1),
            ..Readiness::default()
        };
        let mut push = |result: rollout::Rollout| match result {
            Ok(done) => r.complete.push(done),
            Err(pending) => r.pending.push(pending),
        };
        let mut kinds = self.base.params.kinds.clone();
        kinds.sort();
        kinds.dedup();
        for kind in kinds {
            match kind {
                WorkloadKind::Deployment => {
                    let api = Api::<Deployment>::namespaced(client.clone(), ns);
                    let what = format!("Deployments in {ns}");
                    let items = list(ctx, api, &lp, &what).await?;
                    items.iter().map(rollout::deployment).for_each(&mut push);
                }
                WorkloadKind::StatefulSet => {
                    let api = Api::<StatefulSet>::namespaced(client.clone(), ns);
                    let what = format!("StatefulSets in {ns}");
                    let items = list(ctx, api, &lp, &what).await?;
                    items.iter().map(rollout::stateful_set).for_each(&mut push);
                }
                WorkloadKind::DaemonSet => {
                    let api = Api::<DaemonSet>::namespaced(client.clone(), ns);
                    let what = format!("DaemonSets in {ns}");
                    let items = list(ctx, api, &lp, &what).await?;
                    items.iter().map(rollout::daemon_set).for_each(&mut push);
                }
            }
        }
        let what = format!("Pods in {ns}");
        let pods = list(ctx, Api::<Pod>::namespaced(client, ns), &lp, &what).await?;
        for pod in pods.iter().filter(|p| rollout::is_counted(p)) {
            let name = pod.metadata.name.clone().unwrap_or_default();
            if rollout::is_ready(pod) {
                r.ready_pods.push(name);
            } else {
                r.not_ready
                    .push(format!("{name}: {}", rollout::not_ready_reason(pod)));
            }
        }
        r.ready_pods.sort();
        r.not_ready.sort();
        Ok(r)
    }
}

#[async_trait]
impl Act for WaitReady {
    fn iam(&self) -> &'static [&'static str] {
        iam_for(self.base.params.cluster.as_deref())
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        Ok(check_ready(&self.what(), &self.observe(ctx).await?))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        wait_ready(ctx, &self.what(), &self.base.wait, || self.observe(ctx)).await
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        confirm_ready(&self.what(), &self.observe(ctx).await?)
    }
}

#[cfg(test)]
#[path = "ready_tests.rs"]
mod tests;
