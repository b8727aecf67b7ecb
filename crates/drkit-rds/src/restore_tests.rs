//! Unit tests of the restore, promote, snapshot and probe actions against the mocked ports:
//! the intermediate states (`creating`, `modifying`, `backing-up`) and errors moto never shows.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use drkit_core::{ActionExt, ActionRef, Check, Context, ErrorKind, RecoveryAction, RetryPolicy};

use crate::port::{
    Datapoint, DbCluster, DbInstance, DbSnapshot, Endpoint, MockMetricsApi, MockRdsApi,
    RestoreTime, SnapshotOf,
};
use drkit_core::StepSpec;
use drkit_core::kind::with_port;

use crate::probe::{CheckReplicaLag, LagMetric, ReplicaLagParams};
use crate::promote::{
    PromoteReadReplica, PromoteReadReplicaDbCluster, PromoteReadReplicaDbClusterParams,
    PromoteReadReplicaParams,
};
use crate::restore::{
    ClusterPitrParams, PitrParams, RestoreClusterToPointInTime, RestoreInstanceFromSnapshot,
    RestoreInstanceToPointInTime, SnapshotRestoreParams,
};
use crate::snapshot::{CreateSnapshot, SnapshotParams};
use drkit_core::ActionKind;

const HOUR: Duration = Duration::from_secs(3600);

fn ago(d: Duration) -> SystemTime {
    SystemTime::now() - d
}

fn not_found(what: &str) -> drkit_core::ActionError {
    drkit_core::ActionError::new(ErrorKind::NotFound, format!("{what} not found"))
}

/// An instance with backups: created two days ago, 7 days retention, restorable until a minute
/// ago.
fn source() -> DbInstance {
    let mut i = DbInstance::new("mint-replica-primary", "available");
    i.created = Some(ago(48 * HOUR));
    i.latest_restorable = Some(ago(Duration::from_secs(60)));
    i.backup_retention_days = Some(7);
    i
}

fn with_endpoint(mut i: DbInstance) -> DbInstance {
    i.endpoint = Some(Endpoint {
        address: format!("{}.abc.us-east-1.rds.amazonaws.com", i.id),
        port: Some(5432),
    });
    i
}

/// `describe_db_instance(id)` answers these in order, repeating the last.
fn instance_states(api: &mut MockRdsApi, id: &'static str, states: Vec<Option<&'static str>>) {
    let queue = Mutex::new(VecDeque::from(states));
    api.expect_describe_db_instance()
        .withf(move |i| i == id)
        .returning(move |i| {
            let mut q = queue.lock().unwrap();
            let state = if q.len() > 1 {
                q.pop_front().unwrap()
            } else {
                *q.front().unwrap()
            };
            match state {
                Some(status) => Ok(with_endpoint(DbInstance::new(i, status))),
                None => Err(not_found(i)),
            }
        });
}

fn pitr(api: MockRdsApi, params: PitrParams) -> RestoreInstanceToPointInTime {
    RestoreInstanceToPointInTime::new("restore-db", params, Arc::new(api), Some("us-east-1"))
}

#[tokio::test(start_paused = true)]
async fn pitr_waits_through_creating_and_reports_the_data_lost() {
    let mut api = MockRdsApi::new();
    api.expect_describe_db_instance()
        .withf(|i| i == "mint-replica-primary")
        .returning(|_| Ok(source()));
    instance_states(
        &mut api,
        "mint-replica-restored",
        vec![
            None,
            None,
            Some("creating"),
            Some("backing-up"),
            Some("available"),
        ],
    );
    let at = ago(30 * 60 * Duration::from_secs(1));
    api.expect_restore_instance_to_point_in_time()
        .withf(move |s, t, time, class| {
            s == "mint-replica-primary"
                && t == "mint-replica-restored"
                && *time == RestoreTime::At(at)
                && class.is_none()
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    let action = pitr(
        api,
        PitrParams::at("mint-replica-primary", "mint-replica-restored", at),
    );
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(
        out.get_str("endpoint"),
        Some("mint-replica-restored.abc.us-east-1.rds.amazonaws.com:5432")
    );
    let lost = out
        .get("rpo_seconds")
        .and_then(serde_json::Value::as_u64)
        .unwrap();
    assert!((1790..1810).contains(&lost), "{lost}");
    assert_eq!(out.get_str("rpo_class"), Some("database"));
}

#[tokio::test]
async fn pitr_refuses_a_time_outside_the_window_before_calling_aws() {
    let mut api = MockRdsApi::new();
    api.expect_describe_db_instance()
        .withf(|i| i == "mint-replica-primary")
        .returning(|_| Ok(source()));
    api.expect_describe_db_instance()
        .withf(|i| i == "mint-replica-restored")
        .returning(|i| Err(not_found(i)));
    api.expect_restore_instance_to_point_in_time().never();
    let too_old = ago(72 * HOUR); // before the instance existed
    let action = pitr(
        api,
        PitrParams::at("mint-replica-primary", "mint-replica-restored", too_old),
    );
    let check = action.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("outside the restorable window")),
        "{check:?}"
    );
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.message().contains("outside the restorable window"),
        "{err}"
    );
}

