//! Unit tests of `elasticache.test_failover` against the mocked port: moto does not implement
//! `TestFailover` at all (HTTP 500 with an HTML page), so every path of this action is shown
//! here: the wait through `modifying`, the quota error, throttling, deadlines, cancellation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{ActionExt, ActionRef, CancellationToken, RecoveryAction, RetryPolicy};
use mockall::predicate::eq;

use super::*;
use crate::port::MockElastiCacheApi;
use crate::test_support::{GROUP, group, multi_az, polls, recorder, states, throttled};

fn action(api: MockElastiCacheApi, node_group: &str) -> TestFailover {
    TestFailover::new(
        "failover-cache",
        TestFailoverParams::new(GROUP, node_group),
        Arc::new(api),
        Some("us-west-2"),
    )
}

/// A group whose node group is `ng_status` while the group is `status`.
fn during(status: &str, ng_status: &str, primary: &str, replicas: &[&str]) -> ReplicationGroup {
    let mut g = multi_az(status, primary, replicas);
    g.node_groups[0].status = ng_status.into();
    g
}

#[tokio::test(start_paused = true)]
async fn waits_through_modifying_until_a_new_primary_serves() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(multi_az("available", "a", &["b", "c"])),
            Ok(during("modifying", "modifying", "a", &["b", "c"])),
            Ok(during("available", "modifying", "c", &["a", "b"])),
            Ok(multi_az("available", "c", &["a", "b"])),
        ],
    );
    api.expect_test_failover()
        .with(eq(GROUP), eq("0001"))
        .times(1)
        .returning(|_, _| Ok(()));
    let (events, sink) = recorder();
    let ctx = Context::new().with_events(sink);
    let failover = action(api, "0001");
    let out = failover.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("primary"), Some("c"));
    assert_eq!(out.get_str("previous_primary"), Some("a"));
    assert_eq!(out.get_str("node_group"), Some("0001"));
    assert_eq!(
        polls(&events),
        [
            "status=modifying, node group 0001 modifying with primary a",
            "status=available, node group 0001 modifying with primary c",
            "done"
        ]
    );
    // Afterwards check and verify know the failover this action made.
    assert!(failover.check(&Context::new()).await.unwrap().is_done());
    failover.verify(&Context::new()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_24_hour_quota_is_a_clear_non_retryable_error() {
    for code in [
        "TestFailoverNotAvailableFault",
        "APICallRateForCustomerExceeded",
    ] {
        let mut api = MockElastiCacheApi::new();
        states(&mut api, vec![Ok(multi_az("available", "a", &["b"]))]);
        api.expect_test_failover().times(1).returning(move |_, _| {
            Err(
                ActionError::new(ErrorKind::InvalidInput, "TestFailover is not available")
                    .with_code(code)
                    .with_operation("TestFailover"),
            )
        });
        let failover: ActionRef = Arc::new(action(api, "0001"));
        let failover = failover.with_retry(RetryPolicy::attempts(5));
        let err = failover.execute(&Context::new()).await.unwrap_err();
        assert!(!err.is_retryable());
        assert_eq!(err.code(), Some(code));
        assert_eq!(
            err.to_string(),
            format!(
                "elasticache.test_failover [failover-cache] on \
                 elasticache:replication-group/mint-cache@us-west-2: TestFailover: AWS refused \
                 TestFailover (TestFailover is not available): it allows only a few TestFailover \
                 calls per account in any rolling 24 hours (5 in older API references, 15 in the \
                 current one) and this quota is used up, or AWS blocks TestFailover for now; \
                 retrying will not help until older calls leave the 24-hour window: promote a \
                 replica with elasticache.set_primary instead, or try again later (code {code}; \
                 conflict, a retry will not help)"
            )
        );
        assert!(
            std::error::Error::source(&err).is_some(),
            "the AWS error is kept"
        );
    }
}

#[tokio::test]
async fn check_reports_ready_and_blocked() {
    let check = |g: Result<ReplicationGroup, ActionError>, node_group: &'static str| async move {
        let mut api = MockElastiCacheApi::new();
        states(&mut api, vec![g]);
        api.expect_test_failover().never();
        action(api, node_group)
            .check(&Context::new())
            .await
            .unwrap()
    };
    assert_eq!(
        check(Ok(multi_az("available", "a", &["b", "c"])), "0001").await,
        Check::ready(
            "TestFailover of node group 0001 of replication group mint-cache: primary a -> one \
             of [b, c] (uses one of the few TestFailover calls AWS allows per rolling 24 hours)"
        )
    );
    assert_eq!(
        check(Ok(group("available", "a", &["b"])), "0001").await,
        Check::blocked(
            "replication group mint-cache has automatic failover disabled: TestFailover needs it \
             enabled"
        )
    );
    assert_eq!(
        check(Ok(multi_az("available", "a", &["b"])), "0002").await,
        Check::blocked("replication group mint-cache has no node group 0002 (node groups: 0001)")
    );
    assert_eq!(
        check(Ok(multi_az("modifying", "a", &["b"])), "0001").await,
        Check::blocked("replication group mint-cache is modifying, not available")
    );
    assert_eq!(
        check(Ok(during("available", "modifying", "a", &["b"])), "0001").await,
        Check::blocked(
            "node group 0001 of replication group mint-cache is modifying, not available"
        )
    );
    assert_eq!(
        check(Ok(multi_az("available", "a", &[])), "0001").await,
        Check::blocked(
            "node group 0001 of replication group mint-cache has no replica to fail over to"
        )
    );
    let mut sharded = multi_az("available", "a", &["b"]);
    sharded.cluster_enabled = true;
    for m in &mut sharded.node_groups[0].members {
        m.role = None;
    }
    let blocked = check(Ok(sharded), "0001").await;
    assert!(
        matches!(&blocked, Check::Blocked { reason } if reason.contains("does not report which member")),
        "{blocked:?}"
    );
    assert_eq!(
        check(
            Err(ActionError::new(
                ErrorKind::NotFound,
                "ReplicationGroupNotFoundFault"
            )),
            "0001"
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
            Ok(multi_az("available", "a", &["b"])), // execute #1 reads
            Ok(multi_az("available", "a", &["b"])), // the retry layer re-checks: ready
            Ok(multi_az("available", "a", &["b"])), // execute #2 reads
            Ok(multi_az("available", "b", &["a"])), // the wait sees the new primary
        ],
    );
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    api.expect_test_failover().times(2).returning(move |_, _| {
        let mut n = c.lock().unwrap();
        *n += 1;
        if *n == 1 { Err(throttled()) } else { Ok(()) }
    });
    let failover: ActionRef = Arc::new(action(api, "0001"));
    let failover = failover.with_retry(RetryPolicy::attempts(3).jitter(false));
    let out = failover.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("primary"), Some("b"));
    assert_eq!(*calls.lock().unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn throttling_while_waiting_does_not_end_the_wait() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(multi_az("available", "a", &["b"])),
            Err(throttled()),
            Ok(multi_az("available", "b", &["a"])),
        ],
    );
    api.expect_test_failover().times(1).returning(|_, _| Ok(()));
    let out = action(api, "0001").execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("primary"), Some("b"));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_ends_a_failover_that_never_completes() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(multi_az("available", "a", &["b"])),
            Ok(during("modifying", "modifying", "a", &["b"])),
        ],
    );
    api.expect_test_failover().times(1).returning(|_, _| Ok(()));
    let ctx = Context::new().with_timeout(Duration::from_secs(10 * 60));
    let started = tokio::time::Instant::now();
    let err = action(api, "0001").execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert!(
        err.message()
            .contains("node group 0001 modifying with primary a"),
        "{err}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(10 * 60));
}

