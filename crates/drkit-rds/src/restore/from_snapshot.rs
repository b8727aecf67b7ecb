//! `rds.restore_instance_from_snapshot`.

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

use super::{delete_created_instance, found, loss_outputs};
use crate::common::{identifier, instance_outputs, instance_ready, rfc3339, seconds_between};
use crate::port::{DbSnapshot, RdsApi, SnapshotOf};

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
}

impl SnapshotRestoreParams {
    /// Restore the newest available snapshot of `instance` into `target`.
    pub fn latest_of(target: impl Into<String>, instance: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            snapshot: None,
            latest_snapshot_of: Some(instance.into()),
            instance_class: None,
        }
    }

    /// Restore `snapshot` into `target`.
    pub fn snapshot(target: impl Into<String>, snapshot: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            snapshot: Some(snapshot.into()),
            latest_snapshot_of: None,
            instance_class: None,
        }
    }
}

/// Restores a DB snapshot into a new instance (the seed's
/// `aws rds restore-db-instance-from-db-snapshot`), picking the newest `available` snapshot of an
/// instance when asked. The snapshot's age is the data lost: output as `snapshot_age_seconds`
/// and `rpo_seconds` (class `database`). Rollback deletes the new instance, only if this action
/// created it.
#[derive(Debug, HasBase)]
pub struct RestoreInstanceFromSnapshot {
    base: Base<Self>,
    created: AtomicBool,
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
            created: AtomicBool::new(false),
        }
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
        match found(
            ctx.bounded(self.base.port.describe_db_instance(target))
                .await,
        )? {
            Some(i) if i.is_available() => {
                return Ok(Check::Done {
                    detail: format!("instance {} exists and is available", i.id),
                    outputs: instance_outputs(&i),
                });
            }
            Some(i) => {
                return Ok(Check::ready(format!(
                    "wait for instance {} ({}) to become available",
                    i.id, i.status
                )));
            }
            None => {}
        }
        Ok(match self.choose(ctx).await? {
            Err(reason) => Check::blocked(reason),
            Ok(s) => Check::ready(format!(
                "restore {} into new instance {target}",
                Self::describe(&s, SystemTime::now()),
            )),
        })
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = &self.base.params;
        let started = SystemTime::now();
        let exists = found(
            ctx.bounded(self.base.port.describe_db_instance(&p.target))
                .await,
        )?
        .is_some();
        let snapshot = if exists {
            ctx.progress(format!(
                "instance {} already exists; waiting for it",
                p.target
            ));
            None
        } else {
            let snapshot = self.choose(ctx).await?.map_err(ActionError::precondition)?;
            ctx.bounded(self.base.port.restore_instance_from_snapshot(
                &p.target,
                &snapshot.id,
                p.instance_class.as_deref(),
            ))
            .await?;
            self.created.store(true, Ordering::SeqCst);
            ctx.progress(format!(
                "restoring {} into {}",
                Self::describe(&snapshot, started),
                p.target
            ));
            Some(snapshot)
        };
        let what = format!("restored instance {} to be available", p.target);
        let instance = instance_ready(
            ctx,
            self.base.port.as_ref(),
            &self.base.wait,
            &p.target,
            &what,
            |_| true,
        )
        .await?;
        let mut out = instance_outputs(&instance);
        if let Some(snapshot) = snapshot {
            out.insert("snapshot", snapshot.id.clone());
            if let Some(at) = snapshot.created {
                out = loss_outputs(out, at, started)
                    .with("snapshot_age_seconds", seconds_between(at, started));
            }
        }
        Ok(out)
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let i = ctx
            .bounded(
                self.base
                    .port
                    .describe_db_instance(&self.base.params.target),
            )
            .await?;
        if i.is_available() {
            Ok(format!("instance {} is available", i.id))
        } else {
            Err(ActionError::postcondition(format!(
                "instance {} is {}",
                i.id, i.status
            )))
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        // `snapshot` is recorded only when this step made the restore call.
        delete_created_instance(
            ctx,
            self.base.port.as_ref(),
            &self.base.wait,
            (&self.base.id, "snapshot"),
            &self.created,
            &self.base.params.target,
        )
        .await
    }
}
