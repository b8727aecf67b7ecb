//! An in-memory S3 for the unit tests and the behaviour suite: buckets (region, versioning,
//! replication, website, Block Public Access, policy, objects with their tags), listed in
//! pages as S3 lists them (by key, with a continuation token), with a count of the mutating
//! calls and a log of every call.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, PortFactory};
use drkit_testkit::behaviour::World;
use serde_json::{Value, json};

use crate::port::{
    ObjectInfo, ObjectPage, PublicAccessBlock, ReplicationConfig, ReplicationRule,
    ReplicationSetting, RuleSetting, S3Api, WebsiteConfig,
};
use crate::register_with;

/// One bucket.
#[derive(Clone, Debug, Default)]
pub(crate) struct Bucket {
    pub(crate) region: String,
    pub(crate) versioning: String,
    pub(crate) replication: Option<ReplicationConfig>,
    /// The replication as `PutBucketReplication` set it (`None`: derived from `replication`).
    pub(crate) setting: Option<ReplicationSetting>,
    pub(crate) website: Option<WebsiteConfig>,
    pub(crate) block: Option<PublicAccessBlock>,
    pub(crate) policy: Option<String>,
    pub(crate) objects: Vec<ObjectInfo>,
    /// The tags of each key.
    pub(crate) tags: BTreeMap<String, Vec<(String, String)>>,
}

/// The policy AWS documents for a public website: `s3:GetObject` on every object to anyone.
pub(crate) fn public_read(bucket: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PublicReadGetObject",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*"),
        }],
    })
    .to_string()
}

/// `secs` seconds ago.
pub(crate) fn ago(secs: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(secs)
}

/// An in-memory S3 (every region: buckets know their own).
#[derive(Debug)]
pub(crate) struct FakeS3 {
    pub(crate) buckets: Mutex<BTreeMap<String, Bucket>>,
    pub(crate) mutations: AtomicUsize,
    /// Keys per listing page (S3: 1,000).
    pub(crate) page_size: usize,
    /// Every call: `Operation bucket[/key]`.
    pub(crate) calls: Mutex<Vec<String>>,
}

impl Default for FakeS3 {
    fn default() -> Self {
        Self {
            buckets: Mutex::default(),
            mutations: AtomicUsize::new(0),
            page_size: 1_000,
            calls: Mutex::default(),
        }
    }
}

fn no_such_bucket(bucket: &str) -> ActionError {
    ActionError::new(ErrorKind::NotFound, format!("bucket {bucket} not found"))
        .with_code("NoSuchBucket")
}

impl FakeS3 {
    /// `mint-assets` (us-east-1) replicating everything to `mint-assets-dr` (us-west-2), both
    /// versioned, with `objects` in the source (and the `COMPLETED` ones in the destination);
    /// `mint-assets-dr` is publicly readable and serves `website` (or nothing).
    pub(crate) fn mint(objects: Vec<ObjectInfo>, website: Option<WebsiteConfig>) -> Self {
        let replicas = objects
            .iter()
            .filter(|o| o.replication_status.as_deref() == Some("COMPLETED"))
            .map(|o| ObjectInfo {
                replication_status: Some("REPLICA".into()),
                ..o.clone()
            })
            .collect();
        let source = Bucket {
            region: "us-east-1".into(),
            versioning: "Enabled".into(),
            replication: Some(ReplicationConfig {
                role: "arn:aws:iam::123456789012:role/s3-replication".into(),
                rules: vec![ReplicationRule::new("all", true, "mint-assets-dr")],
            }),
            objects,
            ..Bucket::default()
        };
        let dest = Bucket {
            region: "us-west-2".into(),
            versioning: "Enabled".into(),
            website,
            block: Some(PublicAccessBlock::all(false)),
            policy: Some(public_read("mint-assets-dr")),
            objects: replicas,
            ..Bucket::default()
        };
        let fake = Self::default();
        {
            let mut buckets = fake.buckets.lock().unwrap();
            buckets.insert("mint-assets".into(), source);
            buckets.insert("mint-assets-dr".into(), dest);
        }
        fake
    }

