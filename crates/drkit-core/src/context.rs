//! What an action is given when it runs: dry-run flag, cancellation, deadline, a progress-event
//! sink, and the outputs of earlier steps.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
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

/// Whether remote calls may still be sent, asked by [`Context::bounded`] as each call starts:
/// `Some(why)` once they may not. The runner's gate is its journal lock: once the lock's lease
/// has run out on this machine's clock (the process stalled, e.g. stopped or paused, past it),
/// another runner may hold the plan, and a step of this one sends nothing more, even before
/// the cancellation that follows the loss reaches it.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use drkit_core::{ActionError, Context, ErrorKind, SendGate};
///
/// #[derive(Debug, Default)]
/// struct Fenced(AtomicBool);
///
/// impl SendGate for Fenced {
///     fn refusal(&self) -> Option<String> {
///         self.0.load(Ordering::SeqCst).then(|| "another runner holds the plan".to_owned())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let fence = Arc::new(Fenced::default());
/// let ctx = Context::new().with_send_gate(Some(fence.clone()));
/// fence.0.store(true, Ordering::SeqCst);
/// let err = ctx.bounded(async { Ok::<_, ActionError>(()) }).await.unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Cancelled);
/// # });
/// ```
pub trait SendGate: Send + Sync + fmt::Debug {
    /// Why calls may no longer be sent, or `None` while they may.
    fn refusal(&self) -> Option<String>;
}

/// Where a step's intents are written before its mutating calls: the runner's journal, which
/// makes them durable before it returns. See [`Context::mutate`].
#[async_trait::async_trait]
pub trait IntentLog: Send + Sync + fmt::Debug {
    /// Durably records `intent` (empty: no outstanding intent) of `step`'s change, or of its
    /// compensation when `rollback`. Returns only once it is durable.
    async fn record(&self, step: &str, rollback: bool, intent: &Outputs)
    -> Result<(), ActionError>;
}

