//! The journal: an append-only list of JSON lines, one per state change of a run.
//!
//! - **What**: the plan (steps, dependencies, tiers, budgets), then every step started /
//!   checked / retried / approved / succeeded / failed / skipped / rolled back, with outputs,
//!   timings and the approver's identity, and the run's end. Only ids, states, outputs and
//!   error text: never a secret (actions must not put secrets in outputs or error messages).
//! - **When durable**: a step's end (and an approval) is written *and* fsynced before the step
//!   is reported done, so before any step that depends on it starts. A step's start is not
//!   waited for: a resume checks again every step that has no recorded end. Records that happen
//!   together are *group-committed*: one write and one fsync for the batch, so a wide plan
//!   does not pay one fsync per step.
//! - **Where**: a [`JournalStore`]. [`FileJournalStore`] keeps `<dir>/<plan>.journal.jsonl`
//!   and a lock file `<dir>/<plan>.lock` (an OS file lock, released if the process dies).
//!
//! ## Writing another store (e.g. S3)
//!
//! The trait is async and batch-oriented so an object store fits: `append` receives a whole
//! group commit (one object or one request per batch, e.g. `journal/<plan>/<first-seq>.jsonl`
//! written with `If-None-Match: *`), `load` concatenates the batches in order, and `acquire`
//! is a conditional create (`If-None-Match: *` on `locks/<plan>`, holding the [`LockHolder`]
//! as JSON) that fails with [`JournalError::Locked`] naming the holder, released with a
//! conditional delete (`If-Match: <etag>`).
//!
//! Unlike the file store's OS lock, which the kernel releases when its process dies, an object
//! store's lock outlives a lost machine — the very case the store exists for. Such a store
//! should give its lock a lease (the [`LockHolder`] with an expiry, renewed while the run goes
//! on, taken over with `If-Match` once expired) or offer the operator an explicit takeover.

use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use drkit_core::{ErrorKind, Outputs};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::approval::Decision;
use crate::clock::Clock;
use crate::events::Hub;
use crate::plan::PlanSource;
use crate::report::Outcome;
use crate::rto::{RpoObjectives, RtoBudgets, Tier};

/// One line of the journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the run's journal, from 0 (a resumed run goes on counting).
    pub seq: u64,
    /// When it happened.
    #[serde(with = "crate::clock::rfc3339")]
    pub at: SystemTime,
    /// The run.
    pub run: String,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// A step, as the journal describes the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    /// The step id.
    pub id: String,
    /// Its dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Its tier.
    pub tier: Tier,
    /// The service it acts on.
    pub service: String,
    /// The action kind, when built before the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The resource, when built before the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A state change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// A run (or a resumed run) started.
    RunStarted {
        /// The plan's name.
        plan: String,
        /// The plan's fingerprint.
        fingerprint: String,
        /// Whether this continues an earlier run from its journal.
        resumed: bool,
        /// Who runs it.
        holder: String,
        /// When the incident started (RTO budgets count from there).
        #[serde(with = "crate::clock::rfc3339")]
        incident_start: SystemTime,
        /// RTO budgets.
        rto: RtoBudgets,
        /// RPO objectives.
        rpo: RpoObjectives,
        /// The steps.
        steps: Vec<StepInfo>,
        /// Where the plan came from (e.g. the runbook's text), when the caller recorded it:
        /// enough to resume from the journal alone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<PlanSource>,
    },
    /// A step was launched.
    StepStarted {
        /// The step.
        step: String,
        /// The action kind.
        kind: String,
        /// The resource.
        target: String,
        /// Whether the action changes anything.
        mutates: bool,
    },
    /// A step's check said it can run; `change` is what it will change.
    StepReady {
        /// The step.
        step: String,
        /// The change.
        change: String,
    },
    /// An attempt failed with a retryable error; another follows after `delay`.
    StepRetried {
        /// The step.
        step: String,
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// The pause before the next attempt.
        #[serde(with = "crate::clock::secs")]
        delay: Duration,
        /// The error.
        error: String,
    },
    /// An approval was asked for.
    ApprovalRequested {
        /// The step.
        step: String,
    },
    /// An approver decided.
    ApprovalDecided {
        /// The step.
        step: String,
        /// The decision, with who made it.
        #[serde(flatten)]
        decision: Decision,
    },
    /// A step executed and verified.
    StepSucceeded {
        /// The step.
        step: String,
        /// Its outputs.
        outputs: Outputs,
        /// What verify checked.
        verified: String,
        /// Time from start to end.
        #[serde(with = "crate::clock::secs")]
        duration: Duration,
    },
    /// A step's check said it was already done: nothing executed.
    StepSkipped {
        /// The step.
        step: String,
        /// What check found.
        detail: String,
        /// The outputs of the already-done change.
        outputs: Outputs,
    },
    /// A step failed.
    StepFailed {
        /// The step.
        step: String,
        /// The error, as one line.
        error: String,
        /// The error's kind.
        kind: ErrorKind,
        /// What the action measured before failing (e.g. a breached RPO), if anything.
        #[serde(default, skip_serializing_if = "Outputs::is_empty")]
        outputs: Outputs,
        /// Time from start to end.
        #[serde(with = "crate::clock::secs")]
        duration: Duration,
    },
    /// A step stopped at a safe point because the run was cancelled.
    StepInterrupted {
        /// The step.
        step: String,
        /// The error it stopped with.
        error: String,
    },
    /// A step was not launched.
    StepNotRun {
        /// The step.
        step: String,
        /// Why (a dependency failed, the run was aborted or interrupted).
        reason: String,
    },
    /// Compensations start.
    RollbackStarted {
        /// The failed step that asked for it.
        because_of: String,
        /// The steps to compensate, in order.
        steps: Vec<String>,
    },
    /// A step was compensated.
    StepRolledBack {
        /// The step.
        step: String,
    },
    /// A step's compensation failed (or the action has none).
    StepRollbackFailed {
        /// The step.
        step: String,
        /// The error.
        error: String,
    },
    /// The run was cancelled: no new step is launched.
    RunInterrupted {
        /// Why.
        reason: String,
    },
    /// The run ended.
    RunFinished {
        /// How.
        outcome: Outcome,
    },
}

