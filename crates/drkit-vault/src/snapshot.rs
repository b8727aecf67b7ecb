//! `vault.raft_snapshot_save` and `vault.raft_snapshot_restore`: the DR backup and restore of
//! Vault itself (integrated raft storage).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use drkit_core::{
    ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource, SecretRef,
    WaitPolicy,
};
use serde::Deserialize;

use crate::common::{default_token, server_resource, vault_wait_policy};
use crate::port::{VaultApi, VaultConn};

/// Kind name of [`SnapshotSave`].
pub(crate) const SAVE_KIND: &str = "vault.raft_snapshot_save";
/// Kind name of [`SnapshotRestore`].
pub(crate) const RESTORE_KIND: &str = "vault.raft_snapshot_restore";

/// A raft snapshot is a gzip archive.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The parameters of `vault.raft_snapshot_save`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SnapshotSaveParams {
    /// The server; default: `VAULT_ADDR`.
    #[serde(default)]
    pub address: Option<String>,
    /// The file to write the snapshot to.
    pub path: PathBuf,
    /// Replace the file if it exists (default false: an existing file blocks the step).
    #[serde(default)]
    pub overwrite: bool,
    /// The token (needs `read` on `sys/storage/raft/snapshot`); default `env:VAULT_TOKEN`.
    #[serde(default)]
    pub token: Option<SecretRef>,
}

/// The parameters of `vault.raft_snapshot_restore`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SnapshotRestoreParams {
    /// The server; default: `VAULT_ADDR`.
    #[serde(default)]
    pub address: Option<String>,
    /// The snapshot file.
    pub path: PathBuf,
    /// Restore a snapshot of another cluster (`snapshot-force`); the server then needs that
    /// cluster's unseal keys.
    #[serde(default)]
    pub force: bool,
    /// The token (needs `update` on `sys/storage/raft/snapshot` or `snapshot-force`); default
    /// `env:VAULT_TOKEN`.
    #[serde(default)]
    pub token: Option<SecretRef>,
}

fn token_ref(token: Option<&SecretRef>) -> SecretRef {
    token.cloned().unwrap_or_else(default_token)
}

fn is_snapshot(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Saves a raft snapshot of the server to a file.
///
/// - `check`: the file exists (and `overwrite` is false) or its directory does not -> blocked;
///   otherwise ready.
/// - `execute`: `GET /v1/sys/storage/raft/snapshot`, checks it is a gzip archive, writes it to
///   `<path>.partial` and renames it into place (a file at `path` is always complete).
/// - `verify`: the file is there, with the size written, and is a gzip archive.
///
/// Outputs: `path`, `bytes`. The snapshot is held in memory while it is written.
pub struct SnapshotSave {
    id: String,
    params: SnapshotSaveParams,
    conn: VaultConn,
    target: Resource,
    api: Arc<dyn VaultApi>,
    written: std::sync::Mutex<Option<u64>>,
}

impl fmt::Debug for SnapshotSave {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotSave")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl SnapshotSave {
    /// A save step `id` of the server at `address` (already resolved and checked).
    pub fn new(
        id: impl Into<String>,
        address: impl Into<String>,
        params: SnapshotSaveParams,
        api: Arc<dyn VaultApi>,
    ) -> Self {
        let address = address.into();
        Self {
            id: id.into(),
            target: server_resource(&address),
            conn: VaultConn::new(address),
            params,
            api,
            written: std::sync::Mutex::new(None),
        }
    }

    fn blocker(&self) -> Option<String> {
        let path = &self.params.path;
        if path.exists() && !self.params.overwrite {
            return Some(format!(
                "{} already exists: remove it, choose another path, or set overwrite = true",
                path.display()
            ));
        }
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir
            && !dir.is_dir()
        {
            return Some(format!("directory {} does not exist", dir.display()));
        }
        None
    }

    fn outputs(&self, bytes: u64) -> Outputs {
        Outputs::new()
            .with("path", self.params.path.display().to_string())
            .with("bytes", bytes)
    }
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    tokio::fs::write(&partial, bytes).await?;
    tokio::fs::rename(&partial, path).await
}

fn io_error(what: &str, path: &Path, err: &std::io::Error) -> ActionError {
    let kind = match err.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => ErrorKind::AccessDenied,
        _ => ErrorKind::Other,
    };
    ActionError::new(kind, format!("{what} {}: {err}", path.display()))
}

#[async_trait]
impl RecoveryAction for SnapshotSave {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        SAVE_KIND
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

