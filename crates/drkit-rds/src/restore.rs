//! Restores: an instance to a point in time, an instance from a snapshot, a cluster to a point
//! in time. Each creates a *new* resource, waits until it is usable, says how much data the
//! restore point loses (`rpo_seconds`, class `database`), and rolls back by deleting only what it
//! created.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use async_trait::async_trait;
use drkit_core::{
    ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource, WaitPolicy,
};
use serde::Deserialize;

use crate::common::{
    cluster_ready, identity, instance_gone, instance_outputs, instance_ready, rfc3339,
    seconds_between,
};
use crate::port::{DbInstance, DbSnapshot, RdsApi, RestoreTime};

pub(crate) const PITR_KIND: &str = "rds.restore_instance_to_point_in_time";
pub(crate) const PITR_IAM: &[&str] = &[
    "rds:DescribeDBInstances",
    "rds:RestoreDBInstanceToPointInTime",
    "rds:DeleteDBInstance",
];
pub(crate) const SNAPSHOT_KIND: &str = "rds.restore_instance_from_snapshot";
pub(crate) const SNAPSHOT_IAM: &[&str] = &[
    "rds:DescribeDBInstances",
    "rds:DescribeDBSnapshots",
    "rds:RestoreDBInstanceFromDBSnapshot",
    "rds:DeleteDBInstance",
];
pub(crate) const CLUSTER_PITR_KIND: &str = "rds.restore_cluster_to_point_in_time";
pub(crate) const CLUSTER_PITR_IAM: &[&str] = &[
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:RestoreDBClusterToPointInTime",
    "rds:CreateDBInstance",
    "rds:DeleteDBInstance",
    "rds:DeleteDBCluster",
];

/// Outputs that say how much data a restore point loses, measured at `now`.
fn loss_outputs(out: Outputs, restored_to: SystemTime, now: SystemTime) -> Outputs {
    let lost = seconds_between(restored_to, now);
    out.with("restored_to", rfc3339(restored_to))
        .with("data_loss_seconds", lost)
        .with("rpo_seconds", lost)
        .with("rpo_class", "database")
}

fn describe_window(window: (SystemTime, SystemTime)) -> String {
    format!("[{}, {}]", rfc3339(window.0), rfc3339(window.1))
}

// ---------------------------------------------------------------------------------------------

/// The parameters of `rds.restore_instance_to_point_in_time`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PitrParams {
    /// The instance to restore from (e.g. `mint-replica-primary`).
    pub source: String,
    /// The new instance (e.g. `mint-replica-restored`).
    pub target: String,
    /// The time to restore to (RFC 3339, e.g. `2024-01-20T08:00:00Z`).
    #[serde(default, with = "humantime_serde")]
    pub restore_time: Option<SystemTime>,
    /// Restore to the latest restorable time instead.
    #[serde(default)]
    pub use_latest_restorable_time: bool,
    /// The new instance's class (default: the source's).
    #[serde(default)]
    pub instance_class: Option<String>,
}

impl PitrParams {
    /// Restore `source` into `target` at the latest restorable time.
    pub fn latest(source: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            target: target.into(),
            restore_time: None,
            use_latest_restorable_time: true,
            instance_class: None,
        }
    }

    /// Restore `source` into `target` as it was at `time`.
    pub fn at(source: impl Into<String>, target: impl Into<String>, time: SystemTime) -> Self {
        Self {
            restore_time: Some(time),
            use_latest_restorable_time: false,
            ..Self::latest(source, target)
        }
    }

    pub(crate) fn restore_time(&self) -> RestoreTime {
        match self.restore_time {
            Some(at) if !self.use_latest_restorable_time => RestoreTime::At(at),
            _ => RestoreTime::Latest,
        }
    }
}

/// Restores an instance to a point in time into a new instance (the seed's
/// `aws rds restore-db-instance-to-point-in-time`).
///
/// A restore time outside the source's restorable window is refused *before* calling AWS (an
/// emulator accepts any time; AWS would fail late). Outputs: the new instance's `endpoint`,
/// `address`, `port`, `restored_to`, and `rpo_seconds` (= `data_loss_seconds`: from the restore
/// point to now). Rollback deletes the new instance, only if this action created it.
pub struct RestoreInstanceToPointInTime {
    id: String,
    params: PitrParams,
    target: Resource,
    api: Arc<dyn RdsApi>,
    wait: WaitPolicy,
    created: AtomicBool,
}

