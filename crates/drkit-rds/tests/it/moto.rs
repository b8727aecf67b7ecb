//! `rds.failover_db_cluster` against a real AWS API emulator (moto server), where the writer
//! really changes. Needs `DRKIT_TEST_AWS_ENDPOINT` (scripts/test.sh starts moto and sets it);
//! under CI=true a missing emulator fails these tests.

use aws_sdk_rds::Client;
use drkit_aws::AwsContext;
use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionExt, ActionRef, Check, Context, ErrorKind, RetryPolicy};
use drkit_testkit::faults::{FaultConfig, FaultProxy};
use drkit_testkit::{Moto, unique};
use serde_json::json;

const REGION: &str = "us-east-1";

/// Creates an Aurora PostgreSQL cluster like the seed's `mint-replica-cluster` with `n`
/// instances; the first one created is the writer. Returns (cluster, instances).
async fn create_cluster(client: &Client, n: usize) -> (String, Vec<String>) {
    let cluster = unique("mint-replica-cluster");
    client
        .create_db_cluster()
        .db_cluster_identifier(&cluster)
        .engine("aurora-postgresql")
        .master_username("mint_admin")
        .master_user_password("not-a-real-secret-1")
        .send()
        .await
        .unwrap();
    let mut instances = Vec::new();
    for i in 1..=n {
        let id = format!("{cluster}-{i}");
        client
            .create_db_instance()
            .db_instance_identifier(&id)
            .db_cluster_identifier(&cluster)
            .engine("aurora-postgresql")
            .db_instance_class("db.r6g.large")
            .send()
            .await
            .unwrap();
        instances.push(id);
    }
    (cluster, instances)
}

async fn writer_of(client: &Client, cluster: &str) -> Option<String> {
    let out = client
        .describe_db_clusters()
        .db_cluster_identifier(cluster)
        .send()
        .await
        .unwrap();
    out.db_clusters()[0]
        .db_cluster_members()
        .iter()
        .find(|m| m.is_cluster_writer() == Some(true))
        .and_then(|m| m.db_instance_identifier().map(str::to_owned))
}

async fn setup() -> Option<(Moto, Client, Registry)> {
    let moto = drkit_testkit::moto()?;
    let config = moto.sdk_config(REGION).await;
    let client = Client::new(&config);
    let mut registry = Registry::new();
    drkit_rds::register(&mut registry, AwsContext::from_sdk_config(config)).unwrap();
    Some((moto, client, registry))
}

fn failover(registry: &Registry, params: serde_json::Value) -> ActionRef {
    registry
        .build(&ActionSpec::new("failover-db", "rds.failover_db_cluster", params).in_region(REGION))
        .unwrap()
        .with_retry(RetryPolicy::attempts(3))
}

#[tokio::test]
async fn failover_to_a_named_reader_changes_the_writer() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let (cluster, instances) = create_cluster(&client, 2).await;
    assert_eq!(
        writer_of(&client, &cluster).await.as_deref(),
        Some(instances[0].as_str())
    );

    let action = failover(
        &registry,
        json!({"cluster": cluster, "target_instance": instances[1]}),
    );
    let ctx = Context::new();
    let check = action.check(&ctx).await.unwrap();
    assert_eq!(
        check,
        Check::ready(format!(
            "fail over DB cluster {cluster}: writer {} -> {}",
            instances[0], instances[1]
        ))
    );

    let outputs = action.execute(&ctx).await.unwrap();
    assert_eq!(outputs.get_str("writer"), Some(instances[1].as_str()));
    assert_eq!(
        outputs.get_str("previous_writer"),
        Some(instances[0].as_str())
    );
    // The emulator agrees, read independently of drkit.
    assert_eq!(
        writer_of(&client, &cluster).await.as_deref(),
        Some(instances[1].as_str())
    );

    action.verify(&ctx).await.unwrap();
    // Re-running is a no-op: check says done, with the same outputs.
    match action.check(&ctx).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("writer"), Some(instances[1].as_str()));
        }
        other => panic!("expected done, got {other:?}"),
    }
}

#[tokio::test]
async fn failover_without_a_target_promotes_some_reader() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let (cluster, instances) = create_cluster(&client, 3).await;
    let action = failover(&registry, json!({"cluster": cluster}));
    let outputs = action.execute(&Context::new()).await.unwrap();
    let writer = writer_of(&client, &cluster).await.unwrap();
    assert_ne!(writer, instances[0]);
    assert_eq!(outputs.get_str("writer"), Some(writer.as_str()));
}