#[tokio::test(start_paused = true)]
async fn cancellation_mid_wait_stops_promptly() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(multi_az("available", "a", &["b"])),
            Ok(during("modifying", "modifying", "a", &["b"])),
        ],
    );
    api.expect_test_failover().times(1).returning(|_, _| Ok(()));
    let token = CancellationToken::new();
    let ctx = Context::new().with_cancellation(token.clone());
    let failover = action(api, "0001");
    let cancel = async {
        tokio::time::sleep(Duration::from_secs(45)).await;
        token.cancel();
    };
    let started = tokio::time::Instant::now();
    let ((), result) = tokio::join!(cancel, failover.execute(&ctx));
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Cancelled);
    assert_eq!(started.elapsed(), Duration::from_secs(45));
}

#[tokio::test(start_paused = true)]
async fn executing_again_after_a_failed_wait_does_not_use_another_call() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(multi_az("available", "a", &["b"])),
            Ok(during("modifying", "modifying", "a", &["b"])), // polls at 0 s, 1 s, 1.5 s
            Ok(during("modifying", "modifying", "a", &["b"])),
            Ok(during("modifying", "modifying", "a", &["b"])),
            Ok(during("modifying", "modifying", "a", &["b"])), // check between the attempts
            Ok(multi_az("available", "b", &["a"])),
        ],
    );
    api.expect_test_failover().times(1).returning(|_, _| Ok(()));
    let failover = action(api, "0001");
    let short = Context::new().with_timeout(Duration::from_millis(1500));
    assert_eq!(
        failover.execute(&short).await.unwrap_err().kind(),
        ErrorKind::DeadlineExceeded
    );
    let check = failover.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Ready { change } if change.contains("already requested")),
        "{check:?}"
    );
    let out = failover.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("primary"), Some("b"));
    assert_eq!(out.get_str("previous_primary"), Some("a"));
}

