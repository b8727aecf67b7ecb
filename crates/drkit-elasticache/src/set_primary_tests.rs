//! Unit tests of `elasticache.set_primary` against the mocked port: what moto cannot show. moto
//! ignores `PrimaryClusterId` (the primary never changes there), has no `modifying` state, and
//! never throttles.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{ActionExt, ActionRef, CancellationToken, RecoveryAction, RetryPolicy};
use mockall::predicate::eq;

use super::*;
use crate::port::MockElastiCacheApi;
use crate::test_support::{GROUP, group, multi_az, polls, recorder, states, throttled};

fn action(api: MockElastiCacheApi, to: &str) -> SetPrimary {
    SetPrimary::new(
        "promote-cache",
        SetPrimaryParams::new(GROUP, to),
        Arc::new(api),
        Some("us-west-2"),
    )
}

#[tokio::test(start_paused = true)]
async fn waits_through_modifying_until_the_replica_is_primary() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(group("available", "a", &["b"])),
            Ok(group("modifying", "a", &["b"])),
            Ok(group("modifying", "b", &["a"])),
            Ok(group("available", "b", &["a"])),
        ],
    );
    api.expect_set_primary_cluster()
        .with(eq(GROUP), eq("b"))
        .times(1)
        .returning(|_, _| Ok(()));
    let (events, sink) = recorder();
    let ctx = Context::new().with_step("promote-cache").with_events(sink);
    let out = action(api, "b").execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("primary"), Some("b"));
    assert_eq!(out.get_str("previous_primary"), Some("a"));
    assert_eq!(out.get_str("status"), Some("available"));
    assert_eq!(
        polls(&events),
        [
            "status=modifying, primary=a",
            "status=modifying, primary=b",
            "done"
        ]
    );
}

#[tokio::test]
async fn check_reports_done_ready_and_blocked() {
    let check = |g: Result<ReplicationGroup, ActionError>, to: &'static str| async move {
        let mut api = MockElastiCacheApi::new();
        states(&mut api, vec![g]);
        api.expect_set_primary_cluster().never();
        action(api, to).check(&Context::new()).await.unwrap()
    };
    let done = check(Ok(group("available", "b", &["a"])), "b").await;
    let Check::Done { outputs, .. } = &done else {
        panic!("expected done, got {done:?}");
    };
    assert_eq!(outputs.get_str("primary"), Some("b"));
    assert_eq!(
        check(Ok(group("available", "a", &["b"])), "b").await,
        Check::ready("promote b to primary of replication group mint-cache: primary a -> b")
    );
    assert_eq!(
        check(Ok(group("modifying", "a", &["b"])), "b").await,
        Check::blocked("replication group mint-cache is modifying, not available")
    );
    assert_eq!(
        check(Ok(group("available", "a", &["b"])), "x").await,
        Check::blocked("x is not a member of replication group mint-cache (members: a, b)")
    );
    assert_eq!(
        check(Ok(multi_az("available", "a", &["b"])), "b").await,
        Check::blocked(
            "replication group mint-cache has Multi-AZ enabled: ElastiCache does not promote a \
             replica by hand then; disable Multi-AZ first, or use elasticache.test_failover"
        )
    );
    let mut sharded = group("available", "a", &["b"]);
    sharded.cluster_enabled = true;
    let blocked = check(Ok(sharded), "b").await;
    assert!(
        matches!(&blocked, Check::Blocked { reason } if reason.contains("cluster mode enabled")),
        "{blocked:?}"
    );
    assert_eq!(
        check(
            Err(ActionError::new(
                ErrorKind::NotFound,
                "ReplicationGroupNotFoundFault"
            )),
            "b"
        )
        .await,
        Check::blocked("replication group mint-cache does not exist")
    );
}

#[tokio::test(start_paused = true)]
async fn a_throttled_call_is_retried_by_the_retry_layer() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(group("available", "a", &["b"])), // execute #1 reads
            Ok(group("available", "a", &["b"])), // the retry layer re-checks: ready
            Ok(group("available", "a", &["b"])), // execute #2 reads
            Ok(group("available", "b", &["a"])), // the wait sees the new primary
        ],
    );
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    api.expect_set_primary_cluster()
        .times(2)
        .returning(move |_, _| {
            let mut n = c.lock().unwrap();
            *n += 1;
            if *n == 1 { Err(throttled()) } else { Ok(()) }
        });
    let promote: ActionRef = Arc::new(action(api, "b"));
    let promote = promote.with_retry(RetryPolicy::attempts(3).jitter(false));
    let out = promote.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("primary"), Some("b"));
}

