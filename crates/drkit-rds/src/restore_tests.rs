//! Unit tests of the restore, promote, snapshot and probe actions against the mocked ports:
//! the intermediate states (`creating`, `modifying`, `backing-up`) and errors moto never shows.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use drkit_core::{ActionExt, ActionRef, Check, Context, ErrorKind, RecoveryAction, RetryPolicy};

use crate::port::{
    Datapoint, DbCluster, DbInstance, DbSnapshot, Endpoint, MockMetricsApi, MockRdsApi,
    RestoreSettings, RestoreTime, ServerlessV2Scaling, SnapshotOf,
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
    i.subnet_group = Some("mint-private".into());
    i.security_groups = vec!["sg-0aa11".into(), "sg-0bb22".into()];
    i.parameter_group = Some("mint-pg16".into());
    i
}

/// What a restore of [`source`] gets when the runbook gives nothing: the source's network.
fn source_settings() -> RestoreSettings {
    RestoreSettings {
        subnet_group: Some("mint-private".into()),
        security_groups: vec!["sg-0aa11".into(), "sg-0bb22".into()],
        parameter_group: Some("mint-pg16".into()),
        ..RestoreSettings::default()
    }
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
        .withf(move |s, t, time, class, settings| {
            s == "mint-replica-primary"
                && t == "mint-replica-restored"
                && *time == RestoreTime::At(at)
                && class.is_none()
                && *settings == source_settings()
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok(()));
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
        .returning(|_, _, _, _, _| Ok(()));
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

/// The instance a restore creates, as RDS shows it: absent until the restore call (whose
/// answer is then lost) makes it `creating`; `available` once [`LostRestore::ready_later`]
/// says so; gone after its one delete.
#[derive(Clone, Default)]
struct LostRestore(Arc<Mutex<Option<&'static str>>>);

impl LostRestore {
    /// Expects the reads and the one delete of `mint-replica-restored` on `api`.
    fn expect(&self, api: &mut MockRdsApi) {
        let seen = self.clone();
        api.expect_describe_db_instance()
            .withf(|i| i == "mint-replica-restored")
            .returning(move |i| match seen.status() {
                Some(status) => Ok(with_endpoint(DbInstance::new(i, status))),
                None => Err(not_found(i)),
            });
        let gone = self.clone();
        api.expect_delete_db_instance()
            .withf(|i| i == "mint-replica-restored")
            .times(1)
            .returning(move |_| {
                *gone.0.lock().unwrap() = None;
                Ok(())
            });
    }

    /// The restore call: RDS starts creating the instance, and the answer is lost.
    fn made_and_lost(&self) -> Result<(), drkit_core::ActionError> {
        *self.0.lock().unwrap() = Some("creating");
        Err(drkit_core::ActionError::new(
            ErrorKind::Unavailable,
            "response error: connection closed before message completed",
        ))
    }

    /// The instance becomes `available` 120 s (of the paused clock) from now.
    fn ready_later(&self) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(120)).await;
            *state.0.lock().unwrap() = Some("available");
        })
    }

    fn status(&self) -> Option<&'static str> {
        *self.0.lock().unwrap()
    }
}

/// The restore reached RDS but its answer was lost, and the process was then killed: the
/// retry reads the new instance back (never a second restore), still reports the data lost
/// (from the journalled intent), and a resumed run's rollback deletes the instance this step
/// created, although its outputs were never recorded.
#[tokio::test(start_paused = true)]
async fn a_restore_whose_answer_was_lost_is_read_back_reported_and_rolled_back() {
    let restored = LostRestore::default();
    let mut api = MockRdsApi::new();
    api.expect_describe_db_instance()
        .withf(|i| i == "mint-replica-primary")
        .returning(|_| Ok(source()));
    restored.expect(&mut api);
    let made = restored.clone();
    api.expect_restore_instance_to_point_in_time()
        .times(1)
        .returning(move |_, _, _, _, _| made.made_and_lost());
    let api: Arc<dyn crate::RdsApi> = Arc::new(api);
    let action = |id: &str| {
        let params = PitrParams::latest("mint-replica-primary", "mint-replica-restored");
        RestoreInstanceToPointInTime::new(id, params, Arc::clone(&api), Some("us-east-1"))
    };
    let ready = restored.ready_later();

    let ctx = Context::new().with_step("restore-db");
    let first = action("restore-db").execute(&ctx).await.unwrap();
    ready.await.unwrap();
    let lost = first.get("rpo_seconds").and_then(serde_json::Value::as_u64);
    assert!(lost.is_some_and(|s| (60..70).contains(&s)), "{first:?}");
    let intent = ctx
        .intent()
        .expect("the intent is journalled before the call");
    assert_eq!(intent.get("created"), Some(&serde_json::json!(true)));

    // Killed before the outputs were recorded: a resumed run has only the journalled intent.
    let resumed = Context::new()
        .with_step("restore-db")
        .with_recorded_intent(Some(intent));
    let again = action("restore-db");
    let out = again.execute(&resumed).await.unwrap();
    assert_eq!(out.get_str("restored_to"), first.get_str("restored_to"));
    assert_eq!(out.get("rpo_seconds"), first.get("rpo_seconds"));
    again.rollback(&resumed).await.unwrap();
    assert_eq!(restored.status(), None, "the restored instance is deleted");
}

