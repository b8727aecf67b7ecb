//! `vault.verify_transit_backup` against a real OpenBao transit engine.

use std::time::Duration;

use drkit_core::{Check, Context, ErrorKind};
use drkit_vault::{VaultApi, VaultConn, VaultrsApi};
use serde_json::json;
use vaultrs::api::transit::requests::CreateKeyRequestBuilder;

use crate::{MAIN, build, main_server, raw_client, raw_client_in};

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
        matches!(&check, Check::Blocked { reason }
            if reason.contains("allow_plaintext_backup = true")
                && reason.contains("`vault.check_transit_key`")),
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

/// A key that must never be exported (as payment keys): `vault.check_transit_key` reads its
/// configuration only. It passes; with deletion allowed, or an older version no longer
/// decryptable, it fails saying which; a missing key is blocked.
#[tokio::test]
async fn a_key_without_backup_is_checked_read_only() {
    let Some(main) = main_server() else { return };
    let _lock = MAIN.read().await;
    let client = raw_client(&main.address, "DRKIT_TEST_VAULT_TOKEN");
    let key = drkit_testkit::unique("payments-hsm");
    vaultrs::transit::key::create(&client, "transit", &key, None)
        .await
        .unwrap();
    for _ in 0..2 {
        vaultrs::transit::key::rotate(&client, "transit", &key)
            .await
            .unwrap();
    }
    let ctx = Context::new().with_timeout(Duration::from_secs(30));
    let params = |extra: serde_json::Value| {
        let mut p = json!({"address": main.address, "mount": "transit", "key": key,
                           "token": "env:DRKIT_TEST_VAULT_TOKEN"});
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p
    };
    let action = build(
        "vault.check_transit_key",
        params(json!({"key_type": "aes256-gcm96", "decrypts_from_version": 1})),
    );
    let Check::Done { detail, outputs } = action.check(&ctx).await.unwrap() else {
        panic!("not done")
    };
    assert!(detail.contains("versions 1..3 decryptable"), "{detail}");
    assert_eq!(outputs.get("latest_version"), Some(&json!(3)));
    assert_eq!(outputs.get("deletion_allowed"), Some(&json!(false)));
    assert_eq!(outputs.get("exportable"), Some(&json!(false)));
    action.execute(&ctx).await.unwrap();

    // Versions 1 and 2 no longer decrypt, and the key may be deleted: both named.
    vaultrs::api::exec_with_empty(
        &client,
        ConfigKey {
            path: format!("transit/keys/{key}/config"),
            body: json!({"min_decryption_version": 3, "deletion_allowed": true}),
        },
    )
    .await
    .unwrap();
    let check = build(
        "vault.check_transit_key",
        params(json!({"decrypts_from_version": 1})),
    )
    .check(&ctx)
    .await
    .unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason }
            if reason.contains("deletion_allowed = true")
                && reason.contains("it decrypts ciphertexts from version 3 on")),
        "{check:?}"
    );
    let check = build(
        "vault.check_transit_key",
        params(json!({"key": "no-such-key"})),
    )
    .check(&ctx)
    .await
    .unwrap();
    assert_eq!(
        check,
        Check::blocked("transit key transit/no-such-key does not exist")
    );
}

/// `POST <mount>/keys/<name>/config` (vaultrs's own takes no `min_decryption_version`).
struct ConfigKey {
    path: String,
    body: serde_json::Value,
}

impl rustify::endpoint::Endpoint for ConfigKey {
    type Response = ();
    const REQUEST_BODY_TYPE: rustify::enums::RequestType = rustify::enums::RequestType::JSON;
    const RESPONSE_BODY_TYPE: rustify::enums::ResponseType = rustify::enums::ResponseType::JSON;

    fn path(&self) -> String {
        self.path.clone()
    }

    fn method(&self) -> rustify::enums::RequestMethod {
        rustify::enums::RequestMethod::POST
    }

    fn body(&self) -> Result<Option<Vec<u8>>, rustify::errors::ClientError> {
        Ok(Some(self.body.to_string().into_bytes()))
    }
}

/// A key in a namespace (OpenBao has namespaces, as Vault Enterprise and HCP): found and its
/// backup verified with `namespace` (sent as `X-Vault-Namespace`); without it the key does not
/// exist (it is not in the root namespace).
#[tokio::test]
async fn a_key_in_a_namespace_is_reached_with_namespace() {
    let Some(main) = main_server() else { return };
    let Some(namespace) = drkit_testkit::peer("DRKIT_TEST_VAULT_NAMESPACE", "OpenBao (namespace)")
    else {
        return;
    };
    let _lock = MAIN.read().await;
    let client = raw_client_in(&main.address, "DRKIT_TEST_VAULT_TOKEN", Some(&namespace));
    let key = drkit_testkit::unique("ns-payments");
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
    let ctx = Context::new().with_timeout(Duration::from_secs(60));
    let params = |ns: Option<&str>| {
        let mut p = json!({"address": main.address, "mount": "transit", "key": key,
                           "token": "env:DRKIT_TEST_VAULT_TOKEN"});
        if let Some(ns) = ns {
            p["namespace"] = json!(ns);
        }
        p
    };
    let verify = build("vault.verify_transit_backup", params(Some(&namespace)));
    assert_eq!(
        verify.target().to_string(),
        format!(
            "vault:transit-key/{}/{namespace}/transit/{key}",
            main.address
        )
    );
    let out = verify.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("key"), Some(key.as_str()));
    verify.verify(&ctx).await.unwrap();
    let check = build("vault.check_transit_key", params(Some(&namespace)));
    assert!(check.check(&ctx).await.unwrap().is_done());
    // The root namespace has no such key.
    let outside = build("vault.check_transit_key", params(None))
        .check(&ctx)
        .await
        .unwrap();
    assert!(
        matches!(&outside, Check::Blocked { reason } if reason.contains("does not exist")),
        "{outside:?}"
    );
}
