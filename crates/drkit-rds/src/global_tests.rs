//! Unit tests of the Aurora Global Database actions against the mocked port, with the states
//! AWS documents (`FailoverState` `pending` / `switching-over` / `failing-over`, the global
//! cluster `modifying`) and its error shapes: moto implements neither SwitchoverGlobalCluster
//! nor FailoverGlobalCluster, and shows no intermediate state.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionExt, ActionRef, RetryPolicy};
use serde_json::json;

use super::*;
use crate::port::{
    ClusterMember, Datapoint, DbCluster, GlobalFailover, MockMetricsApi, MockRdsApi,
};
use crate::{MetricsApi, RdsPorts, register_with};

const GLOBAL: &str = "mint-global";
const EAST: &str = "arn:aws:rds:us-east-1:123456789012:cluster:mint-primary";
const WEST: &str = "arn:aws:rds:us-west-2:123456789012:cluster:mint-dr";

fn global(status: &str, writer: &str) -> GlobalCluster {
    GlobalCluster::new(
        GLOBAL,
        status,
        vec![
            GlobalMember::new(EAST, writer == EAST),
            GlobalMember::new(WEST, writer == WEST),
        ],
    )
}

fn switching(status: &str, writer: &str, data_loss: bool) -> GlobalCluster {
    let mut g = global("modifying", writer);
    g.failover = Some(GlobalFailover {
        status: status.into(),
        from: Some(EAST.into()),
        to: Some(WEST.into()),
        data_loss_allowed: data_loss,
    });
    g
}

/// `describe_global_cluster` answers these states in order, repeating the last one.
fn states(api: &mut MockRdsApi, states: Vec<GlobalCluster>) {
    let queue = Mutex::new(VecDeque::from(states));
    api.expect_describe_global_cluster().returning(move |_| {
        let mut queue = queue.lock().unwrap();
        let next = if queue.len() > 1 {
            queue.pop_front()
        } else {
            queue.front().cloned()
        };
        next.ok_or_else(|| ActionError::new(ErrorKind::NotFound, "no global cluster"))
    });
}

fn registry(api: MockRdsApi) -> Registry {
    // CloudWatch without datapoints.
    registry_with_metrics(api, |_| {
        let mut m = MockMetricsApi::new();
        m.expect_lag().returning(|_, _, _, _| Ok(Vec::new()));
        m
    })
}

/// The registry over `api`, and the metrics port `metrics(region)` of each region.
fn registry_with_metrics(
    api: MockRdsApi,
    metrics: impl Fn(Option<&str>) -> MockMetricsApi + Send + Sync + 'static,
) -> Registry {
    let api: Arc<dyn RdsApi> = Arc::new(api);
    let mut registry = Registry::new();
    register_with(
        &mut registry,
        &RdsPorts {
            rds: PortFactory::new(move |_| Arc::clone(&api)),
            metrics: PortFactory::new(move |region| {
                Arc::new(metrics(region)) as Arc<dyn MetricsApi>
            }),
        },
    )
    .unwrap();
    registry
}

fn build(api: MockRdsApi, kind: &str, params: serde_json::Value) -> ActionRef {
    registry(api)
        .build(&ActionSpec::new("db-region", kind, params).in_region("us-west-2"))
        .unwrap()
        .with_retry(RetryPolicy::attempts(3).jitter(false))
}

fn lost() -> ActionError {
    ActionError::new(
        ErrorKind::Unavailable,
        "response error: connection closed before message completed",
    )
}

