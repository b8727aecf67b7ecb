//! Unit tests of `elasticache.set_primary` against the mocked port: what moto cannot show. moto
//! ignores `PrimaryClusterId` (the primary never changes there), has no `modifying` state, and
//! never throttles.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{ActionExt, ActionRef, CancellationToken, RecoveryAction, RetryPolicy};
use mockall::predicate::eq;

use super::*;
use crate::port::MockElastiCacheApi;
use crate::test_support::{
    GROUP, Journal, group, lost, multi_az, polls, recorder, refused, states, throttled,
    with_settings,
};

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
        Check::ready(
            "promote b to primary of replication group mint-cache: primary a -> b; ElastiCache \
             promotes by hand only with Multi-AZ and automatic failover disabled: disable them, \
             promote, then restore automatic failover enabled, Multi-AZ enabled, each change \
             waited"
        )
    );
    let mut changing = multi_az("available", "a", &["b"]);
    changing.automatic_failover = "disabling".into();
    assert_eq!(
        check(Ok(changing), "b").await,
        Check::blocked(
            "replication group mint-cache has automatic failover disabling and Multi-AZ enabled: \
             wait until the change under way settles"
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

// The Multi-AZ sequence. ElastiCache promotes a replica by hand only with Multi-AZ and
// automatic failover disabled (user guide, "Limitations on Redis Multi-AZ"): disable both,
// promote, enable them again, each waited. The states are ElastiCache's: the group `modifying`,
// automatic failover `disabling` / `enabling`.

/// The intent journalled for a step that disabled Multi-AZ (phase `phase`) to promote b from a.
fn intent(phase: &str) -> Outputs {
    Outputs::new()
        .with("phase", phase)
        .with("from", "a")
        .with("to", "b")
        .with("automatic_failover", "enabled")
        .with("multi_az", "enabled")
}

fn journalled(journal: &Arc<Journal>) -> Context {
    Context::new()
        .with_step("promote-cache")
        .with_intent_log(Arc::clone(journal) as Arc<dyn drkit_core::IntentLog>)
}

/// Off, wait, promote, wait, back on, wait: the three calls in this order (a mockall
/// Sequence), each journalled before it is sent, each waited through ElastiCache's
/// intermediate states.
#[tokio::test(start_paused = true)]
async fn multi_az_is_disabled_the_replica_promoted_then_multi_az_restored_in_order() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(multi_az("available", "a", &["b"])),
            // Multi-AZ off.
            Ok(with_settings(
                group("modifying", "a", &["b"]),
                "disabling",
                "disabled",
            )),
            Ok(group("available", "a", &["b"])),
            // The promotion.
            Ok(group("modifying", "a", &["b"])),
            Ok(group("available", "b", &["a"])),
            // Back on.
            Ok(with_settings(
                group("modifying", "b", &["a"]),
                "enabling",
                "enabled",
            )),
            Ok(multi_az("available", "b", &["a"])),
        ],
    );
    let journal = Arc::new(Journal::default());
    let mut seq = mockall::Sequence::new();
    let j = Arc::clone(&journal);
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(false), eq(false))
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _, _| {
            assert_eq!(j.last("phase").as_deref(), Some("disable_multi_az"));
            Ok(())
        });
    let j = Arc::clone(&journal);
    api.expect_set_primary_cluster()
        .with(eq(GROUP), eq("b"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| {
            assert_eq!(j.last("phase").as_deref(), Some("promote"));
            Ok(())
        });
    let j = Arc::clone(&journal);
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(true), eq(true))
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _, _| {
            assert_eq!(j.last("phase").as_deref(), Some("restore_multi_az"));
            Ok(())
        });
    let (events, sink) = recorder();
    let ctx = journalled(&journal).with_events(sink);
    let promote = action(api, "b");
    let out = promote.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("primary"), Some("b"));
    assert_eq!(out.get_str("previous_primary"), Some("a"));
    assert_eq!(out.get_str("automatic_failover"), Some("enabled"));
    assert_eq!(out.get_str("multi_az"), Some("enabled"));
    assert_eq!(
        polls(&events),
        [
            "status=modifying, primary=a, automatic failover disabling, Multi-AZ disabled",
            "done",
            "status=modifying, primary=a",
            "done",
            "status=modifying, primary=b, automatic failover enabling, Multi-AZ enabled",
            "done",
        ]
    );
    assert_eq!(
        journal.records("phase"),
        ["disable_multi_az", "promote", "restore_multi_az"]
    );
    let recorded = ctx.intent().unwrap();
    assert_eq!(recorded.get_str("from"), Some("a"));
    assert_eq!(recorded.get_str("automatic_failover"), Some("enabled"));
    assert!(promote.check(&ctx).await.unwrap().is_done());
    promote.verify(&ctx).await.unwrap();
}

