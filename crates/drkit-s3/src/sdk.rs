//! The adapter: [`S3Api`] over `aws-sdk-s3`.

use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::DateTime;
use aws_sdk_s3::types::{
    ErrorDocument, IndexDocument, RedirectAllRequestsTo, ReplicationRuleStatus,
    WebsiteConfiguration,
};
use drkit_aws::{AwsContext, SdkResultExt};
use drkit_core::{ActionError, ErrorKind};

use crate::port::{
    ObjectInfo, ObjectPage, PublicAccessBlock, ReplicationConfig, ReplicationRule,
    ReplicationSetting, RuleSetting, S3Api, WebsiteConfig,
};

/// A client for `config`, path-style when an endpoint is set (emulators: `bucket.127.0.0.1`
/// does not resolve).
fn client_for(config: &aws_config::SdkConfig) -> Client {
    let config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    Client::from_conf(config)
}

drkit_aws::sdk_adapter! {
    /// [`S3Api`] over an `aws-sdk-s3` client, for one region (path-style addressing when an
    /// endpoint is set).
    pub struct SdkS3(Client) built by client_for;
}

impl SdkS3 {
    /// A client for `region` (default: the context's), path-style when an endpoint is set.
    pub fn for_region(aws: &AwsContext, region: Option<&str>) -> Self {
        Self::from_config(&aws.for_region(region))
    }
}

