//! The behaviour suite (`drkit_testkit::behaviour`) for every ARC kind, against an in-memory
//! routing-control cluster: a fake of the port that keeps the controls' states and counts the
//! updates.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, PortFactory};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use serde_json::{Value, json};

use crate::port::{ArcApi, ClusterEndpoint, ControlState, RoutingControl};
use crate::register_with;

const USE1: &str =
    "arn:aws:route53-recovery-control::111122223333:controlpanel/p/routingcontrol/use1";
const USW2: &str =
    "arn:aws:route53-recovery-control::111122223333:controlpanel/p/routingcontrol/usw2";

#[derive(Debug, Default)]
struct FakeCluster {
    states: Mutex<BTreeMap<String, ControlState>>,
    mutations: AtomicUsize,
}

impl FakeCluster {
    fn primary_on() -> Arc<Self> {
        let fake = Self::default();
        fake.states.lock().unwrap().extend([
            (USE1.to_owned(), ControlState::On),
            (USW2.to_owned(), ControlState::Off),
        ]);
        Arc::new(fake)
    }

    fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::new();
        let api: Arc<dyn ArcApi> = Arc::clone(self) as _;
        register_with(&mut registry, &PortFactory::fixed(api)).unwrap();
        registry
    }
}

#[async_trait]
impl World for FakeCluster {
    async fn state(&self) -> Value {
        let states = self.states.lock().unwrap();
        json!(
            states
                .iter()
                .map(|(arn, s)| (arn.clone(), s.as_str()))
                .collect::<BTreeMap<_, _>>()
        )
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ArcApi for FakeCluster {
    async fn get_state(
        &self,
        _endpoint: &ClusterEndpoint,
        arn: &str,
    ) -> Result<RoutingControl, ActionError> {
        let state = self
            .states
            .lock()
            .unwrap()
            .get(arn)
            .copied()
            .ok_or_else(|| {
                ActionError::new(ErrorKind::NotFound, format!("{arn} not found"))
                    .with_code("ResourceNotFoundException")
            })?;
        Ok(RoutingControl::new(arn, state))
    }

    async fn update_states(
        &self,
        _endpoint: &ClusterEndpoint,
        states: &[(String, ControlState)],
        _safety_rules_to_override: &[String],
    ) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        let mut all = self.states.lock().unwrap();
        if let Some((arn, _)) = states.iter().find(|(arn, _)| !all.contains_key(arn)) {
            return Err(ActionError::new(
                ErrorKind::NotFound,
                format!("{arn} not found"),
            ));
        }
        all.extend(states.iter().cloned());
        Ok(())
    }
}

fn endpoints() -> Value {
    json!([
        {"endpoint": "https://aaaa.us-east-1.example.com/v1", "region": "us-east-1"},
        {"endpoint": "https://bbbb.us-west-2.example.com/v1", "region": "us-west-2"},
    ])
}

#[tokio::test]
async fn update_routing_control() {
    let arc = FakeCluster::primary_on();
    let case = Case::new(
        arc.registry(),
        "arc.update_routing_control",
        json!({
            "routing_controls": [{"arn": USE1, "state": "Off"}, {"arn": USW2, "state": "On"}],
            "cluster_endpoints": endpoints(),
        }),
    )
    .refuses(
        json!({"routing_controls": [{"arn": USE1, "state": "on"}], "cluster_endpoints": endpoints()}),
        "routing_controls[0].state",
    )
    .refuses(
        json!({"routing_controls": [{"arn": "use1", "state": "On"}], "cluster_endpoints": endpoints()}),
        "routing_controls",
    )
    .refuses(
        json!({"routing_controls": [{"arn": USE1, "state": "On"}], "cluster_endpoints": []}),
        "cluster_endpoints",
    )
    .refuses(
        json!({
            "routing_controls": [{"arn": USE1, "state": "On"}],
            "cluster_endpoints": [{"endpoint": "https://a/v1", "region": "useast1"}],
        }),
        "cluster_endpoints",
    );
    mutating(&case, arc.as_ref()).await;
}

#[tokio::test]
async fn check_routing_control() {
    let arc = FakeCluster::primary_on();
    let case = Case::new(
        arc.registry(),
        "arc.check_routing_control",
        json!({
            "routing_controls": [{"arn": USE1, "state": "On"}, {"arn": USW2}],
            "cluster_endpoints": endpoints(),
        }),
    )
    .refuses(
        json!({"routing_controls": [], "cluster_endpoints": endpoints()}),
        "routing_controls",
    );
    read_only(&case, arc.as_ref()).await;
}