#[tokio::test]
async fn rollback_fails_back_to_the_original_writer() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let (cluster, instances) = create_cluster(&client, 2).await;
    let action = failover(
        &registry,
        json!({"cluster": cluster, "target_instance": instances[1]}),
    );
    action.execute(&Context::new()).await.unwrap();
    assert_eq!(
        writer_of(&client, &cluster).await.as_deref(),
        Some(instances[1].as_str())
    );
    action.rollback(&Context::new()).await.unwrap();
    assert_eq!(
        writer_of(&client, &cluster).await.as_deref(),
        Some(instances[0].as_str())
    );
}

#[tokio::test]
async fn check_is_blocked_for_a_missing_cluster_or_a_cluster_without_reader() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let missing = failover(&registry, json!({"cluster": unique("no-such-cluster")}));
    let check = missing.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("does not exist")),
        "{check:?}"
    );

    let (cluster, _) = create_cluster(&client, 1).await;
    let lonely = failover(&registry, json!({"cluster": cluster}));
    assert_eq!(
        lonely.check(&Context::new()).await.unwrap(),
        Check::blocked(format!("cluster {cluster} has no reader to promote"))
    );
}

#[tokio::test]
async fn a_missing_cluster_is_a_not_found_error_with_the_aws_code() {
    let Some((_moto, _client, registry)) = setup().await else {
        return;
    };
    let action = failover(&registry, json!({"cluster": unique("no-such-cluster")}));
    let err = action.verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.code(), Some("DBClusterNotFoundFault"));
    assert_eq!(err.operation(), Some("DescribeDBClusters"));
    assert!(!err.is_retryable());
}

/// The quirk `drkit_aws::sdk_error` wraps: moto answers an operation it does not implement
/// with HTTP 500 and an HTML page. Without the wrapper that is a retryable 5xx.
#[tokio::test]
async fn an_operation_the_emulator_lacks_is_not_implemented_not_retryable() {
    let Some((_moto, client, _registry)) = setup().await else {
        return;
    };
    let result = client
        .describe_db_cluster_backtracks()
        .db_cluster_identifier("mint-replica-cluster")
        .send()
        .await;
    let err = drkit_aws::sdk_error("DescribeDBClusterBacktracks", result.unwrap_err());
    assert_eq!(err.kind(), ErrorKind::NotImplemented, "{err}");
    assert!(!err.is_retryable());
}

// --- restores, promotion, snapshots, probes ---------------------------------------------------

async fn create_instance(client: &Client, backups_days: i32) -> String {
    let id = unique("mint-replica-primary");
    client
        .create_db_instance()
        .db_instance_identifier(&id)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .master_username("mint_admin")
        .master_user_password("not-a-real-secret-1")
        .allocated_storage(20)
        .backup_retention_period(backups_days)
        .send()
        .await
        .unwrap();
    id
}

fn build(registry: &Registry, kind: &str, params: serde_json::Value) -> ActionRef {
    registry
        .build(&ActionSpec::new("step", kind, params).in_region(REGION))
        .unwrap()
}

async fn instance_exists(client: &Client, id: &str) -> bool {
    client
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
        .is_ok()
}

#[tokio::test]
async fn restore_to_the_latest_restorable_time_creates_the_instance_and_rolls_back() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let source = create_instance(&client, 7).await;
    let target = unique("mint-replica-restored");
    let action = build(
        &registry,
        "rds.restore_instance_to_point_in_time",
        json!({"source": source, "target": target, "use_latest_restorable_time": true}),
    );
    assert!(matches!(
        action.check(&Context::new()).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = action.execute(&Context::new()).await.unwrap();
    assert!(instance_exists(&client, &target).await);
    assert!(
        out.get_str("endpoint").unwrap().contains(&target),
        "{out:?}"
    );
    assert_eq!(out.get_str("rpo_class"), Some("database"));
    assert!(out.get("rpo_seconds").is_some());
    // A re-run finds it done instead of restoring twice.
    assert!(action.check(&Context::new()).await.unwrap().is_done());
    action.rollback(&Context::new()).await.unwrap();
    assert!(!instance_exists(&client, &target).await);
}

/// moto accepts any restore time; drkit refuses one outside the window before calling AWS.
#[tokio::test]
async fn a_restore_time_before_the_source_existed_is_refused_by_drkit() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let source = create_instance(&client, 7).await;
    let target = unique("mint-replica-restored");
    let action = build(
        &registry,
        "rds.restore_instance_to_point_in_time",
        json!({"source": source, "target": target, "restore_time": "2024-01-20T08:00:00Z"}),
    );
    let check = action.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("outside the restorable window")),
        "{check:?}"
    );
    assert!(action.execute(&Context::new()).await.is_err());
    assert!(
        !instance_exists(&client, &target).await,
        "nothing was restored"
    );
}

