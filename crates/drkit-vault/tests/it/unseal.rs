//! `vault.unseal` against real sealed OpenBao servers (raft storage, 3 shares / threshold 2):
//! one server, a 3-node raft cluster, and an auto-unseal (static seal) server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{Check, Context, ErrorKind, ProgressEvent};
use drkit_vault::{VaultApi, VaultConn, VaultrsApi};
use serde_json::json;

use crate::{
    AUTO, HA, SEALED, auto_server, build, capture_logs, ha_cluster, reseal, seal_all, sealed_server,
};

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

fn ha_key_refs() -> Vec<String> {
    (1..=3)
        .map(|n| format!("env:DRKIT_TEST_VAULT_HA_KEY_{n}"))
        .collect()
}

async fn sealed(address: &str) -> drkit_vault::SealStatus {
    VaultrsApi::new()
        .seal_status(&VaultConn::new(address))
        .await
        .unwrap()
}

/// A fully sealed 3-node raft cluster (as after a full outage): one node unsealed alone gets
/// no quorum, so no active node — the step fails after `active_timeout` saying so (not at its
/// deadline); two nodes elect one; the third is then unsealed too. Each node is sent its shares
/// directly. No share shows in any output, error, event, `Debug` or log line.
#[tokio::test]
async fn a_sealed_raft_cluster_needs_a_quorum_and_each_node_its_own_shares() {
    let Some(cluster) = ha_cluster() else { return };
    let _lock = HA.lock().await;
    let token_var = "DRKIT_TEST_VAULT_HA_TOKEN";
    seal_all(&cluster.addresses, token_var).await;
    let [a, b, c] = [
        &cluster.addresses[0],
        &cluster.addresses[1],
        &cluster.addresses[2],
    ];
    let (logs, guard) = capture_logs();
    let events = Arc::new(Mutex::new(Vec::<ProgressEvent>::new()));
    let ctx = {
        let events = Arc::clone(&events);
        Context::new()
            .with_step("unseal")
            .with_timeout(Duration::from_secs(120))
            .with_events(move |e| events.lock().unwrap().push(e))
    };
    let mut seen = String::new();

    // One node of three: unsealed, a standby without a leader; named, and within the bound.
    let one = build(
        "vault.unseal",
        json!({"addresses": [a], "keys": ha_key_refs(), "threshold": 2, "active_timeout": "4s"}),
    );
    let started = std::time::Instant::now();
    let err = one.execute(&ctx).await.unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed, "{err}");
    let text = err.to_string();
    for expected in [
        a.as_str(),
        "no active node appeared within 4s",
        "quorum",
        "raft",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    assert!(waited < Duration::from_secs(30), "{waited:?}");
    assert!(!sealed(a).await.sealed);
    assert!(sealed(b).await.sealed && sealed(c).await.sealed);
    seen.push_str(&format!("{text} {err:?} {one:?}"));

    // Two of three: a quorum; an active node is elected. The first node needs no share again.
    let two = build(
        "vault.unseal",
        json!({"addresses": [a, b], "keys": ha_key_refs(), "threshold": 2}),
    );
    let out = two.execute(&ctx).await.unwrap();
    assert_eq!(out.get("shares_submitted"), Some(&json!(2)), "{out:?}");
    assert_eq!(out.get_str("state"), Some("active"), "{out:?}");
    let active = out.get_str("active_address").unwrap().to_owned();
    assert!(active == *a || active == *b, "{active}");
    assert!(sealed(c).await.sealed, "the third node was not touched");
    seen.push_str(&format!("{out:?} {}", serde_json::to_string(&out).unwrap()));

    // The whole cluster: only the third node gets shares; check is then done.
    let all = build(
        "vault.unseal",
        json!({"addresses": cluster.addresses, "keys": ha_key_refs()}),
    );
    let check = all.check(&ctx).await.unwrap();
    assert!(
        matches!(&check, Check::Ready { change } if change.contains(&format!("unseal {c} with 2"))),
        "{check:?}"
    );
    let out = all.execute(&ctx).await.unwrap();
    assert_eq!(out.get("shares_submitted"), Some(&json!(2)), "{out:?}");
    let nodes = out.get("nodes").unwrap().as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[2]["shares_submitted"], json!(2));
    let again = all.check(&ctx).await.unwrap();
    assert!(again.is_done(), "{again:?}");
    all.verify(&ctx).await.unwrap();
    drop(guard);

    seen.push_str(&format!("{check:?} {out:?} {again:?} {all:?}"));
    for e in events.lock().unwrap().iter() {
        seen.push_str(&format!("{e:?}"));
        seen.push_str(&serde_json::to_string(e).unwrap());
    }
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logs.contains("sys/unseal"),
        "the log capture saw no request"
    );
    seen.push_str(&logs);
    for key in &cluster.keys {
        assert!(!seen.contains(key.as_str()), "an unseal key leaked");
        assert!(!seen.contains(&key[..12]), "part of an unseal key leaked");
    }
    seal_all(&cluster.addresses, token_var).await;
}

