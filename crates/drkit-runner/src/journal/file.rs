//! [`FileJournalStore`]: journals as files in a directory.
//!
//! - `<dir>/<plan>.journal.jsonl`: the latest run of the plan and its resumptions;
//! - `<dir>/<plan>.lock`: the lock (an OS file lock, released if the process dies), holding
//!   the holder's name;
//! - `<dir>/archive/<plan>.<UTC time>.journal.jsonl`: earlier runs, the newest
//!   [`FileJournalStore::keep_archived`] of them (seed 10).
//!
//! Durability:
//! - an append writes whole lines and `fdatasync`s them before it returns; a write or a sync
//!   that fails is cut back to where it started (the waiter is told it failed, so the records
//!   must not stay), and the file is opened afresh, and repaired, for the next append;
//! - the directory is `fsync`ed when it gets a new entry: the journal file, the lock file, the
//!   archive directory, an archived or removed journal;
//! - before the first append after the file is opened (each lock taken, each new run, each
//!   failed write), a torn tail ([`super::complete_len`]) is cut off, the file synced, and the
//!   number of bytes dropped logged at warn level. Only that tail: a bad line before it stays
//!   for `load` to report.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::{Batch, JournalError, JournalLock, JournalStore, LockHolder, Record, complete_len};

/// The archive's directory, under the journal directory.
const ARCHIVE_DIR: &str = "archive";

/// Journals as files in a directory: `<plan>.journal.jsonl`, locked through `<plan>.lock`.
///
/// One file per plan holds the latest run and its resumptions. When a new run (not a resume)
/// of the plan writes its first record, the file of the previous run is moved to
/// `<dir>/archive/<plan>.<UTC time, yyyymmddThhmmssmmmZ>.journal.jsonl` (`drkit report` reads
/// it there), and the oldest archives beyond [`keep_archived`](Self::keep_archived) are
/// deleted. `load`, so `resume` and `report`, read the current file only; `load_archived` reads
/// the archives (the report's trend against the previous run).
#[derive(Debug)]
pub struct FileJournalStore {
    dir: PathBuf,
    keep_archived: usize,
    /// Files opened for appending, by plan (each repaired when opened).
    open: Arc<Mutex<HashMap<String, Arc<Mutex<File>>>>>,
}

impl FileJournalStore {
    /// How many archived journals of each plan are kept by default.
    pub const DEFAULT_KEEP_ARCHIVED: usize = 10;

    /// Journals in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, JournalError> {
        let dir = dir.into();
        let existed = dir.is_dir();
        std::fs::create_dir_all(&dir).map_err(|e| JournalError::io(&dir, e))?;
        if !existed {
            let parent = dir
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            sync_dir(parent).map_err(|e| JournalError::io(parent, e))?;
        }
        Ok(Self {
            dir,
            keep_archived: Self::DEFAULT_KEEP_ARCHIVED,
            open: Arc::default(),
        })
    }

    /// Keeps the `n` newest archived journals of each plan (seed:
    /// [`DEFAULT_KEEP_ARCHIVED`](Self::DEFAULT_KEEP_ARCHIVED)); with 0, a new run deletes
    /// the previous run's journal instead of archiving it.
    #[must_use]
    pub fn keep_archived(mut self, n: usize) -> Self {
        self.keep_archived = n;
        self
    }

    /// The journal file of `plan`.
    pub fn journal_path(&self, plan: &str) -> PathBuf {
        self.dir.join(format!("{}.journal.jsonl", file_stem(plan)))
    }

    /// The lock file of `plan`.
    pub fn lock_path(&self, plan: &str) -> PathBuf {
        self.dir.join(format!("{}.lock", file_stem(plan)))
    }

    /// The directory of archived journals.
    pub fn archive_dir(&self) -> PathBuf {
        self.dir.join(ARCHIVE_DIR)
    }

    /// The archived journals of `plan`, oldest first.
    pub fn archived(&self, plan: &str) -> Result<Vec<PathBuf>, JournalError> {
        let archive = self.archive_dir();
        archived_in(&archive, &file_stem(plan)).map_err(|e| JournalError::io(&archive, e))
    }

    /// Forgets `plan`'s open file: the next append opens it again, and repairs its tail.
    fn forget(&self, plan: &str) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(plan);
    }
}

