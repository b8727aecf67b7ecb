//! Registration of the Kubernetes actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::AwsContext;
use drkit_core::ActionRef;
use drkit_core::registry::{
    ActionDescriptor, ActionSpec, BuildError, DuplicateKind, OutputDoc, ParamDoc, Registry,
    decode_params,
};

use crate::apply::{self, ApplyManifests, ApplyParams};
use crate::connect::{ClusterRef, Connect, EksConnector, KubeconfigConnector, SdkEksCluster};
use crate::ready::{self, WaitReady, WaitReadyParams};
use crate::scale::{self, ScaleParams, ScaleWorkload};

/// The only IAM action: `eks:DescribeCluster`, when a step names an EKS `cluster`. What the
/// actions do in the cluster needs Kubernetes RBAC instead (see `docs/actions/k8s.md`).
pub const EKS_IAM_ACTIONS: &[&str] = &["eks:DescribeCluster"];

/// The IAM actions of a step: `eks:DescribeCluster` with an EKS `cluster`, none otherwise.
pub(crate) fn iam_for(cluster: &Option<String>) -> &'static [&'static str] {
    if cluster.is_some() {
        EKS_IAM_ACTIONS
    } else {
        &[]
    }
}

const CONTEXT: ParamDoc = ParamDoc::optional(
    "context",
    "string",
    "the kubeconfig context (kubeconfig from KUBECONFIG, else ~/.kube/config); the current \
     context when absent",
);
const CLUSTER: ParamDoc = ParamDoc::optional(
    "cluster",
    "string",
    "an EKS cluster name, instead of a kubeconfig context: endpoint and CA from \
     eks:DescribeCluster, token as `aws eks get-token` makes it",
);
const REGION: ParamDoc = ParamDoc::optional(
    "region",
    "string",
    "the EKS cluster's region (only with `cluster`); default the step's region, else the \
     default region",
);

/// `k8s.apply`.
pub const APPLY: ActionDescriptor = ActionDescriptor {
    kind: apply::KIND,
    summary: "Server-side apply every object of a manifest file or folder (Namespaces and CRDs \
              first), field manager drkit",
    mutates: true,
    iam_actions: EKS_IAM_ACTIONS, // only when a step names an EKS `cluster`
    params: &[
        ParamDoc::required(
            "manifests",
            "path",
            "a YAML/JSON file (one or more documents) or a folder of them (*.yaml, *.yml, \
             *.json, by name, not recursive)",
        ),
        ParamDoc::optional(
            "namespace",
            "string",
            "the namespace of namespaced objects that name none; an object naming another one \
             is refused",
        ),
        ParamDoc::optional(
            "force_conflicts",
            "boolean",
            "take over fields owned by another field manager (default true)",
        ),
        CONTEXT,
        CLUSTER,
        REGION,
    ],
    outputs: &[
        OutputDoc {
            name: "created",
            doc: "the objects created, as `Kind namespace/name`",
        },
        OutputDoc {
            name: "configured",
            doc: "the objects changed",
        },
        OutputDoc {
            name: "unchanged",
            doc: "the objects already as the manifests say",
        },
        OutputDoc {
            name: "objects",
            doc: "how many objects were applied",
        },
    ],
};

/// `k8s.wait_ready`.
pub const WAIT_READY: ActionDescriptor = ActionDescriptor {
    kind: ready::KIND,
    summary: "Wait until the Deployments, StatefulSets and DaemonSets of a namespace have \
              rolled out and their pods are Ready",
    mutates: false,
    iam_actions: EKS_IAM_ACTIONS, // only when a step names an EKS `cluster`
    params: &[
        ParamDoc::required("namespace", "string", "the namespace"),
        ParamDoc::optional(
            "selector",
            "string",
            "a label selector for workloads and pods (e.g. `app=api`); all when absent",
        ),
        ParamDoc::optional(
            "kinds",
            "list of strings",
            "the workload kinds to follow: Deployment, StatefulSet, DaemonSet (default all)",
        ),
        ParamDoc::optional("min_ready", "integer", "the fewest Ready pods (default 1)"),
        CONTEXT,
        CLUSTER,
        REGION,
    ],
    outputs: &[
        OutputDoc {
            name: "ready_pods",
            doc: "how many matching pods are Ready",
        },
        OutputDoc {
            name: "pods",
            doc: "the names of the Ready pods",
        },
        OutputDoc {
            name: "workloads",
            doc: "one line per workload, e.g. `Deployment api: 2/2 available`",
        },
    ],
};

