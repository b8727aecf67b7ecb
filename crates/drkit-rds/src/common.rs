//! What the RDS actions share: waits for RDS resources, endpoint outputs, and parameter
//! checks.

use std::time::SystemTime;

use drkit_core::registry::ParamError;

use drkit_core::{ActionError, Context, ErrorKind, Outputs, Poll, WaitPolicy, wait_until};

use crate::port::{DbCluster, DbInstance, DbSnapshot, RdsApi, SnapshotOf};

/// Whether `probe` (polled as [`wait_until`] does, under a context bounded by `grace`) shows
/// within `grace` the sign that a request whose answer was lost reached RDS. `false`: no sign
/// (the request never reached RDS; the caller may send it again). The step's own deadline
/// passing first is an error, not "no sign".
pub(crate) async fn sign_within<F, Fut>(
    ctx: &Context,
    grace: std::time::Duration,
    what: &str,
    policy: &WaitPolicy,
    probe: F,
) -> Result<bool, ActionError>
where
    F: Fn(Context) -> Fut,
    Fut: std::future::Future<Output = Result<Poll<()>, ActionError>>,
{
    let bounded = ctx.clone().with_timeout(grace);
    match wait_until(&bounded, what, policy, || probe(bounded.clone())).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::DeadlineExceeded => {
            // The step's own deadline, not the grace: let the caller's next call say so.
            ctx.ensure_live()?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
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
