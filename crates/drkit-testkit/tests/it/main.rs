//! The fault proxy against the real AWS SDK: every injected fault is one the SDK retries and
//! drkit-aws classifies as retryable (throttling, unavailable, time-out), in each protocol
//! drkit's providers speak; an endpoint that stops answering ends a call with a time-out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake_kube;

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use drkit_aws::{AwsContext, AwsSettings, SdkResultExt};
use drkit_core::{ActionError, ErrorKind};
use drkit_testkit::faults::{FaultConfig, FaultKind, FaultProxy};

/// Nothing listens here: a faulted request is never forwarded.
const NOWHERE: &str = "http://127.0.0.1:9";

async fn sdk_config(endpoint: &str, settings: AwsSettings) -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(Credentials::new("test", "test", None, None, "it"));
    let ctx =
        AwsContext::load_with(loader, &settings.region("us-west-2").endpoint_url(endpoint)).await;
    ctx.sdk_config().clone()
}

/// One read-only call of `service`, its error mapped by drkit-aws.
async fn call(service: &str, sdk: &SdkConfig) -> Result<(), ActionError> {
    match service {
        "rds" => aws_sdk_rds::Client::new(sdk)
            .describe_db_clusters()
            .send()
            .await
            .map(drop)
            .or_action_error("DescribeDBClusters"),
        "s3" => {
            let config = aws_sdk_s3::config::Builder::from(sdk)
                .force_path_style(true)
                .build();
            aws_sdk_s3::Client::from_conf(config)
                .list_buckets()
                .send()
                .await
                .map(drop)
                .or_action_error("ListBuckets")
        }
        "route53" => aws_sdk_route53::Client::new(sdk)
            .list_hosted_zones()
            .send()
            .await
            .map(drop)
            .or_action_error("ListHostedZones"),
        "acm" => aws_sdk_acm::Client::new(sdk)
            .list_certificates()
            .send()
            .await
            .map(drop)
            .or_action_error("ListCertificates"),
        "eks" => aws_sdk_eks::Client::new(sdk)
            .list_clusters()
            .send()
            .await
            .map(drop)
            .or_action_error("ListClusters"),
        "ec2" => aws_sdk_ec2::Client::new(sdk)
            .describe_vpcs()
            .send()
            .await
            .map(drop)
            .or_action_error("DescribeVpcs"),
        other => panic!("no call for {other}"),
    }
}

const SERVICES: [&str; 6] = ["rds", "s3", "route53", "acm", "eks", "ec2"];

#[tokio::test]
async fn every_injected_error_is_retried_by_the_sdk_and_retryable_for_drkit() {
    // (kind, 5xx variant) -> the drkit kind; rotation over one kind gives 500 then 503.
    for (kind, expected) in [
        (FaultKind::Throttle, ErrorKind::Throttled),
        (FaultKind::ServerError, ErrorKind::Unavailable),
    ] {
        for service in SERVICES {
            let proxy = FaultProxy::start_local(FaultConfig::new(NOWHERE).rate(1.0).kinds(&[kind]))
                .await
                .unwrap();
            // Two attempts: the second request proves the SDK's own classifier called the
            // first answer retryable.
            let sdk = sdk_config(&proxy.url(), AwsSettings::default().max_attempts(2)).await;
            let err = call(service, &sdk)
                .await
                .expect_err("every request is faulted");
            let stats = proxy.shutdown().await;
            assert_eq!(
                stats.by_service.get(service).map(|s| s.requests),
                Some(2),
                "{service} {kind:?}: the SDK did not retry: {stats:?} {err}"
            );
            assert_eq!(err.kind(), expected, "{service} {kind:?}: {err}");
            assert!(err.is_retryable(), "{service} {kind:?}: {err}");
            match kind {
                FaultKind::Throttle => assert!(
                    matches!(
                        err.code(),
                        Some(
                            "Throttling"
                                | "ThrottlingException"
                                | "SlowDown"
                                | "RequestLimitExceeded"
                        )
                    ),
                    "{service}: code {:?}",
                    err.code()
                ),
                _ => assert!(err.code().is_some(), "{service}: no code"),
            }
            assert_eq!(stats.faults.get(kind.name()), Some(&2));
            assert_eq!(stats.forwarded, 0);
        }
    }
}

#[tokio::test]
async fn a_held_request_ends_the_attempt_with_a_timeout_the_sdk_retries() {
    for service in ["rds", "s3", "acm", "eks"] {
        let proxy = FaultProxy::start_local(
            FaultConfig::new(NOWHERE)
                .rate(1.0)
                .kinds(&[FaultKind::Timeout])
                .hold(Duration::from_secs(5)),
        )
        .await
        .unwrap();
        let settings = AwsSettings::default()
            .max_attempts(2)
            .attempt_timeout(Duration::from_millis(300))
            .operation_timeout(Duration::from_secs(3));
        let sdk = sdk_config(&proxy.url(), settings).await;
        let started = Instant::now();
        let err = call(service, &sdk).await.expect_err("held");
        let took = started.elapsed();
        let stats = proxy.shutdown().await;
        assert_eq!(err.kind(), ErrorKind::Timeout, "{service}: {err}");
        assert!(err.is_retryable());
        assert_eq!(
            stats.faults.get("timeout"),
            Some(&2),
            "{service}: {stats:?}"
        );
        assert!(took < Duration::from_secs(3), "{service}: took {took:?}");
    }
}

