//! The adapter: [`RdsApi`] over `aws-sdk-rds`.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::primitives::DateTime;
use drkit_aws::SdkResultExt;
use drkit_core::{ActionError, ErrorKind};

use crate::port::{
    ClusterMember, Datapoint, DbCluster, DbInstance, DbSnapshot, Endpoint, GlobalCluster,
    GlobalFailover, GlobalMember, MetricsApi, RdsApi, RestoreSettings, RestoreTime,
    SecondaryCluster, ServerlessV2Scaling, SnapshotOf,
};

fn time(t: Option<&DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

fn not_found(operation: &str, what: &str) -> ActionError {
    ActionError::new(ErrorKind::NotFound, format!("{what} not found")).with_operation(operation)
}

/// A list parameter: left out when empty (RDS's default), sent when not.
fn some_list(items: &[String]) -> Option<Vec<String>> {
    (!items.is_empty()).then(|| items.to_vec())
}

/// The create and failover calls are made exactly once by the actions (`drkit_core::once`):
/// one attempt, as an SDK retry after a lost answer would be refused "already exists" (or, for
/// a failover, fail back).
fn one_attempt() -> aws_sdk_rds::config::Builder {
    aws_sdk_rds::Config::builder().retry_config(drkit_aws::single_attempt())
}

drkit_aws::sdk_adapter! {
    /// [`RdsApi`] over an `aws-sdk-rds` client.
    pub struct SdkRds(Client);
}

fn cluster_from_sdk(c: &aws_sdk_rds::types::DbCluster) -> DbCluster {
    DbCluster {
        id: c.db_cluster_identifier().unwrap_or_default().to_owned(),
        arn: c.db_cluster_arn().map(str::to_owned),
        status: c.status().unwrap_or("unknown").to_owned(),
        engine: c.engine().map(str::to_owned),
        endpoint: c.endpoint().map(str::to_owned),
        reader_endpoint: c.reader_endpoint().map(str::to_owned),
        members: c
            .db_cluster_members()
            .iter()
            .map(|m| ClusterMember {
                instance_id: m.db_instance_identifier().unwrap_or_default().to_owned(),
                is_writer: m.is_cluster_writer().unwrap_or(false),
                promotion_tier: m.promotion_tier(),
            })
            .collect(),
        replication_source: c.replication_source_identifier().map(str::to_owned),
        earliest_restorable: time(c.earliest_restorable_time()),
        latest_restorable: time(c.latest_restorable_time()),
        created: time(c.cluster_create_time()),
        subnet_group: c.db_subnet_group().map(str::to_owned),
        security_groups: security_group_ids(c.vpc_security_groups()),
        parameter_group: c.db_cluster_parameter_group().map(str::to_owned),
        serverless_v2: c.serverless_v2_scaling_configuration().and_then(|s| {
            Some(ServerlessV2Scaling {
                min_capacity: s.min_capacity()?,
                max_capacity: s.max_capacity()?,
            })
        }),
        global_cluster: c.global_cluster_identifier().map(str::to_owned),
    }
}

fn scaling_to_sdk(s: ServerlessV2Scaling) -> aws_sdk_rds::types::ServerlessV2ScalingConfiguration {
    aws_sdk_rds::types::ServerlessV2ScalingConfiguration::builder()
        .min_capacity(s.min_capacity)
        .max_capacity(s.max_capacity)
        .build()
}

fn security_group_ids(groups: &[aws_sdk_rds::types::VpcSecurityGroupMembership]) -> Vec<String> {
    groups
        .iter()
        .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
        .collect()
}

fn global_from_sdk(g: &aws_sdk_rds::types::GlobalCluster) -> GlobalCluster {
    GlobalCluster {
        id: g.global_cluster_identifier().unwrap_or_default().to_owned(),
        status: g.status().unwrap_or("unknown").to_owned(),
        members: g
            .global_cluster_members()
            .iter()
            .map(|m| GlobalMember {
                arn: m.db_cluster_arn().unwrap_or_default().to_owned(),
                is_writer: m.is_writer().unwrap_or(false),
                synchronization: m.synchronization_status().map(|s| s.as_str().to_owned()),
            })
            .collect(),
        // An empty FailoverState means none in progress.
        failover: g.failover_state().and_then(|f| {
            Some(GlobalFailover {
                status: f.status()?.as_str().to_owned(),
                from: f.from_db_cluster_arn().map(str::to_owned),
                to: f.to_db_cluster_arn().map(str::to_owned),
                data_loss_allowed: f.is_data_loss_allowed().unwrap_or(false),
            })
        }),
        engine: g.engine().map(str::to_owned),
        engine_version: g.engine_version().map(str::to_owned),
        storage_encrypted: g.storage_encrypted(),
    }
}

fn instance_from_sdk(i: &aws_sdk_rds::types::DbInstance) -> DbInstance {
    DbInstance {
        id: i.db_instance_identifier().unwrap_or_default().to_owned(),
        status: i.db_instance_status().unwrap_or("unknown").to_owned(),
        cluster: i.db_cluster_identifier().map(str::to_owned),
        engine: i.engine().map(str::to_owned),
        instance_class: i.db_instance_class().map(str::to_owned),
        endpoint: i.endpoint().and_then(|e| {
            e.address().map(|address| Endpoint {
                address: address.to_owned(),
                port: e.port(),
            })
        }),
        replication_source: i
            .read_replica_source_db_instance_identifier()
            .map(str::to_owned),
        created: time(i.instance_create_time()),
        latest_restorable: time(i.latest_restorable_time()),
        backup_retention_days: i.backup_retention_period(),
        subnet_group: i
            .db_subnet_group()
            .and_then(|g| g.db_subnet_group_name())
            .map(str::to_owned),
        security_groups: security_group_ids(i.vpc_security_groups()),
        parameter_group: i
            .db_parameter_groups()
            .iter()
            .find_map(|g| g.db_parameter_group_name())
            .map(str::to_owned),
    }
}

fn snapshot_from_sdk(s: &aws_sdk_rds::types::DbSnapshot) -> DbSnapshot {
    DbSnapshot {
        id: s.db_snapshot_identifier().unwrap_or_default().to_owned(),
        status: s.status().unwrap_or("unknown").to_owned(),
        of: SnapshotOf::Instance,
        source: s.db_instance_identifier().unwrap_or_default().to_owned(),
        created: time(s.snapshot_create_time()),
    }
}

fn cluster_snapshot_from_sdk(s: &aws_sdk_rds::types::DbClusterSnapshot) -> DbSnapshot {
    DbSnapshot {
        id: s
            .db_cluster_snapshot_identifier()
            .unwrap_or_default()
            .to_owned(),
        status: s.status().unwrap_or("unknown").to_owned(),
        of: SnapshotOf::Cluster,
        source: s.db_cluster_identifier().unwrap_or_default().to_owned(),
        created: time(s.snapshot_create_time()),
    }
}

#[async_trait]
impl RdsApi for SdkRds {
    async fn describe_global_cluster(&self, global: &str) -> Result<GlobalCluster, ActionError> {
        let out = self
            .client
            .get()
            .await
            .describe_global_clusters()
            .global_cluster_identifier(global)
            .send()
            .await
            .or_action_error("DescribeGlobalClusters")?;
        out.global_clusters()
            .iter()
            .find(|g| g.global_cluster_identifier() == Some(global))
            .map(global_from_sdk)
            .ok_or_else(|| {
                not_found(
                    "DescribeGlobalClusters",
                    &format!("global cluster {global}"),
                )
            })
    }

    async fn switchover_global_cluster(
        &self,
        global: &str,
        target: &str,
    ) -> Result<(), ActionError> {
        self.client
            .get()
            .await
            .switchover_global_cluster()
            .global_cluster_identifier(global)
            .target_db_cluster_identifier(target)
            // Sent twice, a switchover may switch back: one attempt, then the action reconciles.
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("SwitchoverGlobalCluster")?;
        Ok(())
    }

    async fn failover_global_cluster(&self, global: &str, target: &str) -> Result<(), ActionError> {
        self.client
            .get()
            .await
            .failover_global_cluster()
            .global_cluster_identifier(global)
            .target_db_cluster_identifier(target)
            .allow_data_loss(true)
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("FailoverGlobalCluster")?;
        Ok(())
    }

    async fn remove_from_global_cluster(
        &self,
        global: &str,
        cluster: &str,
    ) -> Result<(), ActionError> {
        self.client
            .get()
            .await
            .remove_from_global_cluster()
            .global_cluster_identifier(global)
            .db_cluster_identifier(cluster)
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("RemoveFromGlobalCluster")?;
        Ok(())
    }

    async fn create_global_cluster(
        &self,
        global: &str,
        source: &str,
        deletion_protection: Option<bool>,
    ) -> Result<(), ActionError> {
        self.client
            .get()
            .await
            .create_global_cluster()
            .global_cluster_identifier(global)
            .source_db_cluster_identifier(source)
            .set_deletion_protection(deletion_protection)
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("CreateGlobalCluster")?;
        Ok(())
    }

    async fn delete_global_cluster(&self, global: &str) -> Result<(), ActionError> {
        self.client
            .get()
            .await
            .delete_global_cluster()
            .global_cluster_identifier(global)
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("DeleteGlobalCluster")?;
        Ok(())
    }

    async fn create_global_secondary(
        &self,
        secondary: &SecondaryCluster,
    ) -> Result<(), ActionError> {
        let settings = &secondary.settings;
        self.client
            .get()
            .await
            .create_db_cluster()
            .db_cluster_identifier(&secondary.cluster)
            .global_cluster_identifier(&secondary.global)
            .engine(&secondary.engine)
            .set_engine_version(secondary.engine_version.clone())
            .set_storage_encrypted(secondary.storage_encrypted)
            .set_kms_key_id(secondary.kms_key_id.clone())
            .set_db_subnet_group_name(settings.subnet_group.clone())
            .set_vpc_security_group_ids(some_list(&settings.security_groups))
            .set_db_cluster_parameter_group_name(settings.cluster_parameter_group.clone())
            .set_serverless_v2_scaling_configuration(settings.serverless_v2.map(scaling_to_sdk))
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("CreateDBCluster")?;
        Ok(())
    }

    async fn describe_db_cluster(&self, cluster: &str) -> Result<DbCluster, ActionError> {
        let out = self
            .client
            .get()
            .await
            .describe_db_clusters()
            .db_cluster_identifier(cluster)
            .send()
            .await
            .or_action_error("DescribeDBClusters")?;
        out.db_clusters()
            .iter()
            .find(|c| c.db_cluster_identifier() == Some(cluster))
            .map(cluster_from_sdk)
            .ok_or_else(|| not_found("DescribeDBClusters", &format!("DB cluster {cluster}")))
    }

    async fn describe_db_instance(&self, instance: &str) -> Result<DbInstance, ActionError> {
        let out = self
            .client
            .get()
            .await
            .describe_db_instances()
            .db_instance_identifier(instance)
            .send()
            .await
            .or_action_error("DescribeDBInstances")?;
        out.db_instances()
            .iter()
            .find(|i| i.db_instance_identifier() == Some(instance))
            .map(instance_from_sdk)
            .ok_or_else(|| not_found("DescribeDBInstances", &format!("DB instance {instance}")))
    }

    async fn failover_db_cluster<'a>(
        &self,
        cluster: &str,
        target: Option<&'a str>,
    ) -> Result<(), ActionError> {
        self.client
            .get()
            .await
            .failover_db_cluster()
            .db_cluster_identifier(cluster)
            .set_target_db_instance_identifier(target.map(str::to_owned))
            // Sent twice, a failover fails back: one attempt, then the action reconciles.
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("FailoverDBCluster")?;
        Ok(())
    }

    async fn promote_read_replica(&self, instance: &str) -> Result<(), ActionError> {
        self.client
            .get()
            .await
            .promote_read_replica()
            .db_instance_identifier(instance)
            .send()
            .await
            .or_action_error("PromoteReadReplica")?;
        Ok(())
    }

    async fn promote_read_replica_db_cluster(&self, cluster: &str) -> Result<(), ActionError> {
        self.client
            .get()
            .await
            .promote_read_replica_db_cluster()
            .db_cluster_identifier(cluster)
            .send()
            .await
            .or_action_error("PromoteReadReplicaDBCluster")?;
        Ok(())
    }

    async fn restore_instance_to_point_in_time<'a>(
        &self,
        source: &str,
        target: &str,
        time: RestoreTime,
        instance_class: Option<&'a str>,
        settings: &RestoreSettings,
    ) -> Result<(), ActionError> {
        let request = self
            .client
            .get()
            .await
            .restore_db_instance_to_point_in_time()
            .source_db_instance_identifier(source)
            .target_db_instance_identifier(target)
            .set_db_instance_class(instance_class.map(str::to_owned))
            .set_db_subnet_group_name(settings.subnet_group.clone())
            .set_vpc_security_group_ids(some_list(&settings.security_groups))
            .set_db_parameter_group_name(settings.parameter_group.clone());
        let request = match time {
            RestoreTime::Latest => request.use_latest_restorable_time(true),
            RestoreTime::At(at) => request.restore_time(DateTime::from(at)),
        };
        request
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("RestoreDBInstanceToPointInTime")?;
        Ok(())
    }

    async fn restore_instance_from_snapshot<'a>(
        &self,
        target: &str,
        snapshot: &str,
        instance_class: Option<&'a str>,
        settings: &RestoreSettings,
    ) -> Result<(), ActionError> {
        self.client
            .get()
            .await
            .restore_db_instance_from_db_snapshot()
            .db_instance_identifier(target)
            .db_snapshot_identifier(snapshot)
            .set_db_instance_class(instance_class.map(str::to_owned))
            .set_db_subnet_group_name(settings.subnet_group.clone())
            .set_vpc_security_group_ids(some_list(&settings.security_groups))
            .set_db_parameter_group_name(settings.parameter_group.clone())
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("RestoreDBInstanceFromDBSnapshot")?;
        Ok(())
    }

    async fn restore_cluster_to_point_in_time(
        &self,
        source: &str,
        target: &str,
        time: RestoreTime,
        settings: &RestoreSettings,
    ) -> Result<(), ActionError> {
        let request = self
            .client
            .get()
            .await
            .restore_db_cluster_to_point_in_time()
            .source_db_cluster_identifier(source)
            .db_cluster_identifier(target)
            .set_db_subnet_group_name(settings.subnet_group.clone())
            .set_vpc_security_group_ids(some_list(&settings.security_groups))
            .set_db_cluster_parameter_group_name(settings.cluster_parameter_group.clone())
            .set_serverless_v2_scaling_configuration(settings.serverless_v2.map(scaling_to_sdk));
        let request = match time {
            RestoreTime::Latest => request.use_latest_restorable_time(true),
            RestoreTime::At(at) => request.restore_to_time(DateTime::from(at)),
        };
        request
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("RestoreDBClusterToPointInTime")?;
        Ok(())
    }

    async fn create_cluster_instance<'a>(
        &self,
        instance: &str,
        cluster: &str,
        engine: &str,
        instance_class: &str,
        parameter_group: Option<&'a str>,
    ) -> Result<(), ActionError> {
        self.client
            .get()
            .await
            .create_db_instance()
            .db_instance_identifier(instance)
            .db_cluster_identifier(cluster)
            .engine(engine)
            .db_instance_class(instance_class)
            .set_db_parameter_group_name(parameter_group.map(str::to_owned))
            .customize()
            .config_override(one_attempt())
            .send()
            .await
            .or_action_error("CreateDBInstance")?;
        Ok(())
    }

    async fn describe_instance_snapshots(
        &self,
        instance: &str,
    ) -> Result<Vec<DbSnapshot>, ActionError> {
        let mut snapshots = Vec::new();
        let mut pages = self
            .client
            .get()
            .await
            .describe_db_snapshots()
            .db_instance_identifier(instance)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.or_action_error("DescribeDBSnapshots")?;
            snapshots.extend(page.db_snapshots().iter().map(snapshot_from_sdk));
        }
        Ok(snapshots)
    }

    async fn describe_snapshot(
        &self,
        of: SnapshotOf,
        snapshot: &str,
    ) -> Result<DbSnapshot, ActionError> {
        match of {
            SnapshotOf::Instance => self
                .client
                .get()
                .await
                .describe_db_snapshots()
                .db_snapshot_identifier(snapshot)
                .send()
                .await
                .or_action_error("DescribeDBSnapshots")?
                .db_snapshots()
                .iter()
                .map(snapshot_from_sdk)
                .find(|s| s.id == snapshot),
            SnapshotOf::Cluster => self
                .client
                .get()
                .await
                .describe_db_cluster_snapshots()
                .db_cluster_snapshot_identifier(snapshot)
                .send()
                .await
                .or_action_error("DescribeDBClusterSnapshots")?
                .db_cluster_snapshots()
                .iter()
                .map(cluster_snapshot_from_sdk)
                .find(|s| s.id == snapshot),
        }
        .ok_or_else(|| not_found("DescribeDBSnapshots", &format!("snapshot {snapshot}")))
    }

    async fn create_snapshot(
        &self,
        of: SnapshotOf,
        source: &str,
        snapshot: &str,
    ) -> Result<(), ActionError> {
        match of {
            SnapshotOf::Instance => {
                self.client
                    .get()
                    .await
                    .create_db_snapshot()
                    .db_instance_identifier(source)
                    .db_snapshot_identifier(snapshot)
                    .send()
                    .await
                    .or_action_error("CreateDBSnapshot")?;
            }
            SnapshotOf::Cluster => {
                self.client
                    .get()
                    .await
                    .create_db_cluster_snapshot()
                    .db_cluster_identifier(source)
                    .db_cluster_snapshot_identifier(snapshot)
                    .send()
                    .await
                    .or_action_error("CreateDBClusterSnapshot")?;
            }
        }
        Ok(())
    }

    async fn delete_db_instance(&self, instance: &str) -> Result<(), ActionError> {
        self.client
            .get()
            .await
            .delete_db_instance()
            .db_instance_identifier(instance)
            .skip_final_snapshot(true)
            .send()
            .await
            .or_action_error("DeleteDBInstance")?;
        Ok(())
    }

    async fn delete_db_cluster(&self, cluster: &str) -> Result<(), ActionError> {
        self.client
            .get()
            .await
            .delete_db_cluster()
            .db_cluster_identifier(cluster)
            .skip_final_snapshot(true)
            .send()
            .await
            .or_action_error("DeleteDBCluster")?;
        Ok(())
    }
}

