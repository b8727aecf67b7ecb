//! Retry and time-out as layers that wrap an action and return an action (tower's idea, without
//! tower's machinery).
//!
//! Order matters, as in tower: a time-out *inside* a retry bounds each attempt, a time-out
//! *outside* bounds them all.
//!
//! ```
//! use std::time::Duration;
//! use drkit_core::{ActionExt, ActionRef, RetryPolicy};
//!
//! fn harden(action: ActionRef) -> ActionRef {
//!     action
//!         .with_timeout(Duration::from_secs(5 * 60)) // each attempt
//!         .with_retry(RetryPolicy::default())
//!         .with_timeout(Duration::from_secs(30 * 60)) // the whole step
//! }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use serde::{Deserialize, Serialize};

use crate::{
    ActionError, ActionRef, Check, Context, ErrorKind, Outputs, ProgressKind, RecoveryAction,
    Resource,
};

/// Wraps an action into another (retry, time-out, or the embedder's own).
pub trait Layer {
    /// Wraps `inner`.
    fn layer(&self, inner: ActionRef) -> ActionRef;
}

/// Builder-style layering on [`ActionRef`].
pub trait ActionExt {
    /// Wraps with `layer`.
    fn layered(self, layer: &impl Layer) -> ActionRef;
    /// Retries retryable failures according to `policy` (see [`RetryLayer`]).
    fn with_retry(self, policy: RetryPolicy) -> ActionRef;
    /// Bounds each call by `timeout` (see [`TimeoutLayer`]).
    fn with_timeout(self, timeout: Duration) -> ActionRef;
}

impl ActionExt for ActionRef {
    fn layered(self, layer: &impl Layer) -> ActionRef {
        layer.layer(self)
    }

    fn with_retry(self, policy: RetryPolicy) -> ActionRef {
        RetryLayer::new(policy).layer(self)
    }

    fn with_timeout(self, timeout: Duration) -> ActionRef {
        TimeoutLayer::new(timeout).layer(self)
    }
}

/// How often and how patiently to retry. Field names match the runbook file's
/// `retry = { max_attempts = 5, initial_backoff = "1s", max_backoff = "30s" }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// The pause before the second attempt.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// The longest pause between attempts.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Whether to add random jitter to pauses (so many clients do not retry in lockstep).
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// `attempts` attempts with the default pauses.
    pub fn attempts(max_attempts: u32) -> Self {
        Self {
            max_attempts,
            ..Self::default()
        }
    }

    /// Sets the first pause.
    #[must_use]
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Sets the longest pause.
    #[must_use]
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Turns jitter on or off.
    #[must_use]
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    fn pauses(&self) -> impl Iterator<Item = Duration> + use<> {
        let mut builder = ExponentialBuilder::new()
            .with_min_delay(self.initial_backoff)
            .with_max_delay(self.max_backoff)
            .without_max_times();
        if self.jitter {
            builder = builder.with_jitter();
        }
        builder.build()
    }
}

/// Retries retryable failures (as the error says: [`ActionError::is_retryable`]).
///
/// `check`, `verify` and `rollback` are simply called again. `execute` is handled with care,
/// because a failed attempt may have made its change anyway (the response was lost, or the
/// wait after the change failed): before each new attempt the layer runs `check` again, and
/// - `Done` -> the change took effect; its outputs are returned without executing again;
/// - `Blocked` -> the step fails with that reason;
/// - `Ready` -> `execute` runs again (an action whose call may have taken effect reconciles
///   from its recorded intent: see [`Context::mutate`]);
/// - the re-check fails (after its own retries) -> the step fails; `execute` never runs blind.
///
/// A provider's own `retry_after` hint is honoured when longer than the policy's pause.
#[derive(Clone, Debug)]
pub struct RetryLayer {
    policy: RetryPolicy,
}

impl RetryLayer {
    /// A retry layer with `policy`.
    pub fn new(policy: RetryPolicy) -> Self {
        Self { policy }
    }
}

impl Layer for RetryLayer {
    fn layer(&self, inner: ActionRef) -> ActionRef {
        Arc::new(Retry {
            inner,
            policy: self.policy.clone(),
        })
    }
}