#[tokio::test]
async fn a_safety_snapshot_then_a_restore_of_the_latest_snapshot() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let source = create_instance(&client, 7).await;
    let snap = build(
        &registry,
        "rds.create_snapshot",
        json!({"instance": source}),
    );
    let out = snap.execute(&Context::new()).await.unwrap();
    let snapshot_id = out.get_str("snapshot").unwrap().to_owned();
    assert_eq!(snapshot_id, format!("{source}-drkit-step"));
    assert!(snap.check(&Context::new()).await.unwrap().is_done());

    let target = unique("mint-replica-restored");
    let restore = build(
        &registry,
        "rds.restore_instance_from_snapshot",
        json!({"target": target, "latest_snapshot_of": source}),
    );
    let out = restore.execute(&Context::new()).await.unwrap();
    assert!(instance_exists(&client, &target).await);
    // moto also keeps an automated snapshot taken at creation; the newest is ours.
    assert_eq!(out.get_str("snapshot"), Some(snapshot_id.as_str()));
    assert!(out.get("snapshot_age_seconds").is_some());
}

#[tokio::test]
async fn cluster_restore_creates_a_usable_cluster_with_an_instance() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let (cluster, _) = create_cluster(&client, 1).await;
    let target = unique("mint-restored");
    let action = build(
        &registry,
        "rds.restore_cluster_to_point_in_time",
        json!({"source": cluster, "target": target, "use_latest_restorable_time": true, "instance_class": "db.r6g.large"}),
    );
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("cluster"), Some(target.as_str()));
    let members = client
        .describe_db_clusters()
        .db_cluster_identifier(&target)
        .send()
        .await
        .unwrap();
    let members: Vec<_> = members.db_clusters()[0]
        .db_cluster_members()
        .iter()
        .filter_map(|m| m.db_instance_identifier().map(str::to_owned))
        .collect();
    assert_eq!(members, [format!("{target}-instance-1")]);
    action.verify(&Context::new()).await.unwrap();
}

#[tokio::test]
async fn an_aurora_replica_cluster_is_promoted() {
    let Some((moto, client, _)) = setup().await else {
        return;
    };
    let (source, _) = create_cluster(&client, 1).await;
    let arn = client
        .describe_db_clusters()
        .db_cluster_identifier(&source)
        .send()
        .await
        .unwrap()
        .db_clusters()[0]
        .db_cluster_arn()
        .unwrap()
        .to_owned();
    // The DR region's replica cluster.
    let west = Client::new(&moto.sdk_config("us-west-2").await);
    let replica = unique("mint-dr");
    west.create_db_cluster()
        .db_cluster_identifier(&replica)
        .engine("aurora-postgresql")
        .replication_source_identifier(&arn)
        .master_username("mint_admin")
        .master_user_password("not-a-real-secret-1")
        .send()
        .await
        .unwrap();
    let mut registry = Registry::new();
    drkit_rds::register(
        &mut registry,
        AwsContext::from_sdk_config(moto.sdk_config("us-east-1").await),
    )
    .unwrap();
    let action = registry
        .build(
            &ActionSpec::new(
                "promote",
                "rds.promote_read_replica_db_cluster",
                json!({"cluster": replica}),
            )
            .in_region("us-west-2"),
        )
        .unwrap();
    assert!(matches!(
        action.check(&Context::new()).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("promoted_from"), Some(arn.as_str()));
    let after = west
        .describe_db_clusters()
        .db_cluster_identifier(&replica)
        .send()
        .await
        .unwrap();
    assert_eq!(after.db_clusters()[0].replication_source_identifier(), None);
    assert!(action.check(&Context::new()).await.unwrap().is_done());
}

/// moto does not clear `ReadReplicaSourceDBInstanceIdentifier` on promote-read-replica, so the
/// wait for "standalone" is covered by the mocked tests; here: the check and the call itself.
#[tokio::test]
async fn a_read_replica_promotion_is_accepted_by_the_api() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let source = create_instance(&client, 7).await;
    let replica = unique("mint-replica-replica");
    client
        .create_db_instance_read_replica()
        .db_instance_identifier(&replica)
        .source_db_instance_identifier(&source)
        .send()
        .await
        .unwrap();
    let action = build(
        &registry,
        "rds.promote_read_replica",
        json!({"instance": replica}),
    );
    assert_eq!(
        action.check(&Context::new()).await.unwrap(),
        Check::ready(format!(
            "promote {replica} (replicating from {source}) to a standalone database"
        ))
    );
    client
        .promote_read_replica()
        .db_instance_identifier(&replica)
        .send()
        .await
        .unwrap();
}

