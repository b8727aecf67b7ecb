//! Unit tests of `rds.failover_db_cluster` against the mocked port: what moto cannot show
//! (moto fails over instantly, never throttles, and has no `failing-over` state).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{
    ActionExt, ActionRef, CancellationToken, ProgressEvent, ProgressKind, RecoveryAction,
    RetryPolicy,
};
use mockall::predicate::eq;

use super::*;
use crate::port::{ClusterMember, DbInstance, MockRdsApi};
use crate::{MAX_UNANSWERED_SENDS, UNSTARTED_GRACE};

const CLUSTER: &str = "mint-replica-cluster";

fn cluster(status: &str, writer: &str, readers: &[&str]) -> DbCluster {
    let mut members = vec![ClusterMember::writer(writer)];
    members.extend(readers.iter().map(|r| ClusterMember::reader(*r)));
    DbCluster::new(CLUSTER, status, members)
}

/// `describe_db_cluster` answers these states in order, repeating the last one.
fn states(api: &mut MockRdsApi, states: Vec<Result<DbCluster, ActionError>>) {
    let queue = Mutex::new(VecDeque::from(states));
    api.expect_describe_db_cluster()
        .with(eq(CLUSTER))
        .returning(move |_| {
            let mut queue = queue.lock().unwrap();
            if queue.len() > 1 {
                queue.pop_front().unwrap()
            } else {
                match queue.front().unwrap() {
                    Ok(c) => Ok(c.clone()),
                    Err(e) => Err(ActionError::new(e.kind(), e.message())),
                }
            }
        });
}

fn instances_available(api: &mut MockRdsApi) {
    api.expect_describe_db_instance()
        .returning(|id| Ok(DbInstance::new(id, "available")));
}

fn action(api: MockRdsApi, target: Option<&str>) -> FailoverDbCluster {
    let mut params = FailoverDbClusterParams::new(CLUSTER);
    params.target_instance = target.map(str::to_owned);
    FailoverDbCluster::new("failover-db", params, Arc::new(api), Some("us-east-1"))
}

fn throttled() -> ActionError {
    ActionError::new(ErrorKind::Throttled, "Rate exceeded").with_code("Throttling")
}

fn recorder() -> (
    Arc<Mutex<Vec<ProgressEvent>>>,
    impl Fn(ProgressEvent) + Send + Sync + 'static,
) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let events = Arc::clone(&events);
        move |e| events.lock().unwrap().push(e)
    };
    (events, sink)
}

#[tokio::test(start_paused = true)]
async fn waits_through_failing_over_until_the_target_writes() {
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            Ok(cluster("available", "a", &["b"])),
            Ok(cluster("failing-over", "a", &["b"])),
            Ok(cluster("failing-over", "b", &["a"])),
            Ok(cluster("available", "b", &["a"])),
        ],
    );
    instances_available(&mut api);
    api.expect_failover_db_cluster()
        .withf(|c, t| c == CLUSTER && *t == Some("b"))
        .times(1)
        .returning(|_, _| Ok(()));
    let (events, sink) = recorder();
    let ctx = Context::new().with_step("failover-db").with_events(sink);

    let out = action(api, Some("b")).execute(&ctx).await.unwrap();

    assert_eq!(out.get_str("writer"), Some("b"));
    assert_eq!(out.get_str("previous_writer"), Some("a"));
    assert_eq!(out.get_str("cluster_status"), Some("available"));
    let polls: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            ProgressKind::Poll { state, .. } => Some(state.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        polls,
        [
            "status=failing-over, writer=a",
            "status=failing-over, writer=b",
            "done"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_target_any_new_writer_completes_it() {
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            Ok(cluster("available", "a", &["b", "c"])),
            Ok(cluster("failing-over", "a", &["b", "c"])),
            Ok(cluster("available", "c", &["a", "b"])),
        ],
    );
    instances_available(&mut api);
    api.expect_failover_db_cluster()
        .withf(|_, t| t.is_none())
        .times(1)
        .returning(|_, _| Ok(()));
    let failover = action(api, None);
    let out = failover.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("writer"), Some("c"));
    // Afterwards check knows the failover this action made is done.
    assert!(failover.check(&Context::new()).await.unwrap().is_done());
    assert_eq!(
        failover.verify(&Context::new()).await.unwrap(),
        "cluster mint-replica-cluster is available with writer c"
    );
}

