//! An EKS cluster by name (feature `eks`): the endpoint and CA from `eks:DescribeCluster`
//! through drkit-eks's port ([`EksApi`]), and a bearer token made like `aws eks get-token`
//! does ([`crate::eks_token`]) from the AWS credentials drkit already has. EKS tokens are
//! accepted for 15 minutes: the client is rebuilt with a fresh token after
//! [`EKS_TOKEN_REFRESH`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use drkit_aws::Aws;
use drkit_core::{ActionError, ErrorKind};
use drkit_eks::{EksApi, EksCluster};
use kube::Client;
use kube::config::{
    AuthInfo, Cluster, Context as KubeContext, KubeConfigOptions, Kubeconfig, NamedAuthInfo,
    NamedCluster, NamedContext,
};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::connect::{Connect, client_from_config};
use crate::error::kube_error;
use crate::token::{eks_token, sts_endpoint};

/// How long an EKS client (and its token) is used before a new token is made. EKS accepts a
/// token for 15 minutes.
pub const EKS_TOKEN_REFRESH: Duration = Duration::from_secs(10 * 60);

/// Where the token's credentials (and the default region, and an endpoint override) come from.
enum Signer {
    /// Given credentials (`None`: connecting fails with `AccessDenied`).
    Fixed(Option<SharedCredentialsProvider>),
    /// The AWS configuration, loaded when the first client is made.
    Aws(Aws),
}

/// What signs a token: the region, the credentials and the STS endpoint.
struct Signing {
    region: String,
    credentials: Option<SharedCredentialsProvider>,
    sts_endpoint: String,
}

/// An EKS cluster, reached with a token made from AWS credentials.
pub struct EksConnector {
    cluster: String,
    region: Option<String>,
    api: Arc<dyn EksApi>,
    signer: Signer,
    sts_endpoint: Option<String>,
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

/// The API server URL and CA (base64 of PEM) of a described cluster.
fn api_endpoint(cluster: EksCluster) -> Result<(String, Option<String>), ActionError> {
    match cluster.endpoint.filter(|e| !e.is_empty()) {
        Some(endpoint) => Ok((endpoint, cluster.certificate_authority)),
        None => {
            let status = if cluster.status.is_empty() {
                "unknown"
            } else {
                cluster.status.as_str()
            };
            Err(ActionError::new(
                ErrorKind::Conflict,
                format!(
                    "EKS cluster {} has no API endpoint yet (status {status})",
                    cluster.name
                ),
            )
            .with_operation("DescribeCluster"))
        }
    }
}

impl EksConnector {
    /// Cluster `cluster` in `region`, described through `api`, with a token signed by
    /// `credentials` (`None`: connecting fails with `AccessDenied`).
    pub fn new(
        cluster: impl Into<String>,
        region: impl Into<String>,
        api: Arc<dyn EksApi>,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Self {
        Self {
            cluster: cluster.into(),
            region: Some(region.into()),
            api,
            signer: Signer::Fixed(credentials),
            sts_endpoint: None,
            client: Mutex::new(None),
        }
    }

    /// Cluster `cluster` in `region` (`None`: the default region of `aws`), described through
    /// `api`, with a token signed by the credentials of `aws` — for its endpoint override (an
    /// emulator), if it has one. Nothing is loaded before the first client is made.
    pub fn aws(
        cluster: impl Into<String>,
        region: Option<String>,
        api: Arc<dyn EksApi>,
        aws: &Aws,
    ) -> Self {
        Self {
            cluster: cluster.into(),
            region,
            api,
            signer: Signer::Aws(aws.clone()),
            sts_endpoint: None,
            client: Mutex::new(None),
        }
    }

    /// Signs the token for another STS endpoint (an emulator, a FIPS or VPC endpoint).
    #[must_use]
    pub fn with_sts_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.sts_endpoint = Some(endpoint.into());
        self
    }

    fn what(&self, region: &str) -> String {
        format!("EKS cluster {} in {region}", self.cluster)
    }

    async fn signing(&self) -> Result<Signing, ActionError> {
        let (region, credentials, endpoint) = match &self.signer {
            Signer::Fixed(credentials) => (self.region.clone(), credentials.clone(), None),
            Signer::Aws(aws) => {
                let context = aws.context().await;
                (
                    self.region
                        .clone()
                        .or_else(|| context.region().map(str::to_owned)),
                    context.sdk_config().credentials_provider(),
                    context.endpoint_url().map(str::to_owned),
                )
            }
        };
        let region = region.ok_or_else(|| {
            ActionError::invalid_input(format!(
                "no region for EKS cluster {}: give `region`, a step region or a default region",
                self.cluster
            ))
            .with_operation("connect")
        })?;
        let sts_endpoint = self
            .sts_endpoint
            .clone()
            .or(endpoint)
            .unwrap_or_else(|| sts_endpoint(&region));
        Ok(Signing {
            region,
            credentials,
            sts_endpoint,
        })
    }

    /// The kubeconfig (in memory) for the cluster: endpoint, CA and a fresh token.
    pub async fn kubeconfig(&self) -> Result<Kubeconfig, ActionError> {
        self.described().await.map(|(kubeconfig, _)| kubeconfig)
    }

    /// The kubeconfig, and the cluster in words (`EKS cluster <name> in <region>`).
    async fn described(&self) -> Result<(Kubeconfig, String), ActionError> {
        let signing = self.signing().await?;
        let what = self.what(&signing.region);
        let (endpoint, certificate_authority) = self
            .api
            .describe_cluster(&self.cluster)
            .await
            .and_then(api_endpoint)
            .map_err(|e| e.with_resource(what.clone()))?;
        let provider = signing.credentials.as_ref().ok_or_else(|| {
            ActionError::new(
                ErrorKind::AccessDenied,
                format!("no AWS credentials to make a token for {what}"),
            )
            .with_operation("get-token")
        })?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            ActionError::new(
                ErrorKind::AccessDenied,
                format!("cannot load AWS credentials for {what}: {e}"),
            )
            .with_operation("get-token")
        })?;
        let token = eks_token(
            &credentials,
            &signing.region,
            &self.cluster,
            &signing.sts_endpoint,
            SystemTime::now(),
        )?;
        let name = "drkit".to_owned();
        let kubeconfig = Kubeconfig {
            clusters: vec![NamedCluster {
                name: self.cluster.clone(),
                cluster: Some(Cluster {
                    server: Some(endpoint),
                    certificate_authority_data: certificate_authority,
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
        };
        Ok((kubeconfig, what))
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
        let (kubeconfig, what) = self.described().await?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| kube_error(kube::Error::InferKubeconfig(e), "connect", &what))?;
        let client = client_from_config(config, &what)?;
        *cached = Some((client.clone(), Instant::now()));
        Ok(client)
    }
}

#[cfg(test)]
#[path = "eks_tests.rs"]
mod tests;
