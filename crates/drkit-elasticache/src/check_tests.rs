//! Unit tests of `elasticache.check_replication_group` against the mocked port: what moto
//! cannot show (it creates groups straight into `available`, and its `DescribeCacheClusters`
//! does not list the members of a replication group, so their state is unknown there).

use drkit_core::{ActionExt, ActionRef, RecoveryAction, RetryPolicy};

use super::*;
use crate::port::MockElastiCacheApi;
use crate::test_support::{GROUP, group, multi_az, states, throttled};
use drkit_core::{Check, ErrorKind};

fn action(api: MockElastiCacheApi) -> CheckReplicationGroup {
    CheckReplicationGroup::new(
        "check-cache",
        CheckReplicationGroupParams::new(GROUP),
        Arc::new(api),
        Some("us-west-2"),
    )
}

fn member_states(api: &mut MockElastiCacheApi, states: &'static [(&'static str, &'static str)]) {
    api.expect_member_states().returning(move |_| {
        Ok(states
            .iter()
            .map(|(id, s)| CacheClusterState::new(*id, *s))
            .collect())
    });
}

#[tokio::test]
async fn a_healthy_group_is_done_with_primary_replicas_and_settings() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![Ok(multi_az(
            "available",
            "mint-cache-001",
            &["mint-cache-002", "mint-cache-003"],
        ))],
    );
    member_states(
        &mut api,
        &[
            ("mint-cache-001", "available"),
            ("mint-cache-002", "available"),
        ],
    );
    let check = action(api).check(&Context::new()).await.unwrap();
    let Check::Done { detail, outputs } = check else {
        panic!("expected done, got {check:?}");
    };
    assert_eq!(
        detail,
        "replication group mint-cache is available: primary mint-cache-001, replicas \
         [mint-cache-002 (available), mint-cache-003 (unknown)], automatic failover enabled, \
         Multi-AZ enabled"
    );
    assert_eq!(outputs.get_str("primary"), Some("mint-cache-001"));
    assert_eq!(
        outputs.get("primaries"),
        Some(&serde_json::json!({"0001": "mint-cache-001"}))
    );
    assert_eq!(
        outputs.get("replicas"),
        Some(&serde_json::json!([
            {"cache_cluster_id": "mint-cache-002", "node_group": "0001", "status": "available"},
            {"cache_cluster_id": "mint-cache-003", "node_group": "0001", "status": "unknown"},
        ]))
    );
    assert_eq!(outputs.get_str("automatic_failover"), Some("enabled"));
    assert_eq!(outputs.get_str("multi_az"), Some("enabled"));
    assert_eq!(outputs.get("cluster_enabled"), Some(&false.into()));
}

#[tokio::test]
async fn a_modifying_group_or_a_member_not_available_is_blocked() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![Ok(group(
            "modifying",
            "mint-cache-001",
            &["mint-cache-002"],
        ))],
    );
    member_states(
        &mut api,
        &[
            ("mint-cache-001", "available"),
            ("mint-cache-002", "rebooting cache cluster nodes"),
        ],
    );
    let check = action(api);
    assert_eq!(
        check.check(&Context::new()).await.unwrap(),
        Check::blocked(
            "replication group mint-cache: status is modifying, not available; member \
             mint-cache-002 is rebooting cache cluster nodes"
        )
    );
    // execute only reads; verify judges.
    let out = check.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("status"), Some("modifying"));
    let err = check.verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
}

#[tokio::test]
async fn a_group_without_primary_or_missing_is_blocked() {
    let mut api = MockElastiCacheApi::new();
    let mut g = group("available", "mint-cache-001", &["mint-cache-002"]);
    g.node_groups[0].members[0].role = Some("replica".into());
    states(&mut api, vec![Ok(g)]);
    member_states(&mut api, &[]);
    assert_eq!(
        action(api).check(&Context::new()).await.unwrap(),
        Check::blocked("replication group mint-cache: node group 0001 has no primary")
    );

    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![Err(ActionError::new(
            ErrorKind::NotFound,
            "ReplicationGroupNotFoundFault",
        ))],
    );
    member_states(&mut api, &[]);
    assert_eq!(
        action(api).check(&Context::new()).await.unwrap(),
        Check::blocked("replication group mint-cache does not exist")
    );
}

#[tokio::test(start_paused = true)]
async fn a_throttled_read_is_retried_by_the_retry_layer() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Err(throttled()),
            Ok(group("available", "mint-cache-001", &["mint-cache-002"])),
        ],
    );
    member_states(&mut api, &[]);
    let check: ActionRef = Arc::new(action(api));
    let check = check.with_retry(RetryPolicy::attempts(3).jitter(false));
    assert!(check.check(&Context::new()).await.unwrap().is_done());
}
