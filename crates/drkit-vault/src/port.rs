//! The port: the Vault operations drkit uses, in drkit's own plain types.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::{ActionError, SecretString};

/// Where a Vault (or OpenBao) server is and, for calls that need one, the token to use.
///
/// Its `Debug` shows the address only: the token is a [`SecretString`] and never shown.
///
/// Every call made with it is bounded by its time-out ([`VaultConn::DEFAULT_TIMEOUT`] unless
/// set): a server that accepts the connection and never answers fails the call with
/// [`drkit_core::ErrorKind::Timeout`].
#[derive(Clone)]
pub struct VaultConn {
    address: String,
    token: Option<SecretString>,
    timeout: Duration,
    namespace: Option<String>,
}

impl fmt::Debug for VaultConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultConn")
            .field("address", &self.address)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("timeout", &self.timeout)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl VaultConn {
    /// The bound of one call when none is set: 30 s, from connecting to the last byte of the
    /// answer (the actions take `VAULT_CLIENT_TIMEOUT` when it is set).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// The server at `address` (e.g. `https://vault.example:8200`), without a token, calls
    /// bounded by [`VaultConn::DEFAULT_TIMEOUT`].
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            token: None,
            timeout: Self::DEFAULT_TIMEOUT,
            namespace: None,
        }
    }

    /// The same server, each call bounded by `timeout` (from connecting to the last byte of
    /// the answer).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The bound of one call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same server, calling with `token`.
    #[must_use]
    pub fn with_token(mut self, token: SecretString) -> Self {
        self.token = Some(token);
        self
    }

    /// The address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The token, if any.
    pub fn token(&self) -> Option<&SecretString> {
        self.token.as_ref()
    }

    /// The same server, calls in the Vault Enterprise / HCP namespace `namespace` (e.g.
    /// `admin/payments`): the adapter sends it as the `X-Vault-Namespace` header, to the
    /// namespaced endpoints only (transit); the `sys/` endpoints drkit calls are root-namespace
    /// endpoints and never get it (see [`VaultApi`]).
    #[must_use]
    pub fn with_namespace(mut self, namespace: Option<String>) -> Self {
        self.namespace = namespace;
        self
    }

    /// The namespace, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
}

/// `GET /v1/sys/seal-status`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SealStatus {
    /// Whether the server has been initialised.
    pub initialized: bool,
    /// Whether it is sealed.
    pub sealed: bool,
    /// How many shares unseal it (`t`).
    pub threshold: u32,
    /// How many shares there are (`n`).
    pub shares: u32,
    /// How many shares have been accepted so far in the current unseal attempt.
    pub progress: u32,
    /// The server version.
    pub version: String,
    /// The seal's `type`: `shamir`, or an auto-unseal (`awskms`, `transit`, `pkcs11`,
    /// `gcpckms`, `azurekeyvault`, `static`, ...).
    pub seal_type: String,
    /// `recovery_seal`: the shares (`t` of `n`) are recovery keys of an auto-unseal, which do
    /// not unseal the server.
    pub recovery_seal: bool,
    /// `migration`: a seal migration is in progress (shares must be sent with `migrate`).
    pub migration: bool,
    /// `storage_type`, e.g. `raft` (Vault 1.8+, OpenBao); empty when not said.
    pub storage_type: String,
}

impl SealStatus {
    /// A seal status.
    pub fn new(
        initialized: bool,
        sealed: bool,
        threshold: u32,
        shares: u32,
        progress: u32,
    ) -> Self {
        Self {
            initialized,
            sealed,
            threshold,
            shares,
            progress,
            version: String::new(),
            seal_type: "shamir".to_owned(),
            recovery_seal: false,
            migration: false,
            storage_type: String::new(),
        }
    }

    /// The same status, with `version`.
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// The same status, of an auto-unseal server of type `seal_type` (`recovery_seal`: its
    /// shares are recovery keys).
    #[must_use]
    pub fn auto_unseal(mut self, seal_type: impl Into<String>) -> Self {
        self.seal_type = seal_type.into();
        self.recovery_seal = true;
        self
    }

    /// The same status, with `storage_type`.
    #[must_use]
    pub fn storage(mut self, storage_type: impl Into<String>) -> Self {
        self.storage_type = storage_type.into();
        self
    }

