//! `vault.verify_transit_backup` against a real OpenBao transit engine.

use std::time::Duration;

use drkit_core::{Check, Context, ErrorKind};
use drkit_vault::{VaultApi, VaultConn, VaultrsApi};
use serde_json::json;
use vaultrs::api::transit::requests::CreateKeyRequestBuilder;

use crate::{MAIN, build, main_server, raw_client};

#[tokio::test]
async fn a_backup_restores_under_a_scratch_name_and_the_scratch_key_is_deleted() {
    let Some(main) = main_server() else { return };
    let _lock = MAIN.read().await;
    let client = raw_client(&main.address, "DRKIT_TEST_VAULT_TOKEN");
    let key = drkit_testkit::unique("payments");
    vaultrs::transit::key::create(
        &client,
        "transit",
        &key,
        Some(
            CreateKeyRequestBuilder::default()
                .exportable(true)
                .allow_plaintext_backup(true),
        ),
    )
    .await
    .unwrap();
    vaultrs::transit::key::rotate(&client, "transit", &key)
        .await
        .unwrap();
    let action = build(
        "vault.verify_transit_backup",
        json!({"address": main.address, "mount": "transit", "key": key,
               "token": "env:DRKIT_TEST_VAULT_TOKEN"}),
    );
    let ctx = Context::new().with_timeout(Duration::from_secs(60));
    let check = action.check(&ctx).await.unwrap();
    assert!(matches!(&check, Check::Ready { .. }), "{check:?}");
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("key"), Some(key.as_str()));
    assert_eq!(out.get("latest_version"), Some(&json!(2)));
    assert_eq!(out.get_str("ciphertext_version"), Some("v2"));
    let scratch = out.get_str("scratch_key").unwrap().to_owned();
    assert!(
        scratch.starts_with(&format!("{key}-drkit-verify-")),
        "{scratch}"
    );
    action.verify(&ctx).await.unwrap();
    // Read back directly: the scratch key is gone, the original is still there.
    let token = drkit_core::SecretString::from(std::env::var("DRKIT_TEST_VAULT_TOKEN").unwrap());
    let conn = VaultConn::new(&main.address).with_token(token);
    let api = VaultrsApi::new();
    let err = api
        .transit_read_key(&conn, "transit", &scratch)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    api.transit_read_key(&conn, "transit", &key).await.unwrap();
}

#[tokio::test]
async fn a_key_without_backup_allowed_or_missing_is_blocked() {
    let Some(main) = main_server() else { return };
    let _lock = MAIN.read().await;
    let client = raw_client(&main.address, "DRKIT_TEST_VAULT_TOKEN");
    let key = drkit_testkit::unique("sealed-in");
    vaultrs::transit::key::create(&client, "transit", &key, None)
        .await
        .unwrap();
    let ctx = Context::new().with_timeout(Duration::from_secs(30));
    let params = |k: &str| {
        json!({"address": main.address, "mount": "transit", "key": k,
               "token": "env:DRKIT_TEST_VAULT_TOKEN"})
    };
    let check = build("vault.verify_transit_backup", params(&key))
        .check(&ctx)
        .await
        .unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("allow_plaintext_backup = true")),
        "{check:?}"
    );
    let check = build("vault.verify_transit_backup", params("no-such-key"))
        .check(&ctx)
        .await
        .unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("does not exist")),
        "{check:?}"
    );
    // A wrong token is AccessDenied, not a verdict.
    let err = build(
        "vault.verify_transit_backup",
        json!({"address": main.address, "mount": "transit", "key": key,
               "token": "env:DRKIT_TEST_VAULT_SEALED_TOKEN"}),
    )
    .execute(&ctx)
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied, "{err}");
}