#[tokio::test(start_paused = true)]
async fn throttling_while_waiting_does_not_end_the_wait() {
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            Ok(cluster("available", "a", &["b"])),
            Err(throttled()),
            Err(throttled()),
            Ok(cluster("available", "b", &["a"])),
        ],
    );
    instances_available(&mut api);
    api.expect_failover_db_cluster()
        .times(1)
        .returning(|_, _| Ok(()));
    let out = action(api, Some("b"))
        .execute(&Context::new())
        .await
        .unwrap();
    assert_eq!(out.get_str("writer"), Some("b"));
}

#[tokio::test(start_paused = true)]
async fn a_throttled_failover_call_is_retried_by_the_retry_layer() {
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            Ok(cluster("available", "a", &["b"])), // execute #1 reads the writer
            Ok(cluster("available", "a", &["b"])), // retry layer re-checks: ready
            Ok(cluster("available", "a", &["b"])), // execute #2 reads the writer
            Ok(cluster("available", "b", &["a"])), // the wait sees the new writer
        ],
    );
    instances_available(&mut api);
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    api.expect_failover_db_cluster()
        .times(2)
        .returning(move |_, _| {
            let mut n = c.lock().unwrap();
            *n += 1;
            if *n == 1 { Err(throttled()) } else { Ok(()) }
        });
    let failover: ActionRef = Arc::new(action(api, Some("b")));
    let failover = failover.with_retry(RetryPolicy::attempts(3).jitter(false));
    let out = failover.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("writer"), Some("b"));
    assert_eq!(*calls.lock().unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_non_retryable_error_fails_at_once_with_context() {
    let mut api = MockRdsApi::new();
    states(&mut api, vec![Ok(cluster("available", "a", &["b"]))]);
    instances_available(&mut api);
    api.expect_failover_db_cluster().times(1).returning(|_, _| {
        Err(
            ActionError::new(ErrorKind::Conflict, "DB cluster is not in available state")
                .with_code("InvalidDBClusterStateFault"),
        )
    });
    let failover: ActionRef = Arc::new(action(api, Some("b")));
    let failover = failover.with_retry(RetryPolicy::attempts(5));
    let err = failover.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "rds.failover_db_cluster [failover-db] on rds:db-cluster/mint-replica-cluster@us-east-1: \
         FailoverDBCluster: DB cluster is not in available state \
         (code InvalidDBClusterStateFault; conflict, a retry will not help)"
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_ends_a_failover_that_never_completes() {
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            Ok(cluster("available", "a", &["b"])),
            Ok(cluster("failing-over", "a", &["b"])),
        ],
    );
    instances_available(&mut api);
    api.expect_failover_db_cluster()
        .times(1)
        .returning(|_, _| Ok(()));
    let ctx = Context::new().with_timeout(Duration::from_secs(30 * 60));
    let started = tokio::time::Instant::now();
    let err = action(api, Some("b")).execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert!(
        err.message().contains("status=failing-over, writer=a"),
        "{err}"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(30 * 60));
}

