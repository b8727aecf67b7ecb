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
    /// The key prefix of the objects it replicates, empty for all: the filter's `Prefix`, its
    /// `And`'s, or the rule's own (the legacy V1 schema).
    pub prefix: String,
    /// The tags an object must all have to be replicated: the filter's `Tag` or its `And`'s
    /// `Tag`s; empty when the rule does not filter by tag.
    pub tags: Vec<(String, String)>,
}

impl ReplicationRule {
    /// A rule for every object (handy in tests).
    pub fn new(id: &str, enabled: bool, destination_bucket: &str) -> Self {
        Self {
            id: Some(id.to_owned()),
            enabled,
            destination_bucket: destination_bucket.to_owned(),
            prefix: String::new(),
            tags: Vec::new(),
        }
    }

    /// The same, only for keys under `prefix`.
    #[must_use]
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.prefix);
        self
    }

    /// The same, only for objects with the tag `key` = `value` (and any others given).
    #[must_use]
    pub fn with_tag(mut self, key: &str, value: &str) -> Self {
        self.tags.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Whether it replicates `key` on its prefix alone (tags aside).
    pub fn covers_key(&self, key: &str) -> bool {
        key.starts_with(&self.prefix)
    }

    /// Whether an object with `tags` has every tag the rule filters on.
    pub fn covers_tags(&self, tags: &[(String, String)]) -> bool {
        self.tags.iter().all(|t| tags.contains(t))
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

/// A replication configuration as drkit writes and restores it (`PutBucketReplication`): what
/// the rules say, exactly, where drkit models it; what it does not model is named in
/// `unmodelled` (such a configuration cannot be restored exactly, so it is never replaced).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ReplicationSetting {
    /// `Role`: the IAM role S3 replicates as.
    pub role: String,
    /// `Rule`s.
    pub rules: Vec<RuleSetting>,
    /// What the configuration has that drkit does not model (`ReplicationTime of rule x`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmodelled: Vec<String>,
}

/// One rule of a [`ReplicationSetting`].
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct RuleSetting {
    /// `ID`.
    pub id: Option<String>,
    /// `Priority` (schema V2).
    pub priority: Option<i32>,
    /// `Status` is `Enabled`.
    pub enabled: bool,
    /// `Filter` with this `Prefix` (`""`: an empty filter, every object): schema V2.
    pub filter_prefix: Option<String>,
    /// The rule-level `Prefix` of the legacy schema V1 (no `Filter`).
    pub legacy_prefix: Option<String>,
    /// `Destination.Bucket`: the destination bucket's ARN.
    pub destination_arn: String,
    /// `Destination.StorageClass`.
    pub storage_class: Option<String>,
    /// `DeleteMarkerReplication.Status` is `Enabled` (`None`: absent, schema V1).
    pub delete_marker_replication: Option<bool>,
}

/// An object (its current version), as listed (`ListObjectsV2`: key and time only) or as read
/// (`HeadObject`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectInfo {
    /// The key.
    pub key: String,
    /// When it was last written.
    pub last_modified: SystemTime,
    /// The version id, when versioned.
    pub version_id: Option<String>,
    /// The replication status (`x-amz-replication-status`: `PENDING`, `COMPLETED`, `FAILED` on
    /// a source object S3 deems eligible for replication, `REPLICA` on a replica); `None` when
    /// S3 sends none (not eligible, or written before the rule existed), or when only listed.
    pub replication_status: Option<String>,
    /// How many tags it has (`x-amz-tagging-count`; 0 when absent or only listed).
    pub tag_count: usize,
}

impl ObjectInfo {
    /// An object (handy in tests).
    pub fn new(key: &str, last_modified: SystemTime, replication_status: Option<&str>) -> Self {
        Self {
            key: key.to_owned(),
            last_modified,
            version_id: None,
            replication_status: replication_status.map(str::to_owned),
            tag_count: 0,
        }
    }

    /// The same, with `n` tags.
    #[must_use]
    pub fn with_tag_count(mut self, n: usize) -> Self {
        self.tag_count = n;
        self
    }
}

/// One page of a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectPage {
    /// The objects of the page (key and time).
    pub objects: Vec<ObjectInfo>,
    /// The continuation token of the next page, when the listing is truncated.
    pub next: Option<String>,
}

impl ObjectPage {
    /// A page (handy in tests).
    pub fn new(objects: Vec<ObjectInfo>, next: Option<&str>) -> Self {
        Self {
            objects,
            next: next.map(str::to_owned),
        }
    }
}

/// A bucket's own Block Public Access settings (`GetPublicAccessBlock`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublicAccessBlock {
    /// `BlockPublicAcls`.
    pub block_public_acls: bool,
    /// `IgnorePublicAcls`.
    pub ignore_public_acls: bool,
    /// `BlockPublicPolicy`: a public bucket policy is refused (one already there stays).
    pub block_public_policy: bool,
    /// `RestrictPublicBuckets`: a public bucket policy grants nothing to anonymous requests.
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
    /// All four settings on (what S3 gives a new bucket) or off.
    pub fn all(on: bool) -> Self {
        Self {
            block_public_acls: on,
            ignore_public_acls: on,
            block_public_policy: on,
            restrict_public_buckets: on,
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

    /// One page of `ListObjectsV2` (up to 1,000 keys) under `prefix`, from `token` (the previous
    /// page's `next`): one request.
    async fn list_objects<'a>(
        &self,
        bucket: &str,
        prefix: Option<&'a str>,
        token: Option<&'a str>,
    ) -> Result<ObjectPage, ActionError>;

    /// `HeadObject` of `key` (that version, when given); `None` when absent.
    async fn head_object<'a>(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&'a str>,
    ) -> Result<Option<ObjectInfo>, ActionError>;

    /// `GetObjectTagging` of the current version of `key`: its tags.
    async fn object_tags(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<(String, String)>, ActionError>;

    /// `GetPublicAccessBlock` of the bucket; `None` when it has none
    /// (`NoSuchPublicAccessBlockConfiguration`).
    async fn public_access_block(
        &self,
        bucket: &str,
    ) -> Result<Option<PublicAccessBlock>, ActionError>;

    /// `GetBucketPolicy`: the policy document; `None` when it has none (`NoSuchBucketPolicy`).
    async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, ActionError>;

    /// `GetBucketWebsite`; `None` when the bucket has no website configuration.
    async fn website(&self, bucket: &str) -> Result<Option<WebsiteConfig>, ActionError>;

    /// `PutBucketWebsite` with index and error documents (or a redirect).
    async fn put_website(&self, bucket: &str, config: WebsiteConfig) -> Result<(), ActionError>;

    /// `DeleteBucketWebsite`.
    async fn delete_website(&self, bucket: &str) -> Result<(), ActionError>;

    /// `GetBucketReplication`, as drkit writes and restores it; `None` when the bucket has no
    /// replication configuration.
    async fn replication_setting(
        &self,
        bucket: &str,
    ) -> Result<Option<ReplicationSetting>, ActionError>;

    /// `PutBucketReplication` (replaces the whole configuration).
    async fn put_replication(
        &self,
        bucket: &str,
        setting: &ReplicationSetting,
    ) -> Result<(), ActionError>;

    /// `DeleteBucketReplication`.
    async fn delete_replication(&self, bucket: &str) -> Result<(), ActionError>;
}
