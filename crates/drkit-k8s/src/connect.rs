//! How an action reaches a cluster: a kubeconfig context, or an EKS cluster by name.
//!
//! - [`ClusterRef::Kubeconfig`]: the kubeconfig from the usual places (`KUBECONFIG`, else
//!   `~/.kube/config`; without a `context`, in-cluster service-account configuration is the
//!   fallback, as kube-rs infers it), with an optional named context.
//! - [`ClusterRef::Eks`] (feature `eks`): the endpoint and CA of an EKS cluster from
//!   `eks:DescribeCluster` (drkit-eks's `EksApi`), and a bearer token made like
//!   `aws eks get-token` does from the AWS credentials drkit already has (`EksConnector`).
//!
//! Actions get their client from a [`Connect`]: the port of every `k8s.*` kind. The client is
//! built on first use (never at registration), then cached. kube's own retry layer is
//! switched off: drkit's retry layer decides about retries, from the error's kind
//! ([`crate::kube_error`]).
//!
//! Every call is bounded: kube-rs connects within 30 s and sends within 295 s, but by default
//! waits for an answer for ever. The clients built here wait at most [`READ_TIMEOUT`] (30 s)
//! for the next bytes of an answer (drkit makes no watch or exec call, which could be idle
//! longer); running out fails the call with `ErrorKind::Timeout`.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::ActionError;
use drkit_core::registry::ParamError;
use kube::config::KubeConfigOptions;
use kube::{Client, Config};
use tokio::sync::Mutex;

use crate::error::kube_error;

/// Which cluster a step talks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterRef {
    /// The kubeconfig from the usual places, with an optional named context.
    Kubeconfig {
        /// The context; the current context when `None`.
        context: Option<String>,
    },
    /// An EKS cluster, reached with a token made from the AWS credentials.
    Eks {
        /// The EKS cluster name.
        cluster: String,
        /// Its region; the step's region (else the default region) when `None`.
        region: Option<String>,
    },
}

impl ClusterRef {
    /// Builds the reference from an action's `context`, `cluster` and `region` parameters.
    /// `context` and `cluster` exclude each other; `region` needs `cluster`.
    pub fn from_params(
        context: Option<String>,
        cluster: Option<String>,
        region: Option<String>,
    ) -> Result<Self, ParamError> {
        match (context, cluster) {
            (Some(_), Some(_)) => Err(ParamError::new(
                "cluster",
                "give either `context` (a kubeconfig context) or `cluster` (an EKS cluster), \
                 not both",
            )),
            (None, Some(cluster)) => {
                if cluster.is_empty() {
                    return Err(ParamError::new("cluster", "the EKS cluster name is empty"));
                }
                Ok(Self::Eks { cluster, region })
            }
            (context, None) => {
                if region.is_some() {
                    return Err(ParamError::new(
                        "region",
                        "`region` is only for an EKS `cluster`; a kubeconfig context already \
                         names its cluster",
                    ));
                }
                Ok(Self::Kubeconfig { context })
            }
        }
    }

    /// Where the cluster is, for [`drkit_core::Resource::region`]: `context/<name>`,
    /// `kubeconfig` or `eks/<cluster>`.
    pub fn location(&self) -> String {
        match self {
            Self::Kubeconfig { context: Some(c) } => format!("context/{c}"),
            Self::Kubeconfig { context: None } => "kubeconfig".to_owned(),
            Self::Eks { cluster, .. } => format!("eks/{cluster}"),
        }
    }
}

impl fmt::Display for ClusterRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kubeconfig { context: Some(c) } => write!(f, "kubeconfig context {c}"),
            Self::Kubeconfig { context: None } => f.write_str("the current kubeconfig context"),
            Self::Eks {
                cluster,
                region: Some(r),
            } => write!(f, "EKS cluster {cluster} in {r}"),
            Self::Eks {
                cluster,
                region: None,
            } => write!(f, "EKS cluster {cluster}"),
        }
    }
}

/// Gives actions a Kubernetes client: the port of every `k8s.*` kind (kube-rs's mock
/// service or drkit-testkit's fake API server behind a [`FixedClient`] in tests; `MockConnect`
/// with the feature `mock`).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Connect: Send + Sync + fmt::Debug {
    /// A client for the cluster (built on first use, then reused while valid).
    async fn client(&self) -> Result<Client, ActionError>;
}

/// A fixed client: an embedder's own, or kube-rs's mock service in tests.
#[derive(Clone)]
pub struct FixedClient(Client);

impl FixedClient {
    /// Wraps `client`.
    pub fn new(client: Client) -> Self {
        Self(client)
    }
}

impl fmt::Debug for FixedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedClient").finish_non_exhaustive()
    }
}

#[async_trait]
impl Connect for FixedClient {
    async fn client(&self) -> Result<Client, ActionError> {
        Ok(self.0.clone())
    }
}

/// Installs rustls's `ring` provider as the process default when no provider is installed:
/// kube builds its TLS configuration with the process default, and the AWS SDK in the same
/// program also enables `aws-lc-rs`, so rustls cannot pick one by itself.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another thread installing one is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// How long a client built here waits for the next bytes of an answer (kube-rs's
/// `Config::read_timeout`, which it leaves unset), unless the configuration sets its own.
pub const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// `config` as drkit uses it: kube's retries off, and every read bounded ([`READ_TIMEOUT`]
/// unless the configuration already has a read time-out).
pub(crate) fn bounded_config(mut config: Config) -> Config {
    config.default_retry = false;
    config.read_timeout.get_or_insert(READ_TIMEOUT);
    config
}

pub(crate) fn client_from_config(config: Config, what: &str) -> Result<Client, ActionError> {
    let config = bounded_config(config);
    ensure_crypto_provider();
    Client::try_from(config).map_err(|e| kube_error(e, "connect", what))
}

/// The kubeconfig from the usual places (`KUBECONFIG`, `~/.kube/config`).
pub struct KubeconfigConnector {
    context: Option<String>,
    client: Mutex<Option<Client>>,
}

impl fmt::Debug for KubeconfigConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeconfigConnector")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl KubeconfigConnector {
    /// The kubeconfig's `context` (the current one when `None`).
    pub fn new(context: Option<String>) -> Self {
        Self {
            context,
            client: Mutex::new(None),
        }
    }

    async fn load(&self) -> Result<Client, ActionError> {
        let what = ClusterRef::Kubeconfig {
            context: self.context.clone(),
        }
        .to_string();
        let config = match &self.context {
            None => Config::infer()
                .await
                .map_err(|e| kube_error(kube::Error::InferConfig(e), "load kubeconfig", &what))?,
            Some(context) => Config::from_kubeconfig(&KubeConfigOptions {
                context: Some(context.clone()),
                ..KubeConfigOptions::default()
            })
            .await
            .map_err(|e| kube_error(kube::Error::InferKubeconfig(e), "load kubeconfig", &what))?,
        };
        client_from_config(config, &what)
    }
}

#[async_trait]
impl Connect for KubeconfigConnector {
    async fn client(&self) -> Result<Client, ActionError> {
        let mut cached = self.client.lock().await;
        if let Some(client) = cached.as_ref() {
            return Ok(client.clone());
        }
        let client = self.load().await?;
        *cached = Some(client.clone());
        Ok(client)
    }
}

#[cfg(test)]
#[path = "connect_tests.rs"]
mod tests;
