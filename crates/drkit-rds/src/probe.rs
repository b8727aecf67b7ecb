//! Read-only probes: `rds.instance_status`, `rds.cluster_status`, `rds.check_replica_lag`.
//!
//! Each is a [`Probe`]: one `evaluate`, which `drkit-core` maps to check / execute / verify the
//! way every drkit probe and check does (`check` says `Done` with what it read, or `Blocked`
//! with why not; `execute` and `verify` fail with `PostconditionFailed` when it does not hold).
//! A missing instance or cluster is a failed finding ("... does not exist"), not an error.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    ActionError, ActionKind, Base, Context, ErrorKind, Finding, HasBase, Outputs, Params,
    PortFactory, Probe, Resource, StepSpec,
};
use serde::Deserialize;

use crate::common::{identifier, instance_outputs, instance_state, rfc3339, seconds_between};
use crate::port::{MetricsApi, RdsApi};

fn available() -> String {
    "available".to_owned()
}

fn one() -> usize {
    1
}

fn five_minutes() -> Duration {
    Duration::from_secs(300)
}

/// A missing resource is a failed finding; other errors stay errors.
fn missing<T>(
    found: Result<T, ActionError>,
    target: &Resource,
) -> Result<Result<T, Finding>, ActionError> {
    match found {
        Ok(v) => Ok(Ok(v)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Err(Finding::fail(
            format!("{target} does not exist"),
            Outputs::new(),
        ))),
        Err(e) => Err(e),
    }
}

/// The parameters of `rds.instance_status`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InstanceStatusParams {
    /// The instance.
    pub instance: String,
    /// The status it must have (default `available`).
    #[serde(default = "available")]
    pub expect_status: String,
}

impl InstanceStatusParams {
    /// Expects `instance` to be `available`.
    pub fn new(instance: impl Into<String>) -> Self {
        Self {
            instance: instance.into(),
            expect_status: available(),
        }
    }
}

/// `rds.instance_status`: an instance's status (and replication source).
#[derive(Debug, HasBase)]
pub struct InstanceStatus {
    base: Base<Self>,
}

impl ActionKind for InstanceStatus {
    const KIND: &'static str = "rds.instance_status";
    const SUMMARY: &'static str = "Probe an instance's status (and replication source)";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &["rds:DescribeDBInstances"];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("instance", "the instance identifier"),
        OutputDoc::new("status", "its status"),
        OutputDoc::new("endpoint", "address:port"),
        OutputDoc::new("address", "the DNS name"),
        OutputDoc::new("port", "the port"),
        OutputDoc::new(
            "replication_source",
            "the instance it replicates from (empty when standalone)",
        ),
    ];
    type Params = InstanceStatusParams;
    type Port = dyn RdsApi;
    type Ports = PortFactory<dyn RdsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        identifier("instance", &p.instance)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = Resource::new("rds", "db-instance", step.params.instance.clone());
        Ok(Self {
            base: step.into_base(target, ports),
        })
    }
}

#[async_trait]
impl Probe for InstanceStatus {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let p = &self.base.params;
        let found = ctx
            .bounded(self.base.port.describe_db_instance(&p.instance))
            .await;
        let i = match missing(found, &self.base.target)? {
            Ok(i) => i,
            Err(finding) => return Ok(finding),
        };
        Ok(if i.status == p.expect_status {
            Finding::pass(
                format!("instance {} is {}", i.id, i.status),
                instance_outputs(&i).with(
                    "replication_source",
                    i.replication_source.clone().unwrap_or_default(),
                ),
            )
        } else {
            Finding::fail(
                format!(
                    "instance {} is not {}: {}",
                    i.id,
                    p.expect_status,
                    instance_state(&i)
                ),
                Outputs::new(),
            )
        })
    }
}

/// The parameters of `rds.cluster_status`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ClusterStatusParams {
    /// The cluster.
    pub cluster: String,
    /// The status it must have (default `available`).
    #[serde(default = "available")]
    pub expect_status: String,
    /// The fewest members it must have (default 1).
    #[serde(default = "one")]
    pub min_members: usize,
}

impl ClusterStatusParams {
    /// Expects `cluster` to be `available` with at least one member.
    pub fn new(cluster: impl Into<String>) -> Self {
        Self {
            cluster: cluster.into(),
            expect_status: available(),
            min_members: one(),
        }
    }
}

/// `rds.cluster_status`: a cluster's status and members (writer, readers).
#[derive(Debug, HasBase)]
pub struct ClusterStatus {
    base: Base<Self>,
}

impl ActionKind for ClusterStatus {
    const KIND: &'static str = "rds.cluster_status";
    const SUMMARY: &'static str = "Probe a cluster's status and members (writer, readers)";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &["rds:DescribeDBClusters"];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("status", "its status"),
        OutputDoc::new("writer", "the writer instance"),
        OutputDoc::new("readers", "the reader instances"),
        OutputDoc::new("endpoint", "the writer endpoint"),
    ];
    type Params = ClusterStatusParams;
    type Port = dyn RdsApi;
    type Ports = PortFactory<dyn RdsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        identifier("cluster", &p.cluster)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = Resource::new("rds", "db-cluster", step.params.cluster.clone());
        Ok(Self {
            base: step.into_base(target, ports),
        })
    }
}