/// Automatic failover on, Multi-AZ off: both are disabled for the promotion and only automatic
/// failover is enabled again (`AutomaticFailoverEnabled=true`, `MultiAZEnabled=false`).
#[tokio::test(start_paused = true)]
async fn automatic_failover_alone_is_restored_without_multi_az() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(with_settings(
                group("available", "a", &["b"]),
                "enabled",
                "disabled",
            )),
            Ok(group("available", "a", &["b"])),
            Ok(group("available", "b", &["a"])),
            Ok(with_settings(
                group("available", "b", &["a"]),
                "enabled",
                "disabled",
            )),
        ],
    );
    let mut seq = mockall::Sequence::new();
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(false), eq(false))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    api.expect_set_primary_cluster()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(true), eq(false))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    let out = action(api, "b").execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("automatic_failover"), Some("enabled"));
    assert_eq!(out.get_str("multi_az"), Some("disabled"));
}

/// Killed after Multi-AZ was disabled (the journal's last intent: `disable_multi_az`): the
/// resumed step does not disable it again; it promotes, then enables Multi-AZ again.
#[tokio::test(start_paused = true)]
async fn a_resume_after_multi_az_was_disabled_promotes_then_enables_it_again() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(group("available", "a", &["b"])), // check
            Ok(group("available", "a", &["b"])), // the wait for the recorded call: done
            Ok(group("available", "b", &["a"])),
            Ok(multi_az("available", "b", &["a"])),
        ],
    );
    let mut seq = mockall::Sequence::new();
    api.expect_set_primary_cluster()
        .with(eq(GROUP), eq("b"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(true), eq(true))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    let journal = Arc::new(Journal::default());
    let ctx = journalled(&journal).with_recorded_intent(Some(intent("disable_multi_az")));
    let promote = action(api, "b");
    assert_eq!(
        promote.check(&ctx).await.unwrap(),
        Check::ready(
            "wait for Multi-AZ and automatic failover of replication group mint-cache to be \
             disabled, already requested, then promote b (from a), then restore automatic \
             failover enabled, Multi-AZ enabled; now status=available, primary=a, automatic \
             failover disabled, Multi-AZ disabled"
        )
    );
    let out = promote.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("previous_primary"), Some("a"));
    assert_eq!(out.get_str("multi_az"), Some("enabled"));
    assert_eq!(journal.records("phase"), ["promote", "restore_multi_az"]);
}

/// Killed after the promotion was sent: the resumed step waits for it (ElastiCache still
/// `modifying`), never promotes again, then enables Multi-AZ again. Once all is done, check says
/// done with the recorded previous primary (the runner counts it as this run's change).
#[tokio::test(start_paused = true)]
async fn a_resume_after_the_promotion_only_enables_multi_az_again() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(group("modifying", "a", &["b"])),
            Ok(group("available", "b", &["a"])),
            Ok(multi_az("available", "b", &["a"])),
        ],
    );
    api.expect_set_primary_cluster().never();
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(true), eq(true))
        .times(1)
        .returning(|_, _, _| Ok(()));
    let ctx = Context::new().with_recorded_intent(Some(intent("promote")));
    let promote = action(api, "b");
    let out = promote.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("primary"), Some("b"));
    match promote.check(&ctx).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("previous_primary"), Some("a"));
        }
        other => panic!("expected done, got {other:?}"),
    }
}

/// The answers to the Multi-AZ call and to the promotion are lost (no AWS code): each may have
/// applied, so each is read back, never sent again, even under the retry layer.
#[tokio::test(start_paused = true)]
async fn lost_answers_are_read_back_never_sent_again() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(multi_az("available", "a", &["b"])),
            Ok(with_settings(
                group("modifying", "a", &["b"]),
                "disabling",
                "disabled",
            )),
            Ok(group("available", "a", &["b"])),
            Ok(group("modifying", "b", &["a"])),
            Ok(group("available", "b", &["a"])),
            Ok(multi_az("available", "b", &["a"])),
        ],
    );
    let mut seq = mockall::Sequence::new();
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(false), eq(false))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Err(lost()));
    api.expect_set_primary_cluster()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Err(lost()));
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(true), eq(true))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    let promote: ActionRef = Arc::new(action(api, "b"));
    let promote = promote.with_retry(RetryPolicy::attempts(3).jitter(false));
    let out = promote.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("primary"), Some("b"));
    assert_eq!(out.get_str("multi_az"), Some("enabled"));
}