impl Event {
    /// The step this event concerns, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Self::StepStarted { step, .. }
            | Self::StepReady { step, .. }
            | Self::StepRetried { step, .. }
            | Self::ApprovalRequested { step }
            | Self::ApprovalDecided { step, .. }
            | Self::StepSucceeded { step, .. }
            | Self::StepSkipped { step, .. }
            | Self::StepFailed { step, .. }
            | Self::StepInterrupted { step, .. }
            | Self::StepNotRun { step, .. }
            | Self::StepRolledBack { step }
            | Self::StepRollbackFailed { step, .. } => Some(step),
            Self::RunStarted { .. }
            | Self::RollbackStarted { .. }
            | Self::RunInterrupted { .. }
            | Self::RunFinished { .. } => None,
        }
    }

    /// The snake-case name of the event (`step_succeeded`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::RunStarted { .. } => "run_started",
            Self::StepStarted { .. } => "step_started",
            Self::StepReady { .. } => "step_ready",
            Self::StepRetried { .. } => "step_retried",
            Self::ApprovalRequested { .. } => "approval_requested",
            Self::ApprovalDecided { .. } => "approval_decided",
            Self::StepSucceeded { .. } => "step_succeeded",
            Self::StepSkipped { .. } => "step_skipped",
            Self::StepFailed { .. } => "step_failed",
            Self::StepInterrupted { .. } => "step_interrupted",
            Self::StepNotRun { .. } => "step_not_run",
            Self::RollbackStarted { .. } => "rollback_started",
            Self::StepRolledBack { .. } => "step_rolled_back",
            Self::StepRollbackFailed { .. } => "step_rollback_failed",
            Self::RunInterrupted { .. } => "run_interrupted",
            Self::RunFinished { .. } => "run_finished",
        }
    }
}

/// Who holds a plan's lock, and since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// Who: e.g. `alice@bastion-1 (pid 4242)`.
    pub who: String,
    /// Since when.
    #[serde(with = "crate::clock::rfc3339")]
    pub since: SystemTime,
}

impl LockHolder {
    /// `who`, from now.
    pub fn new(who: impl Into<String>) -> Self {
        Self {
            who: who.into(),
            since: SystemTime::now(),
        }
    }

