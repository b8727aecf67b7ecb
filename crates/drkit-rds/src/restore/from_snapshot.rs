//! `rds.restore_instance_from_snapshot`.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, StepSpec,
};
use serde::Deserialize;

use super::{NewInstance, Restored, instance_settings, network_outputs};
use crate::common::{
    found, identifier, instance_outputs, parameter_group, rfc3339, seconds_between,
    security_groups, subnet_group,
};
use crate::port::{DbInstance, DbSnapshot, RdsApi, RestoreSettings, SnapshotOf};

/// The parameters of `rds.restore_instance_from_snapshot`: exactly one of `snapshot` and
/// `latest_snapshot_of`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SnapshotRestoreParams {
    /// The new instance.
    pub target: String,
    /// The snapshot to restore.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// Restore the newest available snapshot of this instance.
    #[serde(default)]
    pub latest_snapshot_of: Option<String>,
    /// The new instance's class.
    #[serde(default)]
    pub instance_class: Option<String>,
    /// The new instance's DB subnet group (default: that of the snapshot's instance; required
    /// when that instance no longer exists: a snapshot does not carry it).
    #[serde(default)]
    pub subnet_group: Option<String>,
    /// The new instance's VPC security group ids (default: those of the snapshot's instance;
    /// required when that instance no longer exists).
    #[serde(default)]
    #[param(ty = "list of strings")]
    pub security_groups: Option<Vec<String>>,
    /// The new instance's DB parameter group (default: that of the snapshot's instance, else
    /// RDS's default for the engine).
    #[serde(default)]
    pub parameter_group: Option<String>,
}

impl SnapshotRestoreParams {
    /// Restore the newest available snapshot of `instance` into `target`.
    pub fn latest_of(target: impl Into<String>, instance: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            snapshot: None,
            latest_snapshot_of: Some(instance.into()),
            instance_class: None,
            subnet_group: None,
            security_groups: None,
            parameter_group: None,
        }
    }

    /// In subnet group `subnet_group` with `security_groups`, not those of the snapshot's
    /// instance.
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

    /// Restore `snapshot` into `target`.
    pub fn snapshot(target: impl Into<String>, snapshot: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            snapshot: Some(snapshot.into()),
            latest_snapshot_of: None,
            instance_class: None,
            subnet_group: None,
            security_groups: None,
            parameter_group: None,
        }
    }
}

/// Restores a DB snapshot into a new instance (the seed's
/// `aws rds restore-db-instance-from-db-snapshot`), picking the newest `available` snapshot of an
/// instance when asked. The snapshot's age is the data lost: output as `snapshot_age_seconds`
/// and `rpo_seconds` (class `database`). Rollback deletes the new instance, only if this action
/// created it.
///
/// A snapshot does not carry the network of its instance: the new instance gets the subnet
/// group, security groups and parameter group of the snapshot's instance (read when the
/// restore starts) unless the runbook gives others; when that instance no longer exists,
/// `subnet_group` and `security_groups` are required. A target created before the run started
/// is refused, not taken as this run's restore.
#[derive(Debug, HasBase)]
pub struct RestoreInstanceFromSnapshot {
    base: Base<Self>,
    new_instance: NewInstance,
}

