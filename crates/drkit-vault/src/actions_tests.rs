//! Unit tests of `vault.check_health`, the raft snapshot actions and
//! `vault.verify_transit_backup` against the mocked port: states and failures a single test
//! server does not show on demand (standby, a snapshot that is not gzip, a restore that leaves
//! the server sealed, a restored copy that cannot decrypt, a failed cleanup).

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use drkit_core::kind::with_port;
use drkit_core::{
    ActionError, ActionKind, Check, Context, ErrorKind, RecoveryAction, SecretRef, SecretString,
    StepSpec,
};
use serde_json::json;

use crate::health::{CheckHealth, CheckHealthParams};
use crate::port::{Health, Leader, MockVaultApi, TransitKey, VaultApi};
use crate::snapshot::{SnapshotRestore, SnapshotRestoreParams, SnapshotSave, SnapshotSaveParams};
use crate::transit::{TransitBackupParams, VerifyTransitBackup};

const ADDR: &str = "http://10.0.0.9:8200";
const SNAPSHOT: &[u8] = &[0x1f, 0x8b, 8, 0, 1, 2, 3, 4];

/// Kind `K` for step `id` at [`ADDR`] over `api`.
fn build<K>(id: &str, params: K::Params, api: MockVaultApi) -> K
where
    K: ActionKind<Port = dyn VaultApi, Ports = drkit_core::PortFactory<dyn VaultApi>>,
{
    with_port::<K>(StepSpec::new(id, params), Arc::new(api)).unwrap()
}

fn health(api: MockVaultApi, allow_standby: bool) -> CheckHealth {
    let params = CheckHealthParams {
        address: Some(ADDR.into()),
        allow_standby,
        namespace: None,
    };
    build("health", params, api)
}

#[tokio::test(start_paused = true)]
async fn health_passes_when_active_and_blocks_a_standby_unless_allowed() {
    let mut api = MockVaultApi::new();
    api.expect_health().returning(|_| {
        let mut h = Health::new(true, false, false, "2.7.2");
        h.cluster_name = Some("dr".into());
        Ok(h)
    });
    let Check::Done { detail, outputs } = health(api, false).check(&Context::new()).await.unwrap()
    else {
        panic!("not done")
    };
    assert_eq!(detail, format!("{ADDR} is active (version 2.7.2)"));
    assert_eq!(outputs.get_str("cluster_name"), Some("dr"));
    assert_eq!(outputs.get("standby"), Some(&json!(false)));

    let standby = || {
        let mut api = MockVaultApi::new();
        api.expect_health()
            .returning(|_| Ok(Health::new(true, false, true, "2.7.2")));
        api
    };
    assert_eq!(
        health(standby(), false)
            .check(&Context::new())
            .await
            .unwrap(),
        Check::blocked(format!("{ADDR} is standby (version 2.7.2)"))
    );
    let err = health(standby(), false)
        .execute(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    let mut with_leader = standby();
    with_leader
        .expect_leader()
        .returning(|_| Ok(Leader::new(false, "https://vault-0:8200")));
    let Check::Done { outputs, .. } = health(with_leader, true)
        .check(&Context::new())
        .await
        .unwrap()
    else {
        panic!("not done")
    };
    assert_eq!(outputs.get_str("leader"), Some("https://vault-0:8200"));
    // A standby of a cluster without an active node (raft quorum lost) is not healthy.
    let mut leaderless = standby();
    leaderless
        .expect_leader()
        .returning(|_| Ok(Leader::new(false, "")));
    let Check::Blocked { reason } = health(leaderless, true)
        .check(&Context::new())
        .await
        .unwrap()
    else {
        panic!("not blocked")
    };
    assert!(reason.contains("no active node"), "{reason}");
    // Vault 1.19+: a standby that cannot reach its active node says so (474).
    let mut cut_off = MockVaultApi::new();
    cut_off.expect_health().returning(|_| {
        let mut h = Health::new(true, false, true, "1.19.0");
        h.ha_connection_healthy = Some(false);
        Ok(h)
    });
    cut_off.expect_leader().never();
    let Check::Blocked { reason } = health(cut_off, true).check(&Context::new()).await.unwrap()
    else {
        panic!("not blocked")
    };
    assert!(reason.contains("ha_connection_healthy false"), "{reason}");

    let mut api = MockVaultApi::new();
    api.expect_health()
        .returning(|_| Err(ActionError::new(ErrorKind::Unavailable, "cannot reach")));
    let err = health(api, false).check(&Context::new()).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.resource(), Some("vault:server/http://10.0.0.9:8200"));
}

