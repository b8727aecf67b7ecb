//! Tests of how `snapshot.rs` writes a snapshot file: mode 0600 from creation, a leftover
//! partial file replaced, never a partial file under the final name.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_snapshot_file_is_created_readable_by_its_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.snap");
    write_atomically(&path, b"\x1f\x8bsnapshot").await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"\x1f\x8bsnapshot");
    // Under the usual umask (022) a plain create gives 0644: the file is created 0600.
    assert_eq!(mode(&path), 0o600, "{:o}", mode(&path));
    assert!(!partial_path(&path).exists());
    // Overwriting an existing, wider file: the new file is 0600 too (a new inode, renamed).
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    write_atomically(&path, b"\x1f\x8bsecond").await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"\x1f\x8bsecond");
    assert_eq!(mode(&path), 0o600);
}

#[tokio::test]
async fn a_leftover_partial_file_is_replaced_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.snap");
    let partial = partial_path(&path);
    // An earlier attempt died mid-write: a longer, world-readable partial file is left.
    std::fs::write(&partial, vec![b'x'; 4096]).unwrap();
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o644)).unwrap();
    write_atomically(&path, b"\x1f\x8bnew").await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"\x1f\x8bnew");
    assert_eq!(mode(&path), 0o600);
    assert!(!partial.exists());
}

#[tokio::test]
async fn a_failed_write_leaves_nothing_under_the_final_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.snap");
    // The partial name is taken by a directory that cannot be removed as a file.
    std::fs::create_dir(partial_path(&path)).unwrap();
    std::fs::write(partial_path(&path).join("keep"), b"x").unwrap();
    assert!(write_atomically(&path, b"\x1f\x8bnew").await.is_err());
    assert!(!path.exists());
    // A directory that does not exist: nothing is created either.
    let missing = dir.path().join("no-such-dir/vault.snap");
    assert!(write_atomically(&missing, b"\x1f\x8b").await.is_err());
    assert!(!missing.exists() && !partial_path(&missing).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_never_sees_a_partial_snapshot_under_the_final_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.snap");
    let bytes = vec![7u8; 48 * 1024 * 1024];
    let full = bytes.len() as u64;
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (path, done) = (path.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !done.load(Ordering::SeqCst) {
                if let Ok(meta) = std::fs::metadata(&path) {
                    seen.push(meta.len());
                }
            }
            seen
        })
    };
    write_atomically(&path, &bytes).await.unwrap();
    done.store(true, Ordering::SeqCst);
    let seen = watcher.join().unwrap();
    assert!(
        seen.iter().all(|&len| len == full),
        "sizes seen under the final name: {:?}",
        seen.iter()
            .filter(|&&l| l != full)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), full);
}

#[test]
fn a_transfer_gets_at_least_ten_minutes_and_more_when_calls_get_more() {
    assert_eq!(
        transfer_timeout(VaultConn::DEFAULT_TIMEOUT),
        Duration::from_secs(600)
    );
    assert_eq!(
        transfer_timeout(Duration::from_secs(3600)),
        Duration::from_secs(3600)
    );
}