impl ActionKind for RestoreInstanceFromSnapshot {
    const KIND: &'static str = "rds.restore_instance_from_snapshot";
    const SUMMARY: &'static str =
        "Restore a DB snapshot (or an instance's newest one) into a new instance";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "rds:DescribeDBInstances",
        "rds:DescribeDBSnapshots",
        "rds:RestoreDBInstanceFromDBSnapshot",
        "rds:DeleteDBInstance",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("snapshot", "the snapshot used"),
        OutputDoc::new(
            "snapshot_age_seconds",
            "its age when restored: the data lost",
        ),
        OutputDoc::new("instance", "the new instance"),
        OutputDoc::new("status", "its status"),
        OutputDoc::new("endpoint", "address:port of the new instance"),
        OutputDoc::new("address", "the DNS name"),
        OutputDoc::new("port", "the port"),
        OutputDoc::new("subnet_group", "the new instance's DB subnet group"),
        OutputDoc::new(
            "security_groups",
            "the new instance's VPC security group ids",
        ),
        OutputDoc::new("restored_to", "the snapshot's creation time (RFC 3339)"),
        OutputDoc::new("data_loss_seconds", "data lost: the snapshot's age"),
        OutputDoc::new("rpo_seconds", "data lost (class database)"),
        OutputDoc::new("rpo_class", "`database`"),
    ];
    type Params = SnapshotRestoreParams;
    type Port = dyn RdsApi;
    type Ports = PortFactory<dyn RdsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        identifier("target", &p.target)?;
        subnet_group("subnet_group", p.subnet_group.as_deref())?;
        security_groups("security_groups", p.security_groups.as_deref())?;
        parameter_group("parameter_group", p.parameter_group.as_deref())?;
        match (p.snapshot.as_deref(), p.latest_snapshot_of.as_deref()) {
            // Snapshot names are freer than instance names (`rds:db-2026-11-28-08-00`).
            (Some(snapshot), None) if !snapshot.trim().is_empty() => Ok(()),
            (None, Some(instance)) => identifier("latest_snapshot_of", instance),
            _ => Err(ParamError::general(
                "give exactly one of `snapshot` and `latest_snapshot_of`",
            )),
        }
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let port = ports.get(step.region());
        let region = step.region.clone();
        Ok(Self::new(step.id, step.params, port, region.as_deref()))
    }
}

impl RestoreInstanceFromSnapshot {
    /// A restore step `id` with `params` through `api`; `region` labels the resource.
    pub fn new(
        id: impl Into<String>,
        params: SnapshotRestoreParams,
        api: Arc<dyn RdsApi>,
        region: Option<&str>,
    ) -> Self {
        let target = Resource::new("rds", "db-instance", params.target.clone()).in_region(region);
        Self {
            base: Base::new(id, params, target, api),
            new_instance: NewInstance::default(),
        }
    }

    /// The target, if it exists: refused when made before the run started.
    async fn existing_target(&self, ctx: &Context) -> Result<Option<DbInstance>, ActionError> {
        let (api, target) = (self.base.port.as_ref(), &self.base.params.target);
        self.new_instance.existing(ctx, api, target).await
    }

    /// The settings of the restore of `snapshot`: the runbook's, else those of the snapshot's
    /// instance; `Err(reason)` when that instance is gone and the runbook gives no network.
    async fn settings(
        &self,
        ctx: &Context,
        snapshot: &DbSnapshot,
    ) -> Result<Result<RestoreSettings, String>, ActionError> {
        let p = &self.base.params;
        let source = if p.subnet_group.is_some()
            && p.security_groups.is_some()
            && p.parameter_group.is_some()
        {
            None
        } else {
            found(
                ctx.bounded(self.base.port.describe_db_instance(&snapshot.source))
                    .await,
            )?
        };
        if source.is_none() && (p.subnet_group.is_none() || p.security_groups.is_none()) {
            return Ok(Err(format!(
                "instance {} of snapshot {} no longer exists, and a snapshot does not carry its \
                 network: give `subnet_group` and `security_groups` (else RDS would use the \
                 VPC's default security group)",
                snapshot.source, snapshot.id
            )));
        }
        Ok(Ok(instance_settings(
            p.subnet_group.as_ref(),
            p.security_groups.as_ref(),
            p.parameter_group.as_ref(),
            source.as_ref(),
        )))
    }

    /// The snapshot to restore and the settings, or why the restore cannot start.
    async fn plan(
        &self,
        ctx: &Context,
    ) -> Result<Result<(DbSnapshot, RestoreSettings), String>, ActionError> {
        let snapshot = match self.choose(ctx).await? {
            Ok(s) => s,
            Err(reason) => return Ok(Err(reason)),
        };
        Ok(self.settings(ctx, &snapshot).await?.map(|s| (snapshot, s)))
    }

