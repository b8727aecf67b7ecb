//! `k8s.wait_ready`: wait until the workloads of a namespace have rolled out and their pods are
//! Ready (the seed's `kubectl get pods -n mint-replica | grep Running`, done properly).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::{
    ActionError, Check, Context, Outputs, Poll, RecoveryAction, Resource, WaitPolicy,
};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams};
use serde::Deserialize;

use crate::connect::{ClusterRef, Connect};
use crate::error::kube_error;
use crate::rollout;

/// The kind name.
pub(crate) const KIND: &str = "k8s.wait_ready";

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
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WaitReadyParams {
    /// The namespace.
    pub namespace: String,
    /// A label selector (`app=api,tier!=cache`) for the workloads and pods; all when absent.
    #[serde(default)]
    pub selector: Option<String>,
    /// The workload kinds to follow (default: Deployment, StatefulSet, DaemonSet).
    #[serde(default = "all_kinds")]
    pub kinds: Vec<WorkloadKind>,
    /// The fewest Ready pods (default 1: an empty namespace is not "ready").
    #[serde(default)]
    pub min_ready: Option<u32>,
    /// The kubeconfig context (default: the current one).
    #[serde(default)]
    pub context: Option<String>,
    /// An EKS cluster name (instead of a kubeconfig context).
    #[serde(default)]
    pub cluster: Option<String>,
    /// The EKS cluster's region (default: the step's region, else the default region).
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

impl Readiness {
    pub(crate) fn is_ready(&self) -> bool {
        self.pending.is_empty()
            && self.not_ready.is_empty()
            && self.ready_pods.len() >= usize::try_from(self.min_ready).unwrap_or(usize::MAX)
    }

    pub(crate) fn state(&self) -> String {
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
            let mut named: Vec<_> = self
                .not_ready
                .iter()
                .take(MAX_PODS_NAMED)
                .cloned()
                .collect();
            if self.not_ready.len() > MAX_PODS_NAMED {
                named.push(format!(
                    "and {} more",
                    self.not_ready.len() - MAX_PODS_NAMED
                ));
            }
            parts.push(format!("not ready: {}", named.join(", ")));
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
pub struct WaitReady {
    id: String,
    params: WaitReadyParams,
    target: Resource,
    connect: Arc<dyn Connect>,
    wait: WaitPolicy,
}

impl fmt::Debug for WaitReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitReady")
            .field("id", &self.id)
            .field("params", &self.params)
            .field("target", &self.target)
            .finish_non_exhaustive()
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
            id: id.into(),
            params,
            target,
            connect,
            wait: WaitPolicy::default(),
        }
    }

    /// Uses `policy` for the wait.
    #[must_use]
    pub fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    fn what(&self) -> String {
        match &self.params.selector {
            Some(s) => format!(
                "workloads and pods ({s}) in namespace {}",
                self.params.namespace
            ),
            None => format!("workloads and pods in namespace {}", self.params.namespace),
        }
    }

    fn list_params(&self) -> ListParams {
        match &self.params.selector {
            Some(s) => ListParams::default().labels(s),
            None => ListParams::default(),
        }
    }

    /// One observation; errors are not yet in the action's context.
    async fn observe(&self, ctx: &Context) -> Result<Readiness, ActionError> {
        let client: Client = ctx.bounded(self.connect.client()).await?;
        let ns = &self.params.namespace;
        let lp = self.list_params();
        let mut r = Readiness {
            min_ready: self.params.min_ready.unwrap_or(1),
            ..Readiness::default()
        };
        let mut push = |result: rollout::Rollout| match result {
            Ok(done) => r.complete.push(done),
            Err(pending) => r.pending.push(pending),
        };
        let mut kinds = self.params.kinds.clone();
        kinds.sort();
        kinds.dedup();
        for kind in kinds {
            match kind {
                WorkloadKind::Deployment => {
                    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
                    let list = ctx
                        .bounded(async {
                            api.list(&lp)
                                .await
                                .map_err(|e| kube_error(e, "list", &format!("Deployments in {ns}")))
                        })
                        .await?;
                    list.items
                        .iter()
                        .map(rollout::deployment)
                        .for_each(&mut push);
                }
                WorkloadKind::StatefulSet => {
                    let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
                    let list = ctx
                        .bounded(async {
                            api.list(&lp).await.map_err(|e| {
                                kube_error(e, "list", &format!("StatefulSets in {ns}"))
                            })
                        })
                        .await?;
                    list.items
                        .iter()
                        .map(rollout::stateful_set)
                        .for_each(&mut push);
                }
                WorkloadKind::DaemonSet => {
                    let api: Api<DaemonSet> = Api::namespaced(client.clone(), ns);
                    let list = ctx
                        .bounded(async {
                            api.list(&lp)
                                .await
                                .map_err(|e| kube_error(e, "list", &format!("DaemonSets in {ns}")))
                        })
                        .await?;
                    list.items
                        .iter()
                        .map(rollout::daemon_set)
                        .for_each(&mut push);
                }
            }
        }
        let api: Api<Pod> = Api::namespaced(client, ns);
        let pods = ctx
            .bounded(async {
                api.list(&lp)
                    .await
                    .map_err(|e| kube_error(e, "list", &format!("Pods in {ns}")))
            })
            .await?;
        for pod in pods.items.iter().filter(|p| rollout::is_counted(p)) {
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
impl RecoveryAction for WaitReady {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    fn target(&self) -> &Resource {
        &self.target
    }

    fn mutates(&self) -> bool {
        false
    }

    fn iam_actions(&self) -> &'static [&'static str] {
        crate::register::iam_for(&self.params.cluster)
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        let r = self.observe(ctx).await.map_err(|e| e.in_action(self))?;
        if r.is_ready() {
            return Ok(Check::Done {
                detail: format!("{} are ready: {}", self.what(), r.state()),
                outputs: r.outputs(),
            });
        }
        Ok(Check::ready(format!(
            "wait until {} are ready; now: {}",
            self.what(),
            r.state()
        )))
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let what = format!("{} to be ready", self.what());
        let r = crate::waiting::wait_keeping_state(ctx, &what, &self.wait, || async {
            let r = self.observe(ctx).await?;
            Ok(if r.is_ready() {
                Poll::Ready(r)
            } else {
                Poll::Pending(r.state())
            })
        })
        .await
        .map_err(|e| e.in_action(self))?;
        ctx.progress(format!("{} are ready: {}", self.what(), r.state()));
        Ok(r.outputs())
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let r = self.observe(ctx).await.map_err(|e| e.in_action(self))?;
        if r.is_ready() {
            Ok(format!("{} are ready: {}", self.what(), r.state()))
        } else {
            Err(
                ActionError::postcondition(format!("{} are not ready: {}", self.what(), r.state()))
                    .in_action(self),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_complete_rollouts_ready_pods_and_the_minimum() {
        let mut r = Readiness {
            complete: vec!["Deployment api: 2/2 available".into()],
            ready_pods: vec!["api-1".into(), "api-2".into()],
            min_ready: 2,
            ..Readiness::default()
        };
        assert!(r.is_ready());
        r.min_ready = 3;
        assert!(!r.is_ready());
        assert!(r.state().contains("2 pods ready (want at least 3)"));
        r.min_ready = 1;
        r.not_ready
            .push("api-3: container api CrashLoopBackOff".into());
        assert!(!r.is_ready());
        assert!(
            r.state()
                .contains("not ready: api-3: container api CrashLoopBackOff")
        );
        let empty = Readiness {
            min_ready: 1,
            ..Readiness::default()
        };
        assert!(!empty.is_ready());
        assert!(empty.state().starts_with("no workload matches"));
    }

    #[test]
    fn many_bad_pods_are_counted_not_all_named() {
        let r = Readiness {
            not_ready: (0..15).map(|i| format!("p{i:02}: x")).collect(),
            min_ready: 1,
            ..Readiness::default()
        };
        assert!(r.state().ends_with("and 5 more"));
    }
}
