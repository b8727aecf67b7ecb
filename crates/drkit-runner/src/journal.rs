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
//! - **Format**: each line carries the format version, `"v":1` ([`Record::FORMAT_VERSION`]);
//!   a line without it is version 1. A line of another version, or naming an event this drkit
//!   does not know, is refused with [`JournalError::UnsupportedVersion`] /
//!   [`JournalError::UnknownEvent`], naming the file and the line.
//! - **Torn tail**: a record is complete once its line ends in `\n`. A crash or a full disk in
//!   the middle of a write leaves an incomplete last line: loading skips it, and
//!   [`FileJournalStore`] cuts it off (and says so) before it appends again, so the next record
//!   never lands on the fragment. A bad line anywhere else is an error.
//! - **Retention**: [`FileJournalStore`] keeps one file per plan, holding the latest run and its
//!   resumptions; when a new run starts, the previous file moves to
//!   `<dir>/archive/<plan>.<UTC time>.journal.jsonl`, and only the newest archives are kept
//!   ([`FileJournalStore::keep_archived`], seed 10).
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
//! on, taken over with `If-Match` once expired) or offer the operator an explicit takeover. A
//! lease can be lost while held: the lock then tells the runner through
//! [`JournalLock::loss`], and the store must refuse the old holder's writes (fencing; see
//! drkit-journal-s3).

use std::collections::BTreeSet;
use std::fmt;
use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use drkit_core::{ErrorKind, Outputs};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::approval::Decision;
use crate::clock::Clock;
use crate::conditions::Mode;
use crate::events::Hub;
use crate::plan::PlanSource;
use crate::report::Outcome;
use crate::rto::{RpoObjectives, RtoBudgets, Tier};

/// One line of the journal.
///
/// Serialised as one flat JSON object that starts with the format version,
/// `{"v":1,"seq":...,"at":...,"run":...,"event":"step_succeeded",...}`. Deserialising accepts
/// a line without `v` (written before versions were recorded) as version 1, and refuses any
/// other version.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Position in the run's journal, from 0 (a resumed run goes on counting).
    pub seq: u64,
    /// When it happened.
    pub at: SystemTime,
    /// The run.
    pub run: String,
    /// What happened.
    pub event: Event,
}

