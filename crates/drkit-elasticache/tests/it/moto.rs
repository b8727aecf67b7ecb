//! The ElastiCache actions against a real AWS API emulator (moto server), for the API shape:
//! replication groups really created (with `ReplicasPerNodeGroup`: moto makes a single member
//! from `NumCacheClusters`), described, modified. Needs `DRKIT_TEST_AWS_ENDPOINT`
//! (scripts/test.sh starts moto and sets it); under CI=true a missing emulator fails these tests.
//!
//! What moto cannot show is covered by the mocked-port unit tests (`src/*_tests.rs`): moto
//! ignores `PrimaryClusterId` in `ModifyReplicationGroup` (the primary never changes), does not
//! implement `TestFailover` (HTTP 500 with an HTML page) nor the global datastores
//! (`elasticache.failover_global_datastore` is tested with mocks and the in-memory fake only),
//! has no `modifying` state, does not list a replication group's members in
//! `DescribeCacheClusters` (their state is `unknown`), and never throttles.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticache::Client;
use drkit_aws::{Aws, AwsContext};
use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{
    ActionError, ActionExt, ActionRef, Check, Context, ErrorKind, PortFactory, RetryPolicy,
};
use drkit_elasticache::{CacheClusterState, ElastiCacheApi, GlobalDatastore, ReplicationGroup};
use drkit_testkit::behaviour::{Case, World, read_only};
use drkit_testkit::{Moto, unique};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";

/// Creates a cluster-mode-disabled Redis group like the seed's cache, with one primary
/// (`<id>-001`) and `replicas` replicas. Returns its id.
async fn create_group(client: &Client, replicas: i32, multi_az: bool) -> String {
    let id = unique("mint-cache");
    client
        .create_replication_group()
        .replication_group_id(&id)
        .replication_group_description("mint session cache")
        .engine("redis")
        .cache_node_type("cache.r7g.large")
        .replicas_per_node_group(replicas)
        .automatic_failover_enabled(multi_az)
        .multi_az_enabled(multi_az)
        .send()
        .await
        .unwrap();
    id
}

/// The primary as the emulator reports it, read independently of drkit.
async fn primary_of(client: &Client, id: &str) -> Option<String> {
    let out = client
        .describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
        .unwrap();
    out.replication_groups()[0].node_groups()[0]
        .node_group_members()
        .iter()
        .find(|m| m.current_role() == Some("primary"))
        .and_then(|m| m.cache_cluster_id().map(str::to_owned))
}

async fn setup() -> Option<(Moto, Client, Registry)> {
    let moto = drkit_testkit::moto()?;
    let config = moto.sdk_config(REGION).await;
    let client = Client::new(&config);
    let mut registry = Registry::new();
    drkit_elasticache::register(&mut registry, AwsContext::from_sdk_config(config)).unwrap();
    Some((moto, client, registry))
}

fn build(registry: &Registry, kind: &str, params: serde_json::Value) -> ActionRef {
    registry
        .build(&ActionSpec::new("step", kind, params).in_region(REGION))
        .unwrap()
        .with_retry(RetryPolicy::attempts(3))
}

#[tokio::test]
async fn check_replication_group_reports_primary_replicas_and_settings() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let id = create_group(&client, 2, true).await;
    let action = build(
        &registry,
        "elasticache.check_replication_group",
        json!({"replication_group": id}),
    );
    let check = action.check(&Context::new()).await.unwrap();
    let Check::Done { outputs, .. } = &check else {
        panic!("expected done, got {check:?}");
    };
    assert_eq!(outputs.get_str("status"), Some("available"));
    assert_eq!(
        outputs.get_str("primary"),
        primary_of(&client, &id).await.as_deref()
    );
    assert_eq!(
        outputs.get_str("primary"),
        Some(format!("{id}-001").as_str())
    );
    // moto does not list group members in DescribeCacheClusters: their state is unknown.
    assert_eq!(
        outputs.get("replicas"),
        Some(&json!([
            {"cache_cluster_id": format!("{id}-002"), "node_group": "0001", "status": "unknown"},
            {"cache_cluster_id": format!("{id}-003"), "node_group": "0001", "status": "unknown"},
        ]))
    );
    assert_eq!(outputs.get_str("automatic_failover"), Some("enabled"));
    assert_eq!(outputs.get_str("multi_az"), Some("enabled"));
    assert_eq!(&action.execute(&Context::new()).await.unwrap(), outputs);
    action.verify(&Context::new()).await.unwrap();
}