    /// The replicated objects of the Mint world: two, `COMPLETED`.
    pub(crate) fn mint_objects() -> Vec<ObjectInfo> {
        vec![
            ObjectInfo::new("img/logo.png", ago(30), Some("COMPLETED")),
            ObjectInfo::new("index.html", ago(90), Some("COMPLETED")),
        ]
    }

    /// Changes bucket `name`.
    pub(crate) fn edit(&self, name: &str, change: impl FnOnce(&mut Bucket)) {
        let mut buckets = self.buckets.lock().unwrap();
        change(buckets.get_mut(name).unwrap());
    }

    /// A registry with every S3 kind on this fake.
    pub(crate) fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::new();
        register_with(&mut registry, &self.ports()).unwrap();
        registry
    }

    /// This fake as the port of every region.
    pub(crate) fn ports(self: &Arc<Self>) -> PortFactory<dyn S3Api> {
        let port: Arc<dyn S3Api> = Arc::clone(self) as _;
        PortFactory::fixed(port)
    }

    /// How many calls of `operation` were made.
    pub(crate) fn count(&self, operation: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.split(' ').next() == Some(operation))
            .count()
    }

    fn call(&self, what: String) {
        self.calls.lock().unwrap().push(what);
    }

    fn bucket(&self, bucket: &str) -> Result<Bucket, ActionError> {
        self.buckets
            .lock()
            .unwrap()
            .get(bucket)
            .cloned()
            .ok_or_else(|| no_such_bucket(bucket))
    }

    /// The replication setting of `b`: as put, or derived from its rules.
    fn setting_of(b: &Bucket) -> Option<ReplicationSetting> {
        b.setting.clone().or_else(|| {
            b.replication.as_ref().map(|c| ReplicationSetting {
                role: c.role.clone(),
                rules: c
                    .rules
                    .iter()
                    .map(|r| RuleSetting {
                        id: r.id.clone(),
                        priority: None,
                        enabled: r.enabled,
                        filter_prefix: Some(r.prefix.clone()),
                        legacy_prefix: None,
                        destination_arn: format!("arn:aws:s3:::{}", r.destination_bucket),
                        storage_class: None,
                        delete_marker_replication: Some(false),
                    })
                    .collect(),
                unmodelled: Vec::new(),
            })
        })
    }

    fn set_replication(
        &self,
        bucket: &str,
        setting: Option<&ReplicationSetting>,
    ) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        let mut buckets = self.buckets.lock().unwrap();
        let b = buckets
            .get_mut(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        b.setting = setting.cloned();
        b.replication = setting.map(|s| ReplicationConfig {
            role: s.role.clone(),
            rules: s
                .rules
                .iter()
                .map(|r| {
                    ReplicationRule::new(
                        r.id.as_deref().unwrap_or_default(),
                        r.enabled,
                        r.destination_arn.rsplit(":::").next().unwrap_or_default(),
                    )
                    .with_prefix(r.filter_prefix.as_deref().unwrap_or_default())
                })
                .collect(),
        });
        Ok(())
    }

    fn set_website(&self, bucket: &str, website: Option<WebsiteConfig>) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        let mut buckets = self.buckets.lock().unwrap();
        let b = buckets
            .get_mut(bucket)
            .ok_or_else(|| no_such_bucket(bucket))?;
        b.website = website;
        Ok(())
    }
}

