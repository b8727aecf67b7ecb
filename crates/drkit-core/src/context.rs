//! What an action is given when it runs: dry-run flag, cancellation, deadline, a progress-event
//! sink, and the outputs of earlier steps.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{ActionError, Outputs};

/// A progress event: what an action is doing right now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProgressEvent {
    /// The step it concerns, when known.
    pub step: Option<String>,
    /// Wall-clock time of the event.
    pub at: SystemTime,
    /// What happened.
    pub kind: ProgressKind,
}

/// What a [`ProgressEvent`] reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProgressKind {
    /// Free text, e.g. "FailoverDBCluster accepted".
    Message {
        /// The text.
        text: String,
    },
    /// One poll of a wait (see [`crate::wait_until`]).
    Poll {
        /// What is being waited for.
        what: String,
        /// 1 for the first poll.
        attempt: u32,
        /// Time waited so far.
        #[serde(with = "duration_secs")]
        waited: Duration,
        /// The state observed (e.g. `failing-over`).
        state: String,
        /// When the next poll comes; `None` when the wait is over.
        #[serde(with = "opt_duration_secs")]
        next_in: Option<Duration>,
        /// Whether the condition holds.
        done: bool,
    },
    /// A retryable failure; another attempt follows after `delay`.
    Retry {
        /// The attempt that failed (1 for the first).
        attempt: u32,
        /// The pause before the next attempt.
        #[serde(with = "duration_secs")]
        delay: Duration,
        /// The error, as text.
        error: String,
    },
}

mod duration_secs {
    use std::time::Duration;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

mod opt_duration_secs {
    use std::time::Duration;

    #[allow(clippy::ref_option)] // serde's `with` hands us `&Option<T>`
    pub(super) fn serialize<S: serde::Serializer>(
        d: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

/// Where progress events go. Implemented for closures, for tokio channels, and by
/// [`TracingSink`] (the default).
pub trait EventSink: Send + Sync + 'static {
    /// Receives one event. Must not block.
    fn emit(&self, event: ProgressEvent);
}

impl<F: Fn(ProgressEvent) + Send + Sync + 'static> EventSink for F {
    fn emit(&self, event: ProgressEvent) {
        self(event);
    }
}

impl EventSink for tokio::sync::mpsc::UnboundedSender<ProgressEvent> {
    fn emit(&self, event: ProgressEvent) {
        // A receiver that went away just stops listening; the action goes on.
        let _ = self.send(event);
    }
}

/// Logs progress events with `tracing` at debug level.
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingSink;

impl EventSink for TracingSink {
    fn emit(&self, event: ProgressEvent) {
        let step = event.step.as_deref().unwrap_or("-");
        match &event.kind {
            ProgressKind::Message { text } => tracing::debug!(step, "{text}"),
            ProgressKind::Poll {
                what,
                attempt,
                waited,
                state,
                ..
            } => tracing::debug!(step, attempt, ?waited, "waiting for {what}: {state}"),
            ProgressKind::Retry {
                attempt,
                delay,
                error,
            } => tracing::debug!(step, attempt, ?delay, "retrying after: {error}"),
        }
    }
}

/// The context an action runs in. Cheap to clone; the runner makes one per step.
///
/// ```
/// use std::time::Duration;
/// use drkit_core::Context;
///
/// let ctx = Context::new()
///     .with_step("failover-db")
///     .with_timeout(Duration::from_secs(30 * 60));
/// assert!(!ctx.is_dry_run());
/// assert!(ctx.remaining().is_some());
/// ```
#[derive(Clone)]
pub struct Context {
    step: Option<Arc<str>>,
    dry_run: bool,
    cancel: CancellationToken,
    deadline: Option<Instant>,
    events: Arc<dyn EventSink>,
    outputs: Arc<BTreeMap<String, Outputs>>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("step", &self.step)
            .field("dry_run", &self.dry_run)
            .field("cancelled", &self.cancel.is_cancelled())
            .field("remaining", &self.remaining())
            .field("earlier_steps", &self.outputs.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for Context {
    fn default() -> Self {
        Self::new()
    }
}

impl Context {
    /// Not a dry run, never cancelled, no deadline, events logged with `tracing`.
    pub fn new() -> Self {
        Self {
            step: None,
            dry_run: false,
            cancel: CancellationToken::new(),
            deadline: None,
            events: Arc::new(TracingSink),
            outputs: Arc::new(BTreeMap::new()),
        }
    }

    /// The same context for step `id`.
    #[must_use]
    pub fn with_step(mut self, id: impl Into<Arc<str>>) -> Self {
        self.step = Some(id.into());
        self
    }

    /// Sets the dry-run flag.
    #[must_use]
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Uses `token` for cancellation.
    #[must_use]
    pub fn with_cancellation(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// Sets the deadline, keeping the earlier one if there is already one.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(match self.deadline {
            Some(current) => current.min(deadline),
            None => deadline,
        });
        self
    }

    /// Sets the deadline to `timeout` from now (keeping an earlier one).
    #[must_use]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        let deadline = Instant::now() + timeout;
        self.with_deadline(deadline)
    }

