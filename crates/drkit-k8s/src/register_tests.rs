//! Tests of `register.rs`.

use drkit_core::ActionRef;
use drkit_core::registry::{ActionSpec, BuildError};
use serde_json::json;

use super::*;
use crate::connect::FixedClient;

fn registry() -> Registry {
    let mut registry = Registry::new();
    register_with(
        &mut registry,
        &K8sPorts::new(|cluster, region| {
            if let ClusterRef::Eks { region: None, .. } = cluster
                && region.is_none()
            {
                return Err("no region".to_owned());
            }
            let offline = tower::service_fn(|_: http::Request<kube::client::Body>| async {
                Err::<http::Response<kube::client::Body>, _>(std::io::Error::other(
                    "no API server in this test",
                ))
            });
            Ok(
                Arc::new(FixedClient::new(kube::Client::new(offline, "default")))
                    as Arc<dyn Connect>,
            )
        }),
    )
    .unwrap();
    registry
}

fn build(kind: &str, params: serde_json::Value) -> Result<ActionRef, BuildError> {
    registry().build(&ActionSpec::new("step", kind, params))
}

#[tokio::test]
async fn builds_each_kind_with_its_resource_and_iam() {
    let manifests = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/k8s/dr-manifests"
    );
    let a = build("k8s.apply", json!({ "manifests": manifests })).unwrap();
    assert_eq!(
        a.target().to_string(),
        format!("k8s:manifests/{manifests}@kubeconfig")
    );
    assert!(a.mutates());
    assert!(a.iam_actions().is_empty());
    let a = build(
        "k8s.wait_ready",
        json!({"namespace": "mint-replica", "cluster": "mint-dr", "region": "us-west-2"}),
    )
    .unwrap();
    assert_eq!(
        a.target().to_string(),
        "k8s:namespace/mint-replica@eks/mint-dr"
    );
    assert!(!a.mutates());
    assert_eq!(a.iam_actions(), ["eks:DescribeCluster"]);
    let a = build(
        "k8s.scale",
        json!({"namespace": "mint-replica", "kind": "Deployment", "name": "api",
               "replicas": 4, "context": "dr"}),
    )
    .unwrap();
    assert_eq!(
        a.target().to_string(),
        "k8s:deployment/mint-replica/api@context/dr"
    );
    assert!(a.supports_rollback());
    let a = build(
        "k8s.wait_nodes_ready",
        json!({"nodegroup": "primary-nodes", "count": 4, "cluster": "mint-dr",
               "region": "us-west-2"}),
    )
    .unwrap();
    assert_eq!(
        a.target().to_string(),
        "k8s:nodegroup/primary-nodes@eks/mint-dr"
    );
    assert!(!a.mutates());
    assert_eq!(a.iam_actions(), ["eks:DescribeCluster"]);
    let a = build(
        "k8s.wait_nodes_ready",
        json!({"selector": "pool=dr", "count": "4", "context": "dr"}),
    );
    assert!(
        a.unwrap_err().to_string().contains("`count`"),
        "a count must be a number"
    );
    let a = build(
        "k8s.wait_nodes_ready",
        json!({"selector": "pool=dr", "count": 2, "context": "dr"}),
    )
    .unwrap();
    assert_eq!(a.target().to_string(), "k8s:nodes/pool=dr@context/dr");
    assert!(a.iam_actions().is_empty());
}

