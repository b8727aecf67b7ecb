//! The port: the narrow set of RDS operations drkit uses, in drkit's own types.
//!
//! Actions are written against [`RdsApi`], never against the SDK, so they can be unit-tested
//! with `MockRdsApi` (feature `mock`) for what an emulator cannot show: intermediate states,
//! throttling, failures, long waits.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use drkit_core::ActionError;

/// An Aurora DB cluster, as drkit needs to see it.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct DbCluster {
    /// The cluster identifier.
    pub id: String,
    /// Its ARN (what the Aurora Global Database operations name a member by).
    pub arn: Option<String>,
    /// The status (`available`, `failing-over`, `modifying`, ...).
    pub status: String,
    /// The engine (`aurora-postgresql`, ...).
    pub engine: Option<String>,
    /// The writer endpoint.
    pub endpoint: Option<String>,
    /// The reader endpoint.
    pub reader_endpoint: Option<String>,
    /// The member instances.
    pub members: Vec<ClusterMember>,
    /// The cluster it replicates from (an Aurora cross-region replica), if any.
    pub replication_source: Option<String>,
    /// The earliest time it can be restored to.
    pub earliest_restorable: Option<SystemTime>,
    /// The latest time it can be restored to.
    pub latest_restorable: Option<SystemTime>,
    /// When it was created (`ClusterCreateTime`).
    pub created: Option<SystemTime>,
    /// Its DB subnet group (`DBSubnetGroup`).
    pub subnet_group: Option<String>,
    /// Its VPC security groups' ids (`VpcSecurityGroups`).
    pub security_groups: Vec<String>,
    /// Its DB cluster parameter group (`DBClusterParameterGroup`).
    pub parameter_group: Option<String>,
    /// Its Aurora Serverless v2 capacity range, if it has one.
    pub serverless_v2: Option<ServerlessV2Scaling>,
    /// The Aurora global database it is a member of (`GlobalClusterIdentifier`), if any.
    pub global_cluster: Option<String>,
}

/// An Aurora Serverless v2 capacity range (`ServerlessV2ScalingConfiguration`), in Aurora
/// capacity units (ACUs, in half steps). A cluster needs one before it can have a
/// `db.serverless` instance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServerlessV2Scaling {
    /// `MinCapacity`.
    pub min_capacity: f64,
    /// `MaxCapacity`.
    pub max_capacity: f64,
}

/// What RDS otherwise takes from its defaults when it restores into a new cluster or instance
/// (the default VPC security group, the engine's default parameter groups): what drkit sends
/// instead, the runbook's or the source's.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RestoreSettings {
    /// `DBSubnetGroupName`.
    pub subnet_group: Option<String>,
    /// `VpcSecurityGroupIds` (none: RDS's default security group).
    pub security_groups: Vec<String>,
    /// `DBClusterParameterGroupName` (a cluster restore only).
    pub cluster_parameter_group: Option<String>,
    /// `DBParameterGroupName` of the instance created.
    pub parameter_group: Option<String>,
    /// `ServerlessV2ScalingConfiguration` (a cluster restore only).
    pub serverless_v2: Option<ServerlessV2Scaling>,
}

impl RestoreSettings {
    /// `in subnet group a, security groups sg-1, sg-2, ...`: for plans and progress.
    pub fn summary(&self) -> String {
        let mut parts = vec![
            format!(
                "subnet group {}",
                self.subnet_group.as_deref().unwrap_or("(RDS default)")
            ),
            if self.security_groups.is_empty() {
                "the VPC's default security group".to_owned()
            } else {
                format!("security groups {}", self.security_groups.join(", "))
            },
        ];
        if let Some(g) = &self.cluster_parameter_group {
            parts.push(format!("cluster parameter group {g}"));
        }
        if let Some(g) = &self.parameter_group {
            parts.push(format!("parameter group {g}"));
        }
        if let Some(s) = &self.serverless_v2 {
            parts.push(format!(
                "Serverless v2 {}-{} ACUs",
                s.min_capacity, s.max_capacity
            ));
        }
        parts.join(", ")
    }
}

