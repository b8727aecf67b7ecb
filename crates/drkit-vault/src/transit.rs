//! `vault.verify_transit_backup`: proof that a transit key's backup really restores.

use std::hash::{BuildHasher, Hasher};

use async_trait::async_trait;
use drkit_core::Memo;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, SecretRef, StepSpec,
};
use serde::Deserialize;

use crate::common::{default_token, step_address, step_conn, step_namespace};
use crate::port::{TransitKey, VaultApi, VaultConn};

/// The parameters of `vault.verify_transit_backup`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TransitBackupParams {
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
}

/// Verifies that a transit key's backup restores: backs the key up, restores the backup under a
/// scratch name, encrypts a random value with the original key and decrypts it with the restored
/// copy, then deletes the scratch key (also when the round trip fails).
///
/// - `check`: this step verified the backup -> done (with the outputs of that verification);
///   the key is missing -> blocked; its backup is not allowed (`exportable` and
///   `allow_plaintext_backup` must both be true, as keys of payment data usually are not) ->
///   blocked, pointing to the read-only `vault.check_transit_key`; otherwise ready.
/// - `execute`: the round trip; fails with `PostconditionFailed` when the restored copy cannot
///   decrypt what the original encrypted. Refused in a dry run (it creates a scratch key).
/// - `verify`: the original key is still there and the scratch key is gone.
///
/// The backup holds the key material: it is kept in a `SecretString`, never written anywhere,
/// and dropped at the end. Outputs: `key`, `mount`, `scratch_key`, `key_type`,
/// `latest_version`, `ciphertext_version`.
#[derive(Debug, HasBase)]
pub struct VerifyTransitBackup {
    base: Base<Self>,
    conn: VaultConn,
    scratch: Memo<String>,
    verified: Memo<Outputs>,
}

impl ActionKind for VerifyTransitBackup {
    const KIND: &'static str = "vault.verify_transit_backup";
    const SUMMARY: &'static str = "Prove a transit key's backup restores: back up, restore as a scratch key, encrypt/decrypt across both, delete the scratch key";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("key", "the key verified"),
        OutputDoc::new("mount", "its mount"),
        OutputDoc::new("scratch_key", "the scratch key used (deleted)"),
        OutputDoc::new("key_type", "e.g. aes256-gcm96"),
        OutputDoc::new("latest_version", "the key's newest version"),
        OutputDoc::new(
            "ciphertext_version",
            "the key version of the test ciphertext, e.g. v1",
        ),
    ];
    type Params = TransitBackupParams;
    type Port = dyn VaultApi;
    type Ports = PortFactory<dyn VaultApi>;

    fn validate(p: &TransitBackupParams) -> Result<(), ParamError> {
        validate_key_ref(
            p.address.as_deref(),
            &p.mount,
            &p.key,
            p.namespace.as_deref(),
        )
    }

    fn build(step: StepSpec<TransitBackupParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
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
            scratch: Memo::default(),
            verified: Memo::default(),
        })
    }
}

/// Checks the parameters that name a transit key: address, mount, key, namespace.
pub(crate) fn validate_key_ref(
    address: Option<&str>,
    mount: &str,
    key: &str,
    namespace: Option<&str>,
) -> Result<(), ParamError> {
    step_address(address)?;
    validate_name("mount", mount, true)?;
    validate_name("key", key, false)?;
    step_namespace(namespace).map(drop)
}

/// The resource (`vault:transit-key/<address>/[<namespace>/]<mount>/<key>`) and the connection
/// (without its token) of a step on a transit key.
pub(crate) fn key_target(
    address: Option<&str>,
    mount: &str,
    key: &str,
    namespace: Option<&str>,
) -> Result<(Resource, VaultConn), ParamError> {
    let address = step_address(address)?;
    let namespace = step_namespace(namespace)?;
    let prefix = namespace
        .as_deref()
        .map(|ns| format!("{ns}/"))
        .unwrap_or_default();
    let target = Resource::new(
        "vault",
        "transit-key",
        format!("{address}/{prefix}{}/{key}", mount.trim_matches('/')),
    );
    Ok((target, step_conn(address)?.with_namespace(namespace)))
}

/// The connection with the token `token` refers to (default `env:VAULT_TOKEN`), resolved now.
pub(crate) fn with_token(
    conn: &VaultConn,
    token: Option<&SecretRef>,
) -> Result<VaultConn, ActionError> {
    let token = token.cloned().unwrap_or_else(default_token).resolve()?;
    Ok(conn.clone().with_token(token))
}

/// Transit mount paths and key names: letters, digits, `-`, `_`, `.` (and `/` in a mount).
fn validate_name(param: &str, value: &str, slash: bool) -> Result<(), ParamError> {
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
        Err(ParamError::new(
            param,
            format!(
                "`{value}` is not a valid name (letters, digits, `-`, `_`, `.`{})",
                if slash { ", `/`" } else { "" }
            ),
        ))
    }
}

