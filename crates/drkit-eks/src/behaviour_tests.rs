//! The behaviour suite (`drkit_testkit::behaviour`) for every EKS kind, against an in-memory
//! EKS: a fake of the port that keeps clusters and node groups, applies a scaling update at
//! once (`Successful`), and counts the mutating calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, PortFactory};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use serde_json::{Value, json};

use crate::port::{EksApi, EksCluster, Nodegroup, NodegroupUpdate, Scaling};
use crate::register_with;

/// An in-memory EKS.
#[derive(Debug, Default)]
struct FakeEks {
    clusters: Mutex<BTreeMap<String, EksCluster>>,
    nodegroups: Mutex<BTreeMap<(String, String), Nodegroup>>,
    updates: Mutex<BTreeMap<String, NodegroupUpdate>>,
    mutations: AtomicUsize,
}

fn not_found(what: &str) -> ActionError {
    ActionError::new(ErrorKind::NotFound, format!("{what} not found"))
}

impl FakeEks {
    /// An `ACTIVE` cluster `mint-dr` with an `ACTIVE` node group `standby` scaled to zero
    /// (min 0, max 2) and an `ACTIVE` node group `web` running 3 nodes.
    fn mint_dr() -> Arc<Self> {
        let fake = Self::default();
        let mut cluster = EksCluster::new("mint-dr", "ACTIVE");
        cluster.version = Some("1.31".into());
        cluster.endpoint = Some("https://ABC.gr7.us-west-2.eks.amazonaws.com".into());
        cluster.platform_version = Some("eks.12".into());
        cluster.certificate_authority = Some("LS0tLS1CRUdJTi...".into());
        fake.clusters
            .lock()
            .unwrap()
            .insert("mint-dr".into(), cluster);
        for (name, scaling) in [
            ("standby", Scaling::new(0, 2, 0)),
            ("web", Scaling::new(1, 6, 3)),
        ] {
            let mut ng = Nodegroup::new("mint-dr", name, "ACTIVE", scaling);
            ng.instance_types = vec!["m6i.large".into()];
            ng.capacity_type = Some("ON_DEMAND".into());
            fake.nodegroups
                .lock()
                .unwrap()
                .insert(("mint-dr".into(), name.into()), ng);
        }
        Arc::new(fake)
    }

    fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::new();
        let port: Arc<dyn EksApi> = Arc::clone(self) as _;
        register_with(&mut registry, &PortFactory::fixed(port)).unwrap();
        registry
    }
}

#[async_trait]
impl World for FakeEks {
    async fn state(&self) -> Value {
        let nodegroups = self.nodegroups.lock().unwrap();
        json!(
            nodegroups
                .values()
                .map(|ng| (
                    format!("{}/{}", ng.cluster, ng.name),
                    ng.scaling.to_string()
                ))
                .collect::<BTreeMap<_, _>>()
        )
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl EksApi for FakeEks {
    async fn describe_cluster(&self, cluster: &str) -> Result<EksCluster, ActionError> {
        self.clusters
            .lock()
            .unwrap()
            .get(cluster)
            .cloned()
            .ok_or_else(|| not_found(cluster))
    }

    async fn describe_nodegroup(
        &self,
        cluster: &str,
        nodegroup: &str,
    ) -> Result<Nodegroup, ActionError> {
        self.nodegroups
            .lock()
            .unwrap()
            .get(&(cluster.to_owned(), nodegroup.to_owned()))
            .cloned()
            .ok_or_else(|| not_found(nodegroup))
    }

    async fn update_nodegroup_scaling(
        &self,
        cluster: &str,
        nodegroup: &str,
        scaling: Scaling,
    ) -> Result<NodegroupUpdate, ActionError> {
        let n = self.mutations.fetch_add(1, Ordering::SeqCst);
        let mut nodegroups = self.nodegroups.lock().unwrap();
        let ng = nodegroups
            .get_mut(&(cluster.to_owned(), nodegroup.to_owned()))
            .ok_or_else(|| not_found(nodegroup))?;
        if !scaling.is_valid() {
            return Err(ActionError::invalid_input(format!(
                "invalid scaling {scaling}"
            )));
        }
        ng.scaling = scaling;
        let update = NodegroupUpdate::new(format!("u-{n}"), "Successful");
        self.updates
            .lock()
            .unwrap()
            .insert(update.id.clone(), update.clone());
        Ok(update)
    }

    async fn describe_nodegroup_update(
        &self,
        _: &str,
        _: &str,
        update_id: &str,
    ) -> Result<NodegroupUpdate, ActionError> {
        self.updates
            .lock()
            .unwrap()
            .get(update_id)
            .cloned()
            .ok_or_else(|| not_found(update_id))
    }
}

#[tokio::test]
async fn scale_nodegroup() {
    for params in [
        json!({"cluster": "mint-dr", "nodegroup": "standby", "desired_size": 2}),
        json!({"cluster": "mint-dr", "nodegroup": "standby", "min_size": 3, "max_size": 6, "desired_size": 3}),
        json!({"cluster": "mint-dr", "nodegroup": "web", "min_size": 0, "desired_size": 0}),
    ] {
        let eks = FakeEks::mint_dr();
        let case = Case::new(eks.registry(), "eks.scale_nodegroup", params)
            .in_region("us-west-2")
            .refuses(
                json!({"cluster": "-mint", "nodegroup": "standby", "desired_size": 2}),
                "cluster",
            )
            .refuses(
                json!({"cluster": "mint-dr", "nodegroup": "stand by", "desired_size": 2}),
                "nodegroup",
            )
            .refuses(
                json!({"cluster": "mint-dr", "nodegroup": "standby", "desired_size": 2, "max_size": 0}),
                "max_size",
            )
            .refuses(
                json!({"cluster": "mint-dr", "nodegroup": "standby", "desired_size": 5, "max_size": 4}),
                "desired_size",
            );
        mutating(&case, eks.as_ref()).await;
    }
}

#[tokio::test]
async fn the_checks() {
    let eks = FakeEks::mint_dr();
    let registry = eks.registry();
    for (kind, params, bad, param) in [
        (
            "eks.check_cluster",
            json!({"cluster": "mint-dr"}),
            json!({"cluster": "mint dr"}),
            "cluster",
        ),
        (
            "eks.check_nodegroup",
            json!({"cluster": "mint-dr", "nodegroup": "web", "min_ready": 3}),
            json!({"cluster": "mint-dr", "nodegroup": "web", "min_ready": -1}),
            "min_ready",
        ),
        (
            "eks.check_nodegroup",
            json!({"cluster": "mint-dr", "nodegroup": "standby"}),
            json!({"cluster": "mint-dr", "nodegroup": ""}),
            "nodegroup",
        ),
    ] {
        let case = Case::new(registry.clone(), kind, params)
            .in_region("us-west-2")
            .refuses(bad, param);
        read_only(&case, eks.as_ref()).await;
    }
}