    async fn check(&self, _ctx: &Context) -> Result<Check, ActionError> {
        if let Some(reason) = self.blocker() {
            return Ok(Check::blocked(reason));
        }
        Ok(Check::ready(format!(
            "save a raft snapshot of {} to {}",
            self.conn.address(),
            self.params.path.display()
        )))
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        if ctx.is_dry_run() {
            return Err(
                ActionError::unsupported("refusing to write a snapshot in a dry run")
                    .in_action(self),
            );
        }
        if let Some(reason) = self.blocker() {
            return Err(ActionError::precondition(reason).in_action(self));
        }
        let token = token_ref(self.params.token.as_ref())
            .resolve()
            .map_err(|e| e.in_action(self))?;
        let conn = self.conn.clone().with_token(token);
        let snapshot = ctx
            .bounded(self.api.raft_snapshot_save(&conn))
            .await
            .map_err(|e| e.in_action(self))?;
        if !is_snapshot(&snapshot) {
            return Err(ActionError::new(
                ErrorKind::Other,
                format!(
                    "the server answered {} bytes that are not a raft snapshot (gzip)",
                    snapshot.len()
                ),
            )
            .in_action(self));
        }
        ctx.bounded(async {
            write_atomically(&self.params.path, &snapshot)
                .await
                .map_err(|e| io_error("writing", &self.params.path, &e))
        })
        .await
        .map_err(|e| e.in_action(self))?;
        let bytes = snapshot.len() as u64;
        *self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(bytes);
        ctx.progress(format!(
            "raft snapshot of {} saved to {} ({bytes} bytes)",
            self.conn.address(),
            self.params.path.display()
        ));
        Ok(self.outputs(bytes))
    }

    async fn verify(&self, _ctx: &Context) -> Result<String, ActionError> {
        let path = &self.params.path;
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| io_error("reading", path, &e).in_action(self))?;
        let expected = *self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !is_snapshot(&bytes) {
            return Err(ActionError::postcondition(format!(
                "{} is not a raft snapshot (gzip)",
                path.display()
            ))
            .in_action(self));
        }
        if let Some(expected) = expected
            && expected != bytes.len() as u64
        {
            return Err(ActionError::postcondition(format!(
                "{} has {} bytes, {expected} were written",
                path.display(),
                bytes.len()
            ))
            .in_action(self));
        }
        Ok(format!(
            "{} holds a raft snapshot ({} bytes)",
            path.display(),
            bytes.len()
        ))
    }
}

/// Restores a raft snapshot file into the server (the DR restore of Vault itself).
///
/// - `check`: the file is missing or not a gzip archive, or the server is sealed or not
///   initialised -> blocked; otherwise ready. (A restore cannot be seen afterwards, so `check`
///   never answers done.)
/// - `execute`: `POST /v1/sys/storage/raft/snapshot` (`snapshot-force` with `force`), then
///   waits until the server answers again (the first request after a restore blocks for a few
///   seconds). A snapshot of the same cluster leaves it unsealed and active; a forced snapshot of
///   another cluster can leave it sealed: it then needs *that* cluster's keys (`vault.unseal`),
///   and `execute` returns with `sealed = true`. Executed again after a failure, it does not
///   restore a second time once the restore call succeeded.
/// - `verify`: the server answers and is initialised.
///
/// Outputs: `path`, `bytes`, `forced`, `state`, `sealed`.
pub struct SnapshotRestore {
    id: String,
    params: SnapshotRestoreParams,
    conn: VaultConn,
    target: Resource,
    api: Arc<dyn VaultApi>,
    wait: WaitPolicy,
    restored: AtomicBool,
}

