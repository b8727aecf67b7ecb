//! Tests of `register.rs`.

use drkit_core::ActionRef;
use drkit_core::registry::{ActionSpec, BuildError};
use serde_json::json;

use super::*;
use crate::common::resolve_address;
use crate::port::MockVaultApi;

fn build(kind: &str, params: serde_json::Value) -> Result<ActionRef, BuildError> {
    let mut registry = Registry::new();
    let api: Arc<dyn VaultApi> = Arc::new(MockVaultApi::new());
    register_with(&mut registry, &PortFactory::fixed(api)).unwrap();
    registry.build(&ActionSpec::new("vault-step", kind, params))
}

#[test]
fn all_five_are_registered() {
    let mut registry = Registry::new();
    register(&mut registry).unwrap();
    let kinds: Vec<_> = registry.descriptors().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            "vault.check_health",
            "vault.raft_snapshot_restore",
            "vault.raft_snapshot_save",
            "vault.unseal",
            "vault.verify_transit_backup"
        ]
    );
    let action = build(
        "vault.unseal",
        json!({"address": "https://vault-1.example:8200/", "keys": ["env:K1", {"secret": "file:/run/k2"}], "threshold": 2}),
    )
    .unwrap();
    assert_eq!(
        action.target().to_string(),
        "vault:server/https://vault-1.example:8200"
    );
    assert!(action.mutates());
    let action = build(
        "vault.check_health",
        json!({"address": "http://127.0.0.1:8200"}),
    )
    .unwrap();
    assert!(!action.mutates());
    let action = build(
        "vault.verify_transit_backup",
        json!({"address": "http://127.0.0.1:8200", "mount": "transit", "key": "payments"}),
    )
    .unwrap();
    assert_eq!(
        action.target().to_string(),
        "vault:transit-key/http://127.0.0.1:8200/transit/payments"
    );
}

#[test]
fn bad_parameters_are_refused_before_any_call() {
    let cases = [
        (
            "vault.unseal",
            json!({"address": "http://v:8200", "keys": ["hunter2"]}),
            "parameter `keys[0]`: expected a secret reference",
        ),
        (
            "vault.unseal",
            json!({"address": "http://v:8200", "keys": []}),
            "parameter `keys`: give at least one",
        ),
        (
            "vault.unseal",
            json!({"address": "http://v:8200", "keys": ["env:K"], "threshold": 0}),
            "parameter `threshold`: must be at least 1",
        ),
        (
            "vault.unseal",
            json!({"address": "http://v:8200", "keys": ["env:K"], "treshold": 2}),
            "unknown field `treshold`",
        ),
        (
            "vault.unseal",
            json!({"address": "vault:8200", "keys": ["env:K"]}),
            "parameter `address`",
        ),
        (
            "vault.check_health",
            json!({"address": "https://root:hunter2@v"}),
            "must not hold credentials",
        ),
        (
            "vault.raft_snapshot_save",
            json!({"address": "http://v:8200", "path": "/tmp/s", "token": "hunter2"}),
            "parameter `token`: expected a secret reference",
        ),
        (
            "vault.raft_snapshot_restore",
            json!({"address": "http://v:8200"}),
            "missing field `path`",
        ),
        (
            "vault.verify_transit_backup",
            json!({"address": "http://v:8200", "mount": "transit", "key": "../sys"}),
            "parameter `key`: `../sys` is not a valid name",
        ),
    ];
    for (kind, params, expected) in cases {
        let err = build(kind, params).unwrap_err().to_string();
        assert!(err.contains(expected), "{err} lacks {expected}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}

#[test]
fn the_address_defaults_to_vault_addr() {
    let env = |v: &str| (v == "VAULT_ADDR").then(|| "https://vault.example:8200/".to_owned());
    assert_eq!(
        resolve_address(None, env).unwrap(),
        "https://vault.example:8200"
    );
    let err = resolve_address(None, |_| None).unwrap_err();
    assert!(err.contains("VAULT_ADDR is not set"), "{err}");
    assert_eq!(
        resolve_address(Some("http://a:1"), env).unwrap(),
        "http://a:1"
    );
}