fn token() -> Option<SecretRef> {
    // The mock ignores the value; PATH is always set.
    Some(SecretRef::Env("PATH".into()))
}

#[tokio::test(start_paused = true)]
async fn snapshot_save_writes_the_file_whole_and_refuses_bad_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.snap");
    let mut api = MockVaultApi::new();
    api.expect_raft_snapshot_save()
        // A transfer gets the transfer bound, not the 30 s of a control call.
        .withf(|conn| conn.token().is_some() && conn.timeout() >= Duration::from_secs(600))
        .times(1)
        .returning(|_| Ok(SNAPSHOT.to_vec()));
    let params = SnapshotSaveParams {
        address: Some(ADDR.into()),
        path: path.clone(),
        overwrite: false,
        token: token(),
        namespace: None,
    };
    let save: SnapshotSave = build("save", params.clone(), api);
    assert!(matches!(
        save.check(&Context::new()).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = save.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("bytes"), Some(&json!(SNAPSHOT.len())));
    assert_eq!(std::fs::read(&path).unwrap(), SNAPSHOT);
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions())
            & 0o777,
        0o600,
        "a snapshot holds every secret of the cluster: owner-only"
    );
    assert!(!dir.path().join("vault.snap.partial").exists());
    save.verify(&Context::new()).await.unwrap();
    // This step's snapshot is in place: done, and executing again saves nothing more (the
    // mock allows one save).
    let check = save.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Done { outputs, .. } if *outputs == out),
        "{check:?}"
    );
    assert_eq!(save.execute(&Context::new()).await.unwrap(), out);
    // Another step saving to the same path: the file exists, blocked, and execute refuses too.
    let mut api = MockVaultApi::new();
    api.expect_raft_snapshot_save().never();
    let again: SnapshotSave = build("save-again", params.clone(), api);
    let check = again.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("already exists")),
        "{check:?}"
    );
    assert_eq!(
        again.execute(&Context::new()).await.unwrap_err().kind(),
        ErrorKind::PreconditionFailed
    );

    // An answer that is not gzip is not written.
    let mut api = MockVaultApi::new();
    api.expect_raft_snapshot_save()
        .returning(|_| Ok(b"<html>".to_vec()));
    let other = dir.path().join("other.snap");
    let save: SnapshotSave = build(
        "save",
        SnapshotSaveParams {
            path: other.clone(),
            ..params
        },
        api,
    );
    let err = save.execute(&Context::new()).await.unwrap_err();
    assert!(err.message().contains("not a raft snapshot"), "{err}");
    assert!(!other.exists());
    assert_eq!(
        save.execute(&Context::new().with_dry_run(true))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
}