#[tokio::test]
async fn a_missing_group_is_blocked_and_a_not_found_error_with_the_aws_code() {
    let Some((_moto, _client, registry)) = setup().await else {
        return;
    };
    let action = build(
        &registry,
        "elasticache.check_replication_group",
        json!({"replication_group": unique("no-such-cache")}),
    );
    let check = action.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.ends_with("does not exist")),
        "{check:?}"
    );
    let err = action.verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.code(), Some("ReplicationGroupNotFoundFault"));
    assert_eq!(err.operation(), Some("DescribeReplicationGroups"));
}

/// moto accepts `ModifyReplicationGroup` with `PrimaryClusterId` but ignores it, so the
/// promotion itself (and its rollback) is shown with mocks (`src/set_primary_tests.rs`); here:
/// check's answers on real groups, and that the call is accepted while the wait then runs into
/// the deadline with the primary unchanged.
#[tokio::test]
async fn set_primary_checks_real_groups_and_the_call_is_accepted() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let id = create_group(&client, 1, false).await;
    let promote = |to: String| {
        build(
            &registry,
            "elasticache.set_primary",
            json!({"replication_group": id, "primary_cluster": to}),
        )
    };
    assert_eq!(
        promote(format!("{id}-002"))
            .check(&Context::new())
            .await
            .unwrap(),
        Check::ready(format!(
            "promote {id}-002 to primary of replication group {id}: primary {id}-001 -> {id}-002"
        ))
    );
    let done = promote(format!("{id}-001"))
        .check(&Context::new())
        .await
        .unwrap();
    assert!(done.is_done(), "{done:?}");
    assert_eq!(
        promote("mint-cache-999".into())
            .check(&Context::new())
            .await
            .unwrap(),
        Check::blocked(format!(
            "mint-cache-999 is not a member of replication group {id} (members: {id}-001, {id}-002)"
        ))
    );

    let ctx = Context::new().with_timeout(Duration::from_secs(3));
    let action = promote(format!("{id}-002"));
    let err = action.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded, "{err}");
    // The call was accepted (the action remembers it and would only wait on a re-run), and
    // moto left the primary as it was.
    assert_eq!(
        action.check(&Context::new()).await.unwrap(),
        Check::ready(format!(
            "wait for the promotion of {id}-002 in replication group {id} (from {id}-001), \
             already requested; now status=available, primary={id}-001"
        ))
    );
    assert_eq!(primary_of(&client, &id).await, Some(format!("{id}-001")));

    // Multi-AZ enabled: ready, with the sequence (disable, promote, restore) announced.
    let multi_az = create_group(&client, 1, true).await;
    let ready = build(
        &registry,
        "elasticache.set_primary",
        json!({"replication_group": multi_az, "primary_cluster": format!("{multi_az}-002")}),
    )
    .check(&Context::new())
    .await
    .unwrap();
    assert!(
        matches!(&ready, Check::Ready { change } if change.contains(
            "disable them, promote, then restore automatic failover enabled, Multi-AZ enabled"
        )),
        "{ready:?}"
    );
}

/// Automatic failover and Multi-AZ as the emulator reports them, read independently of drkit.
async fn settings_of(client: &Client, id: &str) -> (String, String) {
    let out = client
        .describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await
        .unwrap();
    let g = &out.replication_groups()[0];
    (
        g.automatic_failover().unwrap().as_str().to_owned(),
        g.multi_az().unwrap().as_str().to_owned(),
    )
}

