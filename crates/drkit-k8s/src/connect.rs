//! How an action reaches a cluster: a kubeconfig context, or an EKS cluster by name.
//!
//! - [`ClusterRef::Kubeconfig`]: the kubeconfig from the usual places (`KUBECONFIG`, else
//!   `~/.kube/config`; without a `context`, in-cluster service-account configuration is the
//!   fallback, as kube-rs infers it), with an optional named context.
//! - [`ClusterRef::Eks`]: the endpoint and CA of an EKS cluster from `eks:DescribeCluster`
//!   ([`EksClusterApi`]), and a bearer token made like `aws eks get-token` does
//!   ([`crate::eks_token`]) from the AWS credentials drkit already has. EKS tokens are
//!   accepted for 15 minutes: the client is rebuilt with a fresh token after
//!   [`EKS_TOKEN_REFRESH`].
//!
//! Actions get their client from a [`Connect`]. The client is built on first use (never at
//! registration), then cached. kube's own retry layer is switched off: drkit's retry layer
//! decides about retries, from the error's kind ([`crate::kube_error`]).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use drkit_core::{ActionError, ErrorKind};
use kube::config::{
    AuthInfo, Cluster, Context as KubeContext, KubeConfigOptions, Kubeconfig, NamedAuthInfo,
    NamedCluster, NamedContext,
};
use kube::{Client, Config};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::kube_error;
use crate::token::{eks_token, sts_endpoint};

/// How long an EKS client (and its token) is used before a new token is made. EKS accepts a
/// token for 15 minutes.
pub const EKS_TOKEN_REFRESH: Duration = Duration::from_secs(10 * 60);

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
    ) -> Result<Self, (&'static str, String)> {
        match (context, cluster) {
            (Some(_), Some(_)) => Err((
                "cluster",
                "give either `context` (a kubeconfig context) or `cluster` (an EKS cluster), \
                 not both"
                    .to_owned(),
            )),
            (None, Some(cluster)) => {
                if cluster.is_empty() {
                    return Err(("cluster", "the EKS cluster name is empty".to_owned()));
                }
                Ok(Self::Eks { cluster, region })
            }
            (context, None) => {
                if region.is_some() {
                    return Err((
                        "region",
                        "`region` is only for an EKS `cluster`; a kubeconfig context already \
                         names its cluster"
                            .to_owned(),
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

/// Gives actions a Kubernetes client.
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

fn client_from_config(mut config: Config, what: &str) -> Result<Client, ActionError> {
    config.default_retry = false;
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

/// Where an EKS cluster's API server is.
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClusterEndpoint {
    /// The API server URL (`https://...eks.amazonaws.com`).
    pub endpoint: String,
    /// The cluster CA, base64 of PEM, as `DescribeCluster` returns it (and a kubeconfig holds it).
    pub certificate_authority: Option<String>,
}

impl ClusterEndpoint {
    /// An endpoint with its CA.
    pub fn new(endpoint: impl Into<String>, certificate_authority: Option<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            certificate_authority,
        }
    }
}

impl fmt::Debug for ClusterEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterEndpoint")
            .field("endpoint", &self.endpoint)
            .field(
                "certificate_authority",
                &self.certificate_authority.as_ref().map(|c| c.len()),
            )
            .finish()
    }
}

/// The one EKS operation the connection needs (`eks:DescribeCluster`), mockable with
/// `MockEksClusterApi` (feature `mock`).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EksClusterApi: Send + Sync {
    /// The endpoint and CA of `cluster` (`DescribeCluster`).
    async fn describe_endpoint(&self, cluster: &str) -> Result<ClusterEndpoint, ActionError>;
}

/// [`EksClusterApi`] over `aws-sdk-eks`.
#[derive(Clone, Debug)]
pub struct SdkEksCluster {
    client: aws_sdk_eks::Client,
}

impl SdkEksCluster {
    /// A client for `config` (see `drkit_aws::AwsContext::for_region`).
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_eks::Client::new(config),
        }
    }
}

#[async_trait]
impl EksClusterApi for SdkEksCluster {
    async fn describe_endpoint(&self, cluster: &str) -> Result<ClusterEndpoint, ActionError> {
        use drkit_aws::SdkResultExt;
        let out = self
            .client
            .describe_cluster()
            .name(cluster)
            .send()
            .await
            .or_action_error("DescribeCluster")?;
        let c = out.cluster().ok_or_else(|| {
            ActionError::new(
                ErrorKind::NotFound,
                format!("EKS cluster {cluster} not found"),
            )
            .with_operation("DescribeCluster")
        })?;
        let endpoint = c.endpoint().filter(|e| !e.is_empty()).ok_or_else(|| {
            ActionError::new(
                ErrorKind::Conflict,
                format!(
                    "EKS cluster {cluster} has no API endpoint yet (status {})",
                    c.status().map_or("unknown", |s| s.as_str())
                ),
            )
            .with_operation("DescribeCluster")
        })?;
        Ok(ClusterEndpoint::new(
            endpoint,
            c.certificate_authority()
                .and_then(|ca| ca.data())
                .map(str::to_owned),
        ))
    }
}

/// An EKS cluster, reached with a token made from AWS credentials.
pub struct EksConnector {
    cluster: String,
    region: String,
    api: Arc<dyn EksClusterApi>,
    credentials: Option<SharedCredentialsProvider>,
    sts_endpoint: String,
    client: Mutex<Option<(Client, Instant)>>,
}

impl fmt::Debug for EksConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EksConnector")
            .field("cluster", &self.cluster)
            .field("region", &self.region)
            .field("sts_endpoint", &self.sts_endpoint)
            .finish_non_exhaustive()
    }
}