impl fmt::Debug for SnapshotRestore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotRestore")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl SnapshotRestore {
    /// A restore step `id` into the server at `address` (already resolved and checked).
    pub fn new(
        id: impl Into<String>,
        address: impl Into<String>,
        params: SnapshotRestoreParams,
        api: Arc<dyn VaultApi>,
    ) -> Self {
        let address = address.into();
        Self {
            id: id.into(),
            target: server_resource(&address),
            conn: VaultConn::new(address),
            params,
            api,
            wait: vault_wait_policy(),
            restored: AtomicBool::new(false),
        }
    }

    /// Uses `policy` for the wait after the restore.
    #[must_use]
    pub fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    async fn read_file(&self) -> Result<Vec<u8>, ActionError> {
        let path = &self.params.path;
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| io_error("reading", path, &e))?;
        if !is_snapshot(&bytes) {
            return Err(ActionError::invalid_input(format!(
                "{} is not a raft snapshot (gzip)",
                path.display()
            )));
        }
        Ok(bytes)
    }

    /// Waits until the restore has taken effect and the server answers again; sealed is an
    /// acceptable end here.
    ///
    /// OpenBao applies a restore asynchronously: for a moment it still answers as before, then
    /// its requests fail (HTTP 500) or block for several seconds while it reloads, then it
    /// answers in its new state (sealed, after another cluster's snapshot). So first wait for a
    /// sign of the reload (an error, a slow or sealed answer; at most [`RELOAD_GRACE`]), then
    /// for a settled state.
    async fn settle(&self, ctx: &Context) -> Result<crate::port::Health, ActionError> {
        let restored_at = tokio::time::Instant::now();
        let what = format!("{} to reload the restored snapshot", self.conn.address());
        drkit_core::wait_until(ctx, &what, &self.wait, || async {
            let asked = tokio::time::Instant::now();
            let answer = ctx.bounded(self.api.health(&self.conn)).await;
            let slow = asked.elapsed() >= SLOW_ANSWER;
            Ok(match answer {
                Err(e)
                    if e.kind() == ErrorKind::Cancelled
                        || e.kind() == ErrorKind::DeadlineExceeded =>
                {
                    return Err(e);
                }
                Err(_) => drkit_core::Poll::Ready(()),
                Ok(h) if slow || h.sealed => drkit_core::Poll::Ready(()),
                Ok(_) if restored_at.elapsed() >= RELOAD_GRACE => drkit_core::Poll::Ready(()),
                Ok(h) => drkit_core::Poll::Pending(format!(
                    "still answering as before the restore ({})",
                    h.state()
                )),
            })
        })
        .await?;
        let what = format!("{} to answer after the restore", self.conn.address());
        drkit_core::wait_until(ctx, &what, &self.wait, || async {
            let h = ctx.bounded(self.api.health(&self.conn)).await?;
            Ok(if h.sealed || h.is_active() {
                drkit_core::Poll::Ready(h)
            } else {
                drkit_core::Poll::Pending(h.state().to_owned())
            })
        })
        .await
    }
}

/// How long a server may keep answering as before a restore before drkit stops looking for
/// the reload (OpenBao 2.7 starts it within a second).
const RELOAD_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// An answer this slow is the server blocking while it reloads.
const SLOW_ANSWER: std::time::Duration = std::time::Duration::from_secs(1);

#[async_trait]
impl RecoveryAction for SnapshotRestore {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        RESTORE_KIND
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
        let bytes = match self.read_file().await {
            Ok(b) => b,
            Err(e) => return Ok(Check::blocked(e.message().to_owned())),
        };
        let health = ctx
            .bounded(self.api.health(&self.conn))
            .await
            .map_err(|e| e.in_action(self))?;
        if !health.initialized || health.sealed {
            return Ok(Check::blocked(format!(
                "{} is {}: a snapshot is restored into an unsealed server",
                self.conn.address(),
                health.state()
            )));
        }
        Ok(Check::ready(format!(
            "restore {} ({} bytes) into {}{}: everything written since that snapshot is lost",
            self.params.path.display(),
            bytes.len(),
            self.conn.address(),
            if self.params.force {
                " with force (another cluster's snapshot: its unseal keys will be needed)"
            } else {
                ""
            }
        )))
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        if ctx.is_dry_run() {
            return Err(
                ActionError::unsupported("refusing to restore a snapshot in a dry run")
                    .in_action(self),
            );
        }
        let bytes = self.read_file().await.map_err(|e| e.in_action(self))?;
        let size = bytes.len();
        if !self.restored.load(Ordering::SeqCst) {
            let token = token_ref(self.params.token.as_ref())
                .resolve()
                .map_err(|e| e.in_action(self))?;
            let conn = self.conn.clone().with_token(token);
            ctx.bounded(
                self.api
                    .raft_snapshot_restore(&conn, bytes, self.params.force),
            )
            .await
            .map_err(|e| e.in_action(self))?;
            self.restored.store(true, Ordering::SeqCst);
            ctx.progress(format!(
                "snapshot {} restored into {}",
                self.params.path.display(),
                self.conn.address()
            ));
        }
        let health = self.settle(ctx).await.map_err(|e| e.in_action(self))?;
        if health.sealed {
            ctx.progress(format!(
                "{} is sealed after the restore: unseal it with the keys of the cluster the \
                 snapshot came from",
                self.conn.address()
            ));
        }
        Ok(Outputs::new()
            .with("path", self.params.path.display().to_string())
            .with("bytes", size)
            .with("forced", self.params.force)
            .with("state", health.state())
            .with("sealed", health.sealed))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let health = ctx
            .bounded(self.api.health(&self.conn))
            .await
            .map_err(|e| e.in_action(self))?;
        if health.initialized {
            Ok(format!(
                "{} answers after the restore ({})",
                self.conn.address(),
                health.state()
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "{} is not initialised after the restore",
                self.conn.address()
            ))
            .in_action(self))
        }
    }
}
