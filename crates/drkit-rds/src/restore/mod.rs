//! Restores: an instance to a point in time, an instance from a snapshot, a cluster to a point
//! in time. Each creates a *new* resource, waits until it is usable, says how much data the
//! restore point loses (`rpo_seconds`, class `database`), and rolls back by deleting only what it
//! created (known from the action itself, or after a resume from the step's recorded outputs).

mod cluster_pitr;
mod from_snapshot;
mod instance_pitr;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use drkit_core::{ActionError, Context, ErrorKind, Outputs, WaitPolicy};

pub use cluster_pitr::{ClusterPitrParams, RestoreClusterToPointInTime};
pub use from_snapshot::{RestoreInstanceFromSnapshot, SnapshotRestoreParams};
pub use instance_pitr::{PitrParams, RestoreInstanceToPointInTime};

use crate::common::{instance_gone, rfc3339, seconds_between};
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

/// A describe's answer, `None` when the resource does not exist.
fn found<T>(result: Result<T, ActionError>) -> Result<Option<T>, ActionError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
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
