//! `vault.raft_snapshot_save` and `vault.raft_snapshot_restore`: the DR backup and restore of
//! Vault itself (integrated raft storage).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::Memo;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, SecretRef, StepSpec,
};
use serde::Deserialize;

use crate::common::{
    default_token, server_resource, step_address, step_conn, unsent_namespace, vault_wait_policy,
};
use crate::port::{VaultApi, VaultConn};

/// A raft snapshot is a gzip archive.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The parameters of `vault.raft_snapshot_save`. The token needs `read` on
/// `sys/storage/raft/snapshot`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SnapshotSaveParams {
    /// the server, http:// or https:// (e.g. https://vault-1.example:8200); default: VAULT_ADDR
    #[serde(default)]
    pub address: Option<String>,
    /// the file to write (mode 0600; written as `<path>.partial`, fsynced, then renamed)
    #[param(ty = "string")]
    pub path: PathBuf,
    /// replace an existing file; default false (blocked)
    #[serde(default)]
    #[param(ty = "boolean")]
    pub overwrite: bool,
    /// where the token is read from (env:NAME, file:/path); default: env:VAULT_TOKEN
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// Vault Enterprise/HCP namespace: checked, never sent (sys/storage/raft is a
    /// root-namespace endpoint: the token must be a root-namespace one)
    #[serde(default)]
    pub namespace: Option<String>,
}

/// The parameters of `vault.raft_snapshot_restore`. The token needs `update` on
/// `sys/storage/raft/snapshot` (or `snapshot-force`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SnapshotRestoreParams {
    /// the server, http:// or https:// (e.g. https://vault-1.example:8200); default: VAULT_ADDR
    #[serde(default)]
    pub address: Option<String>,
    /// the snapshot file
    #[param(ty = "string")]
    pub path: PathBuf,
    /// restore another cluster's snapshot (snapshot-force); that cluster's keys then unseal it
    #[serde(default)]
    #[param(ty = "boolean")]
    pub force: bool,
    /// where the token is read from (env:NAME, file:/path); default: env:VAULT_TOKEN
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// Vault Enterprise/HCP namespace: checked, never sent (sys/storage/raft is a
    /// root-namespace endpoint: the token must be a root-namespace one)
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A path parameter must not be empty.
fn non_empty_path(path: &Path) -> Result<(), ParamError> {
    if path.as_os_str().is_empty() {
        return Err(ParamError::new("path", "must not be empty"));
    }
    Ok(())
}

fn token_ref(token: Option<&SecretRef>) -> SecretRef {
    token.cloned().unwrap_or_else(default_token)
}

fn is_snapshot(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Saves a raft snapshot of the server to a file.
///
/// - `check`: the snapshot this step saved is in place -> done; the file exists (and
///   `overwrite` is false) or its directory does not -> blocked; otherwise ready.
/// - `execute`: `GET /v1/sys/storage/raft/snapshot` (bounded by [`transfer_timeout`]), checks
///   it is a gzip archive, writes it to a new `<path>.partial` created with mode 0600, fsyncs
///   it, renames it into place and fsyncs the directory (a file at `path` is always complete,
///   and only its owner can read it: a snapshot holds every secret of the cluster).
///   Executed again once the snapshot is in place, it does not save a second one.
/// - `verify`: the file is there, with the size written, and is a gzip archive.
///
/// Outputs: `path`, `bytes`. The snapshot is held in memory while it is written.
#[derive(Debug, HasBase)]
pub struct SnapshotSave {
    base: Base<Self>,
    conn: VaultConn,
    written: Memo<u64>,
}

impl ActionKind for SnapshotSave {
    const KIND: &'static str = "vault.raft_snapshot_save";
    const SUMMARY: &'static str =
        "Save a raft snapshot of a Vault/OpenBao server (integrated storage) to a file";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("path", "the snapshot file"),
        OutputDoc::new("bytes", "its size"),
    ];
    type Params = SnapshotSaveParams;
    type Port = dyn VaultApi;
    type Ports = PortFactory<dyn VaultApi>;

    fn validate(p: &SnapshotSaveParams) -> Result<(), ParamError> {
        step_address(p.address.as_deref())?;
        unsent_namespace(p.namespace.as_deref())?;
        non_empty_path(&p.path)
    }

    fn build(step: StepSpec<SnapshotSaveParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let address = step_address(step.params.address.as_deref())?;
        Ok(Self {
            base: step.into_base(server_resource(&address), ports),
            conn: step_conn(address)?,
            written: Memo::default(),
        })
    }
}