    /// Whether the server unseals itself (KMS, transit, HSM, static key...): its shares, if
    /// any, are recovery keys and must never be sent to `sys/unseal`.
    pub fn is_auto_unseal(&self) -> bool {
        self.recovery_seal || !matches!(self.seal_type.as_str(), "" | "shamir")
    }
}

/// `GET /v1/sys/health`, whatever the state (drkit asks for HTTP 200 in every state and reads
/// the body).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Whether the server has been initialised.
    pub initialized: bool,
    /// Whether it is sealed.
    pub sealed: bool,
    /// Whether it is a standby (another node is active).
    pub standby: bool,
    /// Whether it is a performance standby (Vault Enterprise; OpenBao does not say).
    pub performance_standby: Option<bool>,
    /// The server version.
    pub version: String,
    /// The cluster name, once unsealed.
    pub cluster_name: Option<String>,
    /// `ha_connection_healthy` (Vault 1.19+): whether a standby's heartbeats reach the active
    /// node; `Some(false)` is the state Vault answers 474 for. OpenBao does not say.
    pub ha_connection_healthy: Option<bool>,
    /// `removed_from_cluster` (Vault 1.19+; 530): the node was removed from its raft cluster.
    pub removed_from_cluster: Option<bool>,
}

impl Health {
    /// A health answer.
    pub fn new(initialized: bool, sealed: bool, standby: bool, version: impl Into<String>) -> Self {
        Self {
            initialized,
            sealed,
            standby,
            performance_standby: None,
            version: version.into(),
            cluster_name: None,
            ha_connection_healthy: None,
            removed_from_cluster: None,
        }
    }

    /// `uninitialized`, `removed`, `sealed`, `standby`, `performance_standby` or `active`.
    pub fn state(&self) -> &'static str {
        if !self.initialized {
            "uninitialized"
        } else if self.removed_from_cluster == Some(true) {
            "removed"
        } else if self.sealed {
            "sealed"
        } else if self.performance_standby == Some(true) {
            "performance_standby"
        } else if self.standby {
            "standby"
        } else {
            "active"
        }
    }

    /// Initialised, unsealed and not a standby.
    pub fn is_active(&self) -> bool {
        self.state() == "active"
    }

    /// Initialised, unsealed, and active or a standby (of either kind).
    pub fn is_unsealed(&self) -> bool {
        matches!(self.state(), "active" | "standby" | "performance_standby")
    }
}

/// `GET /v1/sys/leader`: the node's view of its HA cluster's active node.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Leader {
    /// Whether the storage offers HA (raft, consul...).
    pub ha_enabled: bool,
    /// Whether this node is the active one.
    pub is_self: bool,
    /// The active node's API address as this node knows it; empty when there is none (a raft
    /// cluster without a quorum has none) or when the listener redacts addresses.
    pub leader_address: String,
}

impl Leader {
    /// A node's answer: HA enabled, `is_self`, the active node's `leader_address`.
    pub fn new(is_self: bool, leader_address: impl Into<String>) -> Self {
        Self {
            ha_enabled: true,
            is_self,
            leader_address: leader_address.into(),
        }
    }

    /// Whether this node knows of an active node (itself or another).
    pub fn has_leader(&self) -> bool {
        self.is_self || !self.leader_address.is_empty()
    }
}

/// What `GET /v1/<mount>/keys/<name>` says about a transit key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransitKey {
    /// The key name.
    pub name: String,
    /// Its type, e.g. `aes256-gcm96`.
    pub key_type: String,
    /// Its newest version.
    pub latest_version: u64,
    /// The oldest version whose ciphertexts it still decrypts (`min_decryption_version`).
    pub min_decryption_version: u64,
    /// The oldest version still held (`min_available_version`; 0 when no version was trimmed
    /// or the server does not say).
    pub min_available_version: u64,
    /// Whether it may be exported.
    pub exportable: bool,
    /// Whether a plaintext backup may be taken (needed, with `exportable`, for a backup).
    pub allow_plaintext_backup: bool,
    /// Whether it may be deleted.
    pub deletion_allowed: bool,
}

impl TransitKey {
    /// A key description.
    pub fn new(name: impl Into<String>, key_type: impl Into<String>, latest_version: u64) -> Self {
        Self {
            name: name.into(),
            key_type: key_type.into(),
            latest_version,
            min_decryption_version: 1,
            min_available_version: 0,
            exportable: false,
            allow_plaintext_backup: false,
            deletion_allowed: false,
        }
    }

