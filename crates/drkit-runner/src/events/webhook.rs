//! [`WebhookNotifier`]: Slack-compatible notifications of a run, posted from a task of their own.
//!
//! The URL is a credential (whoever holds it can post to the channel). It is held as a
//! [`SecretString`] and never shown: not in errors, logs or `Debug`. reqwest's errors carry the
//! URL; they are shown without it ([`reqwest::Error::without_url`]), and whatever text is
//! left is scrubbed of the URL and of its path, query and user info.
//!
//! A webhook that fails or never answers never holds the run up, nor the program's exit:
//! - [`RunEventSink::on_event`] only updates a tally and puts a message in a bounded queue
//!   ([`WebhookOptions::queue`]); it never waits. A message that does not fit is dropped and
//!   counted ([`WebhookStats::dropped`]).
//! - Each POST is bounded ([`WebhookOptions::post_timeout`], seed 5 s; connecting 3 s), and no
//!   redirect is followed.
//! - [`WebhookNotifier::finish`] closes the queue and waits at most
//!   [`WebhookOptions::flush_timeout`] (seed 5 s) for the messages left, then gives them up.
//!   It returns whether or not the run got as far as its `RunFinished` record (a run that
//!   could not start — locked, plan changed, nothing to resume, journal failure — posts nothing
//!   and ends the notifier just the same).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use drkit_core::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

use super::{BudgetLeft, RunEvent, RunEventSink};
use crate::journal::Event;

/// A [`WebhookNotifier`] could not start. Never shows the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// It was not started from within a tokio runtime.
    #[error("the webhook notifier must be started within a tokio runtime")]
    NoRuntime,
    /// The HTTP client could not be built (e.g. no TLS backend).
    #[error("the webhook's HTTP client could not be built: {0}")]
    Client(String),
    /// The URL is not an `http://` or `https://` URL (the reason, without the URL).
    #[error("the webhook URL is not usable: {0}")]
    InvalidUrl(String),
}

/// What a [`WebhookNotifier`] managed to deliver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookStats {
    /// Messages accepted by the server (2xx).
    pub sent: u32,
    /// Messages that could not be delivered (connection refused, time-out, non-2xx, or a POST
    /// still unanswered when the flush time-out at the end ran out).
    pub failed: u32,
    /// Messages never tried: the queue was full, or the flush time-out at the end came first.
    pub dropped: u32,
}

/// How a [`WebhookNotifier`] posts. `Default` is the seed: summaries every 30 min, 5 s per
/// POST, 5 s to flush at the end, 16 queued messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookOptions {
    /// How often a summary is posted while the run goes on.
    pub summary_every: Duration,
    /// The longest one POST may take, answer included.
    pub post_timeout: Duration,
    /// The longest [`WebhookNotifier::finish`] waits for the messages left.
    pub flush_timeout: Duration,
    /// How many messages may wait to be posted.
    pub queue: usize,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            summary_every: WebhookNotifier::DEFAULT_SUMMARY_EVERY,
            post_timeout: Duration::from_secs(5),
            flush_timeout: Duration::from_secs(5),
            queue: 16,
        }
    }
}

impl WebhookOptions {
    /// The same options, with summaries every `every`.
    #[must_use]
    pub fn summary_every(mut self, every: Duration) -> Self {
        self.summary_every = every;
        self
    }

    /// The same options, with each POST bounded by `timeout`.
    #[must_use]
    pub fn post_timeout(mut self, timeout: Duration) -> Self {
        self.post_timeout = timeout;
        self
    }

    /// The same options, with the flush at the end bounded by `timeout`.
    #[must_use]
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }
}

/// The longest connecting to the webhook may take (within the POST's own bound).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Delivery counts, shared with the posting task (they survive its abort).
#[derive(Debug, Default)]
struct Counts {
    sent: AtomicU32,
    failed: AtomicU32,
    dropped: AtomicU32,
    /// Messages in the queue.
    queued: AtomicU32,
    /// A POST is under way.
    posting: AtomicBool,
}

impl Counts {
    fn stats(&self) -> WebhookStats {
        WebhookStats {
            sent: self.sent.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
            dropped: self.dropped.load(Ordering::SeqCst),
        }
    }
}

/// One message to post.
#[derive(Debug)]
enum Note {
    /// The start notice: summaries begin.
    Start(String),
    /// The final result: the last message.
    Finish(String),
}

/// Posts Slack-compatible JSON (`{"text": "..."}`) to a webhook URL: a start notice, a
/// summary every `summary_every` (seed: 30 min) and the final result. Delivery failures are
/// logged (without the URL) and counted, never fatal: the run goes on. One notifier serves one
/// run. See the [module docs](self) for the bounds.
#[derive(Debug)]
pub struct WebhookNotifier {
    tally: Arc<Mutex<Tally>>,
    tx: Mutex<Option<mpsc::Sender<Note>>>,
    task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    counts: Arc<Counts>,
    flush_timeout: Duration,
}