#[tokio::test]
async fn the_check_reports_members_regions_and_the_writer() {
    let mut api = MockRdsApi::new();
    states(&mut api, vec![global("available", EAST)]);
    let check = build(
        api,
        "rds.check_global_cluster",
        json!({"global_cluster": GLOBAL}),
    );
    let ctx = Context::new();
    match check.check(&ctx).await.unwrap() {
        Check::Done { detail, outputs } => {
            assert_eq!(
                detail,
                "global cluster mint-global is available, writer mint-primary in us-east-1; \
                 members: us-east-1/mint-primary (writer), us-west-2/mint-dr (secondary)"
            );
            assert_eq!(outputs.get_str("writer"), Some(EAST));
            assert_eq!(outputs.get_str("writer_region"), Some("us-east-1"));
        }
        other => panic!("{other:?}"),
    }

    // Mid-failover it does not hold; a missing global cluster is a failed finding.
    let mut api = MockRdsApi::new();
    states(&mut api, vec![switching("failing-over", EAST, true)]);
    let check = build(
        api,
        "rds.check_global_cluster",
        json!({"global_cluster": GLOBAL}),
    );
    assert!(matches!(
        check.check(&ctx).await.unwrap(),
        Check::Blocked { .. }
    ));
    let mut api = MockRdsApi::new();
    states(&mut api, vec![]);
    let check = build(
        api,
        "rds.check_global_cluster",
        json!({"global_cluster": GLOBAL}),
    );
    let blocked = check.check(&ctx).await.unwrap();
    assert_eq!(
        blocked,
        Check::blocked("global cluster mint-global does not exist")
    );
}

/// The secondaries' lag, read in each secondary's region, milliseconds to seconds; an impaired
/// region is not read, and the output is left out without failing the check.
#[tokio::test]
async fn the_check_reads_the_secondaries_lag_in_their_region() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = Arc::clone(&calls);
    let mut api = MockRdsApi::new();
    states(&mut api, vec![global("available", EAST)]);
    let registry = registry_with_metrics(api, move |region| {
        let region = region.unwrap_or_default().to_owned();
        let c = Arc::clone(&c);
        let mut m = MockMetricsApi::new();
        m.expect_lag()
            .returning(move |metric, dimension, value, _| {
                c.lock()
                    .unwrap()
                    .push(format!("{region}:{metric}:{dimension}={value}"));
                Ok(vec![Datapoint {
                    at: std::time::SystemTime::now(),
                    value: if metric == "AuroraGlobalDBRPOLag" {
                        1500.0
                    } else {
                        250.0
                    },
                }])
            });
        m
    });
    let check = registry
        .build(
            &ActionSpec::new(
                "db-global",
                "rds.check_global_cluster",
                json!({"global_cluster": GLOBAL}),
            )
            .in_region("us-west-2"),
        )
        .unwrap();
    match check.check(&Context::new()).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get("replication_lag_seconds"), Some(&json!(0.25)));
            assert_eq!(outputs.get("rpo_lag_seconds"), Some(&json!(1.5)));
        }
        other => panic!("{other:?}"),
    }
    // Only the secondary, in its own region, per cluster.
    assert_eq!(
        *calls.lock().unwrap(),
        vec![
            "us-west-2:AuroraGlobalDBReplicationLag:DBClusterIdentifier=mint-dr".to_owned(),
            "us-west-2:AuroraGlobalDBRPOLag:DBClusterIdentifier=mint-dr".to_owned(),
        ]
    );
    // us-west-2 impaired: not read, the outputs absent, the check still holds.
    calls.lock().unwrap().clear();
    match check
        .check(&Context::new().with_impaired_regions(["us-west-2"]))
        .await
        .unwrap()
    {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get("replication_lag_seconds"), None);
            assert_eq!(outputs.get("rpo_lag_seconds"), None);
        }
        other => panic!("{other:?}"),
    }
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_switchover_waits_through_switching_over_and_rolls_back() {
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            global("available", EAST),         // check
            global("available", EAST),         // execute reads
            switching("pending", EAST, false), // the wait
            switching("switching-over", WEST, false),
            global("available", WEST), // done; verify; check
            global("available", WEST),
            global("available", WEST),
            global("available", WEST), // rollback reads
            switching("switching-over", EAST, false),
            global("available", EAST),
        ],
    );
    api.expect_switchover_global_cluster()
        .withf(|g, t| g == GLOBAL && t == WEST)
        .times(1)
        .returning(|_, _| Ok(()));
    api.expect_switchover_global_cluster()
        .withf(|g, t| g == GLOBAL && t == EAST)
        .times(1)
        .returning(|_, _| Ok(()));
    // By identifier in the step's Region (us-west-2).
    let switch = build(
        api,
        "rds.switchover_global_cluster",
        json!({"global_cluster": GLOBAL, "target_cluster": "mint-dr"}),
    );
    let ctx = Context::new();
    assert_eq!(
        switch.check(&ctx).await.unwrap(),
        Check::ready(
            "SwitchoverGlobalCluster of global cluster mint-global: writer mint-primary -> \
             mint-dr in us-west-2"
        )
    );
    let out = switch.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("writer"), Some(WEST));
    assert_eq!(out.get_str("previous_writer"), Some(EAST));
    switch.verify(&ctx).await.unwrap();
    assert!(switch.check(&ctx).await.unwrap().is_done());
    switch.rollback(&ctx).await.unwrap();
}