#[tokio::test(start_paused = true)]
async fn cancellation_mid_wait_stops_promptly() {
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            Ok(cluster("available", "a", &["b"])),
            Ok(cluster("failing-over", "a", &["b"])),
        ],
    );
    instances_available(&mut api);
    api.expect_failover_db_cluster()
        .times(1)
        .returning(|_, _| Ok(()));
    let token = CancellationToken::new();
    let ctx = Context::new().with_cancellation(token.clone());
    let failover = action(api, Some("b"));
    let cancel = async {
        tokio::time::sleep(Duration::from_secs(90)).await;
        token.cancel();
    };
    let started = tokio::time::Instant::now();
    let ((), result) = tokio::join!(cancel, failover.execute(&ctx));
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Cancelled);
    assert_eq!(started.elapsed(), Duration::from_secs(90));
}

#[tokio::test(start_paused = true)]
async fn executing_again_after_a_failed_wait_does_not_fail_over_twice() {
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            Ok(cluster("available", "a", &["b"])),
            Ok(cluster("failing-over", "a", &["b"])), // polls at 0 s, 1 s and 1.5 s
            Ok(cluster("failing-over", "a", &["b"])),
            Ok(cluster("failing-over", "a", &["b"])),
            Ok(cluster("failing-over", "a", &["b"])),
            Ok(cluster("available", "b", &["a"])),
        ],
    );
    instances_available(&mut api);
    api.expect_failover_db_cluster()
        .times(1)
        .returning(|_, _| Ok(()));
    let failover = action(api, Some("b"));
    // The first attempt runs out of time while RDS is still failing over...
    let short = Context::new().with_timeout(Duration::from_millis(1500));
    let err = failover.execute(&short).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    // ...the second only waits for the failover already requested.
    let out = failover.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("writer"), Some("b"));
    assert_eq!(out.get_str("previous_writer"), Some("a"));
}

#[tokio::test]
async fn check_reports_done_ready_and_blocked() {
    let check = |c: Result<DbCluster, ActionError>,
                 target: Option<&'static str>,
                 instance_status: &'static str| async move {
        let mut api = MockRdsApi::new();
        states(&mut api, vec![c]);
        api.expect_describe_db_instance()
            .returning(move |id| Ok(DbInstance::new(id, instance_status)));
        api.expect_failover_db_cluster().never();
        action(api, target).check(&Context::new()).await.unwrap()
    };

    let done = check(
        Ok(cluster("available", "b", &["a"])),
        Some("b"),
        "available",
    )
    .await;
    assert!(done.is_done(), "{done:?}");
    if let Check::Done { outputs, .. } = &done {
        assert_eq!(outputs.get_str("writer"), Some("b"));
    }

    assert_eq!(
        check(
            Ok(cluster("available", "a", &["b"])),
            Some("b"),
            "available"
        )
        .await,
        Check::ready("fail over DB cluster mint-replica-cluster: writer a -> b")
    );
    assert_eq!(
        check(Ok(cluster("available", "a", &["b"])), None, "available").await,
        Check::ready(
            "fail over DB cluster mint-replica-cluster: writer a -> a reader chosen by RDS"
        )
    );
    assert_eq!(
        check(
            Ok(cluster("modifying", "a", &["b"])),
            Some("b"),
            "available"
        )
        .await,
        Check::ready(
            "wait for the operation in progress on DB cluster mint-replica-cluster to end \
             (now: status=modifying, writer=a), then fail it over to b"
        )
    );
    // A state that does not end by waiting blocks.
    assert_eq!(
        check(Ok(cluster("stopped", "a", &["b"])), Some("b"), "available").await,
        Check::blocked("cluster mint-replica-cluster is stopped, not available")
    );
    assert_eq!(
        check(
            Ok(cluster("available", "a", &["b"])),
            Some("x"),
            "available"
        )
        .await,
        Check::blocked("x is not a member of cluster mint-replica-cluster (members: a, b)")
    );
    assert_eq!(
        check(Ok(cluster("available", "a", &[])), None, "available").await,
        Check::blocked("cluster mint-replica-cluster has no reader to promote")
    );
    assert_eq!(
        check(
            Ok(cluster("available", "a", &["b"])),
            Some("b"),
            "rebooting"
        )
        .await,
        Check::blocked("no reader is available to promote: b is rebooting")
    );
    assert_eq!(
        check(
            Err(ActionError::new(
                ErrorKind::NotFound,
                "DBClusterNotFoundFault"
            )),
            None,
            "available"
        )
        .await,
        Check::blocked("DB cluster mint-replica-cluster does not exist")
    );
}