impl WebhookNotifier {
    /// The seed summary interval.
    pub const DEFAULT_SUMMARY_EVERY: Duration = Duration::from_secs(30 * 60);

    /// Starts posting to `url` from a task on the current tokio runtime, with the seed
    /// [`WebhookOptions`] and summaries every `summary_every`.
    pub fn start(
        url: impl Into<SecretString>,
        summary_every: Duration,
    ) -> Result<Self, WebhookError> {
        Self::start_with(url, WebhookOptions::default().summary_every(summary_every))
    }

    /// Starts posting to `url` from a task on the current tokio runtime.
    pub fn start_with(
        url: impl Into<SecretString>,
        options: WebhookOptions,
    ) -> Result<Self, WebhookError> {
        let url = url.into();
        check_url(url.expose_secret())?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| WebhookError::NoRuntime)?;
        let client = reqwest::Client::builder()
            .timeout(options.post_timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(options.post_timeout))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                WebhookError::Client(scrub(&chain(&e.without_url()), url.expose_secret()))
            })?;
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let counts = Arc::new(Counts::default());
        let poster = Poster {
            client,
            url,
            post_timeout: options.post_timeout,
            counts: Arc::clone(&counts),
        };
        let task = runtime.spawn(webhook_loop(
            rx,
            poster,
            Arc::clone(&tally),
            options.summary_every,
        ));
        Ok(Self {
            tally,
            tx: Mutex::new(Some(tx)),
            task: tokio::sync::Mutex::new(Some(task)),
            counts,
            flush_timeout: options.flush_timeout,
        })
    }

    /// Ends the notifier: no message is taken any more, the ones left (normally the final
    /// result) are posted within the flush time-out, and what could not be is given up. Says
    /// what was delivered. Returns within the flush time-out whatever the server does, and
    /// whether or not the run finished.
    pub async fn finish(&self) -> WebhookStats {
        drop(
            self.tx
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let task = self.task.lock().await.take();
        if let Some(mut task) = task
            && tokio::time::timeout(self.flush_timeout, &mut task)
                .await
                .is_err()
        {
            task.abort();
            let _ = task.await;
            let left = self.counts.queued.swap(0, Ordering::SeqCst);
            self.counts.dropped.fetch_add(left, Ordering::SeqCst);
            let posting = self.counts.posting.swap(false, Ordering::SeqCst);
            if posting {
                self.counts.failed.fetch_add(1, Ordering::SeqCst);
            }
            tracing::warn!(
                "webhook: gave up after the flush time-out of {}: {} message(s) not delivered",
                humantime::format_duration(self.flush_timeout),
                left + u32::from(posting)
            );
        }
        self.counts.stats()
    }

    fn enqueue(&self, note: Note) {
        let tx = self.tx.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tx) = tx.as_ref() else {
            self.counts.dropped.fetch_add(1, Ordering::SeqCst);
            return;
        };
        self.counts.queued.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = tx.try_send(note) {
            self.counts.queued.fetch_sub(1, Ordering::SeqCst);
            self.counts.dropped.fetch_add(1, Ordering::SeqCst);
            if matches!(e, mpsc::error::TrySendError::Full(_)) {
                tracing::warn!("webhook: the queue is full: a notification was dropped");
            }
        }
    }
}

impl Drop for WebhookNotifier {
    /// Stops the posting task, if [`finish`](Self::finish) did not.
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().take() {
            task.abort();
        }
    }
}

impl RunEventSink for WebhookNotifier {
    fn on_event(&self, event: &RunEvent) {
        let note = self
            .tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .observe(event);
        if let Some(note) = note {
            self.enqueue(note);
        }
    }
}