/// `rds.check_replica_lag` against moto's CloudWatch (moto speaks the RPC v2 CBOR protocol that
/// current `aws-sdk-cloudwatch` uses since 5.2.6, the version `scripts/lib/peers.sh` pins): a
/// datapoint put with `PutMetricData` is read back and compared with the limit, and an instance
/// with no datapoint is blocked ("the lag is unknown"), never passed.
#[tokio::test]
async fn replica_lag_is_read_from_cloudwatch_and_compared_with_the_limit() {
    let Some((moto, _client, registry)) = setup().await else {
        return;
    };
    let instance = unique("mint-replica-replica");
    let probe = |max_lag: &str, instance: &str| {
        build(
            &registry,
            "rds.check_replica_lag",
            json!({"instance": instance, "max_lag": max_lag}),
        )
    };
    match probe("30s", &instance)
        .check(&Context::new())
        .await
        .unwrap()
    {
        Check::Blocked { reason } => assert!(reason.contains("lag is unknown"), "{reason}"),
        other => panic!("no datapoint must block, got {other:?}"),
    }

    let cloudwatch = aws_sdk_cloudwatch::Client::new(&moto.sdk_config(REGION).await);
    cloudwatch
        .put_metric_data()
        .namespace("AWS/RDS")
        .metric_data(
            aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name("ReplicaLag")
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name("DBInstanceIdentifier")
                        .value(&instance)
                        .build(),
                )
                .value(12.0)
                .unit(aws_sdk_cloudwatch::types::StandardUnit::Seconds)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let within = probe("30s", &instance)
        .check(&Context::new())
        .await
        .unwrap();
    assert!(matches!(within, Check::Done { .. }), "{within:?}");
    match probe("5s", &instance).check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => assert!(reason.contains("12"), "{reason}"),
        other => panic!("12 s of lag above a 5 s limit must block, got {other:?}"),
    }
}

#[tokio::test]
async fn cluster_status_reports_writer_and_readers() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let (cluster, instances) = create_cluster(&client, 2).await;
    let probe = build(
        &registry,
        "rds.cluster_status",
        json!({"cluster": cluster, "min_members": 2}),
    );
    let out = probe.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("writer"), Some(instances[0].as_str()));
    assert_eq!(out.get("readers"), Some(&json!([instances[1]])));
    let strict = build(
        &registry,
        "rds.cluster_status",
        json!({"cluster": cluster, "min_members": 3}),
    );
    assert!(matches!(
        strict.check(&Context::new()).await.unwrap(),
        Check::Blocked { .. }
    ));
}

/// A registry whose RDS calls go through a fault proxy that loses the answer to the first
/// `FailoverDBCluster`: the failover reaches moto and is made, the answer never reaches drkit.
async fn through_a_proxy_losing_the_failover_answer(moto: &Moto) -> (FaultProxy, Registry) {
    let proxy = FaultProxy::start_local(
        FaultConfig::new(moto.endpoint()).lose_answer("FailoverDBCluster", 1),
    )
    .await
    .unwrap();
    let config = moto
        .sdk_config(REGION)
        .await
        .into_builder()
        .endpoint_url(proxy.url())
        .build();
    let mut registry = Registry::new();
    drkit_rds::register(&mut registry, AwsContext::from_sdk_config(config)).unwrap();
    (proxy, registry)
}

/// The case 1: the answer to `FailoverDBCluster` is lost after the failover was made.
/// Sent once only (a second one would fail back), the step reads the cluster, sees the new
/// writer and succeeds, with or without a target.
#[tokio::test]
async fn a_lost_failover_answer_is_reconciled_by_reading_never_by_failing_over_again() {
    let Some((moto, client, _)) = setup().await else {
        return;
    };
    for target in [false, true] {
        let (cluster, instances) = create_cluster(&client, 3).await;
        let (proxy, registry) = through_a_proxy_losing_the_failover_answer(&moto).await;
        let params = if target {
            json!({"cluster": cluster, "target_instance": instances[2]})
        } else {
            json!({"cluster": cluster})
        };
        let action = failover(&registry, params);
        let ctx = Context::new();
        assert!(matches!(
            action.check(&ctx).await.unwrap(),
            Check::Ready { .. }
        ));
        let outputs = action
            .execute(&ctx)
            .await
            .unwrap_or_else(|e| panic!("target {target}: {e}"));
        let stats = proxy.stats();
        assert_eq!(stats.answers_lost, 1, "{stats:?}");
        assert_eq!(
            stats.by_operation.get("FailoverDBCluster"),
            Some(&1),
            "FailoverDBCluster must reach RDS exactly once: {stats:?}"
        );
        let writer = writer_of(&client, &cluster).await.unwrap();
        assert_ne!(writer, instances[0], "the cluster failed back");
        if target {
            assert_eq!(writer, instances[2]);
        }
        assert_eq!(outputs.get_str("writer"), Some(writer.as_str()));
        assert_eq!(
            outputs.get_str("previous_writer"),
            Some(instances[0].as_str())
        );
        // The intent recorded before the call is what told the step whose change it saw.
        let intent = ctx
            .intent()
            .expect("the intent is recorded before the call");
        assert_eq!(intent.get_str("from"), Some(instances[0].as_str()));
        action.verify(&ctx).await.unwrap();
        proxy.shutdown().await;
    }
}

