//! `vault.verify_transit_backup`: proof that a transit key's backup really restores.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use drkit_core::{ActionError, Check, Context, Outputs, RecoveryAction, Resource, SecretRef};
use serde::Deserialize;

use crate::common::default_token;
use crate::port::{TransitKey, VaultApi, VaultConn};

/// Kind name of [`VerifyTransitBackup`].
pub(crate) const KIND: &str = "vault.verify_transit_backup";

/// The parameters of `vault.verify_transit_backup`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TransitBackupParams {
    /// The server; default: `VAULT_ADDR`.
    #[serde(default)]
    pub address: Option<String>,
    /// The transit mount, e.g. `transit`.
    pub mount: String,
    /// The key to verify.
    pub key: String,
    /// The token; default `env:VAULT_TOKEN`.
    #[serde(default)]
    pub token: Option<SecretRef>,
}

/// Verifies that a transit key's backup restores: backs the key up, restores the backup under a
/// scratch name, encrypts a random value with the original key and decrypts it with the restored
/// copy, then deletes the scratch key (also when the round trip fails).
///
/// - `check`: the key is missing -> blocked; its backup is not allowed (`exportable` and
///   `allow_plaintext_backup` must both be true) -> blocked; otherwise ready.
/// - `execute`: the round trip; fails with `PostconditionFailed` when the restored copy cannot
///   decrypt what the original encrypted. Refused in a dry run (it creates a scratch key).
/// - `verify`: the original key is still there and the scratch key is gone.
///
/// The backup holds the key material: it is kept in a `SecretString`, never written anywhere,
/// and dropped at the end. Outputs: `key`, `mount`, `scratch_key`, `key_type`,
/// `latest_version`, `ciphertext_version`.
pub struct VerifyTransitBackup {
    id: String,
    params: TransitBackupParams,
    conn: VaultConn,
    target: Resource,
    api: Arc<dyn VaultApi>,
    scratch: Mutex<Option<String>>,
}

