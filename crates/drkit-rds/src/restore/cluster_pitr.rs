//! `rds.restore_cluster_to_point_in_time`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, StepSpec,
};
use serde::Deserialize;

use super::{
    created, delete_created_instance, delete_instance, describe_window, found, loss_outputs,
};
use crate::common::{cluster_ready, identifier, instance_ready, one_restore_time, rfc3339};
use crate::port::{RdsApi, RestoreTime};

/// The parameters of `rds.restore_cluster_to_point_in_time`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ClusterPitrParams {
    /// The cluster to restore from.
    pub source: String,
    /// The new cluster.
    pub target: String,
    /// The time to restore to.
    #[serde(default, with = "humantime_serde")]
    #[param(ty = "RFC 3339 time")]
    pub restore_time: Option<SystemTime>,
    /// Restore to the latest restorable time instead.
    #[serde(default)]
    pub use_latest_restorable_time: bool,
    /// The class of the instance created in the new cluster.
    pub instance_class: String,
}

impl ClusterPitrParams {
    /// Restore `source` into `target` at the latest restorable time, with one instance of
    /// `instance_class`.
    pub fn latest(
        source: impl Into<String>,
        target: impl Into<String>,
        instance_class: impl Into<String>,
    ) -> Self {
        Self {
            source: source.into(),
            target: target.into(),
            restore_time: None,
            use_latest_restorable_time: true,
            instance_class: instance_class.into(),
        }
    }

    fn restore_time(&self) -> RestoreTime {
        match self.restore_time {
            Some(at) if !self.use_latest_restorable_time => RestoreTime::At(at),
            _ => RestoreTime::Latest,
        }
    }

    /// The instance created in the restored cluster.
    pub fn instance_id(&self) -> String {
        format!("{}-instance-1", self.target)
    }
}

/// Restores an Aurora cluster to a point in time into a new cluster, and creates the instance
/// the restored cluster needs to be usable (`<target>-instance-1`). Outputs: `cluster`,
/// `instance`, `endpoint`, `reader_endpoint`, `restored_to`, `rpo_seconds`. Rollback deletes the
/// instance and the cluster, only those this action created.
#[derive(Debug, HasBase)]
pub struct RestoreClusterToPointInTime {
    base: Base<Self>,
    created_cluster: AtomicBool,
    created_instance: AtomicBool,
}

impl ActionKind for RestoreClusterToPointInTime {
    const KIND: &'static str = "rds.restore_cluster_to_point_in_time";
    const SUMMARY: &'static str =
        "Restore an Aurora cluster to a point in time into a new cluster, with an instance";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "rds:DescribeDBClusters",
        "rds:DescribeDBInstances",
        "rds:RestoreDBClusterToPointInTime",
        "rds:CreateDBInstance",
        "rds:DeleteDBInstance",
        "rds:DeleteDBCluster",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("cluster", "the new cluster"),
        OutputDoc::new("instance", "its instance (`<target>-instance-1`)"),
        OutputDoc::new("endpoint", "the writer endpoint"),
        OutputDoc::new("reader_endpoint", "the reader endpoint"),
        OutputDoc::new("restored_to", "the point in time restored"),
        OutputDoc::new(
            "data_loss_seconds",
            "data lost: from the restore point to the restore",
        ),
        OutputDoc::new("rpo_seconds", "data lost (class database)"),
        OutputDoc::new("rpo_class", "`database`"),
    ];
    type Params = ClusterPitrParams;
    type Port = dyn RdsApi;
    type Ports = PortFactory<dyn RdsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        identifier("source", &p.source)?;
        identifier("target", &p.target)?;
        one_restore_time(p.restore_time.is_some(), p.use_latest_restorable_time)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let port = ports.get(step.region());
        let region = step.region.clone();
        Ok(Self::new(step.id, step.params, port, region.as_deref()))
    }
}

impl RestoreClusterToPointInTime {
    /// A restore step `id` with `params` through `api`; `region` labels the resource.
    pub fn new(
        id: impl Into<String>,
        params: ClusterPitrParams,
        api: Arc<dyn RdsApi>,
        region: Option<&str>,
    ) -> Self {
        let target = Resource::new("rds", "db-cluster", params.target.clone()).in_region(region);
        Self {
            base: Base::new(id, params, target, api),
            created_cluster: AtomicBool::new(false),
            created_instance: AtomicBool::new(false),
        }
    }

    /// `Ok(Ok((engine, restored_to)))` when the restore can go ahead, `Ok(Err(reason))` when not.
    async fn plan(
        &self,
        ctx: &Context,
    ) -> Result<Result<(String, SystemTime), String>, ActionError> {
        let p = &self.base.params;
        let source = match ctx
            .bounded(self.base.port.describe_db_cluster(&p.source))
            .await
        {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Err(format!("source cluster {} does not exist", p.source)));
            }
            Err(e) => return Err(e),
        };
        let (Some(earliest), Some(latest)) = (source.earliest_restorable, source.latest_restorable)
        else {
            return Ok(Err(format!(
                "source cluster {} reports no restorable window",
                source.id
            )));
        };
        let engine = source
            .engine
            .clone()
            .unwrap_or_else(|| "aurora-postgresql".to_owned());
        Ok(match p.restore_time() {
            RestoreTime::Latest => Ok((engine, latest)),
            RestoreTime::At(at) if at < earliest || at > latest => Err(format!(
                "restore time {} is outside the restorable window {} of {}",
                rfc3339(at),
                describe_window((earliest, latest)),
                source.id
            )),
            RestoreTime::At(at) => Ok((engine, at)),
        })
    }
}

