//! `eks.check_cluster` and `eks.check_nodegroup`: read-only checks of a cluster and a node group.
//!
//! Probes that report ([`ProbeExecute::Report`]): their `execute` reports what it read whatever
//! it shows (it changes nothing, and a step recording a degraded group's sizes is useful);
//! `check` and `verify` judge.

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    ActionError, ActionKind, Base, Context, Finding, HasBase, Outputs, Params, PortFactory, Probe,
    ProbeExecute, Resource, StepSpec,
};
use serde::Deserialize;

use crate::common::{
    HEALTH_ISSUES, NODEGROUP_OUTPUTS, cluster_name, issues_text, issues_value, nodegroup_name,
    nodegroup_outputs, nodegroup_resource,
};
use crate::port::{EksApi, EksCluster, Nodegroup};

/// The parameters of `eks.check_cluster`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckClusterParams {
    /// The EKS cluster name.
    pub cluster: String,
}

impl CheckClusterParams {
    /// Check `cluster`.
    pub fn new(cluster: impl Into<String>) -> Self {
        Self {
            cluster: cluster.into(),
        }
    }
}

/// Checks that an EKS cluster is `ACTIVE`, and reports its Kubernetes version, endpoint and
/// health issues.
///
/// - `check`: `Done` with the outputs when the cluster is `ACTIVE`; `Blocked` when it is not, or
///   does not exist. Health issues are reported (outputs, detail) but do not block.
/// - `execute`: the same read; returns the outputs whatever the status (it changes nothing).
/// - `verify`: fails unless the cluster is `ACTIVE`.
///
/// Outputs: `status`, `version`, `endpoint`, `platform_version`, `health_issues` (a list of
/// `CODE: message`).
#[derive(Debug, HasBase)]
pub struct CheckCluster {
    base: Base<Self>,
}

impl ActionKind for CheckCluster {
    const KIND: &'static str = "eks.check_cluster";
    const SUMMARY: &'static str = "Check that an EKS cluster is ACTIVE; report its Kubernetes \
                                   version, endpoint and health issues";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &["eks:DescribeCluster"];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new(
            "status",
            "the cluster status (ACTIVE, CREATING, UPDATING, ...)",
        ),
        OutputDoc::new("version", "the Kubernetes version"),
        OutputDoc::new("endpoint", "the Kubernetes API server endpoint"),
        OutputDoc::new("platform_version", "the EKS platform version"),
        HEALTH_ISSUES,
    ];
    type Params = CheckClusterParams;
    type Port = dyn EksApi;
    type Ports = PortFactory<dyn EksApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        cluster_name(&p.cluster)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = Resource::new("eks", "cluster", step.params.cluster.clone());
        Ok(Self {
            base: step.into_base(target, ports),
        })
    }
}

impl CheckCluster {
    /// A check step `id` with `params`, talking to EKS through `api`; `region` only labels the
    /// resource.
    pub fn new(
        id: impl Into<String>,
        params: CheckClusterParams,
        api: Arc<dyn EksApi>,
        region: Option<&str>,
    ) -> Self {
        let target = Resource::new("eks", "cluster", params.cluster.clone()).in_region(region);
        Self {
            base: Base::new(id, params, target, api),
        }
    }

    async fn describe(&self, ctx: &Context) -> Result<EksCluster, ActionError> {
        ctx.bounded(self.base.port.describe_cluster(&self.base.params.cluster))
            .await
    }

    fn outputs(cluster: &EksCluster) -> Outputs {
        Outputs::new()
            .with("status", cluster.status.clone())
            .with("version", cluster.version.clone().unwrap_or_default())
            .with("endpoint", cluster.endpoint.clone().unwrap_or_default())
            .with(
                "platform_version",
                cluster.platform_version.clone().unwrap_or_default(),
            )
            .with("health_issues", issues_value(&cluster.health_issues))
    }

    fn describe_state(cluster: &EksCluster) -> String {
        let mut text = format!(
            "EKS cluster {} is {} (Kubernetes {}, endpoint {})",
            cluster.name,
            cluster.status,
            cluster.version.as_deref().unwrap_or("unknown"),
            cluster.endpoint.as_deref().unwrap_or("none"),
        );
        if !cluster.health_issues.is_empty() {
            text.push_str(&format!(
                "; health issues: {}",
                issues_text(&cluster.health_issues)
            ));
        }
        text
    }
}

#[async_trait]
impl Probe for CheckCluster {
    const EXECUTE: ProbeExecute = ProbeExecute::Report;

    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let cluster = self.describe(ctx).await.map_err(|e| {
            e.with_not_found_message(|| {
                format!("EKS cluster {} does not exist", self.base.params.cluster)
            })
        })?;
        let state = Self::describe_state(&cluster);
        Ok(if cluster.is_active() {
            Finding::pass(state, Self::outputs(&cluster))
        } else {
            Finding::fail(format!("{state}, not ACTIVE"), Self::outputs(&cluster))
        })
    }
}

