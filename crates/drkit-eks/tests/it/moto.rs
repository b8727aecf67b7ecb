//! The EKS actions against a real AWS API emulator (moto server): clusters and node groups are
//! really created, and scaling really changes what `DescribeNodegroup` answers. Needs
//! `DRKIT_TEST_AWS_ENDPOINT` (scripts/test.sh starts moto and sets it); under CI=true a missing
//! emulator fails these tests.
//!
//! What moto cannot show is covered by the mocked-port unit tests (`src/*_tests.rs`): moto
//! creates straight into `ACTIVE`, applies `UpdateNodegroupConfig` at once and answers
//! `Successful` (so no `UPDATING` group and no `InProgress` update), does not implement
//! `DescribeUpdate`, reports no health issues, and never throttles.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{NodegroupScalingConfig, VpcConfigRequest};
use drkit_aws::AwsContext;
use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{
    ActionError, ActionExt, ActionRef, Check, Context, ErrorKind, PortFactory, RetryPolicy,
};
use drkit_eks::{EksApi, EksCluster, Nodegroup, NodegroupUpdate, Scaling, SdkEks};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use drkit_testkit::{Moto, unique};
use serde_json::{Value, json};

const REGION: &str = "us-west-2";
const ROLE: &str = "arn:aws:iam::123456789012:role/mint-eks-dr";

/// Creates a cluster like the seed's DR cluster, with a `standby` node group scaled to zero.
/// Returns (cluster, nodegroup).
async fn create_cluster_and_standby(
    client: &Client,
    min: i32,
    max: i32,
    desired: i32,
) -> (String, String) {
    let cluster = unique("mint-dr");
    client
        .create_cluster()
        .name(&cluster)
        .version("1.31")
        .role_arn(ROLE)
        .resources_vpc_config(
            VpcConfigRequest::builder()
                .subnet_ids("subnet-0a1b2c3d")
                .subnet_ids("subnet-4e5f6a7b")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let nodegroup = unique("standby");
    client
        .create_nodegroup()
        .cluster_name(&cluster)
        .nodegroup_name(&nodegroup)
        .node_role(ROLE)
        .subnets("subnet-0a1b2c3d")
        .instance_types("m6i.large")
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(min)
                .max_size(max)
                .desired_size(desired)
                .build(),
        )
        .send()
        .await
        .unwrap();
    (cluster, nodegroup)
}

/// (min, max, desired) as the emulator reports it, read independently of drkit.
async fn scaling_of(client: &Client, cluster: &str, nodegroup: &str) -> (i32, i32, i32) {
    let out = client
        .describe_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(nodegroup)
        .send()
        .await
        .unwrap();
    let s = out.nodegroup().unwrap().scaling_config().unwrap();
    (
        s.min_size().unwrap(),
        s.max_size().unwrap(),
        s.desired_size().unwrap(),
    )
}

async fn setup() -> Option<(Moto, Client, Registry)> {
    let moto = drkit_testkit::moto()?;
    let config = moto.sdk_config(REGION).await;
    let client = Client::new(&config);
    let mut registry = Registry::new();
    drkit_eks::register(&mut registry, AwsContext::from_sdk_config(config)).unwrap();
    Some((moto, client, registry))
}

fn build(registry: &Registry, kind: &str, params: serde_json::Value) -> ActionRef {
    registry
        .build(&ActionSpec::new("step", kind, params).in_region(REGION))
        .unwrap()
        .with_retry(RetryPolicy::attempts(3))
}

#[tokio::test]
async fn check_cluster_reports_an_active_cluster_and_blocks_a_missing_one() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let (cluster, _) = create_cluster_and_standby(&client, 0, 2, 0).await;
    let action = build(&registry, "eks.check_cluster", json!({"cluster": cluster}));
    let check = action.check(&Context::new()).await.unwrap();
    let Check::Done { outputs, .. } = &check else {
        panic!("expected done, got {check:?}");
    };
    assert_eq!(outputs.get_str("status"), Some("ACTIVE"));
    assert_eq!(outputs.get_str("version"), Some("1.31"));
    let endpoint = client
        .describe_cluster()
        .name(&cluster)
        .send()
        .await
        .unwrap()
        .cluster()
        .unwrap()
        .endpoint()
        .unwrap()
        .to_owned();
    assert_eq!(outputs.get_str("endpoint"), Some(endpoint.as_str()));
    assert_eq!(&action.execute(&Context::new()).await.unwrap(), outputs);
    action.verify(&Context::new()).await.unwrap();

    let missing = build(
        &registry,
        "eks.check_cluster",
        json!({"cluster": unique("no-such-cluster")}),
    );
    let check = missing.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.ends_with("does not exist")),
        "{check:?}"
    );
    let err = missing.verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.code(), Some("ResourceNotFoundException"), "{err:?}");
    assert_eq!(err.operation(), Some("DescribeCluster"));
}

