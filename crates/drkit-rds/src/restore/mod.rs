//! Restores: an instance to a point in time, an instance from a snapshot, a cluster to a point
//! in time. Each creates a *new* resource, waits until it is usable, says how much data the
//! restore point loses (`rpo_seconds`, class `database`), and rolls back by deleting only what it
//! created (known from the action itself, or after a resume from the step's recorded outputs).

mod cluster_pitr;
mod from_snapshot;
mod instance_pitr;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use drkit_core::{ActionError, Check, Context, Outputs, WaitPolicy};

pub use cluster_pitr::{ClusterPitrParams, RestoreClusterToPointInTime};
pub use from_snapshot::{RestoreInstanceFromSnapshot, SnapshotRestoreParams};
pub use instance_pitr::{PitrParams, RestoreInstanceToPointInTime};

use crate::common::{RunStart, found, instance_gone, instance_ready, rfc3339, seconds_between};
use crate::port::{DbInstance, RdsApi, RestoreSettings};

/// The settings of a restored instance: the runbook's, else the source instance's (`None`
/// when there is no source to take them from).
fn instance_settings(
    subnet_group: Option<&String>,
    security_groups: Option<&Vec<String>>,
    parameter_group: Option<&String>,
    source: Option<&DbInstance>,
) -> RestoreSettings {
    RestoreSettings {
        subnet_group: subnet_group
            .cloned()
            .or_else(|| source.and_then(|s| s.subnet_group.clone())),
        security_groups: security_groups
            .cloned()
            .or_else(|| source.map(|s| s.security_groups.clone()))
            .unwrap_or_default(),
        parameter_group: parameter_group
            .cloned()
            .or_else(|| source.and_then(|s| s.parameter_group.clone())),
        ..RestoreSettings::default()
    }
}

/// The `subnet_group` and `security_groups` outputs: where the restored resource is.
fn network_outputs(out: Outputs, subnet_group: Option<&String>, groups: &[String]) -> Outputs {
    out.with("subnet_group", subnet_group.cloned().unwrap_or_default())
        .with("security_groups", groups.to_vec())
}

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

/// Whether step `step` created what it restored: this action says so (`flag`), or, after a
/// resume, the step's recorded outputs have `marker` (an output recorded only when the step
/// made the restore call itself).
fn created(flag: &AtomicBool, ctx: &Context, step: &str, marker: &str) -> bool {
    flag.load(Ordering::SeqCst)
        || ctx
            .outputs_of(step)
            .is_some_and(|out| out.get(marker).is_some())
}

/// Deletes `instance` and waits until it is gone.
async fn delete_instance(
    ctx: &Context,
    api: &dyn RdsApi,
    wait: &WaitPolicy,
    instance: &str,
) -> Result<(), ActionError> {
    ctx.bounded(api.delete_db_instance(instance)).await?;
    instance_gone(ctx, api, wait, instance).await
}

/// Rolls back the restore of `instance` by step `step`: deletes it, only if the step created
/// it (see [`created`]).
async fn delete_created_instance(
    ctx: &Context,
    api: &dyn RdsApi,
    wait: &WaitPolicy,
    (step, marker): (&str, &str),
    flag: &AtomicBool,
    instance: &str,
) -> Result<(), ActionError> {
    if !created(flag, ctx, step, marker) {
        return Err(ActionError::unsupported(format!(
            "nothing to roll back: this run did not create instance {instance}"
        )));
    }
    delete_instance(ctx, api, wait, instance).await?;
    flag.store(false, Ordering::SeqCst);
    Ok(())
}

/// The new instance an instance restore creates: whether this action created it, and the run's
/// start, before which an instance of that name is not this run's restore.
#[derive(Debug, Default)]
struct NewInstance {
    created: AtomicBool,
    run_start: RunStart,
}

impl NewInstance {
    /// `target`, if it exists: refused when made before the run started.
    async fn existing(
        &self,
        ctx: &Context,
        api: &dyn RdsApi,
        target: &str,
    ) -> Result<Option<DbInstance>, ActionError> {
        let found = found(ctx.bounded(api.describe_db_instance(target)).await)?;
        if let Some(i) = &found {
            self.run_start.refuse_stale(
                ctx,
                &format!("instance {}", i.id),
                i.created,
                "give another `target`",
            )?;
        }
        Ok(found)
    }

    /// The `check` of a restore whose target exists: done when available (with `outputs`),
    /// else ready to wait for it.
    fn check_existing(i: &DbInstance, outputs: impl FnOnce(&DbInstance) -> Outputs) -> Check {
        if i.is_available() {
            Check::Done {
                detail: format!(
                    "instance {} exists and is available (restored in this run)",
                    i.id
                ),
                outputs: outputs(i),
            }
        } else {
            Check::ready(format!(
                "wait for instance {} ({}) to become available",
                i.id, i.status
            ))
        }
    }

    /// Records that this action sent the restore call.
    fn mark_created(&self) {
        self.created.store(true, Ordering::SeqCst);
    }

    /// Waits until `target` is available.
    async fn ready(
        ctx: &Context,
        api: &dyn RdsApi,
        wait: &WaitPolicy,
        target: &str,
    ) -> Result<DbInstance, ActionError> {
        let what = format!("restored instance {target} to be available");
        instance_ready(ctx, api, wait, target, &what, |_| true).await
    }

    /// `verify`: `target` exists and is available.
    async fn confirm(
        &self,
        ctx: &Context,
        api: &dyn RdsApi,
        target: &str,
    ) -> Result<String, ActionError> {
        match self.existing(ctx, api, target).await? {
            Some(i) if i.is_available() => Ok(format!("instance {} is available", i.id)),
            Some(i) => Err(ActionError::postcondition(format!(
                "instance {} is {}, not available",
                i.id, i.status
            ))),
            None => Err(ActionError::postcondition(format!(
                "instance {target} does not exist"
            ))),
        }
    }

    /// Rollback: deletes `target`, only if step `step` created it (its recorded outputs have
    /// `marker` after a resume).
    async fn undo(
        &self,
        ctx: &Context,
        api: &dyn RdsApi,
        wait: &WaitPolicy,
        (step, marker): (&str, &str),
        target: &str,
    ) -> Result<(), ActionError> {
        delete_created_instance(ctx, api, wait, (step, marker), &self.created, target).await
    }
}