/// An Aurora global database like the seed's: the primary in us-east-1, a secondary with one
/// instance in us-west-2. Returns (global, primary ARN, secondary id).
async fn global_database(moto: &Moto) -> (String, String, String) {
    let east = Client::new(&moto.sdk_config("us-east-1").await);
    let west = Client::new(&moto.sdk_config("us-west-2").await);
    // An empty global database, then its primary: moto marks a source cluster given to
    // CreateGlobalCluster as no writer (AWS makes it the writer), so the primary joins instead.
    let global = unique("mint-global");
    west.create_global_cluster()
        .global_cluster_identifier(&global)
        .engine("aurora-postgresql")
        .send()
        .await
        .unwrap();
    let primary = unique("mint-primary");
    let created = east
        .create_db_cluster()
        .db_cluster_identifier(&primary)
        .engine("aurora-postgresql")
        .master_username("mint_admin")
        .master_user_password("not-a-real-secret-1")
        .global_cluster_identifier(&global)
        .send()
        .await
        .unwrap();
    let primary_arn = created
        .db_cluster()
        .and_then(|c| c.db_cluster_arn())
        .unwrap()
        .to_owned();
    let secondary = unique("mint-dr");
    west.create_db_cluster()
        .db_cluster_identifier(&secondary)
        .engine("aurora-postgresql")
        .global_cluster_identifier(&global)
        .send()
        .await
        .unwrap();
    west.create_db_instance()
        .db_instance_identifier(format!("{secondary}-1"))
        .db_cluster_identifier(&secondary)
        .engine("aurora-postgresql")
        .db_instance_class("db.r6g.large")
        .send()
        .await
        .unwrap();
    (global, primary_arn, secondary)
}

/// The Region-loss paths against moto (with drkit's fake of the global-database operations
/// moto lacks: scripts/lib/moto_server.py): the global database read from the secondary's
/// Region; a switchover to the secondary and its rollback; the detach of the secondary into a
/// standalone writer, called in its own Region.
#[tokio::test]
async fn a_global_database_switches_over_and_its_secondary_detaches() {
    let Some((moto, _, _)) = setup().await else {
        return;
    };
    let (global, primary_arn, secondary) = global_database(&moto).await;
    let mut registry = Registry::new();
    drkit_rds::register(
        &mut registry,
        AwsContext::from_sdk_config(moto.sdk_config("us-west-2").await),
    )
    .unwrap();
    let build = |id: &str, kind: &str, params: serde_json::Value| {
        registry
            .build(&ActionSpec::new(id, kind, params).in_region("us-west-2"))
            .unwrap()
    };
    // One context per step, as the runner gives: a context carries its step's intent.
    let (switch_ctx, detach_ctx) = (Context::new(), Context::new());
    let check = build(
        "db-global-ready",
        "rds.check_global_cluster",
        json!({"global_cluster": global}),
    );
    match check.check(&Context::new()).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("writer"), Some(primary_arn.as_str()));
            assert_eq!(outputs.get_str("writer_region"), Some("us-east-1"));
            let members = outputs.get_str("members").unwrap();
            assert!(
                members.contains(&format!("us-west-2/{secondary} (secondary)")),
                "{members}"
            );
        }
        other => panic!("{other:?}"),
    }

    // Graceful: switch over to the secondary, then roll back.
    let switch = build(
        "db-switchover",
        "rds.switchover_global_cluster",
        json!({"global_cluster": global, "target_cluster": secondary}),
    );
    assert!(matches!(
        switch.check(&switch_ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = switch.execute(&switch_ctx).await.unwrap();
    assert_eq!(out.get_str("previous_writer"), Some(primary_arn.as_str()));
    switch.verify(&switch_ctx).await.unwrap();
    assert!(matches!(
        switch.check(&switch_ctx).await.unwrap(),
        Check::Done { .. }
    ));
    switch.rollback(&switch_ctx).await.unwrap();
    match check.check(&Context::new()).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("writer"), Some(primary_arn.as_str()));
        }
        other => panic!("{other:?}"),
    }

    // The writer cannot be detached.
    let primary = primary_arn.rsplit(':').next().unwrap();
    let mut east = Registry::new();
    drkit_rds::register(
        &mut east,
        AwsContext::from_sdk_config(moto.sdk_config("us-east-1").await),
    )
    .unwrap();
    let writer = east
        .build(
            &ActionSpec::new(
                "db-detach",
                "rds.detach_global_secondary",
                json!({"global_cluster": global, "cluster": primary}),
            )
            .in_region("us-east-1"),
        )
        .unwrap();
    assert!(matches!(
        writer.check(&Context::new()).await.unwrap(),
        Check::Blocked { .. }
    ));

    // Ungraceful: detach the secondary in its own Region; it becomes a standalone writer.
    let detach = build(
        "db-detach",
        "rds.detach_global_secondary",
        json!({"global_cluster": global, "cluster": secondary}),
    );
    match detach.check(&detach_ctx).await.unwrap() {
        Check::Ready { change } => assert!(change.starts_with(&format!("detach {secondary}"))),
        other => panic!("{other:?}"),
    }
    let out = detach.execute(&detach_ctx).await.unwrap();
    assert_eq!(
        out.get_str("writer"),
        Some(format!("{secondary}-1").as_str())
    );
    detach.verify(&detach_ctx).await.unwrap();
    assert!(matches!(
        detach.check(&detach_ctx).await.unwrap(),
        Check::Done { .. }
    ));
}