/// The parameters of `eks.check_nodegroup`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckNodegroupParams {
    /// The EKS cluster name.
    pub cluster: String,
    /// The managed node group name.
    pub nodegroup: String,
    /// The fewest nodes the group must run (compared with its desired size).
    #[serde(default)]
    pub min_ready: Option<u32>,
}

impl CheckNodegroupParams {
    /// Check `nodegroup` of `cluster`.
    pub fn new(cluster: impl Into<String>, nodegroup: impl Into<String>) -> Self {
        Self {
            cluster: cluster.into(),
            nodegroup: nodegroup.into(),
            min_ready: None,
        }
    }

    /// Requires a desired size of at least `nodes`.
    #[must_use]
    pub fn min_ready(mut self, nodes: u32) -> Self {
        self.min_ready = Some(nodes);
        self
    }
}

/// Checks that a managed node group is `ACTIVE`, has no health issues and (with `min_ready`)
/// runs at least that many nodes.
///
/// EKS's API knows the node group's desired size, not how many Kubernetes nodes are `Ready`:
/// `min_ready` is compared with the desired size of an `ACTIVE` group without health issues
/// (EKS reports instances that fail to launch or join as health issues).
///
/// - `check`: `Done` with the outputs when all holds; `Blocked` with every failed condition.
/// - `execute`: the same read; returns the outputs whatever they show (it changes nothing).
/// - `verify`: fails unless all holds.
///
/// Outputs: `status`, `min_size`, `max_size`, `desired_size`, `instance_types`,
/// `capacity_type`, `health_issues` (a list of `CODE: message`).
#[derive(Debug, HasBase)]
pub struct CheckNodegroup {
    base: Base<Self>,
}

impl ActionKind for CheckNodegroup {
    const KIND: &'static str = "eks.check_nodegroup";
    const SUMMARY: &'static str = "Check that an EKS managed node group is ACTIVE without health \
                                   issues (and runs at least min_ready nodes)";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &["eks:DescribeNodegroup"];
    const OUTPUTS: &'static [OutputDoc] = &[
        NODEGROUP_OUTPUTS[0],
        NODEGROUP_OUTPUTS[1],
        NODEGROUP_OUTPUTS[2],
        NODEGROUP_OUTPUTS[3],
        NODEGROUP_OUTPUTS[4],
        NODEGROUP_OUTPUTS[5],
        HEALTH_ISSUES,
    ];
    type Params = CheckNodegroupParams;
    type Port = dyn EksApi;
    type Ports = PortFactory<dyn EksApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        cluster_name(&p.cluster)?;
        nodegroup_name(&p.nodegroup)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = nodegroup_resource(&step.params.cluster, &step.params.nodegroup, None);
        Ok(Self {
            base: step.into_base(target, ports),
        })
    }
}

impl CheckNodegroup {
    /// A check step `id` with `params`, talking to EKS through `api`; `region` only labels the
    /// resource.
    pub fn new(
        id: impl Into<String>,
        params: CheckNodegroupParams,
        api: Arc<dyn EksApi>,
        region: Option<&str>,
    ) -> Self {
        let target = nodegroup_resource(&params.cluster, &params.nodegroup, region);
        Self {
            base: Base::new(id, params, target, api),
        }
    }

    async fn describe(&self, ctx: &Context) -> Result<Nodegroup, ActionError> {
        let p = &self.base.params;
        ctx.bounded(self.base.port.describe_nodegroup(&p.cluster, &p.nodegroup))
            .await
    }

    /// Every condition that does not hold.
    fn problems(&self, ng: &Nodegroup) -> Vec<String> {
        let mut problems = Vec::new();
        if !ng.is_active() {
            problems.push(format!("status is {}, not ACTIVE", ng.status));
        }
        if !ng.health_issues.is_empty() {
            problems.push(format!("health issues: {}", issues_text(&ng.health_issues)));
        }
        if let Some(min) = self.base.params.min_ready
            && ng.scaling.desired_size < min
        {
            problems.push(format!(
                "desired size {} is below min_ready {min}",
                ng.scaling.desired_size
            ));
        }
        problems
    }

    fn name(&self) -> String {
        let p = &self.base.params;
        format!("node group {} of EKS cluster {}", p.nodegroup, p.cluster)
    }
}

#[async_trait]
impl Probe for CheckNodegroup {
    const EXECUTE: ProbeExecute = ProbeExecute::Report;

    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let ng = self
            .describe(ctx)
            .await
            .map_err(|e| e.with_not_found_message(|| format!("{} does not exist", self.name())))?;
        let problems = self.problems(&ng);
        Ok(if problems.is_empty() {
            Finding::pass(
                format!("{} is healthy: {}", self.name(), ng.summary()),
                nodegroup_outputs(&ng),
            )
        } else {
            Finding::fail(
                format!("{}: {}", self.name(), problems.join("; ")),
                nodegroup_outputs(&ng),
            )
        })
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