impl Record {
    /// The journal format this drkit writes, and the only one it reads (`"v"` in each line).
    pub const FORMAT_VERSION: u32 = 1;
}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Line<'a> {
            v: u32,
            seq: u64,
            #[serde(with = "crate::clock::rfc3339")]
            at: SystemTime,
            run: &'a str,
            #[serde(flatten)]
            event: &'a Event,
        }
        Line {
            v: Self::FORMAT_VERSION,
            seq: self.seq,
            at: self.at,
            run: &self.run,
            event: &self.event,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Line {
            #[serde(default)]
            v: Option<u64>,
            seq: u64,
            #[serde(with = "crate::clock::rfc3339")]
            at: SystemTime,
            run: String,
            #[serde(flatten)]
            event: Event,
        }
        let line = Line::deserialize(d)?;
        let version = line.v.unwrap_or(u64::from(Self::FORMAT_VERSION));
        if version != u64::from(Self::FORMAT_VERSION) {
            return Err(serde::de::Error::custom(format_args!(
                "journal format version {version} is not supported (this drkit reads version {})",
                Self::FORMAT_VERSION
            )));
        }
        Ok(Self {
            seq: line.seq,
            at: line.at,
            run: line.run,
            event: line.event,
        })
    }
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
        /// The run's mode (graceful when absent: journals written before modes).
        #[serde(default)]
        mode: Mode,
        /// The regions the run was told are impaired.
        #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
        impaired_regions: BTreeSet<String>,
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
    /// Written durably before a mutating call: what the step is about to change and what it
    /// needs to recognise its own change later (the writer before a failover, a token, the prior
    /// state). A resumed step reconciles from its last intent instead of repeating the call. An
    /// empty `intent` withdraws it (the provider refused the call: nothing changed).
    StepIntent {
        /// The step.
        step: String,
        /// Whether this is the intent of the step's compensation (its rollback).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        rollback: bool,
        /// What the action recorded.
        intent: Outputs,
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
        /// What check found, or why the run's conditions skip it.
        detail: String,
        /// The outputs of the already-done change.
        outputs: Outputs,
        /// Skipped for the run's mode or an impaired region (see [`crate::Conditions`]), not
        /// found done: nothing was sent, and a resume evaluates the step again.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        condition: bool,
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
    /// An operator decided what a resume does with a step (`drkit resume --retry STEP`,
    /// `--skip STEP --reason ...`), before any step ran.
    OperatorDecided {
        /// The step.
        step: String,
        /// `retry` or `skip`.
        decision: String,
        /// Who decided.
        by: String,
        /// Why (a skip's reason).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl Event {
    /// The step this event concerns, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Self::StepStarted { step, .. }
            | Self::StepReady { step, .. }
            | Self::StepIntent { step, .. }
            | Self::StepRetried { step, .. }
            | Self::ApprovalRequested { step }
            | Self::ApprovalDecided { step, .. }
            | Self::StepSucceeded { step, .. }
            | Self::StepSkipped { step, .. }
            | Self::StepFailed { step, .. }
            | Self::StepInterrupted { step, .. }
            | Self::StepNotRun { step, .. }
            | Self::StepRolledBack { step }
            | Self::StepRollbackFailed { step, .. }
            | Self::OperatorDecided { step, .. } => Some(step),
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
            Self::StepIntent { .. } => "step_intent",
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
            Self::OperatorDecided { .. } => "operator_decided",
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
    /// A line was written in a journal format this drkit does not read (a newer drkit wrote
    /// it). Retrying cannot help: read it with a drkit that knows that version.
    #[error(
        "journal {path}, line {line}: journal format version {version} is not supported \
         (this drkit reads version {supported}); use the drkit version that wrote it",
        supported = Record::FORMAT_VERSION
    )]
    UnsupportedVersion {
        /// The file or object.
        path: String,
        /// The 1-based line.
        line: usize,
        /// The version, as written.
        version: String,
    },
    /// A line names an event this drkit does not know (a newer drkit wrote it). Retrying cannot
    /// help: read it with a drkit that knows that event.
    #[error(
        "journal {path}, line {line}: unknown event `{event}` (written by a newer drkit?); \
         use the drkit version that wrote it"
    )]
    UnknownEvent {
        /// The file or object.
        path: String,
        /// The 1-based line.
        line: usize,
        /// The event's name, as written.
        event: String,
    },
    /// A record could not be serialised, so it was not written (nor acknowledged). Retrying
    /// cannot help.
    #[error(
        "the journal record `{event}` could not be serialised, so it was not written: {message}"
    )]
    Unserialisable {
        /// The event's name (`step_succeeded`, ...).
        event: String,
        /// Why.
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
    /// The loss signal of a lock that can be lost while held (a lease that could not be
    /// renewed in time, or that another holder took over). The runner then launches no new
    /// step, cancels the running ones and journals `run_interrupted` ("lost the journal lock:
    /// ..."). `None` (the default): the lock cannot be lost, like an OS file lock.
    fn loss(&self) -> Option<crate::lease::LockLoss> {
        None
    }
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

    /// The records of `plan`'s earlier runs that the store keeps apart from [`load`]'s (the
    /// file store's archive), oldest first: what the report compares a run with
    /// ([`Report::with_previous`](crate::Report::with_previous)). The default: none (a store
    /// whose `load` returns every run, as the S3 store's does, needs nothing more).
    ///
    /// [`load`]: Self::load
    async fn load_archived(&self, plan: &str) -> Result<Vec<Record>, JournalError> {
        let _ = plan;
        Ok(Vec::new())
    }
}

/// One group commit: consecutive records of one run, as JSON lines.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Batch {
    /// The run.
    pub run: String,
    /// The `seq` of the first record (an object store can name the batch's object after it,
    /// e.g. `journal/<plan>/<run>/<first_seq:020>.jsonl`, and write it with
    /// `If-None-Match: *` so that two writers can never both succeed). 0 is the first batch
    /// of a new (not resumed) run: a store may start a new journal there, as
    /// [`FileJournalStore`] does.
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