    /// The same key, backup allowed (`exportable` and `allow_plaintext_backup`).
    #[must_use]
    pub fn backup_allowed(mut self) -> Self {
        self.exportable = true;
        self.allow_plaintext_backup = true;
        self
    }
}

/// The Vault operations drkit's actions use. Implemented by [`crate::VaultrsApi`] over
/// `vaultrs`, and by `MockVaultApi` (feature `mock`) in tests.
///
/// Errors are classified [`ActionError`]s with the HTTP status as their code: connection
/// failures and 5xx -> `Unavailable`, 429 -> `Throttled` (all retryable); 400 -> `InvalidInput`,
/// 403 -> `AccessDenied`, 404 -> `NotFound`. They never hold a key, a token or a key backup.
///
/// **Namespaces.** The connection's namespace ([`VaultConn::with_namespace`]) goes only to the
/// transit calls. `sys/unseal`, `sys/health` and `sys/storage/raft/*` are root-namespace-only
/// endpoints in Vault Enterprise, `sys/seal-status` and `sys/leader` root or administrative
/// namespace only (HashiCorp's API docs, "Restricted endpoint"): they never get it.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait VaultApi: fmt::Debug + Send + Sync {
    /// `GET /v1/sys/seal-status`.
    async fn seal_status(&self, conn: &VaultConn) -> Result<SealStatus, ActionError>;

    /// `PUT /v1/sys/unseal` with one key share; the status after it. A wrong share is accepted
    /// until the threshold is reached; then the server answers 400 (`InvalidInput`) and resets
    /// its progress.
    async fn submit_unseal_share(
        &self,
        conn: &VaultConn,
        share: &SecretString,
    ) -> Result<SealStatus, ActionError>;

    /// `GET /v1/sys/health`, read in every state.
    async fn health(&self, conn: &VaultConn) -> Result<Health, ActionError>;

    /// `GET /v1/sys/leader` (of an unsealed node; a sealed one answers an error).
    async fn leader(&self, conn: &VaultConn) -> Result<Leader, ActionError>;

    /// `GET /v1/sys/storage/raft/snapshot`: the snapshot (a gzip archive).
    async fn raft_snapshot_save(&self, conn: &VaultConn) -> Result<Vec<u8>, ActionError>;

    /// `POST /v1/sys/storage/raft/snapshot` (or `snapshot-force` when `force`).
    async fn raft_snapshot_restore(
        &self,
        conn: &VaultConn,
        snapshot: Vec<u8>,
        force: bool,
    ) -> Result<(), ActionError>;

    /// `GET /v1/<mount>/keys/<name>`; `NotFound` when there is no such key.
    async fn transit_read_key(
        &self,
        conn: &VaultConn,
        mount: &str,
        name: &str,
    ) -> Result<TransitKey, ActionError>;

    /// `GET /v1/<mount>/backup/<name>`: the backup, which holds the key material.
    async fn transit_backup_key(
        &self,
        conn: &VaultConn,
        mount: &str,
        name: &str,
    ) -> Result<SecretString, ActionError>;

    /// `POST /v1/<mount>/restore/<name>`: restores `backup` under `name`.
    async fn transit_restore_key(
        &self,
        conn: &VaultConn,
        mount: &str,
        name: &str,
        backup: &SecretString,
    ) -> Result<(), ActionError>;

    /// `POST /v1/<mount>/encrypt/<name>`: the ciphertext (`vault:vN:...`) of the base64
    /// `plaintext`.
    async fn transit_encrypt(
        &self,
        conn: &VaultConn,
        mount: &str,
        name: &str,
        plaintext: &str,
    ) -> Result<String, ActionError>;

    /// `POST /v1/<mount>/decrypt/<name>`: the base64 plaintext of `ciphertext`.
    async fn transit_decrypt(
        &self,
        conn: &VaultConn,
        mount: &str,
        name: &str,
        ciphertext: &str,
    ) -> Result<String, ActionError>;

    /// `POST /v1/<mount>/keys/<name>/config {deletion_allowed: true}`, then
    /// `DELETE /v1/<mount>/keys/<name>`.
    async fn transit_delete_key(
        &self,
        conn: &VaultConn,
        mount: &str,
        name: &str,
    ) -> Result<(), ActionError>;
}
