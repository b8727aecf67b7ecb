//! # drkit-vault
//!
//! Vault (and OpenBao) recovery actions for drkit, over [`vaultrs`](https://docs.rs/vaultrs)
//! (rustls only) wrapped behind a narrow port trait. No AWS dependency.
//!
//! | kind | what it does |
//! |---|---|
//! | `vault.unseal` | submits Shamir key shares to a server or to every node of an HA cluster (no more than needed), waits until the cluster has an active node; auto-unseal servers get no shares |
//! | `vault.check_health` | initialised / sealed / standby / version; passes when active |
//! | `vault.raft_snapshot_save` | saves a raft snapshot to a file |
//! | `vault.raft_snapshot_restore` | restores a raft snapshot file (`force` for another cluster's) |
//! | `vault.verify_transit_backup` | backs a transit key up, restores it as a scratch key, round-trips a value, deletes the scratch key |
//! | `vault.check_transit_key` | reads a transit key's configuration: exists, not deletable, type, versions it decrypts |
//!
//! `address` defaults to `VAULT_ADDR`; `token` is a [`SecretRef`](drkit_core::SecretRef)
//! defaulting to `env:VAULT_TOKEN`; `namespace` (Vault Enterprise / HCP) is sent as
//! `X-Vault-Namespace` to the transit endpoints only (the `sys/` ones are root-namespace
//! endpoints), defaulting there to `VAULT_NAMESPACE`. Unseal keys, tokens and key backups are
//! [`SecretString`](drkit_core::SecretString)s: never in logs, outputs, errors or `Debug`.
//!
//! ## Parts
//!
//! Like the provider crates: the port [`VaultApi`] (`MockVaultApi` with the `mock` feature),
//! the adapter [`VaultrsApi`] (which wraps vaultrs's quirks against OpenBao: its own
//! `sys::health` cannot read OpenBao's answer), one type per action kind written against the
//! port ([`drkit_core::ActionKind`]), and [`register`] / [`register_with`] (a
//! [`PortFactory`](drkit_core::PortFactory) of the port).
//!
//! ```no_run
//! use drkit_core::registry::{ActionSpec, Registry};
//! use drkit_core::Context;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut registry = Registry::new();
//! drkit_vault::register(&mut registry)?;
//! let unseal = registry.build(&ActionSpec::new("unseal", "vault.unseal", serde_json::json!({
//!     "address": "https://vault-1.example:8200",
//!     "keys": ["file:/run/secrets/unseal-1", "file:/run/secrets/unseal-2"],
//!     "threshold": 2,
//! })))?;
//! unseal.execute(&Context::new()).await?;
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod common;
mod health;
mod port;
mod register;
mod snapshot;
mod transit;
mod transit_key;
mod unseal;

pub use client::VaultrsApi;
pub use health::{CheckHealth, CheckHealthParams};
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use port::MockVaultApi;
pub use port::{Health, Leader, SealStatus, TransitKey, VaultApi, VaultConn};
pub use register::{DESCRIPTORS, register, register_with};
pub use snapshot::{SnapshotRestore, SnapshotRestoreParams, SnapshotSave, SnapshotSaveParams};
pub use transit::{TransitBackupParams, VerifyTransitBackup};
pub use transit_key::{CheckTransitKey, CheckTransitKeyParams};
pub use unseal::{DEFAULT_ACTIVE_TIMEOUT, Unseal, UnsealParams};

#[cfg(test)]
mod actions_tests;
#[cfg(test)]
mod behaviour_tests;
#[cfg(test)]
mod hashicorp_tests;