#[async_trait]
impl Probe for ClusterStatus {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let p = &self.base.params;
        let found = ctx
            .bounded(self.base.port.describe_db_cluster(&p.cluster))
            .await;
        let c = match missing(found, &self.base.target)? {
            Ok(c) => c,
            Err(finding) => return Ok(finding),
        };
        let readers: Vec<&str> = c.readers().map(|m| m.instance_id.as_str()).collect();
        Ok(if c.status != p.expect_status {
            Finding::fail(
                format!(
                    "cluster {} is not {}: {}",
                    c.id,
                    p.expect_status,
                    c.summary()
                ),
                Outputs::new(),
            )
        } else if c.members.len() < p.min_members {
            Finding::fail(
                format!(
                    "cluster {} has {} members, fewer than {}",
                    c.id,
                    c.members.len(),
                    p.min_members
                ),
                Outputs::new(),
            )
        } else {
            Finding::pass(
                format!(
                    "cluster {} is {}, writer {}, readers [{}]",
                    c.id,
                    c.status,
                    c.writer().unwrap_or("none"),
                    readers.join(", ")
                ),
                Outputs::new()
                    .with("status", c.status.clone())
                    .with("writer", c.writer().unwrap_or_default())
                    .with("readers", readers)
                    .with("endpoint", c.endpoint.clone().unwrap_or_default()),
            )
        })
    }
}

/// The CloudWatch metric a lag is read from (namespace `AWS/RDS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum LagMetric {
    /// An RDS read replica's lag, in seconds (per instance). RDS for PostgreSQL and MySQL; Aurora
    /// does not publish it.
    #[default]
    ReplicaLag,
    /// An Aurora replica's lag behind its writer, in milliseconds (per instance).
    AuroraReplicaLag,
    /// An Aurora global database secondary's replication lag, in milliseconds (per cluster;
    /// published in the secondary's Region only).
    AuroraGlobalDBReplicationLag,
    /// An Aurora PostgreSQL global database secondary's RPO lag: the commits the secondary
    /// would lose, in milliseconds (per cluster, secondary's Region).
    AuroraGlobalDBRPOLag,
}

impl LagMetric {
    /// Its CloudWatch name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ReplicaLag => "ReplicaLag",
            Self::AuroraReplicaLag => "AuroraReplicaLag",
            Self::AuroraGlobalDBReplicationLag => "AuroraGlobalDBReplicationLag",
            Self::AuroraGlobalDBRPOLag => "AuroraGlobalDBRPOLag",
        }
    }

    /// Whether it is per cluster (`DBClusterIdentifier`) rather than per instance.
    pub fn per_cluster(self) -> bool {
        matches!(
            self,
            Self::AuroraGlobalDBReplicationLag | Self::AuroraGlobalDBRPOLag
        )
    }

    /// Seconds per unit of the metric.
    pub(crate) fn seconds_per_unit(self) -> f64 {
        match self {
            Self::ReplicaLag => 1.0,
            _ => 0.001,
        }
    }
}

/// The parameters of `rds.check_replica_lag`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ReplicaLagParams {
    /// The replica instance (for `ReplicaLag` and `AuroraReplicaLag`).
    #[serde(default)]
    pub instance: Option<String>,
    /// The secondary cluster (for the Aurora global database metrics).
    #[serde(default)]
    pub cluster: Option<String>,
    /// The metric: `ReplicaLag` (RDS read replicas, the default), `AuroraReplicaLag` (Aurora
    /// replicas), `AuroraGlobalDBReplicationLag` or `AuroraGlobalDBRPOLag` (an Aurora global
    /// database's secondary cluster, read in its Region).
    #[serde(default)]
    #[param(
        ty = "ReplicaLag | AuroraReplicaLag | AuroraGlobalDBReplicationLag | AuroraGlobalDBRPOLag"
    )]
    pub metric: LagMetric,
    /// The largest acceptable lag, e.g. `"5m"` (the database RPO).
    #[serde(with = "humantime_serde")]
    pub max_lag: Duration,
    /// How recent the newest datapoint must be (default `"5m"`): an old datapoint says nothing
    /// about the replica now.
    #[serde(default = "five_minutes", with = "humantime_serde")]
    pub max_age: Duration,
}

impl ReplicaLagParams {
    /// At most `max_lag` of lag on `instance`, read from a datapoint at most 5 minutes old.
    pub fn new(instance: impl Into<String>, max_lag: Duration) -> Self {
        Self {
            instance: Some(instance.into()),
            cluster: None,
            metric: LagMetric::ReplicaLag,
            max_lag,
            max_age: five_minutes(),
        }
    }