impl fmt::Debug for VerifyTransitBackup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyTransitBackup")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
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
    /// A verification step `id` against the server at `address` (already resolved and checked).
    pub fn new(
        id: impl Into<String>,
        address: impl Into<String>,
        params: TransitBackupParams,
        api: Arc<dyn VaultApi>,
    ) -> Self {
        let address = address.into();
        let target = Resource::new(
            "vault",
            "transit-key",
            format!(
                "{address}/{}/{}",
                params.mount.trim_matches('/'),
                params.key
            ),
        );
        Self {
            id: id.into(),
            target,
            conn: VaultConn::new(address),
            params,
            api,
            scratch: Mutex::new(None),
        }
    }

    fn conn(&self) -> Result<VaultConn, ActionError> {
        let token = self
            .params
            .token
            .clone()
            .unwrap_or_else(default_token)
            .resolve()
            .map_err(|e| e.in_action(self))?;
        Ok(self.conn.clone().with_token(token))
    }

    async fn read_key(
        &self,
        ctx: &Context,
        conn: &VaultConn,
        name: &str,
    ) -> Result<TransitKey, ActionError> {
        ctx.bounded(self.api.transit_read_key(conn, &self.params.mount, name))
            .await
            .map_err(|e| e.in_action(self))
    }

    fn blocker(&self, key: &TransitKey) -> Option<String> {
        if key.exportable && key.allow_plaintext_backup {
            None
        } else {
            Some(format!(
                "transit key {}/{} cannot be backed up: it needs exportable = true and \
                 allow_plaintext_backup = true (it has {} and {})",
                self.params.mount, self.params.key, key.exportable, key.allow_plaintext_backup
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
        let mount = &self.params.mount;
        let backup = ctx
            .bounded(self.api.transit_backup_key(conn, mount, &self.params.key))
            .await
            .map_err(|e| e.in_action(self))?;
        ctx.bounded(self.api.transit_restore_key(conn, mount, scratch, &backup))
            .await
            .map_err(|e| e.in_action(self))?;
        drop(backup);
        let plaintext = random_hex();
        let ciphertext = ctx
            .bounded(
                self.api
                    .transit_encrypt(conn, mount, &self.params.key, &plaintext),
            )
            .await
            .map_err(|e| e.in_action(self))?;
        let decrypted = ctx
            .bounded(self.api.transit_decrypt(conn, mount, scratch, &ciphertext))
            .await
            .map_err(|e| {
                ActionError::postcondition(format!(
                    "the restored copy {scratch} cannot decrypt what {} encrypted: {}",
                    self.params.key,
                    e.message()
                ))
                .in_action(self)
            })?;
        if decrypted != plaintext {
            return Err(ActionError::postcondition(format!(
                "the restored copy {scratch} decrypts what {} encrypted to a different value",
                self.params.key
            ))
            .in_action(self));
        }
        Ok(ciphertext.split(':').nth(1).unwrap_or_default().to_owned())
    }
}

#[async_trait]
impl RecoveryAction for VerifyTransitBackup {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn target(&self) -> &Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        true
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        let conn = match self.conn() {
            Ok(c) => c,
            Err(e) => return Ok(Check::blocked(e.message().to_owned())),
        };
        let key = match self.read_key(ctx, &conn, &self.params.key).await {
            Ok(k) => k,
            Err(e) if e.kind() == drkit_core::ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "transit key {}/{} does not exist",
                    self.params.mount, self.params.key
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
            self.params.mount, self.params.key, key.latest_version
        )))
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        if ctx.is_dry_run() {
            return Err(ActionError::unsupported(
                "refusing to create a scratch transit key in a dry run",
            )
            .in_action(self));
        }
        let conn = self.conn()?;
        let key = self.read_key(ctx, &conn, &self.params.key).await?;
        if let Some(reason) = self.blocker(&key) {
            return Err(ActionError::precondition(reason).in_action(self));
        }
        let scratch = format!("{}-drkit-verify-{}", self.params.key, &random_hex()[..12]);
        *self.scratch.lock().unwrap_or_else(PoisonError::into_inner) = Some(scratch.clone());
        let result = self.round_trip(ctx, &conn, &scratch).await;
        // The scratch key goes whatever happened (it may not exist if the restore failed).
        let cleanup = ctx
            .bounded(
                self.api
                    .transit_delete_key(&conn, &self.params.mount, &scratch),
            )
            .await;
        let ciphertext_version = result?;
        match cleanup {
            Ok(()) => {}
            Err(e) if e.kind() == drkit_core::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ActionError::new(
                    e.kind(),
                    format!(
                        "the backup restores, but deleting the scratch key {scratch} failed: {}",
                        e.message()
                    ),
                )
                .in_action(self));
            }
        }
        ctx.progress(format!(
            "transit key {}/{} backup restored as {scratch} and decrypted its ciphertext",
            self.params.mount, self.params.key
        ));
        Ok(Outputs::new()
            .with("key", self.params.key.clone())
            .with("mount", self.params.mount.clone())
            .with("scratch_key", scratch)
            .with("key_type", key.key_type)
            .with("latest_version", key.latest_version)
            .with("ciphertext_version", ciphertext_version))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let conn = self.conn()?;
        self.read_key(ctx, &conn, &self.params.key).await?;
        let scratch = self
            .scratch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(scratch) = &scratch {
            match self.read_key(ctx, &conn, scratch).await {
                Err(e) if e.kind() == drkit_core::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
                Ok(_) => {
                    return Err(ActionError::postcondition(format!(
                        "the scratch key {scratch} is still there"
                    ))
                    .in_action(self));
                }
            }
        }
        Ok(format!(
            "transit key {}/{} is in place{}",
            self.params.mount,
            self.params.key,
            if scratch.is_some() {
                " and the scratch key is gone"
            } else {
                ""
            }
        ))
    }
}
