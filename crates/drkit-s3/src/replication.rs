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
use crate::port::{ObjectInfo, S3Api};

/// The RPO class of the data-at-risk output.
pub const RPO_CLASS_FILES: &str = "files";

fn fifteen_minutes() -> Duration {
    Duration::from_secs(15 * 60)
}

/// The parameters of `s3.verify_replication`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VerifyReplicationParams {
    /// The source bucket.
    pub bucket: String,
    /// Check the newest N objects: replicated (`COMPLETED`) and present in the destination.
    #[serde(default)]
    pub sample: Option<usize>,
    /// Sample only objects under this prefix.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The oldest an unreplicated object may be (default `"15m"`, the files RPO).
    #[serde(default = "fifteen_minutes", with = "humantime_serde")]
    pub max_unreplicated_age: Duration,
}

/// Verifies a bucket's replication (the seed's "S3 Storage Recovery" pre-check): replication
/// configured with an enabled rule, versioning enabled on the source and every destination,
/// the destination reachable in its own region; with `sample = N`, the newest N objects are
/// `COMPLETED` and present in a destination, and the oldest one that is not gives the data at
/// risk (`rpo_seconds`, class `files`), which must not exceed `max_unreplicated_age`.
///
/// Read-only, with the probe convention (done / blocked; `execute` and `verify` fail with
/// `PostconditionFailed`).
#[derive(Debug, HasBase)]
pub struct VerifyReplication {
    base: Base<Self>,
    /// The S3 port of each destination's region.
    ports: PortFactory<dyn S3Api>,
}

impl ActionKind for VerifyReplication {
    const KIND: &'static str = "s3.verify_replication";
    const SUMMARY: &'static str = "Verify a bucket's replication (rules, versioning, destination) \
                                   and, with a sample, the data at risk";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "s3:GetBucketVersioning",
        "s3:GetReplicationConfiguration",
        "s3:GetBucketLocation",
        "s3:ListBucket",
        "s3:GetObject",
        "s3:GetObjectVersion",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new(
            "destinations",
            "`bucket (region)` of every enabled rule's destination",
        ),
        OutputDoc::new("role", "the replication role"),
        OutputDoc::new("sampled", "(sample) how many objects were looked at"),
        OutputDoc::new("replicated", "(sample) how many are replicated"),
        OutputDoc::new("unreplicated", "(sample) how many are not"),
        OutputDoc::new(
            "rpo_seconds",
            "(sample) age of the oldest unreplicated object: data at risk",
        ),
        OutputDoc::new("rpo_class", "(sample) `files`"),
        OutputDoc::new("oldest_unreplicated", "(sample) its key"),
    ];
    type Params = VerifyReplicationParams;
    type Port = dyn S3Api;
    type Ports = PortFactory<dyn S3Api>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        bucket_name(&p.bucket)?;
        if p.sample == Some(0) || p.sample.is_some_and(|n| n > 1_000) {
            return Err(ParamError::new("sample", "must be 1 to 1,000"));
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
        let enabled: Vec<_> = config.rules.iter().filter(|r| r.enabled).collect();
        if enabled.is_empty() {
            return fail(format!(
                "bucket {bucket} has {} replication rule(s), none enabled",
                config.rules.len()
            ));
        }
        let mut destinations: Vec<(String, String, Arc<dyn S3Api>)> = Vec::new();
        for rule in enabled {
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
        let mut outputs = Outputs::new()
            .with("destinations", names.clone())
            .with("role", config.role.clone());
        let mut detail = format!(
            "bucket {bucket} replicates to {} with versioning on both sides",
            names.join(", ")
        );
        let Some(n) = p.sample else {
            return Ok(Finding::pass(detail, outputs));
        };
        let objects = ctx
            .bounded(api.newest_objects(bucket, p.prefix.as_deref(), n))
            .await?;
        let mut unreplicated: Vec<(&ObjectInfo, String)> = Vec::new();
        for o in &objects {
            let status = o.replication_status.as_deref().unwrap_or("none");
            if status != "COMPLETED" && status != "COMPLETE" {
                unreplicated.push((o, status.to_owned()));
                continue;
            }
            let mut present = false;
            for (dest, _, api) in &destinations {
                let found = ctx
                    .bounded(api.head_object(dest, &o.key, o.version_id.as_deref()))
                    .await?;
                if found.is_some() {
                    present = true;
                    break;
                }
            }
            if !present {
                unreplicated.push((o, "COMPLETED but absent from the destination".into()));
            }
        }
        let now = SystemTime::now();
        let oldest = unreplicated.iter().min_by_key(|(o, _)| o.last_modified);
        let at_risk = oldest.map_or(0, |(o, _)| {
            now.duration_since(o.last_modified)
                .map_or(0, |d| d.as_secs())
        });
        outputs.insert("sampled", objects.len());
        outputs.insert("replicated", objects.len() - unreplicated.len());
        outputs.insert("unreplicated", unreplicated.len());
        outputs.insert("rpo_seconds", at_risk);
        outputs.insert("rpo_class", RPO_CLASS_FILES);
        if let Some((o, _)) = oldest {
            outputs.insert("oldest_unreplicated", o.key.clone());
        }
        detail.push_str(&format!(
            "; {} of the newest {} object(s) replicated, data at risk {at_risk} s",
            objects.len() - unreplicated.len(),
            objects.len()
        ));
        let failed: Vec<String> = unreplicated
            .iter()
            .filter(|(_, s)| s == "FAILED" || s.contains("absent"))
            .map(|(o, s)| format!("{}: {s}", o.key))
            .collect();
        if !failed.is_empty() {
            return fail(format!(
                "{detail}; not replicated and not going to be: {}",
                failed.join(", ")
            ));
        }
        if at_risk > p.max_unreplicated_age.as_secs() {
            let (o, s) = oldest.map_or(("", ""), |(o, s)| (o.key.as_str(), s.as_str()));
            return fail(format!(
                "{detail}, more than {}: oldest unreplicated {o} ({s})",
                humantime::format_duration(p.max_unreplicated_age)
            ));
        }
        Ok(Finding::pass(detail, outputs))
    }
}