    /// At most `max_lag` of `metric` (a per-cluster Aurora global database metric) on the
    /// secondary `cluster`.
    pub fn for_cluster(cluster: impl Into<String>, metric: LagMetric, max_lag: Duration) -> Self {
        Self {
            instance: None,
            cluster: Some(cluster.into()),
            metric,
            max_lag,
            max_age: five_minutes(),
        }
    }

    /// The dimension the metric is read for, and its value.
    fn dimension(&self) -> (&'static str, &str) {
        if self.metric.per_cluster() {
            (
                "DBClusterIdentifier",
                self.cluster.as_deref().unwrap_or_default(),
            )
        } else {
            (
                "DBInstanceIdentifier",
                self.instance.as_deref().unwrap_or_default(),
            )
        }
    }
}

/// `rds.check_replica_lag`: reads a CloudWatch lag metric (`ReplicaLag` for RDS read replicas,
/// `AuroraReplicaLag` for Aurora replicas, `AuroraGlobalDBReplicationLag` /
/// `AuroraGlobalDBRPOLag` for an Aurora global database's secondary; milliseconds converted to
/// seconds); blocked above the limit or without a recent datapoint. Its outputs carry the lag
/// as the database RPO at risk.
#[derive(Debug, HasBase)]
pub struct CheckReplicaLag {
    base: Base<Self>,
}

impl ActionKind for CheckReplicaLag {
    const KIND: &'static str = "rds.check_replica_lag";
    const SUMMARY: &'static str = "Read a CloudWatch replica lag metric (RDS, Aurora, Aurora global database); blocked above the limit or without a recent datapoint";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &["cloudwatch:GetMetricStatistics"];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("lag_seconds", "the newest lag"),
        OutputDoc::new("measured_at", "its time"),
        OutputDoc::new(
            "datapoint_age_seconds",
            "how old the newest datapoint was when read",
        ),
        OutputDoc::new("rpo_class", "`database`"),
        OutputDoc::new(
            "rpo_seconds",
            "the lag, as data that would be lost (class database)",
        ),
    ];
    type Params = ReplicaLagParams;
    type Port = dyn MetricsApi;
    type Ports = PortFactory<dyn MetricsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        match (p.metric.per_cluster(), &p.instance, &p.cluster) {
            (false, Some(instance), None) => identifier("instance", instance)?,
            (true, None, Some(cluster)) => identifier("cluster", cluster)?,
            (false, _, _) => {
                return Err(ParamError::new(
                    "instance",
                    format!(
                        "{} is read per instance: give `instance` (and no `cluster`)",
                        p.metric.name()
                    ),
                ));
            }
            (true, _, _) => {
                return Err(ParamError::new(
                    "cluster",
                    format!(
                        "{} is read per cluster (the global database's secondary): give \
                         `cluster` (and no `instance`)",
                        p.metric.name()
                    ),
                ));
            }
        }
        if p.max_age.is_zero() {
            return Err(ParamError::new("max_age", "must be longer than zero"));
        }
        Ok(())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let (kind, id) = if step.params.metric.per_cluster() {
            ("db-cluster", step.params.cluster.clone())
        } else {
            ("db-instance", step.params.instance.clone())
        };
        let target = Resource::new("rds", kind, id.unwrap_or_default());
        Ok(Self {
            base: step.into_base(target, ports),
        })
    }
}

#[async_trait]
impl Probe for CheckReplicaLag {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let p = &self.base.params;
        let now = SystemTime::now();
        let since = now.checked_sub(p.max_age).unwrap_or(SystemTime::UNIX_EPOCH);
        let (dimension, id) = p.dimension();
        let metric = p.metric.name();
        let points = ctx
            .bounded(self.base.port.lag(metric, dimension, id, since))
            .await?;
        let Some(newest) = points.iter().filter(|d| d.at >= since).max_by_key(|d| d.at) else {
            return Ok(Finding::fail(
                format!(
                    "no {metric} datapoint for {id} in the last {}: the lag is unknown",
                    humantime::format_duration(p.max_age)
                ),
                Outputs::new(),
            ));
        };
        let seconds = newest.value.max(0.0) * p.metric.seconds_per_unit();
        let lag = Duration::from_secs_f64(seconds);
        let text = format!(
            "{metric} of {id} is {:.3} s at {} (limit {})",
            seconds,
            rfc3339(newest.at),
            humantime::format_duration(p.max_lag)
        );
        Ok(if lag > p.max_lag {
            Finding::fail(text, Outputs::new())
        } else {
            Finding::pass(
                text,
                Outputs::new()
                    .with("lag_seconds", seconds)
                    .with("measured_at", rfc3339(newest.at))
                    .with("datapoint_age_seconds", seconds_between(newest.at, now))
                    .with("rpo_seconds", seconds)
                    .with("rpo_class", "database"),
            )
        })
    }
}