/// The failover reports the RPO lag the target had just before it (AuroraGlobalDBRPOLag, in
/// the target's region, ms -> s), for the report's RPO verdict.
#[tokio::test(start_paused = true)]
async fn a_failover_reports_the_rpo_lag_the_target_had_before_it() {
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            global("available", EAST), // rpo_lag reads the target
            global("available", EAST), // switch_apply
            global("available", WEST),
        ],
    );
    api.expect_failover_global_cluster()
        .withf(|g, t| g == GLOBAL && t == WEST)
        .times(1)
        .returning(|_, _| Ok(()));
    let registry = registry_with_metrics(api, |region| {
        let region = region.unwrap_or_default().to_owned();
        let mut m = MockMetricsApi::new();
        m.expect_lag()
            .withf(move |metric, dimension, value, _| {
                region == "us-west-2"
                    && metric == "AuroraGlobalDBRPOLag"
                    && dimension == "DBClusterIdentifier"
                    && value == "mint-dr"
            })
            .returning(|_, _, _, _| {
                Ok(vec![Datapoint {
                    at: std::time::SystemTime::now(),
                    value: 2500.0,
                }])
            });
        m
    });
    let failover = registry
        .build(
            &ActionSpec::new(
                "db-failover",
                "rds.failover_global_cluster",
                json!({"global_cluster": GLOBAL, "target_cluster": WEST, "allow_data_loss": true}),
            )
            .in_region("us-west-2"),
        )
        .unwrap();
    let out = failover.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("rpo_seconds"), Some(&json!(2.5)));
    assert_eq!(out.get_str("rpo_class"), Some("database"));
    assert_eq!(out.get_str("writer"), Some(WEST));
}

