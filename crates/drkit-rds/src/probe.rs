//! Read-only probes: `rds.instance_status`, `rds.cluster_status`, `rds.check_replica_lag`.
//!
//! Probes change nothing (`mutates() == false`). Their convention, shared by every drkit probe
//! and check (`eks.check_*`, `elasticache.check_*`, `checks.*`): `check` evaluates the condition
//! and says `Done` with what it read as outputs (the condition holds: the runner records the
//! step as done at check, and a guard built on the probe holds) or `Blocked` with why not (the
//! plan stops before the steps that depend on it); `execute` and `verify` evaluate it again
//! (here both fail with `PostconditionFailed` when it does not hold).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use drkit_core::{ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource};
use serde::Deserialize;

use crate::common::{instance_outputs, instance_state, rfc3339, seconds_between};
use crate::port::{MetricsApi, RdsApi};

pub(crate) const INSTANCE_KIND: &str = "rds.instance_status";
pub(crate) const CLUSTER_KIND: &str = "rds.cluster_status";
pub(crate) const LAG_KIND: &str = "rds.check_replica_lag";
pub(crate) const INSTANCE_IAM: &[&str] = &["rds:DescribeDBInstances"];
pub(crate) const CLUSTER_IAM: &[&str] = &["rds:DescribeDBClusters"];
pub(crate) const LAG_IAM: &[&str] = &["cloudwatch:GetMetricStatistics"];

fn available() -> String {
    "available".to_owned()
}

/// The parameters of `rds.instance_status`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InstanceStatusParams {
    /// The instance.
    pub instance: String,
    /// The status it must have (default `available`).
    #[serde(default = "available")]
    pub expect_status: String,
}

/// The parameters of `rds.cluster_status`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
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

fn one() -> usize {
    1
}

/// The parameters of `rds.check_replica_lag`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ReplicaLagParams {
    /// The read replica.
    pub instance: String,
    /// The largest acceptable lag (e.g. `"5m"`, the database RPO).
    #[serde(with = "humantime_serde")]
    pub max_lag: Duration,
    /// How recent the newest datapoint must be (default `"5m"`): an old datapoint says nothing
    /// about the replica now.
    #[serde(default = "five_minutes", with = "humantime_serde")]
    pub max_age: Duration,
}

fn five_minutes() -> Duration {
    Duration::from_secs(300)
}

/// What a probe looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Probe {
    /// `rds.instance_status`.
    Instance(InstanceStatusParams),
    /// `rds.cluster_status`.
    Cluster(ClusterStatusParams),
    /// `rds.check_replica_lag`.
    ReplicaLag(ReplicaLagParams),
}

/// A read-only RDS probe (see the module docs for the convention).
pub struct RdsProbe {
    id: String,
    probe: Probe,
    target: Resource,
    rds: Arc<dyn RdsApi>,
    metrics: Arc<dyn MetricsApi>,
}

impl fmt::Debug for RdsProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RdsProbe")
            .field("id", &self.id)
            .field("probe", &self.probe)
            .finish_non_exhaustive()
    }
}

/// The result of one evaluation: holds (with what was read) or not (why).
type Evaluation = Result<(String, Outputs), String>;

impl RdsProbe {
    /// A probe step `id`; `metrics` is only used by the replica-lag probe.
    pub fn new(
        id: impl Into<String>,
        probe: Probe,
        rds: Arc<dyn RdsApi>,
        metrics: Arc<dyn MetricsApi>,
        region: Option<&str>,
    ) -> Self {
        let target = match &probe {
            Probe::Instance(p) => Resource::new("rds", "db-instance", p.instance.clone()),
            Probe::ReplicaLag(p) => Resource::new("rds", "db-instance", p.instance.clone()),
            Probe::Cluster(p) => Resource::new("rds", "db-cluster", p.cluster.clone()),
        }
        .in_region(region);
        Self {
            id: id.into(),
            probe,
            target,
            rds,
            metrics,
        }
    }