#[tokio::test]
async fn pitr_is_blocked_without_backups() {
    let mut api = MockRdsApi::new();
    api.expect_describe_db_instance()
        .withf(|i| i == "mint-replica-primary")
        .returning(|_| {
            let mut s = source();
            s.backup_retention_days = Some(0);
            Ok(s)
        });
    api.expect_describe_db_instance()
        .withf(|i| i == "mint-replica-restored")
        .returning(|i| Err(not_found(i)));
    let action = pitr(
        api,
        PitrParams::latest("mint-replica-primary", "mint-replica-restored"),
    );
    let check = action.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("no automated backups")),
        "{check:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn pitr_rollback_deletes_only_what_it_created() {
    let mut api = MockRdsApi::new();
    api.expect_describe_db_instance()
        .withf(|i| i == "mint-replica-primary")
        .returning(|_| Ok(source()));
    instance_states(
        &mut api,
        "mint-replica-restored",
        vec![None, Some("available"), Some("deleting"), None],
    );
    api.expect_restore_instance_to_point_in_time()
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    api.expect_delete_db_instance()
        .withf(|i| i == "mint-replica-restored")
        .times(1)
        .returning(|_| Ok(()));
    let action = pitr(
        api,
        PitrParams::latest("mint-replica-primary", "mint-replica-restored"),
    );
    let err = action.rollback(&Context::new()).await.unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Unsupported,
        "nothing created yet: {err}"
    );
    action.execute(&Context::new()).await.unwrap();
    action.rollback(&Context::new()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_existing_target_is_waited_for_not_restored_again() {
    let mut api = MockRdsApi::new();
    instance_states(
        &mut api,
        "mint-replica-restored",
        vec![Some("creating"), Some("creating"), Some("available")],
    );
    api.expect_restore_instance_to_point_in_time().never();
    let action = pitr(
        api,
        PitrParams::latest("mint-replica-primary", "mint-replica-restored"),
    );
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("status"), Some("available"));
    assert!(
        out.get("rpo_seconds").is_none(),
        "no restore made, no loss measured"
    );
}

#[tokio::test(start_paused = true)]
async fn snapshot_restore_picks_the_newest_available_snapshot_and_reports_its_age() {
    let mut api = MockRdsApi::new();
    instance_states(
        &mut api,
        "mint-replica-restored",
        vec![None, None, Some("available")],
    );
    api.expect_describe_instance_snapshots()
        .withf(|i| i == "mint-replica-primary")
        .returning(|i| {
            Ok(vec![
                DbSnapshot::new("old", "available", i, Some(ago(26 * HOUR))),
                DbSnapshot::new("newest-but-creating", "creating", i, Some(ago(HOUR / 60))),
                DbSnapshot::new("nightly", "available", i, Some(ago(2 * HOUR))),
            ])
        });
    api.expect_restore_instance_from_snapshot()
        .withf(|t, s, _| t == "mint-replica-restored" && s == "nightly")
        .times(1)
        .returning(|_, _, _| Ok(()));
    let action = RestoreInstanceFromSnapshot::new(
        "restore-snap",
        SnapshotRestoreParams::latest_of("mint-replica-restored", "mint-replica-primary"),
        Arc::new(api),
        None,
    );
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("snapshot"), Some("nightly"));
    let age = out
        .get("snapshot_age_seconds")
        .and_then(serde_json::Value::as_u64)
        .unwrap();
    assert!((7190..7210).contains(&age), "{age}");
    assert_eq!(
        out.get("rpo_seconds").and_then(serde_json::Value::as_u64),
        Some(age)
    );
}

#[tokio::test]
async fn snapshot_restore_without_a_snapshot_is_blocked() {
    let mut api = MockRdsApi::new();
    instance_states(&mut api, "mint-replica-restored", vec![None]);
    api.expect_describe_instance_snapshots()
        .returning(|i| Ok(vec![DbSnapshot::new("s", "creating", i, None)]));
    let action = RestoreInstanceFromSnapshot::new(
        "restore-snap",
        SnapshotRestoreParams::latest_of("mint-replica-restored", "mint-replica-primary"),
        Arc::new(api),
        None,
    );
    assert_eq!(
        action.check(&Context::new()).await.unwrap(),
        Check::blocked("instance mint-replica-primary has no available snapshot")
    );
}

