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