/// Keeps plan names safe as file names.
fn file_stem(plan: &str) -> String {
    plan.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[derive(Debug)]
struct FileLock {
    holder: LockHolder,
    file: File,
}

#[async_trait]
impl JournalLock for FileLock {
    fn holder(&self) -> &LockHolder {
        &self.holder
    }

    async fn release(self: Box<Self>) -> Result<(), JournalError> {
        // Closing the file releases the OS lock; the holder text stays for the record.
        fs4::fs_std::FileExt::unlock(&self.file)
            .map_err(|e| JournalError::Stopped(format!("unlocking: {e}")))
    }
}

#[async_trait]
impl JournalStore for FileJournalStore {
    async fn acquire(
        &self,
        plan: &str,
        holder: &LockHolder,
    ) -> Result<Box<dyn JournalLock>, JournalError> {
        let path = self.lock_path(plan);
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        let (mut file, created) =
            open_or_create(&path, &options).map_err(|e| JournalError::io(&path, e))?;
        if created {
            sync_dir(&self.dir).map_err(|e| JournalError::io(&self.dir, e))?;
        }
        let locked = fs4::fs_std::FileExt::try_lock_exclusive(&file)
            .map_err(|e| JournalError::io(&path, e))?;
        if !locked {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = serde_json::from_str(&text).unwrap_or(LockHolder {
                who: "an unknown process (no holder recorded yet)".to_owned(),
                since: SystemTime::UNIX_EPOCH,
            });
            return Err(JournalError::Locked {
                plan: plan.to_owned(),
                holder,
            });
        }
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.rewind()?;
            serde_json::to_writer(&mut *file, holder)?;
            file.sync_data()
        };
        write(&mut file).map_err(|e| JournalError::io(&path, e))?;
        // Another process may have written (and torn) the journal since this store last
        // appended to it: open it afresh, and repair it, for this holder.
        self.forget(plan);
        Ok(Box::new(FileLock {
            holder: holder.clone(),
            file,
        }))
    }

    async fn append(&self, plan: &str, batch: Batch) -> Result<(), JournalError> {
        let open = Arc::clone(&self.open);
        let at = Place {
            dir: self.dir.clone(),
            path: self.journal_path(plan),
            stem: file_stem(plan),
            keep_archived: self.keep_archived,
        };
        let plan = plan.to_owned();
        let path = at.path.clone();
        let write = move || append_blocking(&open, &at, &plan, &batch);
        // Blocking file I/O off the async workers, logging to the caller's subscriber.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        match tokio::task::spawn_blocking(move || {
            tracing::dispatcher::with_default(&dispatch, write)
        })
        .await
        {
            Ok(result) => result,
            Err(e) => Err(JournalError::io(&path, std::io::Error::other(e))),
        }
    }

    async fn load(&self, plan: &str) -> Result<Vec<Record>, JournalError> {
        let path = self.journal_path(plan);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(JournalError::io(&path, e)),
        };
        super::parse_lines(BufReader::new(file), &path.display().to_string())
    }

    async fn load_archived(&self, plan: &str) -> Result<Vec<Record>, JournalError> {
        let mut records = Vec::new();
        for path in self.archived(plan)? {
            let file = File::open(&path).map_err(|e| JournalError::io(&path, e))?;
            records.extend(super::parse_lines(
                BufReader::new(file),
                &path.display().to_string(),
            )?);
        }
        Ok(records)
    }
}

/// Where a plan's journal is, and what to keep of it.
struct Place {
    dir: PathBuf,
    path: PathBuf,
    stem: String,
    keep_archived: usize,
}

fn append_blocking(
    open: &Mutex<HashMap<String, Arc<Mutex<File>>>>,
    at: &Place,
    plan: &str,
    batch: &Batch,
) -> Result<(), JournalError> {
    let file = {
        let mut table = open.lock().unwrap_or_else(PoisonError::into_inner);
        if batch.first_seq == 0 {
            // A new run: it gets a journal of its own.
            table.remove(plan);
            archive_previous(at)?;
        }
        match table.get(plan) {
            Some(f) => Arc::clone(f),
            None => {
                let f = Arc::new(Mutex::new(open_for_append(&at.dir, &at.path)?));
                table.insert(plan.to_owned(), Arc::clone(&f));
                f
            }
        }
    };
    let mut f = file.lock().unwrap_or_else(PoisonError::into_inner);
    let before = f
        .metadata()
        .map_err(|e| JournalError::io(&at.path, e))?
        .len();
    let written = f.write_all(&batch.lines).and_then(|()| f.sync_data());
    if let Err(e) = written {
        // The waiters are told this batch failed: it must not stay, whole or in part.
        if let Err(undo) = f.set_len(before).and_then(|()| f.sync_all()) {
            tracing::warn!(
                journal = %at.path.display(),
                "journal: could not cut back a failed write ({undo}); the next append repairs the tail"
            );
        }
        drop(f);
        open.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(plan);
        return Err(JournalError::io(&at.path, e));
    }
    Ok(())
}

/// Opens (or creates) a journal for appending. A new file's directory is synced; an existing
/// file's torn tail is cut off first.
fn open_for_append(dir: &Path, path: &Path) -> Result<File, JournalError> {
    let mut options = OpenOptions::new();
    options.read(true).append(true);
    let (mut file, created) =
        open_or_create(path, &options).map_err(|e| JournalError::io(path, e))?;
    if created {
        sync_dir(dir).map_err(|e| JournalError::io(dir, e))?;
    } else {
        repair_tail(&mut file, path)?;
    }
    Ok(file)
}

