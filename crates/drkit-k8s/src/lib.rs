//! # drkit-k8s
//!
//! Kubernetes recovery actions for drkit — the seed's `kubectl apply -f k8s/dr-manifests/` and
//! `kubectl get pods -n mint-replica | grep Running`, done properly:
//!
//! - [`ApplyManifests`] (`k8s.apply`): server-side apply of every object of a manifest file or
//!   folder (multi-document YAML), Namespaces and CRDs first, field manager `drkit`;
//! - [`WaitReady`] (`k8s.wait_ready`): waits until the Deployments, StatefulSets and
//!   DaemonSets of a namespace have rolled out and their pods are Ready; on time-out the error
//!   names each pod that is not ready and why (`CrashLoopBackOff`, `ImagePullBackOff`,
//!   `Unschedulable`, ...);
//! - [`ScaleWorkload`] (`k8s.scale`): sets replicas through the `scale` subresource, waits,
//!   and rolls back to the previous count;
//! - [`WaitNodesReady`] (`k8s.wait_nodes_ready`): waits until enough nodes of an EKS managed
//!   node group (or a label selector) are Ready and schedulable — after
//!   `eks.scale_nodegroup`, whose `ACTIVE` does not mean the new nodes joined; on time-out
//!   the error names the nodes that are not and why.
//!
//! Each kind is a type ([`drkit_core::ActionKind`]) whose port is a [`Connect`]: the
//! connection to the cluster the step names, made by [`K8sPorts`] when the step is built.
//! Clusters are reached through a kubeconfig context ([`register`]) or, with the feature
//! `eks`, an EKS cluster by name (`register_with_aws`): the endpoint and CA come from
//! `eks:DescribeCluster` through drkit-eks's port, and the bearer token is made as
//! `aws eks get-token` makes it (`eks_token`), kept in a `SecretString`. Without `eks`,
//! drkit-k8s compiles no aws-* crate. Errors from kube are classified in one place
//! ([`kube_error`]). kube-rs is used over rustls with the `ring` provider.
//!
//! ```no_run
//! use std::sync::Arc;
//! use drkit_core::{Context, RecoveryAction};
//! use drkit_k8s::{ApplyManifests, ApplyParams, ClusterRef, KubeconfigConnector};
//!
//! # async fn demo() -> Result<(), drkit_core::ActionError> {
//! let cluster = ClusterRef::Kubeconfig { context: Some("dr".into()) };
//! let apply = ApplyManifests::new(
//!     "deploy-services",
//!     ApplyParams::new("examples/k8s/dr-manifests"),
//!     &cluster,
//!     Arc::new(KubeconfigConnector::new(Some("dr".into()))),
//! );
//! let outputs = apply.execute(&Context::new()).await?;
//! assert!(outputs.get("created").is_some());
//! # Ok(()) }
//! ```

mod apply;
mod common;
mod connect;
#[cfg(feature = "eks")]
mod eks;
mod error;
pub mod manifest;
mod nodes;
mod ready;
mod register;
pub mod rollout;
mod scale;
#[cfg(feature = "eks")]
mod token;
mod waiting;

#[cfg(test)]
mod behaviour_tests;

pub use apply::{ApplyManifests, ApplyParams, FIELD_MANAGER};
pub use common::EKS_IAM_ACTIONS;
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use connect::MockConnect;
pub use connect::{ClusterRef, Connect, FixedClient, KubeconfigConnector, READ_TIMEOUT};
#[cfg(feature = "eks")]
#[cfg_attr(docsrs, doc(cfg(feature = "eks")))]
pub use eks::{EKS_TOKEN_REFRESH, EksConnector};
pub use error::kube_error;
pub use nodes::{
    MAX_NODES_LISTED, NODEGROUP_LABEL, WaitNodesReady, WaitNodesReadyParams, node_problem,
};
pub use ready::{WaitReady, WaitReadyParams, WorkloadKind};
#[cfg(feature = "eks")]
#[cfg_attr(docsrs, doc(cfg(feature = "eks")))]
pub use register::register_with_aws;
pub use register::{DESCRIPTORS, K8sPorts, register, register_with};
pub use scale::{ScaleKind, ScaleParams, ScaleWorkload};
#[cfg(feature = "eks")]
#[cfg_attr(docsrs, doc(cfg(feature = "eks")))]
pub use token::{
    CLUSTER_ID_HEADER, PRESIGN_EXPIRY, TOKEN_PREFIX, eks_token, presigned_url, sts_endpoint,
};
