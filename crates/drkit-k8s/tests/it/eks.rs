//! The EKS connection end to end, against a local plain-HTTP listener standing in for the
//! cluster endpoint: the endpoint comes from `DescribeCluster` (a stub port), and the kube
//! client built for it sends `Authorization: Bearer k8s-aws-v1.<presigned URL>`.

use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use drkit_eks::{EksCluster, MockEksApi};
use drkit_k8s::{Connect, EksConnector, TOKEN_PREFIX};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// drkit-eks's port, describing `mint-dr` with `endpoint`.
fn endpoint(endpoint: String) -> MockEksApi {
    let mut api = MockEksApi::new();
    api.expect_describe_cluster()
        .withf(|cluster| cluster == "mint-dr")
        .returning(move |name| {
            let mut cluster = EksCluster::new(name, "ACTIVE");
            cluster.endpoint = Some(endpoint.clone());
            Ok(cluster)
        });
    api
}

/// Accepts one request, answers `/version`, returns the request head.
async fn serve_once(listener: tokio::net::TcpListener) -> String {
    let (mut stream, _) = listener.accept().await.unwrap();
    let mut head = Vec::new();
    let mut buf = [0_u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "connection closed early");
        head.extend_from_slice(&buf[..n]);
    }
    let body = r#"{"major":"1","minor":"34","gitVersion":"v1.34.1-eks-1","gitCommit":"","gitTreeState":"","buildDate":"","goVersion":"","compiler":"","platform":"linux/amd64"}"#;
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(answer.as_bytes()).await.unwrap();
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn the_eks_client_sends_the_token_as_a_bearer_to_the_described_endpoint() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(serve_once(listener));

    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let connector = EksConnector::new(
        "mint-dr",
        "us-west-2",
        Arc::new(endpoint(url)),
        Some(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            secret,
            None,
            None,
            "test",
        ))),
    );
    let client = connector.client().await.unwrap();
    let version = tokio::time::timeout(Duration::from_secs(20), client.apiserver_version())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(version.git_version, "v1.34.1-eks-1");

    let head = server.await.unwrap();
    assert!(head.starts_with("GET /version HTTP/1.1\r\n"), "{head}");
    let bearer = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("authorization")
                .then(|| value.trim().to_owned())
        })
        .expect("an Authorization header");
    let token = bearer.strip_prefix("Bearer ").expect("a bearer token");
    let url = String::from_utf8(
        URL_SAFE_NO_PAD
            .decode(
                token
                    .strip_prefix(TOKEN_PREFIX)
                    .expect("the EKS token prefix"),
            )
            .unwrap(),
    )
    .unwrap();
    assert!(
        url.starts_with("https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity"),
        "{url}"
    );
    assert!(url.contains("X-Amz-Expires=60"), "{url}");
    assert!(url.contains("x-k8s-aws-id"), "{url}");
    assert!(!url.contains(secret));
    // And the connector's Debug shows neither.
    let debug = format!("{connector:?}");
    assert!(!debug.contains(token) && !debug.contains(secret), "{debug}");
}
