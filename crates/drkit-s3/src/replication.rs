//! `s3.verify_replication`: is the bucket's data reaching the DR bucket, and how much is at
//! risk?

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    ActionError, ActionKind, Base, Context, ErrorKind, Finding, HasBase, Outputs, Params,
    PortFactory, Probe, Resource, StepSpec,
};
use serde::Deserialize;

use crate::common::bucket_name;
use crate::port::{ReplicationRule, S3Api};
use crate::rpo::{Measurement, Risk, Scope, listing_prefixes, measure};

/// The RPO class of the data-at-risk output.
pub const RPO_CLASS_FILES: &str = "files";

fn fifteen_minutes() -> Duration {
    Duration::from_secs(15 * 60)
}

fn a_thousand() -> usize {
    1_000
}

/// The parameters of `s3.verify_replication`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VerifyReplicationParams {
    /// The source bucket.
    pub bucket: String,
    /// Also look for the newest N replicated (`COMPLETED`) objects in their destination
    /// (`HeadObject` of that version there; 1 to 1,000).
    #[serde(default)]
    pub sample: Option<usize>,
    /// Measure only objects under this prefix.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The oldest an unreplicated object may be (default `"15m"`, the files RPO).
    #[serde(default = "fifteen_minutes", with = "humantime_serde")]
    pub max_unreplicated_age: Duration,
    /// The most S3 requests the measurement of the data at risk may make (listing pages of up
    /// to 1,000 keys, `HeadObject`, `GetObjectTagging`; default 1,000). When they run out the
    /// measurement stops and says so (`rpo_complete = false`): its `rpo_seconds` is then a
    /// lower bound, which can show a breach but never that the objective is met.
    #[serde(default = "a_thousand")]
    pub max_requests: usize,
}

/// Verifies a bucket's replication (the seed's "S3 Storage Recovery" pre-check) and measures
/// the data at risk: replication configured with an enabled rule, versioning enabled on the
/// source and every destination, each destination reachable in its own region; then every
/// object an enabled rule replicates (by its filter's prefix and tags, or the legacy
/// rule-level prefix) is read (`x-amz-replication-status`), newest first, within
/// `max_requests`: the oldest one not replicated gives the data at risk (`rpo_seconds`, class
/// `files`), which must not exceed `max_unreplicated_age`; a `FAILED` one fails the check (S3
/// does not retry it). Objects no enabled rule covers are counted apart (`out_of_scope`).
/// With `sample = N`, the newest N `COMPLETED` objects must also be in their destination.
///
/// Read-only, with the probe convention (done / blocked; `execute` and `verify` fail with
/// `PostconditionFailed`; a failed measurement carries its outputs, so the report judges the
/// files RPO).
#[derive(Debug, HasBase)]
pub struct VerifyReplication {
    base: Base<Self>,
    /// The S3 port of each destination's region.
    ports: PortFactory<dyn S3Api>,
}

impl ActionKind for VerifyReplication {
    const KIND: &'static str = "s3.verify_replication";
    const SUMMARY: &'static str = "Verify a bucket's replication (rules, versioning, destination) \
                                   and measure the data at risk object by object";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "s3:GetBucketVersioning",
        "s3:GetReplicationConfiguration",
        "s3:GetBucketLocation",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectTagging",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new(
            "destinations",
            "`bucket (region)` of every enabled rule's destination",
        ),
        OutputDoc::new("role", "the replication role"),
        OutputDoc::new(
            "rpo_seconds",
            "age of the oldest in-scope object not replicated (PENDING, FAILED, never \
             replicated, or absent from the destination): the data at risk; 0 when none",
        ),
        OutputDoc::new("rpo_class", "`files`"),
        OutputDoc::new(
            "rpo_complete",
            "whether every in-scope object was read within `max_requests` (false: \
             `rpo_seconds` is a lower bound)",
        ),
        OutputDoc::new(
            "rpo_measured_objects",
            "how many in-scope objects were read",
        ),
        OutputDoc::new(
            "replicated",
            "how many of them are replicated (COMPLETED, REPLICA)",
        ),
        OutputDoc::new("unreplicated", "how many are not"),
        OutputDoc::new("failed", "how many are FAILED"),
        OutputDoc::new(
            "out_of_scope",
            "objects listed that no enabled rule replicates (not in the data at risk)",
        ),
        OutputDoc::new("requests", "the S3 requests the measurement made"),
        OutputDoc::new(
            "oldest_unreplicated",
            "the key of the oldest object not replicated, when there is one",
        ),
        OutputDoc::new(
            "sampled",
            "(sample) how many COMPLETED objects were looked for in their destination",
        ),
    ];
    type Params = VerifyReplicationParams;
    type Port = dyn S3Api;
    type Ports = PortFactory<dyn S3Api>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        bucket_name(&p.bucket)?;
        if p.sample == Some(0) || p.sample.is_some_and(|n| n > 1_000) {
            return Err(ParamError::new("sample", "must be 1 to 1,000"));
        }
        if !(1..=1_000_000).contains(&p.max_requests) {
            return Err(ParamError::new("max_requests", "must be 1 to 1,000,000"));
        }
        Ok(())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let region = step.region.clone();
        Ok(Self::new(
            step.id,
            step.params,
            ports.clone(),
            region.as_deref(),
        ))
    }
}