#[tokio::test]
async fn scale_nodegroup_really_changes_the_scaling_and_rolls_back() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let (cluster, nodegroup) = create_cluster_and_standby(&client, 0, 2, 0).await;
    let action = build(
        &registry,
        "eks.scale_nodegroup",
        json!({"cluster": cluster, "nodegroup": nodegroup, "min_size": 2, "max_size": 6, "desired_size": 3}),
    );
    let ctx = Context::new();
    assert_eq!(
        action.check(&ctx).await.unwrap(),
        Check::ready(format!(
            "scale node group {nodegroup} of EKS cluster {cluster}: min=0 max=2 desired=0 -> \
             min=2 max=6 desired=3"
        ))
    );

    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get("previous_min_size"), Some(&0.into()));
    assert_eq!(out.get("previous_max_size"), Some(&2.into()));
    assert_eq!(out.get("previous_desired_size"), Some(&0.into()));
    assert_eq!(out.get("desired_size"), Some(&3.into()));
    assert!(!out.get_str("update_id").unwrap().is_empty());
    // The emulator agrees, read independently of drkit.
    assert_eq!(scaling_of(&client, &cluster, &nodegroup).await, (2, 6, 3));
    action.verify(&ctx).await.unwrap();
    // Re-running is a no-op: check says done, with the same previous sizes.
    match action.check(&ctx).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get("previous_desired_size"), Some(&0.into()));
            assert_eq!(outputs.get("desired_size"), Some(&3.into()));
        }
        other => panic!("expected done, got {other:?}"),
    }

    action.rollback(&ctx).await.unwrap();
    assert_eq!(scaling_of(&client, &cluster, &nodegroup).await, (0, 2, 0));
}

#[tokio::test]
async fn scale_nodegroup_keeps_min_and_max_when_not_given_and_refuses_out_of_range() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let (cluster, nodegroup) = create_cluster_and_standby(&client, 1, 4, 1).await;
    let up = build(
        &registry,
        "eks.scale_nodegroup",
        json!({"cluster": cluster, "nodegroup": nodegroup, "desired_size": 4}),
    );
    up.execute(&Context::new()).await.unwrap();
    assert_eq!(scaling_of(&client, &cluster, &nodegroup).await, (1, 4, 4));

    // Above the current max without a new max_size: blocked, and nothing is called.
    let too_many = build(
        &registry,
        "eks.scale_nodegroup",
        json!({"cluster": cluster, "nodegroup": nodegroup, "desired_size": 5}),
    );
    let check = too_many.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("min=1 max=4 desired=5")),
        "{check:?}"
    );
    let err = too_many.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    assert_eq!(scaling_of(&client, &cluster, &nodegroup).await, (1, 4, 4));
}

#[tokio::test]
async fn check_nodegroup_reports_size_and_blocks_below_min_ready() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let (cluster, nodegroup) = create_cluster_and_standby(&client, 0, 4, 2).await;
    let ok = build(
        &registry,
        "eks.check_nodegroup",
        json!({"cluster": cluster, "nodegroup": nodegroup, "min_ready": 2}),
    );
    let check = ok.check(&Context::new()).await.unwrap();
    let Check::Done { outputs, .. } = &check else {
        panic!("expected done, got {check:?}");
    };
    assert_eq!(outputs.get_str("status"), Some("ACTIVE"));
    assert_eq!(outputs.get("desired_size"), Some(&2.into()));
    assert_eq!(outputs.get("instance_types"), Some(&json!(["m6i.large"])));

    let short = build(
        &registry,
        "eks.check_nodegroup",
        json!({"cluster": cluster, "nodegroup": nodegroup, "min_ready": 3}),
    );
    assert_eq!(
        short.check(&Context::new()).await.unwrap(),
        Check::blocked(format!(
            "node group {nodegroup} of EKS cluster {cluster}: desired size 2 is below min_ready 3"
        ))
    );

    let missing = build(
        &registry,
        "eks.check_nodegroup",
        json!({"cluster": cluster, "nodegroup": "no-such-group"}),
    );
    let check = missing.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.ends_with("does not exist")),
        "{check:?}"
    );
}