/// `k8s.scale`.
pub const SCALE: ActionDescriptor = ActionDescriptor {
    kind: scale::KIND,
    summary: "Set a Deployment's, StatefulSet's or ReplicaSet's replicas through the scale \
              subresource and wait until it runs them (rollback restores the count)",
    mutates: true,
    iam_actions: EKS_IAM_ACTIONS, // only when a step names an EKS `cluster`
    params: &[
        ParamDoc::required("namespace", "string", "the namespace"),
        ParamDoc::required("kind", "string", "Deployment, StatefulSet or ReplicaSet"),
        ParamDoc::required("name", "string", "the workload's name"),
        ParamDoc::required("replicas", "integer", "the replica count to set"),
        CONTEXT,
        CLUSTER,
        REGION,
    ],
    outputs: &[
        OutputDoc {
            name: "previous_replicas",
            doc: "the replica count before the change (what rollback restores)",
        },
        OutputDoc {
            name: "replicas",
            doc: "the replica count set",
        },
        OutputDoc {
            name: "ready",
            doc: "the rollout summary, e.g. `Deployment api: 4/4 available`",
        },
    ],
};

/// Every descriptor, in kind order.
pub const DESCRIPTORS: [ActionDescriptor; 3] = [APPLY, SCALE, WAIT_READY];

/// Builds the connection for a step: the cluster asked for and the step's region. An error
/// is a message for the step (e.g. no region for an EKS cluster).
pub type ConnectFactory =
    Arc<dyn Fn(&ClusterRef, Option<&str>) -> Result<Arc<dyn Connect>, String> + Send + Sync>;

/// Registers every Kubernetes action: kubeconfig contexts from the usual places, EKS clusters
/// through `aws` (credentials, region; its endpoint override, if any, also signs the token).
pub fn register(registry: &mut Registry, aws: &AwsContext) -> Result<(), DuplicateKind> {
    let aws = aws.clone();
    register_with(
        registry,
        Arc::new(move |cluster, step_region| match cluster {
            ClusterRef::Kubeconfig { context } => {
                Ok(Arc::new(KubeconfigConnector::new(context.clone())) as Arc<dyn Connect>)
            }
            ClusterRef::Eks { cluster, region } => {
                let region = region
                    .as_deref()
                    .or(step_region)
                    .or(aws.region())
                    .ok_or_else(|| {
                        format!(
                            "no region for EKS cluster {cluster}: give `region`, a step region \
                             or a default region"
                        )
                    })?
                    .to_owned();
                let config = aws.for_region(Some(&region));
                let mut connector = EksConnector::new(
                    cluster.clone(),
                    region,
                    Arc::new(SdkEksCluster::from_config(&config)),
                    config.credentials_provider(),
                );
                if let Some(endpoint) = aws.endpoint_url() {
                    connector = connector.with_sts_endpoint(endpoint);
                }
                Ok(Arc::new(connector) as Arc<dyn Connect>)
            }
        }),
    )
}

fn cluster_ref(
    spec: &ActionSpec,
    context: Option<String>,
    cluster: Option<String>,
    region: Option<String>,
) -> Result<ClusterRef, BuildError> {
    ClusterRef::from_params(context, cluster, region)
        .map_err(|(param, message)| BuildError::invalid(spec, Some(param), message))
}

fn connect(
    factory: &ConnectFactory,
    spec: &ActionSpec,
    cluster: &ClusterRef,
) -> Result<Arc<dyn Connect>, BuildError> {
    factory(cluster, spec.region.as_deref()).map_err(|message| BuildError::Provider {
        step: spec.id.clone(),
        kind: spec.kind.clone(),
        message,
    })
}