fn time(t: Option<&DateTime>) -> SystemTime {
    t.and_then(|t| SystemTime::try_from(*t).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// `None` for a `NotFound` error with one of `codes` (a missing configuration), or with no
/// code at all when `codes` is empty (a HEAD's 404 has no body); a missing bucket stays an
/// error.
fn absent<T>(result: Result<T, ActionError>, codes: &[&str]) -> Result<Option<T>, ActionError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e)
            if e.kind() == ErrorKind::NotFound
                && (codes.is_empty() || e.code().is_some_and(|c| codes.contains(&c))) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The `<Status>` of a versioning answer's body; empty when there is none (never enabled).
pub(crate) fn versioning_status_in(body: &str) -> String {
    body.split_once("<Status>")
        .and_then(|(_, rest)| rest.split_once("</Status>"))
        .map(|(status, _)| status.trim().to_owned())
        .unwrap_or_default()
}

/// A rule in the port's terms: which objects it replicates (the filter's `Prefix`, `Tag` or
/// `And`, or the legacy rule-level `Prefix`; none: every object), and where to.
#[allow(deprecated)] // `ReplicationRule::prefix`: the V1 schema, which S3 still answers with.
pub(crate) fn rule(r: &aws_sdk_s3::types::ReplicationRule) -> ReplicationRule {
    let filter = r.filter();
    let and = filter.and_then(|f| f.and());
    let prefix = filter
        .and_then(|f| f.prefix())
        .or_else(|| and.and_then(|a| a.prefix()))
        .or_else(|| r.prefix())
        .unwrap_or_default();
    let tags = filter
        .and_then(|f| f.tag())
        .into_iter()
        .chain(and.map(|a| a.tags()).unwrap_or_default())
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    ReplicationRule {
        id: r.id().map(str::to_owned),
        enabled: *r.status() == ReplicationRuleStatus::Enabled,
        destination_bucket: r
            .destination()
            .map(|d| bucket_of_arn(d.bucket()))
            .unwrap_or_default(),
        prefix: prefix.to_owned(),
        tags,
    }
}

/// A rule as drkit writes and restores it; what it does not model is added to `unmodelled`.
#[allow(deprecated)] // `ReplicationRule::prefix`: the V1 schema.
pub(crate) fn rule_setting(
    r: &aws_sdk_s3::types::ReplicationRule,
    unmodelled: &mut Vec<String>,
) -> RuleSetting {
    let name = r.id().unwrap_or("(no id)");
    let mut lacks = |what: &str| unmodelled.push(format!("{what} of rule {name}"));
    let filter = r.filter();
    if filter.is_some_and(|f| f.tag().is_some() || f.and().is_some()) {
        lacks("a tag filter");
    }
    if r.source_selection_criteria().is_some() {
        lacks("SourceSelectionCriteria");
    }
    if r.existing_object_replication().is_some() {
        lacks("ExistingObjectReplication");
    }
    let destination = r.destination();
    if let Some(d) = destination {
        if d.account().is_some() || d.access_control_translation().is_some() {
            lacks("a destination account");
        }
        if d.encryption_configuration().is_some() {
            lacks("EncryptionConfiguration");
        }
        if d.replication_time().is_some() || d.metrics().is_some() {
            lacks("ReplicationTime / Metrics");
        }
    }
    RuleSetting {
        id: r.id().map(str::to_owned),
        priority: r.priority(),
        enabled: *r.status() == ReplicationRuleStatus::Enabled,
        filter_prefix: filter.map(|f| f.prefix().unwrap_or_default().to_owned()),
        legacy_prefix: r.prefix().map(str::to_owned),
        destination_arn: destination
            .map(|d| d.bucket().to_owned())
            .unwrap_or_default(),
        storage_class: destination
            .and_then(|d| d.storage_class())
            .map(|c| c.as_str().to_owned()),
        delete_marker_replication: r
            .delete_marker_replication()
            .and_then(|d| d.status())
            .map(|s| *s == aws_sdk_s3::types::DeleteMarkerReplicationStatus::Enabled),
    }
}

/// The SDK's configuration of a [`ReplicationSetting`].
#[allow(deprecated)] // `ReplicationRuleBuilder::set_prefix`: the V1 schema, restored as it was.
pub(crate) fn replication_to_sdk(
    setting: &ReplicationSetting,
) -> Result<aws_sdk_s3::types::ReplicationConfiguration, ActionError> {
    use aws_sdk_s3::types::{
        DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination,
        ReplicationConfiguration, ReplicationRule as SdkRule, ReplicationRuleFilter, StorageClass,
    };
    let invalid = |e: aws_sdk_s3::error::BuildError| {
        ActionError::new(
            ErrorKind::InvalidInput,
            format!("replication configuration: {e}"),
        )
        .with_operation("PutBucketReplication")
    };
    let mut rules = Vec::new();
    for r in &setting.rules {
        let destination = Destination::builder()
            .bucket(&r.destination_arn)
            .set_storage_class(r.storage_class.as_deref().map(StorageClass::from))
            .build()
            .map_err(invalid)?;
        let marker = r.delete_marker_replication.map(|on| {
            DeleteMarkerReplication::builder()
                .status(if on {
                    DeleteMarkerReplicationStatus::Enabled
                } else {
                    DeleteMarkerReplicationStatus::Disabled
                })
                .build()
        });
        rules.push(
            SdkRule::builder()
                .set_id(r.id.clone())
                .set_priority(r.priority)
                .status(if r.enabled {
                    ReplicationRuleStatus::Enabled
                } else {
                    ReplicationRuleStatus::Disabled
                })
                .set_filter(
                    r.filter_prefix
                        .as_ref()
                        .map(|p| ReplicationRuleFilter::builder().prefix(p).build()),
                )
                .set_prefix(r.legacy_prefix.clone())
                .set_delete_marker_replication(marker)
                .destination(destination)
                .build()
                .map_err(invalid)?,
        );
    }
    ReplicationConfiguration::builder()
        .role(&setting.role)
        .set_rules(Some(rules))
        .build()
        .map_err(invalid)
}

/// The bucket name of `arn:aws:s3:::name` (or `name`).
pub(crate) fn bucket_of_arn(arn: &str) -> String {
    arn.rsplit(":::").next().unwrap_or(arn).to_owned()
}

#[async_trait]
impl S3Api for SdkS3 {
    async fn bucket_region(&self, bucket: &str) -> Result<String, ActionError> {
        let out = self
            .client()
            .await
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
            .or_action_error("GetBucketLocation")?;
        Ok(match out.location_constraint().map(|l| l.as_str()) {
            None | Some("") => "us-east-1".to_owned(),
            Some("EU") => "eu-west-1".to_owned(),
            Some(region) => region.to_owned(),
        })
    }

    async fn versioning(&self, bucket: &str) -> Result<String, ActionError> {
        match self
            .client()
            .await
            .get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default()),
            Err(aws_sdk_s3::error::SdkError::ServiceError(e))
                if e.raw().status().as_u16() == 200 =>
            {
                // Emulator quirk (moto 5.2): a 200 answer whose XML root is
                // `GetBucketVersioningResponse` instead of `VersioningConfiguration`, which the
                // SDK refuses to parse. Real S3 never answers so; read the status from the body.
                let body = e
                    .raw()
                    .body()
                    .bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Ok(versioning_status_in(&body))
            }
            Err(e) => Err(drkit_aws::sdk_error("GetBucketVersioning", e)),
        }
    }

    async fn replication(&self, bucket: &str) -> Result<Option<ReplicationConfig>, ActionError> {
        let out = absent(
            self.client()
                .await
                .get_bucket_replication()
                .bucket(bucket)
                .send()
                .await
                .or_action_error("GetBucketReplication"),
            &["ReplicationConfigurationNotFoundError"],
        )?;
        Ok(out.and_then(|o| {
            o.replication_configuration().map(|c| ReplicationConfig {
                role: c.role().to_owned(),
                rules: c.rules().iter().map(rule).collect(),
            })
        }))
    }

    async fn replication_setting(
        &self,
        bucket: &str,
    ) -> Result<Option<ReplicationSetting>, ActionError> {
        let out = absent(
            self.client()
                .await
                .get_bucket_replication()
                .bucket(bucket)
                .send()
                .await
                .or_action_error("GetBucketReplication"),
            &["ReplicationConfigurationNotFoundError"],
        )?;
        Ok(out.and_then(|o| {
            o.replication_configuration().map(|c| {
                let mut unmodelled = Vec::new();
                let rules = c
                    .rules()
                    .iter()
                    .map(|r| rule_setting(r, &mut unmodelled))
                    .collect();
                ReplicationSetting {
                    role: c.role().to_owned(),
                    rules,
                    unmodelled,
                }
            })
        }))
    }

    async fn put_replication(
        &self,
        bucket: &str,
        setting: &ReplicationSetting,
    ) -> Result<(), ActionError> {
        let config = replication_to_sdk(setting)?;
        self.client()
            .await
            .put_bucket_replication()
            .bucket(bucket)
            .replication_configuration(config)
            .send()
            .await
            .or_action_error("PutBucketReplication")?;
        Ok(())
    }

    async fn delete_replication(&self, bucket: &str) -> Result<(), ActionError> {
        self.client()
            .await
            .delete_bucket_replication()
            .bucket(bucket)
            .send()
            .await
            .or_action_error("DeleteBucketReplication")?;
        Ok(())
    }

    async fn list_objects<'a>(
        &self,
        bucket: &str,
        prefix: Option<&'a str>,
        token: Option<&'a str>,
    ) -> Result<ObjectPage, ActionError> {
        let page = self
            .client()
            .await
            .list_objects_v2()
            .bucket(bucket)
            .set_prefix(prefix.filter(|p| !p.is_empty()).map(str::to_owned))
            .set_continuation_token(token.map(str::to_owned))
            .send()
            .await
            .or_action_error("ListObjectsV2")?;
        let objects = page
            .contents()
            .iter()
            .filter_map(|o| {
                o.key()
                    .map(|k| ObjectInfo::new(k, time(o.last_modified()), None))
            })
            .collect();
        let next = match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => Some(t.to_owned()),
            _ => None,
        };
        Ok(ObjectPage { objects, next })
    }

    async fn head_object<'a>(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&'a str>,
    ) -> Result<Option<ObjectInfo>, ActionError> {
        let out = absent(
            self.client()
                .await
                .head_object()
                .bucket(bucket)
                .key(key)
                .set_version_id(version_id.map(str::to_owned))
                .send()
                .await
                .or_action_error("HeadObject"),
            &[],
        )?;
        Ok(out.map(|o| ObjectInfo {
            key: key.to_owned(),
            last_modified: time(o.last_modified()),
            version_id: o.version_id().map(str::to_owned),
            replication_status: o.replication_status().map(|s| s.as_str().to_owned()),
            tag_count: o
                .tag_count()
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0),
        }))
    }

    async fn object_tags(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<(String, String)>, ActionError> {
        let out = self
            .client()
            .await
            .get_object_tagging()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .or_action_error("GetObjectTagging")?;
        Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    async fn public_access_block(
        &self,
        bucket: &str,
    ) -> Result<Option<PublicAccessBlock>, ActionError> {
        let out = absent(
            self.client()
                .await
                .get_public_access_block()
                .bucket(bucket)
                .send()
                .await
                .or_action_error("GetPublicAccessBlock"),
            &["NoSuchPublicAccessBlockConfiguration"],
        )?;
        Ok(out.map(|o| {
            let c = o.public_access_block_configuration();
            let on = |v: Option<bool>| v == Some(true);
            PublicAccessBlock {
                block_public_acls: on(c.and_then(|c| c.block_public_acls())),
                ignore_public_acls: on(c.and_then(|c| c.ignore_public_acls())),
                block_public_policy: on(c.and_then(|c| c.block_public_policy())),
                restrict_public_buckets: on(c.and_then(|c| c.restrict_public_buckets())),
            }
        }))
    }

    async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, ActionError> {
        let out = absent(
            self.client()
                .await
                .get_bucket_policy()
                .bucket(bucket)
                .send()
                .await
                .or_action_error("GetBucketPolicy"),
            &["NoSuchBucketPolicy"],
        )?;
        Ok(out.and_then(|o| o.policy().map(str::to_owned)))
    }

    async fn website(&self, bucket: &str) -> Result<Option<WebsiteConfig>, ActionError> {
        let out = absent(
            self.client()
                .await
                .get_bucket_website()
                .bucket(bucket)
                .send()
                .await
                .or_action_error("GetBucketWebsite"),
            &["NoSuchWebsiteConfiguration"],
        )?;
        Ok(out.map(|o| WebsiteConfig {
            index_document: o.index_document().map(|d| d.suffix().to_owned()),
            error_document: o.error_document().map(|d| d.key().to_owned()),
            redirect_all_to: o
                .redirect_all_requests_to()
                .map(|r| r.host_name().to_owned()),
            has_routing_rules: !o.routing_rules().is_empty(),
        }))
    }

    async fn put_website(&self, bucket: &str, config: WebsiteConfig) -> Result<(), ActionError> {
        let invalid = |e: aws_sdk_s3::error::BuildError| {
            ActionError::invalid_input(format!("website configuration: {e}"))
        };
        let mut b = WebsiteConfiguration::builder();
        if let Some(index) = &config.index_document {
            b = b.index_document(
                IndexDocument::builder()
                    .suffix(index)
                    .build()
                    .map_err(invalid)?,
            );
        }
        if let Some(error) = &config.error_document {
            b = b.error_document(
                ErrorDocument::builder()
                    .key(error)
                    .build()
                    .map_err(invalid)?,
            );
        }
        if let Some(host) = &config.redirect_all_to {
            b = b.redirect_all_requests_to(
                RedirectAllRequestsTo::builder()
                    .host_name(host)
                    .build()
                    .map_err(invalid)?,
            );
        }
        self.client()
            .await
            .put_bucket_website()
            .bucket(bucket)
            .website_configuration(b.build())
            .send()
            .await
            .or_action_error("PutBucketWebsite")?;
        Ok(())
    }

    async fn delete_website(&self, bucket: &str) -> Result<(), ActionError> {
        self.client()
            .await
            .delete_bucket_website()
            .bucket(bucket)
            .send()
            .await
            .or_action_error("DeleteBucketWebsite")?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "sdk_tests.rs"]
mod tests;