/// The Multi-AZ sequence's real `ModifyReplicationGroup` calls (one SDK attempt each): moto 5.2.6
/// applies `AutomaticFailoverEnabled` / `MultiAZEnabled` (read back with the SDK) but ignores
/// `PrimaryClusterId`, so the step disables both, sends the promotion, and then waits for a
/// primary that never changes until its deadline; its journalled intent says the promotion is in
/// flight. The rollback from that intent (a crash between the calls) finds the primary unchanged
/// and only enables both again. The order of the calls, the waits through ElastiCache's states
/// and the promotion itself are shown with mocks (`src/set_primary_tests.rs`).
#[tokio::test]
async fn set_primary_disables_multi_az_for_the_promotion_and_the_rollback_restores_it() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let id = create_group(&client, 1, true).await;
    assert_eq!(
        settings_of(&client, &id).await,
        ("enabled".to_owned(), "enabled".to_owned())
    );
    let promote = build(
        &registry,
        "elasticache.set_primary",
        json!({"replication_group": id, "primary_cluster": format!("{id}-002")}),
    );
    let ctx = Context::new()
        .with_step("step")
        .with_timeout(Duration::from_secs(3));
    let err = promote.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded, "{err}");
    assert_eq!(
        settings_of(&client, &id).await,
        ("disabled".to_owned(), "disabled".to_owned())
    );
    assert_eq!(primary_of(&client, &id).await, Some(format!("{id}-001")));
    let intent = ctx.intent().unwrap();
    assert_eq!(intent.get_str("phase"), Some("promote"));
    assert_eq!(intent.get_str("from"), Some(format!("{id}-001").as_str()));

    // Resumed in another process: a new instance, the journalled intent.
    let resumed = build(
        &registry,
        "elasticache.set_primary",
        json!({"replication_group": id, "primary_cluster": format!("{id}-002")}),
    );
    resumed
        .rollback(&Context::new().with_recorded_intent(Some(intent)))
        .await
        .unwrap();
    assert_eq!(
        settings_of(&client, &id).await,
        ("enabled".to_owned(), "enabled".to_owned())
    );
    assert_eq!(primary_of(&client, &id).await, Some(format!("{id}-001")));
}

/// moto does not implement `TestFailover`: it answers HTTP 500 with an HTML page, which
/// drkit-aws classifies as `NotImplemented` (not retryable), so the retry layer gives up at once.
/// The failover, its wait and the 24-hour quota error are shown with mocks
/// (`src/failover_tests.rs`).
#[tokio::test]
async fn test_failover_is_ready_on_a_real_group_and_moto_lacks_the_operation() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let id = create_group(&client, 1, true).await;
    let action = build(
        &registry,
        "elasticache.test_failover",
        json!({"replication_group": id, "node_group": "0001"}),
    );
    let check = action.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Ready { change } if change.contains(&format!("primary {id}-001 -> one of [{id}-002]"))),
        "{check:?}"
    );
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotImplemented, "{err}");
    assert_eq!(err.operation(), Some("TestFailover"));
    assert!(!err.is_retryable());
    assert_eq!(primary_of(&client, &id).await, Some(format!("{id}-001")));

    let no_failover = create_group(&client, 1, false).await;
    let blocked = build(
        &registry,
        "elasticache.test_failover",
        json!({"replication_group": no_failover, "node_group": "0001"}),
    )
    .check(&Context::new())
    .await
    .unwrap();
    assert!(
        matches!(&blocked, Check::Blocked { reason } if reason.contains("automatic failover disabled")),
        "{blocked:?}"
    );
}

/// moto does not implement the global datastores (`DescribeGlobalReplicationGroups` answers
/// HTTP 500 with an HTML page): the check fails at once as `not_implemented`, with the
/// operation named, and nothing is sent. The whole action (its states, AWS's error codes, lost
/// answers, resume, rollback) is shown with mocks (`src/global_tests.rs`) and the in-memory fake
/// (`src/behaviour_tests.rs`).
#[tokio::test]
async fn failover_global_datastore_meets_moto_without_global_datastores() {
    let Some((_moto, _client, registry)) = setup().await else {
        return;
    };
    let action = build(
        &registry,
        "elasticache.failover_global_datastore",
        json!({
            "global_replication_group": "ldgnf-mint-global",
            "primary_region": REGION,
            "primary_replication_group": "mint-cache-west",
        }),
    );
    let err = action.check(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotImplemented, "{err}");
    assert_eq!(err.operation(), Some("DescribeGlobalReplicationGroups"));
    assert!(!err.is_retryable());
}

