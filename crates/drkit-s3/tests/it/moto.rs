//! `s3.verify_replication` and `s3.configure_website` against moto, where the replication,
//! website, Block Public Access and policy configurations are real (moto does not replicate
//! objects and sets no `x-amz-replication-status`: every in-scope object reads as never
//! replicated; the statuses are covered by the unit tests and the adapter's tests on S3's
//! documented answers).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination, ErrorDocument,
    IndexDocument, PublicAccessBlockConfiguration, ReplicationConfiguration, ReplicationRule,
    ReplicationRuleAndOperator, ReplicationRuleFilter, ReplicationRuleStatus, Tag, Tagging,
    VersioningConfiguration, WebsiteConfiguration,
};
use drkit_aws::{Aws, AwsContext};
use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionError, Check, Context, PortFactory};
use drkit_s3::{
    ObjectInfo, ObjectPage, PublicAccessBlock, ReplicationConfig, ReplicationSetting, S3Api, SdkS3,
    WebsiteConfig,
};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use drkit_testkit::unique;
use serde_json::{Value, json};

async fn setup() -> Option<(AwsContext, Registry)> {
    let moto = drkit_testkit::moto()?;
    let aws = AwsContext::from_sdk_config(moto.sdk_config("us-east-1").await);
    let mut registry = Registry::new();
    drkit_s3::register(&mut registry, aws.clone()).unwrap();
    Some((aws, registry))
}

async fn client(aws: &AwsContext, region: &str) -> Client {
    drkit_s3::SdkS3::for_region(aws, Some(region))
        .client()
        .await
        .clone()
}