impl DbCluster {
    /// A cluster with an id, a status and members (handy in tests).
    pub fn new(
        id: impl Into<String>,
        status: impl Into<String>,
        members: Vec<ClusterMember>,
    ) -> Self {
        Self {
            id: id.into(),
            status: status.into(),
            members,
            ..Self::default()
        }
    }

    /// The writer instance, if any.
    pub fn writer(&self) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.is_writer)
            .map(|m| m.instance_id.as_str())
    }

    /// The reader instances.
    pub fn readers(&self) -> impl Iterator<Item = &ClusterMember> {
        self.members.iter().filter(|m| !m.is_writer)
    }

    /// Whether `instance` is a member.
    pub fn has_member(&self, instance: &str) -> bool {
        self.members.iter().any(|m| m.instance_id == instance)
    }

    /// Whether the status is `available`.
    pub fn is_available(&self) -> bool {
        self.status == "available"
    }

    /// `status=..., writer=...`, for progress events and errors.
    pub fn summary(&self) -> String {
        format!(
            "status={}, writer={}",
            self.status,
            self.writer().unwrap_or("none")
        )
    }
}

/// One member instance of a cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterMember {
    /// The instance identifier.
    pub instance_id: String,
    /// Whether it is the writer.
    pub is_writer: bool,
    /// Its failover priority (0 first).
    pub promotion_tier: Option<i32>,
}

impl ClusterMember {
    /// A writer member.
    pub fn writer(instance_id: impl Into<String>) -> Self {
        Self {
            instance_id: instance_id.into(),
            is_writer: true,
            promotion_tier: None,
        }
    }

    /// A reader member.
    pub fn reader(instance_id: impl Into<String>) -> Self {
        Self {
            instance_id: instance_id.into(),
            is_writer: false,
            promotion_tier: None,
        }
    }
}

/// A DB instance, as drkit needs to see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DbInstance {
    /// The instance identifier.
    pub id: String,
    /// The status (`available`, `rebooting`, ...).
    pub status: String,
    /// The cluster it belongs to, if any.
    pub cluster: Option<String>,
    /// The engine (`postgres`, ...).
    pub engine: Option<String>,
    /// The instance class (`db.r6g.large`, ...).
    pub instance_class: Option<String>,
    /// Where clients connect.
    pub endpoint: Option<Endpoint>,
    /// The instance it replicates from (a read replica), if any.
    pub replication_source: Option<String>,
    /// When it was created.
    pub created: Option<SystemTime>,
    /// The latest time it can be restored to.
    pub latest_restorable: Option<SystemTime>,
    /// How many days of automated backups are kept (0: none, so no point-in-time restore).
    pub backup_retention_days: Option<i32>,
    /// Its DB subnet group's name (`DBSubnetGroup`).
    pub subnet_group: Option<String>,
    /// Its VPC security groups' ids (`VpcSecurityGroups`).
    pub security_groups: Vec<String>,
    /// Its DB parameter group (the first of `DBParameterGroups`).
    pub parameter_group: Option<String>,
}

impl DbInstance {
    /// An instance with an id and a status (handy in tests).
    pub fn new(id: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            status: status.into(),
            ..Self::default()
        }
    }

    /// Whether the status is `available`.
    pub fn is_available(&self) -> bool {
        self.status == "available"
    }

    /// The window it can be restored to: from the later of its creation and the oldest kept
    /// backup, to its latest restorable time. `None` without backups or without the times.
    pub fn restorable_window(&self) -> Option<(SystemTime, SystemTime)> {
        let latest = self.latest_restorable?;
        let days = u64::try_from(self.backup_retention_days?)
            .ok()
            .filter(|d| *d > 0)?;
        let by_retention = latest
            .checked_sub(Duration::from_secs(days * 86_400))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let earliest = match self.created {
            Some(created) => created.max(by_retention),
            None => by_retention,
        };
        Some((earliest.min(latest), latest))
    }
}

