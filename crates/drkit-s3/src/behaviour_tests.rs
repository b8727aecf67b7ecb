//! The behaviour suite (`drkit_testkit::behaviour`) for every S3 kind, against an in-memory S3:
//! a fake of the port that keeps buckets (region, versioning, replication, website, objects)
//! and counts the mutating calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, PortFactory};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use serde_json::{Value, json};

use crate::port::{ObjectInfo, ReplicationConfig, ReplicationRule, S3Api, WebsiteConfig};
use crate::register_with;

/// One bucket.
#[derive(Clone, Debug, Default)]
struct Bucket {
    region: String,
    versioning: String,
    replication: Option<ReplicationConfig>,
    website: Option<WebsiteConfig>,
    objects: Vec<ObjectInfo>,
}

/// An in-memory S3 (every region: buckets know their own).
#[derive(Debug, Default)]
struct FakeS3 {
    buckets: Mutex<BTreeMap<String, Bucket>>,
    mutations: AtomicUsize,
}

fn no_such_bucket(bucket: &str) -> ActionError {
    ActionError::new(ErrorKind::NotFound, format!("bucket {bucket} not found"))
        .with_code("NoSuchBucket")
}

impl FakeS3 {
    /// `mint-assets` (us-east-1) replicating to `mint-assets-dr` (us-west-2), both versioned,
    /// with two replicated objects; `mint-assets-dr` serves `website` (or nothing).
    fn mint(website: Option<WebsiteConfig>) -> Arc<Self> {
        let now = SystemTime::now();
        let objects = vec![
            ObjectInfo::new(
                "img/logo.png",
                now - Duration::from_secs(30),
                Some("COMPLETED"),
            ),
            ObjectInfo::new(
                "index.html",
                now - Duration::from_secs(90),
                Some("COMPLETED"),
            ),
        ];
        let source = Bucket {
            region: "us-east-1".into(),
            versioning: "Enabled".into(),
            replication: Some(ReplicationConfig {
                role: "arn:aws:iam::123456789012:role/s3-replication".into(),
                rules: vec![ReplicationRule::new("all", true, "mint-assets-dr")],
            }),
            website: None,
            objects: objects.clone(),
        };
        let dest = Bucket {
            region: "us-west-2".into(),
            versioning: "Enabled".into(),
            replication: None,
            website,
            objects,
        };
        let fake = Self::default();
        {
            let mut buckets = fake.buckets.lock().unwrap();
            buckets.insert("mint-assets".into(), source);
            buckets.insert("mint-assets-dr".into(), dest);
        }
        Arc::new(fake)
    }

    fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::new();
        let port: Arc<dyn S3Api> = Arc::clone(self) as _;
        register_with(&mut registry, &PortFactory::fixed(port)).unwrap();
        registry
    }

    fn bucket(&self, bucket: &str) -> Result<Bucket, ActionError> {
        self.buckets
            .lock()
            .unwrap()
            .get(bucket)
            .cloned()
            .ok_or_else(|| no_such_bucket(bucket))
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
                        "website": b.website.as_ref().map(WebsiteConfig::describe),
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
        Ok(self.bucket(bucket)?.region)
    }

    async fn versioning(&self, bucket: &str) -> Result<String, ActionError> {
        Ok(self.bucket(bucket)?.versioning)
    }

    async fn replication(&self, bucket: &str) -> Result<Option<ReplicationConfig>, ActionError> {
        Ok(self.bucket(bucket)?.replication)
    }

    async fn newest_objects<'a>(
        &self,
        bucket: &str,
        prefix: Option<&'a str>,
        n: usize,
    ) -> Result<Vec<ObjectInfo>, ActionError> {
        let mut objects: Vec<ObjectInfo> = self
            .bucket(bucket)?
            .objects
            .into_iter()
            .filter(|o| prefix.is_none_or(|p| o.key.starts_with(p)))
            .collect();
        objects.sort_by_key(|o| std::cmp::Reverse(o.last_modified));
        objects.truncate(n);
        Ok(objects)
    }

    async fn head_object<'a>(
        &self,
        bucket: &str,
        key: &str,
        _version_id: Option<&'a str>,
    ) -> Result<Option<ObjectInfo>, ActionError> {
        Ok(self
            .bucket(bucket)?
            .objects
            .into_iter()
            .find(|o| o.key == key))
    }

    async fn website(&self, bucket: &str) -> Result<Option<WebsiteConfig>, ActionError> {
        Ok(self.bucket(bucket)?.website)
    }

    async fn put_website(&self, bucket: &str, config: WebsiteConfig) -> Result<(), ActionError> {
        self.set_website(bucket, Some(config))
    }

    async fn delete_website(&self, bucket: &str) -> Result<(), ActionError> {
        self.set_website(bucket, None)
    }
}

#[tokio::test]
async fn verify_replication() {
    let s3 = FakeS3::mint(None);
    for params in [
        json!({"bucket": "mint-assets"}),
        json!({"bucket": "mint-assets", "sample": 5, "prefix": "img/"}),
    ] {
        let case = Case::new(s3.registry(), "s3.verify_replication", params)
            .in_region("us-east-1")
            .refuses(json!({"bucket": "Mint_Assets"}), "bucket")
            .refuses(json!({"bucket": "mint-assets", "sample": 0}), "sample")
            .refuses(
                json!({"bucket": "mint-assets", "max_unreplicated_age": "soon"}),
                "max_unreplicated_age",
            );
        read_only(&case, s3.as_ref()).await;
    }
}

/// From no website (rollback deletes it) and from another one (rollback restores it).
#[tokio::test]
async fn configure_website() {
    for before in [None, Some(WebsiteConfig::documents("home.html", None))] {
        let s3 = FakeS3::mint(before);
        let case = Case::new(
            s3.registry(),
            "s3.configure_website",
            json!({"bucket": "mint-assets-dr", "index_document": "index.html", "error_document": "error.html"}),
        )
        .in_region("us-west-2")
        .refuses(
            json!({"bucket": "mint-assets-dr", "index_document": "a/b.html"}),
            "index_document",
        )
        .refuses(
            json!({"bucket": "mint-assets-dr", "index_document": "index.html", "error_document": ""}),
            "error_document",
        )
        .refuses(json!({"bucket": "a..b", "index_document": "index.html"}), "bucket");
        mutating(&case, s3.as_ref()).await;
    }
}
