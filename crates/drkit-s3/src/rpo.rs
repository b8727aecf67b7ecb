//! The data at risk of a replicated bucket, measured object by object within a budget of
//! requests: the in-scope objects (those an enabled rule replicates) are listed and read
//! (`HeadObject`'s `x-amz-replication-status`), newest first, until the budget is spent.
//!
//! What S3 documents, and how it is read here:
//! - a source object S3 deems eligible for replication carries `PENDING`, `COMPLETED` or
//!   `FAILED`; with several destinations, `COMPLETED` only once every destination has it,
//!   `PENDING` until then, `FAILED` when one failed. `FAILED` is final (S3 does not retry: the
//!   object must be written again, or replicated with S3 Batch Replication);
//! - a replica carries `REPLICA` (in a two-way setup the source bucket holds replicas too): it
//!   is not at risk, it came from the other bucket;
//! - an object without a status that a rule covers was never replicated (written before the
//!   rule existed, or not eligible, e.g. SSE-C): at risk for as long as it exists;
//! - objects no enabled rule covers (by the filter's prefix and tags, or the legacy rule-level
//!   prefix) are counted apart, never in the data at risk. A rule filtering on tags needs the
//!   object's tags: an object S3 gave a status is in scope by S3's own reading; one without a
//!   status and without tags (`x-amz-tagging-count`) is out of scope; otherwise
//!   `GetObjectTagging` (a request of the budget) decides.

use std::sync::Arc;
use std::time::SystemTime;

use drkit_core::{ActionError, Context};

use crate::port::{ObjectInfo, ReplicationRule, S3Api};

/// The key prefixes to list so that every object `rules` could replicate under `within` is
/// listed once: for each rule the longer of its prefix and `within` (when one extends the
/// other), without the prefixes another one already covers. `[""]` lists the whole bucket;
/// empty when no rule replicates anything under `within`.
pub(crate) fn listing_prefixes(rules: &[&ReplicationRule], within: Option<&str>) -> Vec<String> {
    let within = within.unwrap_or("");
    let mut prefixes: Vec<String> = rules
        .iter()
        .filter_map(|r| {
            if r.prefix.starts_with(within) {
                Some(r.prefix.clone())
            } else if within.starts_with(&r.prefix) {
                Some(within.to_owned())
            } else {
                None
            }
        })
        .collect();
    prefixes.sort();
    prefixes.dedup();
    let all = prefixes.clone();
    prefixes.retain(|p| !all.iter().any(|q| q != p && p.starts_with(q.as_str())));
    prefixes
}

/// What is at risk in one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Risk {
    /// `PENDING` (or a status S3 did not document): on its way.
    Pending(String),
    /// `FAILED`: S3 will not retry.
    Failed,
    /// No status, though a rule covers it: never replicated.
    Never,
    /// `COMPLETED`, but no destination has that version.
    Absent,
}

impl Risk {
    /// How a message names it.
    pub(crate) fn describe(&self) -> &str {
        match self {
            Self::Pending(status) => status,
            Self::Failed => "FAILED",
            Self::Never => "never replicated (no replication status)",
            Self::Absent => "COMPLETED but absent from the destination",
        }
    }
}

/// What a measurement found.
#[derive(Clone, Debug, Default)]
pub(crate) struct Measurement {
    /// In-scope objects whose status was read.
    pub(crate) examined: usize,
    /// Of those, replicated (`COMPLETED`, or `REPLICA`).
    pub(crate) replicated: usize,
    /// Of those, at risk, with why.
    pub(crate) at_risk: Vec<(ObjectInfo, Risk)>,
    /// Listed objects no enabled rule replicates.
    pub(crate) out_of_scope: usize,
    /// `COMPLETED` objects looked for in a destination (the `sample` newest).
    pub(crate) sampled: usize,
    /// Whether every in-scope object was read (the listing ended and the budget sufficed).
    pub(crate) complete: bool,
    /// The requests made.
    pub(crate) requests: usize,
}

impl Measurement {
    /// The oldest object at risk.
    pub(crate) fn oldest(&self) -> Option<&(ObjectInfo, Risk)> {
        self.at_risk.iter().min_by_key(|(o, _)| o.last_modified)
    }

    /// Its age in seconds at `now`: the data at risk (0 when nothing is).
    pub(crate) fn rpo_seconds(&self, now: SystemTime) -> u64 {
        self.oldest().map_or(0, |(o, _)| {
            now.duration_since(o.last_modified)
                .map_or(0, |d| d.as_secs())
        })
    }
}