#[tokio::test]
async fn execute_refuses_to_run_in_a_dry_run_and_there_is_no_rollback() {
    let mut api = MockElastiCacheApi::new();
    api.expect_describe_replication_group().never();
    api.expect_test_failover().never();
    let failover = action(api, "0001");
    let err = failover
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(!failover.supports_rollback());
    assert_eq!(
        failover.rollback(&Context::new()).await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}

/// The answer to `TestFailover` is lost (no AWS error code: the connection broke after the
/// request left). It may have started the failover, so it is never sent again: the step reads
/// the group and waits for a new primary, even under the retry layer.
#[tokio::test(start_paused = true)]
async fn a_lost_answer_is_never_followed_by_a_second_call() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(multi_az("available", "a", &["b"])),
            Ok(during("modifying", "modifying", "a", &["b"])),
            Ok(multi_az("available", "b", &["a"])),
        ],
    );
    api.expect_test_failover().times(1).returning(|_, _| {
        Err(ActionError::new(
            ErrorKind::Unavailable,
            "dispatch failure: connection closed before message completed",
        ))
    });
    let failover: ActionRef = Arc::new(action(api, "0001"));
    let failover = failover.with_retry(RetryPolicy::attempts(3).jitter(false));
    let ctx = Context::new();
    let out = failover.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("primary"), Some("b"));
    assert_eq!(out.get_str("previous_primary"), Some("a"));
    let intent = ctx.intent().unwrap();
    assert_eq!(intent.get_str("from"), Some("a"));
}

/// `drkit resume` after a crash once the call was sent: the journalled intent names the primary
/// it failed over from, so check says done when another primary serves and otherwise waits for
/// that failover; no second `TestFailover` either way.
#[tokio::test(start_paused = true)]
async fn a_resumed_step_reconciles_from_the_recorded_intent_without_calling() {
    let recorded = || {
        Context::new().with_recorded_intent(Some(
            Outputs::new().with("from", "a").with("node_group", "0001"),
        ))
    };
    let mut api = MockElastiCacheApi::new();
    states(&mut api, vec![Ok(multi_az("available", "b", &["a"]))]);
    api.expect_test_failover().never();
    let check = action(api, "0001").check(&recorded()).await.unwrap();
    match check {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("previous_primary"), Some("a"));
            assert_eq!(outputs.get_str("primary"), Some("b"));
        }
        other => panic!("expected done, got {other:?}"),
    }

    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(during("modifying", "modifying", "a", &["b"])), // check
            Ok(during("modifying", "modifying", "a", &["b"])), // the wait
            Ok(multi_az("available", "b", &["a"])),
        ],
    );
    api.expect_test_failover().never();
    let failover = action(api, "0001");
    let ctx = recorded();
    let check = failover.check(&ctx).await.unwrap();
    assert!(
        matches!(&check, Check::Ready { change } if change.contains("already requested")),
        "{check:?}"
    );
    let out = failover.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("primary"), Some("b"));
}
