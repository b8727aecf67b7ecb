//! What the RDS actions share: waits for RDS resources, endpoint outputs, and parameter
//! checks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use drkit_core::registry::ParamError;

use drkit_core::{ActionError, Context, ErrorKind, Outputs, Poll, WaitPolicy, wait_until};

use crate::port::{DbCluster, DbInstance, DbSnapshot, RdsApi, SnapshotOf};

/// Whether step `step` created what it rolls back: this action says so (`flag`), its
/// journalled intent says `created = true` (recorded before the create call: a lost answer, a
/// resumed run), or its recorded outputs have `marker` (not `false`).
pub(crate) fn step_created(flag: &AtomicBool, ctx: &Context, step: &str, marker: &str) -> bool {
    let intended =
        |i: &Outputs| i.get("created").and_then(serde_json::Value::as_bool) == Some(true);
    flag.load(Ordering::SeqCst)
        || ctx.intent().as_ref().is_some_and(intended)
        || ctx
            .outputs_of(step)
            .and_then(|out| out.get(marker))
            .is_some_and(|v| v != &serde_json::Value::Bool(false))
}

/// A resource that is not there yet right after its creation call is "not visible yet", not
/// an error: RDS describes are eventually consistent.
fn pending_if_missing<T>(
    result: Result<T, ActionError>,
    status: impl FnOnce(&T) -> Option<String>,
) -> Result<Poll<T>, ActionError> {
    match result {
        Ok(value) => Ok(match status(&value) {
            None => Poll::Ready(value),
            Some(state) => Poll::Pending(state),
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Poll::Pending("not visible yet".into())),
        Err(e) => Err(e),
    }
}

/// Waits until instance `id` is `available` (and, if `also` says so, more).
pub(crate) async fn instance_ready(
    ctx: &Context,
    api: &dyn RdsApi,
    policy: &WaitPolicy,
    id: &str,
    what: &str,
    also: impl Fn(&DbInstance) -> bool,
) -> Result<DbInstance, ActionError> {
    wait_until(ctx, what, policy, || async {
        pending_if_missing(ctx.bounded(api.describe_db_instance(id)).await, |i| {
            (!(i.is_available() && also(i))).then(|| instance_state(i))
        })
    })
    .await
}

/// Waits until cluster `id` is `available` (and, if `also` says so, more).
pub(crate) async fn cluster_ready(
    ctx: &Context,
    api: &dyn RdsApi,
    policy: &WaitPolicy,
    id: &str,
    what: &str,
    also: impl Fn(&DbCluster) -> bool,
) -> Result<DbCluster, ActionError> {
    wait_until(ctx, what, policy, || async {
        pending_if_missing(ctx.bounded(api.describe_db_cluster(id)).await, |c| {
            (!(c.is_available() && also(c))).then(|| cluster_state(c))
        })
    })
    .await
}

/// Waits until snapshot `id` is `available`.
pub(crate) async fn snapshot_ready(
    ctx: &Context,
    api: &dyn RdsApi,
    policy: &WaitPolicy,
    of: SnapshotOf,
    id: &str,
) -> Result<DbSnapshot, ActionError> {
    let what = format!("snapshot {id} to be available");
    wait_until(ctx, &what, policy, || async {
        pending_if_missing(ctx.bounded(api.describe_snapshot(of, id)).await, |s| {
            (s.status != "available").then(|| format!("status={}", s.status))
        })
    })
    .await
}

/// Waits until instance `id` is gone (after a delete).
pub(crate) async fn instance_gone(
    ctx: &Context,
    api: &dyn RdsApi,
    policy: &WaitPolicy,
    id: &str,
) -> Result<(), ActionError> {
    let what = format!("DB instance {id} to be deleted");
    wait_until(ctx, &what, policy, || async {
        match ctx.bounded(api.describe_db_instance(id)).await {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Poll::Ready(())),
            Ok(i) => Ok(Poll::Pending(format!("status={}", i.status))),
            Err(e) => Err(e),
        }
    })
    .await
}

