//! [`wait_until`] with the last state kept when the deadline cuts the last poll.
//!
//! `wait_until` makes a last poll at the deadline; that poll's call goes through
//! `ctx.bounded`, which fails at once with "the step's deadline passed during a call" as soon
//! as the call is not ready on its first poll (any real network call). Without this wrapper
//! the time-out error would lose the last state seen — for `k8s.wait_ready`, the very list of
//! pods that are not ready and why. Here a deadline error of the probe counts as "still the
//! last state seen", so `wait_until` ends with its own `DeadlineExceeded` error carrying it.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use drkit_core::{ActionError, Context, ErrorKind, Poll, WaitPolicy, wait_until};

/// Like [`wait_until`], keeping the last observed state through a deadline-cut last poll.
pub(crate) async fn wait_keeping_state<T, F, Fut>(
    ctx: &Context,
    what: &str,
    policy: &WaitPolicy,
    mut probe: F,
) -> Result<T, ActionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, ActionError>>,
{
    let last = Mutex::new(String::from("nothing observed yet"));
    let last = &last;
    wait_until(ctx, what, policy, || {
        let fut = probe();
        async move {
            match fut.await {
                Ok(Poll::Pending(state)) => {
                    state.clone_into(&mut last.lock().unwrap_or_else(PoisonError::into_inner));
                    Ok(Poll::Pending(state))
                }
                Err(e) if e.kind() == ErrorKind::DeadlineExceeded => {
                    let state = last.lock().unwrap_or_else(PoisonError::into_inner).clone();
                    Ok(Poll::Pending(state))
                }
                other => other,
            }
        }
    })
    .await
}