#[tokio::test(start_paused = true)]
async fn cluster_pitr_creates_the_instance_the_cluster_needs() {
    let mut api = MockRdsApi::new();
    let cluster_calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&cluster_calls);
    api.expect_describe_db_cluster().returning(move |id| {
        if id == "mint-replica-cluster" {
            let mut src = DbCluster::new(id, "available", vec![]);
            src.engine = Some("aurora-postgresql".into());
            src.earliest_restorable = Some(ago(24 * HOUR));
            src.latest_restorable = Some(ago(Duration::from_secs(120)));
            return Ok(src);
        }
        let mut n = c.lock().unwrap();
        *n += 1;
        match *n {
            1 => Err(not_found(id)),
            2 => Ok(DbCluster::new(id, "creating", vec![])),
            _ => Ok(DbCluster::new(id, "available", vec![])),
        }
    });
    instance_states(
        &mut api,
        "mint-restored-instance-1",
        vec![None, Some("creating"), Some("available")],
    );
    api.expect_restore_cluster_to_point_in_time()
        .withf(|s, t, time| {
            s == "mint-replica-cluster" && t == "mint-restored" && *time == RestoreTime::Latest
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    api.expect_create_cluster_instance()
        .withf(|i, c, e, class| {
            i == "mint-restored-instance-1"
                && c == "mint-restored"
                && e == "aurora-postgresql"
                && class == "db.r6g.large"
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    let action = RestoreClusterToPointInTime::new(
        "restore-cluster",
        ClusterPitrParams::latest("mint-replica-cluster", "mint-restored", "db.r6g.large"),
        Arc::new(api),
        None,
    );
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("cluster"), Some("mint-restored"));
    assert_eq!(out.get_str("instance"), Some("mint-restored-instance-1"));
    let lost = out
        .get("rpo_seconds")
        .and_then(serde_json::Value::as_u64)
        .unwrap();
    assert!((110..130).contains(&lost), "{lost}");
}

#[tokio::test(start_paused = true)]
async fn promote_waits_until_the_replica_is_standalone() {
    let mut api = MockRdsApi::new();
    let states = Mutex::new(VecDeque::from(vec![
        ("available", Some("mint-replica-primary")),
        ("modifying", Some("mint-replica-primary")),
        ("rebooting", None),
        ("available", None),
    ]));
    api.expect_describe_db_instance().returning(move |id| {
        let mut q = states.lock().unwrap();
        let (status, source) = if q.len() > 1 {
            q.pop_front().unwrap()
        } else {
            *q.front().unwrap()
        };
        let mut i = DbInstance::new(id, status);
        i.replication_source = source.map(str::to_owned);
        Ok(i)
    });
    api.expect_promote_read_replica()
        .withf(|i| i == "mint-replica-replica")
        .times(1)
        .returning(|_| Ok(()));
    let action = with_port::<PromoteReadReplica>(
        StepSpec::new(
            "promote",
            PromoteReadReplicaParams::new("mint-replica-replica"),
        )
        .in_region(Some("us-west-2")),
        Arc::new(api),
    )
    .unwrap();
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("promoted_from"), Some("mint-replica-primary"));
    action.verify(&Context::new()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_throttled_promote_is_retried_once_the_check_still_says_ready() {
    let mut api = MockRdsApi::new();
    api.expect_describe_db_cluster().returning(|id| {
        let mut c = DbCluster::new(id, "available", vec![]);
        c.replication_source = Some("arn:aws:rds:us-east-1:123456789012:cluster:mint".into());
        Ok(c)
    });
    api.expect_promote_read_replica_db_cluster()
        .times(3)
        .returning(|_| {
            Err(
                drkit_core::ActionError::new(ErrorKind::Throttled, "Rate exceeded")
                    .with_code("Throttling"),
            )
        });
    let action = with_port::<PromoteReadReplicaDbCluster>(
        StepSpec::new("promote", PromoteReadReplicaDbClusterParams::new("mint-dr")),
        Arc::new(api),
    )
    .unwrap();
    let action: ActionRef = Arc::new(action);
    let err = action
        .with_retry(RetryPolicy::attempts(3).jitter(false))
        .execute(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled);
    assert_eq!(err.code(), Some("Throttling"));
    assert_eq!(err.action(), Some("rds.promote_read_replica_db_cluster"));
}

#[tokio::test(start_paused = true)]
async fn create_snapshot_waits_for_available_and_is_idempotent() {
    let mut api = MockRdsApi::new();
    let states = Mutex::new(VecDeque::from(vec![
        None,
        Some("creating"),
        Some("available"),
    ]));
    api.expect_describe_snapshot()
        .withf(|of, id| *of == SnapshotOf::Cluster && id == "mint-replica-cluster-drkit-safety")
        .returning(move |_, id| {
            let mut q = states.lock().unwrap();
            let s = if q.len() > 1 {
                q.pop_front().unwrap()
            } else {
                *q.front().unwrap()
            };
            match s {
                Some(status) => Ok(DbSnapshot::new(
                    id,
                    status,
                    "mint-replica-cluster",
                    Some(SystemTime::now()),
                )),
                None => Err(not_found(id)),
            }
        });
    api.expect_create_snapshot()
        .times(1)
        .returning(|_, _, _| Ok(()));
    let action = CreateSnapshot::new(
        "safety",
        SnapshotParams::cluster("mint-replica-cluster"),
        Arc::new(api),
        None,
    );
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(
        out.get_str("snapshot"),
        Some("mint-replica-cluster-drkit-safety")
    );
    // A re-run finds it done.
    assert!(action.check(&Context::new()).await.unwrap().is_done());
}

fn lag_probe(points: Vec<Datapoint>, max_lag: Duration) -> CheckReplicaLag {
    let mut metrics = MockMetricsApi::new();
    metrics
        .expect_lag()
        .withf(|metric, dimension, value, _| {
            metric == "ReplicaLag"
                && dimension == "DBInstanceIdentifier"
                && value == "mint-replica-replica"
        })
        .returning(move |_, _, _, _| Ok(points.clone()));
    with_port::<CheckReplicaLag>(
        StepSpec::new(
            "lag",
            ReplicaLagParams::new("mint-replica-replica", max_lag),
        ),
        Arc::new(metrics),
    )
    .unwrap()
}

#[tokio::test]
async fn replica_lag_is_blocked_above_the_limit_or_without_a_recent_datapoint() {
    let ok = lag_probe(
        vec![
            Datapoint {
                at: ago(Duration::from_secs(200)),
                value: 400.0,
            },
            Datapoint {
                at: ago(Duration::from_secs(30)),
                value: 3.0,
            },
        ],
        Duration::from_secs(30),
    );
    assert!(ok.check(&Context::new()).await.unwrap().is_done());
    let out = ok.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("lag_seconds"), Some(&serde_json::json!(3.0)));
    assert!(!ok.mutates());

    let behind = lag_probe(
        vec![Datapoint {
            at: ago(Duration::from_secs(30)),
            value: 45.0,
        }],
        Duration::from_secs(30),
    );
    let check = behind.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("45.000 s")),
        "{check:?}"
    );
    let err = behind.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);

    let stale = lag_probe(
        vec![Datapoint {
            at: ago(Duration::from_secs(900)),
            value: 1.0,
        }],
        Duration::from_secs(30),
    );
    let check = stale.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("no ReplicaLag datapoint")),
        "{check:?}"
    );
}