mod file;

pub use file::FileJournalStore;

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

/// Parses JSON lines; a torn last line (see [`complete_len`]) is ignored. `path` names the
/// source in errors. Public for other [`JournalStore`]s, which store the same lines.
///
/// Errors: a line of another format version, [`JournalError::UnsupportedVersion`]; a line
/// naming an unknown event, [`JournalError::UnknownEvent`]; any other line that is not a
/// record, [`JournalError::Corrupt`]; each with the path and the 1-based line.
pub fn parse_lines(mut reader: impl BufRead, path: &str) -> Result<Vec<Record>, JournalError> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| JournalError::Io {
            path: path.to_owned(),
            source: e,
        })?;
    parse_bytes(&bytes, path)
}

/// [`parse_lines`] of bytes in memory.
pub(crate) fn parse_bytes(bytes: &[u8], path: &str) -> Result<Vec<Record>, JournalError> {
    let whole = &bytes[..complete_len(bytes)];
    let mut records = Vec::with_capacity(whole.len() / 128);
    for (i, line) in whole.split(|&b| b == b'\n').enumerate() {
        if line.trim_ascii().is_empty() {
            continue;
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => records.push(r),
            Err(e) => return Err(line_error(line, path, i + 1, &e)),
        }
    }
    Ok(records)
}

/// How many leading bytes of a journal hold whole lines: all of it but its torn tail, if any.
///
/// A line is complete once it ends in `\n` (every append writes whole lines), so the torn tail
/// is whatever follows the last `\n`: a write cut short by a crash or a full disk. When the
/// bytes end in `\n`, a last non-blank line that is not JSON at all (a write whose middle never
/// reached the disk: zeros, garbage) is torn too. A last line that is JSON stays, whatever it
/// holds: a record of a newer format is refused, never cut off.
pub(crate) fn complete_len(bytes: &[u8]) -> usize {
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if end < bytes.len() {
        return end;
    }
    // Ends in a newline: the last non-blank line must at least be JSON.
    let mut line_end = end;
    while line_end > 0 {
        let body = &bytes[..line_end - 1];
        let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = &body[start..];
        if line.trim_ascii().is_empty() {
            line_end = start;
            continue;
        }
        return if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok() {
            end
        } else {
            start
        };
    }
    end
}

/// Why `line` (1-based `number`) is not a record this drkit reads: another format version,
/// an unknown event, or else corrupt.
fn line_error(line: &[u8], path: &str, number: usize, error: &serde_json::Error) -> JournalError {
    #[derive(Deserialize)]
    struct Header {
        #[serde(default)]
        v: Option<serde_json::Value>,
        #[serde(default)]
        event: Option<serde_json::Value>,
    }
    if let Ok(header) = serde_json::from_slice::<Header>(line) {
        if let Some(v) = header.v
            && v != Record::FORMAT_VERSION
        {
            return JournalError::UnsupportedVersion {
                path: path.to_owned(),
                line: number,
                version: v.to_string(),
            };
        }
        if let Some(serde_json::Value::String(event)) = header.event
            && !known_event(&event)
        {
            return JournalError::UnknownEvent {
                path: path.to_owned(),
                line: number,
                event,
            };
        }
    }
    JournalError::Corrupt {
        path: path.to_owned(),
        line: number,
        message: error.to_string(),
    }
}

/// Whether `tag` names an [`Event`] variant: asks [`Event`]'s own deserialiser, so that a
/// variant added to the enum is known without a list to keep up to date.
fn known_event(tag: &str) -> bool {
    /// Records whether the deserialiser reported an unknown variant.
    #[derive(Debug)]
    struct Probe {
        unknown_variant: bool,
    }
    impl fmt::Display for Probe {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(if self.unknown_variant {
                "unknown variant"
            } else {
                "other error"
            })
        }
    }
    impl std::error::Error for Probe {}
    impl serde::de::Error for Probe {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Self {
                unknown_variant: false,
            }
        }
        fn unknown_variant(_: &str, _: &'static [&'static str]) -> Self {
            Self {
                unknown_variant: true,
            }
        }
    }
    let map = serde::de::value::MapDeserializer::<_, Probe>::new(std::iter::once(("event", tag)));
    !matches!(
        Event::deserialize(map),
        Err(Probe {
            unknown_variant: true
        })
    )
}

