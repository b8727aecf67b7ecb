//! `vault.unseal` against a real sealed OpenBao (raft storage, 3 shares / threshold 2).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{Check, Context, ErrorKind, ProgressEvent};
use drkit_vault::{VaultApi, VaultConn, VaultrsApi};
use serde_json::json;

use crate::{SEALED, build, capture_logs, reseal, sealed_server};

fn key_refs(numbers: &[u8]) -> Vec<String> {
    numbers
        .iter()
        .map(|n| format!("env:DRKIT_TEST_VAULT_SEALED_KEY_{n}"))
        .collect()
}

/// The unseal with known key values: every output, error text, progress event, `Debug` and log
/// line (vaultrs, rustify and reqwest included, at TRACE) is searched for them.
#[tokio::test]
async fn unseals_with_two_of_three_shares_and_no_share_shows_anywhere() {
    let Some(server) = sealed_server() else {
        return;
    };
    let _lock = SEALED.lock().await;
    reseal(&server.address).await;
    let (logs, guard) = capture_logs();
    let events = Arc::new(Mutex::new(Vec::<ProgressEvent>::new()));
    let ctx = {
        let events = Arc::clone(&events);
        Context::new()
            .with_step("unseal")
            .with_timeout(Duration::from_secs(60))
            .with_events(move |e| events.lock().unwrap().push(e))
    };
    let action = build(
        "vault.unseal",
        json!({"address": server.address, "keys": key_refs(&[1, 2, 3]), "threshold": 2}),
    );
    let check = action.check(&ctx).await.unwrap();
    assert!(matches!(&check, Check::Ready { .. }), "{check:?}");
    let outputs = action.execute(&ctx).await.unwrap();
    assert_eq!(outputs.get("shares_submitted"), Some(&json!(2)));
    assert_eq!(outputs.get_str("state"), Some("active"));
    let verified = action.verify(&ctx).await.unwrap();
    let again = action.check(&ctx).await.unwrap();
    assert!(again.is_done(), "{again:?}");
    // Read back without drkit's actions: unsealed, and the third share was never needed.
    let status = VaultrsApi::new()
        .seal_status(&VaultConn::new(&server.address))
        .await
        .unwrap();
    assert!(!status.sealed);
    drop(guard);

    let mut seen = format!("{check:?} {outputs:?} {verified} {again:?} {action:?} {ctx:?}");
    seen.push_str(&serde_json::to_string(&outputs).unwrap());
    seen.push_str(&serde_json::to_string(&again).unwrap());
    for e in events.lock().unwrap().iter() {
        seen.push_str(&format!("{e:?}"));
        seen.push_str(&serde_json::to_string(e).unwrap());
    }
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logs.contains("sys/unseal"),
        "the log capture saw no request: {logs}"
    );
    seen.push_str(&logs);
    for key in &server.keys {
        assert!(!seen.contains(key.as_str()), "an unseal key leaked");
        assert!(!seen.contains(&key[..12]), "part of an unseal key leaked");
    }
    reseal(&server.address).await;
}

/// A wrong but well-formed share is accepted until the threshold; then the server answers 400
/// and resets its progress: one clear error, without the share.
#[tokio::test]
async fn a_wrong_share_is_reported_at_the_threshold_and_progress_resets() {
    let Some(server) = sealed_server() else {
        return;
    };
    let _lock = SEALED.lock().await;
    reseal(&server.address).await;
    let dir = tempfile::tempdir().unwrap();
    // Key 1 with one hex digit changed in the middle: same length, wrong value.
    let mut wrong: Vec<char> = server.keys[0].chars().collect();
    let mid = wrong.len() / 2;
    wrong[mid] = if wrong[mid] == '0' { '1' } else { '0' };
    let wrong: String = wrong.into_iter().collect();
    std::fs::write(dir.path().join("wrong"), &wrong).unwrap();
    let keys = vec![
        format!("file:{}", dir.path().join("wrong").display()),
        "env:DRKIT_TEST_VAULT_SEALED_KEY_2".to_owned(),
    ];
    let (logs, guard) = capture_logs();
    let action = build(
        "vault.unseal",
        json!({"address": server.address, "keys": keys}),
    );
    let ctx = Context::new().with_timeout(Duration::from_secs(60));
    let err = action.execute(&ctx).await.unwrap_err();
    drop(guard);
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let text = err.to_string();
    assert!(text.contains("a key share is wrong"), "{text}");
    assert!(text.contains("2 share(s) submitted"), "{text}");
    assert_eq!(err.code(), Some("400"));
    let status = VaultrsApi::new()
        .seal_status(&VaultConn::new(&server.address))
        .await
        .unwrap();
    assert!(status.sealed);
    assert_eq!(status.progress, 0, "the server resets its progress");
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let seen = format!("{text} {err:?} {logs}");
    for key in server.keys.iter().chain([&wrong]) {
        assert!(!seen.contains(key.as_str()), "a share leaked");
    }
    reseal(&server.address).await;
}

/// The server ignores the same share given twice (progress stays 1), which is why drkit
/// submits each distinct share once.
#[tokio::test]
async fn the_same_share_twice_is_ignored_by_the_server() {
    let Some(server) = sealed_server() else {
        return;
    };
    let _lock = SEALED.lock().await;
    reseal(&server.address).await;
    let api = VaultrsApi::new();
    let conn = VaultConn::new(&server.address);
    let share = drkit_core::SecretString::from(server.keys[0].clone());
    assert_eq!(
        api.submit_unseal_share(&conn, &share)
            .await
            .unwrap()
            .progress,
        1
    );
    let status = api.submit_unseal_share(&conn, &share).await.unwrap();
    assert_eq!(status.progress, 1);
    assert!(status.sealed);
    // drkit picks up from there with the other shares (and de-duplicates its own list).
    let action = build(
        "vault.unseal",
        json!({"address": server.address, "keys": key_refs(&[1, 1, 2])}),
    );
    let out = action
        .execute(&Context::new().with_timeout(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(out.get_str("state"), Some("active"));
    reseal(&server.address).await;
}
