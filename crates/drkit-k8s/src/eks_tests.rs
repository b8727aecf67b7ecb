use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use drkit_aws::AwsContext;
use drkit_eks::MockEksApi;
use secrecy::ExposeSecret;

use super::*;

const SECRET_KEY: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

fn credentials() -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(
        "AKIDEXAMPLE",
        SECRET_KEY,
        Some("session-token-xyz".into()),
        None,
        "test",
    ))
}

fn connector(api: MockEksApi) -> EksConnector {
    EksConnector::new("mint-dr", "us-west-2", Arc::new(api), Some(credentials()))
}

/// `DescribeCluster` answering `endpoint` for any cluster.
fn describing(endpoint: &'static str) -> MockEksApi {
    let mut api = MockEksApi::new();
    api.expect_describe_cluster().returning(move |name| {
        let mut cluster = EksCluster::new(name, "ACTIVE");
        cluster.endpoint = Some(endpoint.to_owned());
        Ok(cluster)
    });
    api
}

fn token_of(kubeconfig: &Kubeconfig) -> String {
    kubeconfig.auth_infos[0]
        .auth_info
        .as_ref()
        .and_then(|a| a.token.as_ref())
        .unwrap()
        .expose_secret()
        .to_owned()
}

/// The token travels inside the kubeconfig and the client, never in Debug or errors.
#[tokio::test]
async fn the_token_never_shows_in_debug_or_errors() {
    let eks = connector(describing("https://ABCDEF.gr7.us-west-2.eks.amazonaws.com"));
    let kubeconfig = eks.kubeconfig().await.unwrap();
    let token = token_of(&kubeconfig);
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
    let err = connector(describing("not a url at all"))
        .client()
        .await
        .map(|_| ())
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("EKS cluster mint-dr"), "{text}");
    assert!(!text.contains("k8s-aws-v1."), "{text}");
    assert!(!text.contains("X-Amz-Signature"), "{text}");
    assert!(!text.contains(SECRET_KEY), "{text}");
}

#[tokio::test]
async fn a_missing_cluster_names_it_and_is_not_retryable() {
    let mut api = MockEksApi::new();
    api.expect_describe_cluster().returning(|c| {
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

/// The endpoint and the CA `DescribeCluster` gave are the kubeconfig's cluster.
#[tokio::test]
async fn the_described_endpoint_and_ca_are_the_kubeconfigs() {
    let mut api = MockEksApi::new();
    api.expect_describe_cluster().returning(|name| {
        let mut cluster = EksCluster::new(name, "ACTIVE");
        cluster.endpoint = Some("https://ABCDEF.gr7.us-west-2.eks.amazonaws.com".into());
        cluster.certificate_authority = Some("LS0tLS1CRUdJTiBDRVJU".into());
        Ok(cluster)
    });
    let kubeconfig = connector(api).kubeconfig().await.unwrap();
    let cluster = kubeconfig.clusters[0].cluster.as_ref().unwrap();
    assert_eq!(
        cluster.server.as_deref(),
        Some("https://ABCDEF.gr7.us-west-2.eks.amazonaws.com")
    );
    assert_eq!(
        cluster.certificate_authority_data.as_deref(),
        Some("LS0tLS1CRUdJTiBDRVJU")
    );
}

/// A cluster without an endpoint yet (still `CREATING`) is a conflict naming its status.
#[tokio::test]
async fn a_cluster_without_an_endpoint_is_a_conflict() {
    let mut api = MockEksApi::new();
    api.expect_describe_cluster()
        .returning(|name| Ok(EksCluster::new(name, "CREATING")));
    let err = connector(api).client().await.map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.to_string()
            .contains("EKS cluster mint-dr has no API endpoint yet (status CREATING)"),
        "{err}"
    );
}

#[tokio::test]
async fn no_credentials_is_access_denied() {
    let eks = EksConnector::new(
        "c",
        "us-west-2",
        Arc::new(describing("https://x.example")),
        None,
    );
    let err = eks.client().await.map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
}

fn aws(region: Option<&str>, endpoint: Option<&str>) -> Aws {
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(credentials());
    if let Some(region) = region {
        config = config.region(Region::new(region.to_owned()));
    }
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    Aws::loaded(AwsContext::from_sdk_config(config.build()))
}

fn presigned_url(kubeconfig: &Kubeconfig) -> String {
    use base64::Engine;
    let token = token_of(kubeconfig);
    let encoded = token.strip_prefix(crate::TOKEN_PREFIX).unwrap();
    String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap()
}

/// With an AWS configuration: its credentials sign the token, its default region is the
/// cluster's when the step gives none, and its endpoint override is where the token is for.
#[tokio::test]
async fn the_aws_configuration_gives_credentials_region_and_endpoint() {
    let eks = EksConnector::aws(
        "mint-dr",
        None,
        Arc::new(describing("https://x.example")),
        &aws(Some("eu-west-1"), None),
    );
    let url = presigned_url(&eks.kubeconfig().await.unwrap());
    assert!(
        url.starts_with("https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity"),
        "{url}"
    );
    assert!(url.contains("%2Feu-west-1%2Fsts%2F"), "{url}");

    let eks = EksConnector::aws(
        "mint-dr",
        Some("us-west-2".into()),
        Arc::new(describing("https://x.example")),
        &aws(Some("eu-west-1"), Some("http://127.0.0.1:5000")),
    );
    let url = presigned_url(&eks.kubeconfig().await.unwrap());
    assert!(
        url.starts_with("http://127.0.0.1:5000/?Action=GetCallerIdentity"),
        "{url}"
    );
    assert!(url.contains("%2Fus-west-2%2Fsts%2F"), "{url}");
}

/// No region anywhere: an invalid-input error naming the cluster, before any EKS call.
#[tokio::test]
async fn no_region_anywhere_is_invalid_input() {
    let eks = EksConnector::aws(
        "mint-dr",
        None,
        Arc::new(MockEksApi::new()),
        &aws(None, None),
    );
    let err = eks.client().await.map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.to_string().contains(
            "no region for EKS cluster mint-dr: give `region`, a step region or a default region"
        ),
        "{err}"
    );
}
