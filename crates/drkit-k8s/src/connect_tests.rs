//! Tests of `connect.rs`.

use drkit_core::ErrorKind;

use super::*;

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
    let err = ClusterRef::from_params(Some("a".into()), Some("c".into()), None).unwrap_err();
    assert_eq!(err.param.as_deref(), Some("cluster"));
    let err = ClusterRef::from_params(Some("a".into()), None, Some("r".into())).unwrap_err();
    assert_eq!(err.param.as_deref(), Some("region"));
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

#[test]
fn clients_built_here_bound_every_read() {
    let uri: http::Uri = "https://k8s.example:6443".parse().unwrap();
    let config = Config::new(uri.clone());
    assert_eq!(config.read_timeout, None, "kube-rs leaves reads unbounded");
    let bounded = bounded_config(config);
    assert_eq!(bounded.read_timeout, Some(READ_TIMEOUT));
    assert_eq!(READ_TIMEOUT, Duration::from_secs(30));
    assert!(!bounded.default_retry);
    assert!(bounded.connect_timeout.is_some());
    // A configuration's own read time-out is kept.
    let mut own = Config::new(uri);
    own.read_timeout = Some(Duration::from_secs(5));
    assert_eq!(
        bounded_config(own).read_timeout,
        Some(Duration::from_secs(5))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_fails_a_read_with_a_timeout_within_the_bound() {
    use k8s_openapi::api::core::v1::ConfigMap;

    // Accepts connections, never answers, never closes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut config = Config::new(format!("http://{addr}").parse().unwrap());
    config.read_timeout = Some(Duration::from_millis(800));
    let client = client_from_config(config, "the silent server").unwrap();
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, "mint-replica");
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(10), api.get("settings"))
        .await
        .expect("the read is bounded by the client, not by this test")
        .unwrap_err();
    let elapsed = started.elapsed();
    let err = crate::kube_error(err, "get", "ConfigMap mint-replica/settings");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().contains("did not answer in time"), "{err}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}