/// An auto-unseal server (OpenBao's `static` seal; an AWS KMS or transit seal answers the
/// same way): reported as such, never sent a share. Sealed by hand, it stays sealed and the
/// step fails after `active_timeout` saying why — and the server's unseal progress shows that
/// none of the recovery keys given reached it (OpenBao would have counted them: they can unseal
/// a node sealed by hand, which this test then does directly).
#[tokio::test]
async fn an_auto_unseal_server_is_reported_and_never_sent_its_recovery_keys() {
    let Some(auto) = auto_server() else { return };
    let _lock = AUTO.lock().await;
    let keys: Vec<String> = (1..=3)
        .map(|n| format!("env:DRKIT_TEST_VAULT_AUTO_RECOVERY_KEY_{n}"))
        .collect();
    let (logs, guard) = capture_logs();
    let ctx = Context::new().with_timeout(Duration::from_secs(60));
    let action = build(
        "vault.unseal",
        json!({"address": auto.address, "keys": keys, "active_timeout": "3s"}),
    );
    let Check::Done { detail, outputs } = action.check(&ctx).await.unwrap() else {
        panic!("an auto-unseal server unseals itself")
    };
    assert!(
        detail.contains("auto-unseal (type static): no shares needed"),
        "{detail}"
    );
    assert_eq!(outputs.get_str("seal_type"), Some("static"));
    assert_eq!(outputs.get("shares_submitted"), Some(&json!(0)));

    // Sealed by hand.
    let client = crate::raw_client(&auto.address, "DRKIT_TEST_VAULT_AUTO_TOKEN");
    vaultrs::sys::seal(&client).await.unwrap();
    assert!(sealed(&auto.address).await.sealed);
    let check = action.check(&ctx).await.unwrap();
    assert!(
        matches!(&check, Check::Ready { change } if change.contains("auto-unseal (type static)")),
        "{check:?}"
    );
    let err = action.execute(&ctx).await.unwrap_err();
    drop(guard);
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed, "{err}");
    assert!(err.message().contains("still sealed after 3s"), "{err}");
    let status = sealed(&auto.address).await;
    assert!(status.sealed && status.recovery_seal);
    assert_eq!(status.progress, 0, "no recovery key reached sys/unseal");
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(!logs.contains("/v1/sys/unseal"), "{logs}");
    for key in &auto.recovery_keys {
        assert!(!format!("{err} {err:?} {logs}").contains(key.as_str()));
    }

    // Put it back: its recovery keys unseal a node sealed by hand.
    for key in &auto.recovery_keys[..2] {
        vaultrs::sys::unseal(&client, Some(key.clone()), None, None)
            .await
            .unwrap();
    }
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("state"), Some("active"));
}