    async fn evaluate(&self, ctx: &Context) -> Result<Evaluation, ActionError> {
        let missing = |e: ActionError| -> Result<Evaluation, ActionError> {
            if e.kind() == ErrorKind::NotFound {
                Ok(Err(format!("{} does not exist", self.target)))
            } else {
                Err(e.in_action(self))
            }
        };
        match &self.probe {
            Probe::Instance(p) => {
                let i = match ctx
                    .bounded(self.rds.describe_db_instance(&p.instance))
                    .await
                {
                    Ok(i) => i,
                    Err(e) => return missing(e),
                };
                Ok(if i.status == p.expect_status {
                    Ok((
                        format!("instance {} is {}", i.id, i.status),
                        instance_outputs(&i).with(
                            "replication_source",
                            i.replication_source.clone().unwrap_or_default(),
                        ),
                    ))
                } else {
                    Err(format!(
                        "instance {} is not {}: {}",
                        i.id,
                        p.expect_status,
                        instance_state(&i)
                    ))
                })
            }
            Probe::Cluster(p) => {
                let c = match ctx.bounded(self.rds.describe_db_cluster(&p.cluster)).await {
                    Ok(c) => c,
                    Err(e) => return missing(e),
                };
                let readers: Vec<&str> = c.readers().map(|m| m.instance_id.as_str()).collect();
                Ok(if c.status != p.expect_status {
                    Err(format!(
                        "cluster {} is not {}: {}",
                        c.id,
                        p.expect_status,
                        c.summary()
                    ))
                } else if c.members.len() < p.min_members {
                    Err(format!(
                        "cluster {} has {} members, fewer than {}",
                        c.id,
                        c.members.len(),
                        p.min_members
                    ))
                } else {
                    Ok((
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
                    ))
                })
            }
            Probe::ReplicaLag(p) => {
                let now = SystemTime::now();
                let since = now.checked_sub(p.max_age).unwrap_or(SystemTime::UNIX_EPOCH);
                let points = ctx
                    .bounded(self.metrics.replica_lag(&p.instance, since))
                    .await
                    .map_err(|e| e.in_action(self))?;
                let Some(newest) = points.iter().filter(|d| d.at >= since).max_by_key(|d| d.at)
                else {
                    return Ok(Err(format!(
                        "no ReplicaLag datapoint for {} in the last {}: the lag is unknown",
                        p.instance,
                        humantime::format_duration(p.max_age)
                    )));
                };
                let lag = Duration::from_secs_f64(newest.value.max(0.0));
                let text = format!(
                    "replica lag of {} is {:.0} s at {} (limit {})",
                    p.instance,
                    newest.value,
                    rfc3339(newest.at),
                    humantime::format_duration(p.max_lag)
                );
                Ok(if lag > p.max_lag {
                    Err(text)
                } else {
                    Ok((
                        text,
                        Outputs::new()
                            .with("lag_seconds", newest.value)
                            .with("measured_at", rfc3339(newest.at))
                            .with("datapoint_age_seconds", seconds_between(newest.at, now))
                            .with("rpo_seconds", newest.value)
                            .with("rpo_class", "database"),
                    ))
                })
            }
        }
    }
}

#[async_trait]
impl RecoveryAction for RdsProbe {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        match self.probe {
            Probe::Instance(_) => INSTANCE_KIND,
            Probe::Cluster(_) => CLUSTER_KIND,
            Probe::ReplicaLag(_) => LAG_KIND,
        }
    }
    fn target(&self) -> &Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        false
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        match self.probe {
            Probe::Instance(_) => INSTANCE_IAM,
            Probe::Cluster(_) => CLUSTER_IAM,
            Probe::ReplicaLag(_) => LAG_IAM,
        }
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        Ok(match self.evaluate(ctx).await? {
            Ok((detail, outputs)) => Check::Done { detail, outputs },
            Err(reason) => Check::blocked(reason),
        })
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        match self.evaluate(ctx).await? {
            Ok((_, outputs)) => Ok(outputs),
            Err(reason) => Err(ActionError::postcondition(reason).in_action(self)),
        }
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        match self.evaluate(ctx).await? {
            Ok((detail, _)) => Ok(detail),
            Err(reason) => Err(ActionError::postcondition(reason).in_action(self)),
        }
    }
}