// --- where restores land; drill artifacts are this run's ----------------------------------

const SOURCE_SG: &str = "sg-0123456789abcdef0";
const DRILL_SG: &str = "sg-0fedcba987654321f";

async fn cluster_security_groups(client: &Client, cluster: &str) -> Vec<String> {
    let out = client
        .describe_db_clusters()
        .db_cluster_identifier(cluster)
        .send()
        .await
        .unwrap();
    out.db_clusters()[0]
        .vpc_security_groups()
        .iter()
        .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
        .collect()
}

/// moto, like AWS, restores a cluster into the VPC's default security group when the request
/// names none: drkit sends the source's (or the runbook's), and moto reads them back.
#[tokio::test]
async fn a_cluster_restore_lands_in_the_source_security_groups_or_the_runbooks() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let source = unique("mint-replica-cluster");
    let group = unique("mint-cluster-pg");
    client
        .create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name(&group)
        .db_parameter_group_family("aurora-postgresql16")
        .description("drkit test")
        .send()
        .await
        .unwrap();
    client
        .create_db_cluster()
        .db_cluster_identifier(&source)
        .engine("aurora-postgresql")
        .master_username("mint_admin")
        .master_user_password("not-a-real-secret-1")
        .vpc_security_group_ids(SOURCE_SG)
        .db_cluster_parameter_group_name(&group)
        .serverless_v2_scaling_configuration(
            aws_sdk_rds::types::ServerlessV2ScalingConfiguration::builder()
                .min_capacity(0.5)
                .max_capacity(4.0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    client
        .create_db_instance()
        .db_instance_identifier(format!("{source}-1"))
        .db_cluster_identifier(&source)
        .engine("aurora-postgresql")
        .db_instance_class("db.serverless")
        .send()
        .await
        .unwrap();

    // What RDS does without them (the bug drkit avoids): the default security group.
    let bare = unique("mint-bare");
    client
        .restore_db_cluster_to_point_in_time()
        .source_db_cluster_identifier(&source)
        .db_cluster_identifier(&bare)
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap();
    assert_ne!(cluster_security_groups(&client, &bare).await, [SOURCE_SG]);

    let target = unique("mint-restored");
    let action = build(
        &registry,
        "rds.restore_cluster_to_point_in_time",
        json!({"source": source, "target": target, "use_latest_restorable_time": true,
               "instance_class": "db.serverless"}),
    );
    match action.check(&Context::new()).await.unwrap() {
        Check::Ready { change } => assert!(
            change.contains(&format!("security groups {SOURCE_SG}"))
                && change.contains(&format!("cluster parameter group {group}"))
                && change.contains("Serverless v2 0.5-4 ACUs"),
            "{change}"
        ),
        other => panic!("{other:?}"),
    }
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(cluster_security_groups(&client, &target).await, [SOURCE_SG]);
    assert_eq!(out.get("security_groups"), Some(&json!([SOURCE_SG])));
    let restored = client
        .describe_db_clusters()
        .db_cluster_identifier(&target)
        .send()
        .await
        .unwrap();
    let restored = &restored.db_clusters()[0];
    assert_eq!(restored.db_cluster_parameter_group(), Some(group.as_str()));
    let scaling = restored.serverless_v2_scaling_configuration().unwrap();
    assert_eq!(
        (scaling.min_capacity(), scaling.max_capacity()),
        (Some(0.5), Some(4.0))
    );

    // The runbook's settings win.
    let target = unique("mint-restored");
    build(
        &registry,
        "rds.restore_cluster_to_point_in_time",
        json!({"source": source, "target": target, "use_latest_restorable_time": true,
               "instance_class": "db.serverless", "security_groups": [DRILL_SG],
               "min_capacity": 1.0, "max_capacity": 2.0}),
    )
    .execute(&Context::new())
    .await
    .unwrap();
    assert_eq!(cluster_security_groups(&client, &target).await, [DRILL_SG]);
}

/// A snapshot does not carry its instance's security groups (moto drops them too): drkit reads
/// them from the snapshot's instance; once that instance is deleted, the restore is blocked
/// until the runbook gives the network.
#[tokio::test]
async fn a_snapshot_restore_takes_the_network_of_the_snapshots_instance() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let source = unique("mint-replica-primary");
    client
        .create_db_instance()
        .db_instance_identifier(&source)
        .engine("postgres")
        .db_instance_class("db.t3.micro")
        .master_username("mint_admin")
        .master_user_password("not-a-real-secret-1")
        .allocated_storage(20)
        .vpc_security_group_ids(SOURCE_SG)
        .send()
        .await
        .unwrap();
    let snapshot = unique("mint-final");
    client
        .create_db_snapshot()
        .db_instance_identifier(&source)
        .db_snapshot_identifier(&snapshot)
        .send()
        .await
        .unwrap();
    let target = unique("mint-replica-restored");
    let out = build(
        &registry,
        "rds.restore_instance_from_snapshot",
        json!({"target": target, "snapshot": snapshot}),
    )
    .execute(&Context::new())
    .await
    .unwrap();
    assert_eq!(out.get("security_groups"), Some(&json!([SOURCE_SG])));

    client
        .delete_db_instance()
        .db_instance_identifier(&source)
        .skip_final_snapshot(true)
        .send()
        .await
        .unwrap();
    let check = build(
        &registry,
        "rds.restore_instance_from_snapshot",
        json!({"target": unique("mint-replica-restored"), "snapshot": snapshot}),
    )
    .check(&Context::new())
    .await
    .unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason }
            if reason.contains("give `subnet_group` and `security_groups`")),
        "{check:?}"
    );
}