/// A promotion whose answer is lost and that never shows: the step fails at its deadline,
/// marked "may have applied" (the runner compensates it), without a second call; Multi-AZ is
/// not enabled again under a promotion that may still be under way (the rollback does it).
#[tokio::test(start_paused = true)]
async fn a_lost_promotion_that_never_shows_fails_maybe_applied_without_a_second_call() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(multi_az("available", "a", &["b"])),
            Ok(group("available", "a", &["b"])),
        ],
    );
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(false), eq(false))
        .times(1)
        .returning(|_, _, _| Ok(()));
    api.expect_set_primary_cluster()
        .times(1)
        .returning(|_, _| Err(lost()));
    let ctx = Context::new().with_timeout(Duration::from_secs(10 * 60));
    let err = action(api, "b").execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert!(err.maybe_applied());
    assert_eq!(err.operation(), Some("ModifyReplicationGroup"));
    assert!(
        err.message().contains("answer was lost") && err.message().contains("not sent again"),
        "{err}"
    );
    assert_eq!(ctx.intent().unwrap().get_str("phase"), Some("promote"));
}

/// ElastiCache refuses the promotion after Multi-AZ was disabled (here the replica is not
/// available, `InvalidCacheClusterState`): the step enables Multi-AZ and automatic failover
/// again before it fails, keeps AWS's code, and withdraws its intent (nothing of its change
/// remains, so the runner has nothing to compensate).
#[tokio::test(start_paused = true)]
async fn a_refused_promotion_enables_multi_az_again_before_failing() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(multi_az("available", "a", &["b"])),
            Ok(group("available", "a", &["b"])),
            Ok(with_settings(
                group("modifying", "a", &["b"]),
                "enabling",
                "enabled",
            )),
            Ok(multi_az("available", "a", &["b"])),
        ],
    );
    let mut seq = mockall::Sequence::new();
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(false), eq(false))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    api.expect_set_primary_cluster()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| {
            Err(refused(
                ErrorKind::Conflict,
                "InvalidCacheClusterState",
                "Cache cluster mint-cache-b is not in a valid state",
            ))
        });
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(true), eq(true))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    let journal = Arc::new(Journal::default());
    let ctx = journalled(&journal);
    let err = action(api, "b").execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.code(), Some("InvalidCacheClusterState"));
    assert!(!err.maybe_applied());
    assert_eq!(
        err.to_string(),
        "elasticache.set_primary [promote-cache] on \
         elasticache:replication-group/mint-cache@us-west-2: ModifyReplicationGroup: Cache \
         cluster mint-cache-b is not in a valid state; automatic failover enabled, Multi-AZ \
         enabled restored as before (code InvalidCacheClusterState; conflict, a retry will not \
         help)"
    );
    assert_eq!(
        journal.records("phase"),
        [
            "disable_multi_az",
            "promote",
            "withdrawn",
            "disable_multi_az",
            "restore_multi_az",
            "withdrawn"
        ]
    );
    assert!(ctx.intent().is_none());
}

/// A refusal of the first call (Multi-AZ cannot be disabled now) changed nothing: the error
/// keeps AWS's code, the intent is withdrawn, nothing else is sent.
#[tokio::test(start_paused = true)]
async fn a_refused_first_call_changes_nothing() {
    let mut api = MockElastiCacheApi::new();
    states(&mut api, vec![Ok(multi_az("available", "a", &["b"]))]);
    api.expect_set_failover_settings()
        .times(1)
        .returning(|_, _, _| {
            Err(refused(
                ErrorKind::Conflict,
                "InvalidReplicationGroupState",
                "Replication group must be in available state to modify",
            ))
        });
    api.expect_set_primary_cluster().never();
    let journal = Arc::new(Journal::default());
    let ctx = journalled(&journal);
    let err = action(api, "b").execute(&ctx).await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidReplicationGroupState"));
    assert!(!err.is_retryable());
    assert_eq!(journal.records("phase"), ["disable_multi_az", "withdrawn"]);
    assert!(ctx.intent().is_none());
}