/// A switch whose request never reached RDS (a time-out before it was sent: the fault drill's
/// held request) shows no sign after the grace: it is sent again, and the run goes on. One that
/// shows a sign is never sent again (the test below).
#[tokio::test(start_paused = true)]
async fn a_switch_that_never_reached_rds_is_sent_again_after_the_grace() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let sent = Arc::new(AtomicUsize::new(0));
    let mut api = MockRdsApi::new();
    let s = Arc::clone(&sent);
    api.expect_describe_global_cluster().returning(move |_| {
        // The second request is the one that reaches RDS.
        Ok(if s.load(Ordering::SeqCst) >= 2 {
            global("available", WEST)
        } else {
            global("available", EAST)
        })
    });
    let s = Arc::clone(&sent);
    api.expect_switchover_global_cluster()
        .times(2)
        .returning(move |_, _| {
            if s.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(lost())
            } else {
                Ok(())
            }
        });
    let switch = build(
        api,
        "rds.switchover_global_cluster",
        json!({"global_cluster": GLOBAL, "target_cluster": WEST}),
    );
    let started = tokio::time::Instant::now();
    let out = switch.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("writer"), Some(WEST));
    assert_eq!(sent.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() >= crate::UNSTARTED_GRACE);
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_or_a_resume_never_sends_a_second_switch() {
    for kind in [
        "rds.switchover_global_cluster",
        "rds.failover_global_cluster",
    ] {
        let failover = kind == "rds.failover_global_cluster";
        let mut api = MockRdsApi::new();
        // The failover reads the global cluster once more first (for the target's RPO lag).
        let before = if failover { 2 } else { 1 };
        let mut answers = vec![global("available", EAST); before];
        answers.extend([
            switching("failing-over", EAST, failover),
            global("available", WEST),
        ]);
        states(&mut api, answers);
        if failover {
            api.expect_failover_global_cluster()
                .times(1)
                .returning(|_, _| Err(lost()));
        } else {
            api.expect_switchover_global_cluster()
                .times(1)
                .returning(|_, _| Err(lost()));
        }
        let mut params = json!({"global_cluster": GLOBAL, "target_cluster": WEST});
        if failover {
            params["allow_data_loss"] = json!(true);
        }
        let ctx = Context::new();
        let out = build(api, kind, params.clone())
            .execute(&ctx)
            .await
            .unwrap();
        assert_eq!(out.get_str("writer"), Some(WEST), "{kind}");
        assert_eq!(ctx.intent().unwrap().get_str("from"), Some(EAST));

        // Resumed with the journalled intent: no call, done or waiting.
        let mut api = MockRdsApi::new();
        states(
            &mut api,
            vec![
                switching("switching-over", EAST, failover),
                global("available", WEST),
            ],
        );
        api.expect_switchover_global_cluster().never();
        api.expect_failover_global_cluster().never();
        let resumed = Context::new()
            .with_recorded_intent(Some(Outputs::new().with("from", EAST).with("target", WEST)));
        let action = build(api, kind, params);
        assert!(matches!(
            action.check(&resumed).await.unwrap(),
            Check::Ready { change } if change.contains("requested earlier")
        ));
        let out = action.execute(&resumed).await.unwrap();
        assert_eq!(out.get_str("previous_writer"), Some(EAST), "{kind}");
    }
}

