//! The adapter: [`ElastiCacheApi`] over `aws-sdk-elasticache`.

use async_trait::async_trait;
use aws_sdk_elasticache::Client;
use drkit_aws::SdkResultExt;
use drkit_core::{ActionError, ErrorKind};

use crate::port::{
    CacheClusterState, ElastiCacheApi, GlobalDatastore, GlobalDatastoreMember, NodeGroup,
    NodeGroupMember, ReplicationGroup,
};

/// One SDK attempt: the calls that change state are not sent again by the SDK when their
/// answer is lost (a retried `ModifyReplicationGroup` would meet the group `modifying`, a
/// retried failover could fail back); the actions reconcile by reading instead.
fn one_attempt() -> aws_sdk_elasticache::config::Builder {
    aws_sdk_elasticache::Config::builder().retry_config(drkit_aws::single_attempt())
}

drkit_aws::sdk_adapter! {
    /// [`ElastiCacheApi`] over an `aws-sdk-elasticache` client.
    pub struct SdkElastiCache(Client);
}

fn group_from_sdk(g: &aws_sdk_elasticache::types::ReplicationGroup) -> ReplicationGroup {
    ReplicationGroup {
        id: g.replication_group_id().unwrap_or_default().to_owned(),
        status: g.status().unwrap_or("unknown").to_owned(),
        automatic_failover: g
            .automatic_failover()
            .map_or("disabled", |a| a.as_str())
            .to_owned(),
        multi_az: g.multi_az().map_or("disabled", |m| m.as_str()).to_owned(),
        cluster_enabled: g.cluster_enabled().unwrap_or(false),
        node_groups: g
            .node_groups()
            .iter()
            .map(|n| NodeGroup {
                id: n.node_group_id().unwrap_or_default().to_owned(),
                status: n.status().unwrap_or("unknown").to_owned(),
                primary_endpoint: n
                    .primary_endpoint()
                    .and_then(|e| e.address())
                    .map(str::to_owned),
                members: n
                    .node_group_members()
                    .iter()
                    .map(|m| NodeGroupMember {
                        cache_cluster_id: m.cache_cluster_id().unwrap_or_default().to_owned(),
                        role: m.current_role().map(str::to_owned),
                        availability_zone: m.preferred_availability_zone().map(str::to_owned),
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[async_trait]
impl ElastiCacheApi for SdkElastiCache {
    async fn describe_replication_group(
        &self,
        group: &str,
    ) -> Result<ReplicationGroup, ActionError> {
        let out = self
            .client()
            .await
            .describe_replication_groups()
            .replication_group_id(group)
            .send()
            .await
            .or_action_error("DescribeReplicationGroups")?;
        out.replication_groups()
            .iter()
            .find(|g| g.replication_group_id() == Some(group))
            .map(group_from_sdk)
            .ok_or_else(|| {
                ActionError::new(
                    ErrorKind::NotFound,
                    format!("replication group {group} not found"),
                )
                .with_operation("DescribeReplicationGroups")
            })
    }

    async fn member_states(&self, group: &str) -> Result<Vec<CacheClusterState>, ActionError> {
        let mut states = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client()
                .await
                .describe_cache_clusters()
                .max_records(100)
                .set_marker(marker.take())
                .send()
                .await
                .or_action_error("DescribeCacheClusters")?;
            states.extend(
                out.cache_clusters()
                    .iter()
                    .filter(|c| c.replication_group_id() == Some(group))
                    .map(|c| CacheClusterState {
                        cache_cluster_id: c.cache_cluster_id().unwrap_or_default().to_owned(),
                        status: c.cache_cluster_status().unwrap_or("unknown").to_owned(),
                    }),
            );
            match out.marker() {
                Some(next) if !next.is_empty() => marker = Some(next.to_owned()),
                _ => return Ok(states),
            }
        }
    }

    async fn set_primary_cluster(
        &self,
        group: &str,
        cache_cluster: &str,
    ) -> Result<(), ActionError> {
        self.client()
            .await
            .modify_replication_group()
            .replication_group_id(group)
            .primary_cluster_id(cache_cluster)
            .apply_immediately(true)
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("ModifyReplicationGroup")?;
        Ok(())
    }

    async fn set_failover_settings(
        &self,
        group: &str,
        automatic_failover: bool,
        multi_az: bool,
    ) -> Result<(), ActionError> {
        self.client()
            .await
            .modify_replication_group()
            .replication_group_id(group)
            .automatic_failover_enabled(automatic_failover)
            .multi_az_enabled(multi_az)
            .apply_immediately(true)
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("ModifyReplicationGroup")?;
        Ok(())
    }

    async fn test_failover(&self, group: &str, node_group: &str) -> Result<(), ActionError> {
        self.client()
            .await
            .test_failover()
            .replication_group_id(group)
            .node_group_id(node_group)
            // One attempt: a retried TestFailover whose first answer was lost would start a
            // second failover (and use up the quota); the action reconciles by reading instead.
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("TestFailover")?;
        Ok(())
    }

    async fn describe_global_datastore(
        &self,
        global: &str,
    ) -> Result<GlobalDatastore, ActionError> {
        let out = self
            .client()
            .await
            .describe_global_replication_groups()
            .global_replication_group_id(global)
            .show_member_info(true)
            .send()
            .await
            .or_action_error("DescribeGlobalReplicationGroups")?;
        out.global_replication_groups()
            .iter()
            .find(|g| g.global_replication_group_id() == Some(global))
            .map(global_from_sdk)
            .ok_or_else(|| {
                ActionError::new(
                    ErrorKind::NotFound,
                    format!("global datastore {global} not found"),
                )
                .with_operation("DescribeGlobalReplicationGroups")
            })
    }

    async fn failover_global_datastore(
        &self,
        global: &str,
        primary_region: &str,
        primary_replication_group: &str,
    ) -> Result<(), ActionError> {
        self.client()
            .await
            .failover_global_replication_group()
            .global_replication_group_id(global)
            .primary_region(primary_region)
            .primary_replication_group_id(primary_replication_group)
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("FailoverGlobalReplicationGroup")?;
        Ok(())
    }
}

fn global_from_sdk(g: &aws_sdk_elasticache::types::GlobalReplicationGroup) -> GlobalDatastore {
    GlobalDatastore {
        id: g
            .global_replication_group_id()
            .unwrap_or_default()
            .to_owned(),
        status: g.status().unwrap_or("unknown").to_owned(),
        members: g
            .members()
            .iter()
            .map(|m| GlobalDatastoreMember {
                replication_group: m.replication_group_id().unwrap_or_default().to_owned(),
                region: m.replication_group_region().unwrap_or_default().to_owned(),
                role: m.role().unwrap_or_default().to_owned(),
                status: m.status().unwrap_or_default().to_owned(),
            })
            .collect(),
    }
}