#[async_trait]
impl World for FakeS3 {
    async fn state(&self) -> Value {
        let buckets = self.buckets.lock().unwrap();
        json!(
            buckets
                .iter()
                .map(|(name, b)| (
                    name.clone(),
                    json!({
                        "versioning": b.versioning,
                        "replicates": b.replication.is_some(),
                        "replication": serde_json::to_value(Self::setting_of(b)).unwrap(),
                        "website": b.website.as_ref().map(WebsiteConfig::describe),
                        "policy": b.policy,
                    })
                ))
                .collect::<BTreeMap<_, _>>()
        )
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl S3Api for FakeS3 {
    async fn bucket_region(&self, bucket: &str) -> Result<String, ActionError> {
        self.call(format!("GetBucketLocation {bucket}"));
        Ok(self.bucket(bucket)?.region)
    }

    async fn versioning(&self, bucket: &str) -> Result<String, ActionError> {
        self.call(format!("GetBucketVersioning {bucket}"));
        Ok(self.bucket(bucket)?.versioning)
    }

    async fn replication(&self, bucket: &str) -> Result<Option<ReplicationConfig>, ActionError> {
        self.call(format!("GetBucketReplication {bucket}"));
        Ok(self.bucket(bucket)?.replication)
    }

    async fn list_objects<'a>(
        &self,
        bucket: &str,
        prefix: Option<&'a str>,
        token: Option<&'a str>,
    ) -> Result<ObjectPage, ActionError> {
        self.call(format!("ListObjectsV2 {bucket}/{}", prefix.unwrap_or("")));
        let mut objects: Vec<ObjectInfo> = self
            .bucket(bucket)?
            .objects
            .into_iter()
            .filter(|o| prefix.is_none_or(|p| o.key.starts_with(p)))
            .map(|o| ObjectInfo::new(&o.key, o.last_modified, None))
            .collect();
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        let start: usize = token.map_or(0, |t| t.parse().unwrap());
        let end = (start + self.page_size).min(objects.len());
        Ok(ObjectPage {
            next: (end < objects.len()).then(|| end.to_string()),
            objects: objects[start..end].to_vec(),
        })
    }

    async fn head_object<'a>(
        &self,
        bucket: &str,
        key: &str,
        _version_id: Option<&'a str>,
    ) -> Result<Option<ObjectInfo>, ActionError> {
        self.call(format!("HeadObject {bucket}/{key}"));
        let b = self.bucket(bucket)?;
        let tags = b.tags.get(key).map_or(0, Vec::len);
        Ok(b.objects
            .into_iter()
            .find(|o| o.key == key)
            .map(|o| o.with_tag_count(tags)))
    }

    async fn object_tags(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<(String, String)>, ActionError> {
        self.call(format!("GetObjectTagging {bucket}/{key}"));
        Ok(self.bucket(bucket)?.tags.remove(key).unwrap_or_default())
    }

    async fn public_access_block(
        &self,
        bucket: &str,
    ) -> Result<Option<PublicAccessBlock>, ActionError> {
        self.call(format!("GetPublicAccessBlock {bucket}"));
        Ok(self.bucket(bucket)?.block)
    }

    async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, ActionError> {
        self.call(format!("GetBucketPolicy {bucket}"));
        Ok(self.bucket(bucket)?.policy)
    }

    async fn website(&self, bucket: &str) -> Result<Option<WebsiteConfig>, ActionError> {
        self.call(format!("GetBucketWebsite {bucket}"));
        Ok(self.bucket(bucket)?.website)
    }

    async fn put_website(&self, bucket: &str, config: WebsiteConfig) -> Result<(), ActionError> {
        self.call(format!("PutBucketWebsite {bucket}"));
        self.set_website(bucket, Some(config))
    }

    async fn delete_website(&self, bucket: &str) -> Result<(), ActionError> {
        self.call(format!("DeleteBucketWebsite {bucket}"));
        self.set_website(bucket, None)
    }

    async fn replication_setting(
        &self,
        bucket: &str,
    ) -> Result<Option<ReplicationSetting>, ActionError> {
        self.call(format!("GetBucketReplication {bucket}"));
        Ok(Self::setting_of(&self.bucket(bucket)?))
    }

    async fn put_replication(
        &self,
        bucket: &str,
        setting: &ReplicationSetting,
    ) -> Result<(), ActionError> {
        self.call(format!("PutBucketReplication {bucket}"));
        self.set_replication(bucket, Some(setting))
    }

    async fn delete_replication(&self, bucket: &str) -> Result<(), ActionError> {
        self.call(format!("DeleteBucketReplication {bucket}"));
        self.set_replication(bucket, None)
    }
}