impl SnapshotSave {
    fn blocker(&self) -> Option<String> {
        let path = &self.base.params.path;
        if path.exists() && !self.base.params.overwrite {
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

    /// The size of the snapshot this step saved, when the file still holds that many bytes.
    fn saved(&self) -> Option<u64> {
        let bytes = self.written.get()?;
        let on_disk = std::fs::metadata(&self.base.params.path).ok()?.len();
        (on_disk == bytes).then_some(bytes)
    }

    fn outputs(&self, bytes: u64) -> Outputs {
        Outputs::new()
            .with("path", self.base.params.path.display().to_string())
            .with("bytes", bytes)
    }
}

/// How long a snapshot transfer (save or restore) may take at least: a snapshot is much larger
/// than a control call's answer. The connection's time-out when larger (`VAULT_CLIENT_TIMEOUT`);
/// the step's `timeout` bounds it further.
pub(crate) const TRANSFER_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The bound of a snapshot transfer on a connection whose calls are bounded by `call_timeout`.
pub(crate) fn transfer_timeout(call_timeout: Duration) -> Duration {
    call_timeout.max(TRANSFER_TIMEOUT)
}

/// `<path>.partial`: where a snapshot is written before it is renamed into place.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    PathBuf::from(partial)
}

/// Writes `bytes` to `path` so that `path` never names a partial file: to a new
/// `<path>.partial` created with mode 0600 (a leftover of an earlier attempt is removed first,
/// never reused: its mode could be wider), fsynced, renamed to `path`, then the directory
/// fsynced so the rename survives a power loss. On an error the partial file is removed.
pub(crate) async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let partial = partial_path(path);
    remove_if_present(&partial).await?;
    let written = async {
        write_new_private(&partial, bytes).await?;
        tokio::fs::rename(&partial, path).await
    }
    .await;
    if let Err(e) = written {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(e);
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tokio::fs::File::open(dir).await?.sync_all().await
}

async fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Creates `path` (it must not exist: no symlink is followed) readable by its owner only, writes
/// `bytes` and fsyncs it.
async fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).await?;
    file.write_all(bytes).await?;
    file.flush().await?;
    file.sync_all().await
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
impl Act for SnapshotSave {
    async fn inspect(&self, _ctx: &Context) -> Result<Check, ActionError> {
        if let Some(bytes) = self.saved() {
            return Ok(Check::Done {
                detail: format!(
                    "{} holds the raft snapshot this step saved ({bytes} bytes)",
                    self.base.params.path.display()
                ),
                outputs: self.outputs(bytes),
            });
        }
        if let Some(reason) = self.blocker() {
            return Ok(Check::blocked(reason));
        }
        Ok(Check::ready(format!(
            "save a raft snapshot of {} to {}",
            self.conn.address(),
            self.base.params.path.display()
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        if let Some(bytes) = self.saved() {
            return Ok(self.outputs(bytes));
        }
        if let Some(reason) = self.blocker() {
            return Err(ActionError::precondition(reason));
        }
        let token = token_ref(self.base.params.token.as_ref()).resolve()?;
        let conn = self
            .conn
            .clone()
            .with_token(token)
            .with_timeout(transfer_timeout(self.conn.timeout()));
        let snapshot = ctx
            .bounded(self.base.port.raft_snapshot_save(&conn))
            .await?;
        if !is_snapshot(&snapshot) {
            return Err(ActionError::new(
                ErrorKind::Other,
                format!(
                    "the server answered {} bytes that are not a raft snapshot (gzip)",
                    snapshot.len()
                ),
            ));
        }
        let path = &self.base.params.path;
        ctx.bounded(async {
            write_atomically(path, &snapshot)
                .await
                .map_err(|e| io_error("writing", path, &e))
        })
        .await?;
        let bytes = snapshot.len() as u64;
        self.written.set(bytes);
        ctx.progress(format!(
            "raft snapshot of {} saved to {} ({bytes} bytes)",
            self.conn.address(),
            path.display()
        ));
        Ok(self.outputs(bytes))
    }

    async fn confirm(&self, _ctx: &Context) -> Result<String, ActionError> {
        let path = &self.base.params.path;
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| io_error("reading", path, &e))?;
        if !is_snapshot(&bytes) {
            return Err(ActionError::postcondition(format!(
                "{} is not a raft snapshot (gzip)",
                path.display()
            )));
        }
        if let Some(expected) = self.written.get()
            && expected != bytes.len() as u64
        {
            return Err(ActionError::postcondition(format!(
                "{} has {} bytes, {expected} were written",
                path.display(),
                bytes.len()
            )));
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
/// - `check`: this step restored the snapshot -> done (with the outputs of that restore); the
///   file is missing or not a gzip archive, or the server is sealed or not initialised ->
///   blocked; otherwise ready. (A restore cannot be seen on the server afterwards, so only the
///   step that made it answers done.)
/// - `execute`: `POST /v1/sys/storage/raft/snapshot` (`snapshot-force` with `force`), then
///   waits until the server answers again (the first request after a restore blocks for a few
///   seconds). A snapshot of the same cluster leaves it unsealed and active; a forced snapshot of
///   another cluster can leave it sealed: it then needs *that* cluster's keys (`vault.unseal`),
///   and `execute` returns with `sealed = true`. Executed again after a failure, it does not
///   restore a second time once the restore call succeeded.
/// - `verify`: the server answers and is initialised.
///
/// Outputs: `path`, `bytes`, `forced`, `state`, `sealed`.
#[derive(Debug, HasBase)]
pub struct SnapshotRestore {
    base: Base<Self>,
    conn: VaultConn,
    restored: AtomicBool,
    outcome: Memo<Outputs>,
}

impl ActionKind for SnapshotRestore {
    const KIND: &'static str = "vault.raft_snapshot_restore";
    const SUMMARY: &'static str =
        "Restore a raft snapshot file into a Vault/OpenBao server and wait until it answers";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("path", "the snapshot file"),
        OutputDoc::new("bytes", "its size"),
        OutputDoc::new("forced", "whether snapshot-force was used"),
        OutputDoc::new("state", "the server state after the restore"),
        OutputDoc::new(
            "sealed",
            "true when it must now be unsealed with the snapshot cluster's keys",
        ),
    ];
    type Params = SnapshotRestoreParams;
    type Port = dyn VaultApi;
    type Ports = PortFactory<dyn VaultApi>;

    fn validate(p: &SnapshotRestoreParams) -> Result<(), ParamError> {
        step_address(p.address.as_deref())?;
        unsent_namespace(p.namespace.as_deref())?;
        non_empty_path(&p.path)
    }

    fn build(
        step: StepSpec<SnapshotRestoreParams>,
        ports: &Self::Ports,
    ) -> Result<Self, ParamError> {
        let address = step_address(step.params.address.as_deref())?;
        let mut base = step.into_base(server_resource(&address), ports);
        base.wait = vault_wait_policy();
        Ok(Self {
            base,
            conn: step_conn(address)?,
            restored: AtomicBool::new(false),
            outcome: Memo::default(),
        })
    }
}

impl SnapshotRestore {
    async fn read_file(&self) -> Result<Vec<u8>, ActionError> {
        let path = &self.base.params.path;
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
        drkit_core::wait_until(ctx, &what, &self.base.wait, || async {
            let asked = tokio::time::Instant::now();
            let answer = ctx.bounded(self.base.port.health(&self.conn)).await;
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
        drkit_core::wait_until(ctx, &what, &self.base.wait, || async {
            let h = ctx.bounded(self.base.port.health(&self.conn)).await?;
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
impl Act for SnapshotRestore {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        if let Some(outputs) = self.outcome.get() {
            return Ok(Check::Done {
                detail: format!(
                    "{} was restored into {} by this step",
                    self.base.params.path.display(),
                    self.conn.address()
                ),
                outputs,
            });
        }
        let bytes = match self.read_file().await {
            Ok(b) => b,
            Err(e) => return Ok(Check::blocked(e.message().to_owned())),
        };
        let health = ctx.bounded(self.base.port.health(&self.conn)).await?;
        if !health.initialized || health.sealed {
            return Ok(Check::blocked(format!(
                "{} is {}: a snapshot is restored into an unsealed server",
                self.conn.address(),
                health.state()
            )));
        }
        Ok(Check::ready(format!(
            "restore {} ({} bytes) into {}{}: everything written since that snapshot is lost",
            self.base.params.path.display(),
            bytes.len(),
            self.conn.address(),
            if self.base.params.force {
                " with force (another cluster's snapshot: its unseal keys will be needed)"
            } else {
                ""
            }
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = &self.base.params;
        let bytes = self.read_file().await?;
        let size = bytes.len();
        if !self.restored.load(Ordering::SeqCst) {
            let token = token_ref(p.token.as_ref()).resolve()?;
            let conn = self
                .conn
                .clone()
                .with_token(token)
                .with_timeout(transfer_timeout(self.conn.timeout()));
            ctx.bounded(self.base.port.raft_snapshot_restore(&conn, bytes, p.force))
                .await?;
            self.restored.store(true, Ordering::SeqCst);
            ctx.progress(format!(
                "snapshot {} restored into {}",
                p.path.display(),
                self.conn.address()
            ));
        }
        let health = self.settle(ctx).await?;
        if health.sealed {
            ctx.progress(format!(
                "{} is sealed after the restore: unseal it with the keys of the cluster the \
                 snapshot came from",
                self.conn.address()
            ));
        }
        let outputs = Outputs::new()
            .with("path", p.path.display().to_string())
            .with("bytes", size)
            .with("forced", p.force)
            .with("state", health.state())
            .with("sealed", health.sealed);
        self.outcome.set(outputs.clone());
        Ok(outputs)
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let health = ctx.bounded(self.base.port.health(&self.conn)).await?;
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
            )))
        }
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