#[tokio::test(start_paused = true)]
async fn a_non_retryable_error_fails_at_once_with_context() {
    let mut api = MockElastiCacheApi::new();
    states(&mut api, vec![Ok(group("available", "a", &["b"]))]);
    api.expect_set_primary_cluster().times(1).returning(|_, _| {
        Err(ActionError::new(
            ErrorKind::Conflict,
            "Replication group must be in available state to modify",
        )
        .with_code("InvalidReplicationGroupState"))
    });
    let promote: ActionRef = Arc::new(action(api, "b"));
    let promote = promote.with_retry(RetryPolicy::attempts(5));
    let err = promote.execute(&Context::new()).await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "elasticache.set_primary [promote-cache] on \
         elasticache:replication-group/mint-cache@us-west-2: ModifyReplicationGroup: Replication \
         group must be in available state to modify (code InvalidReplicationGroupState; \
         conflict, a retry will not help)"
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_ends_a_promotion_that_never_completes() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(group("available", "a", &["b"])),
            Ok(group("modifying", "a", &["b"])),
        ],
    );
    api.expect_set_primary_cluster()
        .times(1)
        .returning(|_, _| Ok(()));
    let ctx = Context::new().with_timeout(Duration::from_secs(15 * 60));
    let started = tokio::time::Instant::now();
    let err = action(api, "b").execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert!(
        err.message().contains("status=modifying, primary=a"),
        "{err}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(15 * 60));
}

#[tokio::test(start_paused = true)]
async fn cancellation_mid_wait_stops_promptly() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(group("available", "a", &["b"])),
            Ok(group("modifying", "a", &["b"])),
        ],
    );
    api.expect_set_primary_cluster()
        .times(1)
        .returning(|_, _| Ok(()));
    let token = CancellationToken::new();
    let ctx = Context::new().with_cancellation(token.clone());
    let promote = action(api, "b");
    let cancel = async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        token.cancel();
    };
    let started = tokio::time::Instant::now();
    let ((), result) = tokio::join!(cancel, promote.execute(&ctx));
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Cancelled);
    assert_eq!(started.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn executing_again_after_a_failed_wait_does_not_call_twice() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(group("available", "a", &["b"])),
            Ok(group("modifying", "a", &["b"])), // polls at 0 s, 1 s, 1.5 s
            Ok(group("modifying", "a", &["b"])),
            Ok(group("modifying", "a", &["b"])),
            Ok(group("modifying", "a", &["b"])), // check between the attempts
            Ok(group("available", "b", &["a"])),
        ],
    );
    api.expect_set_primary_cluster()
        .times(1)
        .returning(|_, _| Ok(()));
    let promote = action(api, "b");
    let short = Context::new().with_timeout(Duration::from_millis(1500));
    assert_eq!(
        promote.execute(&short).await.unwrap_err().kind(),
        ErrorKind::DeadlineExceeded
    );
    assert_eq!(
        promote.check(&Context::new()).await.unwrap(),
        Check::ready(
            "wait for the promotion of b in replication group mint-cache (from a), already \
             requested; now status=modifying, primary=a"
        )
    );
    let out = promote.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("primary"), Some("b"));
    assert_eq!(out.get_str("previous_primary"), Some("a"));
}

#[tokio::test]
async fn execute_refuses_to_run_in_a_dry_run() {
    let mut api = MockElastiCacheApi::new();
    api.expect_describe_replication_group().never();
    api.expect_set_primary_cluster().never();
    let err = action(api, "b")
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test(start_paused = true)]
async fn rollback_promotes_the_previous_primary_again() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(group("available", "a", &["b"])),
            Ok(group("available", "b", &["a"])),
            Ok(group("available", "b", &["a"])), // rollback reads
            Ok(group("available", "a", &["b"])),
        ],
    );
    let mut seq = mockall::Sequence::new();
    api.expect_set_primary_cluster()
        .with(eq(GROUP), eq("b"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    api.expect_set_primary_cluster()
        .with(eq(GROUP), eq("a"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    let promote = action(api, "b");
    assert!(
        promote.rollback(&Context::new()).await.is_err(),
        "nothing to roll back yet"
    );
    promote.execute(&Context::new()).await.unwrap();
    promote.rollback(&Context::new()).await.unwrap();
}

/// After a resume the action instance is new: it promotes the primary the step recorded.
#[tokio::test(start_paused = true)]
async fn rollback_after_a_resume_uses_the_recorded_previous_primary() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(group("available", "b", &["a"])), // the rollback reads
            Ok(group("available", "a", &["b"])),
        ],
    );
    api.expect_set_primary_cluster()
        .with(eq(GROUP), eq("a"))
        .times(1)
        .returning(|_, _| Ok(()));
    let ctx = Context::new().with_outputs(std::collections::BTreeMap::from([(
        "promote-cache".to_owned(),
        drkit_core::Outputs::new()
            .with("primary", "b")
            .with("previous_primary", "a")
            .with("status", "available"),
    )]));
    action(api, "b").rollback(&ctx).await.unwrap();
    // Nothing recorded, nothing remembered: nothing to roll back.
    assert!(
        action(MockElastiCacheApi::new(), "b")
            .rollback(&Context::new())
            .await
            .is_err()
    );
}