/// The rollback of a completed Multi-AZ promotion (from the journalled intent, as after a
/// resume in another process): the same sequence back to the previous primary, journalled as
/// the compensation's own intent, Multi-AZ left as it was.
#[tokio::test(start_paused = true)]
async fn rollback_promotes_back_with_the_sequence_and_leaves_multi_az_as_it_was() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(multi_az("available", "b", &["a"])), // the rollback reads
            Ok(group("available", "b", &["a"])),
            Ok(group("available", "a", &["b"])),
            Ok(multi_az("available", "a", &["b"])),
        ],
    );
    let mut seq = mockall::Sequence::new();
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(false), eq(false))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    api.expect_set_primary_cluster()
        .with(eq(GROUP), eq("a"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(true), eq(true))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    let journal = Arc::new(Journal::default());
    let ctx = journalled(&journal).with_recorded_intent(Some(intent("restore_multi_az")));
    action(api, "b").rollback(&ctx).await.unwrap();
    assert_eq!(
        journal.records("phase"),
        [
            "rollback:disable_multi_az",
            "rollback:promote",
            "rollback:restore_multi_az"
        ]
    );
}

/// Killed after Multi-AZ was disabled, then rolled back instead of resumed: the primary never
/// changed, so the rollback only enables Multi-AZ and automatic failover again.
#[tokio::test(start_paused = true)]
async fn rollback_after_a_crash_between_the_calls_only_restores_multi_az() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(group("available", "a", &["b"])),
            Ok(multi_az("available", "a", &["b"])),
        ],
    );
    api.expect_set_primary_cluster().never();
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(true), eq(true))
        .times(1)
        .returning(|_, _, _| Ok(()));
    let ctx = Context::new().with_recorded_intent(Some(intent("disable_multi_az")));
    action(api, "b").rollback(&ctx).await.unwrap();
}

/// A rollback that starts while the step's last change is still being applied waits for the
/// group to settle instead of refusing it.
#[tokio::test(start_paused = true)]
async fn rollback_waits_for_a_group_still_modifying() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(with_settings(
                group("modifying", "b", &["a"]),
                "enabling",
                "enabled",
            )),
            Ok(multi_az("available", "b", &["a"])),
            Ok(group("available", "b", &["a"])),
            Ok(group("available", "a", &["b"])),
            Ok(multi_az("available", "a", &["b"])),
        ],
    );
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(false), eq(false))
        .times(1)
        .returning(|_, _, _| Ok(()));
    api.expect_set_primary_cluster()
        .with(eq(GROUP), eq("a"))
        .times(1)
        .returning(|_, _| Ok(()));
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(true), eq(true))
        .times(1)
        .returning(|_, _, _| Ok(()));
    let ctx = Context::new().with_recorded_intent(Some(intent("restore_multi_az")));
    action(api, "b").rollback(&ctx).await.unwrap();
}

/// The promotion is refused and enabling Multi-AZ again is refused too: the error says both,
/// and the journal keeps "Multi-AZ disabled by this step" as the intent, so the runner counts
/// the step as changed and its rollback enables Multi-AZ again.
#[tokio::test(start_paused = true)]
async fn a_refused_promotion_whose_restore_is_refused_keeps_the_intent_for_the_rollback() {
    let mut api = MockElastiCacheApi::new();
    states(
        &mut api,
        vec![
            Ok(multi_az("available", "a", &["b"])),
            Ok(group("available", "a", &["b"])),
        ],
    );
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(false), eq(false))
        .times(1)
        .returning(|_, _, _| Ok(()));
    api.expect_set_primary_cluster().times(1).returning(|_, _| {
        Err(refused(
            ErrorKind::Conflict,
            "InvalidCacheClusterState",
            "Cache cluster mint-cache-b is not in a valid state",
        ))
    });
    api.expect_set_failover_settings()
        .with(eq(GROUP), eq(true), eq(true))
        .times(1)
        .returning(|_, _, _| {
            Err(refused(
                ErrorKind::InvalidInput,
                "InvalidParameterCombination",
                "Multi-AZ cannot be enabled now",
            ))
        });
    let journal = Arc::new(Journal::default());
    let ctx = journalled(&journal);
    let err = action(api, "b").execute(&ctx).await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterCombination"));
    assert!(
        err.message().starts_with(
            "ElastiCache refused the promotion (Cache cluster mint-cache-b is not in a valid \
             state), and restoring automatic failover enabled, Multi-AZ enabled failed: \
             Multi-AZ cannot be enabled now"
        ),
        "{err}"
    );
    assert_eq!(
        ctx.intent().unwrap().get_str("phase"),
        Some("disable_multi_az")
    );
    assert_eq!(journal.last("phase").as_deref(), Some("disable_multi_az"));
}