struct Retry {
    inner: ActionRef,
    policy: RetryPolicy,
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("policy", &self.policy)
            .field("inner", &self.inner)
            .finish()
    }
}

impl Retry {
    /// After a failed attempt: `Some(pause)` if another attempt may follow.
    async fn pause_after(
        &self,
        ctx: &Context,
        attempt: u32,
        err: &ActionError,
        pauses: &mut impl Iterator<Item = Duration>,
    ) -> Option<Duration> {
        if !err.is_retryable() || attempt >= self.policy.max_attempts {
            return None;
        }
        let mut pause = pauses.next().unwrap_or(self.policy.max_backoff);
        if let Some(after) = err.retry_after() {
            pause = pause.max(after);
        }
        if let Some(remaining) = ctx.remaining()
            && remaining <= pause
        {
            return None;
        }
        ctx.emit(ProgressKind::Retry {
            attempt,
            delay: pause,
            error: err.to_string(),
        });
        ctx.sleep(pause).await.ok()?;
        Some(pause)
    }

    async fn retry_read_only<T, F>(&self, ctx: &Context, call: F) -> Result<T, ActionError>
    where
        F: for<'a> Fn(&'a dyn RecoveryAction, &'a Context) -> futures_like::BoxFuture<'a, T>,
    {
        let mut pauses = self.policy.pauses();
        let mut attempt = 1;
        loop {
            match call(self.inner.as_ref(), ctx).await {
                Ok(value) => return Ok(value),
                Err(err) => {
                    if self
                        .pause_after(ctx, attempt, &err, &mut pauses)
                        .await
                        .is_none()
                    {
                        return Err(err.in_action(self));
                    }
                    attempt += 1;
                }
            }
        }
    }
}

/// The boxed-future alias the read-only retry helper needs (kept local: no `futures` dependency).
mod futures_like {
    use std::future::Future;
    use std::pin::Pin;

    use crate::ActionError;

    pub(super) type BoxFuture<'a, T> =
        Pin<Box<dyn Future<Output = Result<T, ActionError>> + Send + 'a>>;
}

#[async_trait]
impl RecoveryAction for Retry {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn target(&self) -> &Resource {
        self.inner.target()
    }
    fn mutates(&self) -> bool {
        self.inner.mutates()
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        self.inner.iam_actions()
    }
    fn supports_rollback(&self) -> bool {
        self.inner.supports_rollback()
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        self.retry_read_only(ctx, |a, c| a.check(c)).await
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let mut pauses = self.policy.pauses();
        let mut attempt = 1;
        loop {
            let err = match self.inner.execute(ctx).await {
                Ok(outputs) => return Ok(outputs),
                Err(err) => err,
            };
            if self
                .pause_after(ctx, attempt, &err, &mut pauses)
                .await
                .is_none()
            {
                return Err(err.in_action(self));
            }
            attempt += 1;
            // The failed attempt may have made the change: look before executing again. The
            // look itself is retried; if it keeps failing, nothing is executed blindly.
            match self.retry_read_only(ctx, |a, c| a.check(c)).await {
                Ok(Check::Done { detail, outputs }) => {
                    ctx.progress(format!(
                        "attempt {} failed but the change took effect: {detail}",
                        attempt - 1
                    ));
                    return Ok(outputs);
                }
                Ok(Check::Blocked { reason }) => {
                    return Err(ActionError::precondition(format!(
                        "after a failed attempt ({err}), the action is blocked: {reason}"
                    ))
                    .in_action(self));
                }
                Ok(Check::Unknown { question }) => {
                    return Err(ActionError::precondition(format!(
                        "after a failed attempt ({err}), whether the change was made is \
                         unknown, so it is not made again without a person's decision: \
                         {question}"
                    ))
                    .with_maybe_applied()
                    .in_action(self));
                }
                Ok(Check::Ready { .. }) => {}
                Err(check_err) => {
                    let check_err = ActionError::new(
                        check_err.kind(),
                        format!(
                            "after a failed attempt ({err}), the state could not be read, so \
                             the change is not sent again: {}",
                            check_err.message()
                        ),
                    );
                    let check_err = if err.maybe_applied() {
                        check_err.with_maybe_applied()
                    } else {
                        check_err
                    };
                    return Err(check_err.in_action(self));
                }
            }
        }
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        self.retry_read_only(ctx, |a, c| a.verify(c)).await
    }