/// Cuts a torn tail ([`complete_len`]) off `file`, syncs it, and logs how many bytes were
/// dropped (at warn level). Returns that number.
pub(crate) fn repair_tail(file: &mut File, path: &Path) -> Result<u64, JournalError> {
    let io = |e| JournalError::io(path, e);
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.read_to_end(&mut bytes).map_err(io)?;
    let keep = complete_len(&bytes);
    let dropped = (bytes.len() - keep) as u64;
    if dropped > 0 {
        file.set_len(keep as u64).map_err(io)?;
        file.sync_all().map_err(io)?;
        tracing::warn!(
            journal = %path.display(),
            dropped_bytes = dropped,
            kept_bytes = keep,
            "journal: its last line was incomplete (a write cut short by a crash or a full \
             disk); dropped {dropped} byte(s) before appending"
        );
    }
    Ok(dropped)
}

/// Opens `path` with `options`, creating it if missing; says whether it was created.
fn open_or_create(path: &Path, options: &OpenOptions) -> std::io::Result<(File, bool)> {
    match options.clone().create_new(true).open(path) {
        Ok(f) => Ok((f, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            options.open(path).map(|f| (f, false))
        }
        Err(e) => Err(e),
    }
}

/// Makes `dir`'s entries (a created, renamed or removed file) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// A new run starts: moves the previous run's journal to the archive (or deletes it when no
/// archive is kept), then deletes the oldest archives beyond the number kept.
fn archive_previous(at: &Place) -> Result<(), JournalError> {
    let path = &at.path;
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(JournalError::io(path, e)),
    };
    if len == 0 {
        return Ok(());
    }
    if at.keep_archived == 0 {
        std::fs::remove_file(path).map_err(|e| JournalError::io(path, e))?;
        sync_dir(&at.dir).map_err(|e| JournalError::io(&at.dir, e))?;
        tracing::info!(journal = %path.display(), "journal: a new run starts; the previous run's journal was deleted (no archive is kept)");
        return Ok(());
    }
    let archive = at.dir.join(ARCHIVE_DIR);
    if !archive.is_dir() {
        std::fs::create_dir_all(&archive).map_err(|e| JournalError::io(&archive, e))?;
        sync_dir(&at.dir).map_err(|e| JournalError::io(&at.dir, e))?;
    }
    let existing = archived_in(&archive, &at.stem).map_err(|e| JournalError::io(&archive, e))?;
    let target = archive_name(&archive, &at.stem, &existing);
    std::fs::rename(path, &target).map_err(|e| JournalError::io(path, e))?;
    sync_dir(&archive).map_err(|e| JournalError::io(&archive, e))?;
    sync_dir(&at.dir).map_err(|e| JournalError::io(&at.dir, e))?;
    tracing::info!(
        journal = %path.display(),
        archived = %target.display(),
        "journal: a new run starts; the previous run's journal was archived"
    );
    let mut kept = existing;
    kept.push(target);
    let excess = kept.len().saturating_sub(at.keep_archived);
    for old in &kept[..excess] {
        match std::fs::remove_file(old) {
            Ok(()) => {
                tracing::info!(archived = %old.display(), "journal: deleted an old archived journal");
            }
            Err(e) => {
                tracing::warn!(archived = %old.display(), "journal: could not delete an old archived journal: {e}");
            }
        }
    }
    if excess > 0 {
        sync_dir(&archive).map_err(|e| JournalError::io(&archive, e))?;
    }
    Ok(())
}

/// The archived journals of the plan whose file stem is `stem`, oldest first.
fn archived_in(archive: &Path, stem: &str) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(archive) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if name
            .strip_prefix(stem)
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|rest| rest.strip_suffix(".journal.jsonl"))
            .is_some_and(|stamp| stamp_time(stamp).is_some())
        {
            found.push(archive.join(name));
        }
    }
    // Same prefix, fixed-width UTC stamps: by name is oldest first.
    found.sort();
    Ok(found)
}

/// A new archive's path: `<stem>.<now as yyyymmddThhmmssmmmZ>.journal.jsonl`, later than every
/// `existing` archive (even if the clock went back) and not taken.
fn archive_name(archive: &Path, stem: &str, existing: &[PathBuf]) -> PathBuf {
    let newest = existing
        .last()
        .and_then(|p| p.file_name()?.to_str()?.strip_prefix(stem)?.get(1..20))
        .and_then(stamp_time);
    let mut at = SystemTime::now();
    if let Some(newest) = newest
        && at <= newest
    {
        at = newest + Duration::from_millis(1);
    }
    loop {
        let path = archive.join(format!("{stem}.{}.journal.jsonl", stamp(at)));
        if !path.exists() {
            return path;
        }
        at += Duration::from_millis(1);
    }
}

/// `yyyymmddThhmmssmmmZ` (UTC, milliseconds).
fn stamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at)
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_digit() || matches!(c, 'T' | 'Z'))
        .collect()
}

/// The time of a [`stamp`], if `text` is one.
fn stamp_time(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let shape = b.len() == 19
        && b[8] == b'T'
        && b[18] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || i == 18 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    let t = |r: std::ops::Range<usize>| &text[r];
    humantime::parse_rfc3339(&format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        t(0..4),
        t(4..6),
        t(6..8),
        t(9..11),
        t(11..13),
        t(13..15),
        t(15..18)
    ))
    .ok()
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
