//! `rds.promote_read_replica` and `rds.promote_read_replica_db_cluster`: make a (cross-region)
//! replica a standalone, writable database.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use drkit_core::{
    ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource, WaitPolicy,
};

use crate::common::{
    cluster_ready, cluster_state, instance_outputs, instance_ready, instance_state,
};
use crate::port::RdsApi;

/// What is promoted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replica {
    /// A read-replica DB instance (`PromoteReadReplica`).
    Instance(String),
    /// An Aurora cross-region replica cluster (`PromoteReadReplicaDBCluster`).
    Cluster(String),
}

pub(crate) const INSTANCE_KIND: &str = "rds.promote_read_replica";
pub(crate) const CLUSTER_KIND: &str = "rds.promote_read_replica_db_cluster";
pub(crate) const INSTANCE_IAM: &[&str] = &["rds:DescribeDBInstances", "rds:PromoteReadReplica"];
pub(crate) const CLUSTER_IAM: &[&str] =
    &["rds:DescribeDBClusters", "rds:PromoteReadReplicaDBCluster"];

/// Promotes a read replica (instance or Aurora cluster) to a standalone database, and waits until
/// it has no replication source and is `available`.
///
/// - `check`: missing -> blocked; already standalone and available -> done; not available ->
///   blocked; else ready.
/// - `execute`: the promote call once (executing again only waits), then the wait.
/// - No rollback: a promoted replica cannot be re-attached to its source.
///
/// Outputs: `promoted_from` (the former source) and, for an instance, its endpoint.
pub struct PromoteReadReplica {
    id: String,
    replica: Replica,
    target: Resource,
    api: Arc<dyn RdsApi>,
    wait: WaitPolicy,
    requested: AtomicBool,
}

impl fmt::Debug for PromoteReadReplica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromoteReadReplica")
            .field("id", &self.id)
            .field("replica", &self.replica)
            .finish_non_exhaustive()
    }
}

/// The state of a replica, whichever kind.
struct Seen {
    available: bool,
    source: Option<String>,
    state: String,
    outputs: Outputs,
}

impl PromoteReadReplica {
    /// Promotes `replica` through `api`; `region` labels the resource.
    pub fn new(
        id: impl Into<String>,
        replica: Replica,
        api: Arc<dyn RdsApi>,
        region: Option<&str>,
    ) -> Self {
        let target = match &replica {
            Replica::Instance(i) => Resource::new("rds", "db-instance", i.clone()),
            Replica::Cluster(c) => Resource::new("rds", "db-cluster", c.clone()),
        }
        .in_region(region);
        Self {
            id: id.into(),
            replica,
            target,
            api,
            wait: WaitPolicy::default(),
            requested: AtomicBool::new(false),
        }
    }

    /// Uses `policy` for the wait.
    #[must_use]
    pub fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    fn name(&self) -> &str {
        match &self.replica {
            Replica::Instance(i) | Replica::Cluster(i) => i,
        }
    }

    async fn seen(&self, ctx: &Context) -> Result<Seen, ActionError> {
        Ok(match &self.replica {
            Replica::Instance(id) => {
                let i = ctx.bounded(self.api.describe_db_instance(id)).await?;
                Seen {
                    available: i.is_available(),
                    source: i.replication_source.clone(),
                    state: instance_state(&i),
                    outputs: instance_outputs(&i),
                }
            }
            Replica::Cluster(id) => {
                let c = ctx.bounded(self.api.describe_db_cluster(id)).await?;
                Seen {
                    available: c.is_available(),
                    source: c.replication_source.clone(),
                    state: cluster_state(&c),
                    outputs: Outputs::new()
                        .with("cluster", c.id.clone())
                        .with("endpoint", c.endpoint.clone().unwrap_or_default()),
                }
            }
        })
    }
}

#[async_trait]
impl RecoveryAction for PromoteReadReplica {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        match self.replica {
            Replica::Instance(_) => INSTANCE_KIND,
            Replica::Cluster(_) => CLUSTER_KIND,
        }
    }
    fn target(&self) -> &Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        true
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        match self.replica {
            Replica::Instance(_) => INSTANCE_IAM,
            Replica::Cluster(_) => CLUSTER_IAM,
        }
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        let seen = match self.seen(ctx).await {
            Ok(seen) => seen,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!("{} does not exist", self.target)));
            }
            Err(e) => return Err(e.in_action(self)),
        };
        match (&seen.source, seen.available) {
            (None, true) => Ok(Check::Done {
                detail: format!("{} is standalone and available", self.name()),
                outputs: seen.outputs,
            }),
            (_, false) => Ok(Check::blocked(format!(
                "{} is not available ({})",
                self.name(),
                seen.state
            ))),
            (Some(source), true) => Ok(Check::ready(format!(
                "promote {} (replicating from {source}) to a standalone database",
                self.name()
            ))),
        }
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        ctx.refuse_dry_run().map_err(|e| e.in_action(self))?;
        let before = self.seen(ctx).await.map_err(|e| e.in_action(self))?;
        let promoted_from = before.source.clone().unwrap_or_default();
        if !self.requested.load(Ordering::SeqCst) {
            if before.source.is_none() && before.available {
                ctx.progress(format!("{} is already standalone", self.name()));
                return Ok(before.outputs.with("promoted_from", promoted_from));
            }
            let call = match &self.replica {
                Replica::Instance(id) => self.api.promote_read_replica(id),
                Replica::Cluster(id) => self.api.promote_read_replica_db_cluster(id),
            };
            ctx.bounded(call).await.map_err(|e| e.in_action(self))?;
            self.requested.store(true, Ordering::SeqCst);
            ctx.progress(format!("promotion of {} requested", self.name()));
        }
        let what = format!("{} to be standalone and available", self.name());
        let outputs = match &self.replica {
            Replica::Instance(id) => {
                let i = instance_ready(ctx, self.api.as_ref(), &self.wait, id, &what, |i| {
                    i.replication_source.is_none()
                })
                .await;
                instance_outputs(&i.map_err(|e| e.in_action(self))?)
            }
            Replica::Cluster(id) => {
                let c = cluster_ready(ctx, self.api.as_ref(), &self.wait, id, &what, |c| {
                    c.replication_source.is_none()
                })
                .await
                .map_err(|e| e.in_action(self))?;
                Outputs::new()
                    .with("cluster", c.id.clone())
                    .with("endpoint", c.endpoint.unwrap_or_default())
            }
        };
        Ok(outputs.with("promoted_from", promoted_from))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let seen = self.seen(ctx).await.map_err(|e| e.in_action(self))?;
        if seen.source.is_none() && seen.available {
            Ok(format!("{} is standalone and available", self.name()))
        } else {
            Err(ActionError::postcondition(format!(
                "{} is not a standalone available database: {}",
                self.name(),
                seen.state
            ))
            .in_action(self))
        }
    }
}