#[async_trait]
impl Act for RestoreClusterToPointInTime {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let (api, p) = (&self.base.port, &self.base.params);
        let instance_id = p.instance_id();
        let cluster = found(ctx.bounded(api.describe_db_cluster(&p.target)).await)?;
        if let Some(cluster) = cluster {
            let instance = found(ctx.bounded(api.describe_db_instance(&instance_id)).await)?;
            return Ok(match instance {
                Some(i) if cluster.is_available() && i.is_available() => Check::Done {
                    detail: format!("cluster {} and instance {} are available", cluster.id, i.id),
                    outputs: Outputs::new()
                        .with("cluster", cluster.id.clone())
                        .with("instance", i.id)
                        .with("endpoint", cluster.endpoint.clone().unwrap_or_default()),
                },
                _ => Check::ready(format!(
                    "finish restored cluster {} (create or wait for instance {instance_id})",
                    cluster.id
                )),
            });
        }
        Ok(match self.plan(ctx).await? {
            Err(reason) => Check::blocked(reason),
            Ok((_, restored_to)) => Check::ready(format!(
                "restore cluster {} as of {} into new cluster {} with instance {instance_id} ({})",
                p.source,
                rfc3339(restored_to),
                p.target,
                p.instance_class
            )),
        })
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let (api, p) = (&self.base.port, &self.base.params);
        let started = SystemTime::now();
        let existing = found(ctx.bounded(api.describe_db_cluster(&p.target)).await)?;
        let (engine, restored_to) = match existing {
            Some(c) => (
                c.engine.unwrap_or_else(|| "aurora-postgresql".to_owned()),
                None,
            ),
            None => {
                let (engine, at) = self.plan(ctx).await?.map_err(ActionError::invalid_input)?;
                ctx.bounded(api.restore_cluster_to_point_in_time(
                    &p.source,
                    &p.target,
                    p.restore_time(),
                ))
                .await?;
                self.created_cluster.store(true, Ordering::SeqCst);
                ctx.progress(format!(
                    "restore of cluster {} as of {} into {} started",
                    p.source,
                    rfc3339(at),
                    p.target
                ));
                (engine, Some(at))
            }
        };
        let what = format!("restored cluster {} to be available", p.target);
        let cluster = cluster_ready(ctx, api.as_ref(), &self.base.wait, &p.target, &what, |_| {
            true
        })
        .await?;

        let instance_id = p.instance_id();
        let instance = found(ctx.bounded(api.describe_db_instance(&instance_id)).await)?;
        if instance.is_none() {
            ctx.bounded(api.create_cluster_instance(
                &instance_id,
                &p.target,
                &engine,
                &p.instance_class,
            ))
            .await?;
            self.created_instance.store(true, Ordering::SeqCst);
        }
        let what = format!("instance {instance_id} of the restored cluster to be available");
        instance_ready(
            ctx,
            api.as_ref(),
            &self.base.wait,
            &instance_id,
            &what,
            |_| true,
        )
        .await?;

        let out = Outputs::new()
            .with("cluster", cluster.id.clone())
            .with("instance", instance_id)
            .with("endpoint", cluster.endpoint.clone().unwrap_or_default())
            .with(
                "reader_endpoint",
                cluster.reader_endpoint.clone().unwrap_or_default(),
            );
        Ok(match restored_to {
            Some(at) => loss_outputs(out, at, started),
            None => out,
        })
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        match self.inspect(ctx).await? {
            Check::Done { detail, .. } => Ok(detail),
            Check::Ready { change } | Check::Blocked { reason: change } => {
                Err(ActionError::postcondition(format!(
                    "the restored cluster is not usable yet: {change}"
                )))
            }
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let (api, p) = (&self.base.port, &self.base.params);
        // After a resume: `restored_to` is recorded only when this step restored the cluster,
        // and then the instance in it is the step's too.
        let step = (self.base.id.as_str(), "restored_to");
        let created_cluster = created(&self.created_cluster, ctx, step.0, step.1);
        let instance_id = p.instance_id();
        if self.created_instance.load(Ordering::SeqCst) {
            delete_created_instance(
                ctx,
                api.as_ref(),
                &self.base.wait,
                step,
                &self.created_instance,
                &instance_id,
            )
            .await?;
        } else if created_cluster
            && found(ctx.bounded(api.describe_db_instance(&instance_id)).await)?.is_some()
        {
            delete_instance(ctx, api.as_ref(), &self.base.wait, &instance_id).await?;
        }
        if !created_cluster {
            return Err(ActionError::unsupported(format!(
                "nothing to roll back: this run did not create cluster {}",
                p.target
            )));
        }
        ctx.bounded(api.delete_db_cluster(&p.target)).await?;
        self.created_cluster.store(false, Ordering::SeqCst);
        Ok(())
    }
}
