//! The one waiting helper every provider uses: poll a read-only probe until a condition holds.
//!
//! Fixed, long poll intervals add straight to the RTO: the SDK's RDS waiter polls every 30-120 s,
//! so a failover that finished after 20 s is noticed up to a minute later. [`wait_until`] backs
//! off exponentially (with jitter, from `backon`) but never lets the gap between two polls exceed
//! `max(1 s, 10 % of the time already waited)` (both numbers are [`WaitPolicy`] fields). A change
//! that completes at time `t` is therefore noticed by `t + max(1 s, t / 10)`.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;

use crate::{ActionError, Context, ErrorKind, ProgressKind};

/// One observation of a probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Poll<T> {
    /// The condition holds; the wait returns this value.
    Ready(T),
    /// Not yet; the observed state, in words (e.g. `status=failing-over, writer=a`).
    Pending(String),
}

/// How [`wait_until`] spaces its polls.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WaitPolicy {
    /// The pause after the first poll.
    pub first_delay: Duration,
    /// The growth factor of the pause.
    pub factor: f32,
    /// An absolute bound on the pause.
    pub max_delay: Duration,
    /// Whether to add random jitter to the pause.
    pub jitter: bool,
    /// The pause never exceeds this share of the time already waited...
    pub lag_fraction: f64,
    /// ...or this floor, whichever is larger.
    pub lag_floor: Duration,
    /// When every poll has failed (retryable errors) for this long, and at least
    /// [`MIN_FAILED_POLLS`] in a row, the wait ends with the last error instead of waiting on
    /// until the deadline: a dead endpoint is reported as such, not as a time-out. `None`:
    /// only the deadline ends a failing wait.
    pub max_failing: Option<Duration>,
}

/// The fewest polls in a row that must fail before [`WaitPolicy::max_failing`] ends a wait.
pub const MIN_FAILED_POLLS: u32 = 3;

impl Default for WaitPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(60),
            jitter: true,
            lag_fraction: 0.10,
            lag_floor: Duration::from_secs(1),
            max_failing: Some(Duration::from_secs(5 * 60)),
        }
    }
}

impl WaitPolicy {
    /// The default policy without jitter (deterministic; useful in tests and benchmarks).
    pub fn without_jitter() -> Self {
        Self {
            jitter: false,
            ..Self::default()
        }
    }

    /// Sets the first pause.
    #[must_use]
    pub fn first_delay(mut self, delay: Duration) -> Self {
        self.first_delay = delay;
        self
    }

