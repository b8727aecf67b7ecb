//! Tests of `client.rs`.

use super::*;

/// What OpenBao 2.7 answers on `/v1/sys/health` when healthy (no `performance_standby`).
const OPENBAO_HEALTH: &str = r#"{"initialized":true,"sealed":false,"standby":false,
    "replication_performance_mode":"primary","replication_dr_mode":"disabled",
    "server_time_utc":1795909118,"version":"2.7.2","cluster_name":"vault-cluster-af14ca92",
    "cluster_id":"c3320915-6f4e-a7ee-caab-1f2d6e61f24f"}"#;

/// The quirk this module wraps: vaultrs's own health type cannot read OpenBao's answer.
#[test]
fn vaultrs_health_response_rejects_openbao() {
    let err =
        serde_json::from_str::<vaultrs::api::sys::responses::ReadHealthResponse>(OPENBAO_HEALTH)
            .unwrap_err();
    assert!(err.to_string().contains("performance_standby"), "{err}");
    let ours: Health = serde_json::from_str::<HealthBody>(OPENBAO_HEALTH)
        .unwrap()
        .into();
    assert_eq!(ours.state(), "active");
    assert_eq!(ours.version, "2.7.2");
    assert_eq!(ours.performance_standby, None);
}

#[test]
fn addresses_are_checked_before_vaultrs_sees_them() {
    assert!(validate_address("https://vault.example:8200").is_ok());
    assert!(validate_address("http://127.0.0.1:8200").is_ok());
    for bad in ["vault.example:8200", "ftp://x", "", "https://user:pw@x"] {
        assert!(validate_address(bad).is_err(), "{bad}");
    }
    assert!(
        !validate_address("https://user:pw@x")
            .unwrap_err()
            .contains("pw")
    );
}

#[test]
fn statuses_are_classified() {
    let err = from_status(400, &["unseal failed, invalid key".into()], "sys/unseal");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.code(), Some("400"));
    assert_eq!(
        err.to_string(),
        "sys/unseal: unseal failed, invalid key (code 400; invalid_input, a retry will not help)"
    );
    assert_eq!(from_status(403, &[], "x").kind(), ErrorKind::AccessDenied);
    assert_eq!(from_status(404, &[], "x").kind(), ErrorKind::NotFound);
    assert!(from_status(429, &[], "x").is_retryable());
    assert!(from_status(503, &["Vault is sealed".into()], "x").is_retryable());
}

#[test]
fn a_response_body_never_reaches_the_error() {
    let err = rustify::errors::ClientError::ResponseParseError {
        source: serde_json::from_str::<u8>("x").unwrap_err().into(),
        content: Some("{\"backup\": \"KEY-MATERIAL\"}".into()),
    };
    let err = from_rustify(&err, "transit backup key", "http://v");
    assert!(!format!("{err} {err:?}").contains("KEY-MATERIAL"));
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    // A port nothing listens on: bind one and drop it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conn = VaultConn::new(format!("http://127.0.0.1:{port}"));
    let err = VaultrsApi::new().health(&conn).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.message().contains("cannot reach"), "{err}");
}