impl fmt::Debug for RestoreInstanceToPointInTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestoreInstanceToPointInTime")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// What a point-in-time restore of an instance would do, given the source.
enum PitrPlan {
    Blocked(String),
    Restore { restored_to: SystemTime },
}

impl RestoreInstanceToPointInTime {
    /// A restore step `id` with `params` through `api`; `region` labels the resource.
    pub fn new(
        id: impl Into<String>,
        params: PitrParams,
        api: Arc<dyn RdsApi>,
        region: Option<&str>,
    ) -> Self {
        let target = Resource::new("rds", "db-instance", params.target.clone()).in_region(region);
        Self {
            id: id.into(),
            params,
            target,
            api,
            wait: WaitPolicy::default(),
            created: AtomicBool::new(false),
        }
    }

    /// Uses `policy` for the waits.
    #[must_use]
    pub fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    async fn existing_target(&self, ctx: &Context) -> Result<Option<DbInstance>, ActionError> {
        match ctx
            .bounded(self.api.describe_db_instance(&self.params.target))
            .await
        {
            Ok(i) => Ok(Some(i)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.in_action(self)),
        }
    }

    async fn plan(&self, ctx: &Context) -> Result<PitrPlan, ActionError> {
        let source = match ctx
            .bounded(self.api.describe_db_instance(&self.params.source))
            .await
        {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(PitrPlan::Blocked(format!(
                    "source instance {} does not exist",
                    self.params.source
                )));
            }
            Err(e) => return Err(e.in_action(self)),
        };
        let Some(window) = source.restorable_window() else {
            return Ok(PitrPlan::Blocked(format!(
                "source instance {} has no automated backups (retention {} days): no \
                 point-in-time restore is possible",
                source.id,
                source.backup_retention_days.unwrap_or(0)
            )));
        };
        let restored_to = match self.params.restore_time() {
            RestoreTime::Latest => window.1,
            RestoreTime::At(at) if at < window.0 || at > window.1 => {
                return Ok(PitrPlan::Blocked(format!(
                    "restore time {} is outside the restorable window {} of {}",
                    rfc3339(at),
                    describe_window(window),
                    source.id
                )));
            }
            RestoreTime::At(at) => at,
        };
        Ok(PitrPlan::Restore { restored_to })
    }
}

#[async_trait]
impl RecoveryAction for RestoreInstanceToPointInTime {
    identity!(kind = PITR_KIND, mutates = true, iam = PITR_IAM);

    fn supports_rollback(&self) -> bool {
        true
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        if let Some(existing) = self.existing_target(ctx).await? {
            return Ok(if existing.is_available() {
                Check::Done {
                    detail: format!("instance {} exists and is available", existing.id),
                    outputs: instance_outputs(&existing),
                }
            } else {
                Check::ready(format!(
                    "wait for instance {} ({}) to become available",
                    existing.id, existing.status
                ))
            });
        }
        Ok(match self.plan(ctx).await? {
            PitrPlan::Blocked(reason) => Check::blocked(reason),
            PitrPlan::Restore { restored_to } => Check::ready(format!(
                "restore {} as of {} into new instance {}",
                self.params.source,
                rfc3339(restored_to),
                self.params.target
            )),
        })
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        ctx.refuse_dry_run().map_err(|e| e.in_action(self))?;
        let started = SystemTime::now();
        let restored_to = if self.existing_target(ctx).await?.is_some() {
            ctx.progress(format!(
                "instance {} already exists; waiting for it",
                self.params.target
            ));
            None
        } else {
            let restored_to = match self.plan(ctx).await? {
                PitrPlan::Blocked(reason) => {
                    return Err(ActionError::invalid_input(reason).in_action(self));
                }
                PitrPlan::Restore { restored_to } => restored_to,
            };
            ctx.bounded(self.api.restore_instance_to_point_in_time(
                &self.params.source,
                &self.params.target,
                self.params.restore_time(),
                self.params.instance_class.as_deref(),
            ))
            .await
            .map_err(|e| e.in_action(self))?;
            self.created.store(true, Ordering::SeqCst);
            ctx.progress(format!(
                "restore of {} as of {} into {} started",
                self.params.source,
                rfc3339(restored_to),
                self.params.target
            ));
            Some(restored_to)
        };
        let what = format!("restored instance {} to be available", self.params.target);
        let instance = instance_ready(
            ctx,
            self.api.as_ref(),
            &self.wait,
            &self.params.target,
            &what,
            |_| true,
        )
        .await
        .map_err(|e| e.in_action(self))?;
        let out = instance_outputs(&instance).with("source", self.params.source.clone());
        Ok(match restored_to {
            Some(at) => loss_outputs(out, at, started),
            None => out,
        })
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        match self.existing_target(ctx).await? {
            Some(i) if i.is_available() => Ok(format!("instance {} is available", i.id)),
            Some(i) => Err(ActionError::postcondition(format!(
                "instance {} is {}, not available",
                i.id, i.status
            ))
            .in_action(self)),
            None => Err(ActionError::postcondition(format!(
                "instance {} does not exist",
                self.params.target
            ))
            .in_action(self)),
        }
    }