/// `status=..., replicating from ...`, for progress events.
pub(crate) fn instance_state(i: &DbInstance) -> String {
    match &i.replication_source {
        Some(source) => format!("status={}, replicating from {source}", i.status),
        None => format!("status={}", i.status),
    }
}

/// `status=..., replicating from ...`, for progress events.
pub(crate) fn cluster_state(c: &DbCluster) -> String {
    match &c.replication_source {
        Some(source) => format!("{}, replicating from {source}", c.summary()),
        None => c.summary(),
    }
}

/// `endpoint`, `address`, `port` and `instance` outputs of an instance.
pub(crate) fn instance_outputs(i: &DbInstance) -> Outputs {
    let mut out = Outputs::new()
        .with("instance", i.id.clone())
        .with("status", i.status.clone());
    if let Some(e) = &i.endpoint {
        out.insert("address", e.address.clone());
        if let Some(port) = e.port {
            out.insert("port", port);
            out.insert("endpoint", format!("{}:{port}", e.address));
        } else {
            out.insert("endpoint", e.address.clone());
        }
    }
    out
}

/// Seconds from `from` to `to` (0 when `to` is earlier).
pub(crate) fn seconds_between(from: SystemTime, to: SystemTime) -> u64 {
    to.duration_since(from).map_or(0, |d| d.as_secs())
}

/// RFC 3339, to the second.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// RDS identifiers: 1-63 letters, digits or hyphens; first a letter; no trailing hyphen and no
/// two hyphens in a row. Checked before any call so a typo fails at plan time, not mid-drill.
pub(crate) fn identifier(param: &str, value: &str) -> Result<(), ParamError> {
    let bad = |why: &str| {
        Err(ParamError::new(
            param,
            format!("`{value}` is not a valid RDS identifier: {why}"),
        ))
    };
    if value.is_empty() || value.len() > 63 {
        return bad("it must have 1 to 63 characters");
    }
    if !value.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return bad("it must start with a letter");
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return bad("only letters, digits and hyphens are allowed");
    }
    if value.ends_with('-') || value.contains("--") {
        return bad("it cannot end with a hyphen or contain two hyphens in a row");
    }
    Ok(())
}

/// An optional identifier parameter, valid when given.
pub(crate) fn optional_identifier(param: &str, value: Option<&str>) -> Result<(), ParamError> {
    value.map_or(Ok(()), |v| identifier(param, v))
}

/// Exactly one of two identifier parameters, and a valid one.
pub(crate) fn exactly_one(
    (a, a_value): (&str, Option<&str>),
    (b, b_value): (&str, Option<&str>),
) -> Result<(), ParamError> {
    match (a_value, b_value) {
        (Some(v), None) => identifier(a, v),
        (None, Some(v)) => identifier(b, v),
        _ => Err(ParamError::general(format!(
            "give exactly one of `{a}` and `{b}`"
        ))),
    }
}

/// Exactly one of `restore_time` and `use_latest_restorable_time = true`.
pub(crate) fn one_restore_time(has_time: bool, latest: bool) -> Result<(), ParamError> {
    if has_time == latest {
        return Err(ParamError::general(
            "give exactly one of `restore_time` (RFC 3339) and `use_latest_restorable_time = true`",
        ));
    }
    Ok(())
}

/// A DB subnet group name: 1-255 letters, digits, periods, underscores, spaces or hyphens.
pub(crate) fn subnet_group(param: &str, value: Option<&str>) -> Result<(), ParamError> {
    let Some(value) = value else { return Ok(()) };
    let ok = !value.is_empty()
        && value.len() <= 255
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ' ' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ParamError::new(
            param,
            format!(
                "`{value}` is not a DB subnet group name (1-255 letters, digits, periods, \
                 underscores, spaces or hyphens)"
            ),
        ))
    }
}

