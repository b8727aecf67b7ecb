//! `s3.verify_replication`: is the bucket's data reaching the DR bucket, and how much is at
//! risk?

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use drkit_core::{ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource};
use serde::Deserialize;

use crate::port::{ObjectInfo, S3Api};
use crate::register::S3ApiFactory;

pub(crate) const KIND: &str = "s3.verify_replication";
pub(crate) const IAM: &[&str] = &[
    "s3:GetBucketVersioning",
    "s3:GetReplicationConfiguration",
    "s3:GetBucketLocation",
    "s3:ListBucket",
    "s3:GetObject",
    "s3:GetObjectVersion",
];

/// The RPO class of the data-at-risk output.
pub const RPO_CLASS_FILES: &str = "files";

fn fifteen_minutes() -> Duration {
    Duration::from_secs(15 * 60)
}

/// The parameters of `s3.verify_replication`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VerifyReplicationParams {
    /// The source bucket.
    pub bucket: String,
    /// Also look at the newest `sample` objects: replicated (`COMPLETED`) and present in the
    /// destination.
    #[serde(default)]
    pub sample: Option<usize>,
    /// Only objects under this prefix are sampled.
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
pub struct VerifyReplication {
    id: String,
    params: VerifyReplicationParams,
    target: Resource,
    api: Arc<dyn S3Api>,
    ports: S3ApiFactory,
}

impl fmt::Debug for VerifyReplication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyReplication")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

type Evaluation = Result<(String, Outputs), String>;

impl VerifyReplication {
    /// A probe step `id`; `ports` builds the S3 port of the step's region (`None`) and of each
    /// destination's region.
    pub fn new(
        id: impl Into<String>,
        params: VerifyReplicationParams,
        ports: S3ApiFactory,
        region: Option<&str>,
    ) -> Self {
        let target = Resource::new("s3", "bucket", params.bucket.clone()).in_region(region);
        let api = ports(region);
        Self {
            id: id.into(),
            params,
            target,
            api,
            ports,
        }
    }

    async fn call<T>(
        &self,
        ctx: &Context,
        fut: impl std::future::Future<Output = Result<T, ActionError>>,
    ) -> Result<T, ActionError> {
        ctx.bounded(fut).await.map_err(|e| e.in_action(self))
    }

    async fn evaluate(&self, ctx: &Context) -> Result<Evaluation, ActionError> {
        let bucket = &self.params.bucket;
        let versioning = match ctx.bounded(self.api.versioning(bucket)).await {
            Ok(v) => v,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Err(format!("bucket {bucket} does not exist")));
            }
            Err(e) => return Err(e.in_action(self)),
        };
        if versioning != "Enabled" {
            return Ok(Err(format!(
                "versioning of source bucket {bucket} is not enabled ({})",
                if versioning.is_empty() {
                    "never enabled"
                } else {
                    &versioning
                }
            )));
        }
        let Some(config) = self.call(ctx, self.api.replication(bucket)).await? else {
            return Ok(Err(format!(
                "bucket {bucket} has no replication configuration"
            )));
        };
        let enabled: Vec<_> = config.rules.iter().filter(|r| r.enabled).collect();
        if enabled.is_empty() {
            return Ok(Err(format!(
                "bucket {bucket} has {} replication rule(s), none enabled",
                config.rules.len()
            )));
        }
        let mut destinations: Vec<(String, String, Arc<dyn S3Api>)> = Vec::new();
        for rule in enabled {
            let dest = &rule.destination_bucket;
            if destinations.iter().any(|(d, _, _)| d == dest) {
                continue;
            }
            let region = match ctx.bounded(self.api.bucket_region(dest)).await {
                Ok(r) => r,
                Err(e) if !e.is_retryable() => {
                    return Ok(Err(format!(
                        "destination bucket {dest} is not reachable: {}",
                        e.message()
                    )));
                }
                Err(e) => return Err(e.in_action(self)),
            };
            let api = (self.ports)(Some(&region));
            let v = match ctx.bounded(api.versioning(dest)).await {
                Ok(v) => v,
                Err(e) if !e.is_retryable() => {
                    return Ok(Err(format!(
                        "destination bucket {dest} in {region} is not reachable: {}",
                        e.message()
                    )));
                }
                Err(e) => return Err(e.in_action(self)),
            };
            if v != "Enabled" {
                return Ok(Err(format!(
                    "versioning of destination bucket {dest} ({region}) is not enabled"
                )));
            }
            destinations.push((dest.clone(), region, api));
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
        let Some(n) = self.params.sample else {
            return Ok(Ok((detail, outputs)));
        };
        let objects = self
            .call(
                ctx,
                self.api
                    .newest_objects(bucket, self.params.prefix.as_deref(), n),
            )
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
                let found = self
                    .call(ctx, api.head_object(dest, &o.key, o.version_id.as_deref()))
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
            return Ok(Err(format!(
                "{detail}; not replicated and not going to be: {}",
                failed.join(", ")
            )));
        }
        if at_risk > self.params.max_unreplicated_age.as_secs() {
            let (o, s) = oldest.map_or(("", ""), |(o, s)| (o.key.as_str(), s.as_str()));
            return Ok(Err(format!(
                "{detail}, more than {}: oldest unreplicated {o} ({s})",
                humantime::format_duration(self.params.max_unreplicated_age)
            )));
        }
        Ok(Ok((detail, outputs)))
    }
}

#[async_trait]
impl RecoveryAction for VerifyReplication {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn target(&self) -> &Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        false
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        IAM
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        Ok(match self.evaluate(ctx).await? {
            Ok((detail, outputs)) => Check::Done { detail, outputs },
            Err(reason) => Check::blocked(reason),
        })
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        match self.evaluate(ctx).await? {
            Ok((_, outputs)) => Ok(outputs),
            Err(reason) => Err(ActionError::postcondition(reason).in_action(self)),
        }
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        match self.evaluate(ctx).await? {
            Ok((detail, _)) => Ok(detail),
            Err(reason) => Err(ActionError::postcondition(reason).in_action(self)),
        }
    }
}
