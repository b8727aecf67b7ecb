//! `vault.check_transit_key`: a read-only check of a transit key's configuration, for keys
//! that cannot (and should not) be backed up.

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    ActionError, ActionKind, Base, Context, ErrorKind, Finding, HasBase, Outputs, Params,
    PortFactory, Probe, SecretRef, StepSpec,
};
use serde::Deserialize;

use crate::port::{TransitKey, VaultApi, VaultConn};
use crate::transit::{key_target, validate_key_ref, with_token};

/// The parameters of `vault.check_transit_key`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckTransitKeyParams {
    /// the server, http:// or https:// (e.g. https://vault-1.example:8200); default: VAULT_ADDR
    #[serde(default)]
    pub address: Option<String>,
    /// the transit mount, e.g. transit
    pub mount: String,
    /// the key name
    pub key: String,
    /// where the token is read from (env:NAME, file:/path); default: env:VAULT_TOKEN
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// Vault Enterprise/HCP namespace of the mount, e.g. admin/payments (sent as
    /// X-Vault-Namespace); default: VAULT_NAMESPACE, else the root namespace
    #[serde(default)]
    pub namespace: Option<String>,
    /// the type the key must have, e.g. aes256-gcm96; default: any
    #[serde(default)]
    pub key_type: Option<String>,
    /// the oldest key version whose ciphertexts must still decrypt: fails when
    /// min_decryption_version (or the oldest version kept) is above it; default: not checked
    #[serde(default)]
    pub decrypts_from_version: Option<u64>,
}

impl CheckTransitKeyParams {
    /// Checks key `key` of the transit engine at `mount`.
    pub fn new(mount: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            address: None,
            mount: mount.into(),
            key: key.into(),
            token: None,
            namespace: None,
            key_type: None,
            decrypts_from_version: None,
        }
    }
}

/// Reads a transit key's configuration (`GET <mount>/keys/<key>`, read-only: the key material
/// never leaves Vault) and passes when the key exists, cannot be deleted
/// (`deletion_allowed = false`), has the expected `key_type` (when given) and still decrypts
/// ciphertexts from `decrypts_from_version` on (when given). For keys that must never be
/// exported, such as keys of payment data, instead of `vault.verify_transit_backup`.
///
/// A [`Probe`]: `check` answers `Done { outputs }` when it passes, `Blocked { reason }` when
/// not (a missing key too); `execute` and `verify` read again and fail with
/// `PostconditionFailed` when it does not pass.
#[derive(Debug, HasBase)]
pub struct CheckTransitKey {
    base: Base<Self>,
    conn: VaultConn,
}

impl ActionKind for CheckTransitKey {
    const KIND: &'static str = "vault.check_transit_key";
    const SUMMARY: &'static str = "Check a transit key's configuration read-only: it exists, cannot be deleted, its type and the versions it decrypts";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("key", "the key checked"),
        OutputDoc::new("mount", "its mount"),
        OutputDoc::new("key_type", "e.g. aes256-gcm96"),
        OutputDoc::new("latest_version", "the key's newest version"),
        OutputDoc::new(
            "min_decryption_version",
            "the oldest version whose ciphertexts it decrypts",
        ),
        OutputDoc::new(
            "min_available_version",
            "the oldest version kept (0: none trimmed)",
        ),
        OutputDoc::new("deletion_allowed", "boolean (passes when false)"),
        OutputDoc::new("exportable", "boolean (reported only)"),
        OutputDoc::new("allow_plaintext_backup", "boolean (reported only)"),
    ];
    type Params = CheckTransitKeyParams;
    type Port = dyn VaultApi;
    type Ports = PortFactory<dyn VaultApi>;

    fn validate(p: &CheckTransitKeyParams) -> Result<(), ParamError> {
        validate_key_ref(
            p.address.as_deref(),
            &p.mount,
            &p.key,
            p.namespace.as_deref(),
        )?;
        if p.key_type.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ParamError::new(
                "key_type",
                "must not be empty (leave it out to accept any type)",
            ));
        }
        if p.decrypts_from_version == Some(0) {
            return Err(ParamError::new(
                "decrypts_from_version",
                "key versions start at 1",
            ));
        }
        Ok(())
    }

    fn build(
        step: StepSpec<CheckTransitKeyParams>,
        ports: &Self::Ports,
    ) -> Result<Self, ParamError> {
        let p = &step.params;
        let (target, conn) = key_target(
            p.address.as_deref(),
            &p.mount,
            &p.key,
            p.namespace.as_deref(),
        )?;
        Ok(Self {
            base: step.into_base(target, ports),
            conn,
        })
    }
}

impl CheckTransitKey {
    /// Why the key does not pass, if it does not.
    fn problems(&self, key: &TransitKey) -> Vec<String> {
        let p = &self.base.params;
        let mut problems = Vec::new();
        if key.deletion_allowed {
            problems.push(
                "deletion_allowed = true: the key (and every ciphertext made with it) can be \
                 deleted; set it back with POST <mount>/keys/<key>/config {\"deletion_allowed\": \
                 false}"
                    .to_owned(),
            );
        }
        if let Some(expected) = &p.key_type
            && expected.trim() != key.key_type
        {
            problems.push(format!(
                "its type is {}, the runbook expects {}",
                key.key_type,
                expected.trim()
            ));
        }
        if let Some(from) = p.decrypts_from_version {
            let oldest = key.min_decryption_version.max(key.min_available_version);
            if oldest > from {
                problems.push(format!(
                    "it decrypts ciphertexts from version {oldest} on (min_decryption_version {}, \
                     min_available_version {}), the runbook needs version {from} on",
                    key.min_decryption_version, key.min_available_version
                ));
            }
            if from > key.latest_version {
                problems.push(format!(
                    "its newest version is {}, the runbook expects version {from} to exist",
                    key.latest_version
                ));
            }
        }
        problems
    }
}

#[async_trait]
impl Probe for CheckTransitKey {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let p = &self.base.params;
        let conn = with_token(&self.conn, p.token.as_ref())?;
        let key = ctx
            .bounded(self.base.port.transit_read_key(&conn, &p.mount, &p.key))
            .await
            .map_err(|e| {
                if e.kind() == ErrorKind::NotFound {
                    ActionError::new(
                        ErrorKind::NotFound,
                        format!("transit key {}/{} does not exist", p.mount, p.key),
                    )
                    .with_code(e.code().unwrap_or("404").to_owned())
                } else {
                    e
                }
            })?;
        let outputs = Outputs::new()
            .with("key", p.key.clone())
            .with("mount", p.mount.clone())
            .with("key_type", key.key_type.clone())
            .with("latest_version", key.latest_version)
            .with("min_decryption_version", key.min_decryption_version)
            .with("min_available_version", key.min_available_version)
            .with("deletion_allowed", key.deletion_allowed)
            .with("exportable", key.exportable)
            .with("allow_plaintext_backup", key.allow_plaintext_backup);
        let seen = format!(
            "transit key {}/{}: {}, versions {}..{} decryptable, deletion_allowed = {}",
            p.mount,
            p.key,
            key.key_type,
            key.min_decryption_version.max(key.min_available_version),
            key.latest_version,
            key.deletion_allowed
        );
        let problems = self.problems(&key);
        Ok(if problems.is_empty() {
            Finding::pass(seen, outputs)
        } else {
            Finding::fail(format!("{seen}: {}", problems.join("; ")), outputs)
        })
    }
}

#[cfg(test)]
#[path = "transit_key_tests.rs"]
mod tests;
