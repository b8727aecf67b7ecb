//! The port: the S3 operations drkit uses, in drkit's own types.

use std::time::SystemTime;

use async_trait::async_trait;
use drkit_core::ActionError;

/// One replication rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicationRule {
    /// Its id, if any.
    pub id: Option<String>,
    /// Whether it is `Enabled`.
    pub enabled: bool,
    /// The destination bucket's name (from its ARN).
    pub destination_bucket: String,
}

impl ReplicationRule {
    /// A rule (handy in tests).
    pub fn new(id: &str, enabled: bool, destination_bucket: &str) -> Self {
        Self {
            id: Some(id.to_owned()),
            enabled,
            destination_bucket: destination_bucket.to_owned(),
        }
    }
}

/// A bucket's replication configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicationConfig {
    /// The IAM role S3 replicates as.
    pub role: String,
    /// The rules.
    pub rules: Vec<ReplicationRule>,
}

/// An object (its current version).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectInfo {
    /// The key.
    pub key: String,
    /// When it was last written.
    pub last_modified: SystemTime,
    /// The version id, when versioned.
    pub version_id: Option<String>,
    /// The replication status (`COMPLETED`, `PENDING`, `FAILED`, `REPLICA`), when replicated.
    pub replication_status: Option<String>,
}

impl ObjectInfo {
    /// An object (handy in tests).
    pub fn new(key: &str, last_modified: SystemTime, replication_status: Option<&str>) -> Self {
        Self {
            key: key.to_owned(),
            last_modified,
            version_id: None,
            replication_status: replication_status.map(str::to_owned),
        }
    }
}

/// A bucket's website configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebsiteConfig {
    /// The index document suffix (`index.html`).
    pub index_document: Option<String>,
    /// The error document key (`error.html`).
    pub error_document: Option<String>,
    /// The host every request is redirected to, when the bucket only redirects.
    pub redirect_all_to: Option<String>,
    /// Whether it has routing rules (drkit does not model them, so cannot restore them).
    pub has_routing_rules: bool,
}

impl WebsiteConfig {
    /// An index (and error) document configuration.
    pub fn documents(index: &str, error: Option<&str>) -> Self {
        Self {
            index_document: Some(index.to_owned()),
            error_document: error.map(str::to_owned),
            redirect_all_to: None,
            has_routing_rules: false,
        }
    }

    /// `index index.html, error error.html`, for messages.
    pub fn describe(&self) -> String {
        if let Some(host) = &self.redirect_all_to {
            return format!("redirect all requests to {host}");
        }
        let mut out = format!(
            "index {}",
            self.index_document.as_deref().unwrap_or("(none)")
        );
        if let Some(e) = &self.error_document {
            out.push_str(&format!(", error {e}"));
        }
        if self.has_routing_rules {
            out.push_str(", with routing rules");
        }
        out
    }
}

/// The S3 operations drkit uses, for one region. Implemented by [`crate::SdkS3`] and by
/// `MockS3Api` (feature `mock`). A missing bucket or object is `NotFound`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait S3Api: std::fmt::Debug + Send + Sync {
    /// `GetBucketLocation`: the bucket's region.
    async fn bucket_region(&self, bucket: &str) -> Result<String, ActionError>;

    /// `GetBucketVersioning`: `Enabled`, `Suspended`, or empty when never enabled.
    async fn versioning(&self, bucket: &str) -> Result<String, ActionError>;

    /// `GetBucketReplication`; `None` when the bucket has no replication configuration.
    async fn replication(&self, bucket: &str) -> Result<Option<ReplicationConfig>, ActionError>;

    /// The `n` most recently written objects under `prefix` (`ListObjectsV2`, all pages), each
    /// with its replication status (`HeadObject`), newest first.
    async fn newest_objects<'a>(
        &self,
        bucket: &str,
        prefix: Option<&'a str>,
        n: usize,
    ) -> Result<Vec<ObjectInfo>, ActionError>;

    /// `HeadObject` of `key` (that version, when given); `None` when absent.
    async fn head_object<'a>(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&'a str>,
    ) -> Result<Option<ObjectInfo>, ActionError>;

    /// `GetBucketWebsite`; `None` when the bucket has no website configuration.
    async fn website(&self, bucket: &str) -> Result<Option<WebsiteConfig>, ActionError>;

    /// `PutBucketWebsite` with index and error documents (or a redirect).
    async fn put_website(&self, bucket: &str, config: WebsiteConfig) -> Result<(), ActionError>;

    /// `DeleteBucketWebsite`.
    async fn delete_website(&self, bucket: &str) -> Result<(), ActionError>;
}
