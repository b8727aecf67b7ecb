//! `rds.promote_read_replica` and `rds.promote_read_replica_db_cluster`: make a (cross-region)
//! replica a standalone, writable database.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, StepSpec, WaitPolicy,
};
use serde::Deserialize;

use crate::common::{
    BUSY_RETRIES, cluster_ready, cluster_state, identifier, instance_outputs, instance_ready,
    instance_state, is_state_fault,
};
use crate::port::RdsApi;

/// What is promoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Replica<'a> {
    /// A read-replica DB instance (`PromoteReadReplica`).
    Instance(&'a str),
    /// An Aurora cross-region replica cluster (`PromoteReadReplicaDBCluster`).
    Cluster(&'a str),
}

/// The parameters of `rds.promote_read_replica`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PromoteReadReplicaParams {
    /// The read replica.
    pub instance: String,
}

impl PromoteReadReplicaParams {
    /// Promote `instance`.
    pub fn new(instance: impl Into<String>) -> Self {
        Self {
            instance: instance.into(),
        }
    }
}

/// The parameters of `rds.promote_read_replica_db_cluster`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PromoteReadReplicaDbClusterParams {
    /// The replica cluster.
    pub cluster: String,
}

impl PromoteReadReplicaDbClusterParams {
    /// Promote `cluster`.
    pub fn new(cluster: impl Into<String>) -> Self {
        Self {
            cluster: cluster.into(),
        }
    }
}

/// Promotes a read replica instance to a standalone database, and waits until it has no
/// replication source and is `available`.
///
/// - `check`: missing -> blocked; already standalone and available -> done; not available ->
///   blocked; else ready.
/// - `execute`: the promote call once (executing again only waits), then the wait.
/// - No rollback: a promoted replica cannot be re-attached to its source.
///
/// Outputs: `promoted_from` (the former source) and its endpoint.
#[derive(Debug, HasBase)]
pub struct PromoteReadReplica {
    base: Base<Self>,
    requested: AtomicBool,
}

/// Promotes an Aurora cross-region replica cluster to a standalone cluster (as
/// [`PromoteReadReplica`] does for an instance).
///
/// Outputs: `promoted_from`, `cluster`, `endpoint`.
#[derive(Debug, HasBase)]
pub struct PromoteReadReplicaDbCluster {
    base: Base<Self>,
    requested: AtomicBool,
}

impl ActionKind for PromoteReadReplica {
    const KIND: &'static str = "rds.promote_read_replica";
    const SUMMARY: &'static str =
        "Promote a (cross-region) read replica instance to a standalone database";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] =
        &["rds:DescribeDBInstances", "rds:PromoteReadReplica"];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("promoted_from", "its former source"),
        OutputDoc::new("instance", "the instance identifier"),
        OutputDoc::new("status", "its status"),
        OutputDoc::new("endpoint", "address:port"),
        OutputDoc::new("address", "the DNS name"),
        OutputDoc::new("port", "the port"),
    ];
    type Params = PromoteReadReplicaParams;
    type Port = dyn RdsApi;
    type Ports = PortFactory<dyn RdsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        identifier("instance", &p.instance)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = Resource::new("rds", "db-instance", step.params.instance.clone());
        Ok(Self {
            base: step.into_base(target, ports),
            requested: AtomicBool::new(false),
        })
    }
}

impl ActionKind for PromoteReadReplicaDbCluster {
    const KIND: &'static str = "rds.promote_read_replica_db_cluster";
    const SUMMARY: &'static str =
        "Promote an Aurora cross-region replica cluster to a standalone cluster";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] =
        &["rds:DescribeDBClusters", "rds:PromoteReadReplicaDBCluster"];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("promoted_from", "its former source"),
        OutputDoc::new("cluster", "the cluster identifier"),
        OutputDoc::new("endpoint", "the writer endpoint"),
    ];
    type Params = PromoteReadReplicaDbClusterParams;
    type Port = dyn RdsApi;
    type Ports = PortFactory<dyn RdsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        identifier("cluster", &p.cluster)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = Resource::new("rds", "db-cluster", step.params.cluster.clone());
        Ok(Self {
            base: step.into_base(target, ports),
            requested: AtomicBool::new(false),
        })
    }
}

impl PromoteReadReplica {
    fn promotion(&self) -> Promotion<'_> {
        Promotion {
            replica: Replica::Instance(&self.base.params.instance),
            target: &self.base.target,
            api: self.base.port.as_ref(),
            wait: &self.base.wait,
            requested: &self.requested,
        }
    }
}

