//! `vault.check_health` against real OpenBao servers, and the vaultrs quirk it works around.

use std::time::Duration;

use drkit_core::{Check, Context, ErrorKind};
use drkit_vault::{VaultApi, VaultConn, VaultrsApi};
use serde_json::json;

use crate::{MAIN, SEALED, build, main_server, raw_client, reseal, sealed_server};

/// Why drkit has its own health endpoint: vaultrs's `sys::health` (and so `sys::status`) fails
/// on a healthy OpenBao, whose answer has no `performance_standby` field.
#[tokio::test]
async fn vaultrs_own_health_fails_on_openbao_and_ours_reads_it() {
    let Some(main) = main_server() else { return };
    let _lock = MAIN.read().await;
    let client = raw_client(&main.address, "DRKIT_TEST_VAULT_TOKEN");
    assert!(vaultrs::sys::health(&client).await.is_err());
    assert!(vaultrs::sys::status(&client).await.is_err());
    let health = VaultrsApi::new()
        .health(&VaultConn::new(&main.address))
        .await
        .unwrap();
    assert_eq!(health.state(), "active");
    assert!(!health.version.is_empty());
}

#[tokio::test]
async fn an_active_server_passes_and_a_sealed_one_is_blocked() {
    let Some(main) = main_server() else { return };
    let Some(sealed) = sealed_server() else {
        return;
    };
    let ctx = Context::new().with_timeout(Duration::from_secs(30));
    {
        let _lock = MAIN.read().await;
        let action = build("vault.check_health", json!({"address": main.address}));
        let Check::Done { detail, outputs } = action.check(&ctx).await.unwrap() else {
            panic!("not done");
        };
        assert!(detail.contains("is active"), "{detail}");
        assert_eq!(outputs.get_str("state"), Some("active"));
        assert_eq!(outputs.get("initialized"), Some(&json!(true)));
        assert_eq!(outputs.get("sealed"), Some(&json!(false)));
        assert!(outputs.get_str("cluster_name").is_some());
        action.verify(&ctx).await.unwrap();
    }
    let _lock = SEALED.lock().await;
    reseal(&sealed.address).await;
    let action = build("vault.check_health", json!({"address": sealed.address}));
    let check = action.check(&ctx).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("is sealed")),
        "{check:?}"
    );
    let err = action.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
}