#[derive(Debug, Default)]
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
    /// Counts `event` in; the message it calls for, if any.
    fn observe(&mut self, event: &RunEvent) -> Option<Note> {
        self.budget = event.budget;
        match event.journal_event()? {
            Event::RunStarted {
                plan,
                steps,
                resumed,
                incident_start,
                ..
            } => {
                self.plan.clone_from(plan);
                self.run.clone_from(&event.run);
                self.total = steps.len();
                Some(Note::Start(format!(
                    "drkit: recovery plan `{plan}` {} (run {}), {} steps; incident started {}; {}",
                    if *resumed { "resumed" } else { "started" },
                    event.run,
                    steps.len(),
                    humantime::format_rfc3339_seconds(*incident_start),
                    event.budget.map(budget_text).unwrap_or_default(),
                )))
            }
            Event::StepStarted { .. } => {
                self.running += 1;
                None
            }
            Event::StepSucceeded { .. } | Event::StepSkipped { .. } => {
                self.running = self.running.saturating_sub(1);
                self.done += 1;
                None
            }
            Event::StepFailed { step, .. } | Event::StepInterrupted { step, .. } => {
                self.running = self.running.saturating_sub(1);
                self.failed.push(step.clone());
                None
            }
            Event::RunFinished { outcome } => {
                let mut text = format!(
                    "drkit: plan `{}` (run {}) finished: {outcome}. {}/{} steps done",
                    self.plan, self.run, self.done, self.total
                );
                if !self.failed.is_empty() {
                    text.push_str(&format!("; failed: {}", self.failed.join(", ")));
                }
                if let Some(b) = event.budget {
                    text.push_str(&format!("; {}", budget_text(b)));
                }
                Some(Note::Finish(text))
            }
            _ => None,
        }
    }

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
    mut rx: mpsc::Receiver<Note>,
    poster: Poster,
    tally: Arc<Mutex<Tally>>,
    every: Duration,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    // After a slow POST, one summary, not a burst of the missed ones.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut started = false;
    loop {
        let (text, last) = tokio::select! {
            note = rx.recv() => {
                let Some(note) = note else { break };
                poster.counts.queued.fetch_sub(1, Ordering::SeqCst);
                match note {
                    Note::Start(text) => {
                        started = true;
                        ticker.reset();
                        (text, false)
                    }
                    Note::Finish(text) => (text, true),
                }
            }
            _ = ticker.tick(), if started => {
                (tally.lock().unwrap_or_else(PoisonError::into_inner).summary(), false)
            }
        };
        poster.post(&text).await;
        if last {
            break;
        }
    }
}

/// The posting half: the client, the URL (secret) and the counts.
struct Poster {
    client: reqwest::Client,
    url: SecretString,
    post_timeout: Duration,
    counts: Arc<Counts>,
}

impl Poster {
    async fn post(&self, text: &str) {
        let body = serde_json::json!({ "text": text });
        self.counts.posting.store(true, Ordering::SeqCst);
        let result = self
            .client
            .post(self.url.expose_secret())
            .json(&body)
            .send()
            .await;
        self.counts.posting.store(false, Ordering::SeqCst);
        match result {
            Ok(resp) if resp.status().is_success() => {
                self.counts.sent.fetch_add(1, Ordering::SeqCst);
            }
            Ok(resp) => {
                self.counts.failed.fetch_add(1, Ordering::SeqCst);
                tracing::warn!(
                    "webhook refused the notification: HTTP {}",
                    resp.status().as_u16()
                );
            }
            Err(e) => {
                self.counts.failed.fetch_add(1, Ordering::SeqCst);
                tracing::warn!(
                    "webhook: {}",
                    describe(e, self.post_timeout, self.url.expose_secret())
                );
            }
        }
    }
}

/// Refuses what is not an absolute `http://` or `https://` URL with a host; never shows it.
fn check_url(url: &str) -> Result<(), WebhookError> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| WebhookError::InvalidUrl(format!("not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(WebhookError::InvalidUrl(
            "not an http:// or https:// URL".to_owned(),
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(WebhookError::InvalidUrl("the URL has no host".to_owned()));
    }
    Ok(())
}

/// A failed POST, said without the URL.
fn describe(err: reqwest::Error, post_timeout: Duration, url: &str) -> String {
    if err.is_timeout() {
        return format!(
            "no answer within {}: notification not delivered",
            humantime::format_duration(post_timeout)
        );
    }
    let what = if err.is_connect() {
        "cannot connect"
    } else {
        "not delivered"
    };
    format!("{what}: {}", scrub(&chain(&err.without_url()), url))
}

/// The error with its causes, `: `-separated.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `text` with the URL, and its path, query and user info, replaced by `[redacted]`.
pub(crate) fn scrub(text: &str, url: &str) -> String {
    let mut secrets = vec![url.to_owned(), url.trim().to_owned()];
    if let Ok(parsed) = reqwest::Url::parse(url.trim()) {
        secrets.push(parsed.as_str().to_owned());
        if parsed.path().len() > 1 {
            secrets.push(parsed.path().to_owned());
        }
        secrets.extend(parsed.query().map(str::to_owned));
        secrets.extend(parsed.password().map(str::to_owned));
        if !parsed.username().is_empty() {
            secrets.push(parsed.username().to_owned());
        }
    }
    // The longest first, so a part never leaves the rest of a longer secret behind.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut text = text.to_owned();
    // A part shorter than this is no credential, and replacing it would garble the text.
    for secret in secrets.iter().filter(|s| s.len() >= 6) {
        text = text.replace(secret.as_str(), "[redacted]");
    }
    text
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