drkit_aws::sdk_adapter! {
    /// [`MetricsApi`] over an `aws-sdk-cloudwatch` client.
    pub struct SdkCloudWatch(aws_sdk_cloudwatch::Client);
}

#[async_trait]
impl MetricsApi for SdkCloudWatch {
    async fn lag(
        &self,
        metric: &str,
        dimension: &str,
        value: &str,
        since: SystemTime,
    ) -> Result<Vec<Datapoint>, ActionError> {
        use aws_sdk_cloudwatch::types::{Dimension, Statistic};

        // EndTime is exclusive and a period is reported only once it lies inside the window, so
        // an end of "now" can drop the current minute (moto does; CloudWatch may round). The
        // window ends one period after now: no datapoint can come from the future.
        let end = SystemTime::now() + std::time::Duration::from_secs(60);
        let out = self
            .client
            .get()
            .await
            .get_metric_statistics()
            .namespace("AWS/RDS")
            .metric_name(metric)
            .dimensions(Dimension::builder().name(dimension).value(value).build())
            .start_time(aws_sdk_cloudwatch::primitives::DateTime::from(since))
            .end_time(aws_sdk_cloudwatch::primitives::DateTime::from(end))
            .period(60)
            .statistics(Statistic::Maximum)
            .send()
            .await
            .or_action_error("GetMetricStatistics")?;
        let mut points: Vec<Datapoint> = out
            .datapoints()
            .iter()
            .filter_map(|d| {
                Some(Datapoint {
                    at: d.timestamp().and_then(|t| SystemTime::try_from(*t).ok())?,
                    value: d.maximum()?,
                })
            })
            .collect();
        points.sort_by_key(|d| d.at);
        Ok(points)
    }
}