/// The context an action runs in. Cheap to clone; the runner makes one per step.
///
/// A context carries its step's intent (see [`mutate`](Self::mutate)), so each step needs its
/// own: a second action executed with the first one's context takes the first's intent for its
/// own, as on a resume, and reads state instead of sending its change.
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
    intents: Option<Arc<dyn IntentLog>>,
    /// The step's (or compensation's) intent: recorded by an earlier attempt or run, or by
    /// this one. Shared by the clones of one step's context.
    intent: Arc<Mutex<Option<Outputs>>>,
    /// Whether the intent is that of the step's compensation.
    compensating: bool,
    /// The compensation's intent recorded by an earlier run part (seeds [`Self::for_compensation`]).
    compensation_intent: Option<Outputs>,
    /// The regions the run treats as impaired (an action that can choose among regions, such
    /// as ARC's cluster endpoints, avoids them).
    impaired_regions: Arc<BTreeSet<String>>,
    /// The run this step belongs to: its id and when it (first) started. A resumed run keeps
    /// both, so what an action names after the run is found again.
    run: Option<(Arc<str>, SystemTime)>,
    /// Asked before each remote call ([`Self::bounded`]).
    gate: Option<Arc<dyn SendGate>>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("step", &self.step)
            .field("run", &self.run)
            .field("dry_run", &self.dry_run)
            .field("cancelled", &self.cancel.is_cancelled())
            .field("remaining", &self.remaining())
            .field("earlier_steps", &self.outputs.keys().collect::<Vec<_>>())
            .field("intent", &self.intent())
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
            intents: None,
            intent: Arc::new(Mutex::new(None)),
            compensating: false,
            compensation_intent: None,
            impaired_regions: Arc::new(BTreeSet::new()),
            run: None,
            gate: None,
        }
    }

    /// The same context in run `id`, started at `started` (for a resumed run: the original
    /// run's id and start, not the resume's). An action that names what it creates after the
    /// run finds it again on a resume, and can tell what existed before the run began.
    #[must_use]
    pub fn with_run(mut self, id: impl Into<Arc<str>>, started: SystemTime) -> Self {
        self.run = Some((id.into(), started));
        self
    }

    /// The run's id (the runner's journal names the run by it), if the context is in a run.
    pub fn run_id(&self) -> Option<&str> {
        self.run.as_ref().map(|(id, _)| &**id)
    }

    /// When the run started (a resumed run: when the original run did), if in a run.
    pub fn run_started(&self) -> Option<SystemTime> {
        self.run.as_ref().map(|(_, started)| *started)
    }

    /// The same context in a run that treats `regions` as impaired: an action that can reach a
    /// service through several regions (ARC's cluster endpoints) sends nothing to them.
    #[must_use]
    pub fn with_impaired_regions(
        mut self,
        regions: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.impaired_regions = Arc::new(regions.into_iter().map(Into::into).collect());
        self
    }

    /// Whether the run treats `region` as impaired.
    pub fn is_region_impaired(&self, region: &str) -> bool {
        self.impaired_regions.contains(region)
    }

    /// The regions the run treats as impaired.
    pub fn impaired_regions(&self) -> &BTreeSet<String> {
        &self.impaired_regions
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

    /// Writes intents to `log` (durably, before each mutating call: see [`mutate`](Self::mutate)).
    #[must_use]
    pub fn with_intent_log(mut self, log: Arc<dyn IntentLog>) -> Self {
        self.intents = Some(log);
        self
    }

    /// Gives the intent an earlier attempt or run recorded for this step (from the journal, on a
    /// resume): the action reconciles from it instead of repeating its change. A fresh slot:
    /// clones made before this call do not share it.
    #[must_use]
    pub fn with_recorded_intent(mut self, intent: Option<Outputs>) -> Self {
        self.intent = Arc::new(Mutex::new(intent.filter(|i| !i.is_empty())));
        self
    }

    /// Gives the intent an earlier run part recorded for this step's compensation (what
    /// [`for_compensation`](Self::for_compensation) starts from).
    #[must_use]
    pub fn with_recorded_compensation_intent(mut self, intent: Option<Outputs>) -> Self {
        self.compensation_intent = intent.filter(|i| !i.is_empty());
        self
    }

    /// The context for compensating this step (an action's `rollback` makes its calls in it):
    /// the same step, deadline and cancellation, but the compensation's own intent, journalled
    /// apart from the change's and seeded with what an earlier run part recorded for it.
    #[must_use]
    pub fn for_compensation(&self) -> Self {
        let recorded = self.compensation_intent.clone();
        let mut ctx = self.clone().with_recorded_intent(recorded);
        ctx.compensating = true;
        ctx
    }

    /// Whether this is the context of a compensation (see [`for_compensation`](Self::for_compensation)).
    pub fn is_compensating(&self) -> bool {
        self.compensating
    }

    /// The intent recorded for this step before a mutating call (by this attempt, an earlier
    /// attempt, or an earlier run): what the action needs to recognise its own change.
    pub fn intent(&self) -> Option<Outputs> {
        self.intent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the intent in memory (the journal keeps it): after a successful rollback, the
    /// change it described is concluded.
    pub(crate) fn forget_intent(&self) {
        *self.intent.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Durably records `intent` for this step (in memory only when the context has no intent
    /// log, e.g. embedded use without a journal). An empty `intent` clears it. An intent is
    /// journalled and shown in reports: identifiers and states only, never a secret.
    pub async fn record_intent(&self, intent: Outputs) -> Result<(), ActionError> {
        if let Some(log) = &self.intents {
            let step = self.step.as_deref().unwrap_or("-");
            log.record(step, self.compensating, &intent).await?;
        }
        *self.intent.lock().unwrap_or_else(PoisonError::into_inner) =
            (!intent.is_empty()).then_some(intent);
        Ok(())
    }

    /// Makes one non-idempotent mutating call at most once, so that its change is never made
    /// twice:
    ///
    /// 1. `intent` (what the action needs later to recognise its own change: the writer before a
    ///    failover, a token, the prior state) is recorded durably first;
    /// 2. `call` then runs to its end even if the run is cancelled meanwhile (Ctrl-C waits for
    ///    the answer instead of dropping a request that may have reached the provider); only the
    ///    step's deadline cuts it off;
    /// 3. a failure whose outcome is unknown (no answer, a server error, a time-out, cut off) is
    ///    marked [`maybe_applied`](ActionError::maybe_applied): the action must reconcile by
    ///    reading state, never send it again. A refusal by the provider (an error code) made no
    ///    change, so the intent is withdrawn.
    ///
    /// The adapter must make one attempt only (no SDK-level retry) for such a call.
    pub async fn mutate<T, F>(&self, intent: Outputs, call: F) -> Result<T, ActionError>
    where
        F: Future<Output = Result<T, ActionError>>,
    {
        self.ensure_live()?;
        self.record_intent(intent).await?;
        let result = match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, call)
                .await
                .unwrap_or_else(|_| {
                    Err(ActionError::deadline_exceeded(
                        "the step's deadline passed during a call",
                    ))
                }),
            None => call.await,
        };
        match result {
            Ok(value) => Ok(value),
            Err(e) if e.is_refusal() => {
                if let Err(journal) = self.record_intent(Outputs::new()).await {
                    tracing::warn!(
                        step = self.step(),
                        "could not withdraw the intent of a refused call: {journal}"
                    );
                }
                Err(e)
            }
            Err(e) => Err(e.with_maybe_applied()),
        }
    }

    /// The step this context is for.
    pub fn step(&self) -> Option<&str> {
        self.step.as_deref()
    }

    /// Whether this is a dry run (only read-only calls may be made).
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// The same context, its remote calls refused ([`Self::bounded`]: `Cancelled`, nothing
    /// sent) once `gate` says so.
    #[must_use]
    pub fn with_send_gate(mut self, gate: Option<Arc<dyn SendGate>>) -> Self {
        self.gate = gate;
        self
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
    /// past its deadline. A call is not started at all (`Cancelled`) once the context's
    /// [`SendGate`] refuses.
    pub async fn bounded<T, F>(&self, fut: F) -> Result<T, ActionError>
    where
        F: Future<Output = Result<T, ActionError>>,
    {
        if let Some(why) = self.gate.as_ref().and_then(|g| g.refusal()) {
            return Err(ActionError::cancelled(format!("not sent: {why}")));
        }
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

    #[derive(Debug, Default)]
    struct Log(Mutex<Vec<(String, Outputs)>>);

    /// A gate that refuses once its flag is set.
    #[derive(Debug, Default)]
    struct Gate(std::sync::atomic::AtomicBool);

    impl SendGate for Gate {
        fn refusal(&self) -> Option<String> {
            self.0
                .load(std::sync::atomic::Ordering::SeqCst)
                .then(|| "the journal lock was lost".to_owned())
        }
    }

    #[tokio::test]
    async fn a_closed_gate_starts_no_call() {
        let gate = Arc::new(Gate::default());
        let ctx = Context::new().with_send_gate(Some(gate.clone()));
        let started = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let call = || {
            let started = Arc::clone(&started);
            async move {
                started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok::<_, ActionError>(())
            }
        };
        ctx.bounded(call()).await.unwrap();
        gate.0.store(true, std::sync::atomic::Ordering::SeqCst);
        let err = ctx.bounded(call()).await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Cancelled);
        assert!(
            err.to_string()
                .contains("not sent: the journal lock was lost"),
            "{err}"
        );
        assert_eq!(started.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[async_trait::async_trait]
    impl IntentLog for Log {
        async fn record(
            &self,
            step: &str,
            _rollback: bool,
            intent: &Outputs,
        ) -> Result<(), ActionError> {
            self.0
                .lock()
                .unwrap()
                .push((step.to_owned(), intent.clone()));
            Ok(())
        }
    }

    #[test]
    fn the_run_is_carried_by_clones_and_the_compensation_context() {
        assert_eq!(Context::new().run_id(), None);
        assert_eq!(Context::new().run_started(), None);
        let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_370_000);
        let ctx = Context::new()
            .with_step("safety")
            .with_run("mint-drill-1764370000000", started);
        for ctx in [
            ctx.clone(),
            ctx.for_compensation(),
            ctx.with_timeout(Duration::from_secs(1)),
        ] {
            assert_eq!(ctx.run_id(), Some("mint-drill-1764370000000"));
            assert_eq!(ctx.run_started(), Some(started));
        }
    }

    #[tokio::test]
    async fn mutate_records_the_intent_before_the_call_and_outlives_a_cancellation() {
        let log = Arc::new(Log::default());
        let token = CancellationToken::new();
        let ctx = Context::new()
            .with_step("failover")
            .with_cancellation(token.clone())
            .with_intent_log(Arc::clone(&log) as Arc<dyn IntentLog>);
        let seen = Arc::clone(&log);
        let result = ctx
            .mutate(Outputs::new().with("from", "w1"), async {
                // The intent is durable before the request leaves.
                assert_eq!(seen.0.lock().unwrap().len(), 1);
                // Ctrl-C while the request is in flight: the answer is still awaited.
                token.cancel();
                tokio::task::yield_now().await;
                Ok::<_, ActionError>("accepted")
            })
            .await;
        assert_eq!(result.unwrap(), "accepted");
        assert_eq!(ctx.intent().unwrap().get_str("from"), Some("w1"));
        assert_eq!(log.0.lock().unwrap()[0].0, "failover");
        // Once cancelled, no new mutating call starts.
        let err = ctx
            .mutate(Outputs::new().with("from", "w1"), async {
                Ok::<_, ActionError>(())
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Cancelled);
    }

    #[tokio::test]
    async fn a_lost_answer_may_have_applied_but_a_refusal_withdraws_the_intent() {
        let log = Arc::new(Log::default());
        let ctx = Context::new()
            .with_step("s")
            .with_intent_log(Arc::clone(&log) as Arc<dyn IntentLog>);
        let lost = ctx
            .mutate(Outputs::new().with("from", "w1"), async {
                Err::<(), _>(ActionError::new(
                    crate::ErrorKind::Unavailable,
                    "connection closed before an answer",
                ))
            })
            .await
            .unwrap_err();
        assert!(lost.maybe_applied());
        assert!(lost.to_string().contains("may have been made"), "{lost}");
        assert!(
            ctx.intent().is_some(),
            "an unknown outcome keeps the intent"
        );

        let refused = ctx
            .mutate(Outputs::new().with("from", "w1"), async {
                Err::<(), _>(
                    ActionError::new(crate::ErrorKind::Conflict, "not available")
                        .with_code("InvalidDBClusterStateFault"),
                )
            })
            .await
            .unwrap_err();
        assert!(!refused.maybe_applied());
        assert!(ctx.intent().is_none(), "a refusal made no change");

        // A 5xx with an AWS error code is an answer too: not applied (the SDKs retry it).
        let unavailable = ctx
            .mutate(Outputs::new().with("from", "w1"), async {
                Err::<(), _>(
                    ActionError::new(crate::ErrorKind::Unavailable, "Service unavailable")
                        .with_code("ServiceUnavailable"),
                )
            })
            .await
            .unwrap_err();
        assert!(!unavailable.maybe_applied() && unavailable.is_retryable());
        assert!(ctx.intent().is_none());
        let recorded = log.0.lock().unwrap();
        assert!(recorded.last().unwrap().1.is_empty(), "withdrawn durably");
    }

    #[test]
    fn compensation_has_its_own_intent() {
        let ctx = Context::new()
            .with_step("s")
            .with_recorded_intent(Some(Outputs::new().with("from", "w1")));
        let back = ctx.for_compensation();
        assert!(back.intent().is_none() && back.is_compensating());
        assert_eq!(ctx.intent().unwrap().get_str("from"), Some("w1"));
    }
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
