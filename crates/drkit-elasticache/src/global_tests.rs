//! Unit tests of `elasticache.failover_global_datastore` against the mocked port. moto does not
//! implement ElastiCache global datastores, so every path is shown here with AWS's states (the
//! global datastore `modifying` while the roles change, `primary-only`, `creating`, members
//! `associating` / `disassociating`) and the error codes `FailoverGlobalReplicationGroup`
//! documents (`GlobalReplicationGroupNotFoundFault`, `InvalidGlobalReplicationGroupState`,
//! `InvalidParameterValue`, `InvalidParameterCombination`), classified as drkit-aws does.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{ActionExt, ActionRef, CancellationToken, RecoveryAction, RetryPolicy};
use mockall::predicate::eq;

use super::*;
use crate::port::MockElastiCacheApi;
use crate::test_support::{Journal, lost, polls, recorder, refused, throttled};

const GLOBAL: &str = "ldgnf-mint-global";

/// The global datastore with `primary` (`east` or `west`) as its primary.
fn global(status: &str, primary: &str) -> GlobalDatastore {
    let role = |side: &str| {
        if side == primary {
            "PRIMARY"
        } else {
            "SECONDARY"
        }
    };
    GlobalDatastore::new(
        GLOBAL,
        status,
        vec![
            GlobalDatastoreMember::new("us-east-1", "mint-cache-east", role("east")),
            GlobalDatastoreMember::new("us-west-2", "mint-cache-west", role("west")),
        ],
    )
}

/// `describe_global_datastore` answers these in order, repeating the last one.
fn globals(api: &mut MockElastiCacheApi, states: Vec<Result<GlobalDatastore, ActionError>>) {
    let queue = Mutex::new(VecDeque::from(states));
    api.expect_describe_global_datastore()
        .with(eq(GLOBAL))
        .returning(move |_| {
            let mut queue = queue.lock().unwrap();
            if queue.len() > 1 {
                queue.pop_front().unwrap()
            } else {
                match queue.front().unwrap() {
                    Ok(g) => Ok(g.clone()),
                    Err(e) => Err(ActionError::new(e.kind(), e.message())),
                }
            }
        });
}

fn action(api: MockElastiCacheApi) -> FailoverGlobalDatastore {
    FailoverGlobalDatastore::new(
        "cache-region",
        FailoverGlobalDatastoreParams::new(GLOBAL, "us-west-2", "mint-cache-west"),
        Arc::new(api),
        Some("us-west-2"),
    )
}

fn from_east() -> Outputs {
    Outputs::new()
        .with("from_region", "us-east-1")
        .with("from_replication_group", "mint-cache-east")
        .with("to_region", "us-west-2")
        .with("to_replication_group", "mint-cache-west")
}

/// The failover through ElastiCache's states: `modifying` while the old primary is still
/// primary, `modifying` once the roles changed, then `available`. One call, with the wanted
/// region and group; the outputs name the new and the previous primary.
#[tokio::test(start_paused = true)]
async fn fails_over_through_modifying_and_names_the_previous_primary() {
    let mut api = MockElastiCacheApi::new();
    globals(
        &mut api,
        vec![
            Ok(global("available", "east")), // check
            Ok(global("available", "east")), // execute reads
            Ok(global("modifying", "east")),
            Ok(global("modifying", "west")),
            Ok(global("available", "west")),
        ],
    );
    let journal = Arc::new(Journal::default());
    let j = Arc::clone(&journal);
    api.expect_failover_global_datastore()
        .with(eq(GLOBAL), eq("us-west-2"), eq("mint-cache-west"))
        .times(1)
        .returning(move |_, _, _| {
            // The intent is journalled before the call.
            assert_eq!(j.last("from_region").as_deref(), Some("us-east-1"));
            Ok(())
        });
    let (events, sink) = recorder();
    let ctx = Context::new()
        .with_step("cache-region")
        .with_intent_log(Arc::clone(&journal) as Arc<dyn drkit_core::IntentLog>)
        .with_events(sink);
    let failover = action(api);
    assert_eq!(
        failover.check(&ctx).await.unwrap(),
        Check::ready(
            "FailoverGlobalReplicationGroup of global datastore ldgnf-mint-global: primary \
             us-east-1/mint-cache-east -> us-west-2/mint-cache-west, called in us-west-2"
        )
    );
    let out = failover.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("primary_region"), Some("us-west-2"));
    assert_eq!(
        out.get_str("primary_replication_group"),
        Some("mint-cache-west")
    );
    assert_eq!(out.get_str("previous_primary_region"), Some("us-east-1"));
    assert_eq!(
        out.get_str("previous_primary_replication_group"),
        Some("mint-cache-east")
    );
    assert_eq!(out.get_str("status"), Some("available"));
    assert_eq!(
        out.get_str("members"),
        Some(
            "us-east-1/mint-cache-east (secondary, associated), us-west-2/mint-cache-west \
             (primary, associated)"
        )
    );
    assert_eq!(
        polls(&events),
        [
            "status=modifying, primary=us-east-1/mint-cache-east, us-west-2/mint-cache-west \
             SECONDARY",
            "status=modifying, primary=us-west-2/mint-cache-west, us-west-2/mint-cache-west \
             PRIMARY",
            "done"
        ]
    );
    assert_eq!(journal.records("to_region"), ["us-west-2"]);
    assert!(failover.check(&ctx).await.unwrap().is_done());
    failover.verify(&ctx).await.unwrap();
}

