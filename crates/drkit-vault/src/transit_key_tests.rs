//! Unit tests of `vault.check_transit_key` against the mocked port. `tests/it/transit.rs` runs
//! it against OpenBao; `hashicorp_tests.rs` reads HashiCorp's documented answer.

use std::sync::Arc;

use drkit_core::kind::with_port;
use drkit_core::{Check, RecoveryAction};
use serde_json::json;

use super::*;
use crate::port::MockVaultApi;

const ADDR: &str = "http://10.0.0.9:8200";

fn check(api: MockVaultApi, edit: impl FnOnce(&mut CheckTransitKeyParams)) -> CheckTransitKey {
    let mut params = CheckTransitKeyParams::new("transit", "payments");
    params.address = Some(ADDR.into());
    // The mock ignores the value; PATH is always set.
    params.token = Some(SecretRef::Env("PATH".into()));
    edit(&mut params);
    with_port::<CheckTransitKey>(StepSpec::new("payments-key", params), Arc::new(api)).unwrap()
}

fn key(edit: impl Fn(&mut TransitKey) + Send + 'static) -> MockVaultApi {
    let mut api = MockVaultApi::new();
    api.expect_transit_read_key()
        .withf(|conn, mount, name| {
            conn.token().is_some() && mount == "transit" && name == "payments"
        })
        .returning(move |_, _, _| {
            let mut k = TransitKey::new("payments", "aes256-gcm96", 4);
            edit(&mut k);
            Ok(k)
        });
    // Read-only: nothing that takes the key out or changes it.
    api.expect_transit_backup_key().never();
    api.expect_transit_restore_key().never();
    api.expect_transit_delete_key().never();
    api
}

#[tokio::test]
async fn a_key_that_cannot_be_deleted_passes_with_its_configuration() {
    let action = check(key(|_| {}), |p| {
        p.key_type = Some("aes256-gcm96".into());
        p.decrypts_from_version = Some(1);
    });
    let Check::Done { detail, outputs } = action.check(&Context::new()).await.unwrap() else {
        panic!("not done")
    };
    assert_eq!(
        detail,
        "transit key transit/payments: aes256-gcm96, versions 1..4 decryptable, deletion_allowed = false"
    );
    assert_eq!(outputs.get("latest_version"), Some(&json!(4)));
    assert_eq!(outputs.get("min_decryption_version"), Some(&json!(1)));
    assert_eq!(outputs.get("exportable"), Some(&json!(false)));
    assert_eq!(outputs.get("allow_plaintext_backup"), Some(&json!(false)));
    action.execute(&Context::new()).await.unwrap();
    action.verify(&Context::new()).await.unwrap();
}

#[tokio::test]
async fn deletable_wrong_type_or_old_versions_gone_fail_saying_which() {
    let blocked = |action: CheckTransitKey| async move {
        match action.check(&Context::new()).await.unwrap() {
            Check::Blocked { reason } => reason,
            other => panic!("{other:?}"),
        }
    };
    let reason = blocked(check(key(|k| k.deletion_allowed = true), |_| {})).await;
    assert!(
        reason.contains("deletion_allowed = true: the key"),
        "{reason}"
    );

    let reason = blocked(check(key(|_| {}), |p| p.key_type = Some("rsa-4096".into()))).await;
    assert!(
        reason.contains("its type is aes256-gcm96, the runbook expects rsa-4096"),
        "{reason}"
    );

    let reason = blocked(check(
        key(|k| {
            k.min_decryption_version = 2;
            k.min_available_version = 3;
        }),
        |p| p.decrypts_from_version = Some(1),
    ))
    .await;
    assert!(
        reason.contains("it decrypts ciphertexts from version 3 on (min_decryption_version 2, min_available_version 3)"),
        "{reason}"
    );

    let reason = blocked(check(key(|_| {}), |p| p.decrypts_from_version = Some(9))).await;
    assert!(reason.contains("its newest version is 4"), "{reason}");

    let err = check(key(|k| k.deletion_allowed = true), |_| {})
        .execute(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
}

#[tokio::test]
async fn a_missing_key_is_blocked_and_the_namespace_reaches_the_port() {
    let mut api = MockVaultApi::new();
    api.expect_transit_read_key()
        .withf(|conn, _, _| conn.namespace() == Some("admin/mint"))
        .returning(|_, _, _| {
            Err(ActionError::new(ErrorKind::NotFound, "HTTP 404").with_code("404"))
        });
    let action = check(api, |p| p.namespace = Some("/admin/mint/".into()));
    let check = action.check(&Context::new()).await.unwrap();
    assert_eq!(
        check,
        Check::blocked("transit key transit/payments does not exist")
    );
}
