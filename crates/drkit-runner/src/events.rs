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
use std::time::{Duration, SystemTime};

use drkit_core::{EventSink, ProgressEvent, ProgressKind};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

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

/// Receives every event of a run. Called from the runner's tasks: must not block (hand slow
/// work to a task, as [`WebhookNotifier`] does).
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

/// Fans a run's events out to the broadcast and the sinks, adding the budget left.
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
        for sink in &self.sinks {
            sink.on_event(&event);
        }
        let _ = self.tx.send(event);
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

/// A [`WebhookNotifier`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// It was not started from within a tokio runtime.
    #[error("the webhook notifier must be started within a tokio runtime")]
    NoRuntime,
    /// The HTTP client could not be built (e.g. no TLS backend).
    #[error("the webhook's HTTP client could not be built: {0}")]
    Client(#[source] reqwest::Error),
}

/// What a [`WebhookNotifier`] managed to deliver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Messages accepted by the server (2xx).
    pub sent: u32,
    /// Messages that could not be delivered (connection refused, time-out, non-2xx).
    pub failed: u32,
}

/// Posts Slack-compatible JSON (`{"text": "..."}`) to a webhook URL: a start notice, a
/// summary every `summary_every` (seed: 30 min) and the final result. Delivery failures are
/// logged and counted, never fatal: the run goes on.
#[derive(Debug)]
pub struct WebhookNotifier {
    tx: mpsc::UnboundedSender<RunEvent>,
    task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<WebhookStats>>>,
}

impl WebhookNotifier {
    /// The seed summary interval.
    pub const DEFAULT_SUMMARY_EVERY: Duration = Duration::from_secs(30 * 60);

    /// Starts posting to `url` (each post bounded by 10 s) from a task on the current tokio
    /// runtime.
    pub fn start(url: impl Into<String>, summary_every: Duration) -> Result<Self, WebhookError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| WebhookError::NoRuntime)?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(WebhookError::Client)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = runtime.spawn(webhook_loop(rx, client, url.into(), summary_every));
        Ok(Self {
            tx,
            task: tokio::sync::Mutex::new(Some(task)),
        })
    }

    /// Waits until the final result was posted (or could not be), and says what was delivered.
    pub async fn finish(&self) -> WebhookStats {
        let task = self.task.lock().await.take();
        match task {
            Some(task) => task.await.unwrap_or_default(),
            None => WebhookStats::default(),
        }
    }
}

impl RunEventSink for WebhookNotifier {
    fn on_event(&self, event: &RunEvent) {
        if event.journal_event().is_some() {
            let _ = self.tx.send(event.clone());
        }
    }
}

#[derive(Default)]
struct Tally {
    plan: String,
    run: String,
    total: usize,
    done: usize,
    failed: Vec<String>,
    running: usize,
    budget: Option<BudgetLeft>,
}

impl Tally {
    fn summary(&self) -> String {
        let mut text = format!(
            "drkit: plan `{}` (run {}): {}/{} steps done, {} running, {} failed",
            self.plan,
            self.run,
            self.done,
            self.total,
            self.running,
            self.failed.len()
        );
        if let Some(b) = self.budget {
            text.push_str(&format!("; {}", budget_text(b)));
        }
        text
    }
}

fn budget_text(b: BudgetLeft) -> String {
    let secs = b.seconds.abs().round();
    let d = humantime::format_duration(Duration::from_secs_f64(secs));
    if b.seconds >= 0.0 {
        format!("{} RTO budget left: {d}", b.tier)
    } else {
        format!("{} RTO budget BREACHED by {d}", b.tier)
    }
}

async fn webhook_loop(
    mut rx: mpsc::UnboundedReceiver<RunEvent>,
    client: reqwest::Client,
    url: String,
    every: Duration,
) -> WebhookStats {
    let mut stats = WebhookStats::default();
    let mut tally = Tally::default();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut started = false;
    loop {
        let text = tokio::select! {
            event = rx.recv() => {
                let Some(event) = event else { break };
                tally.budget = event.budget;
                let Some(ev) = event.journal_event() else { continue };
                match ev {
                    Event::RunStarted { plan, steps, resumed, incident_start, .. } => {
                        started = true;
                        ticker.reset();
                        tally.plan.clone_from(plan);
                        tally.run.clone_from(&event.run);
                        tally.total = steps.len();
                        Some(format!(
                            "drkit: recovery plan `{plan}` {} (run {}), {} steps; incident started {}; {}",
                            if *resumed { "resumed" } else { "started" },
                            event.run,
                            steps.len(),
                            humantime::format_rfc3339_seconds(*incident_start),
                            event.budget.map(budget_text).unwrap_or_default(),
                        ))
                    }
                    Event::StepStarted { .. } => { tally.running += 1; None }
                    Event::StepSucceeded { .. } | Event::StepSkipped { .. } => {
                        tally.running = tally.running.saturating_sub(1);
                        tally.done += 1;
                        None
                    }
                    Event::StepFailed { step, .. } | Event::StepInterrupted { step, .. } => {
                        tally.running = tally.running.saturating_sub(1);
                        tally.failed.push(step.clone());
                        None
                    }
                    Event::RunFinished { outcome } => {
                        let mut text = format!(
                            "drkit: plan `{}` (run {}) finished: {outcome}. {}/{} steps done",
                            tally.plan, tally.run, tally.done, tally.total
                        );
                        if !tally.failed.is_empty() {
                            text.push_str(&format!("; failed: {}", tally.failed.join(", ")));
                        }
                        if let Some(b) = event.budget {
                            text.push_str(&format!("; {}", budget_text(b)));
                        }
                        post(&client, &url, &text, &mut stats).await;
                        break;
                    }
                    _ => None,
                }
            }
            _ = ticker.tick(), if started => Some(tally.summary()),
        };
        if let Some(text) = text {
            post(&client, &url, &text, &mut stats).await;
        }
    }
    stats
}

async fn post(client: &reqwest::Client, url: &str, text: &str, stats: &mut WebhookStats) {
    let body = serde_json::json!({ "text": text });
    match client.post(url).json(&body).send().await {
        Ok(resp) if resp.status().is_success() => stats.sent += 1,
        Ok(resp) => {
            tracing::warn!(status = %resp.status(), "webhook refused the notification");
            stats.failed += 1;
        }
        Err(e) => {
            tracing::warn!("webhook unreachable: {e}");
            stats.failed += 1;
        }
    }
}
