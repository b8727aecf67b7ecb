//! The behaviour suite (`drkit_testkit::behaviour`) for every Kubernetes kind, against
//! drkit-testkit's fake API server (`fake_kube`: server-side apply, the scale subresource, a
//! simulated rollout, nodes that become Ready) over real HTTP. The world is what the kinds
//! change: which of the example manifests' objects exist, the Deployment's replica count and a
//! node's spec; a mutating call is any request but a `GET` or a dry run.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionKind, Context, RecoveryAction};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use drkit_testkit::fake_kube::{FakeKubeApi, FakeKubeHandle, FakeKubeOptions};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

use crate::connect::{ClusterRef, Connect, FixedClient, client_from_config};
use crate::{
    ApplyManifests, ApplyParams, K8sPorts, WaitNodesReady, WaitNodesReadyParams, WaitReady,
    WaitReadyParams, register_with,
};

const NS: &str = "mint-replica";
const NODE: &str = "ip-10-0-1-11.us-west-2.compute.internal";

fn manifests() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/k8s/dr-manifests"
    )
    .to_owned()
}

/// A fake API server and a connection to it.
struct FakeCluster {
    fake: FakeKubeHandle,
    connect: Arc<dyn Connect>,
}

impl FakeCluster {
    async fn start(rollout_delay: Duration) -> Self {
        let fake = FakeKubeApi::start(FakeKubeOptions::default().rollout_delay(rollout_delay))
            .await
            .unwrap();
        let kubeconfig = Kubeconfig::from_yaml(&fake.kubeconfig_yaml("fake")).unwrap();
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .unwrap();
        let client = client_from_config(config, "the fake API server").unwrap();
        Self {
            fake,
            connect: Arc::new(FixedClient::new(client)),
        }
    }

    /// The example manifests applied and rolled out.
    async fn with_example_applied(rollout_delay: Duration) -> Self {
        let cluster = Self::start(rollout_delay).await;
        let kubeconfig = ClusterRef::Kubeconfig { context: None };
        let ctx = Context::new().with_timeout(Duration::from_secs(30));
        ApplyManifests::new(
            "apply",
            ApplyParams::new(manifests()),
            &kubeconfig,
            Arc::clone(&cluster.connect),
        )
        .execute(&ctx)
        .await
        .unwrap();
        WaitReady::new(
            "ready",
            WaitReadyParams::new(NS),
            &kubeconfig,
            Arc::clone(&cluster.connect),
        )
        .with_wait_policy(drkit_core::WaitPolicy::without_jitter().first_delay(rollout_delay))
        .execute(&ctx)
        .await
        .unwrap();
        cluster
    }

    fn registry(&self) -> Registry {
        let mut registry = Registry::new();
        register_with(&mut registry, &K8sPorts::fixed(Arc::clone(&self.connect))).unwrap();
        registry
    }
}

#[async_trait]
impl World for FakeCluster {
    async fn state(&self) -> Value {
        let exists = |group, plural, ns, name| self.fake.object(group, "v1", plural, ns, name);
        json!({
            "namespace": exists("", "namespaces", None, NS).is_some(),
            "service": exists("", "services", Some(NS), "api").is_some(),
            "deployment_replicas": exists("apps", "deployments", Some(NS), "api")
                .map(|d| d["spec"]["replicas"].clone()),
            "node_spec": exists("", "nodes", None, NODE).map(|n| n["spec"].clone()),
        })
    }

    fn mutations(&self) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.method != "GET" && !r.has_param("dryRun", "All"))
            .count()
    }
}

#[tokio::test]
async fn apply() {
    // A long rollout: no controller write races the comparisons of `check`.
    let cluster = FakeCluster::start(Duration::from_secs(60)).await;
    let case = Case::new(
        cluster.registry(),
        "k8s.apply",
        json!({"manifests": manifests()}),
    )
    .refuses(json!({"manifests": ""}), "manifests")
    .refuses(json!({"manifests": "no/such/manifests"}), "manifests")
    .refuses(
        json!({"manifests": manifests(), "namespace": "Mint_Replica"}),
        "namespace",
    )
    .refuses(
        json!({"manifests": manifests(), "context": "dr", "cluster": "mint-dr"}),
        "cluster",
    )
    .refuses(
        json!({"manifests": manifests(), "region": "us-west-2"}),
        "region",
    );
    mutating(&case, &cluster).await;
}

#[tokio::test]
async fn scale() {
    let cluster = FakeCluster::with_example_applied(Duration::from_millis(200)).await;
    let case = Case::new(
        cluster.registry(),
        "k8s.scale",
        json!({"namespace": NS, "kind": "Deployment", "name": "api", "replicas": 3}),
    )
    .refuses(
        json!({"namespace": NS, "kind": "Deployment", "name": "API", "replicas": 3}),
        "name",
    )
    .refuses(
        json!({"namespace": NS, "kind": "Deployment", "name": "api", "replicas": 3_000_000_000_u64}),
        "replicas",
    )
    .refuses(
        json!({"namespace": NS, "kind": "Job", "name": "api", "replicas": 3}),
        "kind",
    );
    mutating(&case, &cluster).await;
}

#[tokio::test]
async fn wait_ready() {
    let cluster = FakeCluster::with_example_applied(Duration::from_millis(200)).await;
    let case = Case::new(
        cluster.registry(),
        "k8s.wait_ready",
        json!({"namespace": NS, "min_ready": 2}),
    )
    .refuses(json!({"namespace": NS, "kinds": []}), "kinds")
    .refuses(json!({"namespace": NS, "selector": " "}), "selector")
    .refuses(json!({"namespace": "-ns"}), "namespace");
    read_only(&case, &cluster).await;
}

#[tokio::test]
async fn wait_nodes_ready() {
    let cluster = FakeCluster::start(Duration::from_millis(200)).await;
    let node = |name: &str, group: &str| {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name,
               "labels": {"eks.amazonaws.com/nodegroup": group}}})
    };
    for (name, group) in [
        (NODE, "primary-nodes"),
        ("ip-10-0-1-12.us-west-2.compute.internal", "primary-nodes"),
        ("ip-10-0-9-99.us-west-2.compute.internal", "system"),
    ] {
        cluster.fake.create(&node(name, group)).unwrap();
    }
    // Their simulated kubelets make them Ready after the delay.
    WaitNodesReady::new(
        "nodes",
        WaitNodesReadyParams::nodegroup("primary-nodes", 2),
        &ClusterRef::Kubeconfig { context: None },
        Arc::clone(&cluster.connect),
    )
    .with_wait_policy(
        drkit_core::WaitPolicy::without_jitter().first_delay(Duration::from_millis(100)),
    )
    .execute(&Context::new().with_timeout(Duration::from_secs(30)))
    .await
    .unwrap();
    let case = Case::new(
        cluster.registry(),
        "k8s.wait_nodes_ready",
        json!({"nodegroup": "primary-nodes", "count": 2}),
    )
    .refuses(json!({"count": 2}), "nodegroup")
    .refuses(
        json!({"nodegroup": "primary-nodes", "selector": "a=b", "count": 2}),
        "selector",
    )
    .refuses(json!({"nodegroup": "primary-nodes", "count": 0}), "count")
    .refuses(
        json!({"nodegroup": "primary nodes", "count": 2}),
        "nodegroup",
    );
    read_only(&case, &cluster).await;
}