    async fn rollback(&self, ctx: &Context) -> Result<(), ActionError> {
        self.retry_read_only(ctx, |a, c| a.rollback(c)).await
    }
}

/// Bounds every call of the wrapped action by a time-out: the context's deadline is brought
/// forward (so the action's own waits stop in time) and the call is cut off at it (so a hung
/// remote call cannot hold the step).
#[derive(Clone, Copy, Debug)]
pub struct TimeoutLayer {
    timeout: Duration,
}

impl TimeoutLayer {
    /// A time-out of `timeout` per call.
    pub fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl Layer for TimeoutLayer {
    fn layer(&self, inner: ActionRef) -> ActionRef {
        Arc::new(Timeout {
            inner,
            timeout: self.timeout,
        })
    }
}

#[derive(Debug)]
struct Timeout {
    inner: ActionRef,
    timeout: Duration,
}

impl Timeout {
    fn bounded_ctx(&self, ctx: &Context) -> Context {
        ctx.clone().with_timeout(self.timeout)
    }

    /// A deadline hit inside this layer while the caller still has time left is this layer's
    /// own time-out: a `Timeout`, which a retry outside may repeat.
    fn timed_out(&self, outer: &Context, err: ActionError) -> ActionError {
        let err = if err.kind() == ErrorKind::DeadlineExceeded && outer.ensure_live().is_ok() {
            ActionError::new(
                ErrorKind::Timeout,
                format!(
                    "the call did not finish within its time-out of {:?}",
                    self.timeout
                ),
            )
            .with_source(err)
        } else {
            err
        };
        err.in_action(self)
    }
}

#[async_trait]
impl RecoveryAction for Timeout {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn target(&self) -> &Resource {
        self.inner.target()
    }
    fn mutates(&self) -> bool {
        self.inner.mutates()
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        self.inner.iam_actions()
    }
    fn supports_rollback(&self) -> bool {
        self.inner.supports_rollback()
    }

    async fn check(&self, outer: &Context) -> Result<Check, ActionError> {
        let ctx = self.bounded_ctx(outer);
        ctx.bounded(self.inner.check(&ctx))
            .await
            .map_err(|e| self.timed_out(outer, e))
    }

    async fn execute(&self, outer: &Context) -> Result<Outputs, ActionError> {
        let ctx = self.bounded_ctx(outer);
        ctx.bounded(self.inner.execute(&ctx))
            .await
            .map_err(|e| self.timed_out(outer, e))
    }

    async fn verify(&self, outer: &Context) -> Result<String, ActionError> {
        let ctx = self.bounded_ctx(outer);
        ctx.bounded(self.inner.verify(&ctx))
            .await
            .map_err(|e| self.timed_out(outer, e))
    }