#[tokio::test]
async fn check_reports_done_ready_and_blocked() {
    let check = |g: Result<GlobalDatastore, ActionError>| async move {
        let mut api = MockElastiCacheApi::new();
        globals(&mut api, vec![g]);
        api.expect_failover_global_datastore().never();
        action(api).check(&Context::new()).await.unwrap()
    };
    // Already the primary of an available global datastore: done, nothing changed.
    match check(Ok(global("available", "west"))).await {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("primary_region"), Some("us-west-2"));
            assert_eq!(outputs.get_str("previous_primary_region"), Some(""));
        }
        other => panic!("expected done, got {other:?}"),
    }
    // Primary already, still modifying: nothing to send, wait.
    assert_eq!(
        check(Ok(global("modifying", "west"))).await,
        Check::ready(
            "wait for global datastore ldgnf-mint-global to be available: \
             us-west-2/mint-cache-west is its primary already; now status=modifying, \
             primary=us-west-2/mint-cache-west"
        )
    );
    // Another modification in progress: ElastiCache allows the promotion.
    assert_eq!(
        check(Ok(global("modifying", "east"))).await,
        Check::ready(
            "FailoverGlobalReplicationGroup of global datastore ldgnf-mint-global: primary \
             us-east-1/mint-cache-east -> us-west-2/mint-cache-west, called in us-west-2 (the \
             global datastore is modifying: ElastiCache allows a promotion while other \
             modifications are in progress)"
        )
    );
    for (status, why) in [
        ("primary-only", "it has no secondary left"),
        (
            "creating",
            "ElastiCache fails over an available global datastore",
        ),
        (
            "deleting",
            "ElastiCache fails over an available global datastore",
        ),
    ] {
        assert_eq!(
            check(Ok(global(status, "east"))).await,
            Check::blocked(format!(
                "global datastore ldgnf-mint-global is {status}: {why} (AWS would answer \
                 InvalidGlobalReplicationGroupState)"
            ))
        );
    }
    for membership in ["associating", "disassociating", "disassociated"] {
        let mut g = global("available", "east");
        g.members[1].status = membership.into();
        assert_eq!(
            check(Ok(g)).await,
            Check::blocked(format!(
                "us-west-2/mint-cache-west is {membership} in global datastore \
                 ldgnf-mint-global, not associated: it does not replicate the primary"
            ))
        );
    }
    let mut other_region = global("available", "east");
    other_region.members[1].region = "eu-west-1".into();
    assert_eq!(
        check(Ok(other_region)).await,
        Check::blocked(
            "us-west-2/mint-cache-west is not a member of global datastore ldgnf-mint-global \
             (members: us-east-1/mint-cache-east (primary, associated), \
             eu-west-1/mint-cache-west (secondary, associated))"
        )
    );
    assert_eq!(
        check(Err(refused(
            ErrorKind::NotFound,
            "GlobalReplicationGroupNotFoundFault",
            "Global replication group ldgnf-mint-global not found"
        )))
        .await,
        Check::blocked("global datastore ldgnf-mint-global does not exist")
    );
}