    /// `user@host (pid N)`, from the environment.
    pub fn from_environment() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".to_owned());
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|| "unknown-host".to_owned());
        Self::new(format!("{user}@{host} (pid {})", std::process::id()))
    }
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} since {}",
            self.who,
            humantime::format_rfc3339_seconds(self.since)
        )
    }
}

/// A journal store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// Another run holds the plan's lock.
    #[error("plan `{plan}` is already being run: the lock is held by {holder}")]
    Locked {
        /// The plan.
        plan: String,
        /// Who holds it, since when.
        holder: LockHolder,
    },
    /// Reading or writing failed.
    #[error("journal {path}: {source}")]
    Io {
        /// The file or object.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line could not be read back.
    #[error("journal {path}, line {line}: {message}")]
    Corrupt {
        /// The file or object.
        path: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An earlier write failed: the journal accepts nothing more.
    #[error("the journal failed earlier and stopped: {0}")]
    Stopped(String),
    /// A remote store (e.g. S3) failed; the source says whether a retry can help.
    #[error("journal {location}: {source}")]
    Store {
        /// The object or URL.
        location: String,
        /// The cause, classified.
        #[source]
        source: drkit_core::ActionError,
    },
}

impl JournalError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// A held lock on a plan's journal. Dropping it releases it too (best effort).
#[async_trait]
pub trait JournalLock: Send + Sync + fmt::Debug {
    /// Who holds it.
    fn holder(&self) -> &LockHolder;
    /// Releases it.
    async fn release(self: Box<Self>) -> Result<(), JournalError>;
}

/// Where journals are kept: local file, object store, ...
///
/// Contract: `append` returns only once the bytes are durable; `load` returns every record
/// appended, in order; `acquire` is exclusive across processes and machines sharing the
/// store, and fails with [`JournalError::Locked`] naming the holder.
#[async_trait]
pub trait JournalStore: Send + Sync + fmt::Debug + 'static {
    /// Takes the lock of `plan`'s journal.
    async fn acquire(
        &self,
        plan: &str,
        holder: &LockHolder,
    ) -> Result<Box<dyn JournalLock>, JournalError>;

    /// Appends one group commit durably.
    async fn append(&self, plan: &str, batch: Batch) -> Result<(), JournalError>;

    /// Every record of `plan`'s journal, in order (empty when there is none). A torn last line
    /// (a crash in the middle of a write) is ignored.
    async fn load(&self, plan: &str) -> Result<Vec<Record>, JournalError>;
}

/// One group commit: consecutive records of one run, as JSON lines.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Batch {
    /// The run.
    pub run: String,
    /// The `seq` of the first record (an object store can name the batch's object after it,
    /// e.g. `journal/<plan>/<run>/<first_seq:020>.jsonl`, and write it with
    /// `If-None-Match: *` so that two writers can never both succeed).
    pub first_seq: u64,
    /// How many records.
    pub records: usize,
    /// The records: whole JSON lines, each ending in `\n`.
    pub lines: Vec<u8>,
}

impl Batch {
    /// A batch of `records` JSON lines of `run`, the first with sequence number `first_seq`.
    pub fn new(run: impl Into<String>, first_seq: u64, records: usize, lines: Vec<u8>) -> Self {
        Self {
            run: run.into(),
            first_seq,
            records,
            lines,
        }
    }
}

/// Journals as files in a directory: `<plan>.journal.jsonl`, locked through `<plan>.lock`.
#[derive(Debug)]
pub struct FileJournalStore {
    dir: PathBuf,
    open: Mutex<HashMap<String, Arc<Mutex<File>>>>,
}

