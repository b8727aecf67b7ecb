//! Live events of a run, for embedders: a broadcast ([`crate::Runner::subscribe`]) and sinks
//! ([`RunEventSink`]): [`TracingEvents`], [`JsonLinesEvents`] and [`WebhookNotifier`].
//!
//! Every journal record becomes an event once it is durable; actions' progress events
//! (polls, messages) are passed on as they come. Each event carries the RTO budget left for
//! its step's tier (the full-recovery tier for run-level events).

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::time::SystemTime;

use drkit_core::{EventSink, ProgressEvent, ProgressKind};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::clock::{Clock, signed_secs};
use crate::journal::{Event, Record};
use crate::rto::{RtoBudgets, Tier};

/// The RTO budget left for a tier when an event happened (negative once breached).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BudgetLeft {
    /// The tier.
    pub tier: Tier,
    /// Seconds left; negative once breached.
    pub seconds: f64,
}

/// What a [`RunEvent`] carries.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEventKind {
    /// A durable journal record.
    Journal(Record),
    /// An action's progress (not journalled).
    Progress(ProgressEvent),
}

/// One event of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunEvent {
    /// The run.
    pub run: String,
    /// The plan.
    pub plan: String,
    /// The budget left.
    pub budget: Option<BudgetLeft>,
    /// What happened.
    #[serde(flatten)]
    pub kind: RunEventKind,
}

impl RunEvent {
    /// The journal event, if this is one.
    pub fn journal_event(&self) -> Option<&Event> {
        match &self.kind {
            RunEventKind::Journal(r) => Some(&r.event),
            RunEventKind::Progress(_) => None,
        }
    }
}

/// Receives every event of a run, in order, from a thread of its own (one per sink), fed
/// through a bounded queue: a sink that is slow or blocks never holds up the journal, the
/// steps or the other sinks. If more than 4096 events wait for a sink, the next ones are
/// dropped for it (counted, and logged at warn level). When the run ends, the runner waits at
/// most 5 s for its sinks to catch up. Slow work (a network call) is still best handed to a
/// task of its own, as [`WebhookNotifier`] does.
pub trait RunEventSink: Send + Sync + fmt::Debug + 'static {
    /// One event.
    fn on_event(&self, event: &RunEvent);
}

/// Logs events with `tracing`: journal records at info (failures at warn), progress at debug.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingEvents;

impl RunEventSink for TracingEvents {
    fn on_event(&self, event: &RunEvent) {
        let left = event.budget.map(|b| b.seconds);
        match &event.kind {
            RunEventKind::Journal(r) => {
                let step = r.event.step().unwrap_or("-");
                match &r.event {
                    Event::StepFailed { error, .. }
                    | Event::StepRollbackFailed { error, .. }
                    | Event::StepInterrupted { error, .. } => {
                        tracing::warn!(run = %event.run, step, budget_left_s = ?left, "{}: {error}", r.event.name());
                    }
                    other => {
                        tracing::info!(run = %event.run, step, budget_left_s = ?left, "{}", other.name());
                    }
                }
            }
            RunEventKind::Progress(p) => {
                let step = p.step.as_deref().unwrap_or("-");
                tracing::debug!(run = %event.run, step, "{:?}", p.kind);
            }
        }
    }
}

/// Writes each event as one JSON line to a writer (a file, stdout, a pipe).
pub struct JsonLinesEvents<W> {
    out: Mutex<W>,
}

impl<W> fmt::Debug for JsonLinesEvents<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLinesEvents").finish_non_exhaustive()
    }
}

impl<W: Write + Send + 'static> JsonLinesEvents<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        Self {
            out: Mutex::new(out),
        }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        match self.out.into_inner() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl<W: Write + Send + 'static> RunEventSink for JsonLinesEvents<W> {
    fn on_event(&self, event: &RunEvent) {
        if let Ok(mut out) = self.out.lock() {
            let _ = serde_json::to_writer(&mut *out, event);
            let _ = out.write_all(b"\n");
            let _ = out.flush();
        }
    }
}

/// Fans a run's events out to the broadcast and the sinks, adding the budget left. Never
/// waits: the broadcast drops for lagging receivers, and the sinks are fed from queues of
/// their own ([`delivery`]).
#[derive(Debug)]
pub(crate) struct Hub {
    pub(crate) run: String,
    pub(crate) plan: String,
    pub(crate) tx: broadcast::Sender<RunEvent>,
    pub(crate) sinks: Vec<std::sync::Arc<dyn RunEventSink>>,
    pub(crate) incident_start: SystemTime,
    pub(crate) budgets: RtoBudgets,
    pub(crate) tiers: HashMap<String, Tier>,
    pub(crate) clock: Clock,
    /// The sinks' queues and threads.
    pub(crate) sink_queue: delivery::SinkQueue,
}

impl Hub {
    fn listened(&self) -> bool {
        !self.sinks.is_empty() || self.tx.receiver_count() > 0
    }

    fn budget(&self, step: Option<&str>, at: SystemTime) -> BudgetLeft {
        let tier = step
            .and_then(|s| self.tiers.get(s).copied())
            .unwrap_or(Tier::Full);
        let deadline = self.incident_start + self.budgets.budget(tier);
        BudgetLeft {
            tier,
            seconds: signed_secs(deadline, at),
        }
    }

    fn publish(&self, event: RunEvent) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(event.clone());
        }
        if !self.sinks.is_empty() {
            self.sink_queue.send(&self.sinks, event);
        }
    }

    /// Waits, at most [`delivery::FLUSH_TIMEOUT`], for the sinks to have every event.
    pub(crate) async fn flush_sinks(&self) {
        self.sink_queue.flush(delivery::FLUSH_TIMEOUT).await;
    }

    pub(crate) fn publish_record(&self, record: &Record) {
        if !self.listened() {
            return;
        }
        let budget = self.budget(record.event.step(), record.at);
        self.publish(RunEvent {
            run: self.run.clone(),
            plan: self.plan.clone(),
            budget: Some(budget),
            kind: RunEventKind::Journal(record.clone()),
        });
    }

    pub(crate) fn publish_progress(&self, progress: ProgressEvent) {
        if !self.listened() {
            return;
        }
        let budget = self.budget(progress.step.as_deref(), self.clock.now());
        self.publish(RunEvent {
            run: self.run.clone(),
            plan: self.plan.clone(),
            budget: Some(budget),
            kind: RunEventKind::Progress(progress),
        });
    }
}

/// The event sink a step's [`drkit_core::Context`] gets: retries go to the journal, the rest
/// to the hub.
pub(crate) struct StepEvents {
    pub(crate) hub: std::sync::Arc<Hub>,
    pub(crate) journal: crate::journal::Journal,
}

impl EventSink for StepEvents {
    fn emit(&self, event: ProgressEvent) {
        if let ProgressKind::Retry {
            attempt,
            delay,
            error,
        } = &event.kind
        {
            self.journal.record(Event::StepRetried {
                step: event.step.clone().unwrap_or_default(),
                attempt: *attempt,
                delay: *delay,
                error: error.clone(),
            });
        }
        self.hub.publish_progress(event);
    }
}

mod delivery;
mod webhook;

pub use webhook::{WebhookError, WebhookNotifier, WebhookOptions, WebhookStats};