    async fn rollback(&self, ctx: &Context) -> Result<(), ActionError> {
        delete_created_instance(ctx, self, &self.created, &self.params.target).await
    }
}

/// Deletes `instance` if `created` says this action created it, and waits until it is gone.
async fn delete_created_instance(
    ctx: &Context,
    action: &(impl RecoveryActionWithApi + ?Sized),
    created: &AtomicBool,
    instance: &str,
) -> Result<(), ActionError> {
    if !created.load(Ordering::SeqCst) {
        return Err(ActionError::unsupported(format!(
            "nothing to roll back: this run did not create instance {instance}"
        ))
        .in_action(action));
    }
    let api = action.api();
    ctx.bounded(api.delete_db_instance(instance))
        .await
        .map_err(|e| e.in_action(action))?;
    instance_gone(ctx, api, action.wait_policy(), instance)
        .await
        .map_err(|e| e.in_action(action))?;
    created.store(false, Ordering::SeqCst);
    Ok(())
}

/// The restore actions' access to their port and wait policy, for shared rollback code.
trait RecoveryActionWithApi: RecoveryAction {
    fn api(&self) -> &dyn RdsApi;
    fn wait_policy(&self) -> &WaitPolicy;
}

impl RecoveryActionWithApi for RestoreInstanceToPointInTime {
    fn api(&self) -> &dyn RdsApi {
        self.api.as_ref()
    }
    fn wait_policy(&self) -> &WaitPolicy {
        &self.wait
    }
}

// ---------------------------------------------------------------------------------------------

/// The parameters of `rds.restore_instance_from_snapshot`: exactly one of `snapshot` and
/// `latest_snapshot_of`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SnapshotRestoreParams {
    /// The new instance.
    pub target: String,
    /// The snapshot to restore.
    #[serde(default)]
    pub snapshot: Option<String>,
    /// Restore the newest available snapshot of this instance instead.
    #[serde(default)]
    pub latest_snapshot_of: Option<String>,
    /// The new instance's class (default: the snapshot's).
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
pub struct RestoreInstanceFromSnapshot {
    id: String,
    params: SnapshotRestoreParams,
    target: Resource,
    api: Arc<dyn RdsApi>,
    wait: WaitPolicy,
    created: AtomicBool,
}

impl fmt::Debug for RestoreInstanceFromSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestoreInstanceFromSnapshot")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl RecoveryActionWithApi for RestoreInstanceFromSnapshot {
    fn api(&self) -> &dyn RdsApi {
        self.api.as_ref()
    }
    fn wait_policy(&self) -> &WaitPolicy {
        &self.wait
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
            id: id.into(),
            params,
            target,
            api,
            wait: WaitPolicy::default(),
            created: AtomicBool::new(false),
        }
    }

    /// Uses `policy` for the waits.
    #[must_use]
    pub fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    /// The snapshot to restore, or why there is none.
    async fn choose(&self, ctx: &Context) -> Result<Result<DbSnapshot, String>, ActionError> {
        use crate::port::SnapshotOf;
        if let Some(name) = &self.params.snapshot {
            return match ctx
                .bounded(self.api.describe_snapshot(SnapshotOf::Instance, name))
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
                Err(e) => Err(e.in_action(self)),
            };
        }
        let instance = self
            .params
            .latest_snapshot_of
            .as_deref()
            .unwrap_or_default();
        let snapshots = ctx
            .bounded(self.api.describe_instance_snapshots(instance))
            .await
            .map_err(|e| e.in_action(self))?;
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
impl RecoveryAction for RestoreInstanceFromSnapshot {
    identity!(kind = SNAPSHOT_KIND, mutates = true, iam = SNAPSHOT_IAM);

