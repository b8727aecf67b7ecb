//! The adapter ([`VaultrsApi`]) and `vault.unseal` against a local HTTP server answering with
//! **HashiCorp Vault's documented JSON** (developer.hashicorp.com/vault/api-docs, and the
//! fields Vault 1.19 added), for what differs from OpenBao, the test peer:
//!
//! - `sys/seal-status`: `type`, `recovery_seal`, `storage_type`, `build_date` (OpenBao:
//!   `commit_date`), `removed_from_cluster`; an auto-unseal server (`type` `awskms`);
//! - `sys/unseal`: the documented answer has no `initialized`;
//! - `sys/health`: `performance_standby` (Enterprise), `ha_connection_healthy` with code 474,
//!   `removed_from_cluster` with code 530, `license`, `enterprise`;
//! - `sys/leader`: the documented sample;
//! - `GET <mount>/keys/<name>`: the documented sample has no `latest_version` (its `data`,
//!   served in the response envelope every Vault answer has: `request_id`, `lease_id`, ...,
//!   which the docs leave out and vaultrs requires);
//! - the `X-Vault-Namespace` header: sent to transit, never to the root-namespace `sys/` paths.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{Context, SecretString};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::VaultrsApi;
use crate::port::{VaultApi, VaultConn};

/// One request the server received.
#[derive(Clone, Debug)]
struct Request {
    method: String,
    /// Path and query, e.g. `/v1/sys/health?standbycode=200`.
    target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Answer = Arc<dyn Fn(&Request) -> (u16, serde_json::Value) + Send + Sync>;

/// A server on a free 127.0.0.1 port answering each request with `answer` (one request per
/// connection); its address and what it received.
async fn server(answer: Answer) -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let answer = Arc::clone(&answer);
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let Some(request) = read_request(&mut stream).await else {
                    return;
                };
                let (status, body) = answer(&request);
                log.lock().unwrap().push(request);
                let body = body.to_string();
                let head = format!(
                    "HTTP/1.1 {status} Answer\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (address, seen)
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        target,
        headers,
    })
}

/// `data` in Vault's response envelope (the fields of `logical.HTTPResponse`).
fn envelope(data: serde_json::Value) -> serde_json::Value {
    let mut answer = json!({
        "request_id": "5d0e2a4f-6c3e-7c54-2b67-2fcb2b5f2a26",
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "wrap_info": null,
        "warnings": null,
        "auth": null,
        "mount_type": "transit"
    });
    answer["data"] = data;
    answer
}

/// `GET /v1/sys/seal-status` of an unsealed Vault 1.19 (HashiCorp's sample).
fn seal_status_unsealed() -> serde_json::Value {
    json!({
        "build_date": "2024-11-14T18:11:15Z",
        "cluster_id": "ebdd80fb-0c7f-bce9-f9b9-a0fa86aa3249",
        "cluster_name": "vault-cluster-f090409a",
        "initialized": true,
        "migration": false,
        "n": 3,
        "nonce": "",
        "progress": 0,
        "recovery_seal": false,
        "removed_from_cluster": false,
        "sealed": false,
        "storage_type": "raft",
        "t": 2,
        "type": "shamir",
        "version": "1.19.0-beta1"
    })
}

/// The same fields for an AWS KMS auto-unseal server: `type` is the seal's, `recovery_seal`
/// true, `t`/`n` are its recovery keys'.
fn seal_status_awskms(sealed: bool) -> serde_json::Value {
    let mut s = seal_status_unsealed();
    s["type"] = json!("awskms");
    s["recovery_seal"] = json!(true);
    s["sealed"] = json!(sealed);
    s["t"] = json!(3);
    s["n"] = json!(5);
    s
}