// --- the behaviour suite against moto -----------------------------------------------------------

/// The SDK port, counting the mutating calls.
#[derive(Debug)]
struct Counted {
    inner: SdkEks,
    updates: AtomicUsize,
}

#[async_trait]
impl EksApi for Counted {
    async fn describe_cluster(&self, cluster: &str) -> Result<EksCluster, ActionError> {
        self.inner.describe_cluster(cluster).await
    }

    async fn describe_nodegroup(
        &self,
        cluster: &str,
        nodegroup: &str,
    ) -> Result<Nodegroup, ActionError> {
        self.inner.describe_nodegroup(cluster, nodegroup).await
    }

    async fn update_nodegroup_scaling(
        &self,
        cluster: &str,
        nodegroup: &str,
        scaling: Scaling,
    ) -> Result<NodegroupUpdate, ActionError> {
        self.updates.fetch_add(1, Ordering::SeqCst);
        self.inner
            .update_nodegroup_scaling(cluster, nodegroup, scaling)
            .await
    }

    async fn describe_nodegroup_update(
        &self,
        cluster: &str,
        nodegroup: &str,
        update_id: &str,
    ) -> Result<NodegroupUpdate, ActionError> {
        self.inner
            .describe_nodegroup_update(cluster, nodegroup, update_id)
            .await
    }
}

/// A cluster and its node group in moto, seen through the SDK: the node group's scaling.
struct MotoNodegroup {
    client: Client,
    cluster: String,
    nodegroup: String,
    port: Arc<Counted>,
}

impl MotoNodegroup {
    async fn new(client: &Client, min: i32, max: i32, desired: i32) -> Self {
        let (cluster, nodegroup) = create_cluster_and_standby(client, min, max, desired).await;
        Self {
            client: client.clone(),
            cluster,
            nodegroup,
            port: Arc::new(Counted {
                inner: SdkEks::new(client.clone()),
                updates: AtomicUsize::new(0),
            }),
        }
    }

    fn registry(&self) -> Registry {
        let mut registry = Registry::new();
        let port: Arc<dyn EksApi> = Arc::clone(&self.port) as _;
        drkit_eks::register_with(&mut registry, &PortFactory::fixed(port)).unwrap();
        registry
    }
}

#[async_trait]
impl World for MotoNodegroup {
    async fn state(&self) -> Value {
        json!(scaling_of(&self.client, &self.cluster, &self.nodegroup).await)
    }

    fn mutations(&self) -> usize {
        self.port.updates.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn behaviour_of_scale_nodegroup_on_moto() {
    let Some((_moto, client, _)) = setup().await else {
        return;
    };
    let world = MotoNodegroup::new(&client, 0, 2, 0).await;
    let case = Case::new(
        world.registry(),
        "eks.scale_nodegroup",
        json!({"cluster": world.cluster, "nodegroup": world.nodegroup, "min_size": 2, "max_size": 6, "desired_size": 3}),
    )
    .in_region(REGION)
    .refuses(
        json!({"cluster": world.cluster, "nodegroup": world.nodegroup, "desired_size": 1, "min_size": 2}),
        "desired_size",
    );
    mutating(&case, &world).await;
}

#[tokio::test]
async fn behaviour_of_the_checks_on_moto() {
    let Some((_moto, client, _)) = setup().await else {
        return;
    };
    let world = MotoNodegroup::new(&client, 0, 4, 2).await;
    for (kind, params, bad, param) in [
        (
            "eks.check_cluster",
            json!({"cluster": world.cluster}),
            json!({"cluster": ""}),
            "cluster",
        ),
        (
            "eks.check_nodegroup",
            json!({"cluster": world.cluster, "nodegroup": world.nodegroup, "min_ready": 2}),
            json!({"cluster": world.cluster, "nodegroup": "-x"}),
            "nodegroup",
        ),
    ] {
        let case = Case::new(world.registry(), kind, params)
            .in_region(REGION)
            .refuses(bad, param);
        read_only(&case, &world).await;
    }
}