/// The errors AWS documents for `FailoverGlobalReplicationGroup`, as drkit-aws classifies them:
/// each is a refusal (an answer with a code: no change made), so the intent is withdrawn, the
/// error keeps AWS's code and the operation, and the retry layer does not retry it.
#[tokio::test(start_paused = true)]
async fn aws_refusals_keep_their_code_change_nothing_and_are_not_retried() {
    for (code, kind) in [
        ("GlobalReplicationGroupNotFoundFault", ErrorKind::NotFound),
        ("InvalidGlobalReplicationGroupState", ErrorKind::Conflict),
        ("InvalidParameterValue", ErrorKind::InvalidInput),
        ("InvalidParameterCombination", ErrorKind::InvalidInput),
    ] {
        let mut api = MockElastiCacheApi::new();
        globals(&mut api, vec![Ok(global("available", "east"))]);
        api.expect_failover_global_datastore()
            .with(eq(GLOBAL), eq("us-west-2"), eq("mint-cache-west"))
            .times(1)
            .returning(move |_, _, _| Err(refused(kind, code, "refused by ElastiCache")));
        let journal = Arc::new(Journal::default());
        let ctx = Context::new()
            .with_step("cache-region")
            .with_intent_log(Arc::clone(&journal) as Arc<dyn drkit_core::IntentLog>);
        let failover: ActionRef = Arc::new(action(api));
        let failover = failover.with_retry(RetryPolicy::attempts(3).jitter(false));
        let err = failover.execute(&ctx).await.unwrap_err();
        assert_eq!(err.code(), Some(code));
        assert_eq!(err.kind(), kind);
        assert!(!err.is_retryable(), "{code}");
        assert!(!err.maybe_applied(), "{code}");
        assert_eq!(err.operation(), Some("FailoverGlobalReplicationGroup"));
        assert_eq!(journal.records("to_region"), ["us-west-2", "withdrawn"]);
        assert!(ctx.intent().is_none(), "{code}");
    }
    // The whole line an operator reads.
    let mut api = MockElastiCacheApi::new();
    globals(&mut api, vec![Ok(global("available", "east"))]);
    api.expect_failover_global_datastore()
        .with(eq(GLOBAL), eq("us-west-2"), eq("mint-cache-west"))
        .times(1)
        .returning(|_, _, _| {
            Err(refused(
                ErrorKind::Conflict,
                "InvalidGlobalReplicationGroupState",
                "The Global datastore is not available or in primary-only state.",
            ))
        });
    let err = action(api).execute(&Context::new()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "elasticache.failover_global_datastore [cache-region] on \
         elasticache:global-replication-group/ldgnf-mint-global@us-west-2: \
         FailoverGlobalReplicationGroup: The Global datastore is not available or in \
         primary-only state. (code InvalidGlobalReplicationGroupState; conflict, a retry will \
         not help)"
    );
}

/// Throttling is a refusal that a retry can help: the retry layer re-checks, then calls again.
#[tokio::test(start_paused = true)]
async fn a_throttled_failover_is_retried_by_the_retry_layer() {
    let mut api = MockElastiCacheApi::new();
    globals(
        &mut api,
        vec![
            Ok(global("available", "east")), // execute #1 reads
            Ok(global("available", "east")), // the retry layer re-checks: ready
            Ok(global("available", "east")), // execute #2 reads
            Ok(global("available", "west")),
        ],
    );
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    api.expect_failover_global_datastore()
        .with(eq(GLOBAL), eq("us-west-2"), eq("mint-cache-west"))
        .times(2)
        .returning(move |_, _, _| {
            let mut n = c.lock().unwrap();
            *n += 1;
            if *n == 1 { Err(throttled()) } else { Ok(()) }
        });
    let failover: ActionRef = Arc::new(action(api));
    let failover = failover.with_retry(RetryPolicy::attempts(3).jitter(false));
    let out = failover.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("primary_region"), Some("us-west-2"));
    assert_eq!(*calls.lock().unwrap(), 2);
}