    /// Sends progress events to `sink`.
    #[must_use]
    pub fn with_events(mut self, sink: impl EventSink) -> Self {
        self.events = Arc::new(sink);
        self
    }

    /// Sends progress events to a shared `sink`.
    #[must_use]
    pub fn with_shared_events(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.events = sink;
        self
    }

    /// Gives the outputs of earlier steps, by step id.
    #[must_use]
    pub fn with_outputs(mut self, outputs: impl Into<Arc<BTreeMap<String, Outputs>>>) -> Self {
        self.outputs = outputs.into();
        self
    }

    /// The step this context is for.
    pub fn step(&self) -> Option<&str> {
        self.step.as_deref()
    }

    /// Whether this is a dry run (only read-only calls may be made).
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// The cancellation token.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left until the deadline (zero once passed), or `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The outputs of an earlier step.
    pub fn outputs_of(&self, step: &str) -> Option<&Outputs> {
        self.outputs.get(step)
    }

    /// Reports a progress event for this step.
    pub fn emit(&self, kind: ProgressKind) {
        self.events.emit(ProgressEvent {
            step: self.step.as_deref().map(str::to_owned),
            at: SystemTime::now(),
            kind,
        });
    }

    /// Reports a free-text progress message.
    pub fn progress(&self, text: impl Into<String>) {
        self.emit(ProgressKind::Message { text: text.into() });
    }

    /// `Err(InvalidInput)` in a dry run: the guard at the top of every mutating `execute` (a
    /// dry run only ever calls `check`; this makes a mistake in a caller harmless).
    pub fn refuse_dry_run(&self) -> Result<(), ActionError> {
        if self.dry_run {
            Err(ActionError::invalid_input(
                "execute was called during a dry run",
            ))
        } else {
            Ok(())
        }
    }

    /// `Err(Cancelled)` once cancelled, `Err(DeadlineExceeded)` once the deadline has passed.
    pub fn ensure_live(&self) -> Result<(), ActionError> {
        if self.is_cancelled() {
            return Err(ActionError::cancelled("the run was cancelled"));
        }
        if let Some(deadline) = self.deadline
            && Instant::now() >= deadline
        {
            return Err(ActionError::deadline_exceeded(
                "the step's deadline has passed",
            ));
        }
        Ok(())
    }

    /// Runs `fut`, but gives up with `Cancelled` on cancellation and `DeadlineExceeded` at the
    /// deadline. Providers wrap every remote call in this, so a hung call cannot hold a step
    /// past its deadline.
    pub async fn bounded<T, F>(&self, fut: F) -> Result<T, ActionError>
    where
        F: Future<Output = Result<T, ActionError>>,
    {
        let deadline = self.deadline;
        let timed = async move {
            match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, fut).await.map_err(|_| {
                    ActionError::deadline_exceeded("the step's deadline passed during a call")
                })?,
                None => fut.await,
            }
        };
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(ActionError::cancelled("the run was cancelled")),
            result = timed => result,
        }
    }

    /// Sleeps for `duration`, returning early with `Cancelled` on cancellation. Does not look at
    /// the deadline: callers shorten the pause themselves.
    pub async fn sleep(&self, duration: Duration) -> Result<(), ActionError> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(ActionError::cancelled("the run was cancelled")),
            () = tokio::time::sleep(duration) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::ErrorKind;

    #[tokio::test(start_paused = true)]
    async fn bounded_stops_at_the_deadline() {
        let ctx = Context::new().with_timeout(Duration::from_secs(5));
        let err = ctx
            .bounded(async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_stops_on_cancellation() {
        let token = CancellationToken::new();
        let ctx = Context::new().with_cancellation(token.clone());
        let cancel = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            token.cancel();
        };
        let call = ctx.bounded(async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        });
        let ((), result) = tokio::join!(cancel, call);
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Cancelled);
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_keeps_the_earliest() {
        let ctx = Context::new()
            .with_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(100));
        assert_eq!(ctx.remaining(), Some(Duration::from_secs(10)));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(ctx.remaining(), Some(Duration::ZERO));
        assert_eq!(
            ctx.ensure_live().unwrap_err().kind(),
            ErrorKind::DeadlineExceeded
        );
    }

    #[test]
    fn events_carry_the_step() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let seen = Arc::clone(&seen);
            move |e: ProgressEvent| seen.lock().unwrap().push(e)
        };
        let ctx = Context::new().with_step("s1").with_events(sink);
        ctx.progress("hello");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].step.as_deref(), Some("s1"));
        assert_eq!(
            seen[0].kind,
            ProgressKind::Message {
                text: "hello".into()
            }
        );
    }

    #[test]
    fn poll_events_serialize_durations_as_seconds() {
        let kind = ProgressKind::Poll {
            what: "writer".into(),
            attempt: 2,
            waited: Duration::from_millis(1500),
            state: "failing-over".into(),
            next_in: Some(Duration::from_secs(2)),
            done: false,
        };
        let json = serde_json::to_value(kind).unwrap();
        assert_eq!(json["type"], "poll");
        assert_eq!(json["waited"], 1.5);
        assert_eq!(json["next_in"], 2.0);
    }
}