    fn supports_rollback(&self) -> bool {
        true
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        match ctx
            .bounded(self.api.describe_db_instance(&self.params.target))
            .await
        {
            Ok(i) if i.is_available() => {
                return Ok(Check::Done {
                    detail: format!("instance {} exists and is available", i.id),
                    outputs: instance_outputs(&i),
                });
            }
            Ok(i) => {
                return Ok(Check::ready(format!(
                    "wait for instance {} ({}) to become available",
                    i.id, i.status
                )));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e.in_action(self)),
        }
        Ok(match self.choose(ctx).await? {
            Err(reason) => Check::blocked(reason),
            Ok(s) => Check::ready(format!(
                "restore {} into new instance {}",
                Self::describe(&s, SystemTime::now()),
                self.params.target
            )),
        })
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        ctx.refuse_dry_run().map_err(|e| e.in_action(self))?;
        let started = SystemTime::now();
        let exists = match ctx
            .bounded(self.api.describe_db_instance(&self.params.target))
            .await
        {
            Ok(_) => true,
            Err(e) if e.kind() == ErrorKind::NotFound => false,
            Err(e) => return Err(e.in_action(self)),
        };
        let snapshot = if exists {
            ctx.progress(format!(
                "instance {} already exists; waiting for it",
                self.params.target
            ));
            None
        } else {
            let snapshot = self
                .choose(ctx)
                .await?
                .map_err(|reason| ActionError::precondition(reason).in_action(self))?;
            ctx.bounded(self.api.restore_instance_from_snapshot(
                &self.params.target,
                &snapshot.id,
                self.params.instance_class.as_deref(),
            ))
            .await
            .map_err(|e| e.in_action(self))?;
            self.created.store(true, Ordering::SeqCst);
            ctx.progress(format!(
                "restoring {} into {}",
                Self::describe(&snapshot, started),
                self.params.target
            ));
            Some(snapshot)
        };
        let what = format!("restored instance {} to be available", self.params.target);
        let instance = instance_ready(
            ctx,
            self.api.as_ref(),
            &self.wait,
            &self.params.target,
            &what,
            |_| true,
        )
        .await
        .map_err(|e| e.in_action(self))?;
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

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let i = ctx
            .bounded(self.api.describe_db_instance(&self.params.target))
            .await
            .map_err(|e| e.in_action(self))?;
        if i.is_available() {
            Ok(format!("instance {} is available", i.id))
        } else {
            Err(
                ActionError::postcondition(format!("instance {} is {}", i.id, i.status))
                    .in_action(self),
            )
        }
    }

    async fn rollback(&self, ctx: &Context) -> Result<(), ActionError> {
        delete_created_instance(ctx, self, &self.created, &self.params.target).await
    }
}

// ---------------------------------------------------------------------------------------------

/// The parameters of `rds.restore_cluster_to_point_in_time`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ClusterPitrParams {
    /// The cluster to restore from.
    pub source: String,
    /// The new cluster.
    pub target: String,
    /// The time to restore to (RFC 3339).
    #[serde(default, with = "humantime_serde")]
    pub restore_time: Option<SystemTime>,
    /// Restore to the latest restorable time instead.
    #[serde(default)]
    pub use_latest_restorable_time: bool,
    /// The class of the instance created in the new cluster (a restored cluster has none).
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
pub struct RestoreClusterToPointInTime {
    id: String,
    params: ClusterPitrParams,
    target: Resource,
    api: Arc<dyn RdsApi>,
    wait: WaitPolicy,
    created_cluster: AtomicBool,
    created_instance: AtomicBool,
}

impl fmt::Debug for RestoreClusterToPointInTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestoreClusterToPointInTime")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl RecoveryActionWithApi for RestoreClusterToPointInTime {
    fn api(&self) -> &dyn RdsApi {
        self.api.as_ref()
    }
    fn wait_policy(&self) -> &WaitPolicy {
        &self.wait
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
            id: id.into(),
            params,
            target,
            api,
            wait: WaitPolicy::default(),
            created_cluster: AtomicBool::new(false),
            created_instance: AtomicBool::new(false),
        }
    }

    /// Uses `policy` for the waits.
    #[must_use]
    pub fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    /// `Ok(Ok((engine, restored_to)))` when the restore can go ahead, `Ok(Err(reason))` when not.
    async fn plan(
        &self,
        ctx: &Context,
    ) -> Result<Result<(String, SystemTime), String>, ActionError> {
        let source = match ctx
            .bounded(self.api.describe_db_cluster(&self.params.source))
            .await
        {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Err(format!(
                    "source cluster {} does not exist",
                    self.params.source
                )));
            }
            Err(e) => return Err(e.in_action(self)),
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
        Ok(match self.params.restore_time() {
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

    fn exists<T>(&self, result: Result<T, ActionError>) -> Result<Option<T>, ActionError> {
        match result {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.in_action(self)),
        }
    }
}

