//! `elasticache.check_replication_group`: a read-only check of a replication group.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::{ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::port::{CacheClusterState, ElastiCacheApi, ReplicationGroup};

/// The kind name.
pub(crate) const KIND: &str = "elasticache.check_replication_group";

/// The IAM actions it needs.
pub(crate) const IAM_ACTIONS: &[&str] = &[
    "elasticache:DescribeReplicationGroups",
    "elasticache:DescribeCacheClusters",
];

/// The resource of a replication group: `elasticache:replication-group/<id>`.
pub(crate) fn group_resource(group: &str, region: Option<&str>) -> Resource {
    Resource::new("elasticache", "replication-group", group).in_region(region)
}

/// The parameters of `elasticache.check_replication_group`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
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
pub struct CheckReplicationGroup {
    id: String,
    params: CheckReplicationGroupParams,
    target: Resource,
    api: Arc<dyn ElastiCacheApi>,
}

impl fmt::Debug for CheckReplicationGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckReplicationGroup")
            .field("id", &self.id)
            .field("params", &self.params)
            .field("target", &self.target)
            .finish_non_exhaustive()
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
        let target = group_resource(&params.replication_group, region);
        Self {
            id: id.into(),
            params,
            target,
            api,
        }
    }

    async fn look(&self, ctx: &Context) -> Result<Seen, ActionError> {
        let group = ctx
            .bounded(
                self.api
                    .describe_replication_group(&self.params.replication_group),
            )
            .await
            .map_err(|e| e.in_action(self))?;
        let states = ctx
            .bounded(self.api.member_states(&self.params.replication_group))
            .await
            .map_err(|e| e.in_action(self))?;
        Ok(Seen { group, states })
    }
}

#[async_trait]
impl RecoveryAction for CheckReplicationGroup {
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
        IAM_ACTIONS
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        let seen = match self.look(ctx).await {
            Ok(seen) => seen,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "replication group {} does not exist",
                    self.params.replication_group
                )));
            }
            Err(e) => return Err(e),
        };
        let problems = seen.problems();
        if problems.is_empty() {
            Ok(Check::Done {
                detail: seen.detail(),
                outputs: seen.outputs(),
            })
        } else {
            Ok(Check::blocked(format!(
                "replication group {}: {}",
                seen.group.id,
                problems.join("; ")
            )))
        }
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let seen = self.look(ctx).await?;
        ctx.progress(seen.detail());
        Ok(seen.outputs())
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let seen = self.look(ctx).await?;
        let problems = seen.problems();
        if problems.is_empty() {
            Ok(seen.detail())
        } else {
            Err(ActionError::postcondition(format!(
                "replication group {}: {}",
                seen.group.id,
                problems.join("; ")
            ))
            .in_action(self))
        }
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