impl EksConnector {
    /// Cluster `cluster` in `region`, described through `api`, with a token signed by
    /// `credentials` (`None`: connecting fails with `AccessDenied`).
    pub fn new(
        cluster: impl Into<String>,
        region: impl Into<String>,
        api: Arc<dyn EksClusterApi>,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Self {
        let region = region.into();
        Self {
            cluster: cluster.into(),
            sts_endpoint: sts_endpoint(&region),
            region,
            api,
            credentials,
            client: Mutex::new(None),
        }
    }

    /// Signs the token for another STS endpoint (an emulator, a FIPS or VPC endpoint).
    #[must_use]
    pub fn with_sts_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.sts_endpoint = endpoint.into();
        self
    }

    fn what(&self) -> String {
        format!("EKS cluster {} in {}", self.cluster, self.region)
    }

    /// The kubeconfig (in memory) for the cluster: endpoint, CA and a fresh token.
    pub async fn kubeconfig(&self) -> Result<Kubeconfig, ActionError> {
        let endpoint = self
            .api
            .describe_endpoint(&self.cluster)
            .await
            .map_err(|e| e.with_resource(self.what()))?;
        let provider = self.credentials.as_ref().ok_or_else(|| {
            ActionError::new(
                ErrorKind::AccessDenied,
                format!("no AWS credentials to make a token for {}", self.what()),
            )
            .with_operation("get-token")
        })?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            ActionError::new(
                ErrorKind::AccessDenied,
                format!("cannot load AWS credentials for {}: {e}", self.what()),
            )
            .with_operation("get-token")
        })?;
        let token = eks_token(
            &credentials,
            &self.region,
            &self.cluster,
            &self.sts_endpoint,
            SystemTime::now(),
        )?;
        let name = "drkit".to_owned();
        Ok(Kubeconfig {
            clusters: vec![NamedCluster {
                name: self.cluster.clone(),
                cluster: Some(Cluster {
                    server: Some(endpoint.endpoint),
                    certificate_authority_data: endpoint.certificate_authority,
                    ..Cluster::default()
                }),
                ..NamedCluster::default()
            }],
            auth_infos: vec![NamedAuthInfo {
                name: name.clone(),
                auth_info: Some(AuthInfo {
                    token: Some(token),
                    ..AuthInfo::default()
                }),
                ..NamedAuthInfo::default()
            }],
            contexts: vec![NamedContext {
                name: name.clone(),
                context: Some(KubeContext {
                    cluster: self.cluster.clone(),
                    user: Some(name.clone()),
                    ..KubeContext::default()
                }),
                ..NamedContext::default()
            }],
            current_context: Some(name),
            ..Kubeconfig::default()
        })
    }
}

#[async_trait]
impl Connect for EksConnector {
    async fn client(&self) -> Result<Client, ActionError> {
        let mut cached = self.client.lock().await;
        if let Some((client, made)) = cached.as_ref()
            && made.elapsed() < EKS_TOKEN_REFRESH
        {
            return Ok(client.clone());
        }
        let what = self.what();
        let kubeconfig = self.kubeconfig().await?;
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| kube_error(kube::Error::InferKubeconfig(e), "connect", &what))?;
        let client = client_from_config(config, &what)?;
        *cached = Some((client.clone(), Instant::now()));
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use aws_credential_types::Credentials;
    use secrecy::ExposeSecret;