/// What the documented `sys/health` answers with the status code each state gets when drkit's
/// `...code=200` query parameters are missing — so a test fails if one is left out.
fn health(request: &Request, state: &str) -> (u16, serde_json::Value) {
    let query = request.target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut body = json!({
        "clock_skew_ms": 0,
        "cluster_id": "e278ff10-60da-4248-0b0a-dd174d22172d",
        "cluster_name": "vault-cluster-88b4e092",
        "echo_duration_ms": 0,
        "enterprise": true,
        "initialized": true,
        "last_wal": 362,
        "license": {"expiry_time": "2024-08-03T23:59:59Z", "state": "autoloaded", "terminated": false},
        "performance_standby": false,
        "replication_dr_mode": "disabled",
        "replication_performance_mode": "disabled",
        "replication_primary_canary_age_ms": 0,
        "sealed": false,
        "server_time_utc": 1709558830,
        "standby": false,
        "version": "1.19.0+ent"
    });
    let (code, param) = match state {
        "active" => (200, "activecode"),
        "standby" => {
            body["standby"] = json!(true);
            body["ha_connection_healthy"] = json!(true);
            body["last_request_forwarding_heartbeat_ms"] = json!(212);
            (429, "standbycode")
        }
        "perf-standby" => {
            body["standby"] = json!(true);
            body["performance_standby"] = json!(true);
            (473, "performancestandbycode")
        }
        "ha-unhealthy" => {
            body["standby"] = json!(true);
            body["ha_connection_healthy"] = json!(false);
            (474, "haunhealthycode")
        }
        "removed" => {
            body["standby"] = json!(true);
            body["removed_from_cluster"] = json!(true);
            (530, "removedcode")
        }
        "sealed" => {
            body["sealed"] = json!(true);
            body["standby"] = json!(true);
            (503, "sealedcode")
        }
        other => panic!("no such state {other}"),
    };
    if code == 200 || query.split('&').any(|kv| kv == format!("{param}=200")) {
        (200, body)
    } else {
        (code, body)
    }
}

#[tokio::test]
async fn hashicorp_documented_answers_are_read() {
    let state = Arc::new(Mutex::new("standby"));
    let health_state = Arc::clone(&state);
    let answer: Answer = Arc::new(move |r: &Request| match r.path() {
        "/v1/sys/seal-status" => (200, seal_status_awskms(false)),
        // The documented answer of sys/unseal: no `initialized`, no `type`.
        "/v1/sys/unseal" => (
            200,
            json!({"sealed": true, "t": 3, "n": 5, "progress": 2, "version": "0.6.2"}),
        ),
        "/v1/sys/health" => health(r, *health_state.lock().unwrap()),
        "/v1/sys/leader" => (
            200,
            json!({
                "ha_enabled": true,
                "is_self": false,
                "leader_address": "https://127.0.0.1:8200/",
                "leader_cluster_address": "https://127.0.0.1:8201/",
                "performance_standby": false,
                "performance_standby_last_remote_wal": 0
            }),
        ),
        // HashiCorp's sample: no `latest_version`.
        "/v1/transit/keys/foo" => (
            200,
            envelope(json!({
                "type": "aes256-gcm96",
                "deletion_allowed": false,
                "derived": false,
                "exportable": false,
                "allow_plaintext_backup": false,
                "keys": {"1": 1442851412, "2": 1442851999},
                "min_decryption_version": 1,
                "min_encryption_version": 0,
                "name": "foo",
                "supports_encryption": true,
                "supports_decryption": true,
                "supports_derivation": true,
                "supports_signing": false,
                "imported": false
            })),
        ),
        other => (
            404,
            json!({"errors": [format!("no handler for route {other}")]}),
        ),
    });
    let (address, _) = server(answer).await;
    let api = VaultrsApi::new();
    let conn = VaultConn::new(&address);

    let status = api.seal_status(&conn).await.unwrap();
    assert!(status.is_auto_unseal());
    assert_eq!(status.seal_type, "awskms");
    assert_eq!((status.threshold, status.shares), (3, 5));
    assert_eq!(status.storage_type, "raft");
    assert_eq!(status.version, "1.19.0-beta1");

    let status = api
        .submit_unseal_share(&conn, &SecretString::from("abcd1234".to_owned()))
        .await
        .unwrap();
    assert!(status.initialized && status.sealed);
    assert_eq!(status.progress, 2);
    assert_eq!(status.seal_type, "shamir");

    for (state_name, expected, reaches_active) in [
        ("standby", "standby", Some(true)),
        ("perf-standby", "performance_standby", None),
        ("ha-unhealthy", "standby", Some(false)),
        ("removed", "removed", None),
        ("sealed", "sealed", None),
        ("active", "active", None),
    ] {
        *state.lock().unwrap() = state_name;
        let h = api.health(&conn).await.unwrap();
        assert_eq!(h.state(), expected, "{state_name}");
        assert_eq!(h.ha_connection_healthy, reaches_active, "{state_name}");
    }

    let leader = api.leader(&conn).await.unwrap();
    assert!(leader.ha_enabled && !leader.is_self && leader.has_leader());
    assert_eq!(leader.leader_address, "https://127.0.0.1:8200/");

    let key = api.transit_read_key(&conn, "transit", "foo").await.unwrap();
    assert_eq!(key.latest_version, 2, "the newest of `keys`");
    assert_eq!(key.min_decryption_version, 1);
    assert!(!key.exportable && !key.allow_plaintext_backup && !key.deletion_allowed);
}

