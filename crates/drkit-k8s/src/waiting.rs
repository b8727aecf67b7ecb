//! [`wait_until`] with the last state kept when the deadline cuts the last poll.
//!
//! `wait_until` makes a last poll at the deadline; that poll's call goes through
//! `ctx.bounded`, which fails at once with "the step's deadline passed during a call" as soon
//! as the call is not ready on its first poll (any real network call). Without this wrapper
//! the time-out error would lose the last state seen — for `k8s.wait_ready`, the very list of
//! pods that are not ready and why. Here a deadline error of the probe counts as "still the
//! last state seen", so `wait_until` ends with its own `DeadlineExceeded` error carrying it.
//!
//! And the three phases of the kinds that wait for something to be ready (`k8s.wait_ready`,
//! `k8s.wait_nodes_ready`), from one [`Observation`]: [`check_ready`], [`wait_ready`],
//! [`confirm_ready`].

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use drkit_core::{ActionError, Check, Context, ErrorKind, Outputs, Poll, WaitPolicy, wait_until};

/// One observation of what a waiting kind waits for.
pub(crate) trait Observation {
    /// Whether it is ready.
    fn is_ready(&self) -> bool;
    /// What was seen, in words: what a dry run prints and a time-out error carries.
    fn state(&self) -> String;
    /// The kind's outputs.
    fn outputs(&self) -> Outputs;
}

/// `check`: ready now -> done with the outputs; else ready to wait, with the state.
pub(crate) fn check_ready(what: &str, seen: &impl Observation) -> Check {
    if seen.is_ready() {
        Check::Done {
            detail: format!("{what} are ready: {}", seen.state()),
            outputs: seen.outputs(),
        }
    } else {
        Check::ready(format!(
            "wait until {what} are ready; now: {}",
            seen.state()
        ))
    }
}

/// `execute`: polls `observe` with `policy` until ready; at the deadline the error carries
/// the last state seen.
pub(crate) async fn wait_ready<T, F, Fut>(
    ctx: &Context,
    what: &str,
    policy: &WaitPolicy,
    mut observe: F,
) -> Result<Outputs, ActionError>
where
    T: Observation,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ActionError>>,
{
    let waited_for = format!("{what} to be ready");
    let seen = wait_keeping_state(ctx, &waited_for, policy, || {
        // Boxed: a kube list's future is large, and the wait holds one.
        let fut = Box::pin(observe());
        async move {
            let seen = fut.await?;
            Ok(if seen.is_ready() {
                Poll::Ready(seen)
            } else {
                Poll::Pending(seen.state())
            })
        }
    })
    .await?;
    ctx.progress(format!("{what} are ready: {}", seen.state()));
    Ok(seen.outputs())
}

/// `verify`: ready now, else `PostconditionFailed` with the state.
pub(crate) fn confirm_ready(what: &str, seen: &impl Observation) -> Result<String, ActionError> {
    if seen.is_ready() {
        Ok(format!("{what} are ready: {}", seen.state()))
    } else {
        Err(ActionError::postcondition(format!(
            "{what} are not ready: {}",
            seen.state()
        )))
    }
}

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
