//! `elasticache.check_replication_group`: a read-only check of a replication group.

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    ActionError, ActionKind, Base, Context, Finding, HasBase, Outputs, Params, PortFactory, Probe,
    ProbeExecute, StepSpec,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::common::{group_id, group_resource};
use crate::port::{CacheClusterState, ElastiCacheApi, ReplicationGroup};

/// The parameters of `elasticache.check_replication_group`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckReplicationGroupParams {
    /// The replication group id, e.g. `mint-cache`.
    pub replication_group: String,
}

impl CheckReplicationGroupParams {
    /// Check `replication_group`.
    pub fn new(replication_group: impl Into<String>) -> Self {
        Self {
            replication_group: replication_group.into(),
        }
    }
}

/// Checks a replication group: its status, which member is primary, the replicas and their
/// state, and its automatic failover and Multi-AZ settings.
///
/// - `check`: `Done` with the outputs when the group is `available`, every node group has a
///   primary (for cluster-mode-disabled groups, where ElastiCache reports roles) and no member
///   is in a state other than `available`; `Blocked` with every failed condition otherwise.
/// - `execute`: the same reads; returns the outputs whatever they show (it changes nothing).
/// - `verify`: fails unless all holds.
///
/// Member states come from `DescribeCacheClusters`; a member it does not list has the state
/// `unknown`, which is reported but does not block.
///
/// Outputs: `status`, `primary` (of the first node group), `primaries` (node group -> primary),
/// `replicas` (a list of `{cache_cluster_id, node_group, status}`), `automatic_failover`,
/// `multi_az`, `cluster_enabled`.
///
/// A probe that reports ([`ProbeExecute::Report`]): its `execute` reports what it reads even
/// when the group is not healthy (only `check` and `verify` judge).
#[derive(Debug, HasBase)]
pub struct CheckReplicationGroup {
    base: Base<Self>,
}

impl ActionKind for CheckReplicationGroup {
    const KIND: &'static str = "elasticache.check_replication_group";
    const SUMMARY: &'static str = "Check an ElastiCache replication group: status, primary, \
                                   replicas and their state, automatic failover and Multi-AZ";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "elasticache:DescribeReplicationGroups",
        "elasticache:DescribeCacheClusters",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("status", "the group status (available, modifying, ...)"),
        OutputDoc::new("primary", "the primary member of the first node group"),
        OutputDoc::new("primaries", "node group id -> primary member"),
        OutputDoc::new(
            "replicas",
            "a list of {cache_cluster_id, node_group, status}",
        ),
        OutputDoc::new(
            "automatic_failover",
            "enabled, disabled, enabling or disabling",
        ),
        OutputDoc::new("multi_az", "enabled or disabled"),
        OutputDoc::new("cluster_enabled", "whether cluster mode is enabled"),
    ];
    type Params = CheckReplicationGroupParams;
    type Port = dyn ElastiCacheApi;
    type Ports = PortFactory<dyn ElastiCacheApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        group_id(&p.replication_group)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = group_resource(&step.params.replication_group);
        Ok(Self {
            base: step.into_base(target, ports),
        })
    }
}

/// What the check saw.
struct Seen {
    group: ReplicationGroup,
    states: Vec<CacheClusterState>,
}

impl Seen {
    fn state_of(&self, cache_cluster: &str) -> &str {
        self.states
            .iter()
            .find(|s| s.cache_cluster_id == cache_cluster)
            .map_or("unknown", |s| s.status.as_str())
    }

    fn outputs(&self) -> Outputs {
        let g = &self.group;
        let mut primaries = Map::new();
        let mut replicas = Vec::new();
        for ng in &g.node_groups {
            primaries.insert(ng.id.clone(), Value::from(ng.primary().unwrap_or_default()));
            for m in ng.replicas() {
                replicas.push(json!({
                    "cache_cluster_id": m.cache_cluster_id,
                    "node_group": ng.id,
                    "status": self.state_of(&m.cache_cluster_id),
                }));
            }
        }
        Outputs::new()
            .with("status", g.status.clone())
            .with("primary", g.primary().unwrap_or_default())
            .with("primaries", Value::Object(primaries))
            .with("replicas", Value::from(replicas))
            .with("automatic_failover", g.automatic_failover.clone())
            .with("multi_az", g.multi_az.clone())
            .with("cluster_enabled", g.cluster_enabled)
    }

    fn problems(&self) -> Vec<String> {
        let g = &self.group;
        let mut problems = Vec::new();
        if !g.is_available() {
            problems.push(format!("status is {}, not available", g.status));
        }
        for ng in &g.node_groups {
            if !g.cluster_enabled && ng.primary().is_none() {
                problems.push(format!("node group {} has no primary", ng.id));
            }
            for m in &ng.members {
                let state = self.state_of(&m.cache_cluster_id);
                if state != "available" && state != "unknown" {
                    problems.push(format!("member {} is {state}", m.cache_cluster_id));
                }
            }
        }
        problems
    }

    fn detail(&self) -> String {
        let g = &self.group;
        let replicas: Vec<String> = g
            .node_groups
            .iter()
            .flat_map(|ng| {
                ng.replicas().map(|m| {
                    format!(
                        "{} ({})",
                        m.cache_cluster_id,
                        self.state_of(&m.cache_cluster_id)
                    )
                })
            })
            .collect();
        format!(
            "replication group {} is {}: primary {}, replicas [{}], automatic failover {}, \
             Multi-AZ {}",
            g.id,
            g.status,
            g.primary().unwrap_or("unknown"),
            replicas.join(", "),
            g.automatic_failover,
            g.multi_az
        )
    }
}

impl CheckReplicationGroup {
    /// A check step `id` with `params`, talking to ElastiCache through `api`; `region` only
    /// labels the resource.
    pub fn new(
        id: impl Into<String>,
        params: CheckReplicationGroupParams,
        api: Arc<dyn ElastiCacheApi>,
        region: Option<&str>,
    ) -> Self {
        let target = group_resource(&params.replication_group).in_region(region);
        Self {
            base: Base::new(id, params, target, api),
        }
    }

    async fn look(&self, ctx: &Context) -> Result<Seen, ActionError> {
        let group = &self.base.params.replication_group;
        let port = &self.base.port;
        let found = ctx.bounded(port.describe_replication_group(group)).await?;
        let states = ctx.bounded(port.member_states(group)).await?;
        Ok(Seen {
            group: found,
            states,
        })
    }
}

#[async_trait]
impl Probe for CheckReplicationGroup {
    const EXECUTE: ProbeExecute = ProbeExecute::Report;

    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let seen = self.look(ctx).await.map_err(|e| {
            e.with_not_found_message(|| {
                let group = &self.base.params.replication_group;
                format!("replication group {group} does not exist")
            })
        })?;
        let problems = seen.problems();
        Ok(if problems.is_empty() {
            Finding::pass(seen.detail(), seen.outputs())
        } else {
            let reason = format!(
                "replication group {}: {}",
                seen.group.id,
                problems.join("; ")
            );
            Finding::fail(reason, seen.outputs())
        })
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
