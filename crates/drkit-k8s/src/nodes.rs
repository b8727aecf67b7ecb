//! `k8s.wait_nodes_ready`: wait until enough nodes of an EKS managed node group (or of a label
//! selector) are Ready and schedulable — what a scaled node group's `ACTIVE` status does not
//! say: that the new instances' kubelets have joined the cluster.

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, HasBase, Outputs, Params, Resource,
    StepSpec,
};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use serde::Deserialize;

use crate::common::{
    EKS_IAM_ACTIONS, cluster_ref, connect, iam_for, label_value, list, named_list,
};
use crate::connect::{ClusterRef, Connect};
use crate::register::K8sPorts;
use crate::rollout::with_message;
use crate::waiting::{Observation, check_ready, confirm_ready, wait_ready};

/// The label EKS puts on every node of a managed node group: its name.
pub const NODEGROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";

/// The taints the node lifecycle controller puts on a node whose `Ready` condition is `False`
/// or `Unknown` (and removes when it is `True` again).
const NOT_READY_TAINTS: [&str; 2] = [
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

/// How many nodes that do not count a state names (the rest are counted).
const MAX_NODES_NAMED: usize = 5;

/// How many Ready nodes the output `nodes` names.
pub const MAX_NODES_LISTED: usize = 100;

/// The parameters of `k8s.wait_nodes_ready`: `nodegroup` or `selector` (exactly one), and
/// `count`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct WaitNodesReadyParams {
    /// an EKS managed node group: its nodes are those with the label
    /// `eks.amazonaws.com/nodegroup=<name>`, which EKS sets on them (give this or `selector`)
    #[serde(default)]
    pub nodegroup: Option<String>,
    /// a label selector for the nodes (e.g. `karpenter.sh/nodepool=default`), instead of
    /// `nodegroup`
    #[serde(default)]
    pub selector: Option<String>,
    /// the fewest Ready and schedulable nodes to wait for (at least 1); e.g.
    /// `"${steps.<scale step>.outputs.desired_size}"`, a number
    pub count: u32,
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

impl WaitNodesReadyParams {
    /// At least `count` Ready nodes of the EKS managed node group `nodegroup`.
    pub fn nodegroup(nodegroup: impl Into<String>, count: u32) -> Self {
        Self::new(Some(nodegroup.into()), None, count)
    }

    /// At least `count` Ready nodes matching the label selector `selector`.
    pub fn selector(selector: impl Into<String>, count: u32) -> Self {
        Self::new(None, Some(selector.into()), count)
    }

    fn new(nodegroup: Option<String>, selector: Option<String>, count: u32) -> Self {
        Self {
            nodegroup,
            selector,
            count,
            context: None,
            cluster: None,
            region: None,
        }
    }

    /// The label selector the nodes are listed with.
    fn label_selector(&self) -> String {
        match (&self.nodegroup, &self.selector) {
            (Some(group), _) => format!("{NODEGROUP_LABEL}={group}"),
            (None, Some(selector)) => selector.clone(),
            (None, None) => String::new(),
        }
    }
}

/// Why `node` does not count as Ready and schedulable, in words; `None` when it counts: its
/// `Ready` condition is `True`, it is not cordoned (`spec.unschedulable`), has no
/// `node.kubernetes.io/not-ready` or `unreachable` taint and is not being deleted.
pub fn node_problem(node: &Node) -> Option<String> {
    let mut why = Vec::new();
    if node.metadata.deletion_timestamp.is_some() {
        why.push("being deleted".to_owned());
    }
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    match ready {
        None => why.push("no Ready condition yet (its kubelet has not reported)".to_owned()),
        Some(c) if c.status == "True" => {}
        Some(c) => {
            let state = if c.status == "Unknown" {
                "Ready Unknown"
            } else {
                "NotReady"
            };
            let reason = c.reason.as_deref().unwrap_or("no reason given");
            why.push(with_message(
                &format!("{state}: {reason}"),
                c.message.as_deref(),
            ));
        }
    }
    let spec = node.spec.as_ref();
    if spec.and_then(|s| s.unschedulable) == Some(true) {
        why.push("cordoned (unschedulable)".to_owned());
    }
    for taint in spec.and_then(|s| s.taints.as_ref()).into_iter().flatten() {
        if NOT_READY_TAINTS.contains(&taint.key.as_str()) {
            why.push(format!("taint {}:{}", taint.key, taint.effect));
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// One observation of the nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NodeReadiness {
    /// The names of the nodes that count, sorted.
    pub(crate) ready: Vec<String>,
    /// `node: why`, sorted.
    pub(crate) not_ready: Vec<String>,
    /// How many must count.
    pub(crate) count: u32,
}

impl NodeReadiness {
    /// Sorts `nodes` into those that count and those that do not.
    pub(crate) fn of(nodes: &[Node], count: u32) -> Self {
        let mut r = Self {
            count,
            ..Self::default()
        };
        for node in nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            match node_problem(node) {
                None => r.ready.push(name),
                Some(why) => r.not_ready.push(format!("{name}: {why}")),
            }
        }
        r.ready.sort();
        r.not_ready.sort();
        r
    }
}

impl Observation for NodeReadiness {
    fn is_ready(&self) -> bool {
        self.ready.len() >= usize::try_from(self.count).unwrap_or(usize::MAX)
    }

    fn state(&self) -> String {
        let seen = self.ready.len() + self.not_ready.len();
        if seen == 0 {
            return format!("no node matches (want at least {})", self.count);
        }
        let mut state = format!(
            "{} of {seen} nodes ready (want at least {})",
            self.ready.len(),
            self.count
        );
        if !self.not_ready.is_empty() {
            state.push_str("; not ready: ");
            state.push_str(&named_list(&self.not_ready, MAX_NODES_NAMED));
        }
        state
    }

    fn outputs(&self) -> Outputs {
        let listed: Vec<String> = self.ready.iter().take(MAX_NODES_LISTED).cloned().collect();
        Outputs::new()
            .with("ready_nodes", self.ready.len())
            .with("nodes", listed)
            .with("not_ready", self.not_ready.len())
    }
}

/// Waits until at least `count` nodes of an EKS managed node group (label
/// `eks.amazonaws.com/nodegroup=<nodegroup>`) or of a label `selector` are Ready and
/// schedulable.
///
/// Read-only. A node counts when its `Ready` condition is `True` and it is schedulable: not
/// cordoned (`spec.unschedulable`), without a `node.kubernetes.io/not-ready` or
/// `node.kubernetes.io/unreachable` taint, not being deleted.
///
/// - `check`: `count` nodes count now -> done (with the outputs); else ready to wait (with the
///   current state).
/// - `execute`: lists the nodes with `wait_until` until `count` of them count; at the deadline
///   the error says how many of how many seen are ready and names the first 5 that are not,
///   and why (the `Ready` condition's status, reason and message, cordoned, a taint).
/// - `verify`: `count` nodes count now, else `PostconditionFailed` with the same details.
///
/// Outputs: `ready_nodes` (how many count), `nodes` (their names, the first
/// [`MAX_NODES_LISTED`]), `not_ready` (how many matching nodes do not count).
///
/// Not a [`Probe`](drkit_core::Probe): its `execute` waits instead of failing at once.
#[derive(Debug, HasBase)]
pub struct WaitNodesReady {
    base: Base<Self>,
}

impl ActionKind for WaitNodesReady {
    const KIND: &'static str = "k8s.wait_nodes_ready";
    const SUMMARY: &'static str = "Wait until at least `count` nodes of an EKS managed node \
                                   group (or a label selector) are Ready and schedulable";
    const MUTATES: bool = false;
    /// Only when a step names an EKS `cluster` (see [`Act::iam`]).
    const IAM_ACTIONS: &'static [&'static str] = EKS_IAM_ACTIONS;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new(
            "ready_nodes",
            "how many matching nodes are Ready and schedulable",
        ),
        OutputDoc::new(
            "nodes",
            "the names of those nodes, as a list (the first 100)",
        ),
        OutputDoc::new(
            "not_ready",
            "how many matching nodes are not (NotReady, cordoned, tainted not-ready or \
             unreachable)",
        ),
    ];
    type Params = WaitNodesReadyParams;
    type Port = dyn Connect;
    type Ports = K8sPorts;

    fn validate(p: &WaitNodesReadyParams) -> Result<(), ParamError> {
        match (&p.nodegroup, &p.selector) {
            (Some(_), Some(_)) => {
                return Err(ParamError::new(
                    "selector",
                    "give `nodegroup` (an EKS managed node group) or `selector` (a label \
                     selector), not both",
                ));
            }
            (None, None) => {
                return Err(ParamError::new(
                    "nodegroup",
                    "give `nodegroup` (an EKS managed node group) or `selector` (a label \
                     selector of the nodes)",
                ));
            }
            (Some(group), None) => label_value("nodegroup", group)?,
            (None, Some(selector)) => {
                if selector.trim().is_empty() {
                    return Err(ParamError::new(
                        "selector",
                        "the selector is empty; give one that picks the nodes, or `nodegroup`",
                    ));
                }
            }
        }
        if p.count == 0 {
            return Err(ParamError::new(
                "count",
                "must be at least 1: zero nodes are always ready (leave the step out instead)",
            ));
        }
        cluster_ref(p.context.as_ref(), p.cluster.as_ref(), p.region.as_ref()).map(|_| ())
    }

    fn build(step: StepSpec<WaitNodesReadyParams>, ports: &K8sPorts) -> Result<Self, ParamError> {
        let p = &step.params;
        let cluster = cluster_ref(p.context.as_ref(), p.cluster.as_ref(), p.region.as_ref())?;
        let conn = connect(ports, &cluster, step.region())?;
        Ok(Self::new(step.id, step.params, &cluster, conn))
    }
}