#[tokio::test(start_paused = true)]
async fn snapshot_restore_picks_the_newest_available_snapshot_and_reports_its_age() {
    let mut api = MockRdsApi::new();
    instance_states(
        &mut api,
        "mint-replica-restored",
        vec![None, None, Some("available")],
    );
    api.expect_describe_db_instance()
        .withf(|i| i == "mint-replica-primary")
        .returning(|_| Ok(source()));
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
        .withf(|t, s, _, settings| {
            t == "mint-replica-restored" && s == "nightly" && *settings == source_settings()
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
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

/// As `a_restore_whose_answer_was_lost_is_read_back_reported_and_rolled_back`, for the
/// snapshot restore: the lost `RestoreDBInstanceFromDBSnapshot` is read back, never sent again;
/// a resumed run (a newer snapshot has appeared meanwhile) reports the snapshot the request
/// named and its age from the journalled intent, and its rollback deletes the instance.
#[tokio::test(start_paused = true)]
async fn a_snapshot_restore_whose_answer_was_lost_is_read_back_reported_and_rolled_back() {
    let restored = LostRestore::default();
    let newer: Arc<Mutex<bool>> = Arc::default();
    let mut api = MockRdsApi::new();
    api.expect_describe_db_instance()
        .withf(|i| i == "mint-replica-primary")
        .returning(|_| Ok(source()));
    let listed = Arc::clone(&newer);
    api.expect_describe_instance_snapshots()
        .withf(|i| i == "mint-replica-primary")
        .returning(move |i| {
            let mut snapshots = vec![DbSnapshot::new(
                "nightly",
                "available",
                i,
                Some(ago(2 * HOUR)),
            )];
            if *listed.lock().unwrap() {
                snapshots.push(DbSnapshot::new(
                    "hourly",
                    "available",
                    i,
                    Some(ago(HOUR / 60)),
                ));
            }
            Ok(snapshots)
        });
    restored.expect(&mut api);
    let made = restored.clone();
    api.expect_restore_instance_from_snapshot()
        .withf(|t, s, _, _| t == "mint-replica-restored" && s == "nightly")
        .times(1)
        .returning(move |_, _, _, _| made.made_and_lost());
    let api: Arc<dyn crate::RdsApi> = Arc::new(api);
    let action = || {
        let params =
            SnapshotRestoreParams::latest_of("mint-replica-restored", "mint-replica-primary");
        RestoreInstanceFromSnapshot::new("restore-snap", params, Arc::clone(&api), None)
    };
    let ready = restored.ready_later();

    let ctx = Context::new().with_step("restore-snap");
    let first = action().execute(&ctx).await.unwrap();
    ready.await.unwrap();
    assert_eq!(first.get_str("snapshot"), Some("nightly"));
    let age = first.get("rpo_seconds").and_then(serde_json::Value::as_u64);
    assert!(age.is_some_and(|s| (7190..7330).contains(&s)), "{first:?}");
    let intent = ctx
        .intent()
        .expect("the intent is journalled before the call");
    assert_eq!(intent.get("created"), Some(&serde_json::json!(true)));

    // Killed before the outputs were recorded; meanwhile a newer snapshot has appeared.
    *newer.lock().unwrap() = true;
    let resumed = Context::new()
        .with_step("restore-snap")
        .with_recorded_intent(Some(intent));
    let again = action();
    let out = again.execute(&resumed).await.unwrap();
    assert_eq!(out.get_str("snapshot"), Some("nightly"), "{out:?}");
    assert_eq!(out.get_str("restored_to"), first.get_str("restored_to"));
    assert_eq!(out.get("rpo_seconds"), first.get("rpo_seconds"));
    again.rollback(&resumed).await.unwrap();
    assert_eq!(restored.status(), None, "the restored instance is deleted");
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
        .withf(|s, t, time, settings| {
            s == "mint-replica-cluster"
                && t == "mint-restored"
                && *time == RestoreTime::Latest
                && *settings == RestoreSettings::default()
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    api.expect_create_cluster_instance()
        .withf(|i, c, e, class, group| {
            i == "mint-restored-instance-1"
                && c == "mint-restored"
                && e == "aurora-postgresql"
                && class == "db.r6g.large"
                && group.is_none()
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok(()));
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

/// PromoteReadReplicaDBCluster refused with `InvalidDBClusterStateFault` because a backup
/// started meanwhile (the cluster `backing-up`): the promotion waits until the cluster is
/// available again and is sent once more, not failed as a conflict.
#[tokio::test(start_paused = true)]
async fn a_promotion_refused_while_an_operation_runs_is_sent_again_once_it_ends() {
    let mut api = MockRdsApi::new();
    let describes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Arc::clone(&describes);
    api.expect_describe_db_cluster().returning(move |id| {
        let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // 0: before the call (available, a replica); 1-2: backing-up; then available and,
        // after the second call, standalone.
        let status = if (1..3).contains(&n) {
            "backing-up"
        } else {
            "available"
        };
        let mut c = DbCluster::new(id, status, vec![]);
        if n < 4 {
            c.replication_source = Some("arn:aws:rds:us-east-1:123456789012:cluster:mint".into());
        }
        Ok(c)
    });
    let mut seq = mockall::Sequence::new();
    api.expect_promote_read_replica_db_cluster()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| {
            Err(drkit_core::ActionError::new(
                ErrorKind::Conflict,
                "DB cluster is not in available state",
            )
            .with_code("InvalidDBClusterStateFault"))
        });
    api.expect_promote_read_replica_db_cluster()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    let action = with_port::<PromoteReadReplicaDbCluster>(
        StepSpec::new("promote", PromoteReadReplicaDbClusterParams::new("mint-dr")),
        Arc::new(api),
    )
    .unwrap()
    .with_wait_policy(drkit_core::WaitPolicy::without_jitter());
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("cluster"), Some("mint-dr"));
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

// --- Where restores land: the source's network and parameter groups, or the runbook's ---

/// The source cluster of the cluster restores: its network, parameter group and Serverless v2
/// range, and a writer `mint-1` with its own DB parameter group.
fn source_cluster(serverless: bool) -> DbCluster {
    let mut c = DbCluster::new(
        "mint-replica-cluster",
        "available",
        vec![crate::port::ClusterMember::writer("mint-1")],
    );
    c.engine = Some("aurora-postgresql".into());
    c.earliest_restorable = Some(ago(24 * HOUR));
    c.latest_restorable = Some(ago(Duration::from_secs(120)));
    c.subnet_group = Some("mint-private".into());
    c.security_groups = vec!["sg-0aa11".into()];
    c.parameter_group = Some("mint-cluster-pg16".into());
    c.serverless_v2 = serverless.then_some(ServerlessV2Scaling {
        min_capacity: 0.5,
        max_capacity: 16.0,
    });
    c
}

/// A mocked RDS for a cluster restore of [`source_cluster`] into `mint-restored`: the
/// restore and the instance creation are recorded (with their settings) and take effect at
/// once.
type Recorded<T> = Arc<Mutex<Vec<T>>>;

/// What the mocked RDS of a cluster restore records: the restores' settings, and the instances
/// created with their parameter group.
type ClusterRestoreCalls = (
    Recorded<RestoreSettings>,
    Recorded<(String, Option<String>)>,
);

fn cluster_restore_api(serverless: bool) -> (MockRdsApi, ClusterRestoreCalls) {
    let restores = Arc::new(Mutex::new(Vec::new()));
    let instances = Arc::new(Mutex::new(Vec::new()));
    let restored = Arc::new(Mutex::new(None::<DbCluster>));
    let mut api = MockRdsApi::new();
    let r = Arc::clone(&restored);
    api.expect_describe_db_cluster().returning(move |id| {
        if id == "mint-replica-cluster" {
            return Ok(source_cluster(serverless));
        }
        r.lock().unwrap().clone().ok_or_else(|| not_found(id))
    });
    let made = Arc::clone(&instances);
    api.expect_describe_db_instance().returning(move |id| {
        if id == "mint-1" {
            let mut w = DbInstance::new(id, "available");
            w.parameter_group = Some("mint-instance-pg16".into());
            return Ok(w);
        }
        if made.lock().unwrap().iter().any(|(i, _)| i == id) {
            let mut i = DbInstance::new(id, "available");
            i.cluster = Some("mint-restored".into());
            return Ok(i);
        }
        Err(not_found(id))
    });
    let (rec, r) = (Arc::clone(&restores), Arc::clone(&restored));
    api.expect_restore_cluster_to_point_in_time()
        .returning(move |_, target, _, settings| {
            rec.lock().unwrap().push(settings.clone());
            let mut c = DbCluster::new(target, "available", vec![]);
            c.engine = Some("aurora-postgresql".into());
            c.created = Some(SystemTime::now());
            c.subnet_group.clone_from(&settings.subnet_group);
            c.security_groups.clone_from(&settings.security_groups);
            c.serverless_v2 = settings.serverless_v2;
            *r.lock().unwrap() = Some(c);
            Ok(())
        });
    let rec = Arc::clone(&instances);
    api.expect_create_cluster_instance()
        .returning(move |id, _, _, _, group| {
            rec.lock()
                .unwrap()
                .push((id.to_owned(), group.map(str::to_owned)));
            Ok(())
        });
    (api, (restores, instances))
}

fn cluster_restore(api: MockRdsApi, params: ClusterPitrParams) -> RestoreClusterToPointInTime {
    RestoreClusterToPointInTime::new("restore-cluster", params, Arc::new(api), None)
}

#[tokio::test(start_paused = true)]
async fn a_cluster_restore_lands_in_the_source_network_by_default() {
    let (api, (restores, instances)) = cluster_restore_api(true);
    let action = cluster_restore(
        api,
        ClusterPitrParams::latest("mint-replica-cluster", "mint-restored", "db.serverless"),
    );
    match action.check(&Context::new()).await.unwrap() {
        Check::Ready { change } => assert!(
            change.contains("subnet group mint-private, security groups sg-0aa11"),
            "{change}"
        ),
        other => panic!("{other:?}"),
    }
    let out = action.execute(&Context::new()).await.unwrap();
    let expected = RestoreSettings {
        subnet_group: Some("mint-private".into()),
        security_groups: vec!["sg-0aa11".into()],
        cluster_parameter_group: Some("mint-cluster-pg16".into()),
        parameter_group: Some("mint-instance-pg16".into()),
        serverless_v2: Some(ServerlessV2Scaling {
            min_capacity: 0.5,
            max_capacity: 16.0,
        }),
    };
    assert_eq!(*restores.lock().unwrap(), vec![expected]);
    assert_eq!(
        *instances.lock().unwrap(),
        vec![(
            "mint-restored-instance-1".to_owned(),
            Some("mint-instance-pg16".to_owned())
        )]
    );
    assert_eq!(out.get_str("subnet_group"), Some("mint-private"));
    assert_eq!(
        out.get("security_groups"),
        Some(&serde_json::json!(["sg-0aa11"]))
    );
}

#[tokio::test(start_paused = true)]
async fn a_cluster_restore_takes_the_runbook_settings_over_the_source() {
    let (api, (restores, instances)) = cluster_restore_api(false);
    let mut params =
        ClusterPitrParams::latest("mint-replica-cluster", "mint-restored", "db.serverless")
            .in_network("drill-subnets", ["sg-0dd44", "sg-0ee55"])
            .serverless_v2(1.0, 8.5);
    params.cluster_parameter_group = Some("drill-cluster-pg".into());
    params.parameter_group = Some("drill-pg".into());
    assert!(RestoreClusterToPointInTime::validate(&params).is_ok());
    cluster_restore(api, params)
        .execute(&Context::new())
        .await
        .unwrap();
    let sent = restores.lock().unwrap()[0].clone();
    assert_eq!(sent.subnet_group.as_deref(), Some("drill-subnets"));
    assert_eq!(sent.security_groups, ["sg-0dd44", "sg-0ee55"]);
    assert_eq!(
        sent.cluster_parameter_group.as_deref(),
        Some("drill-cluster-pg")
    );
    assert_eq!(
        sent.serverless_v2,
        Some(ServerlessV2Scaling {
            min_capacity: 1.0,
            max_capacity: 8.5
        })
    );
    assert_eq!(instances.lock().unwrap()[0].1.as_deref(), Some("drill-pg"));
}

/// `db.serverless` needs the new cluster's capacity range: none given and none on the source
/// blocks the restore before any change; a bad range is refused before any call.
#[tokio::test]
async fn a_serverless_instance_without_a_capacity_range_is_refused() {
    let (mut api, _) = cluster_restore_api(false);
    api.expect_restore_cluster_to_point_in_time().never();
    let action = cluster_restore(
        api,
        ClusterPitrParams::latest("mint-replica-cluster", "mint-restored", "db.serverless"),
    );
    match action.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => assert!(
            reason.contains("db.serverless needs a Serverless v2 capacity range")
                && reason.contains("give `min_capacity` and `max_capacity`"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);

    let base = ClusterPitrParams::latest("mint-replica-cluster", "mint-restored", "db.serverless");
    for (params, param) in [
        {
            let mut p = base.clone();
            p.min_capacity = Some(1.0);
            (p, None)
        },
        (base.clone().serverless_v2(0.5, 8.2), Some("max_capacity")),
        (base.clone().serverless_v2(8.0, 4.0), Some("max_capacity")),
        (base.clone().serverless_v2(1.0, 512.0), Some("max_capacity")),
        (
            base.clone().in_network("ok", ["sg-zz"]),
            Some("security_groups"),
        ),
        (base.in_network("bad/name", ["sg-0a"]), Some("subnet_group")),
    ] {
        let err = RestoreClusterToPointInTime::validate(&params).unwrap_err();
        assert_eq!(err.param.as_deref(), param, "{err}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_instance_restore_takes_the_runbook_network_over_the_source() {
    let mut api = MockRdsApi::new();
    api.expect_describe_db_instance()
        .withf(|i| i == "mint-replica-primary")
        .returning(|_| Ok(source()));
    instance_states(
        &mut api,
        "mint-replica-restored",
        vec![None, None, Some("available")],
    );
    api.expect_restore_instance_to_point_in_time()
        .withf(|_, _, _, _, settings| {
            settings.subnet_group.as_deref() == Some("drill-subnets")
                && settings.security_groups == ["sg-0dd44"]
                && settings.parameter_group.as_deref() == Some("mint-pg16")
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok(()));
    pitr(
        api,
        PitrParams::latest("mint-replica-primary", "mint-replica-restored")
            .in_network("drill-subnets", ["sg-0dd44"]),
    )
    .execute(&Context::new())
    .await
    .unwrap();
}

/// A snapshot does not carry its instance's network: with the instance gone, the restore
/// needs `subnet_group` and `security_groups`, and says so; given, they are sent.
#[tokio::test(start_paused = true)]
async fn a_snapshot_of_a_deleted_instance_needs_the_network_given() {
    let api_for = |restores: usize| {
        let mut api = MockRdsApi::new();
        api.expect_describe_db_instance()
            .withf(|i| i == "mint-replica-primary")
            .returning(|i| Err(not_found(i)));
        instance_states(
            &mut api,
            "mint-replica-restored",
            vec![None, None, Some("available")],
        );
        api.expect_describe_snapshot().returning(|_, id| {
            Ok(DbSnapshot::new(
                id,
                "available",
                "mint-replica-primary",
                Some(ago(HOUR)),
            ))
        });
        api.expect_restore_instance_from_snapshot()
            .withf(|_, _, _, settings| {
                settings.subnet_group.as_deref() == Some("drill-subnets")
                    && settings.security_groups == ["sg-0dd44"]
                    && settings.parameter_group.is_none()
            })
            .times(restores)
            .returning(|_, _, _, _| Ok(()));
        Arc::new(api)
    };
    let params = SnapshotRestoreParams::snapshot("mint-replica-restored", "final-snapshot");
    let action = RestoreInstanceFromSnapshot::new("restore-snap", params.clone(), api_for(0), None);
    match action.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => assert!(
            reason.contains(
                "instance mint-replica-primary of snapshot final-snapshot no longer exists"
            ) && reason.contains("give `subnet_group` and `security_groups`"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);

    let action = RestoreInstanceFromSnapshot::new(
        "restore-snap",
        params.in_network("drill-subnets", ["sg-0dd44"]),
        api_for(1),
        None,
    );
    action.execute(&Context::new()).await.unwrap();
}

/// `CreateDBInstance` refused (`InvalidDBClusterStateFault`) while the new cluster is busy
/// (`backing-up` right after the restore) is sent again once it is available.
#[tokio::test(start_paused = true)]
async fn the_instance_of_a_busy_restored_cluster_is_created_once_it_is_available() {
    let mut fresh = MockRdsApi::new();
    // The target cluster: missing, then available, backing-up at the refusal, then available.
    let target = Mutex::new(VecDeque::from(vec![
        None,
        Some("available"),
        Some("backing-up"),
        Some("available"),
    ]));
    fresh.expect_describe_db_cluster().returning(move |id| {
        if id == "mint-replica-cluster" {
            return Ok(source_cluster(false));
        }
        let mut q = target.lock().unwrap();
        let status = if q.len() > 1 {
            q.pop_front().unwrap()
        } else {
            *q.front().unwrap()
        };
        status
            .map(|s| DbCluster::new(id, s, vec![]))
            .ok_or_else(|| not_found(id))
    });
    instance_states(
        &mut fresh,
        "mint-restored-instance-1",
        vec![None, Some("available")],
    );
    fresh
        .expect_describe_db_instance()
        .withf(|i| i == "mint-1")
        .returning(|i| Ok(DbInstance::new(i, "available")));
    fresh
        .expect_restore_cluster_to_point_in_time()
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    fresh
        .expect_create_cluster_instance()
        .times(2)
        .returning(move |_, _, _, _, _| {
            let mut n = c.lock().unwrap();
            *n += 1;
            if *n == 1 {
                Err(
                    drkit_core::ActionError::new(ErrorKind::Conflict, "cluster is backing-up")
                        .with_code("InvalidDBClusterStateFault"),
                )
            } else {
                Ok(())
            }
        });
    let out = cluster_restore(
        fresh,
        ClusterPitrParams::latest("mint-replica-cluster", "mint-restored", "db.r6g.large"),
    )
    .execute(&Context::new())
    .await
    .unwrap();
    assert_eq!(out.get_str("instance"), Some("mint-restored-instance-1"));
}

// --- Drill artifacts are this run's: named after the run, refused when older ---

fn in_run(run: &str, started: SystemTime) -> Context {
    Context::new().with_run(run.to_owned(), started)
}

#[test]
fn run_scoped_names_follow_the_rds_rules_and_are_stable_per_run() {
    let a = crate::common::run_scoped_name(
        "Mint-Replica-Cluster-drkit-safety",
        Some("p-1764370000000"),
    );
    assert!(a.starts_with("mint-replica-cluster-drkit-safety-"), "{a}");
    assert_eq!(
        a,
        crate::common::run_scoped_name(
            "Mint-Replica-Cluster-drkit-safety",
            Some("p-1764370000000")
        ),
        "a resume finds the same name"
    );
    assert_ne!(
        a,
        crate::common::run_scoped_name(
            "Mint-Replica-Cluster-drkit-safety",
            Some("p-1772000000000")
        ),
        "the next run makes another"
    );
    let long = crate::common::run_scoped_name(
        &format!("{}-drkit-a_step__with--odd-chars", "x".repeat(60)),
        Some("a-very-long-plan-name-1764370000000"),
    );
    assert!(long.len() <= 63, "{long}");
    crate::common::identifier("name", &long).unwrap();
    crate::common::identifier("name", &a).unwrap();
    assert_eq!(
        crate::common::run_scoped_name("db-drkit-safety", None),
        "db-drkit-safety"
    );
}

/// The safety snapshot is named after the run: last quarter's is not found; a snapshot of the
/// run's name made before the run started is refused, never reported as taken.
#[tokio::test(start_paused = true)]
async fn the_safety_snapshot_is_this_runs_and_an_older_one_is_refused() {
    let started = SystemTime::now();
    let name = crate::common::run_scoped_name("mint-replica-cluster-drkit-safety", Some("drill-1"));
    assert_ne!(name, "mint-replica-cluster-drkit-safety");
    let mut api = MockRdsApi::new();
    // Last quarter's snapshot under the old name is never even looked at.
    let n = name.clone();
    api.expect_describe_snapshot()
        .withf(move |_, id| id == n)
        .returning(move |_, id| {
            Ok(DbSnapshot::new(
                id,
                "available",
                "mint-replica-cluster",
                Some(ago(90 * 24 * HOUR)),
            ))
        });
    api.expect_create_snapshot().never();
    let action = CreateSnapshot::new(
        "safety",
        SnapshotParams::cluster("mint-replica-cluster"),
        Arc::new(api),
        None,
    );
    let ctx = in_run("drill-1", started);
    assert_eq!(action.snapshot_name(&ctx), name);
    for err in [
        action.check(&ctx).await.unwrap_err(),
        action.execute(&ctx).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(
            err.message()
                .contains(&format!("snapshot {name} already exists, created"))
                && err.message().contains("before this run started"),
            "{err}"
        );
    }
}

/// An explicit `snapshot_id` made before the run is refused too; one made in the run (a
/// resume) is done.
#[tokio::test]
async fn an_explicit_snapshot_id_gets_the_same_staleness_rule() {
    let started = SystemTime::now() - HOUR;
    let action = |created: SystemTime| {
        let mut api = MockRdsApi::new();
        api.expect_describe_snapshot()
            .returning(move |_, id| Ok(DbSnapshot::new(id, "available", "mint-db", Some(created))));
        let mut params = SnapshotParams::instance("mint-db");
        params.snapshot_id = Some("before-drill".into());
        CreateSnapshot::new("safety", params, Arc::new(api), None)
    };
    let ctx = in_run("drill-2", started);
    let err = action(started - 2 * HOUR).check(&ctx).await.unwrap_err();
    assert!(
        err.message().contains("give another `snapshot_id`"),
        "{err}"
    );
    assert!(
        action(started + Duration::from_secs(60))
            .check(&ctx)
            .await
            .unwrap()
            .is_done()
    );
}

/// A restore target left from an earlier drill is refused, not reported as this run's restore
/// (which would have no RPO).
#[tokio::test]
async fn a_restore_target_from_an_earlier_drill_is_refused() {
    let started = SystemTime::now();
    let ctx = in_run("drill-3", started);
    let old = |id: &str| {
        let mut i = with_endpoint(DbInstance::new(id, "available"));
        i.created = Some(ago(90 * 24 * HOUR));
        i
    };
    let mut api = MockRdsApi::new();
    api.expect_describe_db_instance()
        .returning(move |id| Ok(old(id)));
    api.expect_restore_instance_to_point_in_time().never();
    let err = pitr(
        api,
        PitrParams::latest("mint-replica-primary", "mint-replica-restored"),
    )
    .check(&ctx)
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.message()
            .contains("instance mint-replica-restored already exists, created")
            && err.message().contains("give another `target`"),
        "{err}"
    );

    let mut api = MockRdsApi::new();
    api.expect_describe_db_cluster().returning(|id| {
        let mut c = DbCluster::new(id, "available", vec![]);
        c.created = Some(ago(90 * 24 * HOUR));
        Ok(c)
    });
    api.expect_restore_cluster_to_point_in_time().never();
    let err = cluster_restore(
        api,
        ClusterPitrParams::latest("mint-replica-cluster", "mint-restored", "db.r6g.large"),
    )
    .execute(&ctx)
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.message()
            .contains("cluster mint-restored already exists"),
        "{err}"
    );
}

/// A dry run has no run id: the plan names the snapshot's pattern and reads nothing (last
/// quarter's snapshot of the old, untagged name is not this run's either way).
#[tokio::test]
async fn a_dry_run_names_the_snapshot_after_the_run_to_come() {
    let mut api = MockRdsApi::new();
    api.expect_describe_snapshot().never();
    let action = CreateSnapshot::new(
        "safety",
        SnapshotParams::cluster("mint-replica-cluster"),
        Arc::new(api),
        None,
    );
    assert_eq!(
        action
            .check(&Context::new().with_dry_run(true))
            .await
            .unwrap(),
        Check::ready(
            "snapshot mint-replica-cluster as mint-replica-cluster-drkit-safety-<run tag> \
             (named when the run starts)"
        )
    );
}

/// The cluster restore's `CreateDBInstance` reached RDS but its answer was lost, and the
/// process was then killed: the retry reads the instance back (never a second create), the
/// resumed run still reports the data lost (from the journalled intent), and its rollback
/// deletes the instance and the cluster this step created, although its outputs were never
/// recorded.
#[tokio::test(start_paused = true)]
async fn a_cluster_restore_whose_instance_answer_was_lost_is_read_back_and_rolled_back() {
    const INSTANCE: &str = "mint-restored-instance-1";
    let cluster: Arc<Mutex<Option<DbCluster>>> = Arc::default();
    let instance: Arc<Mutex<Option<&'static str>>> = Arc::default();
    let mut api = MockRdsApi::new();
    let seen = Arc::clone(&cluster);
    api.expect_describe_db_cluster().returning(move |id| {
        if id == "mint-replica-cluster" {
            return Ok(source_cluster(false));
        }
        seen.lock().unwrap().clone().ok_or_else(|| not_found(id))
    });
    let seen = Arc::clone(&instance);
    api.expect_describe_db_instance().returning(move |id| {
        if id == "mint-1" {
            return Ok(DbInstance::new(id, "available"));
        }
        let status = (id == INSTANCE).then(|| *seen.lock().unwrap()).flatten();
        let mut i = DbInstance::new(id, status.ok_or_else(|| not_found(id))?);
        i.cluster = Some("mint-restored".into());
        Ok(i)
    });
    let made = Arc::clone(&cluster);
    api.expect_restore_cluster_to_point_in_time()
        .times(1)
        .returning(move |_, target, _, _| {
            let mut c = DbCluster::new(target, "available", vec![]);
            c.engine = Some("aurora-postgresql".into());
            *made.lock().unwrap() = Some(c);
            Ok(())
        });
    let made = Arc::clone(&instance);
    api.expect_create_cluster_instance()
        .times(1)
        .returning(move |_, _, _, _, _| {
            *made.lock().unwrap() = Some("creating");
            Err(drkit_core::ActionError::new(
                ErrorKind::Unavailable,
                "response error: connection closed before message completed",
            ))
        });
    let gone = Arc::clone(&instance);
    api.expect_delete_db_instance()
        .withf(|i| i == INSTANCE)
        .times(1)
        .returning(move |_| {
            *gone.lock().unwrap() = None;
            Ok(())
        });
    let gone = Arc::clone(&cluster);
    api.expect_delete_db_cluster()
        .withf(|c| c == "mint-restored")
        .times(1)
        .returning(move |_| {
            *gone.lock().unwrap() = None;
            Ok(())
        });
    let api: Arc<dyn crate::RdsApi> = Arc::new(api);
    let action = || {
        let params =
            ClusterPitrParams::latest("mint-replica-cluster", "mint-restored", "db.r6g.large");
        RestoreClusterToPointInTime::new("restore-cluster", params, Arc::clone(&api), None)
    };
    let ready = {
        let instance = Arc::clone(&instance);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(120)).await;
            *instance.lock().unwrap() = Some("available");
        })
    };

    let ctx = Context::new().with_step("restore-cluster");
    let first = action().execute(&ctx).await.unwrap();
    ready.await.unwrap();
    let lost = first.get("rpo_seconds").and_then(serde_json::Value::as_u64);
    assert!(lost.is_some_and(|s| (120..130).contains(&s)), "{first:?}");
    let intent = ctx
        .intent()
        .expect("the intent is journalled before each call");
    assert_eq!(intent.get_str("op"), Some("create-instance"));

    // Killed before the outputs were recorded: a resumed run has only the journalled intent.
    let resumed = Context::new()
        .with_step("restore-cluster")
        .with_recorded_intent(Some(intent));
    let again = action();
    let out = again.execute(&resumed).await.unwrap();
    assert_eq!(out.get_str("instance"), Some(INSTANCE));
    assert_eq!(out.get("rpo_seconds"), first.get("rpo_seconds"));
    again.rollback(&resumed).await.unwrap();
    assert!(cluster.lock().unwrap().is_none(), "the cluster is deleted");
    assert_eq!(*instance.lock().unwrap(), None, "its instance is deleted");
}