/// Registers every Kubernetes action with connections made by `connect` (e.g. kube-rs's mock
/// service in the embedder's tests).
pub fn register_with(
    registry: &mut Registry,
    connect_with: ConnectFactory,
) -> Result<(), DuplicateKind> {
    let factory = Arc::clone(&connect_with);
    registry.register_fn(APPLY, move |spec| {
        let params: ApplyParams = decode_params(spec)?;
        if params.manifests.as_os_str().is_empty() {
            return Err(BuildError::invalid(
                spec,
                Some("manifests"),
                "the path is empty",
            ));
        }
        if let Some(ns) = &params.namespace {
            validate_label(spec, "namespace", ns)?;
        }
        let cluster = cluster_ref(
            spec,
            params.context.clone(),
            params.cluster.clone(),
            params.region.clone(),
        )?;
        let conn = connect(&factory, spec, &cluster)?;
        // Read and parse the manifests now, so `drkit validate` (not a step mid-recovery) says
        // that a file is missing or a document malformed. They are read again when the step
        // runs.
        crate::manifest::load(&params.manifests)
            .map_err(|e| BuildError::invalid(spec, Some("manifests"), e.message()))?;
        Ok(Arc::new(ApplyManifests::new(spec.id.clone(), params, &cluster, conn)) as ActionRef)
    })?;
    let factory = Arc::clone(&connect_with);
    registry.register_fn(WAIT_READY, move |spec| {
        let params: WaitReadyParams = decode_params(spec)?;
        validate_label(spec, "namespace", &params.namespace)?;
        if params.kinds.is_empty() {
            return Err(BuildError::invalid(
                spec,
                Some("kinds"),
                "give at least one of Deployment, StatefulSet, DaemonSet (or leave it out)",
            ));
        }
        if params
            .selector
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            return Err(BuildError::invalid(
                spec,
                Some("selector"),
                "the selector is empty; leave it out to select everything",
            ));
        }
        let cluster = cluster_ref(
            spec,
            params.context.clone(),
            params.cluster.clone(),
            params.region.clone(),
        )?;
        let conn = connect(&factory, spec, &cluster)?;
        Ok(Arc::new(WaitReady::new(spec.id.clone(), params, &cluster, conn)) as ActionRef)
    })?;
    registry.register_fn(SCALE, move |spec| {
        let params: ScaleParams = decode_params(spec)?;
        validate_label(spec, "namespace", &params.namespace)?;
        validate_subdomain(spec, "name", &params.name)?;
        if i32::try_from(params.replicas).is_err() {
            return Err(BuildError::invalid(
                spec,
                Some("replicas"),
                format!(
                    "{} is too large (Kubernetes counts are int32)",
                    params.replicas
                ),
            ));
        }
        let cluster = cluster_ref(
            spec,
            params.context.clone(),
            params.cluster.clone(),
            params.region.clone(),
        )?;
        let conn = connect(&connect_with, spec, &cluster)?;
        Ok(Arc::new(ScaleWorkload::new(spec.id.clone(), params, &cluster, conn)) as ActionRef)
    })
}

/// A DNS-1123 label (namespaces): 1-63 lowercase letters, digits and `-`, alphanumeric at
/// both ends.
fn validate_label(spec: &ActionSpec, param: &str, value: &str) -> Result<(), BuildError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(BuildError::invalid(
            spec,
            Some(param),
            format!(
                "`{value}` is not a valid Kubernetes name: 1-63 lowercase letters, digits and \
                 `-`, starting and ending with a letter or digit"
            ),
        ))
    }
}

/// A DNS-1123 subdomain (most object names): up to 253 characters of labels joined by `.`.
fn validate_subdomain(spec: &ActionSpec, param: &str, value: &str) -> Result<(), BuildError> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(BuildError::invalid(
            spec,
            Some(param),
            format!(
                "`{value}` is not a valid Kubernetes object name: lowercase letters, digits, \
                 `-` and `.`"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::connect::FixedClient;

    fn registry() -> Registry {
        let mut registry = Registry::new();
        register_with(
            &mut registry,
            Arc::new(|cluster, region| {
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
        assert_eq!(kinds, ["k8s.apply", "k8s.scale", "k8s.wait_ready"]);
        for d in DESCRIPTORS {
            assert_eq!(reg.descriptor(d.kind), Some(&d));
        }
    }
}

#[cfg(test)]
mod docs_tests {
    use super::DESCRIPTORS;

    /// docs/actions/k8s.md names every registered kind and each of its parameters and outputs.
    #[test]
    fn the_actions_page_documents_every_action() {
        drkit_core::registry::documented(
            "docs/actions/k8s.md",
            include_str!("../../../docs/actions/k8s.md"),
            &DESCRIPTORS,
        )
        .unwrap();
    }
}
