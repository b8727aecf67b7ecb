//! Unit tests of the ARC actions against the mocked port: endpoints tried in turn, impaired
//! regions never called, ARC's documented errors, the states read back, rollback after a resume.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use drkit_core::{Check, Context, RecoveryAction};

use super::*;
use crate::port::MockArcApi;

const USE1: &str =
    "arn:aws:route53-recovery-control::111122223333:controlpanel/p/routingcontrol/use1";
const USW2: &str =
    "arn:aws:route53-recovery-control::111122223333:controlpanel/p/routingcontrol/usw2";

fn endpoints() -> Vec<ClusterEndpoint> {
    vec![
        ClusterEndpoint::new("https://aaaa.example.com/v1", "us-east-1"),
        ClusterEndpoint::new("https://bbbb.example.com/v1", "us-west-2"),
        ClusterEndpoint::new("https://cccc.example.com/v1", "eu-west-1"),
    ]
}

fn failover_params() -> UpdateRoutingControlParams {
    UpdateRoutingControlParams::new(
        vec![
            ControlTarget::new(USE1, ControlState::Off),
            ControlTarget::new(USW2, ControlState::On),
        ],
        endpoints(),
    )
}

fn action(api: MockArcApi, params: UpdateRoutingControlParams) -> UpdateRoutingControl {
    UpdateRoutingControl::build(
        StepSpec::new("dns-arc", params),
        &PortFactory::fixed(Arc::new(api) as Arc<dyn ArcApi>),
    )
    .unwrap()
}

fn timeout() -> ActionError {
    ActionError::new(ErrorKind::Timeout, "operation timed out").with_maybe_applied()
}

/// A cluster whose states `update_states` changes; `calls` logs `(operation, region)`, and
/// `dead` lists the regions whose endpoint times out.
fn cluster(
    dead: &'static [&'static str],
    calls: &Arc<Mutex<Vec<(String, String)>>>,
) -> (MockArcApi, Arc<Mutex<BTreeMap<String, ControlState>>>) {
    let states = Arc::new(Mutex::new(BTreeMap::from([
        (USE1.to_owned(), ControlState::On),
        (USW2.to_owned(), ControlState::Off),
    ])));
    let mut api = MockArcApi::new();
    let (s, c) = (Arc::clone(&states), Arc::clone(calls));
    api.expect_get_state().returning(move |e, arn| {
        c.lock().unwrap().push(("get".into(), e.region.clone()));
        if dead.contains(&e.region.as_str()) {
            return Err(timeout());
        }
        Ok(RoutingControl::new(arn, s.lock().unwrap()[arn]))
    });
    let (s, c) = (Arc::clone(&states), Arc::clone(calls));
    api.expect_update_states().returning(move |e, set, _| {
        c.lock().unwrap().push(("update".into(), e.region.clone()));
        if dead.contains(&e.region.as_str()) {
            return Err(timeout());
        }
        s.lock().unwrap().extend(set.iter().cloned());
        Ok(())
    });
    (api, states)
}

fn regions_called(calls: &Mutex<Vec<(String, String)>>) -> BTreeSet<String> {
    calls
        .lock()
        .unwrap()
        .iter()
        .map(|(_, r)| r.clone())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_that_does_not_answer_is_left_for_the_next() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (api, states) = cluster(&["us-east-1"], &calls);
    let a = action(api, failover_params());
    let out = a.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("endpoint_region"), Some("us-west-2"));
    assert_eq!(
        out.get_str("previous_states"),
        Some(format!("{USE1}=On,{USW2}=Off").as_str())
    );
    assert_eq!(states.lock().unwrap()[USW2], ControlState::On);
    // After the first failure, the endpoint that answered is asked first.
    let calls = calls.lock().unwrap();
    assert_eq!(calls[0], ("get".into(), "us-east-1".into()));
    assert!(
        calls[1..].iter().all(|(_, r)| r == "us-west-2"),
        "{calls:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_impaired_region_s_endpoint_is_never_called() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (api, _) = cluster(&[], &calls);
    let a = action(api, failover_params());
    let ctx = Context::new().with_impaired_regions(["us-east-1"]);
    assert!(matches!(a.check(&ctx).await.unwrap(), Check::Ready { .. }));
    a.execute(&ctx).await.unwrap();
    a.verify(&ctx).await.unwrap();
    assert!(!regions_called(&calls).contains("us-east-1"));
}