impl PromoteReadReplicaDbCluster {
    fn promotion(&self) -> Promotion<'_> {
        Promotion {
            replica: Replica::Cluster(&self.base.params.cluster),
            target: &self.base.target,
            api: self.base.port.as_ref(),
            wait: &self.base.wait,
            requested: &self.requested,
        }
    }
}

#[async_trait]
impl Act for PromoteReadReplica {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        self.promotion().inspect(ctx).await
    }
    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        self.promotion().apply(ctx).await
    }
    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        self.promotion().confirm(ctx).await
    }
}

#[async_trait]
impl Act for PromoteReadReplicaDbCluster {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        self.promotion().inspect(ctx).await
    }
    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        self.promotion().apply(ctx).await
    }
    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        self.promotion().confirm(ctx).await
    }
}

/// The promotion of either kind of replica.
struct Promotion<'a> {
    replica: Replica<'a>,
    target: &'a Resource,
    api: &'a dyn RdsApi,
    wait: &'a WaitPolicy,
    requested: &'a AtomicBool,
}

/// The state of a replica, whichever kind.
struct Seen {
    available: bool,
    source: Option<String>,
    state: String,
    outputs: Outputs,
}

impl Promotion<'_> {
    fn name(&self) -> &str {
        match &self.replica {
            Replica::Instance(i) | Replica::Cluster(i) => i,
        }
    }

    async fn seen(&self, ctx: &Context) -> Result<Seen, ActionError> {
        Ok(match self.replica {
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

impl Promotion<'_> {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let seen = match self.seen(ctx).await {
            Ok(seen) => seen,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!("{} does not exist", self.target)));
            }
            Err(e) => return Err(e),
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

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let before = self.seen(ctx).await?;
        let promoted_from = before.source.clone().unwrap_or_default();
        if !self.requested.load(Ordering::SeqCst) {
            if before.source.is_none() && before.available {
                ctx.progress(format!("{} is already standalone", self.name()));
                return Ok(before.outputs.with("promoted_from", promoted_from));
            }
            let mut refusals = 0;
            loop {
                let call = match self.replica {
                    Replica::Instance(id) => self.api.promote_read_replica(id),
                    Replica::Cluster(id) => self.api.promote_read_replica_db_cluster(id),
                };
                match ctx.bounded(call).await {
                    // Refused because an operation started meanwhile (a backup, a
                    // modification): nothing changed; wait for it to end and send it again.
                    Err(e) if is_state_fault(&e) && refusals < BUSY_RETRIES => {
                        refusals += 1;
                        ctx.progress(format!(
                            "the promotion of {} was refused ({}): an operation is in \
                             progress; sending it again once the replica is available",
                            self.name(),
                            e.code().unwrap_or_default()
                        ));
                        let what = format!("{} to be available again", self.name());
                        match self.replica {
                            Replica::Instance(id) => {
                                instance_ready(ctx, self.api, self.wait, id, &what, |_| true)
                                    .await
                                    .map(drop)?;
                            }
                            Replica::Cluster(id) => {
                                cluster_ready(ctx, self.api, self.wait, id, &what, |_| true)
                                    .await
                                    .map(drop)?;
                            }
                        }
                    }
                    sent => {
                        sent?;
                        break;
                    }
                }
            }
            self.requested.store(true, Ordering::SeqCst);
            ctx.progress(format!("promotion of {} requested", self.name()));
        }
        let what = format!("{} to be standalone and available", self.name());
        let outputs = match self.replica {
            Replica::Instance(id) => {
                let i = instance_ready(ctx, self.api, self.wait, id, &what, |i| {
                    i.replication_source.is_none()
                })
                .await;
                instance_outputs(&i?)
            }
            Replica::Cluster(id) => {
                let c = cluster_ready(ctx, self.api, self.wait, id, &what, |c| {
                    c.replication_source.is_none()
                })
                .await?;
                Outputs::new()
                    .with("cluster", c.id.clone())
                    .with("endpoint", c.endpoint.unwrap_or_default())
            }
        };
        Ok(outputs.with("promoted_from", promoted_from))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let seen = self.seen(ctx).await?;
        if seen.source.is_none() && seen.available {
            Ok(format!("{} is standalone and available", self.name()))
        } else {
            Err(ActionError::postcondition(format!(
                "{} is not a standalone available database: {}",
                self.name(),
                seen.state
            )))
        }
    }
}
