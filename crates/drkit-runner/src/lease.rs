//! How a lock that can be lost while held (an object store's lease) tells its run.
//!
//! A [`JournalLock`](crate::JournalLock) with a lease hands the runner a [`LockLoss`]
//! ([`JournalLock::loss`](crate::JournalLock::loss)). The lock sets a *renewal deadline* after
//! each renewal, and marks the loss itself when it learns that another holder took over. The
//! runner stops launching steps and cancels the running ones as soon as either happens, so a
//! holder that cannot renew stops before its lease ends, not after.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The loss signal of a held lock: lost when [`lose`](Self::lose) is called, or once its renewal
/// deadline ([`renew_by`](Self::renew_by)) has passed. Once lost, it stays lost. Clones share
/// the state.
#[derive(Clone, Default)]
pub struct LockLoss {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    token: CancellationToken,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    reason: Option<String>,
    deadline: Option<Instant>,
    last_failure: Option<String>,
}

impl fmt::Debug for LockLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("LockLoss")
            .field("reason", &state.reason)
            .field("deadline", &state.deadline)
            .finish_non_exhaustive()
    }
}

impl LockLoss {
    /// Not lost, no deadline.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the lock lost because of `reason` (the first reason is kept).
    pub fn lose(&self, reason: impl Into<String>) {
        {
            let mut state = self.state();
            if state.reason.is_none() {
                state.reason = Some(reason.into());
            }
        }
        self.inner.token.cancel();
    }

    /// The lock was renewed: it is lost if not renewed again by `deadline`.
    pub fn renew_by(&self, deadline: Instant) {
        let mut state = self.state();
        state.deadline = Some(deadline);
        state.last_failure = None;
    }

    /// A renewal failed with `error` (named in the reason if the deadline passes).
    pub fn renewal_failed(&self, error: impl Into<String>) {
        self.state().last_failure = Some(error.into());
    }

    /// Why the lock was lost, or `None` while it is held. A renewal deadline that has passed
    /// makes it lost now.
    pub fn reason(&self) -> Option<String> {
        let missed = {
            let state = self.state();
            if let Some(reason) = &state.reason {
                return Some(reason.clone());
            }
            match state.deadline {
                Some(deadline) if Instant::now() >= deadline => Some(match &state.last_failure {
                    Some(e) => {
                        format!("its lease could not be renewed in time (last attempt: {e})")
                    }
                    None => "its lease could not be renewed in time".to_owned(),
                }),
                _ => None,
            }
        };
        let missed = missed?;
        self.lose(missed);
        self.state().reason.clone()
    }

    /// Whether the lock is lost (see [`reason`](Self::reason)).
    pub fn is_lost(&self) -> bool {
        self.reason().is_some()
    }

    /// Waits until the lock is lost, and says why.
    pub async fn lost(&self) -> String {
        loop {
            if let Some(reason) = self.reason() {
                return reason;
            }
            let deadline = self.state().deadline;
            match deadline {
                Some(deadline) => {
                    tokio::select! {
                        () = self.inner.token.cancelled() => {}
                        () = tokio::time::sleep_until(deadline) => {}
                    }
                }
                None => self.inner.token.cancelled().await,
            }
        }
    }
}

/// A lost lock refuses the steps' remote calls ([`drkit_core::Context::bounded`]): checked
/// against this machine's monotonic clock as each call starts, so a process that stalled past
/// its renewal deadline sends nothing when it wakes, even before the cancellation that follows
/// the loss reaches its steps.
impl drkit_core::SendGate for LockLoss {
    fn refusal(&self) -> Option<String> {
        self.reason()
            .map(|why| format!("lost the journal lock: {why}"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_missed_renewal_deadline_loses_the_lock_and_a_renewal_pushes_it_back() {
        let loss = LockLoss::new();
        assert_eq!(loss.reason(), None);
        loss.renew_by(Instant::now() + Duration::from_secs(80));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(!loss.is_lost());
        // Renewed at 60 s: the deadline moves to 140 s.
        loss.renew_by(Instant::now() + Duration::from_secs(80));
        loss.renewal_failed("PutObject: HTTP 503");
        let waiter = tokio::spawn({
            let loss = loss.clone();
            async move { (loss.lost().await, Instant::now()) }
        });
        let start = Instant::now();
        let (why, at) = waiter.await.unwrap();
        assert_eq!(at - start, Duration::from_secs(80));
        assert_eq!(
            why,
            "its lease could not be renewed in time (last attempt: PutObject: HTTP 503)"
        );
        // Lost for good: a late renewal does not bring it back.
        loss.renew_by(Instant::now() + Duration::from_secs(80));
        assert!(loss.is_lost());
    }

    #[tokio::test]
    async fn the_first_reason_is_kept_and_wakes_the_waiters() {
        let loss = LockLoss::new();
        let waiter = tokio::spawn({
            let loss = loss.clone();
            async move { loss.lost().await }
        });
        loss.lose("it was taken over by bob (generation 2)");
        loss.lose("something else");
        assert_eq!(
            waiter.await.unwrap(),
            "it was taken over by bob (generation 2)"
        );
    }
}
