//! `rds.failover_db_cluster` against a real AWS API emulator (moto server), where the writer
//! really changes. Needs `DRKIT_TEST_AWS_ENDPOINT` (scripts/test.sh starts moto and sets it);
//! under CI=true a missing emulator fails these tests.

use aws_sdk_rds::Client;
use drkit_aws::AwsContext;
use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionExt, ActionRef, Check, Context, ErrorKind, RetryPolicy};
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
    drkit_rds::register(&mut registry, &AwsContext::from_sdk_config(config)).unwrap();
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
        .failover_global_cluster()
        .global_cluster_identifier("mint-global")
        .target_db_cluster_identifier("arn:aws:rds:us-west-2:123456789012:cluster:mint-dr")
        .send()
        .await;
    let err = drkit_aws::sdk_error("FailoverGlobalCluster", result.unwrap_err());
    assert_eq!(err.kind(), ErrorKind::NotImplemented, "{err}");
    assert!(!err.is_retryable());
}
