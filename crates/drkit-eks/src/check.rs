//! `eks.check_cluster` and `eks.check_nodegroup`: read-only checks of a cluster and a node group.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::{ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource};
use serde::Deserialize;
use serde_json::Value;

use crate::port::{EksApi, EksCluster, HealthIssue, Nodegroup};

/// The kind name of [`CheckCluster`].
pub(crate) const CHECK_CLUSTER_KIND: &str = "eks.check_cluster";
/// The IAM actions [`CheckCluster`] needs.
pub(crate) const CHECK_CLUSTER_IAM: &[&str] = &["eks:DescribeCluster"];
/// The kind name of [`CheckNodegroup`].
pub(crate) const CHECK_NODEGROUP_KIND: &str = "eks.check_nodegroup";
/// The IAM actions [`CheckNodegroup`] needs.
pub(crate) const CHECK_NODEGROUP_IAM: &[&str] = &["eks:DescribeNodegroup"];

fn issues_value(issues: &[HealthIssue]) -> Value {
    Value::from(issues.iter().map(ToString::to_string).collect::<Vec<_>>())
}

fn issues_text(issues: &[HealthIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The parameters of `eks.check_cluster`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckClusterParams {
    /// The cluster name, e.g. `mint-dr`.
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
pub struct CheckCluster {
    id: String,
    params: CheckClusterParams,
    target: Resource,
    api: Arc<dyn EksApi>,
}

impl fmt::Debug for CheckCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckCluster")
            .field("id", &self.id)
            .field("params", &self.params)
            .field("target", &self.target)
            .finish_non_exhaustive()
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
            id: id.into(),
            params,
            target,
            api,
        }
    }

    async fn describe(&self, ctx: &Context) -> Result<EksCluster, ActionError> {
        ctx.bounded(self.api.describe_cluster(&self.params.cluster))
            .await
            .map_err(|e| e.in_action(self))
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
impl RecoveryAction for CheckCluster {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> &'static str {
        CHECK_CLUSTER_KIND
    }

    fn target(&self) -> &Resource {
        &self.target
    }

    fn mutates(&self) -> bool {
        false
    }

    fn iam_actions(&self) -> &'static [&'static str] {
        CHECK_CLUSTER_IAM
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        let cluster = match self.describe(ctx).await {
            Ok(cluster) => cluster,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "EKS cluster {} does not exist",
                    self.params.cluster
                )));
            }
            Err(e) => return Err(e),
        };
        if !cluster.is_active() {
            return Ok(Check::blocked(format!(
                "{}, not ACTIVE",
                Self::describe_state(&cluster)
            )));
        }
        Ok(Check::Done {
            detail: Self::describe_state(&cluster),
            outputs: Self::outputs(&cluster),
        })
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let cluster = self.describe(ctx).await?;
        ctx.progress(Self::describe_state(&cluster));
        Ok(Self::outputs(&cluster))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let cluster = self.describe(ctx).await?;
        if cluster.is_active() {
            Ok(Self::describe_state(&cluster))
        } else {
            Err(ActionError::postcondition(format!(
                "{}, not ACTIVE",
                Self::describe_state(&cluster)
            ))
            .in_action(self))
        }
    }
}

/// The parameters of `eks.check_nodegroup`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckNodegroupParams {
    /// The cluster name.
    pub cluster: String,
    /// The node group name.
    pub nodegroup: String,
    /// The fewest nodes the group must be asked to run (its desired size); none by default.
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
pub struct CheckNodegroup {
    id: String,
    params: CheckNodegroupParams,
    target: Resource,
    api: Arc<dyn EksApi>,
}

impl fmt::Debug for CheckNodegroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckNodegroup")
            .field("id", &self.id)
            .field("params", &self.params)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// The resource of a node group: `eks:nodegroup/<cluster>/<nodegroup>`.
pub(crate) fn nodegroup_resource(cluster: &str, nodegroup: &str, region: Option<&str>) -> Resource {
    Resource::new("eks", "nodegroup", format!("{cluster}/{nodegroup}")).in_region(region)
}

/// The outputs every node-group action reports about a node group.
pub(crate) fn nodegroup_outputs(ng: &Nodegroup) -> Outputs {
    Outputs::new()
        .with("status", ng.status.clone())
        .with("min_size", ng.scaling.min_size)
        .with("max_size", ng.scaling.max_size)
        .with("desired_size", ng.scaling.desired_size)
        .with("instance_types", Value::from(ng.instance_types.clone()))
        .with(
            "capacity_type",
            ng.capacity_type.clone().unwrap_or_default(),
        )
        .with("health_issues", issues_value(&ng.health_issues))
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
            id: id.into(),
            params,
            target,
            api,
        }
    }

    async fn describe(&self, ctx: &Context) -> Result<Nodegroup, ActionError> {
        ctx.bounded(
            self.api
                .describe_nodegroup(&self.params.cluster, &self.params.nodegroup),
        )
        .await
        .map_err(|e| e.in_action(self))
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
        if let Some(min) = self.params.min_ready
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
        format!(
            "node group {} of EKS cluster {}",
            self.params.nodegroup, self.params.cluster
        )
    }
}

#[async_trait]
impl RecoveryAction for CheckNodegroup {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> &'static str {
        CHECK_NODEGROUP_KIND
    }

    fn target(&self) -> &Resource {
        &self.target
    }

    fn mutates(&self) -> bool {
        false
    }

    fn iam_actions(&self) -> &'static [&'static str] {
        CHECK_NODEGROUP_IAM
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        let ng = match self.describe(ctx).await {
            Ok(ng) => ng,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!("{} does not exist", self.name())));
            }
            Err(e) => return Err(e),
        };
        let problems = self.problems(&ng);
        if problems.is_empty() {
            Ok(Check::Done {
                detail: format!("{} is healthy: {}", self.name(), ng.summary()),
                outputs: nodegroup_outputs(&ng),
            })
        } else {
            Ok(Check::blocked(format!(
                "{}: {}",
                self.name(),
                problems.join("; ")
            )))
        }
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let ng = self.describe(ctx).await?;
        ctx.progress(format!("{}: {}", self.name(), ng.summary()));
        Ok(nodegroup_outputs(&ng))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let ng = self.describe(ctx).await?;
        let problems = self.problems(&ng);
        if problems.is_empty() {
            Ok(format!("{} is healthy: {}", self.name(), ng.summary()))
        } else {
            Err(
                ActionError::postcondition(format!("{}: {}", self.name(), problems.join("; ")))
                    .in_action(self),
            )
        }
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