    async fn rollback(&self, outer: &Context) -> Result<(), ActionError> {
        let ctx = self.bounded_ctx(outer);
        ctx.bounded(self.inner.rollback(&ctx))
            .await
            .map_err(|e| self.timed_out(outer, e))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::{MockRecoveryAction, ProgressEvent};

    fn mock() -> MockRecoveryAction {
        let mut m = MockRecoveryAction::new();
        m.expect_id().return_const("step-1".to_owned());
        m.expect_kind().return_const("demo.touch");
        m.expect_target()
            .return_const(Resource::new("demo", "thing", "t1"));
        m
    }

    fn throttled() -> ActionError {
        ActionError::new(ErrorKind::Throttled, "Rate exceeded").with_code("Throttling")
    }

    fn fast_policy(attempts: u32) -> RetryPolicy {
        RetryPolicy::attempts(attempts)
            .initial_backoff(Duration::from_secs(1))
            .max_backoff(Duration::from_secs(4))
            .jitter(false)
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_read_only_calls_with_backoff() {
        let calls = Arc::new(AtomicU32::new(0));
        let mut m = mock();
        let c = Arc::clone(&calls);
        m.expect_check().times(3).returning(move |_| {
            if c.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(throttled())
            } else {
                Ok(Check::ready("go"))
            }
        });
        let events = Arc::new(Mutex::new(Vec::<ProgressEvent>::new()));
        let sink = {
            let events = Arc::clone(&events);
            move |e| events.lock().unwrap().push(e)
        };
        let action = (Arc::new(m) as ActionRef).with_retry(fast_policy(5));
        let start = tokio::time::Instant::now();
        let check = action
            .check(&Context::new().with_events(sink))
            .await
            .unwrap();
        assert_eq!(check, Check::ready("go"));
        // Pauses of 1 s then 2 s.
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        let retries: Vec<_> = events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match &e.kind {
                ProgressKind::Retry { attempt, delay, .. } => Some((*attempt, *delay)),
                _ => None,
            })
            .collect();
        assert_eq!(
            retries,
            [(1, Duration::from_secs(1)), (2, Duration::from_secs(2))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn does_not_retry_permanent_errors_and_adds_context() {
        let mut m = mock();
        m.expect_verify().times(1).returning(|_| {
            Err(ActionError::new(ErrorKind::AccessDenied, "not authorized")
                .with_code("AccessDenied"))
        });
        let action = (Arc::new(m) as ActionRef).with_retry(fast_policy(5));
        let err = action.verify(&Context::new()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AccessDenied);
        assert_eq!(err.step(), Some("step-1"));
        assert_eq!(err.action(), Some("demo.touch"));
        assert_eq!(err.resource(), Some("demo:thing/t1"));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts() {
        let mut m = mock();
        m.expect_check().times(3).returning(|_| Err(throttled()));
        let action = (Arc::new(m) as ActionRef).with_retry(fast_policy(3));
        let err = action.check(&Context::new()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Throttled);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_execute_whose_change_took_effect_is_not_repeated() {
        let mut m = mock();
        m.expect_execute()
            .times(1)
            .returning(|_| Err(ActionError::new(ErrorKind::Unavailable, "connection reset")));
        m.expect_check().times(1).returning(|_| {
            Ok(Check::Done {
                detail: "writer is b".into(),
                outputs: Outputs::new().with("writer", "b"),
            })
        });
        let action = (Arc::new(m) as ActionRef).with_retry(fast_policy(5));
        let outputs = action.execute(&Context::new()).await.unwrap();
        assert_eq!(outputs.get_str("writer"), Some("b"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_execute_is_repeated_when_check_says_ready() {
        let calls = Arc::new(AtomicU32::new(0));
        let mut m = mock();
        let c = Arc::clone(&calls);
        m.expect_execute().times(2).returning(move |_| {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(throttled())
            } else {
                Ok(Outputs::new().with("done", true))
            }
        });
        m.expect_check()
            .times(1)
            .returning(|_| Ok(Check::ready("fail over")));
        let action = (Arc::new(m) as ActionRef).with_retry(fast_policy(5));
        let outputs = action.execute(&Context::new()).await.unwrap();
        assert_eq!(outputs.get("done"), Some(&serde_json::Value::Bool(true)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_execute_that_became_blocked_fails() {
        let mut m = mock();
        m.expect_execute().times(1).returning(|_| Err(throttled()));
        m.expect_check()
            .times(1)
            .returning(|_| Ok(Check::blocked("cluster has no reader")));
        let action = (Arc::new(m) as ActionRef).with_retry(fast_policy(5));
        let err = action.execute(&Context::new()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
        assert!(err.message().contains("no reader"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_execute_is_never_repeated_when_the_recheck_keeps_failing() {
        let mut m = mock();
        // The change may have been made (its answer was lost); the state cannot be read.
        m.expect_execute().times(1).returning(|_| {
            Err(ActionError::new(ErrorKind::Unavailable, "connection closed").with_maybe_applied())
        });
        m.expect_check().times(3).returning(|_| Err(throttled()));
        let action = (Arc::new(m) as ActionRef).with_retry(fast_policy(3));
        let err = action.execute(&Context::new()).await.unwrap_err();
        assert!(err.maybe_applied(), "{err}");
        assert!(err.message().contains("not sent again"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_when_the_pause_would_cross_the_deadline() {
        let mut m = mock();
        m.expect_check().times(1).returning(|_| Err(throttled()));
        let action = (Arc::new(m) as ActionRef)
            .with_retry(fast_policy(5).initial_backoff(Duration::from_secs(10)));
        let ctx = Context::new().with_timeout(Duration::from_secs(5));
        let err = action.check(&ctx).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Throttled);
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_interrupts_the_pause() {
        let token = CancellationToken::new();
        let mut m = mock();
        m.expect_check().times(1).returning(|_| Err(throttled()));
        let action = (Arc::new(m) as ActionRef)
            .with_retry(fast_policy(5).initial_backoff(Duration::from_secs(60)));
        let ctx = Context::new().with_cancellation(token.clone());
        let cancel = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            token.cancel();
        };
        let start = tokio::time::Instant::now();
        let ((), result) = tokio::join!(cancel, action.check(&ctx));
        assert!(result.is_err());
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    /// An action whose first `execute` hangs for an hour and second returns at once.
    #[derive(Debug)]
    struct HangsOnce {
        calls: AtomicU32,
        target: Resource,
    }

    #[async_trait]
    impl RecoveryAction for HangsOnce {
        fn id(&self) -> &str {
            "hang"
        }
        fn kind(&self) -> &'static str {
            "demo.hang"
        }
        fn target(&self) -> &Resource {
            &self.target
        }
        fn mutates(&self) -> bool {
            true
        }
        fn iam_actions(&self) -> &'static [&'static str] {
            &[]
        }
        async fn check(&self, _: &Context) -> Result<Check, ActionError> {
            Ok(Check::ready("hang"))
        }
        async fn execute(&self, _: &Context) -> Result<Outputs, ActionError> {
            if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Ok(Outputs::new().with("attempts", self.calls.load(Ordering::SeqCst)))
        }
        async fn verify(&self, _: &Context) -> Result<String, ActionError> {
            Ok(String::new())
        }
    }

    fn hang() -> ActionRef {
        Arc::new(HangsOnce {
            calls: AtomicU32::new(0),
            target: Resource::new("demo", "thing", "h"),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_inside_a_retry_bounds_each_attempt() {
        let action = hang()
            .with_timeout(Duration::from_secs(10))
            .with_retry(fast_policy(3));
        let start = tokio::time::Instant::now();
        let outputs = action.execute(&Context::new()).await.unwrap();
        assert_eq!(outputs.get("attempts"), Some(&serde_json::Value::from(2)));
        // 10 s time-out + 1 s pause.
        assert_eq!(start.elapsed(), Duration::from_secs(11));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_outside_a_retry_bounds_the_whole() {
        let action = hang()
            .with_retry(fast_policy(3))
            .with_timeout(Duration::from_secs(10));
        let err = action.execute(&Context::new()).await.unwrap_err();
        // The step's own deadline, seen from outside, is a time-out of this layer.
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(err.step(), Some("hang"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_at_the_callers_deadline_is_not_retryable() {
        let action = hang().with_timeout(Duration::from_secs(60));
        let ctx = Context::new().with_timeout(Duration::from_secs(10));
        let err = action.execute(&ctx).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    }

    #[test]
    fn retry_policy_reads_the_runbook_shape() {
        let policy: RetryPolicy = serde_json::from_value(serde_json::json!({
            "max_attempts": 5, "initial_backoff": "1s", "max_backoff": "30s"
        }))
        .unwrap();
        assert_eq!(policy, RetryPolicy::default());
        let err = serde_json::from_value::<RetryPolicy>(serde_json::json!({"max_attempt": 5}))
            .unwrap_err();
        assert!(
            err.to_string().contains("unknown field `max_attempt`"),
            "{err}"
        );
    }
}