/// On Aurora, the lag comes from the Aurora metrics, in milliseconds: `AuroraReplicaLag` per
/// instance, and the global database's `AuroraGlobalDBRPOLag` per secondary cluster.
#[tokio::test]
async fn aurora_lag_metrics_are_read_per_instance_or_cluster_in_milliseconds() {
    for (params, metric, dimension, value) in [
        (
            {
                let mut p = ReplicaLagParams::new("mint-replica-2", Duration::from_secs(5));
                p.metric = LagMetric::AuroraReplicaLag;
                p
            },
            "AuroraReplicaLag",
            "DBInstanceIdentifier",
            "mint-replica-2",
        ),
        (
            ReplicaLagParams::for_cluster(
                "mint-dr",
                LagMetric::AuroraGlobalDBRPOLag,
                Duration::from_secs(5),
            ),
            "AuroraGlobalDBRPOLag",
            "DBClusterIdentifier",
            "mint-dr",
        ),
    ] {
        let mut metrics = MockMetricsApi::new();
        metrics
            .expect_lag()
            .withf(move |m, d, v, _| m == metric && d == dimension && v == value)
            .returning(|_, _, _, _| {
                Ok(vec![Datapoint {
                    at: ago(Duration::from_secs(30)),
                    value: 1500.0,
                }])
            });
        let probe =
            with_port::<CheckReplicaLag>(StepSpec::new("lag", params), Arc::new(metrics)).unwrap();
        match probe.check(&Context::new()).await.unwrap() {
            Check::Done { outputs, detail } => {
                assert_eq!(
                    outputs.get("rpo_seconds"),
                    Some(&serde_json::json!(1.5)),
                    "{detail}"
                );
                assert!(
                    detail.starts_with(&format!("{metric} of {value} is 1.500 s")),
                    "{detail}"
                );
            }
            other => panic!("{metric}: {other:?}"),
        }
    }
    // The metric decides which of instance and cluster it needs.
    let mut wrong = ReplicaLagParams::new("mint-replica-2", Duration::from_secs(5));
    wrong.metric = LagMetric::AuroraGlobalDBReplicationLag;
    let err = CheckReplicaLag::validate(&wrong).unwrap_err();
    assert!(err.to_string().contains("is read per cluster"), "{err}");
}