/// The safety snapshot is named after the run: a resume of the run finds it, the next run
/// takes another; a snapshot of the name made before the run started is refused.
#[tokio::test]
async fn the_safety_snapshot_is_this_runs() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let source = create_instance(&client, 7).await;
    let started = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
    let run = |id: &str| Context::new().with_run(id.to_owned(), started);
    let snap = build(
        &registry,
        "rds.create_snapshot",
        json!({"instance": source}),
    );
    let first = snap.execute(&run("drill-q3")).await.unwrap();
    let name = first.get_str("snapshot").unwrap().to_owned();
    assert!(name.starts_with(&format!("{source}-drkit-step-")), "{name}");
    assert!(snap.check(&run("drill-q3")).await.unwrap().is_done());
    let next = snap.execute(&run("drill-q4")).await.unwrap();
    assert_ne!(next.get_str("snapshot"), Some(name.as_str()));

    // Last quarter's snapshot under a name the runbook gives: refused, not reused.
    let later = Context::new().with_run(
        "drill-q1".to_owned(),
        std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
    );
    let given = build(
        &registry,
        "rds.create_snapshot",
        json!({"instance": source, "snapshot_id": name}),
    );
    let err = given.check(&later).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.message().contains("before this run started"), "{err}");
}

// --- reprotect after a detach -------------------------------------------------------------

fn regional(
    registry: &Registry,
    id: &str,
    kind: &str,
    params: serde_json::Value,
    region: &str,
) -> ActionRef {
    registry
        .build(&ActionSpec::new(id, kind, params).in_region(region))
        .unwrap()
}

async fn global_members(client: &Client, global: &str) -> Option<Vec<(String, bool)>> {
    let out = client
        .describe_global_clusters()
        .global_cluster_identifier(global)
        .send()
        .await
        .ok()?;
    // moto answers every global cluster, whatever the identifier asked.
    out.global_clusters()
        .iter()
        .find(|g| g.global_cluster_identifier() == Some(global))
        .map(|g| {
            g.global_cluster_members()
                .iter()
                .map(|m| {
                    (
                        m.db_cluster_arn().unwrap_or_default().to_owned(),
                        m.is_writer().unwrap_or(false),
                    )
                })
                .collect()
        })
}

