//! `vault.raft_snapshot_save` and `vault.raft_snapshot_restore` against a real OpenBao with
//! raft storage: state written after the snapshot is gone after the restore.

use std::time::Duration;

use drkit_core::{Check, Context, ErrorKind};
use drkit_vault::{VaultApi, VaultConn, VaultrsApi};
use serde_json::json;

use crate::{MAIN, build, main_server, raw_client};

#[tokio::test]
async fn a_saved_snapshot_restores_and_rolls_back_later_writes() {
    let Some(main) = main_server() else { return };
    // The restore rolls the whole server back: no other test may use it meanwhile.
    let _lock = MAIN.write().await;
    let client = raw_client(&main.address, "DRKIT_TEST_VAULT_TOKEN");
    let before = drkit_testkit::unique("before");
    let after = drkit_testkit::unique("after");
    vaultrs::transit::key::create(&client, "transit", &before, None)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.snap");
    let ctx = Context::new().with_timeout(Duration::from_secs(120));

    let save = build(
        "vault.raft_snapshot_save",
        json!({"address": main.address, "path": path, "token": "env:DRKIT_TEST_VAULT_TOKEN"}),
    );
    assert!(matches!(
        save.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = save.execute(&ctx).await.unwrap();
    let bytes = out.get("bytes").unwrap().as_u64().unwrap();
    assert!(bytes > 100, "{bytes}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), bytes);
    save.verify(&ctx).await.unwrap();
    // This step's snapshot is in place: done.
    assert!(save.check(&ctx).await.unwrap().is_done());
    // Another step saving over it is blocked unless overwrite is set.
    let again = build(
        "vault.raft_snapshot_save",
        json!({"address": main.address, "path": path, "token": "env:DRKIT_TEST_VAULT_TOKEN"}),
    );
    assert!(matches!(
        again.check(&ctx).await.unwrap(),
        Check::Blocked { .. }
    ));

    vaultrs::transit::key::create(&client, "transit", &after, None)
        .await
        .unwrap();
    let restore = build(
        "vault.raft_snapshot_restore",
        json!({"address": main.address, "path": path, "token": "env:DRKIT_TEST_VAULT_TOKEN"}),
    );
    assert!(matches!(
        restore.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = restore.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("state"), Some("active"));
    assert_eq!(out.get("sealed"), Some(&json!(false)));
    restore.verify(&ctx).await.unwrap();

    let token = drkit_core::SecretString::from(std::env::var("DRKIT_TEST_VAULT_TOKEN").unwrap());
    let conn = VaultConn::new(&main.address).with_token(token);
    let api = VaultrsApi::new();
    api.transit_read_key(&conn, "transit", &before)
        .await
        .unwrap();
    let err = api
        .transit_read_key(&conn, "transit", &after)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn a_file_that_is_not_a_snapshot_blocks_the_restore() {
    let Some(main) = main_server() else { return };
    let _lock = MAIN.read().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-snapshot");
    std::fs::write(&path, "hello").unwrap();
    let restore = build(
        "vault.raft_snapshot_restore",
        json!({"address": main.address, "path": path, "token": "env:DRKIT_TEST_VAULT_TOKEN"}),
    );
    let ctx = Context::new().with_timeout(Duration::from_secs(30));
    let check = restore.check(&ctx).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("not a raft snapshot")),
        "{check:?}"
    );
    let missing = build(
        "vault.raft_snapshot_restore",
        json!({"address": main.address, "path": dir.path().join("missing")}),
    );
    assert!(matches!(
        missing.check(&ctx).await.unwrap(),
        Check::Blocked { .. }
    ));
}

/// The DR restore of Vault itself: another cluster's snapshot needs `force`, leaves the server
/// sealed, and is then unsealed with *that* cluster's keys. Played on the sealed server with the
/// unsealed server's snapshot, then undone the same way (so the other tests find the sealed
/// server as it was).
#[tokio::test]
async fn another_clusters_snapshot_needs_force_and_then_its_own_keys() {
    let Some(main) = main_server() else { return };
    let Some(sealed) = crate::sealed_server() else {
        return;
    };
    let _sealed_lock = crate::SEALED.lock().await;
    let _main_lock = MAIN.read().await;
    crate::reseal(&sealed.address).await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::new().with_timeout(Duration::from_secs(180));
    let keys =
        |prefix: &str| -> Vec<String> { (1..=3).map(|n| format!("env:{prefix}{n}")).collect() };
    let unseal = |prefix: &str| {
        build(
            "vault.unseal",
            json!({"address": sealed.address, "keys": keys(prefix), "threshold": 2}),
        )
    };
    let save = |address: &str, file: &str, token: &str| {
        build(
            "vault.raft_snapshot_save",
            json!({"address": address, "path": dir.path().join(file), "token": token}),
        )
    };
    let restore = |file: &str, force: bool, token: &str| {
        build(
            "vault.raft_snapshot_restore",
            json!({"address": sealed.address, "path": dir.path().join(file), "force": force,
                   "token": token}),
        )
    };
    let sealed_token = "env:DRKIT_TEST_VAULT_SEALED_TOKEN";
    let main_token = "env:DRKIT_TEST_VAULT_TOKEN";

    // Both clusters' snapshots.
    unseal("DRKIT_TEST_VAULT_SEALED_KEY_")
        .execute(&ctx)
        .await
        .unwrap();
    save(&sealed.address, "own.snap", sealed_token)
        .execute(&ctx)
        .await
        .unwrap();
    save(&main.address, "other.snap", main_token)
        .execute(&ctx)
        .await
        .unwrap();

    // Without force, the other cluster's snapshot is refused.
    let err = restore("other.snap", false, sealed_token)
        .execute(&ctx)
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err}");

    // With force it is restored, and the server is then sealed with the other cluster's keys.
    let out = restore("other.snap", true, sealed_token)
        .execute(&ctx)
        .await
        .unwrap();
    assert_eq!(out.get("sealed"), Some(&json!(true)), "{out:?}");
    let err = unseal("DRKIT_TEST_VAULT_SEALED_KEY_")
        .execute(&ctx)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let out = unseal("DRKIT_TEST_VAULT_KEY_").execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("state"), Some("active"));
    // It now holds the other cluster's data: its root token works there.
    let token = drkit_core::SecretString::from(std::env::var("DRKIT_TEST_VAULT_TOKEN").unwrap());
    let conn = VaultConn::new(&sealed.address).with_token(token);
    let mounts_ok = VaultrsApi::new()
        .transit_read_key(&conn, "transit", "surely-not-there")
        .await
        .unwrap_err();
    assert_eq!(
        mounts_ok.kind(),
        ErrorKind::NotFound,
        "transit is mounted: {mounts_ok}"
    );

    // Undo: its own snapshot back, with force, then its own keys.
    let out = restore("own.snap", true, main_token)
        .execute(&ctx)
        .await
        .unwrap();
    assert_eq!(out.get("sealed"), Some(&json!(true)), "{out:?}");
    unseal("DRKIT_TEST_VAULT_SEALED_KEY_")
        .execute(&ctx)
        .await
        .unwrap();
    crate::reseal(&sealed.address).await;
}