    /// Sets the absolute bound on the pause.
    #[must_use]
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets how long polls may fail in a row before the wait ends with the last error (`None`:
    /// until the deadline).
    #[must_use]
    pub fn max_failing(mut self, failing: Option<Duration>) -> Self {
        self.max_failing = failing;
        self
    }

    /// The largest pause allowed after having waited `waited`.
    pub fn lag_bound(&self, waited: Duration) -> Duration {
        self.lag_floor.max(waited.mul_f64(self.lag_fraction))
    }

    fn backoff(&self) -> impl Iterator<Item = Duration> + use<> {
        let mut builder = ExponentialBuilder::new()
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_factor(self.factor.max(1.0))
            .without_max_times();
        if self.jitter {
            builder = builder.with_jitter();
        }
        builder.build()
    }
}

/// Polls `probe` until it returns [`Poll::Ready`], and returns that value.
///
/// - Each poll emits a [`ProgressKind::Poll`] event through the context.
/// - A retryable probe error (throttling, 5xx, time-out) counts as "not yet" and the wait goes
///   on — until polls have failed in a row for [`WaitPolicy::max_failing`] (and at least
///   [`MIN_FAILED_POLLS`] times): then the wait ends with an error of the last error's kind
///   (still retryable, so a retry layer may try the step again), saying how long and how often
///   the probe failed. Any other probe error ends the wait with that error.
/// - Cancellation ends the wait at once with `Cancelled`; the deadline ends it with
///   `DeadlineExceeded`, naming what was awaited and the last state seen. A last poll is made at
///   the deadline itself.
///
/// `what` describes the awaited condition, e.g. `"writer of mint-replica-cluster to be b"`.
pub async fn wait_until<T, F, Fut>(
    ctx: &Context,
    what: &str,
    policy: &WaitPolicy,
    mut probe: F,
) -> Result<T, ActionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, ActionError>>,
{
    let start = Instant::now();
    let mut backoff = policy.backoff();
    let mut attempt: u32 = 0;
    let mut last_state: Option<String> = None;
    // Since when, and how many times in a row, the probe has failed.
    let mut failing: Option<(Instant, u32)> = None;
    loop {
        if ctx.is_cancelled() {
            return Err(ActionError::cancelled(format!(
                "the run was cancelled while waiting for {what}"
            )));
        }
        attempt = attempt.saturating_add(1);
        let state = match probe().await {
            Ok(Poll::Ready(value)) => {
                ctx.emit(ProgressKind::Poll {
                    what: what.to_owned(),
                    attempt,
                    waited: start.elapsed(),
                    state: "done".to_owned(),
                    next_in: None,
                    done: true,
                });
                return Ok(value);
            }
            Ok(Poll::Pending(state)) => {
                failing = None;
                state
            }
            Err(err) if err.is_retryable() => {
                let (since, count) = failing.get_or_insert((Instant::now(), 0));
                *count = count.saturating_add(1);
                let failed_for = since.elapsed();
                if *count >= MIN_FAILED_POLLS
                    && policy.max_failing.is_some_and(|max| failed_for >= max)
                {
                    return Err(gave_up_failing(what, *count, failed_for, &err));
                }
                format!("probe failed, will poll again: {err}")
            }
            // The last poll, at the deadline, is cut off by the deadline itself (a real call is
            // never instant): the wait gave up; say so with the last state actually seen.
            Err(err)
                if err.kind() == ErrorKind::DeadlineExceeded
                    && ctx.deadline().is_some_and(|d| Instant::now() >= d) =>
            {
                return Err(ActionError::deadline_exceeded(format!(
                    "gave up waiting for {what} after {:.1} s and {} polls; last state: {}",
                    start.elapsed().as_secs_f64(),
                    attempt.saturating_sub(1),
                    last_state
                        .as_deref()
                        .unwrap_or("none seen (no poll finished in time)")
                )));
            }
            Err(err) => return Err(err),
        };
        last_state = Some(state.clone());

        let now = Instant::now();
        let waited = now.saturating_duration_since(start);
        let mut delay = backoff
            .next()
            .unwrap_or(policy.max_delay)
            .min(policy.max_delay)
            .min(policy.lag_bound(waited));
        if let Some(deadline) = ctx.deadline() {
            if now >= deadline {
                return Err(ActionError::deadline_exceeded(format!(
                    "gave up waiting for {what} after {:.1} s and {attempt} polls; last state: {state}",
                    waited.as_secs_f64()
                )));
            }
            delay = delay.min(deadline - now);
        }
        // Timers fire on whole milliseconds, rounding up: round down here so the bound holds.
        let delay = Duration::from_millis(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
        ctx.emit(ProgressKind::Poll {
            what: what.to_owned(),
            attempt,
            waited,
            state,
            next_in: Some(delay),
            done: false,
        });
        ctx.sleep(delay).await.map_err(|_| {
            ActionError::cancelled(format!("the run was cancelled while waiting for {what}"))
        })?;
    }
}

/// The error that ends a wait whose probe kept failing: the last error's kind, code and
/// operation, and how long and how often the probe failed.
fn gave_up_failing(
    what: &str,
    count: u32,
    failed_for: Duration,
    last: &ActionError,
) -> ActionError {
    let mut err = ActionError::new(
        last.kind(),
        format!(
            "gave up waiting for {what}: the last {count} polls, over {:.1} s, all failed; \
             last error: {last}",
            failed_for.as_secs_f64()
        ),
    );
    if let Some(code) = last.code() {
        err = err.with_code(code);
    }
    if let Some(operation) = last.operation() {
        err = err.with_operation(operation);
    }
    err
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::{ErrorKind, ProgressEvent};

    /// A probe whose condition becomes true `after` the wait started.
    fn finishes_after(
        start: Instant,
        after: Duration,
        polls: Arc<Mutex<Vec<Duration>>>,
    ) -> impl FnMut() -> std::future::Ready<Result<Poll<Duration>, ActionError>> {
        move || {
            let elapsed = start.elapsed();
            polls.lock().unwrap().push(elapsed);
            std::future::ready(Ok(if elapsed >= after {
                Poll::Ready(elapsed)
            } else {
                Poll::Pending(format!("not yet at {elapsed:?}"))
            }))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_thirty_minute_wait_is_noticed_within_ten_percent() {
        let start = Instant::now();
        let polls = Arc::new(Mutex::new(Vec::new()));
        let done_at = Duration::from_secs(30 * 60);
        let ctx = Context::new().with_timeout(Duration::from_secs(3600));
        let seen = wait_until(
            &ctx,
            "thirty minutes",
            &WaitPolicy::default(),
            finishes_after(start, done_at, Arc::clone(&polls)),
        )
        .await
        .unwrap();
        let lag = seen - done_at;
        assert!(
            lag <= done_at / 10,
            "noticed {lag:?} late, more than 10 % of {done_at:?}"
        );
        // Every gap between polls respects the bound.
        let polls = polls.lock().unwrap();
        for pair in polls.windows(2) {
            let gap = pair[1] - pair[0];
            let bound = WaitPolicy::default().lag_bound(pair[0]);
            assert!(gap <= bound, "gap {gap:?} after {:?} > {bound:?}", pair[0]);
        }
        // ... and it did not busy-loop either: far fewer polls than seconds.
        assert!(polls.len() < 120, "{} polls", polls.len());
    }

    #[tokio::test(start_paused = true)]
    async fn short_waits_poll_at_least_every_second() {
        let start = Instant::now();
        let polls = Arc::new(Mutex::new(Vec::new()));
        let done_at = Duration::from_millis(2500);
        let seen = wait_until(
            &Context::new(),
            "soon",
            &WaitPolicy::default(),
            finishes_after(start, done_at, Arc::clone(&polls)),
        )
        .await
        .unwrap();
        assert!(seen - done_at <= Duration::from_secs(1), "{seen:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_ends_the_wait_with_the_last_state() {
        let ctx = Context::new().with_timeout(Duration::from_secs(300));
        let err = wait_until(&ctx, "never", &WaitPolicy::default(), || async {
            Ok::<_, ActionError>(Poll::<()>::Pending("status=failing-over".into()))
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
        assert!(err.message().contains("never"), "{err}");
        assert!(err.message().contains("status=failing-over"), "{err}");
    }

    /// A real probe is a call through `ctx.bounded` that takes time: the poll at the deadline
    /// is cut off by the deadline. The error must still name the last state seen, not "the
    /// deadline passed during a call".
    #[tokio::test(start_paused = true)]
    async fn a_probe_cut_off_at_the_deadline_still_reports_the_last_state() {
        let ctx = Context::new().with_timeout(Duration::from_secs(30));
        let err = wait_until(&ctx, "pods ready", &WaitPolicy::default(), || {
            ctx.bounded(async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(Poll::<()>::Pending("api-0: CrashLoopBackOff".into()))
            })
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
        assert!(err.message().contains("pods ready"), "{err}");
        assert!(
            err.message()
                .contains("last state: api-0: CrashLoopBackOff"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_last_poll_is_made_at_the_deadline() {
        let start = Instant::now();
        let polls = Arc::new(Mutex::new(Vec::new()));
        let ctx = Context::new().with_timeout(Duration::from_secs(100));
        // Ready exactly at the deadline: the final poll must see it.
        let seen = wait_until(
            &ctx,
            "at the wire",
            &WaitPolicy::without_jitter().first_delay(Duration::from_secs(60)),
            finishes_after(start, Duration::from_secs(100), Arc::clone(&polls)),
        )
        .await
        .unwrap();
        assert_eq!(seen, Duration::from_secs(100));
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_ends_the_wait() {
        let token = CancellationToken::new();
        let ctx = Context::new().with_cancellation(token.clone());
        let canceller = async {
            tokio::time::sleep(Duration::from_secs(42)).await;
            token.cancel();
        };
        let policy = WaitPolicy::default();
        let wait = wait_until(&ctx, "forever", &policy, || async {
            Ok::<_, ActionError>(Poll::<()>::Pending("pending".into()))
        });
        let ((), result) = tokio::join!(canceller, wait);
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled);
        assert!(err.message().contains("forever"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn retryable_probe_errors_do_not_end_the_wait() {
        let mut calls = 0;
        let value = wait_until(&Context::new(), "flaky", &WaitPolicy::default(), || {
            calls += 1;
            let n = calls;
            async move {
                match n {
                    1 => Err(ActionError::new(ErrorKind::Throttled, "Rate exceeded")),
                    2 => Ok(Poll::Pending("modifying".into())),
                    _ => Ok(Poll::Ready(n)),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 3);
    }

    /// A probe that fails on every poll (an endpoint gone dead mid-wait) ends the wait after
    /// `max_failing`, with the last error's kind and code, long before the deadline.
    #[tokio::test(start_paused = true)]
    async fn a_probe_failing_for_max_failing_ends_the_wait_with_its_last_error() {
        let ctx = Context::new().with_deadline(Instant::now() + Duration::from_secs(30 * 60));
        let start = Instant::now();
        let mut calls = 0_u32;
        let err = wait_until(&ctx, "the writer", &WaitPolicy::default(), || {
            calls += 1;
            let n = calls;
            async move {
                if n == 1 {
                    Ok(Poll::<()>::Pending("failing-over".into()))
                } else {
                    Err(ActionError::new(ErrorKind::Timeout, "no answer").with_code("Timeout"))
                }
            }
        })
        .await
        .unwrap_err();
        let took = start.elapsed();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.is_retryable());
        assert_eq!(err.code(), Some("Timeout"));
        assert!(
            err.message().contains("gave up waiting for the writer")
                && err.message().contains("all failed")
                && err.message().contains("no answer"),
            "{err}"
        );
        // Five minutes of failing polls (plus the one good poll and the lag bound's slack),
        // not the 30-minute deadline.
        assert!(took >= Duration::from_secs(5 * 60), "{took:?}");
        assert!(took < Duration::from_secs(6 * 60), "{took:?}");
    }

    /// A good poll in between starts the count again; `max_failing = None` waits until the
    /// deadline.
    #[tokio::test(start_paused = true)]
    async fn failing_polls_must_be_in_a_row_and_none_disables_the_bound() {
        let ctx = Context::new().with_deadline(Instant::now() + Duration::from_secs(20 * 60));
        let start = Instant::now();
        let err = wait_until(
            &ctx,
            "flapping",
            &WaitPolicy::default().max_failing(None),
            || async { Err::<Poll<()>, _>(ActionError::new(ErrorKind::Throttled, "slow down")) },
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DeadlineExceeded, "{err}");
        assert!(start.elapsed() >= Duration::from_secs(20 * 60));

        // Two minutes failing, two minutes answering (polls are at most 60 s apart), for 12
        // minutes: never 5 minutes of failures in a row, so the wait sees the condition hold.
        let start = Instant::now();
        let policy = WaitPolicy::default().max_failing(Some(Duration::from_secs(5 * 60)));
        let ready = wait_until(&Context::new(), "flapping", &policy, || {
            let at = start.elapsed();
            async move {
                if at >= Duration::from_secs(12 * 60) {
                    Ok(Poll::Ready(()))
                } else if at.as_secs() / 60 % 4 >= 2 {
                    Ok(Poll::Pending("answered".into()))
                } else {
                    Err(ActionError::new(ErrorKind::Unavailable, "503"))
                }
            }
        })
        .await;
        assert!(ready.is_ok(), "{ready:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_probe_errors_end_the_wait() {
        let err = wait_until(&Context::new(), "gone", &WaitPolicy::default(), || async {
            Err::<Poll<()>, _>(ActionError::new(ErrorKind::NotFound, "no such cluster"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }

    #[tokio::test(start_paused = true)]
    async fn every_poll_emits_an_event() {
        let events = Arc::new(Mutex::new(Vec::<ProgressEvent>::new()));
        let sink = {
            let events = Arc::clone(&events);
            move |e| events.lock().unwrap().push(e)
        };
        let ctx = Context::new().with_step("s").with_events(sink);
        let mut n = 0;
        wait_until(&ctx, "three polls", &WaitPolicy::default(), || {
            n += 1;
            let n = n;
            async move {
                Ok::<_, ActionError>(if n < 3 {
                    Poll::Pending(format!("poll {n}"))
                } else {
                    Poll::Ready(())
                })
            }
        })
        .await
        .unwrap();
        let events = events.lock().unwrap();
        assert_eq!(events.len(), 3);
        let last = &events[2].kind;
        assert!(
            matches!(
                last,
                ProgressKind::Poll {
                    attempt: 3,
                    done: true,
                    next_in: None,
                    ..
                }
            ),
            "{last:?}"
        );
    }
}
