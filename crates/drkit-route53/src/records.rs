//! What every Route 53 writer shares: validation of records against a zone, splitting a change
//! list at AWS's limits, submitting with back-off on throttling, waiting until `INSYNC` — and
//! [`upsert_records`], the helper other providers (ACM validation records) call.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use drkit_core::{ActionError, Context, ErrorKind, Poll, WaitPolicy, wait_until};

use crate::port::{ChangeAction, ChangeInfo, RecordChange, RecordSet, Route53Api};

/// AWS's limit on changes in one `ChangeResourceRecordSets` request.
pub const MAX_CHANGES_PER_BATCH: usize = 1_000;
/// AWS's limit on `ResourceRecord` elements in one request (an UPSERT counts twice).
pub const MAX_RECORDS_PER_BATCH: usize = 1_000;
/// AWS's limit on characters of `Value` elements in one request (an UPSERT counts twice).
pub const MAX_VALUE_CHARS_PER_BATCH: usize = 32_000;

/// How many attempts a throttled `ChangeResourceRecordSets` gets before the error is returned.
const SUBMIT_ATTEMPTS: u32 = 6;

const TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "TXT",
];

/// Why `record` is not a valid record of the zone named `zone` (normalised), if it is not.
pub fn record_problem(record: &RecordSet, zone: &str) -> Option<String> {
    let name = &record.name;
    if name != zone && !name.ends_with(&format!(".{zone}")) {
        return Some(format!("{name} is not in zone {zone}"));
    }
    if name.len() > 255 || name.split('.').any(|l| l.len() > 63) {
        return Some(format!("{name} is too long (255 characters, 63 per label)"));
    }
    let label_ok = |l: &str| {
        l == "*"
            || (!l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    };
    let labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
    if labels.iter().any(|l| !label_ok(l)) || labels.iter().skip(1).any(|l| *l == "*") {
        return Some(format!(
            "{name} is not a valid DNS name (letters, digits, hyphens, underscores; `*` only first)"
        ));
    }
    if !TYPES.contains(&record.rtype.as_str()) {
        return Some(format!(
            "type {} is not supported (one of {})",
            record.rtype,
            TYPES.join(", ")
        ));
    }
    if record.set_identifier.is_some() != (record.weight.is_some() || record.failover.is_some()) {
        return Some(format!(
            "{}: `set_identifier` goes with `weight` or `failover` (one of them), and they need it",
            record.label()
        ));
    }
    if record.weight.is_some() && record.failover.is_some() {
        return Some(format!(
            "{}: give `weight` or `failover`, not both",
            record.label()
        ));
    }
    if let Some(w) = record.weight
        && !(0..=255).contains(&w)
    {
        return Some(format!("{}: weight {w} is not in 0..=255", record.label()));
    }
    if let Some(f) = &record.failover
        && f != "PRIMARY"
        && f != "SECONDARY"
    {
        return Some(format!(
            "{}: failover must be PRIMARY or SECONDARY, not {f}",
            record.label()
        ));
    }
    if record.rtype == "CNAME" && name == zone {
        return Some(format!(
            "a CNAME cannot be at the zone apex {zone} (use an alias)"
        ));
    }
    match (&record.alias, record.values.is_empty(), record.ttl) {
        (Some(_), true, None) => return None,
        (Some(_), _, _) => {
            return Some(format!(
                "{}: an alias has no `values` and no `ttl`",
                record.label()
            ));
        }
        (None, true, _) => return Some(format!("{}: give `values` or `alias`", record.label())),
        (None, false, None) => return Some(format!("{}: `ttl` is required", record.label())),
        (None, false, Some(ttl)) if !(0..=2_147_483_647).contains(&ttl) => {
            return Some(format!("{}: ttl {ttl} is out of range", record.label()));
        }
        _ => {}
    }
    for value in &record.values {
        let bad = match record.rtype.as_str() {
            "A" => value.parse::<Ipv4Addr>().is_err(),
            "AAAA" => value.parse::<Ipv6Addr>().is_err(),
            "CNAME" | "NS" | "PTR" => value.is_empty() || value.contains(' '),
            "MX" => {
                let mut parts = value.split_whitespace();
                !(parts.next().is_some_and(|p| p.parse::<u16>().is_ok())
                    && parts.next().is_some()
                    && parts.next().is_none())
            }
            "TXT" | "SPF" => !(value.len() >= 2 && value.starts_with('"') && value.ends_with('"')),
            _ => value.is_empty(),
        };
        if bad {
            return Some(format!(
                "{}: `{value}` is not a valid {} value",
                record.label(),
                record.rtype
            ));
        }
    }
    if record.rtype == "CNAME" && record.values.len() > 1 {
        return Some(format!("{}: a CNAME has exactly one value", record.label()));
    }
    None
}

/// Splits `changes` into as few batches as AWS's limits allow (1,000 changes, 1,000 records and
/// 32,000 value characters per request; an UPSERT counts twice), in order.
pub fn batches(changes: Vec<RecordChange>) -> Vec<Vec<RecordChange>> {
    let mut out: Vec<Vec<RecordChange>> = Vec::new();
    let (mut records, mut chars) = (0usize, 0usize);
    for change in changes {
        let factor = if change.action == ChangeAction::Upsert {
            2
        } else {
            1
        };
        let r = change.record.values.len().max(1) * factor;
        let c = change.record.values.iter().map(String::len).sum::<usize>() * factor;
        let fits = out.last().is_some_and(|b| {
            b.len() < MAX_CHANGES_PER_BATCH
                && records + r <= MAX_RECORDS_PER_BATCH
                && chars + c <= MAX_VALUE_CHARS_PER_BATCH
        });
        if fits {
            records += r;
            chars += c;
            if let Some(b) = out.last_mut() {
                b.push(change);
            }
        } else {
            records = r;
            chars = c;
            out.push(vec![change]);
        }
    }
    out
}

/// `ChangeResourceRecordSets`, retried with exponential back-off (1 s, 2 s, ... capped at 16 s,
/// or the provider's `Retry-After`) while Route 53 answers `Throttling` or
/// `PriorRequestNotComplete`. Any other error is returned at once. Bounded by the context.
pub async fn submit(
    ctx: &Context,
    api: &dyn Route53Api,
    zone_id: &str,
    changes: Vec<RecordChange>,
    comment: &str,
) -> Result<ChangeInfo, ActionError> {
    let mut delay = Duration::from_secs(1);
    let mut attempt = 1;
    loop {
        match ctx
            .bounded(api.change_records(zone_id, changes.clone(), comment))
            .await
        {
            Err(e) if e.kind() == ErrorKind::Throttled && attempt < SUBMIT_ATTEMPTS => {
                let pause = e.retry_after().unwrap_or(delay);
                ctx.progress(format!(
                    "ChangeResourceRecordSets throttled ({}); retrying in {} s",
                    e.code().unwrap_or("throttled"),
                    pause.as_secs()
                ));
                ctx.sleep(pause).await?;
                ctx.ensure_live()?;
                delay = (delay * 2).min(Duration::from_secs(16));
                attempt += 1;
            }
            other => return other.map_err(|e| e.with_operation("ChangeResourceRecordSets")),
        }
    }
}

/// Waits until change `change_id` is `INSYNC`.
pub async fn wait_insync(
    ctx: &Context,
    api: &dyn Route53Api,
    policy: &WaitPolicy,
    change_id: &str,
) -> Result<ChangeInfo, ActionError> {
    let what = format!("Route 53 change {change_id} to be INSYNC");
    wait_until(ctx, &what, policy, || async {
        let info = ctx.bounded(api.get_change(change_id)).await?;
        Ok(if info.is_insync() {
            Poll::Ready(info)
        } else {
            Poll::Pending(format!("status={}", info.status))
        })
    })
    .await
}

/// UPSERTs `records` into zone `zone_id` (batched at AWS's limits, throttling backed off) and
/// waits until every batch is `INSYNC`. For other providers' DNS needs, e.g. ACM validation
/// records. Returns the change ids. Records are validated against the zone first
/// (`InvalidInput`, before any write).
pub async fn upsert_records(
    ctx: &Context,
    api: &dyn Route53Api,
    zone_id: &str,
    records: Vec<RecordSet>,
    policy: &WaitPolicy,
) -> Result<Vec<String>, ActionError> {
    if ctx.is_dry_run() {
        return Err(ActionError::invalid_input(
            "upsert_records was called during a dry run",
        ));
    }
    let zone = ctx.bounded(api.find_zone(zone_id)).await?;
    if let Some(problem) = records.iter().find_map(|r| record_problem(r, &zone.name)) {
        return Err(ActionError::invalid_input(problem));
    }
    let changes = records
        .into_iter()
        .map(|record| RecordChange {
            action: ChangeAction::Upsert,
            record,
        })
        .collect();
    let mut ids = Vec::new();
    for batch in batches(changes) {
        let info = submit(ctx, api, &zone.id, batch, "drkit upsert_records").await?;
        ids.push(info.id);
    }
    for id in &ids {
        wait_insync(ctx, api, policy, id).await?;
    }
    Ok(ids)
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
