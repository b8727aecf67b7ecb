//! Registration of the Vault actions in a [`Registry`].

use std::sync::Arc;

use drkit_core::ActionRef;
use drkit_core::registry::{
    ActionDescriptor, ActionSpec, BuildError, DuplicateKind, OutputDoc, ParamDoc, Registry,
    decode_params,
};

use crate::client::VaultrsApi;
use crate::common::resolve_address;
use crate::health::{self, CheckHealth, CheckHealthParams};
use crate::port::VaultApi;
use crate::snapshot::{
    self, SnapshotRestore, SnapshotRestoreParams, SnapshotSave, SnapshotSaveParams,
};
use crate::transit::{self, TransitBackupParams, VerifyTransitBackup};
use crate::unseal::{self, Unseal, UnsealParams};

const ADDRESS: ParamDoc = ParamDoc::optional(
    "address",
    "string",
    "the server, http:// or https:// (e.g. https://vault-1.example:8200); default: VAULT_ADDR",
);
const TOKEN: ParamDoc = ParamDoc::optional(
    "token",
    "secret reference",
    "where the token is read from (env:NAME, file:/path); default: env:VAULT_TOKEN",
);
const ALLOW_STANDBY: ParamDoc = ParamDoc::optional(
    "allow_standby",
    "boolean",
    "an unsealed standby passes too (HA clusters); default false: only an active node",
);

const fn out(name: &'static str, doc: &'static str) -> OutputDoc {
    OutputDoc { name, doc }
}

/// `vault.unseal`.
pub const UNSEAL: ActionDescriptor = ActionDescriptor {
    kind: unseal::KIND,
    summary: "Unseal a Vault/OpenBao server with Shamir key shares (no more than needed), then wait until it is active",
    mutates: true,
    iam_actions: &[],
    params: &[
        ADDRESS,
        ParamDoc::required(
            "keys",
            "list of secret references",
            "where the key shares are read from, in order (env:NAME, file:/path); never the shares themselves",
        ),
        ParamDoc::optional(
            "threshold",
            "integer",
            "the threshold the runbook expects; blocked when the server says otherwise",
        ),
        ALLOW_STANDBY,
    ],
    outputs: &[
        out("sealed", "false"),
        out("state", "active (or standby with allow_standby)"),
        out("threshold", "shares needed to unseal"),
        out("shares", "shares in total"),
        out(
            "shares_submitted",
            "shares this step submitted (0 when already unsealed)",
        ),
        out("version", "the server version"),
    ],
};

/// `vault.check_health`.
pub const CHECK_HEALTH: ActionDescriptor = ActionDescriptor {
    kind: health::KIND,
    summary: "Read a Vault/OpenBao server's health: initialised, sealed, standby, version; passes when active",
    mutates: false,
    iam_actions: &[],
    params: &[ADDRESS, ALLOW_STANDBY],
    outputs: &[
        out(
            "state",
            "active, standby, performance_standby, sealed or uninitialized",
        ),
        out("initialized", "boolean"),
        out("sealed", "boolean"),
        out("standby", "boolean"),
        out("version", "the server version"),
        out("cluster_name", "the cluster name (when unsealed)"),
    ],
};

/// `vault.raft_snapshot_save`.
pub const RAFT_SNAPSHOT_SAVE: ActionDescriptor = ActionDescriptor {
    kind: snapshot::SAVE_KIND,
    summary: "Save a raft snapshot of a Vault/OpenBao server (integrated storage) to a file",
    mutates: true,
    iam_actions: &[],
    params: &[
        ADDRESS,
        ParamDoc::required(
            "path",
            "string",
            "the file to write (written as <path>.partial, then renamed)",
        ),
        ParamDoc::optional(
            "overwrite",
            "boolean",
            "replace an existing file; default false (blocked)",
        ),
        TOKEN,
    ],
    outputs: &[out("path", "the snapshot file"), out("bytes", "its size")],
};

/// `vault.raft_snapshot_restore`.
pub const RAFT_SNAPSHOT_RESTORE: ActionDescriptor = ActionDescriptor {
    kind: snapshot::RESTORE_KIND,
    summary: "Restore a raft snapshot file into a Vault/OpenBao server and wait until it answers",
    mutates: true,
    iam_actions: &[],
    params: &[
        ADDRESS,
        ParamDoc::required("path", "string", "the snapshot file"),
        ParamDoc::optional(
            "force",
            "boolean",
            "restore another cluster's snapshot (snapshot-force); that cluster's keys then unseal it",
        ),
        TOKEN,
    ],
    outputs: &[
        out("path", "the snapshot file"),
        out("bytes", "its size"),
        out("forced", "whether snapshot-force was used"),
        out("state", "the server state after the restore"),
        out(
            "sealed",
            "true when it must now be unsealed with the snapshot cluster's keys",
        ),
    ],
};

/// `vault.verify_transit_backup`.
pub const VERIFY_TRANSIT_BACKUP: ActionDescriptor = ActionDescriptor {
    kind: transit::KIND,
    summary: "Prove a transit key's backup restores: back up, restore as a scratch key, encrypt/decrypt across both, delete the scratch key",
    mutates: true,
    iam_actions: &[],
    params: &[
        ADDRESS,
        ParamDoc::required("mount", "string", "the transit mount, e.g. transit"),
        ParamDoc::required("key", "string", "the key name"),
        TOKEN,
    ],
    outputs: &[
        out("key", "the key verified"),
        out("mount", "its mount"),
        out("scratch_key", "the scratch key used (deleted)"),
        out("key_type", "e.g. aes256-gcm96"),
        out("latest_version", "the key's newest version"),
        out(
            "ciphertext_version",
            "the key version of the test ciphertext, e.g. v1",
        ),
    ],
};