impl WaitNodesReady {
    /// A step `id` with `params`, on `cluster`, connecting through `connect`.
    pub fn new(
        id: impl Into<String>,
        params: WaitNodesReadyParams,
        cluster: &ClusterRef,
        connect: Arc<dyn Connect>,
    ) -> Self {
        let target = match &params.nodegroup {
            Some(group) => Resource::new("k8s", "nodegroup", group.clone()),
            None => Resource::new("k8s", "nodes", params.label_selector()),
        }
        .in_region(Some(cluster.location()));
        Self {
            base: Base::new(id, params, target, connect),
        }
    }

    fn what(&self) -> String {
        let p = &self.base.params;
        match &p.nodegroup {
            Some(group) => format!("nodes of node group {group}"),
            None => format!("nodes ({})", p.label_selector()),
        }
    }

    /// One observation.
    async fn observe(&self, ctx: &Context) -> Result<NodeReadiness, ActionError> {
        let client = ctx.bounded(self.base.port.client()).await?;
        let selector = self.base.params.label_selector();
        let lp = ListParams::default().labels(&selector);
        let nodes = list(
            ctx,
            Api::<Node>::all(client),
            &lp,
            &format!("Nodes ({selector})"),
        )
        .await?;
        Ok(NodeReadiness::of(&nodes, self.base.params.count))
    }
}

#[async_trait]
impl Act for WaitNodesReady {
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
#[path = "nodes_tests.rs"]
mod tests;
