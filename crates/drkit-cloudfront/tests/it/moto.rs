//! `cloudfront.invalidate` and `cloudfront.check_distribution` against moto, which creates
//! distributions `Deployed` and invalidations `COMPLETED` (upper case) at once (the waits through
//! `InProgress` are covered by the unit tests). The behaviour suite runs here too, on a world
//! read back with the SDK.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::types::{
    DefaultCacheBehavior, DistributionConfig, Origin, Origins, ViewerProtocolPolicy,
};
use drkit_cloudfront::{CloudFrontApi, Distribution, Invalidation, Routing, SdkCloudFront};
use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionError, Check, Context, PortFactory, async_trait};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use drkit_testkit::unique;
use serde_json::{Value, json};

fn registry_over(port: Arc<dyn CloudFrontApi>) -> Registry {
    let mut registry = Registry::new();
    drkit_cloudfront::register_with(&mut registry, &PortFactory::fixed(port)).unwrap();
    registry
}

async fn setup() -> Option<(Client, Registry)> {
    let moto = drkit_testkit::moto()?;
    let client = Client::new(&moto.sdk_config("us-east-1").await);
    let registry = registry_over(Arc::new(SdkCloudFront::new(client.clone())));
    Some((client, registry))
}

async fn distribution(client: &Client, enabled: bool) -> String {
    let origin = format!("{}.s3.amazonaws.com", unique("mint-web"));
    let config = DistributionConfig::builder()
        .caller_reference(unique("dist"))
        .comment("drkit test")
        .enabled(enabled)
        .origins(
            Origins::builder()
                .quantity(1)
                .items(
                    Origin::builder()
                        .id("web")
                        .domain_name(origin)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("web")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let out = client
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .unwrap();
    out.distribution().unwrap().id().to_owned()
}

#[tokio::test]
async fn invalidate_creates_one_invalidation_and_reports_its_id() {
    let Some((client, registry)) = setup().await else {
        return;
    };
    let dist = distribution(&client, true).await;
    let action = registry
        .build(&ActionSpec::new(
            "purge-cdn",
            "cloudfront.invalidate",
            json!({
            "distribution": dist, "paths": ["/*", "/index.html"]}),
        ))
        .unwrap();
    let ctx = Context::new().with_timeout(std::time::Duration::from_secs(60));
    assert!(matches!(
        action.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = action.execute(&ctx).await.unwrap();
    let id = out.get_str("invalidation_id").unwrap().to_owned();
    assert!(
        out.get_str("status")
            .unwrap()
            .eq_ignore_ascii_case("Completed")
    );
    // Read back with the SDK.
    let got = client
        .get_invalidation()
        .distribution_id(&dist)
        .id(&id)
        .send()
        .await
        .unwrap();
    let batch = got.invalidation().unwrap().invalidation_batch().unwrap();
    assert_eq!(batch.paths().unwrap().items(), ["/*", "/index.html"]);
    assert!(batch.caller_reference().starts_with("drkit-purge-cdn-"));
    // Executed again: the same invalidation, not a second one.
    let again = action.execute(&ctx).await.unwrap();
    assert_eq!(again.get_str("invalidation_id"), Some(id.as_str()));
    let list = client
        .list_invalidations()
        .distribution_id(&dist)
        .send()
        .await
        .unwrap();
    assert_eq!(list.invalidation_list().unwrap().quantity(), 1);
    assert!(action.check(&ctx).await.unwrap().is_done());
}

#[tokio::test]
async fn check_distribution_sees_deployed_enabled_disabled_and_missing() {
    let Some((client, registry)) = setup().await else {
        return;
    };
    let ctx = Context::new();
    let probe = |dist: &str| {
        registry
            .build(&ActionSpec::new(
                "cdn",
                "cloudfront.check_distribution",
                json!({"distribution": dist}),
            ))
            .unwrap()
    };
    let enabled = distribution(&client, true).await;
    match probe(&enabled).check(&ctx).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("status"), Some("Deployed"));
            assert!(
                outputs
                    .get_str("domain_name")
                    .unwrap()
                    .ends_with("cloudfront.net")
            );
        }
        other => panic!("{other:?}"),
    }
    let disabled = distribution(&client, false).await;
    match probe(&disabled).check(&ctx).await.unwrap() {
        Check::Blocked { reason } => assert!(reason.contains("disabled"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        probe("E000000MISSING").check(&ctx).await.unwrap(),
        Check::Blocked { .. }
    ));
}

/// The port over moto, counting the mutating calls (what a behaviour-suite world reports).
#[derive(Debug)]
struct Counted {
    inner: SdkCloudFront,
    creates: AtomicUsize,
}

#[async_trait]
impl CloudFrontApi for Counted {
    async fn get_distribution(&self, id: &str) -> Result<Distribution, ActionError> {
        self.inner.get_distribution(id).await
    }

    async fn create_invalidation(
        &self,
        distribution: &str,
        paths: Vec<String>,
        caller_reference: &str,
    ) -> Result<Invalidation, ActionError> {
        self.creates.fetch_add(1, Ordering::SeqCst);
        self.inner
            .create_invalidation(distribution, paths, caller_reference)
            .await
    }

    async fn get_invalidation(
        &self,
        distribution: &str,
        id: &str,
    ) -> Result<Invalidation, ActionError> {
        self.inner.get_invalidation(distribution, id).await
    }

    async fn get_routing(&self, distribution: &str) -> Result<Routing, ActionError> {
        self.inner.get_routing(distribution).await
    }

    async fn set_routing(
        &self,
        distribution: &str,
        etag: &str,
        default_target: Option<String>,
        behaviours: Vec<(String, String)>,
    ) -> Result<(), ActionError> {
        self.inner
            .set_routing(distribution, etag, default_target, behaviours)
            .await
    }
}

/// A distribution in moto, seen through the SDK: its invalidations.
struct MotoDistribution {
    client: Client,
    id: String,
    port: Arc<Counted>,
}

impl MotoDistribution {
    async fn new(client: &Client) -> Self {
        Self {
            client: client.clone(),
            id: distribution(client, true).await,
            port: Arc::new(Counted {
                inner: SdkCloudFront::new(client.clone()),
                creates: AtomicUsize::new(0),
            }),
        }
    }

    fn registry(&self) -> Registry {
        registry_over(Arc::clone(&self.port) as _)
    }
}

#[async_trait]
impl World for MotoDistribution {
    async fn state(&self) -> Value {
        let list = self
            .client
            .list_invalidations()
            .distribution_id(&self.id)
            .send()
            .await
            .unwrap();
        let mut ids: Vec<String> = list
            .invalidation_list()
            .map(|l| l.items().iter().map(|i| i.id().to_owned()).collect())
            .unwrap_or_default();
        ids.sort();
        json!(ids)
    }

    fn mutations(&self) -> usize {
        self.port.creates.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn behaviour_of_invalidate_on_moto() {
    let Some((client, _)) = setup().await else {
        return;
    };
    let world = MotoDistribution::new(&client).await;
    let case = Case::new(
        world.registry(),
        "cloudfront.invalidate",
        json!({"distribution": world.id, "paths": ["/*", "/index.html"]}),
    )
    .refuses(
        json!({"distribution": world.id, "paths": ["/a*b"]}),
        "paths",
    );
    mutating(&case, &world).await;
}

#[tokio::test]
async fn behaviour_of_check_distribution_on_moto() {
    let Some((client, _)) = setup().await else {
        return;
    };
    let world = MotoDistribution::new(&client).await;
    let case = Case::new(
        world.registry(),
        "cloudfront.check_distribution",
        json!({"distribution": world.id}),
    )
    .refuses(json!({"distribution": "E-1"}), "distribution");
    read_only(&case, &world).await;
}

/// A distribution with the primary origin `web`, the DR origin `web-dr`, and an `/api/*`
/// behaviour on `web`.
async fn two_origin_distribution(client: &Client) -> String {
    use aws_sdk_cloudfront::types::{CacheBehavior, CacheBehaviors};
    let origin = |id: &str| {
        Origin::builder()
            .id(id)
            .domain_name(format!("{}.s3.amazonaws.com", unique(id)))
            .build()
            .unwrap()
    };
    let config = DistributionConfig::builder()
        .caller_reference(unique("dist"))
        .comment("mint web")
        .enabled(true)
        .origins(
            Origins::builder()
                .quantity(2)
                .items(origin("web"))
                .items(origin("web-dr"))
                .build()
                .unwrap(),
        )
        .default_cache_behavior(
            DefaultCacheBehavior::builder()
                .target_origin_id("web")
                .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                .build()
                .unwrap(),
        )
        .cache_behaviors(
            CacheBehaviors::builder()
                .quantity(1)
                .items(
                    CacheBehavior::builder()
                        .path_pattern("/api/*")
                        .target_origin_id("web")
                        .viewer_protocol_policy(ViewerProtocolPolicy::HttpsOnly)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let out = client
        .create_distribution()
        .distribution_config(config)
        .send()
        .await
        .unwrap();
    out.distribution().unwrap().id().to_owned()
}

/// The targets of the default behaviour and of `/api/*`, and the comment, read with the SDK.
async fn targets(client: &Client, id: &str) -> (String, String, String) {
    let out = client
        .get_distribution_config()
        .id(id)
        .send()
        .await
        .unwrap();
    let config = out.distribution_config().unwrap();
    (
        config
            .default_cache_behavior()
            .unwrap()
            .target_origin_id()
            .to_owned(),
        config.cache_behaviors().unwrap().items()[0]
            .target_origin_id()
            .to_owned(),
        config.comment().to_owned(),
    )
}

#[tokio::test]
async fn switch_origin_points_the_behaviours_at_the_dr_origin_and_rolls_back() {
    let Some((client, registry)) = setup().await else {
        return;
    };
    let id = two_origin_distribution(&client).await;
    let action = registry
        .build(&ActionSpec::new(
            "cdn-dr",
            "cloudfront.switch_origin",
            json!({"distribution": id, "origin": "web-dr", "path_patterns": ["/api/*"]}),
        ))
        .unwrap();
    let ctx = Context::new();
    assert_eq!(
        action.check(&ctx).await.unwrap(),
        Check::ready(format!(
            "switch distribution {id} from web to web-dr (default and /api/*)"
        ))
    );
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("previous_default"), Some("web"));
    assert_eq!(out.get_str("previous_behaviours"), Some("/api/*=web"));
    // Read back independently: both switched, the rest of the config kept.
    assert_eq!(
        targets(&client, &id).await,
        ("web-dr".into(), "web-dr".into(), "mint web".into())
    );
    action.verify(&ctx).await.unwrap();
    assert!(action.check(&ctx).await.unwrap().is_done());
    action.rollback(&ctx).await.unwrap();
    assert_eq!(
        targets(&client, &id).await,
        ("web".into(), "web".into(), "mint web".into())
    );
}