#[tokio::test]
async fn bad_parameters_are_refused_before_any_call() {
    let cases = [
        ("k8s.apply", json!({}), "missing field `manifests`"),
        (
            "k8s.apply",
            json!({"manifests": ""}),
            "parameter `manifests`: the path is empty",
        ),
        (
            "k8s.apply",
            json!({"manifests": "m", "context": "a", "cluster": "b"}),
            "parameter `cluster`: give either `context`",
        ),
        (
            "k8s.apply",
            json!({"manifests": "m", "region": "us-west-2"}),
            "parameter `region`: `region` is only for an EKS `cluster`",
        ),
        (
            "k8s.apply",
            json!({"manifests": "m", "namespcae": "x"}),
            "unknown field `namespcae`",
        ),
        (
            "k8s.apply",
            json!({"manifests": "no/such/manifests"}),
            "parameter `manifests`: cannot read no/such/manifests",
        ),
        (
            "k8s.wait_ready",
            json!({"namespace": "Mint_Replica"}),
            "parameter `namespace`: `Mint_Replica` is not a valid Kubernetes name",
        ),
        (
            "k8s.wait_ready",
            json!({"namespace": "ns", "kinds": ["Pod"]}),
            "parameter `kinds[0]`: unknown variant `Pod`",
        ),
        (
            "k8s.wait_ready",
            json!({"namespace": "ns", "kinds": []}),
            "parameter `kinds`: give at least one",
        ),
        (
            "k8s.wait_ready",
            json!({"namespace": "ns", "cluster": "c"}),
            "no region",
        ),
        (
            "k8s.scale",
            json!({"namespace": "ns", "kind": "Deployment", "name": "api", "replicas": -1}),
            "parameter `replicas`: invalid value: integer `-1`",
        ),
        (
            "k8s.scale",
            json!({"namespace": "ns", "kind": "Deployment", "name": "api", "replicas": 3_000_000_000_u64}),
            "parameter `replicas`: 3000000000 is too large",
        ),
        (
            "k8s.scale",
            json!({"namespace": "ns", "kind": "Job", "name": "api", "replicas": 1}),
            "parameter `kind`: unknown variant `Job`",
        ),
        (
            "k8s.scale",
            json!({"namespace": "ns", "kind": "Deployment", "name": "API", "replicas": 1}),
            "parameter `name`: `API` is not a valid Kubernetes object name",
        ),
    ];
    for (kind, params, expected) in cases {
        let err = build(kind, params).unwrap_err().to_string();
        assert!(err.contains(expected), "{err} lacks {expected}");
    }
}

#[tokio::test]
async fn the_descriptors_are_registered_in_kind_order() {
    let reg = registry();
    let kinds: Vec<_> = reg.descriptors().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            "k8s.apply",
            "k8s.scale",
            "k8s.wait_nodes_ready",
            "k8s.wait_ready"
        ]
    );
    for d in DESCRIPTORS {
        assert_eq!(reg.descriptor(d.kind), Some(d));
    }
}

/// Without AWS, a step naming an EKS cluster is refused when it is built, saying why.
#[tokio::test]
async fn kubeconfig_ports_refuse_an_eks_cluster() {
    let mut reg = Registry::new();
    register(&mut reg).unwrap();
    let spec = ActionSpec::new(
        "step",
        "k8s.wait_ready",
        json!({"namespace": "ns", "cluster": "mint-dr", "region": "us-west-2"}),
    );
    let err = reg.build(&spec).unwrap_err().to_string();
    assert!(
        err.starts_with("step `step` (k8s.wait_ready): EKS cluster mint-dr: this program"),
        "{err}"
    );
    assert!(err.contains("`eks` feature"), "{err}");
    let spec = ActionSpec::new("step", "k8s.wait_ready", json!({"namespace": "ns"}));
    let action = reg.build(&spec).unwrap();
    assert_eq!(action.target().to_string(), "k8s:namespace/ns@kubeconfig");
}

/// With AWS, an EKS step builds without loading the AWS configuration or calling EKS.
#[cfg(feature = "eks")]
#[tokio::test]
async fn aws_ports_build_an_eks_step_without_loading_anything() {
    use drkit_aws::{Aws, AwsSettings};
    use drkit_core::PortFactory;
    use drkit_eks::{EksApi, MockEksApi};

    let aws = Aws::lazy(AwsSettings::default().region("eu-west-1"));
    let mut reg = Registry::new();
    register_with(
        &mut reg,
        &K8sPorts::with_eks(
            &aws,
            PortFactory::fixed(Arc::new(MockEksApi::new()) as Arc<dyn EksApi>),
        ),
    )
    .unwrap();
    let spec = ActionSpec::new(
        "step",
        "k8s.scale",
        json!({"namespace": "ns", "kind": "Deployment", "name": "api", "replicas": 2,
               "cluster": "mint-dr"}),
    )
    .in_region("us-west-2");
    let action = reg.build(&spec).unwrap();
    assert_eq!(
        action.target().to_string(),
        "k8s:deployment/ns/api@eks/mint-dr"
    );
    assert_eq!(action.iam_actions(), ["eks:DescribeCluster"]);
    assert!(format!("{action:?}").contains("us-west-2"), "{action:?}");
    assert!(!aws.is_loaded());

    let mut reg = Registry::new();
    register_with_aws(&mut reg, &aws).unwrap();
    assert!(reg.build(&spec).is_ok());
    assert!(!aws.is_loaded());
}