/// A record waiting to be committed.
struct Pending {
    event: Event,
    at: SystemTime,
    ack: Option<oneshot::Sender<Result<(), Refused>>>,
}

/// Why the committer did not acknowledge a record.
#[derive(Clone, Debug)]
enum Refused {
    /// The store failed (now or earlier): the journal accepts nothing more.
    Stopped(String),
    /// This record could not be serialised: it was not written.
    Unserialisable {
        event: &'static str,
        message: String,
    },
}

impl From<Refused> for JournalError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::Stopped(e) => Self::Stopped(e),
            Refused::Unserialisable { event, message } => Self::Unserialisable {
                event: event.to_owned(),
                message,
            },
        }
    }
}

/// What the committer hands back when it stops.
#[derive(Debug, Default)]
pub(crate) struct Committed {
    pub(crate) records: Vec<Record>,
    pub(crate) commits: u64,
}

/// The writing side of a run's journal: records are queued by any task, and a committer task
/// writes each queue-full as one batch (group commit), then acknowledges the waiters and
/// publishes the records to the run's event hub (which never waits for the event sinks: they
/// are fed from a queue of their own). A record is acknowledged only once it was serialised
/// and written; one that cannot be serialised is not written, logged, and its waiter gets
/// [`JournalError::Unserialisable`].
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

    /// Queues a record and waits until it is durable: `Ok` only once it was serialised, written
    /// and synced.
    pub(crate) async fn record_durable(&self, event: Event) -> Result<(), JournalError> {
        self.record_durable_at(event, self.clock.now()).await
    }

    /// [`record_durable`](Self::record_durable) with the record's time given (the run's start,
    /// which the steps also see).
    pub(crate) async fn record_durable_at(
        &self,
        event: Event,
        at: SystemTime,
    ) -> Result<(), JournalError> {
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Pending {
                event,
                at,
                ack: Some(ack),
            })
            .map_err(|_| JournalError::Stopped("the journal is closed".into()))?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(refused)) => Err(refused.into()),
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
                // As written: the records kept in memory (the run's report) are those read back.
                at: crate::clock::to_micros(pending.at),
                run: run.clone(),
                event: pending.event,
            };
            let start = bytes.len();
            // A record's own `Serialize` may fail, or panic (e.g. a time before 1970): either
            // way it is not written, and its seq goes to the next record.
            let serialised = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                serde_json::to_writer(&mut bytes, &record)
            }));
            let error = match serialised {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some("its serialisation panicked".to_owned()),
            };
            if let Some(message) = error {
                bytes.truncate(start);
                let event = record.event.name();
                tracing::error!(
                    plan,
                    run,
                    event,
                    "journal: a record could not be serialised and was not written: {message}"
                );
                if let Some(ack) = pending.ack {
                    let _ = ack.send(Err(Refused::Unserialisable { event, message }));
                }
                continue;
            }
            bytes.push(b'\n');
            seq += 1;
            committed.records.push(record);
            if let Some(ack) = pending.ack {
                acks.push(ack);
            }
        }
        if committed.records.len() == first {
            continue;
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
                Some(e) => Err(Refused::Stopped(e.clone())),
            });
        }
        for record in &committed.records[first..] {
            hub.publish_record(record);
        }
    }
    // Let the event sinks catch up (bounded: a stuck sink does not hold the run's end).
    hub.flush_sinks().await;
    committed
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod format_tests;

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
            r#"{"v":1,"seq":3,"at":"1970-01-01T00:00:01.500000Z","run":"r1","event":"approval_decided","step":"promote","decision":"approved","by":"alice"}"#
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