/// VPC security group ids (`sg-` and hex digits), at least one when given.
pub(crate) fn security_groups(param: &str, value: Option<&[String]>) -> Result<(), ParamError> {
    let Some(groups) = value else { return Ok(()) };
    if groups.is_empty() {
        return Err(ParamError::new(
            param,
            "give at least one security group id, or leave the parameter out",
        ));
    }
    for g in groups {
        let hex = g.strip_prefix("sg-").unwrap_or_default();
        if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ParamError::new(
                param,
                format!("`{g}` is not a VPC security group id (sg-0123456789abcdef0)"),
            ));
        }
    }
    Ok(())
}

/// A (cluster) parameter group name: 1-255 letters, digits, hyphens (and the periods of RDS's
/// default groups, `default.aurora-postgresql16`), starting with a letter.
pub(crate) fn parameter_group(param: &str, value: Option<&str>) -> Result<(), ParamError> {
    let Some(value) = value else { return Ok(()) };
    let ok = value.len() <= 255
        && value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        && !value.ends_with('-')
        && !value.contains("--");
    if ok {
        Ok(())
    } else {
        Err(ParamError::new(
            param,
            format!(
                "`{value}` is not a parameter group name (1-255 letters, digits or hyphens, \
                 starting with a letter, no trailing or double hyphen)"
            ),
        ))
    }
}

/// The instance class of Aurora Serverless v2: its cluster needs a capacity range.
pub(crate) const SERVERLESS_CLASS: &str = "db.serverless";

/// A Serverless v2 capacity range from `min_capacity` and `max_capacity`: both or neither; half
/// steps; `0 <= min <= max <= 256`, `max >= 1` (older engine versions allow less: RDS says so).
pub(crate) fn capacity(
    min: Option<f64>,
    max: Option<f64>,
) -> Result<Option<crate::port::ServerlessV2Scaling>, ParamError> {
    let (min, max) = match (min, max) {
        (None, None) => return Ok(None),
        (Some(min), Some(max)) => (min, max),
        _ => {
            return Err(ParamError::general(
                "give both `min_capacity` and `max_capacity` (the Serverless v2 capacity \
                 range, in ACUs), or neither",
            ));
        }
    };
    let half_step = |v: f64| (v * 2.0).fract() == 0.0;
    for (param, v) in [("min_capacity", min), ("max_capacity", max)] {
        if !v.is_finite() || !half_step(v) || !(0.0..=256.0).contains(&v) {
            return Err(ParamError::new(
                param,
                format!("{v} is not a capacity: ACUs from 0 to 256, in half steps"),
            ));
        }
    }
    if min > max || max < 1.0 {
        return Err(ParamError::new(
            "max_capacity",
            format!("{max} must be at least 1 and at least `min_capacity` ({min})"),
        ));
    }
    Ok(Some(crate::port::ServerlessV2Scaling {
        min_capacity: min,
        max_capacity: max,
    }))
}

/// How far AWS's clock and this machine's may disagree: a resource created up to this long
/// before the run's start still counts as the run's.
pub(crate) const CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(120);

/// The name of something drkit makes for a run: `base` (lowercased, as RDS keeps identifiers)
/// and a tag of the run's id (8 hex digits of its FNV-1a hash: the same on a resume, another in
/// the next run), within RDS's identifier rules (63 characters, letters, digits and single
/// hyphens, no trailing hyphen). Without a run, `base` alone.
pub(crate) fn run_scoped_name(base: &str, run: Option<&str>) -> String {
    let tag = run.map(|run| {
        let hash = run.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        format!("{:08x}", hash >> 32)
    });
    let room = 63 - tag.as_ref().map_or(0, |t| t.len() + 1);
    let mut name = String::with_capacity(63);
    for c in base.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if (c == '-' && (name.is_empty() || name.ends_with('-'))) || name.len() == room {
            continue;
        }
        name.push(c);
    }
    while name.ends_with('-') {
        name.pop();
    }
    match tag {
        Some(tag) if name.is_empty() => format!("drkit-{tag}"),
        Some(tag) => format!("{name}-{tag}"),
        None => name,
    }
}