#[tokio::test]
async fn execute_refuses_to_run_in_a_dry_run() {
    let mut api = MockRdsApi::new();
    api.expect_describe_db_cluster().never();
    api.expect_failover_db_cluster().never();
    let err = action(api, Some("b"))
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test(start_paused = true)]
async fn rollback_fails_back_to_the_previous_writer() {
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            Ok(cluster("available", "a", &["b"])),
            Ok(cluster("available", "b", &["a"])),
            Ok(cluster("available", "b", &["a"])), // rollback reads the writer
            Ok(cluster("available", "a", &["b"])),
        ],
    );
    instances_available(&mut api);
    let mut seq = mockall::Sequence::new();
    api.expect_failover_db_cluster()
        .withf(|_, t| *t == Some("b"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    api.expect_failover_db_cluster()
        .withf(|_, t| *t == Some("a"))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    let failover = action(api, Some("b"));
    assert!(
        failover.rollback(&Context::new()).await.is_err(),
        "nothing to roll back yet"
    );
    failover.execute(&Context::new()).await.unwrap();
    failover.rollback(&Context::new()).await.unwrap();
}

/// After a resume the action instance is new: it fails back to the writer the step recorded
/// (`previous_writer`), and refuses when the record shows no change.
#[tokio::test(start_paused = true)]
async fn rollback_after_a_resume_uses_the_recorded_previous_writer() {
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            Ok(cluster("available", "b", &["a"])), // the rollback reads
            Ok(cluster("available", "a", &["b"])),
        ],
    );
    instances_available(&mut api);
    api.expect_failover_db_cluster()
        .withf(|_, t| *t == Some("a"))
        .times(1)
        .returning(|_, _| Ok(()));
    let recorded = |writer: &str, previous: &str| {
        Context::new().with_outputs(std::collections::BTreeMap::from([(
            "failover-db".to_owned(),
            drkit_core::Outputs::new()
                .with("writer", writer)
                .with("previous_writer", previous)
                .with("cluster_status", "available"),
        )]))
    };
    action(api, Some("b"))
        .rollback(&recorded("b", "a"))
        .await
        .unwrap();
    let err = action(MockRdsApi::new(), Some("b"))
        .rollback(&recorded("b", "b"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
}

/// The case 1 with mocks: `FailoverDBCluster` reached RDS but its answer was lost (no
/// AWS error code). Never sent again, even under the retry layer: the step waits for a writer
/// other than the one it recorded, with no target too.
#[tokio::test(start_paused = true)]
async fn a_lost_answer_is_reconciled_by_reading_not_by_a_second_failover() {
    for target in [None, Some("b")] {
        let mut api = MockRdsApi::new();
        states(
            &mut api,
            vec![
                Ok(cluster("available", "a", &["b"])),
                Ok(cluster("failing-over", "a", &["b"])),
                Ok(cluster("available", "b", &["a"])),
            ],
        );
        instances_available(&mut api);
        api.expect_failover_db_cluster().times(1).returning(|_, _| {
            Err(ActionError::new(
                ErrorKind::Unavailable,
                "response error: connection closed before message completed",
            ))
        });
        let failover: ActionRef = Arc::new(action(api, target));
        let failover = failover.with_retry(RetryPolicy::attempts(3).jitter(false));
        let ctx = Context::new();
        let out = failover.execute(&ctx).await.unwrap();
        assert_eq!(out.get_str("writer"), Some("b"), "target {target:?}");
        assert_eq!(out.get_str("previous_writer"), Some("a"));
        assert_eq!(ctx.intent().unwrap().get_str("from"), Some("a"));
    }
}

/// A lost answer and a cluster that shows no sign of a failover (still `available` with the
/// same writer) for `UNSTARTED_GRACE`: the request never reached RDS, so it is sent again.
/// Never answered, it is sent `MAX_UNANSWERED_SENDS` times in all, then the step fails at its
/// deadline, saying so.
#[tokio::test(start_paused = true)]
async fn an_unanswered_failover_with_no_sign_of_it_is_sent_again_once() {
    let lost = || ActionError::new(ErrorKind::Timeout, "operation timed out");
    // Sent again after the grace: the second one is accepted and the failover happens.
    let mut api = MockRdsApi::new();
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    let seen = Arc::clone(&calls);
    api.expect_describe_db_cluster().returning(move |_| {
        Ok(if *seen.lock().unwrap() < 2 {
            cluster("available", "a", &["b"])
        } else {
            cluster("available", "b", &["a"])
        })
    });
    instances_available(&mut api);
    api.expect_failover_db_cluster()
        .times(2)
        .returning(move |_, _| {
            let mut n = c.lock().unwrap();
            *n += 1;
            if *n == 1 { Err(lost()) } else { Ok(()) }
        });
    let started = tokio::time::Instant::now();
    let ctx = Context::new().with_timeout(Duration::from_secs(300));
    let out = action(api, None).execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("writer"), Some("b"));
    assert!(started.elapsed() >= UNSTARTED_GRACE);

    // Never answered: MAX_UNANSWERED_SENDS requests, no more.
    let mut api = MockRdsApi::new();
    states(&mut api, vec![Ok(cluster("available", "a", &["b"]))]);
    instances_available(&mut api);
    api.expect_failover_db_cluster()
        .times(MAX_UNANSWERED_SENDS)
        .returning(move |_, _| Err(lost()));
    let ctx = Context::new().with_timeout(Duration::from_secs(600));
    let err = action(api, None).execute(&ctx).await.unwrap_err();
    assert!(err.maybe_applied(), "{err}");
    assert!(
        err.to_string()
            .contains("FailoverDBCluster's answer was lost")
            && err.to_string().contains("not sent again"),
        "{err}"
    );
}