/// A network endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    /// The DNS name.
    pub address: String,
    /// The port.
    pub port: Option<i32>,
}

/// Whether a snapshot is of an instance or of a cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SnapshotOf {
    /// A DB instance snapshot.
    #[default]
    Instance,
    /// An Aurora DB cluster snapshot.
    Cluster,
}

/// A DB snapshot or DB cluster snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DbSnapshot {
    /// The snapshot identifier.
    pub id: String,
    /// The status (`creating`, `available`, ...).
    pub status: String,
    /// What it is a snapshot of.
    pub of: SnapshotOf,
    /// The instance or cluster it was taken from.
    pub source: String,
    /// When it was taken.
    pub created: Option<SystemTime>,
}

impl DbSnapshot {
    /// A snapshot (handy in tests).
    pub fn new(
        id: impl Into<String>,
        status: impl Into<String>,
        source: impl Into<String>,
        created: Option<SystemTime>,
    ) -> Self {
        Self {
            id: id.into(),
            status: status.into(),
            of: SnapshotOf::Instance,
            source: source.into(),
            created,
        }
    }
}

/// The point in time of a restore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreTime {
    /// The latest restorable time.
    Latest,
    /// This instant.
    At(SystemTime),
}

/// A datapoint of a CloudWatch metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Datapoint {
    /// Its time.
    pub at: SystemTime,
    /// Its value (for `ReplicaLag`: seconds).
    pub value: f64,
}

