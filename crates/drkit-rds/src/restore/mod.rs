//! Restores: an instance to a point in time, an instance from a snapshot, a cluster to a point
//! in time. Each creates a *new* resource, waits until it is usable, says how much data the
//! restore point loses (`rpo_seconds`, class `database`), and rolls back by deleting only what it
//! created (known from the action itself, its journalled intent, or the step's recorded
//! outputs). The create call is made exactly once ([`drkit_core::once`]): its intent ([`Restored`])
//! is journalled first, so after a lost answer or a killed process the step reads the new
//! resource back, still reports the data lost, and can roll it back.

mod cluster_pitr;
mod from_snapshot;
mod instance_pitr;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use drkit_core::{ActionError, Check, Context, Outputs, Poll, WaitPolicy};

pub use cluster_pitr::{ClusterPitrParams, RestoreClusterToPointInTime};
pub use from_snapshot::{RestoreInstanceFromSnapshot, SnapshotRestoreParams};
pub use instance_pitr::{PitrParams, RestoreInstanceToPointInTime};

use crate::common::{
    RunStart, found, instance_gone, instance_ready, rfc3339, seconds_between, step_created,
};
use crate::port::{DbInstance, RdsApi, RestoreSettings};
use drkit_core::once::{Once, appeared};

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

/// What a restore journals before its create call (its intent): that the step creates the
/// target, the point restored to, the snapshot restored from (if any), and when it was
/// requested. A retry after a lost answer, or a resumed run, reads it back: the step still
/// reports its data loss, and rollback deletes what it created.
#[derive(Clone, Debug)]
struct Restored {
    /// The point in time restored to (unknown for a snapshot without a creation time).
    to: Option<SystemTime>,
    /// When the restore was requested.
    at: SystemTime,
    /// The snapshot restored from.
    snapshot: Option<String>,
}

impl Restored {
    /// A restore to `to`, requested now.
    fn now(to: SystemTime) -> Self {
        Self {
            to: Some(to),
            at: SystemTime::now(),
            snapshot: None,
        }
    }

    fn intent(&self) -> Outputs {
        let out = Outputs::new()
            .with("created", true)
            .with("requested", rfc3339(self.at));
        let out = match self.to {
            Some(to) => out.with("restored_to", rfc3339(to)),
            None => out,
        };
        match &self.snapshot {
            Some(s) => out.with("snapshot", s.as_str()),
            None => out,
        }
    }

    /// The restore this step requested earlier (its journalled intent), if any.
    fn recorded(ctx: &Context) -> Option<Self> {
        let intent = ctx.intent()?;
        let time = |key| humantime::parse_rfc3339_weak(intent.get_str(key)?).ok();
        Some(Self {
            to: time("restored_to"),
            at: time("requested")?,
            snapshot: intent.get_str("snapshot").map(str::to_owned),
        })
    }

    /// `out` with the snapshot and how much data the restore point loses.
    fn outputs(self, mut out: Outputs) -> Outputs {
        if let Some(s) = &self.snapshot {
            out.insert("snapshot", s.as_str());
        }
        let Some(to) = self.to else { return out };
        let out = loss_outputs(out, to, self.at);
        match self.snapshot {
            Some(_) => out.with("snapshot_age_seconds", seconds_between(to, self.at)),
            None => out,
        }
    }
}

/// Makes the create call of a restore (`call`, RDS operation `operation`, which answers
/// `exists_code` for a target that exists) exactly once, its intent ([`Restored`]) journalled
/// first: after a lost answer, a retry or a resume, the target's appearing (`appears`) is the
/// sign that it reached RDS.
async fn create_once<C, CF, A, AF>(
    ctx: &Context,
    (operation, exists_code, what): (&str, &str, &str),
    wait: &WaitPolicy,
    (restored, resume): (&Restored, bool),
    call: C,
    appears: A,
) -> Result<(), ActionError>
where
    C: Fn() -> CF,
    CF: Future<Output = Result<(), ActionError>>,
    A: Fn(Context) -> AF,
    AF: Future<Output = Result<Poll<()>, ActionError>>,
{
    let once = Once::new(operation, what, wait).exists_code(exists_code);
    once.send(ctx, restored.intent(), resume, call, appears)
        .await
        .map(drop)
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
/// it (see [`step_created`]).
async fn delete_created_instance(
    ctx: &Context,
    api: &dyn RdsApi,
    wait: &WaitPolicy,
    (step, marker): (&str, &str),
    flag: &AtomicBool,
    instance: &str,
) -> Result<(), ActionError> {
    if !step_created(flag, ctx, step, marker) {
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

    /// Restores into `target` (RDS operation `operation`) exactly once, unless it exists
    /// already. `plan` gives the restore and the call that makes it; it runs only when there
    /// is a call to make. Returns the restore this step made, if any: the one it
    /// requests now, or the one its journalled intent records (then the call is only sent
    /// again when the target never appears).
    async fn create<P, PF, C, CF>(
        &self,
        ctx: &Context,
        (api, wait): (&dyn RdsApi, &WaitPolicy),
        (operation, target): (&str, &str),
        plan: P,
    ) -> Result<Option<Restored>, ActionError>
    where
        P: FnOnce() -> PF,
        PF: Future<Output = Result<(Restored, C), ActionError>>,
        C: Fn() -> CF,
        CF: Future<Output = Result<(), ActionError>>,
    {
        let recorded = Restored::recorded(ctx);
        if self.existing(ctx, api, target).await?.is_some() {
            ctx.progress(format!("instance {target} already exists; waiting for it"));
            return Ok(recorded);
        }
        let (planned, call) = plan().await?;
        let resume = recorded.is_some();
        let restored = recorded.unwrap_or(planned);
        let what = format!("restore into new instance {target}");
        create_once(
            ctx,
            (operation, "DBInstanceAlreadyExists", &what),
            wait,
            (&restored, resume),
            call,
            |grace| async move { appeared(grace.bounded(api.describe_db_instance(target)).await) },
        )
        .await?;
        self.created.store(true, Ordering::SeqCst);
        Ok(Some(restored))
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