async fn bucket(client: &Client, region: &str, versioned: bool) -> String {
    let name = unique("mint-assets");
    let mut req = client.create_bucket().bucket(&name);
    if region != "us-east-1" {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    req.send().await.unwrap();
    if versioned {
        client
            .put_bucket_versioning()
            .bucket(&name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    name
}

/// Makes `bucket` readable by anyone: Block Public Access off, AWS's public-read policy.
async fn public(client: &Client, bucket: &str) {
    client
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(false)
                .ignore_public_acls(false)
                .block_public_policy(false)
                .restrict_public_buckets(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    client
        .put_bucket_policy()
        .bucket(bucket)
        .policy(
            json!({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                               "Resource": format!("arn:aws:s3:::{bucket}/*")}],
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
}

#[allow(deprecated)] // `prefix`: the V1 rule schema, the simplest moto accepts.
async fn replicate(client: &Client, source: &str, dest: &str, status: ReplicationRuleStatus) {
    client
        .put_bucket_replication()
        .bucket(source)
        .replication_configuration(
            ReplicationConfiguration::builder()
                .role("arn:aws:iam::123456789012:role/s3-replication")
                .rules(
                    ReplicationRule::builder()
                        .id("all")
                        .prefix("")
                        .status(status)
                        .destination(
                            Destination::builder()
                                .bucket(format!("arn:aws:s3:::{dest}"))
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

fn verify(registry: &Registry, params: serde_json::Value) -> drkit_core::ActionRef {
    registry
        .build(
            &ActionSpec::new("verify-s3", "s3.verify_replication", params).in_region("us-east-1"),
        )
        .unwrap()
}

#[tokio::test]
async fn cross_region_replication_is_verified() {
    let Some((aws, registry)) = setup().await else {
        return;
    };
    let east = client(&aws, "us-east-1").await;
    let west = client(&aws, "us-west-2").await;
    let source = bucket(&east, "us-east-1", true).await;
    let dest = bucket(&west, "us-west-2", true).await;
    let ctx = Context::new().with_timeout(Duration::from_secs(60));

    // No configuration yet: blocked.
    match verify(&registry, json!({"bucket": source}))
        .check(&ctx)
        .await
        .unwrap()
    {
        Check::Blocked { reason } => {
            assert!(reason.contains("no replication configuration"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    replicate(&east, &source, &dest, ReplicationRuleStatus::Enabled).await;
    match verify(&registry, json!({"bucket": source}))
        .check(&ctx)
        .await
        .unwrap()
    {
        Check::Done { outputs, .. } => {
            assert_eq!(
                outputs.get("destinations").unwrap(),
                &json!([format!("{dest} (us-west-2)")])
            );
        }
        other => panic!("{other:?}"),
    }
    // A sample: moto does not replicate, so a fresh object is unreplicated but within the RPO.
    east.put_object()
        .bucket(&source)
        .key("img/logo.png")
        .body(b"png".to_vec().into())
        .send()
        .await
        .unwrap();
    let out = verify(&registry, json!({"bucket": source, "sample": 5}))
        .execute(&ctx)
        .await
        .unwrap();
    assert_eq!(out.get("rpo_measured_objects").unwrap(), 1);
    assert_eq!(out.get("unreplicated").unwrap(), 1);
    assert_eq!(out.get("rpo_complete").unwrap(), true);
    // No COMPLETED object to look for in the destination.
    assert_eq!(out.get("sampled").unwrap(), 0);
    assert_eq!(out.get_str("rpo_class"), Some("files"));
    assert!(out.get("rpo_seconds").unwrap().as_u64().unwrap() < 60);
    // ...and older than a 0 s limit it blocks.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let err = verify(
        &registry,
        json!({"bucket": source, "sample": 5, "max_unreplicated_age": "0s"}),
    )
    .check(&ctx)
    .await
    .unwrap_err();
    assert!(err.message().contains("more than 0s"), "{err}");
    assert!(
        err.outputs()
            .unwrap()
            .get("rpo_seconds")
            .unwrap()
            .as_u64()
            .unwrap()
            >= 1
    );
    // A disabled rule blocks.
    replicate(&east, &source, &dest, ReplicationRuleStatus::Disabled).await;
    match verify(&registry, json!({"bucket": source}))
        .check(&ctx)
        .await
        .unwrap()
    {
        Check::Blocked { reason } => assert!(reason.contains("none enabled"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unversioned_destination_and_missing_source_block() {
    let Some((aws, registry)) = setup().await else {
        return;
    };
    let east = client(&aws, "us-east-1").await;
    let source = bucket(&east, "us-east-1", true).await;
    let dest = bucket(&east, "us-east-1", true).await;
    replicate(&east, &source, &dest, ReplicationRuleStatus::Enabled).await;
    east.put_bucket_versioning()
        .bucket(&dest)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ctx = Context::new().with_timeout(Duration::from_secs(60));
    match verify(&registry, json!({"bucket": source}))
        .check(&ctx)
        .await
        .unwrap()
    {
        Check::Blocked { reason } => assert!(reason.contains("destination bucket"), "{reason}"),
        other => panic!("{other:?}"),
    }
    match verify(&registry, json!({"bucket": unique("no-such-bucket")}))
        .check(&ctx)
        .await
        .unwrap()
    {
        Check::Blocked { reason } => assert!(reason.contains("does not exist"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn website_is_configured_and_rolled_back() {
    let Some((aws, registry)) = setup().await else {
        return;
    };
    let east = client(&aws, "us-east-1").await;
    let ctx = Context::new().with_timeout(Duration::from_secs(60));
    let build = |bucket: &str| {
        registry
            .build(
                &ActionSpec::new(
                    "serve-replica",
                    "s3.configure_website",
                    json!({"bucket": bucket, "index_document": "index.html", "error_document": "error.html"}),
                )
                .in_region("us-east-1"),
            )
            .unwrap()
    };
    // A bucket without a website: rollback removes the configuration again.
    let plain = bucket(&east, "us-east-1", false).await;
    public(&east, &plain).await;
    let action = build(&plain);
    assert!(matches!(
        action.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(
        out.get_str("website_endpoint").map(str::to_owned),
        Some(format!("{plain}.s3-website-us-east-1.amazonaws.com"))
    );
    let got = east
        .get_bucket_website()
        .bucket(&plain)
        .send()
        .await
        .unwrap();
    assert_eq!(got.index_document().unwrap().suffix(), "index.html");
    assert_eq!(got.error_document().unwrap().key(), "error.html");
    assert!(action.check(&ctx).await.unwrap().is_done());
    action.rollback(&ctx).await.unwrap();
    assert!(
        east.get_bucket_website()
            .bucket(&plain)
            .send()
            .await
            .is_err()
    );

    // A bucket with a website: rollback restores it.
    let served = bucket(&east, "us-east-1", false).await;
    public(&east, &served).await;
    east.put_bucket_website()
        .bucket(&served)
        .website_configuration(
            WebsiteConfiguration::builder()
                .index_document(
                    IndexDocument::builder()
                        .suffix("home.html")
                        .build()
                        .unwrap(),
                )
                .error_document(ErrorDocument::builder().key("oops.html").build().unwrap())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let action = build(&served);
    action.execute(&ctx).await.unwrap();
    action.rollback(&ctx).await.unwrap();
    let got = east
        .get_bucket_website()
        .bucket(&served)
        .send()
        .await
        .unwrap();
    assert_eq!(got.index_document().unwrap().suffix(), "home.html");
    assert_eq!(got.error_document().unwrap().key(), "oops.html");

    // A missing bucket: blocked.
    assert!(matches!(
        build(&unique("no-such-bucket")).check(&ctx).await.unwrap(),
        Check::Blocked { .. }
    ));
}

/// A website that could not serve is blocked on moto too: a new bucket has no policy; Block
/// Public Access's RestrictPublicBuckets refuses anonymous readers; public, it is served, at
/// the endpoint of the bucket's own region (us-west-2, the step's being us-east-1).
#[tokio::test]
async fn a_website_that_could_not_serve_is_blocked() {
    let Some((aws, registry)) = setup().await else {
        return;
    };
    let west = client(&aws, "us-west-2").await;
    let site = bucket(&west, "us-west-2", false).await;
    let ctx = Context::new().with_timeout(Duration::from_secs(60));
    let action = registry
        .build(
            &ActionSpec::new(
                "serve-replica",
                "s3.configure_website",
                json!({"bucket": site, "index_document": "index.html",
                       "host_name": "www.mint.example", "behind_cloudfront": true}),
            )
            .in_region("us-east-1"),
        )
        .unwrap();
    let blocked = |check: Check| match check {
        Check::Blocked { reason } => reason,
        other => panic!("{other:?}"),
    };
    let r = blocked(action.check(&ctx).await.unwrap());
    assert!(r.contains("has no bucket policy"), "{r}");
    public(&west, &site).await;
    west.put_public_access_block()
        .bucket(&site)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let r = blocked(action.check(&ctx).await.unwrap());
    assert!(r.contains("RestrictPublicBuckets"), "{r}");
    public(&west, &site).await;
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(
        out.get_str("website_endpoint").map(str::to_owned),
        Some(format!("{site}.s3-website-us-west-2.amazonaws.com"))
    );
    action.verify(&ctx).await.unwrap();
    action.rollback(&ctx).await.unwrap();
}

/// Rules with filters on moto: a rule for `img/`, one for `docs/` objects tagged `dr=yes`.
/// moto 5.2.6 keeps no filter (`GetBucketReplication` answers every rule with
/// `<Filter><Prefix></Prefix></Filter>`), so there every object is in scope; the scoping itself
/// is shown by the adapter's test on S3's documented answer and the unit tests. What moto does
/// show: the measurement of real objects, the budget, and the tags (`x-amz-tagging-count`,
/// `GetObjectTagging`) the scoping reads.
#[tokio::test]
async fn rules_with_filters_the_budget_and_tags_on_moto() {
    let Some((aws, _)) = setup().await else {
        return;
    };
    let east = client(&aws, "us-east-1").await;
    let west = client(&aws, "us-west-2").await;
    let source = bucket(&east, "us-east-1", true).await;
    let dest = bucket(&west, "us-west-2", true).await;
    let rule = |id: &str, priority: i32, filter: ReplicationRuleFilter| {
        ReplicationRule::builder()
            .id(id)
            .priority(priority)
            .status(ReplicationRuleStatus::Enabled)
            .filter(filter)
            .delete_marker_replication(
                DeleteMarkerReplication::builder()
                    .status(DeleteMarkerReplicationStatus::Disabled)
                    .build(),
            )
            .destination(
                Destination::builder()
                    .bucket(format!("arn:aws:s3:::{dest}"))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    east.put_bucket_replication()
        .bucket(&source)
        .replication_configuration(
            ReplicationConfiguration::builder()
                .role("arn:aws:iam::123456789012:role/s3-replication")
                .rules(rule(
                    "img",
                    1,
                    ReplicationRuleFilter::builder().prefix("img/").build(),
                ))
                .rules(rule(
                    "docs",
                    2,
                    ReplicationRuleFilter::builder()
                        .and(
                            ReplicationRuleAndOperator::builder()
                                .prefix("docs/")
                                .tags(tag("dr", "yes"))
                                .build(),
                        )
                        .build(),
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for key in [
        "img/a.png",
        "tmp/scratch",
        "docs/untagged.pdf",
        "docs/other.pdf",
        "docs/dr.pdf",
    ] {
        east.put_object()
            .bucket(&source)
            .key(key)
            .body(b"x".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    for (key, value) in [("docs/other.pdf", "no"), ("docs/dr.pdf", "yes")] {
        east.put_object_tagging()
            .bucket(&source)
            .key(key)
            .tagging(
                Tagging::builder()
                    .tag_set(tag("dr", value))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let mutations = Arc::new(AtomicUsize::new(0));
    let registry = counted_registry(&aws, &mutations);
    let ctx = Context::new().with_timeout(Duration::from_secs(60));
    let out = verify(&registry, json!({"bucket": source}))
        .execute(&ctx)
        .await
        .unwrap();
    // moto: no filter kept, no replication status sent: all five read, never replicated.
    assert_eq!(out.get("rpo_measured_objects").unwrap(), 5, "{out:?}");
    assert_eq!(out.get("unreplicated").unwrap(), 5, "{out:?}");
    assert_eq!(out.get("rpo_complete").unwrap(), true);
    assert_eq!(out.get("requests").unwrap(), 6, "{out:?}"); // 1 listing, 5 HEADs
    assert!(out.get("rpo_seconds").unwrap().as_u64().unwrap() < 60);
    // A budget that ends within the reading: incomplete, said so.
    let out = verify(&registry, json!({"bucket": source, "max_requests": 3}))
        .execute(&ctx)
        .await
        .unwrap();
    assert_eq!(out.get("rpo_complete").unwrap(), false);
    assert_eq!(out.get("rpo_measured_objects").unwrap(), 2);
    assert_eq!(out.get("requests").unwrap(), 3);
    // The tags the scoping reads.
    let s3 = SdkS3::for_region(&aws, Some("us-east-1"));
    let head = s3
        .head_object(&source, "docs/dr.pdf", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.tag_count, 1);
    assert!(head.version_id.is_some());
    assert_eq!(head.replication_status, None);
    assert_eq!(
        s3.object_tags(&source, "docs/dr.pdf").await.unwrap(),
        [("dr".to_owned(), "yes".to_owned())]
    );
    let plain = s3
        .head_object(&source, "docs/untagged.pdf", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(plain.tag_count, 0);
}

/// The S3 port over moto, its mutating calls counted for the behaviour suite.
#[derive(Debug)]
struct Counted {
    inner: SdkS3,
    mutations: Arc<AtomicUsize>,
}

#[async_trait]
impl S3Api for Counted {
    async fn bucket_region(&self, bucket: &str) -> Result<String, ActionError> {
        self.inner.bucket_region(bucket).await
    }

    async fn versioning(&self, bucket: &str) -> Result<String, ActionError> {
        self.inner.versioning(bucket).await
    }

    async fn replication(&self, bucket: &str) -> Result<Option<ReplicationConfig>, ActionError> {
        self.inner.replication(bucket).await
    }

    async fn list_objects<'a>(
        &self,
        bucket: &str,
        prefix: Option<&'a str>,
        token: Option<&'a str>,
    ) -> Result<ObjectPage, ActionError> {
        self.inner.list_objects(bucket, prefix, token).await
    }

    async fn head_object<'a>(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&'a str>,
    ) -> Result<Option<ObjectInfo>, ActionError> {
        self.inner.head_object(bucket, key, version_id).await
    }

    async fn object_tags(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<(String, String)>, ActionError> {
        self.inner.object_tags(bucket, key).await
    }

    async fn public_access_block(
        &self,
        bucket: &str,
    ) -> Result<Option<PublicAccessBlock>, ActionError> {
        self.inner.public_access_block(bucket).await
    }

    async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, ActionError> {
        self.inner.bucket_policy(bucket).await
    }

    async fn website(&self, bucket: &str) -> Result<Option<WebsiteConfig>, ActionError> {
        self.inner.website(bucket).await
    }

    async fn put_website(&self, bucket: &str, config: WebsiteConfig) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner.put_website(bucket, config).await
    }

    async fn delete_website(&self, bucket: &str) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner.delete_website(bucket).await
    }

    async fn replication_setting(
        &self,
        bucket: &str,
    ) -> Result<Option<ReplicationSetting>, ActionError> {
        self.inner.replication_setting(bucket).await
    }

    async fn put_replication(
        &self,
        bucket: &str,
        setting: &ReplicationSetting,
    ) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner.put_replication(bucket, setting).await
    }

    async fn delete_replication(&self, bucket: &str) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner.delete_replication(bucket).await
    }
}

/// moto's buckets of one test, described through the SDK (each client in the bucket's
/// region).
struct MotoWorld {
    buckets: Vec<(Client, String)>,
    mutations: Arc<AtomicUsize>,
}

#[async_trait]
impl World for MotoWorld {
    async fn state(&self) -> Value {
        let mut state = serde_json::Map::new();
        for (client, bucket) in &self.buckets {
            let website = client.get_bucket_website().bucket(bucket).send().await.ok();
            let versioning = client
                .get_bucket_versioning()
                .bucket(bucket)
                .send()
                .await
                .ok()
                .and_then(|v| v.status().map(|s| s.as_str().to_owned()));
            // The whole configuration as moto answers it: a rollback must restore it exactly.
            let replicates = client
                .get_bucket_replication()
                .bucket(bucket)
                .send()
                .await
                .ok()
                .map(|r| format!("{:?}", r.replication_configuration()));
            state.insert(
                bucket.clone(),
                json!({
                    "website": website.map(|w| json!({
                        "index": w.index_document().map(|d| d.suffix().to_owned()),
                        "error": w.error_document().map(|d| d.key().to_owned()),
                    })),
                    "versioning": versioning,
                    "replicates": replicates,
                }),
            );
        }
        Value::Object(state)
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

/// A registry whose S3 ports go to moto through [`Counted`].
fn counted_registry(aws: &AwsContext, mutations: &Arc<AtomicUsize>) -> Registry {
    let aws = Aws::from(aws);
    let counted = Arc::clone(mutations);
    let mut registry = Registry::new();
    drkit_s3::register_with(
        &mut registry,
        &PortFactory::new(move |region| {
            Arc::new(Counted {
                inner: SdkS3::lazy(&aws, region),
                mutations: Arc::clone(&counted),
            }) as Arc<dyn S3Api>
        }),
    )
    .unwrap();
    registry
}

/// The behaviour suite for both S3 kinds on moto (versioning, replication and website
/// configurations are real there; objects are not replicated, so a sampled object is fresh
/// and unreplicated, within the RPO).
#[tokio::test]
async fn the_behaviour_suite_on_moto() {
    let Some((aws, _)) = setup().await else {
        return;
    };
    let east = client(&aws, "us-east-1").await;
    let west = client(&aws, "us-west-2").await;
    let source = bucket(&east, "us-east-1", true).await;
    let dest = bucket(&west, "us-west-2", true).await;
    replicate(&east, &source, &dest, ReplicationRuleStatus::Enabled).await;
    east.put_object()
        .bucket(&source)
        .key("img/logo.png")
        .body(b"png".to_vec().into())
        .send()
        .await
        .unwrap();
    let plain = bucket(&east, "us-east-1", false).await;
    let served = bucket(&east, "us-east-1", false).await;
    let (source_2, dest_2) = (source.clone(), dest.clone());
    public(&east, &plain).await;
    public(&east, &served).await;
    east.put_bucket_website()
        .bucket(&served)
        .website_configuration(
            WebsiteConfiguration::builder()
                .index_document(
                    IndexDocument::builder()
                        .suffix("home.html")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mutations = Arc::new(AtomicUsize::new(0));
    let registry = counted_registry(&aws, &mutations);
    let world = MotoWorld {
        buckets: vec![
            (east.clone(), source.clone()),
            (west, dest.clone()),
            (east.clone(), plain.clone()),
            (east, served.clone()),
        ],
        mutations,
    };

    for params in [
        json!({"bucket": source}),
        json!({"bucket": source, "sample": 5}),
    ] {
        let case = Case::new(registry.clone(), "s3.verify_replication", params)
            .in_region("us-east-1")
            .refuses(json!({"bucket": "Mint_Assets"}), "bucket")
            .refuses(json!({"bucket": source, "sample": 1001}), "sample");
        read_only(&case, &world).await;
    }
    for bucket in [plain, served] {
        let case = Case::new(
            registry.clone(),
            "s3.configure_website",
            json!({"bucket": bucket, "index_document": "index.html", "error_document": "error.html"}),
        )
        .in_region("us-east-1")
        .refuses(
            json!({"bucket": bucket, "index_document": "a/b.html"}),
            "index_document",
        );
        mutating(&case, &world).await;
    }
    // Reverse replication (none before: rollback deletes it), and a new rule where a V1 rule
    // was (rollback puts it back as moto answers it). No prefix: moto answers every rule with
    // an empty prefix filter (see the test below).
    let role = "arn:aws:iam::123456789012:role/s3-replication-back";
    for (bucket, to, region) in [
        (dest_2.clone(), source_2.clone(), "us-west-2"),
        (source_2, dest_2, "us-east-1"),
    ] {
        let case = Case::new(
            registry.clone(),
            "s3.configure_replication",
            json!({"bucket": bucket, "role": role, "destination_bucket": to}),
        )
        .in_region(region)
        .refuses(
            json!({"bucket": bucket, "role": "s3-replication", "destination_bucket": to}),
            "role",
        );
        mutating(&case, &world).await;
    }
    // Failback: a bucket's replication removed (rollback puts back what moto answered).
    let case = Case::new(
        registry.clone(),
        "s3.remove_replication",
        json!({"bucket": source}),
    )
    .in_region("us-east-1")
    .refuses(json!({"bucket": "Mint_Assets"}), "bucket");
    mutating(&case, &world).await;
}

/// What moto 5.2.6 does with `PutBucketReplication`: it refuses an unversioned source
/// (`InvalidRequest`, as S3 does); it keeps the rule but answers `GetBucketReplication` with an
/// empty `Prefix` filter and `DeleteMarkerReplication` `Disabled` whatever was put. So on moto
/// `s3.configure_replication` is shown without `prefix` / `delete_marker_replication` (the
/// behaviour suite above); with them, only against the mocks and S3's documented answer.
#[tokio::test]
async fn moto_replication_readback_drops_the_filter() {
    let Some((aws, _)) = setup().await else {
        return;
    };
    let east = client(&aws, "us-east-1").await;
    let west = client(&aws, "us-west-2").await;
    let source = bucket(&west, "us-west-2", true).await;
    let dest = bucket(&east, "us-east-1", true).await;
    let plain = bucket(&west, "us-west-2", false).await;
    let mut setting = ReplicationSetting::default();
    setting.role = "arn:aws:iam::123456789012:role/s3-replication-back".into();
    let mut rule = drkit_s3::RuleSetting::default();
    rule.id = Some("drkit-replication".into());
    rule.priority = Some(1);
    rule.enabled = true;
    rule.filter_prefix = Some("img/".into());
    rule.destination_arn = format!("arn:aws:s3:::{dest}");
    rule.delete_marker_replication = Some(true);
    setting.rules.push(rule);
    let port = SdkS3::for_region(&aws, Some("us-west-2"));
    let refused = port.put_replication(&plain, &setting).await.unwrap_err();
    assert_eq!(refused.code(), Some("InvalidRequest"), "{refused}");
    port.put_replication(&source, &setting).await.unwrap();
    let read = port.replication_setting(&source).await.unwrap().unwrap();
    assert_eq!(read.rules.len(), 1);
    assert_eq!(
        read.rules[0].destination_arn,
        format!("arn:aws:s3:::{dest}")
    );
    assert_eq!(
        read.rules[0].filter_prefix.as_deref(),
        Some(""),
        "moto drops the prefix"
    );
    assert_eq!(read.rules[0].delete_marker_replication, Some(false));
    port.delete_replication(&source).await.unwrap();
    assert_eq!(port.replication_setting(&source).await.unwrap(), None);
}
