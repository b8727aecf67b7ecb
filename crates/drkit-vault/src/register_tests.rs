//! Tests of `register.rs`.

use drkit_core::ActionRef;
use drkit_core::registry::{ActionSpec, BuildError};
use serde_json::json;

use super::*;
use crate::common::{resolve_address, resolve_namespace};
use crate::port::MockVaultApi;

fn build(kind: &str, params: serde_json::Value) -> Result<ActionRef, BuildError> {
    let mut registry = Registry::new();
    let api: Arc<dyn VaultApi> = Arc::new(MockVaultApi::new());
    register_with(&mut registry, &PortFactory::fixed(api)).unwrap();
    registry.build(&ActionSpec::new("vault-step", kind, params))
}

#[test]
fn all_six_are_registered() {
    let mut registry = Registry::new();
    register(&mut registry).unwrap();
    let kinds: Vec<_> = registry.descriptors().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            "vault.check_health",
            "vault.check_transit_key",
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
        (
            "vault.unseal",
            json!({"address": "http://v:8200", "addresses": ["http://w:8200"], "keys": ["env:K"]}),
            "parameter `addresses`: give `address` (one node) or `addresses`",
        ),
        (
            "vault.unseal",
            json!({"addresses": ["http://a:8200", "http://b:8200", "http://a:8200/"], "keys": ["env:K"]}),
            "parameter `addresses[2]`: `http://a:8200` is listed twice",
        ),
        (
            "vault.unseal",
            json!({"addresses": ["http://a:8200", "https://root:hunter2@b"], "keys": ["env:K"]}),
            "parameter `addresses[1]`: the address must not hold credentials",
        ),
        (
            "vault.unseal",
            json!({"address": "http://v:8200", "keys": ["env:K"], "active_timeout": "soon"}),
            "`soon` is not a duration",
        ),
        (
            "vault.unseal",
            json!({"address": "http://v:8200", "keys": ["env:K"], "active_timeout": "0s"}),
            "parameter `active_timeout`: must be more than 0",
        ),
        (
            "vault.unseal",
            json!({"address": "http://v:8200", "keys": ["env:K"], "namespace": "admin/sys"}),
            "parameter `namespace`: `admin/sys` is not a namespace path (e.g. `admin` or `admin/payments`): it has the reserved name `sys`",
        ),
        (
            "vault.check_health",
            json!({"address": "http://v:8200", "namespace": "root"}),
            "the reserved name `root`",
        ),
        (
            "vault.raft_snapshot_save",
            json!({"address": "http://v:8200", "path": "/tmp/s", "namespace": "a//b"}),
            "an empty, `.` or `..` segment",
        ),
        (
            "vault.verify_transit_backup",
            json!({"address": "http://v:8200", "mount": "transit", "key": "k", "namespace": "team a"}),
            "a space, a `+` or `*`, or a character that is not visible ASCII",
        ),
        (
            "vault.check_transit_key",
            json!({"address": "http://v:8200", "mount": "transit", "key": "k", "namespace": "é"}),
            "not visible ASCII",
        ),
        (
            "vault.check_transit_key",
            json!({"address": "http://v:8200", "mount": "transit", "key": "k", "decrypts_from_version": 0}),
            "parameter `decrypts_from_version`: key versions start at 1",
        ),
        (
            "vault.check_transit_key",
            json!({"address": "http://v:8200", "mount": "transit", "key": "k", "key_type": " "}),
            "parameter `key_type`: must not be empty",
        ),
        (
            "vault.check_transit_key",
            json!({"address": "http://v:8200", "mount": "transit"}),
            "missing field `key`",
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

#[test]
fn the_namespace_defaults_to_vault_namespace_and_is_checked() {
    let env =
        |value: &'static str| move |v: &str| (v == "VAULT_NAMESPACE").then(|| value.to_owned());
    assert_eq!(resolve_namespace(None, |_| None), Ok(None));
    assert_eq!(resolve_namespace(None, env(" ")), Ok(None));
    assert_eq!(
        resolve_namespace(None, env("/admin/payments/")),
        Ok(Some("admin/payments".to_owned()))
    );
    // The parameter wins over the variable.
    assert_eq!(
        resolve_namespace(Some("admin"), env("other")),
        Ok(Some("admin".to_owned()))
    );
    let err = resolve_namespace(None, env("admin/*")).unwrap_err();
    assert!(
        err.starts_with("VAULT_NAMESPACE: `admin/*` is not a namespace path"),
        "{err}"
    );
    assert!(
        resolve_namespace(Some(""), |_| None)
            .unwrap_err()
            .contains("leave `namespace` out")
    );
}

#[test]
fn the_unseal_of_a_cluster_names_the_cluster_and_a_transit_key_its_namespace() {
    let action = build(
        "vault.unseal",
        json!({"addresses": ["http://a:8200", "http://b:8200/"], "keys": ["env:K"], "active_timeout": "2m", "namespace": "admin"}),
    )
    .unwrap();
    assert_eq!(
        action.target().to_string(),
        "vault:cluster/http://a:8200,http://b:8200"
    );
    let action = build(
        "vault.check_transit_key",
        json!({"address": "http://v:8200", "mount": "transit", "key": "payments", "namespace": "admin/mint/"}),
    )
    .unwrap();
    assert!(!action.mutates());
    assert_eq!(
        action.target().to_string(),
        "vault:transit-key/http://v:8200/admin/mint/transit/payments"
    );
}