/// Registers every Vault action over [`VaultrsApi`].
pub fn register(registry: &mut Registry) -> Result<(), DuplicateKind> {
    register_with(registry, Arc::new(VaultrsApi::new()))
}

/// Registers every Vault action with the given port (e.g. a mock in the embedder's tests).
pub fn register_with(registry: &mut Registry, api: Arc<dyn VaultApi>) -> Result<(), DuplicateKind> {
    with_vault(
        registry,
        UNSEAL,
        Arc::clone(&api),
        |p: &UnsealParams| p.address.as_deref(),
        |spec, p| {
            if p.keys.is_empty() {
                return Err(BuildError::invalid(
                    spec,
                    Some("keys"),
                    "give at least one key share reference",
                ));
            }
            if p.threshold == Some(0) {
                return Err(BuildError::invalid(
                    spec,
                    Some("threshold"),
                    "must be at least 1",
                ));
            }
            Ok(())
        },
        |id, address, p, api| Arc::new(Unseal::new(id, address, p, api)),
    )?;
    with_vault(
        registry,
        CHECK_HEALTH,
        Arc::clone(&api),
        |p: &CheckHealthParams| p.address.as_deref(),
        |_, _| Ok(()),
        |id, address, p, api| Arc::new(CheckHealth::new(id, address, p, api)),
    )?;
    with_vault(
        registry,
        RAFT_SNAPSHOT_SAVE,
        Arc::clone(&api),
        |p: &SnapshotSaveParams| p.address.as_deref(),
        |spec, p| non_empty_path(spec, &p.path),
        |id, address, p, api| Arc::new(SnapshotSave::new(id, address, p, api)),
    )?;
    with_vault(
        registry,
        RAFT_SNAPSHOT_RESTORE,
        Arc::clone(&api),
        |p: &SnapshotRestoreParams| p.address.as_deref(),
        |spec, p| non_empty_path(spec, &p.path),
        |id, address, p, api| Arc::new(SnapshotRestore::new(id, address, p, api)),
    )?;
    with_vault(
        registry,
        VERIFY_TRANSIT_BACKUP,
        api,
        |p: &TransitBackupParams| p.address.as_deref(),
        |spec, p| {
            validate_name(spec, "mount", &p.mount, true)?;
            validate_name(spec, "key", &p.key, false)
        },
        |id, address, p, api| Arc::new(VerifyTransitBackup::new(id, address, p, api)),
    )
}

/// Registers `descriptor`: decode the parameters as `P`, resolve the address (parameter or
/// `VAULT_ADDR`), `validate` (before any call), then `build` the action over `api`.
fn with_vault<P: serde::de::DeserializeOwned + 'static>(
    registry: &mut Registry,
    descriptor: ActionDescriptor,
    api: Arc<dyn VaultApi>,
    address_of: fn(&P) -> Option<&str>,
    validate: fn(&ActionSpec, &P) -> Result<(), BuildError>,
    build: fn(String, String, P, Arc<dyn VaultApi>) -> ActionRef,
) -> Result<(), DuplicateKind> {
    registry.register_fn(descriptor, move |spec| {
        let params: P = decode_params(spec)?;
        let address = address(spec, address_of(&params))?;
        validate(spec, &params)?;
        Ok(build(spec.id.clone(), address, params, Arc::clone(&api)))
    })
}

fn non_empty_path(spec: &ActionSpec, path: &std::path::Path) -> Result<(), BuildError> {
    if path.as_os_str().is_empty() {
        return Err(BuildError::invalid(spec, Some("path"), "must not be empty"));
    }
    Ok(())
}

fn address(spec: &ActionSpec, param: Option<&str>) -> Result<String, BuildError> {
    resolve_address(param, |name| std::env::var(name).ok())
        .map_err(|why| BuildError::invalid(spec, Some("address"), why))
}

/// Transit mount paths and key names: letters, digits, `-`, `_`, `.` (and `/` in a mount).
fn validate_name(
    spec: &ActionSpec,
    param: &str,
    value: &str,
    slash: bool,
) -> Result<(), BuildError> {
    let trimmed = value.trim_matches('/');
    let ok = !trimmed.is_empty()
        && !trimmed
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        && trimmed.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') || (slash && c == '/')
        });
    if ok {
        Ok(())
    } else {
        Err(BuildError::invalid(
            spec,
            Some(param),
            format!(
                "`{value}` is not a valid name (letters, digits, `-`, `_`, `.`{})",
                if slash { ", `/`" } else { "" }
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::port::MockVaultApi;

    fn build(kind: &str, params: serde_json::Value) -> Result<ActionRef, BuildError> {
        let mut registry = Registry::new();
        register_with(&mut registry, Arc::new(MockVaultApi::new())).unwrap();
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
}

#[cfg(test)]
mod docs_tests {
    /// docs/actions/vault.md documents every action of this crate: row, parameters, outputs,
    /// IAM actions and a runbook example.
    #[test]
    fn the_actions_page_documents_every_action() {
        drkit_core::registry::documented(
            "docs/actions/vault.md",
            include_str!("../../../docs/actions/vault.md"),
            &[
                super::UNSEAL,
                super::CHECK_HEALTH,
                super::RAFT_SNAPSHOT_SAVE,
                super::RAFT_SNAPSHOT_RESTORE,
                super::VERIFY_TRANSIT_BACKUP,
            ],
        )
        .unwrap();
    }
}