#[tokio::test]
async fn an_endpoint_that_stops_answering_fails_the_call_within_the_operation_timeout() {
    let proxy = FaultProxy::start_local(FaultConfig::new(NOWHERE).blackhole_after(0))
        .await
        .unwrap();
    let settings = AwsSettings::default()
        .attempt_timeout(Duration::from_millis(400))
        .operation_timeout(Duration::from_millis(1500));
    let sdk = sdk_config(&proxy.url(), settings).await;
    let started = Instant::now();
    let err = call("rds", &sdk).await.expect_err("blackholed");
    let took = started.elapsed();
    let stats = proxy.shutdown().await;
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.message().contains("timed out"), "{err}");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert!(stats.blackholed >= 1, "{stats:?}");
}

/// Through the proxy to moto: the SDK's retries absorb the faults and the call succeeds.
#[tokio::test]
async fn faults_before_a_good_answer_are_absorbed_by_the_sdk_retries() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    for (service, kind) in [
        ("rds", FaultKind::Throttle),
        ("s3", FaultKind::ServerError),
        ("eks", FaultKind::Throttle),
        ("acm", FaultKind::ServerError),
    ] {
        let proxy = FaultProxy::start_local(
            FaultConfig::new(moto.endpoint())
                .rate(1.0)
                .kinds(&[kind])
                .max_faults(2),
        )
        .await
        .unwrap();
        // The default settings: 3 attempts, standard mode.
        let sdk = sdk_config(&proxy.url(), AwsSettings::default()).await;
        call(service, &sdk)
            .await
            .unwrap_or_else(|e| panic!("{service}: {e}"));
        let stats = proxy.shutdown().await;
        assert_eq!(stats.faults_total, 2, "{service}: {stats:?}");
        assert_eq!(stats.forwarded, 1, "{service}: {stats:?}");
    }
}

/// The quirk `drkit_aws::single_attempt` exists for: the SDK's standard retry sends a request
/// again when its answer was lost after the upstream had made the change (for a failover: fails
/// back). With one attempt, the request reaches the upstream once and the error is no refusal
/// (no AWS error code), which `Context::mutate` marks "may have been applied".
#[tokio::test]
async fn a_lost_answer_is_sent_again_by_the_sdk_unless_the_call_makes_one_attempt() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let proxy = FaultProxy::start_local(
        FaultConfig::new(moto.endpoint()).lose_answer("DescribeDBClusters", 1),
    )
    .await
    .unwrap();
    let sdk = sdk_config(&proxy.url(), AwsSettings::default()).await;
    call("rds", &sdk).await.unwrap();
    let stats = proxy.shutdown().await;
    assert_eq!(stats.answers_lost, 1, "{stats:?}");
    assert_eq!(
        stats.by_operation.get("DescribeDBClusters"),
        Some(&2),
        "{stats:?}"
    );
    assert_eq!(stats.forwarded, 2, "{stats:?}");

    let proxy = FaultProxy::start_local(
        FaultConfig::new(moto.endpoint()).lose_answer("DescribeDBClusters", 1),
    )
    .await
    .unwrap();
    let sdk = sdk_config(&proxy.url(), AwsSettings::default()).await;
    let err = aws_sdk_rds::Client::new(&sdk)
        .describe_db_clusters()
        .customize()
        .config_override(aws_sdk_rds::Config::builder().retry_config(drkit_aws::single_attempt()))
        .send()
        .await
        .map(drop)
        .or_action_error("DescribeDBClusters")
        .unwrap_err();
    let stats = proxy.shutdown().await;
    assert_eq!(
        stats.by_operation.get("DescribeDBClusters"),
        Some(&1),
        "{stats:?}"
    );
    assert!(!err.is_refusal(), "{err:?}");
    assert!(err.is_retryable(), "{err:?}");
}

/// A dark region: its regional services never answer (the call ends at the operation time-out),
/// while a global service signed for the same region passes.
#[tokio::test]
async fn a_dark_region_holds_its_regional_requests_and_passes_global_ones() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let proxy = FaultProxy::start_local(FaultConfig::new(moto.endpoint()).dark_region("us-east-1"))
        .await
        .unwrap();
    let settings = || {
        AwsSettings::default()
            .region("us-east-1")
            .endpoint_url(proxy.url())
            .operation_timeout(Duration::from_secs(2))
    };
    let loader = || {
        aws_config::defaults(BehaviorVersion::latest())
            .credentials_provider(Credentials::new("test", "test", None, None, "it"))
    };
    let east = AwsContext::load_with(loader(), &settings()).await;
    let sdk = east.sdk_config().clone();
    call("route53", &sdk).await.unwrap();
    let started = Instant::now();
    let err = call("rds", &sdk).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let west = AwsContext::load_with(loader(), &settings().region("us-west-2")).await;
    call("rds", west.sdk_config()).await.unwrap();
    let stats = proxy.shutdown().await;
    assert_eq!(stats.dark, 1, "{stats:?}");
    assert_eq!(
        stats.by_region.get("us-east-1/route53"),
        Some(&1),
        "{stats:?}"
    );
}