/// The answer is lost (no AWS code): the failover may be under way, so it is never sent again,
/// even under the retry layer: the step reads the global datastore until the member is primary.
#[tokio::test(start_paused = true)]
async fn a_lost_answer_is_reconciled_by_reading_never_by_a_second_call() {
    let mut api = MockElastiCacheApi::new();
    globals(
        &mut api,
        vec![
            Ok(global("available", "east")),
            Ok(global("modifying", "east")),
            Ok(global("modifying", "west")),
            Ok(global("available", "west")),
        ],
    );
    api.expect_failover_global_datastore()
        .with(eq(GLOBAL), eq("us-west-2"), eq("mint-cache-west"))
        .times(1)
        .returning(|_, _, _| Err(lost()));
    let failover: ActionRef = Arc::new(action(api));
    let failover = failover.with_retry(RetryPolicy::attempts(3).jitter(false));
    let ctx = Context::new();
    let out = failover.execute(&ctx).await.unwrap();
    assert_eq!(
        out.get_str("primary_replication_group"),
        Some("mint-cache-west")
    );
    assert_eq!(
        out.get_str("previous_primary_replication_group"),
        Some("mint-cache-east")
    );
    assert_eq!(
        ctx.intent().unwrap().get_str("from_region"),
        Some("us-east-1")
    );
}

/// A lost answer and a failover that never shows: the step ends at its deadline, "may have
/// applied" and saying it was not sent again; executed again (the failover then shows), it
/// waits and never calls a second time.
#[tokio::test(start_paused = true)]
async fn a_lost_answer_that_never_shows_fails_maybe_applied_and_is_not_resent() {
    let mut api = MockElastiCacheApi::new();
    let flipped = Arc::new(Mutex::new(false));
    let f = Arc::clone(&flipped);
    api.expect_describe_global_datastore().returning(move |_| {
        Ok(if *f.lock().unwrap() {
            global("available", "west")
        } else {
            global("available", "east")
        })
    });
    api.expect_failover_global_datastore()
        .with(eq(GLOBAL), eq("us-west-2"), eq("mint-cache-west"))
        .times(1)
        .returning(|_, _, _| Err(lost()));
    let failover = action(api);
    let short = Context::new().with_timeout(Duration::from_secs(5 * 60));
    let err = failover.execute(&short).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert!(err.maybe_applied());
    assert_eq!(err.operation(), Some("FailoverGlobalReplicationGroup"));
    assert!(
        err.message().contains("answer was lost") && err.message().contains("not sent again"),
        "{err}"
    );
    *flipped.lock().unwrap() = true;
    let out = failover.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("previous_primary_region"), Some("us-east-1"));
}

/// `drkit resume` after a crash once the call was sent: the journalled intent names the primary
/// it failed over from; check says done when the member is primary (this run's change), else
/// ready to wait; no second call either way.
#[tokio::test(start_paused = true)]
async fn a_resumed_step_reconciles_from_the_recorded_intent_without_calling() {
    let recorded = || Context::new().with_recorded_intent(Some(from_east()));
    let mut api = MockElastiCacheApi::new();
    globals(&mut api, vec![Ok(global("available", "west"))]);
    api.expect_failover_global_datastore().never();
    match action(api).check(&recorded()).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(
                outputs.get_str("previous_primary_region"),
                Some("us-east-1")
            );
        }
        other => panic!("expected done, got {other:?}"),
    }

    let mut api = MockElastiCacheApi::new();
    globals(
        &mut api,
        vec![
            Ok(global("modifying", "east")), // check
            Ok(global("modifying", "east")), // the wait
            Ok(global("available", "west")),
        ],
    );
    api.expect_failover_global_datastore().never();
    let failover = action(api);
    let ctx = recorded();
    assert_eq!(
        failover.check(&ctx).await.unwrap(),
        Check::ready(
            "wait for the failover of global datastore ldgnf-mint-global from \
             us-east-1/mint-cache-east to us-west-2/mint-cache-west, already requested; now \
             status=modifying, primary=us-east-1/mint-cache-east"
        )
    );
    let out = failover.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("primary_region"), Some("us-west-2"));
}