    fn outputs(i: &DbInstance) -> Outputs {
        network_outputs(
            instance_outputs(i),
            i.subnet_group.as_ref(),
            &i.security_groups,
        )
    }

    /// The snapshot to restore, or why there is none.
    async fn choose(&self, ctx: &Context) -> Result<Result<DbSnapshot, String>, ActionError> {
        let api = &self.base.port;
        if let Some(name) = &self.base.params.snapshot {
            return match ctx
                .bounded(api.describe_snapshot(SnapshotOf::Instance, name))
                .await
            {
                Ok(s) if s.status == "available" => Ok(Ok(s)),
                Ok(s) => Ok(Err(format!(
                    "snapshot {name} is {}, not available",
                    s.status
                ))),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    Ok(Err(format!("snapshot {name} does not exist")))
                }
                Err(e) => Err(e),
            };
        }
        let instance = self
            .base
            .params
            .latest_snapshot_of
            .as_deref()
            .unwrap_or_default();
        let snapshots = ctx
            .bounded(api.describe_instance_snapshots(instance))
            .await?;
        Ok(snapshots
            .into_iter()
            .filter(|s| s.status == "available")
            .max_by_key(|s| s.created)
            .ok_or_else(|| format!("instance {instance} has no available snapshot")))
    }

    fn describe(snapshot: &DbSnapshot, now: SystemTime) -> String {
        match snapshot.created {
            Some(at) => format!(
                "snapshot {} of {} taken {} ({} s old)",
                snapshot.id,
                snapshot.source,
                rfc3339(at),
                seconds_between(at, now)
            ),
            None => format!("snapshot {} of {}", snapshot.id, snapshot.source),
        }
    }
}

#[async_trait]
impl Act for RestoreInstanceFromSnapshot {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let target = &self.base.params.target;
        if let Some(existing) = self.existing_target(ctx).await? {
            return Ok(NewInstance::check_existing(&existing, Self::outputs));
        }
        Ok(match self.plan(ctx).await? {
            Err(reason) => Check::blocked(reason),
            Ok((s, settings)) => Check::ready(format!(
                "restore {} into new instance {target}, in {}",
                Self::describe(&s, SystemTime::now()),
                settings.summary()
            )),
        })
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = &self.base.params;
        let (api, wait) = (self.base.port.as_ref(), &self.base.wait);
        let target = ("RestoreDBInstanceFromDBSnapshot", p.target.as_str());
        let plan = || async {
            let (snapshot, settings) = self.plan(ctx).await?.map_err(ActionError::precondition)?;
            let restored = Restored {
                to: snapshot.created,
                at: SystemTime::now(),
                snapshot: Some(snapshot.id.clone()),
            };
            ctx.progress(format!(
                "restoring {} into {}, in {}",
                Self::describe(&snapshot, restored.at),
                p.target,
                settings.summary()
            ));
            let call = move || {
                let (snapshot, settings) = (snapshot.id.clone(), settings.clone());
                async move {
                    api.restore_instance_from_snapshot(
                        &p.target,
                        &snapshot,
                        p.instance_class.as_deref(),
                        &settings,
                    )
                    .await
                }
            };
            Ok((restored, call))
        };
        let restored = self
            .new_instance
            .create(ctx, (api, wait), target, plan)
            .await?;
        let instance = NewInstance::ready(ctx, api, wait, &p.target).await?;
        let out = Self::outputs(&instance);
        Ok(match restored {
            Some(r) => r.outputs(out),
            None => out,
        })
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let (api, target) = (self.base.port.as_ref(), &self.base.params.target);
        self.new_instance.confirm(ctx, api, target).await
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let (api, wait, target) = (
            self.base.port.as_ref(),
            &self.base.wait,
            &self.base.params.target,
        );
        // `snapshot` is recorded only when this step made the restore call.
        let step = (self.base.id.as_str(), "snapshot");
        self.new_instance.undo(ctx, api, wait, step, target).await
    }
}