    use super::*;

    const SECRET_KEY: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

    fn connector(api: MockEksClusterApi) -> EksConnector {
        EksConnector::new(
            "mint-dr",
            "us-west-2",
            Arc::new(api),
            Some(SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                SECRET_KEY,
                Some("session-token-xyz".into()),
                None,
                "test",
            ))),
        )
    }

    #[test]
    fn cluster_ref_params_exclude_each_other() {
        assert_eq!(
            ClusterRef::from_params(None, None, None).unwrap(),
            ClusterRef::Kubeconfig { context: None }
        );
        assert_eq!(
            ClusterRef::from_params(None, Some("c".into()), Some("us-west-2".into()))
                .unwrap()
                .to_string(),
            "EKS cluster c in us-west-2"
        );
        let (param, _) =
            ClusterRef::from_params(Some("a".into()), Some("c".into()), None).unwrap_err();
        assert_eq!(param, "cluster");
        let (param, _) =
            ClusterRef::from_params(Some("a".into()), None, Some("r".into())).unwrap_err();
        assert_eq!(param, "region");
    }

    /// The token travels inside the kubeconfig and the client, never in Debug or errors.
    #[tokio::test]
    async fn the_token_never_shows_in_debug_or_errors() {
        let mut api = MockEksClusterApi::new();
        api.expect_describe_endpoint().returning(|_| {
            Ok(ClusterEndpoint::new(
                "https://ABCDEF.gr7.us-west-2.eks.amazonaws.com",
                None,
            ))
        });
        let eks = connector(api);
        let kubeconfig = eks.kubeconfig().await.unwrap();
        let token = kubeconfig.auth_infos[0]
            .auth_info
            .as_ref()
            .and_then(|a| a.token.as_ref())
            .unwrap()
            .expose_secret()
            .to_owned();
        assert!(token.starts_with("k8s-aws-v1."));
        let client = eks.client().await.unwrap();
        let _ = client;
        let debug = format!("{eks:?} {kubeconfig:?}");
        assert!(!debug.contains(&token), "token in Debug output: {debug}");
        assert!(!debug.contains(&token["k8s-aws-v1.".len()..][..20]));
        assert!(!debug.contains(SECRET_KEY));
        assert!(!debug.contains("session-token-xyz"));

        // A failure after the token was made (an endpoint kube cannot use) names the cluster
        // but carries no token and no key.
        let mut api = MockEksClusterApi::new();
        api.expect_describe_endpoint()
            .returning(|_| Ok(ClusterEndpoint::new("not a url at all", None)));
        let err = connector(api).client().await.map(|_| ()).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("EKS cluster mint-dr"), "{text}");
        assert!(!text.contains("k8s-aws-v1."), "{text}");
        assert!(!text.contains("X-Amz-Signature"), "{text}");
        assert!(!text.contains(SECRET_KEY), "{text}");
    }

    #[tokio::test]
    async fn a_missing_cluster_names_it_and_is_not_retryable() {
        let mut api = MockEksClusterApi::new();
        api.expect_describe_endpoint().returning(|c| {
            Err(ActionError::new(
                ErrorKind::NotFound,
                format!("No cluster found for name: {c}."),
            )
            .with_operation("DescribeCluster")
            .with_code("ResourceNotFoundException"))
        });
        let err = connector(api).client().await.map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.resource(), Some("EKS cluster mint-dr in us-west-2"));
    }

    /// A context that no kubeconfig has (or no kubeconfig at all): a permanent error naming
    /// the context, before any network call.
    #[tokio::test]
    async fn an_unknown_kubeconfig_context_is_invalid_input() {
        let err = KubeconfigConnector::new(Some("drkit-no-such-context-7f3a".into()))
            .client()
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(!err.is_retryable());
        assert!(
            err.to_string()
                .contains("kubeconfig context drkit-no-such-context-7f3a"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn no_credentials_is_access_denied() {
        let mut api = MockEksClusterApi::new();
        api.expect_describe_endpoint()
            .returning(|_| Ok(ClusterEndpoint::new("https://x.example", None)));
        let eks = EksConnector::new("c", "us-west-2", Arc::new(api), None);
        let err = eks.client().await.map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AccessDenied);
    }
}