impl FileJournalStore {
    /// Journals in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, JournalError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| JournalError::io(&dir, e))?;
        Ok(Self {
            dir,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The journal file of `plan`.
    pub fn journal_path(&self, plan: &str) -> PathBuf {
        self.dir.join(format!("{}.journal.jsonl", file_stem(plan)))
    }

    /// The lock file of `plan`.
    pub fn lock_path(&self, plan: &str) -> PathBuf {
        self.dir.join(format!("{}.lock", file_stem(plan)))
    }

    fn file(&self, plan: &str) -> Result<Arc<Mutex<File>>, JournalError> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| JournalError::Stopped("journal file table poisoned".into()))?;
        if let Some(f) = open.get(plan) {
            return Ok(Arc::clone(f));
        }
        let path = self.journal_path(plan);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| JournalError::io(&path, e))?;
        // Make the new file's directory entry durable too.
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        let file = Arc::new(Mutex::new(file));
        open.insert(plan.to_owned(), Arc::clone(&file));
        Ok(file)
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
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| JournalError::io(&path, e))?;
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
        Ok(Box::new(FileLock {
            holder: holder.clone(),
            file,
        }))
    }

    async fn append(&self, plan: &str, batch: Batch) -> Result<(), JournalError> {
        let file = self.file(plan)?;
        let lines = batch.lines;
        let path = self.journal_path(plan);
        let write = move || -> std::io::Result<()> {
            let mut f = file
                .lock()
                .map_err(|_| std::io::Error::other("journal file mutex poisoned"))?;
            f.write_all(&lines)?;
            f.sync_data()
        };
        // Blocking file I/O off the async workers.
        match tokio::task::spawn_blocking(write).await {
            Ok(result) => result.map_err(|e| JournalError::io(&path, e)),
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
        parse_lines(BufReader::new(file), &path.display().to_string())
    }
}

/// The plan source recorded by the last run (not resume) in `records`: what `drkit resume
/// JOURNAL` rebuilds the plan from. `None` if that run recorded none.
pub fn last_run_source(records: &[Record]) -> Option<&PlanSource> {
    records.iter().rev().find_map(|r| match &r.event {
        Event::RunStarted {
            resumed: false,
            source,
            ..
        } => Some(source.as_ref()),
        _ => None,
    })?
}

/// Parses JSON lines; a torn last line is ignored. `path` names the source in errors. Public
/// for other [`JournalStore`]s, which store the same lines.
pub fn parse_lines(reader: impl BufRead, path: &str) -> Result<Vec<Record>, JournalError> {
    let lines: Vec<String> =
        reader
            .lines()
            .collect::<Result<_, _>>()
            .map_err(|e| JournalError::Io {
                path: path.to_owned(),
                source: e,
            })?;
    let mut records = Vec::with_capacity(lines.len());
    let last = lines.len();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => records.push(r),
            Err(_) if i + 1 == last => break,
            Err(e) => {
                return Err(JournalError::Corrupt {
                    path: path.to_owned(),
                    line: i + 1,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(records)
}

/// A record waiting to be committed.
struct Pending {
    event: Event,
    at: SystemTime,
    ack: Option<oneshot::Sender<Result<(), String>>>,
}

/// What the committer hands back when it stops.
#[derive(Debug, Default)]
pub(crate) struct Committed {
    pub(crate) records: Vec<Record>,
    pub(crate) commits: u64,
}

/// The writing side of a run's journal: records are queued by any task, and a committer task
/// writes each queue-full as one batch (group commit), then acknowledges the waiters and
/// publishes the records to the run's event hub.
#[derive(Clone, Debug)]
pub(crate) struct Journal {
    tx: mpsc::UnboundedSender<Pending>,
    clock: Clock,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Starts the committer. `store`: `None` keeps the journal in memory only.
    pub(crate) fn start(
        store: Option<Arc<dyn JournalStore>>,
        plan: String,
        run: String,
        first_seq: u64,
        clock: Clock,
        hub: Arc<Hub>,
    ) -> (Self, tokio::task::JoinHandle<Committed>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(commit_loop(rx, store, plan, run, first_seq, hub));
        (Self { tx, clock }, task)
    }

    /// Queues a record without waiting for it to be durable.
    pub(crate) fn record(&self, event: Event) {
        let _ = self.tx.send(Pending {
            event,
            at: self.clock.now(),
            ack: None,
        });
    }

    /// Queues a record and waits until it is durable.
    pub(crate) async fn record_durable(&self, event: Event) -> Result<(), JournalError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Pending {
                event,
                at: self.clock.now(),
                ack: Some(ack),
            })
            .map_err(|_| JournalError::Stopped("the journal is closed".into()))?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(JournalError::Stopped(e)),
            Err(_) => Err(JournalError::Stopped("the journal is closed".into())),
        }
    }
}