/// CI's fault drill: lost, then the resend refused with a coded 5xx. The refusal clears what
/// the action remembered, so the retry layer's next attempt sends afresh instead of waiting for
/// a failover nobody requested.
#[tokio::test(start_paused = true)]
async fn a_refused_resend_is_retried_afresh_not_waited_for() {
    let mut api = MockRdsApi::new();
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    let seen = Arc::clone(&calls);
    api.expect_describe_db_cluster().returning(move |_| {
        Ok(if *seen.lock().unwrap() < 3 {
            cluster("available", "a", &["b"])
        } else {
            cluster("available", "b", &["a"])
        })
    });
    instances_available(&mut api);
    api.expect_failover_db_cluster()
        .times(3)
        .returning(move |_, _| {
            let mut n = c.lock().unwrap();
            *n += 1;
            match *n {
                1 => Err(ActionError::new(ErrorKind::Timeout, "operation timed out")),
                2 => Err(ActionError::new(ErrorKind::Unavailable, "Internal failure")
                    .with_code("InternalFailure")),
                _ => Ok(()),
            }
        });
    let failover: ActionRef = Arc::new(action(api, None));
    let failover = failover.with_retry(RetryPolicy::attempts(3).jitter(false));
    let ctx = Context::new().with_timeout(Duration::from_secs(600));
    let out = failover.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("writer"), Some("b"));
}

