use std::sync::Arc;
use std::time::Instant;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_route53recoverycluster::config::Credentials;
use drkit_arc::{
    CheckRoutingControl, CheckRoutingControlParams, ClusterEndpoint, ControlExpectation,
    ControlState, ControlTarget, UpdateRoutingControl, UpdateRoutingControlParams,
};
use drkit_aws::{Aws, AwsContext};
use drkit_core::{ActionKind, Check, Context, ErrorKind, RecoveryAction, StepSpec};
use drkit_testkit::fake_arc::FakeArc;
use drkit_testkit::faults::{FaultConfig, FaultProxy};

const USE1: &str =
    "arn:aws:route53-recovery-control::111122223333:controlpanel/mint/routingcontrol/use1";
const USW2: &str =
    "arn:aws:route53-recovery-control::111122223333:controlpanel/mint/routingcontrol/usw2";
const RULE: &str =
    "arn:aws:route53-recovery-control::111122223333:controlpanel/mint/safetyrule/one-on";

async fn aws() -> Aws {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .region(Region::new("us-west-2"))
        .load()
        .await;
    Aws::loaded(AwsContext::from_sdk_config(config))
}

/// A proxy answering ARC from a fake cluster (use1 On, usw2 Off, one must stay On) with
/// `dark` regions black-holed. Nothing is forwarded: the upstream is never reached.
async fn cluster(dark: &[&str]) -> (FaultProxy, Arc<FakeArc>) {
    let arc = Arc::new(
        FakeArc::new()
            .with_control(USE1, "On")
            .with_control(USW2, "Off")
            .with_at_least_one_on(RULE, &[USE1, USW2]),
    );
    let mut config = FaultConfig::new("http://127.0.0.1:9").arc(Arc::clone(&arc));
    for region in dark {
        config = config.dark_region(*region);
    }
    (FaultProxy::start_local(config).await.unwrap(), arc)
}

/// The cluster's five endpoints, all the proxy, us-east-1 first.
fn endpoints(proxy: &FaultProxy) -> Vec<ClusterEndpoint> {
    [
        "us-east-1",
        "us-west-2",
        "eu-west-1",
        "ap-southeast-2",
        "ap-northeast-1",
    ]
    .iter()
    .map(|r| ClusterEndpoint::new(proxy.url(), *r))
    .collect()
}

async fn failover(proxy: &FaultProxy, states: [ControlState; 2]) -> UpdateRoutingControl {
    let params = UpdateRoutingControlParams::new(
        vec![
            ControlTarget::new(USE1, states[0]),
            ControlTarget::new(USW2, states[1]),
        ],
        endpoints(proxy),
    );
    UpdateRoutingControl::build(
        StepSpec::new("dns-arc", params),
        &drkit_arc::ports(&aws().await),
    )
    .unwrap()
}

fn arc_requests_to(proxy: &FaultProxy, region: &str) -> u64 {
    proxy
        .stats()
        .by_region
        .get(&format!("{region}/route53-recovery-cluster"))
        .copied()
        .unwrap_or_default()
}

#[tokio::test]
async fn with_us_east_1_impaired_the_failover_never_calls_it() {
    let (proxy, arc) = cluster(&["us-east-1"]).await;
    let a = failover(&proxy, [ControlState::Off, ControlState::On]).await;
    let ctx = Context::new().with_impaired_regions(["us-east-1"]);
    assert!(matches!(a.check(&ctx).await.unwrap(), Check::Ready { .. }));
    let out = a.execute(&ctx).await.unwrap();
    a.verify(&ctx).await.unwrap();
    assert_eq!(out.get_str("endpoint_region"), Some("us-west-2"));
    assert_eq!(
        (arc.state(USE1), arc.state(USW2)),
        (Some("Off"), Some("On"))
    );
    assert_eq!(arc_requests_to(&proxy, "us-east-1"), 0);
    assert_eq!(arc.updates(), 1);
    // Rolled back: the states before, again through us-west-2.
    a.rollback(&ctx).await.unwrap();
    assert_eq!(
        (arc.state(USE1), arc.state(USW2)),
        (Some("On"), Some("Off"))
    );
    assert_eq!(arc_requests_to(&proxy, "us-east-1"), 0);
}

#[tokio::test]
async fn a_dark_endpoint_costs_its_time_out_then_the_next_answers() {
    // Not told that us-east-1 is impaired (a graceful run meeting the outage): its endpoint is
    // tried first, times out, and the next one takes the update.
    let (proxy, arc) = cluster(&["us-east-1"]).await;
    let a = failover(&proxy, [ControlState::Off, ControlState::On]).await;
    let started = Instant::now();
    let out = a.execute(&Context::new()).await.unwrap();
    let took = started.elapsed();
    assert_eq!(out.get_str("endpoint_region"), Some("us-west-2"));
    assert_eq!(arc.state(USW2), Some("On"));
    assert!(arc_requests_to(&proxy, "us-east-1") >= 1);
    // One dark call, bounded by the per-endpoint time-outs; later calls go to us-west-2 first.
    assert!(
        took < drkit_arc::ENDPOINT_OPERATION_TIMEOUT * 2,
        "took {took:?}"
    );
}

#[tokio::test]
async fn a_safety_rule_refusal_comes_back_as_arc_s_conflict() {
    let (proxy, arc) = cluster(&[]).await;
    // Both Off would break "at least one On".
    let a = failover(&proxy, [ControlState::Off, ControlState::Off]).await;
    let err = a.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.code(), Some("ConflictException"), "{err}");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.message().contains("safety_rules_to_override"), "{err}");
    assert_eq!(arc.updates(), 0);
    assert_eq!(arc.state(USE1), Some("On"));
    // Overridden, it goes through.
    let mut params = UpdateRoutingControlParams::new(
        vec![
            ControlTarget::new(USE1, ControlState::Off),
            ControlTarget::new(USW2, ControlState::Off),
        ],
        endpoints(&proxy),
    );
    params.safety_rules_to_override = vec![RULE.to_owned()];
    let a = UpdateRoutingControl::build(
        StepSpec::new("dns-arc", params),
        &drkit_arc::ports(&aws().await),
    )
    .unwrap();
    a.execute(&Context::new()).await.unwrap();
    assert_eq!(arc.state(USE1), Some("Off"));
}

#[tokio::test]
async fn an_unknown_control_blocks_and_the_check_reads_the_states() {
    let (proxy, _arc) = cluster(&[]).await;
    let params = UpdateRoutingControlParams::new(
        vec![ControlTarget::new(
            "arn:aws:route53-recovery-control::111122223333:controlpanel/mint/routingcontrol/nope",
            ControlState::On,
        )],
        endpoints(&proxy),
    );
    let a = UpdateRoutingControl::build(
        StepSpec::new("dns-arc", params),
        &drkit_arc::ports(&aws().await),
    )
    .unwrap();
    assert!(matches!(
        a.check(&Context::new()).await.unwrap(),
        Check::Blocked { .. }
    ));

    let check = CheckRoutingControl::build(
        StepSpec::new(
            "dns-arc-check",
            CheckRoutingControlParams::new(
                vec![
                    ControlExpectation::new(USE1, Some(ControlState::On)),
                    ControlExpectation::new(USW2, None),
                ],
                endpoints(&proxy),
            ),
        ),
        &drkit_arc::ports(&aws().await),
    )
    .unwrap();
    match check.check(&Context::new()).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("on"), Some(USE1));
            assert_eq!(
                outputs.get_str("states"),
                Some(format!("{USE1}=On,{USW2}=Off").as_str())
            );
        }
        other => panic!("{other:?}"),
    }
}