/// 32 random hex digits: valid base64 too, so usable as transit plaintext as is.
fn random_hex() -> String {
    let state = std::collections::hash_map::RandomState::new();
    let mut out = String::new();
    for i in 0..2u64 {
        let mut h = state.build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

impl VerifyTransitBackup {
    fn conn(&self) -> Result<VaultConn, ActionError> {
        with_token(&self.conn, self.base.params.token.as_ref())
    }

    async fn read_key(
        &self,
        ctx: &Context,
        conn: &VaultConn,
        name: &str,
    ) -> Result<TransitKey, ActionError> {
        ctx.bounded(
            self.base
                .port
                .transit_read_key(conn, &self.base.params.mount, name),
        )
        .await
    }

    fn blocker(&self, key: &TransitKey) -> Option<String> {
        if key.exportable && key.allow_plaintext_backup {
            None
        } else {
            Some(format!(
                "transit key {}/{} cannot be backed up: a backup needs exportable = true and \
                 allow_plaintext_backup = true, and it has exportable = {} and \
                 allow_plaintext_backup = {}. Both are one-way settings (once true, never false \
                 again), so keys that protect payment data usually have neither, on purpose. \
                 Check the key read-only instead with `vault.check_transit_key` (it exists, its \
                 type, latest_version, min_decryption_version, deletion_allowed = false)",
                self.base.params.mount,
                self.base.params.key,
                key.exportable,
                key.allow_plaintext_backup
            ))
        }
    }

    /// Restore, encrypt with the original, decrypt with the copy. The scratch key is deleted by
    /// the caller.
    async fn round_trip(
        &self,
        ctx: &Context,
        conn: &VaultConn,
        scratch: &str,
    ) -> Result<String, ActionError> {
        let mount = &self.base.params.mount;
        let backup = ctx
            .bounded(
                self.base
                    .port
                    .transit_backup_key(conn, mount, &self.base.params.key),
            )
            .await?;
        ctx.bounded(
            self.base
                .port
                .transit_restore_key(conn, mount, scratch, &backup),
        )
        .await?;
        drop(backup);
        let plaintext = random_hex();
        let ciphertext = ctx
            .bounded(
                self.base
                    .port
                    .transit_encrypt(conn, mount, &self.base.params.key, &plaintext),
            )
            .await?;
        let decrypted = ctx
            .bounded(
                self.base
                    .port
                    .transit_decrypt(conn, mount, scratch, &ciphertext),
            )
            .await
            .map_err(|e| {
                ActionError::postcondition(format!(
                    "the restored copy {scratch} cannot decrypt what {} encrypted: {}",
                    self.base.params.key,
                    e.message()
                ))
            })?;
        if decrypted != plaintext {
            return Err(ActionError::postcondition(format!(
                "the restored copy {scratch} decrypts what {} encrypted to a different value",
                self.base.params.key
            )));
        }
        Ok(ciphertext.split(':').nth(1).unwrap_or_default().to_owned())
    }
}

#[async_trait]
impl Act for VerifyTransitBackup {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let p = &self.base.params;
        if let Some(outputs) = self.verified.get() {
            return Ok(Check::Done {
                detail: format!(
                    "this step verified the backup of transit key {}/{}",
                    p.mount, p.key
                ),
                outputs,
            });
        }
        let conn = match self.conn() {
            Ok(c) => c,
            Err(e) => return Ok(Check::blocked(e.message().to_owned())),
        };
        let key = match self.read_key(ctx, &conn, &p.key).await {
            Ok(k) => k,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "transit key {}/{} does not exist",
                    p.mount, p.key
                )));
            }
            Err(e) => return Err(e),
        };
        if let Some(reason) = self.blocker(&key) {
            return Ok(Check::blocked(reason));
        }
        Ok(Check::ready(format!(
            "back up transit key {}/{} (version {}), restore it under a scratch name, \
             round-trip a value through both, delete the scratch key",
            p.mount, p.key, key.latest_version
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = &self.base.params;
        let conn = self.conn()?;
        let key = self.read_key(ctx, &conn, &p.key).await?;
        if let Some(reason) = self.blocker(&key) {
            return Err(ActionError::precondition(reason));
        }
        let scratch = format!("{}-drkit-verify-{}", p.key, &random_hex()[..12]);
        self.scratch.set(scratch.clone());
        let result = self.round_trip(ctx, &conn, &scratch).await;
        // The scratch key goes whatever happened (it may not exist if the restore failed).
        let cleanup = ctx
            .bounded(self.base.port.transit_delete_key(&conn, &p.mount, &scratch))
            .await;
        let ciphertext_version = result?;
        match cleanup {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ActionError::new(
                    e.kind(),
                    format!(
                        "the backup restores, but deleting the scratch key {scratch} failed: {}",
                        e.message()
                    ),
                ));
            }
        }
        ctx.progress(format!(
            "transit key {}/{} backup restored as {scratch} and decrypted its ciphertext",
            p.mount, p.key
        ));
        let outputs = Outputs::new()
            .with("key", p.key.clone())
            .with("mount", p.mount.clone())
            .with("scratch_key", scratch)
            .with("key_type", key.key_type)
            .with("latest_version", key.latest_version)
            .with("ciphertext_version", ciphertext_version);
        self.verified.set(outputs.clone());
        Ok(outputs)
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let p = &self.base.params;
        let conn = self.conn()?;
        self.read_key(ctx, &conn, &p.key).await?;
        let scratch = self.scratch.get();
        if let Some(scratch) = &scratch {
            match self.read_key(ctx, &conn, scratch).await {
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
                Ok(_) => {
                    return Err(ActionError::postcondition(format!(
                        "the scratch key {scratch} is still there"
                    )));
                }
            }
        }
        Ok(format!(
            "transit key {}/{} is in place{}",
            p.mount,
            p.key,
            if scratch.is_some() {
                " and the scratch key is gone"
            } else {
                ""
            }
        ))
    }
}