/// Rollback fails back to the previous primary with the same call, in the compensation's own
/// intent; only when this step failed over.
#[tokio::test(start_paused = true)]
async fn rollback_fails_back_only_when_this_step_failed_over() {
    let mut api = MockElastiCacheApi::new();
    globals(
        &mut api,
        vec![
            Ok(global("available", "east")), // execute reads
            Ok(global("available", "west")), // done
            Ok(global("available", "west")), // rollback reads
            Ok(global("modifying", "west")),
            Ok(global("available", "east")),
        ],
    );
    let mut seq = mockall::Sequence::new();
    api.expect_failover_global_datastore()
        .with(eq(GLOBAL), eq("us-west-2"), eq("mint-cache-west"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    api.expect_failover_global_datastore()
        .with(eq(GLOBAL), eq("us-east-1"), eq("mint-cache-east"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(()));
    let journal = Arc::new(Journal::default());
    let ctx = Context::new()
        .with_step("cache-region")
        .with_intent_log(Arc::clone(&journal) as Arc<dyn drkit_core::IntentLog>);
    let failover = action(api);
    failover.execute(&ctx).await.unwrap();
    failover.rollback(&ctx).await.unwrap();
    assert_eq!(
        journal.records("to_region"),
        ["us-west-2", "rollback:us-east-1"]
    );

    // Found done (nothing failed over by this step): nothing to roll back.
    let mut api = MockElastiCacheApi::new();
    globals(&mut api, vec![Ok(global("available", "west"))]);
    api.expect_failover_global_datastore().never();
    let done = action(api);
    let out = done.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("previous_primary_region"), Some(""));
    let recorded = Context::new().with_outputs(std::collections::BTreeMap::from([(
        "cache-region".to_owned(),
        out,
    )]));
    assert_eq!(
        done.rollback(&recorded).await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}

/// After a resume in another process: a new instance fails back from the recorded outputs.
#[tokio::test(start_paused = true)]
async fn rollback_after_a_resume_uses_the_recorded_previous_primary() {
    let mut api = MockElastiCacheApi::new();
    globals(
        &mut api,
        vec![
            Ok(global("available", "west")),
            Ok(global("available", "east")),
        ],
    );
    api.expect_failover_global_datastore()
        .with(eq(GLOBAL), eq("us-east-1"), eq("mint-cache-east"))
        .times(1)
        .returning(|_, _, _| Ok(()));
    let ctx = Context::new().with_outputs(std::collections::BTreeMap::from([(
        "cache-region".to_owned(),
        Outputs::new()
            .with("primary_region", "us-west-2")
            .with("primary_replication_group", "mint-cache-west")
            .with("previous_primary_region", "us-east-1")
            .with("previous_primary_replication_group", "mint-cache-east"),
    )]));
    action(api).rollback(&ctx).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn cancellation_mid_wait_stops_promptly_and_a_dry_run_sends_nothing() {
    let mut api = MockElastiCacheApi::new();
    globals(
        &mut api,
        vec![
            Ok(global("available", "east")),
            Ok(global("modifying", "east")),
        ],
    );
    api.expect_failover_global_datastore()
        .with(eq(GLOBAL), eq("us-west-2"), eq("mint-cache-west"))
        .times(1)
        .returning(|_, _, _| Ok(()));
    let token = CancellationToken::new();
    let ctx = Context::new().with_cancellation(token.clone());
    let failover = action(api);
    let cancel = async {
        tokio::time::sleep(Duration::from_secs(20)).await;
        token.cancel();
    };
    let started = tokio::time::Instant::now();
    let ((), result) = tokio::join!(cancel, failover.execute(&ctx));
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Cancelled);
    assert_eq!(started.elapsed(), Duration::from_secs(20));

    let mut api = MockElastiCacheApi::new();
    api.expect_describe_global_datastore().never();
    api.expect_failover_global_datastore().never();
    let err = action(api)
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}
