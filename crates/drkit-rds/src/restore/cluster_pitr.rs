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
    Restored, create_once, delete_created_instance, delete_instance, describe_window,
    network_outputs,
};
use crate::common::{
    BUSY_RETRIES, RunStart, SERVERLESS_CLASS, capacity, cluster_ready, found, identifier,
    in_progress, instance_ready, is_state_fault, one_restore_time, parameter_group, rfc3339,
    security_groups, step_created, subnet_group,
};
use crate::port::{DbCluster, RdsApi, RestoreSettings, RestoreTime, ServerlessV2Scaling};
use drkit_core::once::{Once, appeared};

/// The parameters of `rds.restore_cluster_to_point_in_time`. The network and parameter
/// groups default to the source cluster's (RDS's own default would be the VPC's default
/// security group, which the clients of the source cannot pass).
#[derive(Clone, Debug, PartialEq, Deserialize, Params)]
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
    /// The class of the instance created in the new cluster (`db.serverless`: the new cluster
    /// needs a Serverless v2 capacity range, given or the source's).
    pub instance_class: String,
    /// The new cluster's DB subnet group (default: the source's).
    #[serde(default)]
    pub subnet_group: Option<String>,
    /// The new cluster's VPC security group ids (default: the source's).
    #[serde(default)]
    #[param(ty = "list of strings")]
    pub security_groups: Option<Vec<String>>,
    /// The new cluster's DB cluster parameter group (default: the source's).
    #[serde(default)]
    pub cluster_parameter_group: Option<String>,
    /// The DB parameter group of the instance created (default: the source writer's).
    #[serde(default)]
    pub parameter_group: Option<String>,
    /// The Serverless v2 minimum capacity in ACUs, with `max_capacity` (default: the source's
    /// range, if it has one).
    #[serde(default)]
    pub min_capacity: Option<f64>,
    /// The Serverless v2 maximum capacity in ACUs, with `min_capacity`.
    #[serde(default)]
    pub max_capacity: Option<f64>,
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
            subnet_group: None,
            security_groups: None,
            cluster_parameter_group: None,
            parameter_group: None,
            min_capacity: None,
            max_capacity: None,
        }
    }

    /// In subnet group `subnet_group` with `security_groups`, not the source's.
    #[must_use]
    pub fn in_network(
        mut self,
        subnet_group: impl Into<String>,
        security_groups: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.subnet_group = Some(subnet_group.into());
        self.security_groups = Some(security_groups.into_iter().map(Into::into).collect());
        self
    }

    /// With the Serverless v2 capacity range `min`-`max` ACUs.
    #[must_use]
    pub fn serverless_v2(mut self, min: f64, max: f64) -> Self {
        self.min_capacity = Some(min);
        self.max_capacity = Some(max);
        self
    }

    /// The capacity range given (checked by `validate`).
    fn scaling(&self) -> Option<ServerlessV2Scaling> {
        capacity(self.min_capacity, self.max_capacity)
            .ok()
            .flatten()
    }

    /// The settings of the restore: the runbook's, else `source`'s (its cluster, and the
    /// parameter group of its writer `writer_group`).
    fn settings(
        &self,
        source: Option<&DbCluster>,
        writer_group: Option<String>,
    ) -> RestoreSettings {
        RestoreSettings {
            subnet_group: self
                .subnet_group
                .clone()
                .or_else(|| source.and_then(|s| s.subnet_group.clone())),
            security_groups: self
                .security_groups
                .clone()
                .or_else(|| source.map(|s| s.security_groups.clone()))
                .unwrap_or_default(),
            cluster_parameter_group: self
                .cluster_parameter_group
                .clone()
                .or_else(|| source.and_then(|s| s.parameter_group.clone())),
            parameter_group: self.parameter_group.clone().or(writer_group),
            serverless_v2: self
                .scaling()
                .or_else(|| source.and_then(|s| s.serverless_v2)),
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
/// `instance`, `endpoint`, `reader_endpoint`, `subnet_group`, `security_groups`, `restored_to`,
/// `rpo_seconds`. Rollback deletes the instance and the cluster, only those this action
/// created.
///
/// The new cluster gets the source's subnet group, security groups, cluster parameter group and
/// Serverless v2 capacity range, and its instance the source writer's parameter group, unless
/// the runbook gives others. A target cluster (or instance) created before the run started is
/// refused, not taken as this run's restore.
#[derive(Debug, HasBase)]
pub struct RestoreClusterToPointInTime {
    base: Base<Self>,
    created_cluster: AtomicBool,
    created_instance: AtomicBool,
    run_start: RunStart,
}

/// A restore that can go ahead.
struct ClusterPlan {
    engine: String,
    restored_to: SystemTime,
    settings: RestoreSettings,
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
        OutputDoc::new("subnet_group", "the new cluster's DB subnet group"),
        OutputDoc::new(
            "security_groups",
            "the new cluster's VPC security group ids",
        ),
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
        one_restore_time(p.restore_time.is_some(), p.use_latest_restorable_time)?;
        if p.instance_class.trim().is_empty() {
            return Err(ParamError::new("instance_class", "give the instance class"));
        }
        subnet_group("subnet_group", p.subnet_group.as_deref())?;
        security_groups("security_groups", p.security_groups.as_deref())?;
        parameter_group(
            "cluster_parameter_group",
            p.cluster_parameter_group.as_deref(),
        )?;
        parameter_group("parameter_group", p.parameter_group.as_deref())?;
        capacity(p.min_capacity, p.max_capacity)?;
        Ok(())
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
            run_start: RunStart::default(),
        }
    }

    /// The settings of the restore from `source` (the parameter group of its writer read too).
    async fn settings(
        &self,
        ctx: &Context,
        source: Option<&DbCluster>,
    ) -> Result<RestoreSettings, ActionError> {
        let p = &self.base.params;
        let writer_group = match source.and_then(DbCluster::writer) {
            Some(w) if p.parameter_group.is_none() => {
                found(ctx.bounded(self.base.port.describe_db_instance(w)).await)?
                    .and_then(|i| i.parameter_group)
            }
            _ => None,
        };
        Ok(p.settings(source, writer_group))
    }

    /// The restore, when it can go ahead; `Err(reason)` when not.
    async fn plan(&self, ctx: &Context) -> Result<Result<ClusterPlan, String>, ActionError> {
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
        let settings = self.settings(ctx, Some(&source)).await?;
        if p.instance_class == SERVERLESS_CLASS && settings.serverless_v2.is_none() {
            return Ok(Err(format!(
                "instance class {SERVERLESS_CLASS} needs a Serverless v2 capacity range, and \
                 source cluster {} has none: give `min_capacity` and `max_capacity`",
                source.id
            )));
        }
        let restored_to = match p.restore_time() {
            RestoreTime::Latest => latest,
            RestoreTime::At(at) if at < earliest || at > latest => {
                return Ok(Err(format!(
                    "restore time {} is outside the restorable window {} of {}",
                    rfc3339(at),
                    describe_window((earliest, latest)),
                    source.id
                )));
            }
            RestoreTime::At(at) => at,
        };
        Ok(Ok(ClusterPlan {
            engine,
            restored_to,
            settings,
        }))
    }

    /// The target cluster, if it exists: refused when made before the run started.
    async fn existing_cluster(&self, ctx: &Context) -> Result<Option<DbCluster>, ActionError> {
        let p = &self.base.params;
        let cluster = found(
            ctx.bounded(self.base.port.describe_db_cluster(&p.target))
                .await,
        )?;
        if let Some(c) = &cluster {
            self.run_start.refuse_stale(
                ctx,
                &format!("cluster {}", c.id),
                c.created,
                "give another `target`",
            )?;
        }
        Ok(cluster)
    }

    /// The restored cluster's instance, if it exists: refused when made before the run started
    /// or when it is not a member of the target.
    async fn existing_instance(
        &self,
        ctx: &Context,
    ) -> Result<Option<crate::port::DbInstance>, ActionError> {
        let p = &self.base.params;
        let id = p.instance_id();
        let instance = found(ctx.bounded(self.base.port.describe_db_instance(&id)).await)?;
        if let Some(i) = &instance {
            let what = format!("instance {id}");
            self.run_start
                .refuse_stale(ctx, &what, i.created, "give another `target`")?;
            if i.cluster.as_deref().is_some_and(|c| c != p.target) {
                return Err(ActionError::new(
                    ErrorKind::Conflict,
                    format!(
                        "{what} already exists in cluster {}, not in {}: delete or rename it, \
                         or give another `target`",
                        i.cluster.as_deref().unwrap_or_default(),
                        p.target
                    ),
                ));
            }
        }
        Ok(instance)
    }

    /// `CreateDBInstance` of the new cluster's instance, exactly once (its intent: `restored`,
    /// op `create-instance`); refused while the cluster is busy (an operation in progress,
    /// `InvalidDBClusterStateFault`), sent again once it is available.
    async fn create_instance(
        &self,
        ctx: &Context,
        (engine, parameter_group): (&str, Option<&str>),
        restored: Option<&Restored>,
    ) -> Result<(), ActionError> {
        let (api, p) = (self.base.port.as_ref(), &self.base.params);
        let instance_id = p.instance_id();
        let what = format!("instance {instance_id} in restored cluster {}", p.target);
        let once = Once::new("CreateDBInstance", &what, &self.base.wait)
            .exists_code("DBInstanceAlreadyExists");
        let intent = restored
            .map_or_else(Outputs::new, Restored::intent)
            .with("op", "create-instance");
        let mut resume = ctx
            .intent()
            .is_some_and(|i| i.get_str("op") == Some("create-instance"));
        let mut refusals = 0;
        loop {
            let call = || {
                let class = &p.instance_class;
                api.create_cluster_instance(&instance_id, &p.target, engine, class, parameter_group)
            };
            let id = instance_id.as_str();
            let sign = |grace: Context| async move {
                appeared(grace.bounded(api.describe_db_instance(id)).await)
            };
            match once.send(ctx, intent.clone(), resume, call, sign).await {
                Err(e) if is_state_fault(&e) && refusals < BUSY_RETRIES => {
                    let cluster = ctx.bounded(api.describe_db_cluster(&p.target)).await?;
                    if !in_progress(&cluster.status) {
                        return Err(e);
                    }
                    refusals += 1;
                    resume = false;
                    ctx.progress(format!(
                        "CreateDBInstance refused while cluster {} is {} ({}): waiting for it to \
                         be available, then sending it again",
                        p.target,
                        cluster.status,
                        e.code().unwrap_or_default()
                    ));
                    let what = format!("restored cluster {} to be available", p.target);
                    cluster_ready(ctx, api, &self.base.wait, &p.target, &what, |_| true).await?;
                }
                other => return other.map(drop),
            }
        }
    }

    fn outputs(cluster: &DbCluster, instance: String) -> Outputs {
        let out = Outputs::new()
            .with("cluster", cluster.id.clone())
            .with("instance", instance)
            .with("endpoint", cluster.endpoint.clone().unwrap_or_default())
            .with(
                "reader_endpoint",
                cluster.reader_endpoint.clone().unwrap_or_default(),
            );
        network_outputs(out, cluster.subnet_group.as_ref(), &cluster.security_groups)
    }
}