impl VerifyReplication {
    /// A probe step `id`; `ports` builds the S3 port of the step's region and of each
    /// destination's region.
    pub fn new(
        id: impl Into<String>,
        params: VerifyReplicationParams,
        ports: PortFactory<dyn S3Api>,
        region: Option<&str>,
    ) -> Self {
        let target = Resource::new("s3", "bucket", params.bucket.clone()).in_region(region);
        let api = ports.get(region);
        Self {
            base: Base::new(id, params, target, api),
            ports,
        }
    }
}

#[async_trait]
impl Probe for VerifyReplication {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let fail = |reason: String| Ok(Finding::fail(reason, Outputs::new()));
        let p = &self.base.params;
        let api = &self.base.port;
        let bucket = &p.bucket;
        let versioning = match ctx.bounded(api.versioning(bucket)).await {
            Ok(v) => v,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return fail(format!("bucket {bucket} does not exist"));
            }
            Err(e) => return Err(e),
        };
        if versioning != "Enabled" {
            return fail(format!(
                "versioning of source bucket {bucket} is not enabled ({})",
                if versioning.is_empty() {
                    "never enabled"
                } else {
                    &versioning
                }
            ));
        }
        let Some(config) = ctx.bounded(api.replication(bucket)).await? else {
            return fail(format!("bucket {bucket} has no replication configuration"));
        };
        let enabled: Vec<&ReplicationRule> = config.rules.iter().filter(|r| r.enabled).collect();
        if enabled.is_empty() {
            return fail(format!(
                "bucket {bucket} has {} replication rule(s), none enabled",
                config.rules.len()
            ));
        }
        let mut destinations: Vec<(String, String, Arc<dyn S3Api>)> = Vec::new();
        for rule in &enabled {
            let dest = &rule.destination_bucket;
            if destinations.iter().any(|(d, _, _)| d == dest) {
                continue;
            }
            let region = match ctx.bounded(api.bucket_region(dest)).await {
                Ok(r) => r,
                Err(e) if !e.is_retryable() => {
                    return fail(format!(
                        "destination bucket {dest} is not reachable: {}",
                        e.message()
                    ));
                }
                Err(e) => return Err(e),
            };
            let dest_api = self.ports.get(Some(&region));
            let v = match ctx.bounded(dest_api.versioning(dest)).await {
                Ok(v) => v,
                Err(e) if !e.is_retryable() => {
                    return fail(format!(
                        "destination bucket {dest} in {region} is not reachable: {}",
                        e.message()
                    ));
                }
                Err(e) => return Err(e),
            };
            if v != "Enabled" {
                return fail(format!(
                    "versioning of destination bucket {dest} ({region}) is not enabled"
                ));
            }
            destinations.push((dest.clone(), region, dest_api));
        }
        let names: Vec<String> = destinations
            .iter()
            .map(|(d, r, _)| format!("{d} ({r})"))
            .collect();
        let ports: Vec<(String, Arc<dyn S3Api>)> = destinations
            .into_iter()
            .map(|(d, _, api)| (d, api))
            .collect();
        if listing_prefixes(&enabled, p.prefix.as_deref()).is_empty() {
            return fail(format!(
                "no enabled replication rule of bucket {bucket} replicates objects under \
                 prefix {}",
                p.prefix.as_deref().unwrap_or_default()
            ));
        }
        let scope = Scope {
            bucket,
            api: api.as_ref(),
            rules: &enabled,
            within: p.prefix.as_deref(),
            destinations: &ports,
        };
        let m = measure(ctx, &scope, p.sample.unwrap_or(0), p.max_requests).await?;
        let detail = format!(
            "bucket {bucket} replicates to {} with versioning on both sides",
            names.join(", ")
        );
        Ok(self.verdict(&detail, &m, names, &config.role))
    }
}