/// The reprotect path against moto (global-database operations through
/// scripts/lib/moto_server.py where moto lacks them): detach the secondary, build a new global
/// database around it, retire the old one (the stale primary stays, standalone), add a new
/// secondary in the old primary's Region; then roll the new secondary and the new global
/// database back.
#[tokio::test]
async fn a_detached_secondary_is_reprotected_by_a_new_global_database() {
    let Some((moto, _, _)) = setup().await else {
        return;
    };
    let (old, primary_arn, secondary) = global_database(&moto).await;
    let east = Client::new(&moto.sdk_config("us-east-1").await);
    let mut registry = Registry::new();
    drkit_rds::register(
        &mut registry,
        AwsContext::from_sdk_config(moto.sdk_config("us-west-2").await),
    )
    .unwrap();
    // One context per step, as the runner gives: a context carries its step's intent.
    let (create_ctx, retire_ctx, add_ctx) = (Context::new(), Context::new(), Context::new());
    let detach = regional(
        &registry,
        "db-detach",
        "rds.detach_global_secondary",
        json!({"global_cluster": old, "cluster": secondary}),
        "us-west-2",
    );
    detach.execute(&Context::new()).await.unwrap();

    // The old name is held by the stale primary: blocked, naming it.
    let taken = regional(
        &registry,
        "db-global-new",
        "rds.create_global_cluster",
        json!({"global_cluster": old, "source_cluster": secondary}),
        "us-west-2",
    );
    match taken.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => assert!(reason.contains("(writer)"), "{reason}"),
        other => panic!("{other:?}"),
    }

    let new = unique("mint-global-2");
    let create = regional(
        &registry,
        "db-global-new",
        "rds.create_global_cluster",
        json!({"global_cluster": new, "source_cluster": secondary}),
        "us-west-2",
    );
    assert!(matches!(
        create.check(&create_ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = create.execute(&create_ctx).await.unwrap();
    let secondary_arn = out.get_str("writer").unwrap().to_owned();
    assert!(
        secondary_arn.ends_with(&format!(":cluster:{secondary}")),
        "{secondary_arn}"
    );
    create.verify(&create_ctx).await.unwrap();
    assert!(matches!(
        create.check(&create_ctx).await.unwrap(),
        Check::Done { .. }
    ));
    // A second CreateGlobalCluster of that name is refused, as on AWS (moto would replace it:
    // scripts/lib/moto_server.py wraps that).
    let again = east
        .create_global_cluster()
        .global_cluster_identifier(&new)
        .engine("aurora-postgresql")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        again.as_service_error().and_then(|e| e.meta().code()),
        Some("GlobalClusterAlreadyExistsFault")
    );

    // Retire the old global database: only when its members are named.
    let primary = primary_arn.rsplit(':').next().unwrap().to_owned();
    let unnamed = regional(
        &registry,
        "db-global-old-retired",
        "rds.retire_global_cluster",
        json!({"global_cluster": old, "expect_members": []}),
        "us-east-1",
    );
    assert!(matches!(
        unnamed.check(&Context::new()).await.unwrap(),
        Check::Blocked { .. }
    ));
    let retire = regional(
        &registry,
        "db-global-old-retired",
        "rds.retire_global_cluster",
        json!({"global_cluster": old, "expect_members": [primary]}),
        "us-east-1",
    );
    let out = retire.execute(&retire_ctx).await.unwrap();
    assert_eq!(out.get("detached"), Some(&json!([primary_arn])));
    assert_eq!(global_members(&east, &old).await, None, "deleted");
    assert!(
        east.describe_db_clusters()
            .db_cluster_identifier(&primary)
            .send()
            .await
            .is_ok(),
        "the stale primary is kept"
    );
    assert!(matches!(
        retire.check(&retire_ctx).await.unwrap(),
        Check::Done { .. }
    ));

    // A new secondary in the old primary's Region.
    let east_2 = unique("mint-replica-east-2");
    let add = regional(
        &registry,
        "db-secondary-east",
        "rds.add_global_secondary",
        json!({
            "global_cluster": new,
            "cluster": east_2,
            "instances": [{"identifier": format!("{east_2}-1"), "class": "db.r6g.large"}],
        }),
        "us-east-1",
    );
    assert!(matches!(
        add.check(&add_ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = add.execute(&add_ctx).await.unwrap();
    assert_eq!(out.get_str("engine"), Some("aurora-postgresql"));
    add.verify(&add_ctx).await.unwrap();
    assert!(matches!(
        add.check(&add_ctx).await.unwrap(),
        Check::Done { .. }
    ));
    let members = global_members(&east, &new).await.unwrap();
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(
        members.contains(&(secondary_arn.clone(), true)),
        "{members:?}"
    );

    // The stale primary's name cannot be the new secondary: never adopted.
    let stale = regional(
        &registry,
        "db-secondary-stale",
        "rds.add_global_secondary",
        json!({
            "global_cluster": new,
            "cluster": primary,
            "instances": [{"identifier": format!("{primary}-9"), "class": "db.r6g.large"}],
        }),
        "us-east-1",
    );
    assert!(matches!(
        stale.check(&Context::new()).await.unwrap(),
        Check::Blocked { .. }
    ));

    // Roll back: the secondary, then the new global database.
    add.rollback(&add_ctx).await.unwrap();
    assert_eq!(global_members(&east, &new).await.unwrap().len(), 1);
    assert!(
        east.describe_db_clusters()
            .db_cluster_identifier(&east_2)
            .send()
            .await
            .is_err(),
        "the secondary is deleted"
    );
    create.rollback(&create_ctx).await.unwrap();
    assert_eq!(global_members(&east, &new).await, None);
}