/// The namespace goes to the transit calls only: `sys/seal-status`, `sys/unseal`,
/// `sys/health`, `sys/leader` and `sys/storage/raft/snapshot` are root-namespace endpoints in
/// Vault Enterprise ("Restricted endpoint" in HashiCorp's API docs).
#[tokio::test]
async fn the_namespace_header_goes_to_transit_only() {
    let answer: Answer = Arc::new(|r: &Request| match r.path() {
        "/v1/sys/seal-status" | "/v1/sys/unseal" => (200, seal_status_unsealed()),
        "/v1/sys/health" => health(r, "active"),
        "/v1/sys/leader" => (
            200,
            json!({"ha_enabled": true, "is_self": true, "leader_address": ""}),
        ),
        "/v1/sys/storage/raft/snapshot" => (200, json!({})),
        p if p.starts_with("/v1/transit/keys/") => (
            200,
            envelope(json!({
                "name": "payments", "type": "aes256-gcm96", "latest_version": 1,
                "keys": {"1": 1442851412}
            })),
        ),
        _ => (404, json!({"errors": []})),
    });
    let (address, seen) = server(answer).await;
    let api = VaultrsApi::new();
    let conn = VaultConn::new(&address)
        .with_token(SecretString::from("hvs.test-token".to_owned()))
        .with_namespace(Some("admin/mint".to_owned()));
    api.seal_status(&conn).await.unwrap();
    api.submit_unseal_share(&conn, &SecretString::from("abcd".to_owned()))
        .await
        .unwrap();
    api.health(&conn).await.unwrap();
    api.leader(&conn).await.unwrap();
    let _ = api.raft_snapshot_save(&conn).await;
    api.transit_read_key(&conn, "transit", "payments")
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 6, "{seen:?}");
    for r in &seen {
        let namespace = r.header("X-Vault-Namespace");
        if r.path().starts_with("/v1/transit/") {
            assert_eq!(namespace, Some("admin/mint"), "{r:?}");
        } else {
            assert_eq!(namespace, None, "{} got a namespace", r.path());
        }
    }
    // The health query asks for 200 in every state HashiCorp documents.
    let health = seen.iter().find(|r| r.path() == "/v1/sys/health").unwrap();
    for param in [
        "standbycode",
        "performancestandbycode",
        "drsecondarycode",
        "haunhealthycode",
        "removedcode",
        "sealedcode",
        "uninitcode",
    ] {
        assert!(
            health.target.contains(&format!("{param}=200")),
            "{param}: {}",
            health.target
        );
    }
}

/// `vault.unseal` over the real adapter against an AWS KMS auto-unseal server that is sealed
/// at first, then unseals itself: no request ever reaches `sys/unseal` (the keys given would be
/// recovery keys), and the outputs say what the server is.
#[tokio::test]
async fn an_auto_unseal_server_is_never_sent_a_share() {
    let polls = Arc::new(Mutex::new(0u32));
    let counter = Arc::clone(&polls);
    let answer: Answer = Arc::new(move |r: &Request| {
        let mut polls = counter.lock().unwrap();
        match r.path() {
            "/v1/sys/seal-status" => (200, seal_status_awskms(*polls < 2)),
            "/v1/sys/health" => {
                *polls += 1;
                health(r, if *polls < 2 { "sealed" } else { "active" })
            }
            "/v1/sys/leader" => (
                200,
                json!({"ha_enabled": true, "is_self": true, "leader_address": ""}),
            ),
            _ => (400, json!({"errors": ["unexpected"]})),
        }
    });
    let (address, seen) = server(answer).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("recovery-1");
    std::fs::write(&key, "c2VjcmV0LXJlY292ZXJ5LWtleQ==").unwrap();
    let mut registry = Registry::new();
    crate::register(&mut registry).unwrap();
    let action = registry
        .build(&ActionSpec::new(
            "unseal",
            "vault.unseal",
            json!({"address": address, "keys": [format!("file:{}", key.display())],
                   "active_timeout": "20s", "namespace": "admin"}),
        ))
        .unwrap();
    let ctx = Context::new().with_timeout(Duration::from_secs(30));
    let check = action.check(&ctx).await.unwrap();
    assert!(
        matches!(&check, drkit_core::Check::Ready { change }
            if change.contains("auto-unseal (type awskms): no shares needed")),
        "{check:?}"
    );
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("seal_type"), Some("awskms"));
    assert_eq!(out.get("shares_submitted"), Some(&json!(0)));
    let seen = seen.lock().unwrap();
    assert!(
        !seen.iter().any(|r| r.path() == "/v1/sys/unseal"),
        "{seen:?}"
    );
    assert!(seen.iter().all(|r| r.method == "GET"), "{seen:?}");
    assert!(seen.iter().all(|r| r.header("X-Vault-Namespace").is_none()));
}
