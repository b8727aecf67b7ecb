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

#[test]
fn only_an_explicit_true_or_1_skips_tls_verification() {
    for skip in ["true", "TRUE", " True ", "1", " 1\n"] {
        assert!(skip_tls_verify(Some(skip)), "{skip:?}");
    }
    for verify in [
        None,
        Some(""),
        Some(" "),
        Some("0"),
        Some("false"),
        Some("no"),
        Some("off"),
        Some("yes"),
        Some("t"),
        Some("2"),
        Some("truee"),
    ] {
        assert!(!skip_tls_verify(verify), "{verify:?}");
    }
    // And what the client is built with follows it, whatever vaultrs would read.
    let conn = VaultConn::new("https://vault.example:8200");
    assert!(
        client_with(&conn, Scope::Root, Some(""))
            .unwrap()
            .settings
            .verify
    );
    assert!(
        client_with(&conn, Scope::Root, Some("no"))
            .unwrap()
            .settings
            .verify
    );
    assert!(
        client_with(&conn, Scope::Root, None)
            .unwrap()
            .settings
            .verify
    );
    assert!(
        !client_with(&conn, Scope::Root, Some("true"))
            .unwrap()
            .settings
            .verify
    );
}

/// Set for the child process of `vaultrs_reads_vault_skip_verify_loosely_drkit_does_not`.
const CHILD_VAR: &str = "DRKIT_VAULT_SKIP_VERIFY_CHILD";

/// The quirk, shown with the real environment variable in a child process (this crate forbids
/// the `unsafe` that setting a variable in-process needs): vaultrs turns TLS verification off
/// for an empty `VAULT_SKIP_VERIFY`, or `no`; drkit's client keeps it on.
#[test]
fn vaultrs_reads_vault_skip_verify_loosely_drkit_does_not() {
    for value in ["", "no", "off"] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "client::tests::skip_verify_in_a_child_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_VAR, "1")
            .env("VAULT_SKIP_VERIFY", value)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "VAULT_SKIP_VERIFY={value:?}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs in the child process only (a no-op otherwise).
#[test]
fn skip_verify_in_a_child_process() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    let value = std::env::var("VAULT_SKIP_VERIFY").unwrap();
    // vaultrs on its own: verification off.
    let theirs = VaultClientSettingsBuilder::default()
        .address("https://vault.example:8200")
        .build()
        .unwrap();
    assert!(
        !theirs.verify,
        "vaultrs now verifies with {value:?}: drop the wrapper?"
    );
    // drkit's client, reading the same variable: verification on.
    let conn = VaultConn::new("https://vault.example:8200");
    assert!(
        client(&conn, Scope::Root).unwrap().settings.verify,
        "{value:?}"
    );
}

/// A server that accepts connections and never answers; its address.
async fn silent_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_fails_every_call_with_a_timeout_within_the_bound() {
    let conn = VaultConn::new(silent_server().await)
        .with_token(SecretString::from("s.fake"))
        .with_timeout(std::time::Duration::from_millis(800));
    let api = VaultrsApi::new();
    let started = std::time::Instant::now();
    let (health, seal, snapshot, key) = tokio::join!(
        api.health(&conn),
        api.seal_status(&conn),
        api.raft_snapshot_save(&conn),
        api.transit_read_key(&conn, "transit", "mint"),
    );
    let elapsed = started.elapsed();
    for (what, err) in [
        ("health", health.unwrap_err()),
        ("seal status", seal.unwrap_err()),
        ("snapshot save", snapshot.unwrap_err()),
        ("transit read key", key.unwrap_err()),
    ] {
        assert_eq!(err.kind(), ErrorKind::Timeout, "{what}: {err}");
        assert!(err.is_retryable(), "{what}: {err}");
        assert!(!err.to_string().contains("s.fake"), "{what}: {err}");
    }
    assert!(elapsed < std::time::Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn vault_client_timeout_sets_the_bound_of_each_call() {
    use crate::common::client_timeout;
    let env = |value: &'static str| move |_: &str| Some(value.to_owned());
    assert_eq!(client_timeout(|_| None), Ok(VaultConn::DEFAULT_TIMEOUT));
    assert_eq!(client_timeout(env("")), Ok(VaultConn::DEFAULT_TIMEOUT));
    assert_eq!(
        client_timeout(env("45")),
        Ok(std::time::Duration::from_secs(45))
    );
    assert_eq!(
        client_timeout(env("2m")),
        Ok(std::time::Duration::from_secs(120))
    );
    assert!(
        client_timeout(env("soon"))
            .unwrap_err()
            .contains("VAULT_CLIENT_TIMEOUT")
    );
    assert!(client_timeout(env("0")).is_err());
}

/// vaultrs would panic on these (it unwraps the header values): refused before, never shown.
#[test]
fn a_token_or_namespace_that_is_no_header_value_is_refused_not_a_panic() {
    let conn = VaultConn::new("https://vault.example:8200")
        .with_token(SecretString::from("hvs.abc\ndef".to_owned()));
    let Err(err) = client_with(&conn, Scope::Root, None) else {
        panic!("accepted")
    };
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(!format!("{err} {err:?}").contains("hvs.abc"), "{err}");
    let conn = VaultConn::new("https://vault.example:8200")
        .with_namespace(Some("admin\npayments".to_owned()));
    let Err(err) = client_with(&conn, Scope::Namespaced, None) else {
        panic!("accepted")
    };
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    // A root-namespace call does not send it, so does not look at it.
    assert!(client_with(&conn, Scope::Root, None).is_ok());
}