#[async_trait]
impl RecoveryAction for RestoreClusterToPointInTime {
    identity!(
        kind = CLUSTER_PITR_KIND,
        mutates = true,
        iam = CLUSTER_PITR_IAM
    );

    fn supports_rollback(&self) -> bool {
        true
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        let instance_id = self.params.instance_id();
        let cluster = self.exists(
            ctx.bounded(self.api.describe_db_cluster(&self.params.target))
                .await,
        )?;
        if let Some(cluster) = cluster {
            let instance = self.exists(
                ctx.bounded(self.api.describe_db_instance(&instance_id))
                    .await,
            )?;
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
                self.params.source,
                rfc3339(restored_to),
                self.params.target,
                self.params.instance_class
            )),
        })
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        ctx.refuse_dry_run().map_err(|e| e.in_action(self))?;
        let started = SystemTime::now();
        let existing = self.exists(
            ctx.bounded(self.api.describe_db_cluster(&self.params.target))
                .await,
        )?;
        let (engine, restored_to) = match existing {
            Some(c) => (
                c.engine.unwrap_or_else(|| "aurora-postgresql".to_owned()),
                None,
            ),
            None => {
                let (engine, at) = self
                    .plan(ctx)
                    .await?
                    .map_err(|reason| ActionError::invalid_input(reason).in_action(self))?;
                ctx.bounded(self.api.restore_cluster_to_point_in_time(
                    &self.params.source,
                    &self.params.target,
                    self.params.restore_time(),
                ))
                .await
                .map_err(|e| e.in_action(self))?;
                self.created_cluster.store(true, Ordering::SeqCst);
                ctx.progress(format!(
                    "restore of cluster {} as of {} into {} started",
                    self.params.source,
                    rfc3339(at),
                    self.params.target
                ));
                (engine, Some(at))
            }
        };
        let what = format!("restored cluster {} to be available", self.params.target);
        let cluster = cluster_ready(
            ctx,
            self.api.as_ref(),
            &self.wait,
            &self.params.target,
            &what,
            |_| true,
        )
        .await
        .map_err(|e| e.in_action(self))?;

        let instance_id = self.params.instance_id();
        let instance = self.exists(
            ctx.bounded(self.api.describe_db_instance(&instance_id))
                .await,
        )?;
        if instance.is_none() {
            ctx.bounded(self.api.create_cluster_instance(
                &instance_id,
                &self.params.target,
                &engine,
                &self.params.instance_class,
            ))
            .await
            .map_err(|e| e.in_action(self))?;
            self.created_instance.store(true, Ordering::SeqCst);
        }
        let what = format!("instance {instance_id} of the restored cluster to be available");
        instance_ready(
            ctx,
            self.api.as_ref(),
            &self.wait,
            &instance_id,
            &what,
            |_| true,
        )
        .await
        .map_err(|e| e.in_action(self))?;

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

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        match self.check(ctx).await? {
            Check::Done { detail, .. } => Ok(detail),
            Check::Ready { change } | Check::Blocked { reason: change } => {
                Err(ActionError::postcondition(format!(
                    "the restored cluster is not usable yet: {change}"
                ))
                .in_action(self))
            }
        }
    }

    async fn rollback(&self, ctx: &Context) -> Result<(), ActionError> {
        let created_cluster = self.created_cluster.load(Ordering::SeqCst);
        if self.created_instance.load(Ordering::SeqCst) {
            delete_created_instance(
                ctx,
                self,
                &self.created_instance,
                &self.params.instance_id(),
            )
            .await?;
        }
        if !created_cluster {
            return Err(ActionError::unsupported(format!(
                "nothing to roll back: this run did not create cluster {}",
                self.params.target
            ))
            .in_action(self));
        }
        ctx.bounded(self.api.delete_db_cluster(&self.params.target))
            .await
            .map_err(|e| e.in_action(self))?;
        self.created_cluster.store(false, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;