/// When "this run" began, for the rule that an existing resource created before it is not
/// the run's: the context's run start (a resumed run: the original run's), else, outside a
/// run, when this action was first used.
#[derive(Debug, Default)]
pub(crate) struct RunStart(std::sync::OnceLock<SystemTime>);

impl RunStart {
    pub(crate) fn at(&self, ctx: &Context) -> SystemTime {
        ctx.run_started()
            .unwrap_or_else(|| *self.0.get_or_init(SystemTime::now))
    }

    /// Refuses `what` (`snapshot x`) created at `created`, before this run began: it is left
    /// over from an earlier run (last quarter's drill) or made by someone else, and counting it
    /// as this run's work would report a change (and a data loss) this run never made. `fix`
    /// says what to rename. An unknown creation time (still being created) is not refused.
    pub(crate) fn refuse_stale(
        &self,
        ctx: &Context,
        what: &str,
        created: Option<SystemTime>,
        fix: &str,
    ) -> Result<(), ActionError> {
        let started = self.at(ctx);
        match created {
            Some(created) if created + CLOCK_SKEW < started => Err(ActionError::new(
                ErrorKind::Conflict,
                format!(
                    "{what} already exists, created {}, before this run started ({}): it is not \
                     this run's work and is not reused; delete or rename it, or {fix}",
                    rfc3339(created),
                    rfc3339(started)
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// Statuses of a cluster or instance that end by themselves: an operation is in progress,
/// and RDS refuses another (`InvalidDBClusterStateFault`, `InvalidDBInstanceState`) until it
/// ends. (Not `stopped`, `stopping`, `deleting`, `inaccessible-encryption-credentials`, ...:
/// those do not become `available` by waiting.)
const IN_PROGRESS: &[&str] = &[
    "backing-up",
    "backtracking",
    "configuring-enhanced-monitoring",
    "configuring-iam-database-auth",
    "configuring-log-exports",
    "creating",
    "failing-over",
    "maintenance",
    "migrating",
    "modifying",
    "promoting",
    "rebooting",
    "renaming",
    "resetting-master-credentials",
    "starting",
    "storage-optimization",
    "update-iam-db-auth",
    "upgrading",
];

/// How many times a call refused because its resource was busy (a state fault while an
/// operation is in progress) is sent again, each time once the operation has ended.
pub(crate) const BUSY_RETRIES: usize = 3;

pub(crate) use drkit_core::once::found;

/// The Region of an RDS ARN (`arn:aws:rds:<region>:...`).
pub(crate) fn arn_region(arn: &str) -> &str {
    arn.split(':').nth(3).unwrap_or_default()
}

pub(crate) fn in_progress(status: &str) -> bool {
    IN_PROGRESS.contains(&status)
}

/// Whether RDS refused a call because the resource is in the wrong state: with the resource
/// [`in_progress`], the refusal is "busy, try once it ends", not a conflict.
pub(crate) fn is_state_fault(e: &ActionError) -> bool {
    matches!(
        e.code(),
        Some(
            "InvalidDBClusterStateFault"
                | "InvalidDBInstanceState"
                | "InvalidDBInstanceStateFault"
                | "InvalidGlobalClusterStateFault"
        )
    )
}

/// Waits until cluster `id` has no operation in progress; returns it as it then is (possibly
/// not `available`: `stopped`, ...).
pub(crate) async fn cluster_settled(
    ctx: &Context,
    api: &dyn RdsApi,
    policy: &WaitPolicy,
    id: &str,
) -> Result<DbCluster, ActionError> {
    let what = format!("the operation in progress on cluster {id} to end");
    wait_until(ctx, &what, policy, || async {
        let c = ctx.bounded(api.describe_db_cluster(id)).await?;
        Ok(if in_progress(&c.status) {
            Poll::Pending(cluster_state(&c))
        } else {
            Poll::Ready(c)
        })
    })
    .await
}