impl VerifyReplication {
    /// The finding of a measurement, with its outputs.
    fn verdict(&self, detail: &str, m: &Measurement, names: Vec<String>, role: &str) -> Finding {
        let p = &self.base.params;
        let at_risk = m.rpo_seconds(SystemTime::now());
        let failed: Vec<&str> = m
            .at_risk
            .iter()
            .filter(|(_, r)| *r == Risk::Failed)
            .map(|(o, _)| o.key.as_str())
            .collect();
        let absent: Vec<&str> = m
            .at_risk
            .iter()
            .filter(|(_, r)| *r == Risk::Absent)
            .map(|(o, _)| o.key.as_str())
            .collect();
        let mut outputs = Outputs::new()
            .with("destinations", names)
            .with("role", role.to_owned())
            .with("rpo_seconds", at_risk)
            .with("rpo_class", RPO_CLASS_FILES)
            .with("rpo_complete", m.complete)
            .with("rpo_measured_objects", m.examined)
            .with("replicated", m.replicated)
            .with("unreplicated", m.at_risk.len())
            .with("failed", failed.len())
            .with("out_of_scope", m.out_of_scope)
            .with("requests", m.requests);
        if let Some((o, _)) = m.oldest() {
            outputs.insert("oldest_unreplicated", o.key.clone());
        }
        if p.sample.is_some() {
            outputs.insert("sampled", m.sampled);
        }
        let mut detail = format!(
            "{detail}; {} of {} object(s) replicated, data at risk {}{at_risk} s",
            m.replicated,
            m.examined,
            if m.complete { "" } else { "at least " }
        );
        if m.out_of_scope > 0 {
            detail.push_str(&format!(
                "; {} object(s) outside every enabled rule, not counted",
                m.out_of_scope
            ));
        }
        if !m.complete {
            detail.push_str(&format!(
                "; measurement incomplete: max_requests = {} ran out after {} object(s) read \
                 (raise it to measure the whole bucket)",
                p.max_requests, m.examined
            ));
        }
        let listed = |keys: &[&str]| {
            let shown: Vec<&str> = keys.iter().take(5).copied().collect();
            let more = keys.len().saturating_sub(shown.len());
            if more == 0 {
                shown.join(", ")
            } else {
                format!("{} and {more} more", shown.join(", "))
            }
        };
        if !failed.is_empty() {
            return Finding::fail(
                format!(
                    "{detail}; {} object(s) FAILED replication, which S3 does not retry (write \
                     them again, or use S3 Batch Replication): {}",
                    failed.len(),
                    listed(&failed)
                ),
                outputs,
            );
        }
        if !absent.is_empty() {
            return Finding::fail(
                format!(
                    "{detail}; {} object(s) COMPLETED but absent from the destination: {}",
                    absent.len(),
                    listed(&absent)
                ),
                outputs,
            );
        }
        if at_risk > p.max_unreplicated_age.as_secs() {
            let (key, risk) = m
                .oldest()
                .map_or(("", ""), |(o, r)| (o.key.as_str(), r.describe()));
            return Finding::fail(
                format!(
                    "{detail}, more than {}: oldest unreplicated {key} ({risk})",
                    humantime::format_duration(p.max_unreplicated_age)
                ),
                outputs,
            );
        }
        Finding::pass(detail, outputs)
    }
}