#[tokio::test]
async fn bad_parameters_are_refused_before_any_call() {
    let reg = registry(MockRdsApi::new());
    let refused = |kind: &str, params: serde_json::Value, region: Option<&str>| {
        let mut spec = ActionSpec::new("s", kind, params);
        spec.region = region.map(str::to_owned);
        reg.build(&spec)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let failover = "rds.failover_global_cluster";
    let switch = "rds.switchover_global_cluster";
    for params in [
        json!({"global_cluster": GLOBAL, "target_cluster": WEST}),
        json!({"global_cluster": GLOBAL, "target_cluster": WEST, "allow_data_loss": false}),
    ] {
        let err = refused(failover, params, Some("us-west-2"));
        assert!(
            err.contains("allow_data_loss") && err.contains("write `allow_data_loss = true`"),
            "{err}"
        );
    }
    let err = refused(
        switch,
        json!({"global_cluster": GLOBAL, "target_cluster": WEST, "allow_data_loss": true}),
        Some("us-west-2"),
    );
    assert!(err.contains("a switchover never loses data"), "{err}");
    let err = refused(
        switch,
        json!({"global_cluster": GLOBAL, "target_cluster": "mint-dr"}),
        None,
    );
    assert!(err.contains("without a region"), "{err}");
    let err = refused(
        switch,
        json!({"global_cluster": GLOBAL, "target_cluster": "arn:aws:rds:us-west-2:1:db:x"}),
        Some("us-west-2"),
    );
    assert!(err.contains("is not a DB cluster ARN"), "{err}");
}

#[tokio::test]
async fn a_target_that_is_not_a_member_blocks_the_switch() {
    let mut api = MockRdsApi::new();
    states(&mut api, vec![global("available", EAST)]);
    api.expect_switchover_global_cluster().never();
    let switch = build(
        api,
        "rds.switchover_global_cluster",
        json!({"global_cluster": GLOBAL, "target_cluster": "mint-other"}),
    );
    match switch.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => assert!(
            reason.starts_with("mint-other is not a member of global cluster mint-global"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
}

fn dr_cluster(status: &str, writer: Option<&str>) -> DbCluster {
    let mut c = DbCluster::new(
        "mint-dr",
        status,
        writer.map(ClusterMember::writer).into_iter().collect(),
    );
    c.arn = Some(WEST.into());
    c.endpoint = Some("mint-dr.cluster-x.us-west-2.rds.amazonaws.com".into());
    c
}

#[tokio::test(start_paused = true)]
async fn a_detach_waits_until_the_secondary_is_a_standalone_writer() {
    let mut api = MockRdsApi::new();
    let detached = Arc::new(Mutex::new(false));
    let d = Arc::clone(&detached);
    api.expect_describe_global_cluster().returning(move |_| {
        let mut g = global("available", EAST);
        if *d.lock().unwrap() {
            g.members.retain(|m| m.arn != WEST);
        }
        Ok(g)
    });
    let polls = Arc::new(Mutex::new(0));
    let p = Arc::clone(&polls);
    let d = Arc::clone(&detached);
    api.expect_describe_db_cluster().returning(move |_| {
        if !*d.lock().unwrap() {
            return Ok(dr_cluster("available", None));
        }
        let mut n = p.lock().unwrap();
        *n += 1;
        Ok(if *n < 3 {
            dr_cluster("modifying", None)
        } else {
            dr_cluster("available", Some("mint-dr-1"))
        })
    });
    let d = Arc::clone(&detached);
    api.expect_remove_from_global_cluster()
        .withf(|g, c| g == GLOBAL && c == WEST)
        .times(1)
        .returning(move |_, _| {
            *d.lock().unwrap() = true;
            Ok(())
        });
    let detach = build(
        api,
        "rds.detach_global_secondary",
        json!({"global_cluster": GLOBAL, "cluster": "mint-dr"}),
    );
    let ctx = Context::new();
    assert!(matches!(
        detach.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = detach.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("writer"), Some("mint-dr-1"));
    assert_eq!(out.get_str("cluster_arn"), Some(WEST));
    detach.verify(&ctx).await.unwrap();
    assert!(detach.check(&ctx).await.unwrap().is_done());
    assert!(!detach.supports_rollback());
}

/// RemoveFromGlobalCluster refused with `InvalidGlobalClusterStateFault` while the global
/// cluster is `modifying` (another operation in progress): sent again once it settles, not a
/// conflict.
#[tokio::test(start_paused = true)]
async fn a_detach_refused_while_the_global_cluster_is_busy_is_sent_again_once_it_settles() {
    let mut api = MockRdsApi::new();
    let detached = Arc::new(Mutex::new(false));
    let polls = Arc::new(Mutex::new(0));
    let (d, p) = (Arc::clone(&detached), Arc::clone(&polls));
    api.expect_describe_global_cluster().returning(move |_| {
        let mut n = p.lock().unwrap();
        *n += 1;
        // Busy for the first two looks after the refusal, then settled.
        let mut g = global(
            if (2..4).contains(&*n) {
                "modifying"
            } else {
                "available"
            },
            EAST,
        );
        if *d.lock().unwrap() {
            g.members.retain(|m| m.arn != WEST);
        }
        Ok(g)
    });
    let d = Arc::clone(&detached);
    api.expect_describe_db_cluster().returning(move |_| {
        Ok(if *d.lock().unwrap() {
            dr_cluster("available", Some("mint-dr-1"))
        } else {
            dr_cluster("available", None)
        })
    });
    let mut seq = mockall::Sequence::new();
    api.expect_remove_from_global_cluster()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| {
            Err(
                ActionError::new(ErrorKind::Conflict, "global cluster is modifying")
                    .with_code("InvalidGlobalClusterStateFault"),
            )
        });
    let d = Arc::clone(&detached);
    api.expect_remove_from_global_cluster()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| {
            *d.lock().unwrap() = true;
            Ok(())
        });
    let detach = build(
        api,
        "rds.detach_global_secondary",
        json!({"global_cluster": GLOBAL, "cluster": "mint-dr"}),
    );
    let out = detach.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("writer"), Some("mint-dr-1"));
}

/// A detach whose request never reached RDS (still a member, still available after the grace)
/// is sent again; the second one detaches.
#[tokio::test(start_paused = true)]
async fn a_detach_that_never_reached_rds_is_sent_again_after_the_grace() {
    let mut api = MockRdsApi::new();
    let detached = Arc::new(Mutex::new(false));
    let d = Arc::clone(&detached);
    api.expect_describe_global_cluster().returning(move |_| {
        let mut g = global("available", EAST);
        if *d.lock().unwrap() {
            g.members.retain(|m| m.arn != WEST);
        }
        Ok(g)
    });
    let d = Arc::clone(&detached);
    api.expect_describe_db_cluster().returning(move |_| {
        Ok(if *d.lock().unwrap() {
            dr_cluster("available", Some("mint-dr-1"))
        } else {
            dr_cluster("available", None)
        })
    });
    let sends = Arc::new(Mutex::new(0));
    let (d, n) = (Arc::clone(&detached), Arc::clone(&sends));
    api.expect_remove_from_global_cluster()
        .times(2)
        .returning(move |_, _| {
            let mut n = n.lock().unwrap();
            *n += 1;
            if *n == 1 {
                Err(lost()) // held and never forwarded
            } else {
                *d.lock().unwrap() = true;
                Ok(())
            }
        });
    let detach = build(
        api,
        "rds.detach_global_secondary",
        json!({"global_cluster": GLOBAL, "cluster": "mint-dr"}),
    );
    let started = tokio::time::Instant::now();
    let out = detach.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("writer"), Some("mint-dr-1"));
    assert_eq!(*sends.lock().unwrap(), 2);
    assert!(started.elapsed() >= crate::UNSTARTED_GRACE);
}

