//! Registration of the Kubernetes actions in a [`Registry`].

use std::fmt;
use std::sync::Arc;

use drkit_core::ActionKind;
use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};

use crate::apply::ApplyManifests;
use crate::connect::{ClusterRef, Connect, KubeconfigConnector};
use crate::nodes::WaitNodesReady;
use crate::ready::WaitReady;
use crate::scale::ScaleWorkload;

/// Makes the connection of a step: the cluster asked for and the step's region.
type ConnectFn =
    dyn Fn(&ClusterRef, Option<&str>) -> Result<Arc<dyn Connect>, String> + Send + Sync;

/// The ports the Kubernetes actions are built with: how a step's connection is made, from the
/// cluster it names and its region. An error is a message about the step (e.g. no region for
/// an EKS cluster), given when the step is built. Cheap to clone.
#[derive(Clone)]
pub struct K8sPorts {
    connect: Arc<ConnectFn>,
}

impl fmt::Debug for K8sPorts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("K8sPorts").finish_non_exhaustive()
    }
}

impl K8sPorts {
    /// Connections made by `connect` (e.g. kube-rs's mock service in the embedder's tests).
    pub fn new(
        connect: impl Fn(&ClusterRef, Option<&str>) -> Result<Arc<dyn Connect>, String>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self {
            connect: Arc::new(connect),
        }
    }

    /// Every step through `connect`, whatever cluster it names (a mock, or a fake API server).
    pub fn fixed(connect: Arc<dyn Connect>) -> Self {
        Self::new(move |_, _| Ok(Arc::clone(&connect)))
    }

    /// Kubeconfig contexts from the usual places (`KUBECONFIG`, `~/.kube/config`); a step
    /// naming an EKS `cluster` is refused when it is built (see `K8sPorts::aws`, feature
    /// `eks`).
    pub fn kubeconfig() -> Self {
        Self::new(|cluster, _| match cluster {
            ClusterRef::Kubeconfig { context } => Ok(kubeconfig(context)),
            ClusterRef::Eks { cluster, .. } => Err(format!(
                "EKS cluster {cluster}: this program reaches clusters through a kubeconfig only \
                 (an EKS `cluster` needs drkit-k8s's `eks` feature and an AWS configuration); \
                 give a kubeconfig `context` instead"
            )),
        })
    }

    /// The connection of a step to `cluster`, in `step_region` (the step's region, if any).
    pub fn connect(
        &self,
        cluster: &ClusterRef,
        step_region: Option<&str>,
    ) -> Result<Arc<dyn Connect>, String> {
        (self.connect)(cluster, step_region)
    }
}

fn kubeconfig(context: &Option<String>) -> Arc<dyn Connect> {
    Arc::new(KubeconfigConnector::new(context.clone()))
}

#[cfg(feature = "eks")]
mod aws {
    use std::sync::Arc;

    use drkit_aws::Aws;
    use drkit_core::PortFactory;
    use drkit_core::registry::{DuplicateKind, Registry};
    use drkit_eks::EksApi;

    use super::{K8sPorts, kubeconfig, register_with};
    use crate::connect::{ClusterRef, Connect};
    use crate::eks::EksConnector;

    impl K8sPorts {
        /// Kubeconfig contexts from the usual places, and EKS clusters through `aws`
        /// (credentials, default region; its endpoint override, if any, also signs the
        /// token), described through drkit-eks's SDK adapter. Nothing is loaded before a
        /// step first connects.
        pub fn aws(aws: &Aws) -> Self {
            Self::with_eks(aws, drkit_eks::ports(aws))
        }

        /// As [`K8sPorts::aws`], the EKS clusters described through `eks` (e.g. a mock of
        /// drkit-eks's port) and their tokens signed with the credentials of `aws`.
        pub fn with_eks(aws: &Aws, eks: PortFactory<dyn EksApi>) -> Self {
            let aws = aws.clone();
            Self::new(move |cluster, step_region| match cluster {
                ClusterRef::Kubeconfig { context } => Ok(kubeconfig(context)),
                ClusterRef::Eks { cluster, region } => {
                    // Else the default region of `aws`, once loaded.
                    let region = region
                        .as_deref()
                        .or(step_region)
                        .or(aws.settings().region.as_deref())
                        .map(str::to_owned);
                    let api = eks.get(region.as_deref());
                    Ok(
                        Arc::new(EksConnector::aws(cluster.clone(), region, api, &aws))
                            as Arc<dyn Connect>,
                    )
                }
            })
        }
    }

    /// Registers every Kubernetes action: kubeconfig contexts from the usual places, EKS
    /// clusters through `aws` (loaded when a step first connects to one).
    pub fn register_with_aws(
        registry: &mut Registry,
        aws: impl Into<Aws>,
    ) -> Result<(), DuplicateKind> {
        register_with(registry, &K8sPorts::aws(&aws.into()))
    }
}

#[cfg(feature = "eks")]
pub use aws::register_with_aws;

/// Every descriptor, in kind order.
pub const DESCRIPTORS: &[ActionDescriptor] = &[
    ApplyManifests::DESCRIPTOR,
    ScaleWorkload::DESCRIPTOR,
    WaitNodesReady::DESCRIPTOR,
    WaitReady::DESCRIPTOR,
];

/// Registers every Kubernetes action, reaching clusters through kubeconfig contexts from the
/// usual places (see [`K8sPorts::kubeconfig`]; `register_with_aws` for EKS clusters too,
/// feature `eks`).
pub fn register(registry: &mut Registry) -> Result<(), DuplicateKind> {
    register_with(registry, &K8sPorts::kubeconfig())
}

/// Registers every Kubernetes action with the given ports (e.g. kube-rs's mock service in the
/// embedder's tests).
pub fn register_with(registry: &mut Registry, ports: &K8sPorts) -> Result<(), DuplicateKind> {
    registry.register::<ApplyManifests>(ports.clone())?;
    registry.register::<WaitReady>(ports.clone())?;
    registry.register::<WaitNodesReady>(ports.clone())?;
    registry.register::<ScaleWorkload>(ports.clone())
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