/// The case 2 with mocks: `drkit resume` after a SIGKILL during the wait. The journalled
/// intent says which writer the step left; a cluster whose writer is another one is done, not
/// failed over again (back to the writer the plan just left).
#[tokio::test(start_paused = true)]
async fn a_resumed_step_with_a_recorded_intent_never_fails_over_again() {
    let resumed = || {
        Context::new()
            .with_recorded_intent(Some(Outputs::new().with("from", "a").with("target", "")))
    };
    let mut api = MockRdsApi::new();
    states(&mut api, vec![Ok(cluster("available", "b", &["a"]))]);
    api.expect_failover_db_cluster().never();
    let failover = action(api, None);
    match failover.check(&resumed()).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("writer"), Some("b"));
            assert_eq!(outputs.get_str("previous_writer"), Some("a"));
        }
        other => panic!("expected done, got {other:?}"),
    }

    // Still failing over when resumed: it waits for that failover, sending nothing.
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            Ok(cluster("failing-over", "a", &["b"])),
            Ok(cluster("failing-over", "a", &["b"])),
            Ok(cluster("available", "b", &["a"])),
        ],
    );
    api.expect_failover_db_cluster().never();
    let failover = action(api, None);
    let ctx = resumed();
    assert!(matches!(
        failover.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = failover.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("writer"), Some("b"));
}

fn state_fault() -> ActionError {
    ActionError::new(ErrorKind::Conflict, "DB cluster is not in available state")
        .with_code("InvalidDBClusterStateFault")
}

/// A cluster busy with another operation (`modifying`, or an automatic failover) is waited
/// for, then the failover is decided again: RDS refuses it meanwhile.
#[tokio::test(start_paused = true)]
async fn a_busy_cluster_is_waited_for_before_the_failover() {
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            Ok(cluster("modifying", "a", &["b"])),
            Ok(cluster("modifying", "a", &["b"])),
            Ok(cluster("available", "a", &["b"])),
            Ok(cluster("failing-over", "a", &["b"])),
            Ok(cluster("available", "b", &["a"])),
        ],
    );
    instances_available(&mut api);
    api.expect_failover_db_cluster()
        .times(1)
        .returning(|_, _| Ok(()));
    let out = action(api, Some("b"))
        .execute(&Context::new())
        .await
        .unwrap();
    assert_eq!(out.get_str("writer"), Some("b"));
    assert_eq!(out.get_str("previous_writer"), Some("a"));
}

/// `InvalidDBClusterStateFault` because another operation started between the read and the
/// call: nothing changed; drkit waits for it to end and decides again (here the other
/// operation was a failover to the same target: nothing more is sent).
#[tokio::test(start_paused = true)]
async fn a_failover_refused_while_another_operation_runs_is_decided_again() {
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            Ok(cluster("available", "a", &["b"])),
            Ok(cluster("failing-over", "a", &["b"])),
            Ok(cluster("failing-over", "a", &["b"])),
            Ok(cluster("available", "b", &["a"])),
        ],
    );
    instances_available(&mut api);
    api.expect_failover_db_cluster()
        .times(1)
        .returning(|_, _| Err(state_fault()));
    let (events, sink) = recorder();
    let out = action(api, Some("b"))
        .execute(&Context::new().with_events(sink))
        .await
        .unwrap();
    assert_eq!(out.get_str("writer"), Some("b"));
    let said: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            ProgressKind::Message { text } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(
        said.iter()
            .any(|t| t.contains("InvalidDBClusterStateFault") && t.contains("failing-over")),
        "{said:?}"
    );
}

/// The same fault with the cluster settled (a state that waiting does not fix) stays the
/// conflict it is.
#[tokio::test(start_paused = true)]
async fn a_state_fault_on_a_settled_cluster_is_a_conflict() {
    let mut api = MockRdsApi::new();
    states(&mut api, vec![Ok(cluster("available", "a", &["b"]))]);
    instances_available(&mut api);
    api.expect_failover_db_cluster()
        .times(1)
        .returning(|_, _| Err(state_fault()));
    let err = action(api, Some("b"))
        .execute(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.code(), Some("InvalidDBClusterStateFault"));
}