#[tokio::test(start_paused = true)]
async fn every_endpoint_in_an_impaired_region_is_refused_without_a_call() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (api, _) = cluster(&[], &calls);
    let mut params = failover_params();
    params.cluster_endpoints.truncate(1);
    let a = action(api, params);
    let ctx = Context::new().with_impaired_regions(["us-east-1"]);
    let err = a.check(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    assert!(
        err.message().contains("impaired regions: us-east-1"),
        "{err}"
    );
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn no_endpoint_answering_names_each_and_can_be_retried() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (api, _) = cluster(&["us-east-1", "us-west-2", "eu-west-1"], &calls);
    let a = action(api, failover_params());
    let err = a.check(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_retryable());
    for region in ["us-east-1", "us-west-2", "eu-west-1"] {
        assert!(err.message().contains(region), "{err}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_lost_update_answer_is_sent_again_at_the_next_endpoint() {
    // Setting absolute states is idempotent: the second endpoint's update is harmless if the
    // first was applied.
    let calls: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let states = Arc::new(Mutex::new(BTreeMap::from([
        (USE1.to_owned(), ControlState::On),
        (USW2.to_owned(), ControlState::Off),
    ])));
    let mut api = MockArcApi::new();
    let s = Arc::clone(&states);
    api.expect_get_state()
        .returning(move |_, arn| Ok(RoutingControl::new(arn, s.lock().unwrap()[arn])));
    let (s, c) = (Arc::clone(&states), Arc::clone(&calls));
    api.expect_update_states()
        .times(2)
        .returning(move |e, set, _| {
            c.lock().unwrap().push(("update".into(), e.region.clone()));
            s.lock().unwrap().extend(set.iter().cloned());
            if e.region == "us-east-1" {
                Err(timeout()) // applied, answer lost
            } else {
                Ok(())
            }
        });
    let out = action(api, failover_params())
        .execute(&Context::new())
        .await
        .unwrap();
    assert_eq!(out.get_str("endpoint_region"), Some("us-west-2"));
    assert_eq!(calls.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_safety_rule_refusal_is_not_sent_elsewhere_and_names_the_override() {
    let mut api = MockArcApi::new();
    api.expect_get_state()
        .returning(|_, arn| Ok(RoutingControl::new(arn, ControlState::On)));
    api.expect_update_states().times(1).returning(|_, _, _| {
        Err(ActionError::new(
            ErrorKind::Conflict,
            "There was a conflict with this request. Try again.",
        )
        .with_code("ConflictException"))
    });
    let err = action(api, failover_params())
        .execute(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ConflictException"));
    assert!(err.message().contains("safety_rules_to_override"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_routing_control_blocks_the_check() {
    let mut api = MockArcApi::new();
    api.expect_get_state().returning(|_, arn| {
        Err(
            ActionError::new(ErrorKind::NotFound, format!("{arn} was not found"))
                .with_code("ResourceNotFoundException"),
        )
    });
    api.expect_update_states().never();
    let check = action(api, failover_params())
        .check(&Context::new())
        .await
        .unwrap();
    assert!(matches!(check, Check::Blocked { .. }), "{check:?}");
}

#[tokio::test(start_paused = true)]
async fn the_states_are_awaited_until_they_read_back() {
    // The update is accepted, the next read still shows the old state (propagation).
    let reads = Arc::new(Mutex::new(0_usize));
    let mut api = MockArcApi::new();
    let r = Arc::clone(&reads);
    api.expect_get_state().returning(move |_, arn| {
        let mut n = r.lock().unwrap();
        *n += 1;
        // Reads 1-2: before; 3-4: one stale read pair; then the new states.
        let updated = *n > 4;
        let state = match (arn == USW2, updated) {
            (true, true) | (false, false) => ControlState::On,
            _ => ControlState::Off,
        };
        Ok(RoutingControl::new(arn, state))
    });
    api.expect_update_states()
        .times(1)
        .returning(|_, _, _| Ok(()));
    action(api, failover_params())
        .execute(&Context::new())
        .await
        .unwrap();
    assert!(*reads.lock().unwrap() >= 6);
}

#[tokio::test(start_paused = true)]
async fn a_resumed_run_rolls_back_to_the_journalled_states() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (api, states) = cluster(&[], &calls);
    states.lock().unwrap().extend([
        (USE1.to_owned(), ControlState::Off),
        (USW2.to_owned(), ControlState::On),
    ]);
    // A new instance (another process): only the journal knows the states before.
    let a = action(api, failover_params());
    let recorded = Outputs::new().with("previous_states", format!("{USE1}=On,{USW2}=Off"));
    let ctx = Context::new().with_recorded_intent(Some(recorded));
    match a.check(&ctx).await.unwrap() {
        Check::Done { outputs, .. } => assert_eq!(
            outputs.get_str("previous_states"),
            Some(format!("{USE1}=On,{USW2}=Off").as_str())
        ),
        other => panic!("{other:?}"),
    }
    a.rollback(&ctx).await.unwrap();
    assert_eq!(states.lock().unwrap()[USE1], ControlState::On);
    assert_eq!(states.lock().unwrap()[USW2], ControlState::Off);
}

#[test]
fn states_round_trip_through_the_journal_text() {
    let s = States(vec![
        (USE1.to_owned(), ControlState::On),
        (USW2.to_owned(), ControlState::Off),
    ]);
    assert_eq!(States::parse(&s.text()), Some(s));
    assert_eq!(States::parse(""), None);
    assert_eq!(States::parse("arn:x=on"), None);
}

#[test]
fn region_names() {
    for ok in [
        "us-east-1",
        "eu-central-2",
        "us-gov-west-1",
        "ap-southeast-2",
    ] {
        assert!(is_region(ok), "{ok}");
    }
    for bad in ["useast1", "us-east", "US-EAST-1", "us-east-x", ""] {
        assert!(!is_region(bad), "{bad}");
    }
}