/// The RDS operations drkit uses. Implemented by [`crate::SdkRds`] over `aws-sdk-rds`, and by
/// `MockRdsApi` (feature `mock`) in tests.
///
/// Errors are [`ActionError`]s already classified (not found, throttled, ...): a missing
/// resource is an error of kind `NotFound`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RdsApi: std::fmt::Debug + Send + Sync {
    /// `DescribeDBClusters` for one cluster.
    async fn describe_db_cluster(&self, cluster: &str) -> Result<DbCluster, ActionError>;

    /// `DescribeDBInstances` for one instance.
    async fn describe_db_instance(&self, instance: &str) -> Result<DbInstance, ActionError>;

    /// `FailoverDBCluster`, optionally to `target` (a reader of the cluster).
    async fn failover_db_cluster<'a>(
        &self,
        cluster: &str,
        target: Option<&'a str>,
    ) -> Result<(), ActionError>;

    /// `PromoteReadReplica`.
    async fn promote_read_replica(&self, instance: &str) -> Result<(), ActionError>;

    /// `PromoteReadReplicaDBCluster`.
    async fn promote_read_replica_db_cluster(&self, cluster: &str) -> Result<(), ActionError>;

    /// `RestoreDBInstanceToPointInTime` from `source` into a new instance `target`, with
    /// `settings`' subnet group, security groups and parameter group.
    async fn restore_instance_to_point_in_time<'a>(
        &self,
        source: &str,
        target: &str,
        time: RestoreTime,
        instance_class: Option<&'a str>,
        settings: &RestoreSettings,
    ) -> Result<(), ActionError>;

    /// `RestoreDBInstanceFromDBSnapshot` into a new instance `target`, with `settings`' subnet
    /// group, security groups and parameter group.
    async fn restore_instance_from_snapshot<'a>(
        &self,
        target: &str,
        snapshot: &str,
        instance_class: Option<&'a str>,
        settings: &RestoreSettings,
    ) -> Result<(), ActionError>;

    /// `RestoreDBClusterToPointInTime` from `source` into a new cluster `target`, with
    /// `settings`' subnet group, security groups, cluster parameter group and Serverless v2
    /// capacity range.
    async fn restore_cluster_to_point_in_time(
        &self,
        source: &str,
        target: &str,
        time: RestoreTime,
        settings: &RestoreSettings,
    ) -> Result<(), ActionError>;

    /// `CreateDBInstance` of a member instance of `cluster` (it takes the cluster's network),
    /// with DB parameter group `parameter_group` (RDS's default for the engine when `None`).
    async fn create_cluster_instance<'a>(
        &self,
        instance: &str,
        cluster: &str,
        engine: &str,
        instance_class: &str,
        parameter_group: Option<&'a str>,
    ) -> Result<(), ActionError>;

    /// `DescribeDBSnapshots` of one instance (manual and automated).
    async fn describe_instance_snapshots(
        &self,
        instance: &str,
    ) -> Result<Vec<DbSnapshot>, ActionError>;

    /// `DescribeDBSnapshots` / `DescribeDBClusterSnapshots` for one snapshot.
    async fn describe_snapshot(
        &self,
        of: SnapshotOf,
        snapshot: &str,
    ) -> Result<DbSnapshot, ActionError>;

    /// `CreateDBSnapshot` / `CreateDBClusterSnapshot` of `source`.
    async fn create_snapshot(
        &self,
        of: SnapshotOf,
        source: &str,
        snapshot: &str,
    ) -> Result<(), ActionError>;

    /// `DeleteDBInstance`, skipping the final snapshot (used to roll back an instance this run
    /// created, never anything else).
    async fn delete_db_instance(&self, instance: &str) -> Result<(), ActionError>;

    /// `DeleteDBCluster`, skipping the final snapshot (same restriction).
    async fn delete_db_cluster(&self, cluster: &str) -> Result<(), ActionError>;

    /// `DescribeGlobalClusters` for one Aurora global database (visible from the Region of
    /// any of its members).
    async fn describe_global_cluster(&self, global: &str) -> Result<GlobalCluster, ActionError>;

    /// `SwitchoverGlobalCluster`: a planned switch of the writer to `target` (a secondary's
    /// ARN), with no data loss; every Region must answer. One attempt (not idempotent).
    async fn switchover_global_cluster(
        &self,
        global: &str,
        target: &str,
    ) -> Result<(), ActionError>;

    /// `FailoverGlobalCluster` with `AllowDataLoss`: an outage failover to `target` (a
    /// secondary's ARN). One attempt (not idempotent).
    async fn failover_global_cluster(&self, global: &str, target: &str) -> Result<(), ActionError>;

    /// `RemoveFromGlobalCluster`: detaches the member `cluster` (its ARN), which becomes a
    /// standalone cluster with a writer. One attempt.
    async fn remove_from_global_cluster(
        &self,
        global: &str,
        cluster: &str,
    ) -> Result<(), ActionError>;

    /// `CreateGlobalCluster` around the existing cluster `source` (its ARN), which becomes the
    /// primary; `DeletionProtection` when given. One attempt (not idempotent).
    async fn create_global_cluster(
        &self,
        global: &str,
        source: &str,
        deletion_protection: Option<bool>,
    ) -> Result<(), ActionError>;

    /// `DeleteGlobalCluster` (it must have no member left). One attempt.
    async fn delete_global_cluster(&self, global: &str) -> Result<(), ActionError>;

    /// `CreateDBCluster` of a secondary cluster of an Aurora global database, in this port's
    /// Region (no master credentials: a secondary takes the primary's). One attempt.
    async fn create_global_secondary(
        &self,
        secondary: &SecondaryCluster,
    ) -> Result<(), ActionError>;
}

/// A new secondary cluster of an Aurora global database (`CreateDBCluster` with
/// `GlobalClusterIdentifier`).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SecondaryCluster {
    /// `DBClusterIdentifier`.
    pub cluster: String,
    /// `GlobalClusterIdentifier`.
    pub global: String,
    /// `Engine`: the global database's.
    pub engine: String,
    /// `EngineVersion`: the global database's.
    pub engine_version: Option<String>,
    /// `StorageEncrypted`: sent `true` when the global database is encrypted.
    pub storage_encrypted: Option<bool>,
    /// `KmsKeyId`: a key of the secondary's Region (an encrypted global database; without
    /// one, RDS uses the Region's default key).
    pub kms_key_id: Option<String>,
    /// Subnet group, security groups, cluster parameter group and Serverless v2 range
    /// (`parameter_group` is not used: it is the instances').
    pub settings: RestoreSettings,
}