/// A global cluster busy with another operation (`modifying`) is waited for, not blocked;
/// a switchover refused with `InvalidGlobalClusterStateFault` while it is busy is decided
/// again once the operation ends, and sent then.
#[tokio::test(start_paused = true)]
async fn a_busy_global_cluster_is_waited_for_and_a_refused_switch_decided_again() {
    let mut api = MockRdsApi::new();
    states(
        &mut api,
        vec![
            global("modifying", EAST), // check
            global("modifying", EAST), // execute reads it
            global("available", EAST), // settled
            global("modifying", EAST), // after the refusal: still busy
            global("available", EAST), // settled again
            global("available", WEST), // the switch done
        ],
    );
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    api.expect_switchover_global_cluster()
        .times(2)
        .returning(move |_, target| {
            assert_eq!(target, WEST);
            let mut n = c.lock().unwrap();
            *n += 1;
            if *n == 1 {
                Err(
                    ActionError::new(ErrorKind::Conflict, "global cluster is modifying")
                        .with_code("InvalidGlobalClusterStateFault"),
                )
            } else {
                Ok(())
            }
        });
    let switch = build(
        api,
        "rds.switchover_global_cluster",
        json!({"global_cluster": GLOBAL, "target_cluster": "mint-dr"}),
    );
    let ctx = Context::new();
    match switch.check(&ctx).await.unwrap() {
        Check::Ready { change } => assert!(
            change.starts_with("wait for the operation in progress on global cluster"),
            "{change}"
        ),
        other => panic!("{other:?}"),
    }
    let out = switch.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("writer"), Some(WEST));
    assert_eq!(*calls.lock().unwrap(), 2);
}