#[tokio::test(start_paused = true)]
async fn a_forced_restore_that_leaves_the_server_sealed_says_so_and_is_not_repeated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other-cluster.snap");
    std::fs::write(&path, SNAPSHOT).unwrap();
    let mut api = MockVaultApi::new();
    let restores = Arc::new(Mutex::new(0));
    {
        let restores = Arc::clone(&restores);
        api.expect_raft_snapshot_restore()
            .withf(|_, bytes, force| bytes == SNAPSHOT && *force)
            .returning(move |_, _, _| {
                *restores.lock().unwrap() += 1;
                Ok(())
            });
    }
    // First the request blocks / fails while the server reloads, then it answers sealed.
    let mut answers = vec![
        Ok(Health::new(true, true, false, "2.7.2")),
        Err(ActionError::new(ErrorKind::Unavailable, "reloading")),
    ];
    api.expect_health().returning(move |_| {
        answers
            .pop()
            .unwrap_or_else(|| Ok(Health::new(true, true, false, "2.7.2")))
    });
    let params = SnapshotRestoreParams {
        address: Some(ADDR.into()),
        path,
        force: true,
        token: token(),
        namespace: None,
    };
    let restore: SnapshotRestore = build("restore", params.clone(), api);
    let ctx = Context::new().with_timeout(Duration::from_secs(60));
    let out = restore.execute(&ctx).await.unwrap();
    assert_eq!(out.get("sealed"), Some(&json!(true)));
    assert_eq!(out.get_str("state"), Some("sealed"));
    assert_eq!(out.get("forced"), Some(&json!(true)));
    // Executed again (e.g. by the retry layer): no second restore.
    restore.execute(&ctx).await.unwrap();
    assert_eq!(*restores.lock().unwrap(), 1);
    // check: this step's restore is done, with its outputs.
    let check = restore.check(&ctx).await.unwrap();
    assert!(
        matches!(&check, Check::Done { outputs, .. } if outputs.get("sealed") == Some(&json!(true))),
        "{check:?}"
    );
    // check of another restore step: a sealed server is blocked.
    let mut api = MockVaultApi::new();
    api.expect_health()
        .returning(|_| Ok(Health::new(true, true, false, "2.7.2")));
    api.expect_raft_snapshot_restore().never();
    let other: SnapshotRestore = build("restore-again", params, api);
    let check = other.check(&ctx).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("sealed")),
        "{check:?}"
    );
}

fn transit(api: MockVaultApi) -> VerifyTransitBackup {
    let params = TransitBackupParams {
        address: Some(ADDR.into()),
        mount: "transit".into(),
        key: "payments".into(),
        token: token(),
        namespace: None,
    };
    build("verify-backup", params, api)
}

const BACKUP: &str = "eyJwb2xpY3kiOiJLRVktTUFURVJJQUwifQ==";

fn backup_api(
    decrypt: fn(&str) -> Result<String, ActionError>,
) -> (MockVaultApi, Arc<Mutex<Vec<String>>>) {
    let mut api = MockVaultApi::new();
    api.expect_transit_read_key()
        .withf(|_, mount, name| mount == "transit" && name == "payments")
        .returning(|_, _, _| Ok(TransitKey::new("payments", "aes256-gcm96", 3).backup_allowed()));
    api.expect_transit_backup_key()
        .returning(|_, _, _| Ok(SecretString::from(BACKUP.to_owned())));
    let names = Arc::new(Mutex::new(Vec::new()));
    {
        let names = Arc::clone(&names);
        api.expect_transit_restore_key()
            .withf(|_, _, name, backup| {
                name.starts_with("payments-drkit-verify-")
                    && drkit_core::ExposeSecret::expose_secret(backup) == BACKUP
            })
            .returning(move |_, _, name, _| {
                names.lock().unwrap().push(name.to_owned());
                Ok(())
            });
    }
    api.expect_transit_encrypt()
        .withf(|_, _, name, plaintext| name == "payments" && plaintext.len() == 32)
        .returning(|_, _, _, p| Ok(format!("vault:v3:{p}")));
    api.expect_transit_decrypt()
        .withf(|_, _, name, _| name.starts_with("payments-drkit-verify-"))
        .returning(move |_, _, _, c| decrypt(c));
    {
        let names = Arc::clone(&names);
        api.expect_transit_delete_key()
            .times(1)
            .returning(move |_, _, name| {
                assert_eq!(
                    names.lock().unwrap().first().map(String::as_str),
                    Some(name)
                );
                Ok(())
            });
    }
    (api, names)
}