/// Where to measure: the source bucket, its enabled rules, and the port of each destination.
pub(crate) struct Scope<'a> {
    /// The source bucket.
    pub(crate) bucket: &'a str,
    /// Its port.
    pub(crate) api: &'a dyn S3Api,
    /// The enabled rules.
    pub(crate) rules: &'a [&'a ReplicationRule],
    /// Only objects under this prefix.
    pub(crate) within: Option<&'a str>,
    /// The port of each destination bucket.
    pub(crate) destinations: &'a [(String, Arc<dyn S3Api>)],
}

/// A budget of requests.
struct Budget {
    max: usize,
    used: usize,
}

impl Budget {
    /// Takes one request; `false` when none is left.
    fn take(&mut self) -> bool {
        let ok = self.used < self.max;
        if ok {
            self.used += 1;
        }
        ok
    }
}

/// Measures the data at risk of `scope` with at most `max_requests` requests; the newest
/// `sample` `COMPLETED` objects are also looked for in their destinations.
pub(crate) async fn measure(
    ctx: &Context,
    scope: &Scope<'_>,
    sample: usize,
    max_requests: usize,
) -> Result<Measurement, ActionError> {
    let mut budget = Budget {
        max: max_requests,
        used: 0,
    };
    let mut m = Measurement::default();
    let (mut listed, listing_complete) = list(ctx, scope, &mut budget).await?;
    listed.sort_by(|a, b| {
        b.last_modified
            .cmp(&a.last_modified)
            .then_with(|| a.key.cmp(&b.key))
    });
    let mut read_all = true;
    for object in &listed {
        let rules: Vec<&ReplicationRule> = scope
            .rules
            .iter()
            .copied()
            .filter(|r| r.covers_key(&object.key))
            .collect();
        if rules.is_empty() {
            m.out_of_scope += 1;
            continue;
        }
        if !budget.take() {
            read_all = false;
            break;
        }
        let Some(head) = ctx
            .bounded(scope.api.head_object(scope.bucket, &object.key, None))
            .await?
        else {
            continue; // deleted since it was listed
        };
        let in_scope =
            if head.replication_status.is_some() || rules.iter().any(|r| r.tags.is_empty()) {
                true
            } else if head.tag_count == 0 {
                false
            } else if budget.take() {
                let tags = ctx
                    .bounded(scope.api.object_tags(scope.bucket, &object.key))
                    .await?;
                rules.iter().any(|r| r.covers_tags(&tags))
            } else {
                read_all = false;
                break;
            };
        if !in_scope {
            m.out_of_scope += 1;
            continue;
        }
        m.examined += 1;
        let risk = match head.replication_status.as_deref() {
            Some("COMPLETED" | "COMPLETE") if m.sampled < sample => {
                m.sampled += 1;
                match in_a_destination(ctx, scope, &rules, &head, &mut budget).await? {
                    Some(true) => None,
                    Some(false) => Some(Risk::Absent),
                    None => {
                        read_all = false;
                        break;
                    }
                }
            }
            Some("COMPLETED" | "COMPLETE" | "REPLICA") => None,
            Some("FAILED") => Some(Risk::Failed),
            Some(other) => Some(Risk::Pending(other.to_owned())),
            None => Some(Risk::Never),
        };
        match risk {
            Some(risk) => m.at_risk.push((head, risk)),
            None => m.replicated += 1,
        }
    }
    m.complete = listing_complete && read_all;
    m.requests = budget.used;
    Ok(m)
}

/// Every object under the scope's listing prefixes, as far as the budget goes; whether the
/// listing ended.
async fn list(
    ctx: &Context,
    scope: &Scope<'_>,
    budget: &mut Budget,
) -> Result<(Vec<ObjectInfo>, bool), ActionError> {
    let mut listed = Vec::new();
    for prefix in listing_prefixes(scope.rules, scope.within) {
        let mut token: Option<String> = None;
        loop {
            if !budget.take() {
                return Ok((listed, false));
            }
            let page = ctx
                .bounded(
                    scope
                        .api
                        .list_objects(scope.bucket, Some(&prefix), token.as_deref()),
                )
                .await?;
            listed.extend(page.objects);
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
    }
    Ok((listed, true))
}

/// Whether the version `head` is in a destination of `rules` (`HeadObject` there); `None`
/// when the budget ran out first.
async fn in_a_destination(
    ctx: &Context,
    scope: &Scope<'_>,
    rules: &[&ReplicationRule],
    head: &ObjectInfo,
    budget: &mut Budget,
) -> Result<Option<bool>, ActionError> {
    for (dest, api) in scope
        .destinations
        .iter()
        .filter(|(d, _)| rules.iter().any(|r| &r.destination_bucket == d))
    {
        if !budget.take() {
            return Ok(None);
        }
        let found = ctx
            .bounded(api.head_object(dest, &head.key, head.version_id.as_deref()))
            .await?;
        if found.is_some() {
            return Ok(Some(true));
        }
    }
    Ok(Some(false))
}

#[cfg(test)]
#[path = "rpo_tests.rs"]
mod tests;