#[async_trait]
impl Act for RestoreClusterToPointInTime {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let p = &self.base.params;
        let instance_id = p.instance_id();
        if let Some(cluster) = self.existing_cluster(ctx).await? {
            let instance = self.existing_instance(ctx).await?;
            return Ok(match instance {
                Some(i) if cluster.is_available() && i.is_available() => Check::Done {
                    detail: format!(
                        "cluster {} and instance {} are available (restored in this run)",
                        cluster.id, i.id
                    ),
                    outputs: Self::outputs(&cluster, i.id),
                },
                _ => Check::ready(format!(
                    "finish restored cluster {} (create or wait for instance {instance_id})",
                    cluster.id
                )),
            });
        }
        Ok(match self.plan(ctx).await? {
            Err(reason) => Check::blocked(reason),
            Ok(plan) => Check::ready(format!(
                "restore cluster {} as of {} into new cluster {} with instance {instance_id} \
                 ({}), in {}",
                p.source,
                rfc3339(plan.restored_to),
                p.target,
                p.instance_class,
                plan.settings.summary()
            )),
        })
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let (api, p) = (self.base.port.as_ref(), &self.base.params);
        let wait = &self.base.wait;
        let recorded = Restored::recorded(ctx);
        let (engine, restored, parameter_group) = match self.existing_cluster(ctx).await? {
            Some(c) => {
                // Restored earlier in this run (a retry, a resume): finish it.
                if p.instance_class == SERVERLESS_CLASS && c.serverless_v2.is_none() {
                    return Err(ActionError::precondition(format!(
                        "cluster {} has no Serverless v2 capacity range: an instance of class \
                         {SERVERLESS_CLASS} cannot be added to it",
                        c.id
                    )));
                }
                let source = found(ctx.bounded(api.describe_db_cluster(&p.source)).await)?;
                let settings = self.settings(ctx, source.as_ref()).await?;
                (
                    c.engine.unwrap_or_else(|| "aurora-postgresql".to_owned()),
                    recorded,
                    settings.parameter_group,
                )
            }
            None => {
                let plan = self.plan(ctx).await?.map_err(ActionError::invalid_input)?;
                // The cluster's restore requested earlier (not yet visible): reconciled, not
                // sent again blindly.
                let resume =
                    recorded.is_some() && ctx.intent().is_some_and(|i| i.get_str("op").is_none());
                let restored = match recorded {
                    Some(r) if resume => r,
                    _ => Restored::now(plan.restored_to),
                };
                ctx.progress(format!(
                    "restoring cluster {} as of {} into {}, in {}",
                    p.source,
                    rfc3339(plan.restored_to),
                    p.target,
                    plan.settings.summary()
                ));
                let what = format!("restore into new cluster {}", p.target);
                create_once(
                    ctx,
                    (
                        "RestoreDBClusterToPointInTime",
                        "DBClusterAlreadyExistsFault",
                        &what,
                    ),
                    wait,
                    (&restored, resume),
                    || {
                        let time = p.restore_time();
                        api.restore_cluster_to_point_in_time(
                            &p.source,
                            &p.target,
                            time,
                            &plan.settings,
                        )
                    },
                    |grace| async move {
                        appeared(grace.bounded(api.describe_db_cluster(&p.target)).await)
                    },
                )
                .await?;
                self.created_cluster.store(true, Ordering::SeqCst);
                (plan.engine, Some(restored), plan.settings.parameter_group)
            }
        };
        let what = format!("restored cluster {} to be available", p.target);
        let cluster = cluster_ready(ctx, api, wait, &p.target, &what, |_| true).await?;

        let instance_id = p.instance_id();
        if self.existing_instance(ctx).await?.is_none() {
            let made = (engine.as_str(), parameter_group.as_deref());
            self.create_instance(ctx, made, restored.as_ref()).await?;
            self.created_instance.store(true, Ordering::SeqCst);
        }
        let what = format!("instance {instance_id} of the restored cluster to be available");
        instance_ready(ctx, api, wait, &instance_id, &what, |_| true).await?;

        let out = Self::outputs(&cluster, instance_id);
        Ok(match restored {
            Some(r) => r.outputs(out),
            None => out,
        })
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        match self.inspect(ctx).await? {
            Check::Done { detail, .. } => Ok(detail),
            Check::Ready { change }
            | Check::Blocked { reason: change }
            | Check::Unknown { question: change } => Err(ActionError::postcondition(format!(
                "the restored cluster is not usable yet: {change}"
            ))),
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let (api, p) = (&self.base.port, &self.base.params);
        // After a resume: `restored_to` is recorded only when this step restored the cluster,
        // and then the instance in it is the step's too.
        let step = (self.base.id.as_str(), "restored_to");
        let created_cluster = step_created(&self.created_cluster, ctx, step.0, step.1);
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