#[tokio::test(start_paused = true)]
async fn transit_round_trip_passes_and_deletes_the_scratch_key() {
    let (api, names) = backup_api(|c| Ok(c.trim_start_matches("vault:v3:").to_owned()));
    let action = transit(api);
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("ciphertext_version"), Some("v3"));
    assert_eq!(out.get("latest_version"), Some(&json!(3)));
    assert_eq!(
        out.get_str("scratch_key"),
        names.lock().unwrap().first().map(String::as_str)
    );
    let seen = format!("{out:?} {action:?}");
    assert!(!seen.contains(BACKUP), "{seen}");
}

#[tokio::test(start_paused = true)]
async fn a_copy_that_cannot_decrypt_fails_and_the_scratch_key_still_goes() {
    let (api, _) = backup_api(|_| Ok("something-else".to_owned()));
    let err = transit(api).execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    assert!(err.message().contains("to a different value"), "{err}");

    let (api, _) = backup_api(|_| {
        Err(ActionError::new(
            ErrorKind::InvalidInput,
            "cipher: message authentication failed",
        ))
    });
    let err = transit(api).execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    assert!(err.message().contains("cannot decrypt"), "{err}");
    assert!(!format!("{err:?}").contains(BACKUP));
}

#[tokio::test(start_paused = true)]
async fn transit_check_blocks_a_key_that_cannot_be_backed_up() {
    let mut api = MockVaultApi::new();
    api.expect_transit_read_key()
        .returning(|_, _, _| Ok(TransitKey::new("payments", "aes256-gcm96", 1)));
    api.expect_transit_backup_key().never();
    let action = transit(api);
    let check = action.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("exportable = true")),
        "{check:?}"
    );
    assert_eq!(
        action.execute(&Context::new()).await.unwrap_err().kind(),
        ErrorKind::PreconditionFailed
    );
    let mut api = MockVaultApi::new();
    api.expect_transit_read_key().never();
    assert_eq!(
        transit(api)
            .execute(&Context::new().with_dry_run(true))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
}

/// OpenBao applies a restore asynchronously: it still answers as before for a moment. An
/// "active" answer right after the restore call must not be taken for the result.
#[tokio::test(start_paused = true)]
async fn the_old_state_right_after_a_restore_is_not_taken_for_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other-cluster.snap");
    std::fs::write(&path, SNAPSHOT).unwrap();
    let mut api = MockVaultApi::new();
    api.expect_raft_snapshot_restore()
        .times(1)
        .returning(|_, _, _| Ok(()));
    let mut answers = vec![
        Ok(Health::new(true, true, true, "2.7.2")),
        Err(ActionError::new(ErrorKind::Unavailable, "HTTP 500").with_code("500")),
        Ok(Health::new(true, false, false, "2.7.2")),
        Ok(Health::new(true, false, false, "2.7.2")),
    ];
    api.expect_health().returning(move |_| {
        answers
            .pop()
            .unwrap_or_else(|| Ok(Health::new(true, true, true, "2.7.2")))
    });
    let params = SnapshotRestoreParams {
        address: Some(ADDR.into()),
        path,
        force: true,
        token: token(),
        namespace: None,
    };
    let restore: SnapshotRestore = build("restore", params, api);
    let out = restore
        .execute(&Context::new().with_timeout(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(out.get("sealed"), Some(&json!(true)));
}

/// A same-cluster restore whose reload is never seen: after the grace period the server's
/// answer is taken as it is.
#[tokio::test(start_paused = true)]
async fn a_restore_without_a_visible_reload_ends_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("own.snap");
    std::fs::write(&path, SNAPSHOT).unwrap();
    let mut api = MockVaultApi::new();
    api.expect_raft_snapshot_restore()
        .returning(|_, _, _| Ok(()));
    api.expect_health()
        .returning(|_| Ok(Health::new(true, false, false, "2.7.2")));
    let params = SnapshotRestoreParams {
        address: Some(ADDR.into()),
        path,
        force: false,
        token: token(),
        namespace: None,
    };
    let restore: SnapshotRestore = build("restore", params, api);
    let started = tokio::time::Instant::now();
    let out = restore.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("state"), Some("active"));
    assert!(started.elapsed() >= Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(15));
}