/// The ElastiCache port over moto, its mutating calls counted for the behaviour suite.
#[derive(Debug)]
struct Counted {
    inner: drkit_elasticache::SdkElastiCache,
    mutations: Arc<AtomicUsize>,
}

#[async_trait]
impl ElastiCacheApi for Counted {
    async fn describe_replication_group(
        &self,
        group: &str,
    ) -> Result<ReplicationGroup, ActionError> {
        self.inner.describe_replication_group(group).await
    }

    async fn member_states(&self, group: &str) -> Result<Vec<CacheClusterState>, ActionError> {
        self.inner.member_states(group).await
    }

    async fn set_primary_cluster(
        &self,
        group: &str,
        cache_cluster: &str,
    ) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner.set_primary_cluster(group, cache_cluster).await
    }

    async fn set_failover_settings(
        &self,
        group: &str,
        automatic_failover: bool,
        multi_az: bool,
    ) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner
            .set_failover_settings(group, automatic_failover, multi_az)
            .await
    }

    async fn test_failover(&self, group: &str, node_group: &str) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner.test_failover(group, node_group).await
    }

    async fn describe_global_datastore(
        &self,
        global: &str,
    ) -> Result<GlobalDatastore, ActionError> {
        self.inner.describe_global_datastore(global).await
    }

    async fn failover_global_datastore(
        &self,
        global: &str,
        primary_region: &str,
        primary_replication_group: &str,
    ) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner
            .failover_global_datastore(global, primary_region, primary_replication_group)
            .await
    }
}

/// moto's replication groups of one test, described through the SDK.
struct MotoWorld {
    client: Client,
    groups: Vec<String>,
    mutations: Arc<AtomicUsize>,
}

#[async_trait]
impl World for MotoWorld {
    async fn state(&self) -> Value {
        let mut state = serde_json::Map::new();
        for id in &self.groups {
            let out = self
                .client
                .describe_replication_groups()
                .replication_group_id(id)
                .send()
                .await
                .unwrap();
            let g = &out.replication_groups()[0];
            state.insert(
                id.clone(),
                json!({
                    "status": g.status(),
                    "primary": primary_of(&self.client, id).await,
                    "automatic_failover": g.automatic_failover().map(|a| a.as_str().to_owned()),
                }),
            );
        }
        Value::Object(state)
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

/// The behaviour suite for the kinds moto supports: `elasticache.check_replication_group`
/// (moto ignores `PrimaryClusterId` and lacks `TestFailover`: the other two kinds run the suite
/// against the in-memory fake only, in `src/behaviour_tests.rs`).
#[tokio::test]
async fn the_behaviour_suite_on_moto() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let config = moto.sdk_config(REGION).await;
    let client = Client::new(&config);
    let groups = vec![
        create_group(&client, 2, true).await,
        create_group(&client, 1, false).await,
    ];
    let mutations = Arc::new(AtomicUsize::new(0));
    let aws = Aws::from(AwsContext::from_sdk_config(config));
    let counted = Arc::clone(&mutations);
    let mut registry = Registry::new();
    drkit_elasticache::register_with(
        &mut registry,
        &PortFactory::new(move |region| {
            Arc::new(Counted {
                inner: drkit_elasticache::SdkElastiCache::lazy(&aws, region),
                mutations: Arc::clone(&counted),
            }) as Arc<dyn ElastiCacheApi>
        }),
    )
    .unwrap();
    let world = MotoWorld {
        client,
        groups: groups.clone(),
        mutations,
    };
    for group in groups {
        let case = Case::new(
            registry.clone(),
            "elasticache.check_replication_group",
            json!({ "replication_group": group }),
        )
        .in_region(REGION)
        .refuses(
            json!({"replication_group": "mint_cache"}),
            "replication_group",
        );
        read_only(&case, &world).await;
    }
}