/// An Aurora global database, as drkit needs to see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GlobalCluster {
    /// The global cluster identifier.
    pub id: String,
    /// Its status (`available`, `modifying`, `failing-over`, ...).
    pub status: String,
    /// Its members, one per Region.
    pub members: Vec<GlobalMember>,
    /// A switchover or failover scheduled or in progress.
    pub failover: Option<GlobalFailover>,
    /// `Engine` (`aurora-postgresql`, ...).
    pub engine: Option<String>,
    /// `EngineVersion`.
    pub engine_version: Option<String>,
    /// `StorageEncrypted`.
    pub storage_encrypted: Option<bool>,
}

impl GlobalCluster {
    /// A global cluster with an id, a status and members (handy in tests).
    pub fn new(
        id: impl Into<String>,
        status: impl Into<String>,
        members: Vec<GlobalMember>,
    ) -> Self {
        Self {
            id: id.into(),
            status: status.into(),
            members,
            failover: None,
            engine: None,
            engine_version: None,
            storage_encrypted: None,
        }
    }

    /// The writer member (the primary cluster), if any.
    pub fn writer(&self) -> Option<&GlobalMember> {
        self.members.iter().find(|m| m.is_writer)
    }

    /// The member named `name`: its ARN, or a cluster id in `region` (any Region when none).
    pub fn member(&self, name: &str, region: Option<&str>) -> Option<&GlobalMember> {
        self.members.iter().find(|m| {
            m.arn == name || (m.cluster_id() == name && region.is_none_or(|r| m.region() == r))
        })
    }

    /// Whether it is `available` with no switchover or failover in progress.
    pub fn is_settled(&self) -> bool {
        self.status == "available" && self.failover.is_none()
    }

    /// `status=..., writer=...` for progress events and errors.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "status={}, writer={}",
            self.status,
            self.writer().map_or("none", |w| w.arn.as_str())
        );
        if let Some(f) = &self.failover {
            text.push_str(&format!(", {} in progress", f.status));
        }
        text
    }
}

/// One member cluster of a global database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GlobalMember {
    /// The member cluster's ARN (`arn:aws:rds:<region>:<account>:cluster:<id>`).
    pub arn: String,
    /// Whether it is the primary (the writer).
    pub is_writer: bool,
    /// The secondary's synchronization status (`connected`, `pending-resync`).
    pub synchronization: Option<String>,
}

impl GlobalMember {
    /// A member by ARN.
    pub fn new(arn: impl Into<String>, is_writer: bool) -> Self {
        Self {
            arn: arn.into(),
            is_writer,
            synchronization: None,
        }
    }

    /// The Region of its ARN.
    pub fn region(&self) -> &str {
        crate::common::arn_region(&self.arn)
    }

    /// The cluster identifier of its ARN.
    pub fn cluster_id(&self) -> &str {
        self.arn.rsplit(':').next().unwrap_or_default()
    }
}

/// A switchover or failover of a global database, scheduled or in progress.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GlobalFailover {
    /// `pending`, `failing-over`, `switching-over` or `cancelling`.
    pub status: String,
    /// The ARN of the cluster being demoted.
    pub from: Option<String>,
    /// The ARN of the cluster being promoted.
    pub to: Option<String>,
    /// Whether it is a failover (data loss allowed) rather than a switchover.
    pub data_loss_allowed: bool,
}

/// The CloudWatch reads drkit-rds needs. Implemented by [`crate::SdkCloudWatch`] and by
/// `MockMetricsApi` (feature `mock`).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MetricsApi: std::fmt::Debug + Send + Sync {
    /// `GetMetricStatistics` of the `AWS/RDS` metric `metric` (maximum per minute) for the
    /// dimension `dimension` = `value` (e.g. `DBInstanceIdentifier` = `mint-replica`) since
    /// `since`, oldest first, in the metric's own unit.
    async fn lag(
        &self,
        metric: &str,
        dimension: &str,
        value: &str,
        since: SystemTime,
    ) -> Result<Vec<Datapoint>, ActionError>;
}