/// How long records nobody waits for may wait for company before being written.
const LINGER: Duration = Duration::from_millis(2);

async fn commit_loop(
    mut rx: mpsc::UnboundedReceiver<Pending>,
    store: Option<Arc<dyn JournalStore>>,
    plan: String,
    run: String,
    mut seq: u64,
    hub: Arc<Hub>,
) -> Committed {
    let mut committed = Committed::default();
    let mut batch = Vec::with_capacity(256);
    let mut failed: Option<String> = None;
    let mut bytes = Vec::with_capacity(64 * 1024);
    while rx.recv_many(&mut batch, 4096).await > 0 {
        // Nobody waits for these records yet: linger briefly, so that a step's start and end
        // (and its neighbours' records) share one write and one fsync.
        if batch.iter().all(|p| p.ack.is_none()) {
            let linger = tokio::time::sleep(LINGER);
            tokio::pin!(linger);
            loop {
                tokio::select! {
                    biased;
                    n = rx.recv_many(&mut batch, 4096) => {
                        if n == 0 || batch.iter().any(|p| p.ack.is_some()) {
                            break;
                        }
                    }
                    () = &mut linger => break,
                }
            }
        }
        bytes.clear();
        let first = committed.records.len();
        let first_seq = seq;
        let mut acks = Vec::new();
        for pending in batch.drain(..) {
            let record = Record {
                seq,
                at: pending.at,
                run: run.clone(),
                event: pending.event,
            };
            seq += 1;
            if serde_json::to_writer(&mut bytes, &record).is_ok() {
                bytes.push(b'\n');
            }
            committed.records.push(record);
            if let Some(ack) = pending.ack {
                acks.push(ack);
            }
        }
        if failed.is_none()
            && let Some(store) = &store
        {
            let batch = Batch {
                run: run.clone(),
                first_seq,
                records: committed.records.len() - first,
                lines: std::mem::take(&mut bytes),
            };
            if let Err(e) = store.append(&plan, batch).await {
                tracing::error!(plan, "journal write failed: {e}");
                failed = Some(e.to_string());
            }
            committed.commits += 1;
        }
        for ack in acks {
            let _ = ack.send(match &failed {
                None => Ok(()),
                Some(e) => Err(e.clone()),
            });
        }
        for record in &committed.records[first..] {
            hub.publish_record(record);
        }
    }
    committed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_as_flat_json_lines() {
        let r = Record {
            seq: 3,
            at: SystemTime::UNIX_EPOCH + Duration::from_micros(1_500_000),
            run: "r1".into(),
            event: Event::ApprovalDecided {
                step: "promote".into(),
                decision: Decision::Approved { by: "alice".into() },
            },
        };
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(
            line,
            r#"{"seq":3,"at":"1970-01-01T00:00:01.500000Z","run":"r1","event":"approval_decided","step":"promote","decision":"approved","by":"alice"}"#
        );
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_torn_last_line_is_ignored_but_a_bad_middle_line_is_not() {
        let good = r#"{"seq":0,"at":"1970-01-01T00:00:00Z","run":"r","event":"step_rolled_back","step":"a"}"#;
        let text = format!("{good}\n{good}\n{{\"seq\":2,\"at");
        let records = parse_lines(text.as_bytes(), "j").unwrap();
        assert_eq!(records.len(), 2);
        let text = format!("{good}\nnot json\n{good}\n");
        let err = parse_lines(text.as_bytes(), "j").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[tokio::test]
    async fn the_lock_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileJournalStore::new(dir.path()).unwrap();
        let alice = LockHolder::new("alice@bastion (pid 1)");
        let lock = store.acquire("plan-a", &alice).await.unwrap();
        let err = store
            .acquire("plan-a", &LockHolder::new("bob"))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("alice@bastion (pid 1) since "), "{text}");
        assert!(matches!(err, JournalError::Locked { holder, .. } if holder.who == alice.who));
        // Another plan is not locked.
        let other = store
            .acquire("plan-b", &LockHolder::new("bob"))
            .await
            .unwrap();
        other.release().await.unwrap();
        lock.release().await.unwrap();
        let again = store
            .acquire("plan-a", &LockHolder::new("bob"))
            .await
            .unwrap();
        assert_eq!(again.holder().who, "bob");
    }
}
