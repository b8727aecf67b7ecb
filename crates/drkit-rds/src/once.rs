//! Exactly once: how an RDS action makes a request that must not take effect twice (a
//! failover, a switchover, a detach, a create, a restore).
//!
//! 1. The request's intent is journalled, then one SDK attempt is made ([`Context::mutate`];
//!    the adapter sends such requests with one attempt, no SDK retry).
//! 2. When its answer is lost, or an earlier attempt or run part journalled the intent, the
//!    action reads state for a sign of the change instead of sending it again.
//! 3. Only when no sign shows within [`UNSTARTED_GRACE`] (the request never reached RDS) is it
//!    sent again, at most [`MAX_UNANSWERED_SENDS`] requests in all. On such a repeat, the error
//!    that says the change is already made (`exists_code`: the resource already exists, or is
//!    already gone) means the earlier request did it.
//!
//! Then the action waits for the change; if that wait fails while the outcome is unknown,
//! [`Sent::explain`] says why the request was not sent again.

use std::future::Future;
use std::time::Duration;

use drkit_core::{ActionError, Context, ErrorKind, Outputs, Poll, WaitPolicy, wait_until};

use crate::common::found;

/// How long a request whose outcome is unknown may show no sign (the failover, switchover,
/// detach or create not started) before drkit concludes it never reached RDS and sends it
/// again (at most [`MAX_UNANSWERED_SENDS`] requests in all). RDS shows an accepted request
/// within seconds (`failing-over`, `modifying`, `creating`, ...).
pub const UNSTARTED_GRACE: Duration = Duration::from_secs(60);

/// The most requests one execution sends while none is answered and no sign of the change
/// shows after [`UNSTARTED_GRACE`] each time.
pub const MAX_UNANSWERED_SENDS: usize = 3;

/// Whether `probe` (polled as [`wait_until`] does, under a context bounded by `grace`) shows
/// within `grace` the sign that a request whose answer was lost reached RDS. `false`: no sign
/// (the request never reached RDS; the caller may send it again). The step's own deadline
/// passing first is an error, not "no sign".
pub(crate) async fn sign_within<F, Fut>(
    ctx: &Context,
    grace: Duration,
    what: &str,
    policy: &WaitPolicy,
    probe: F,
) -> Result<bool, ActionError>
where
    F: Fn(Context) -> Fut,
    Fut: Future<Output = Result<Poll<()>, ActionError>>,
{
    let bounded = ctx.clone().with_timeout(grace);
    match wait_until(&bounded, what, policy, || probe(bounded.clone())).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::DeadlineExceeded => {
            // The step's own deadline, not the grace: let the caller's next call say so.
            ctx.ensure_live()?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The sign of a create: the described resource exists (RDS describes are eventually
/// consistent: not visible yet is "pending", not an error).
pub(crate) fn appeared<T>(described: Result<T, ActionError>) -> Result<Poll<()>, ActionError> {
    Ok(match found(described)? {
        Some(_) => Poll::Ready(()),
        None => Poll::Pending("not visible yet".into()),
    })
}

/// One request made exactly once (see the module docs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Once<'a> {
    /// The RDS operation, e.g. `FailoverDBCluster`.
    pub operation: &'a str,
    /// What it changes, for progress messages.
    pub what: &'a str,
    /// How state is polled for a sign of it.
    pub wait: &'a WaitPolicy,
    /// The error code that, on a repeat, means the earlier request did its work.
    pub exists_code: Option<&'a str>,
}

/// What is known of a request once [`Once::send`] returns.
#[derive(Debug)]
pub(crate) enum Sent {
    /// RDS answered: accepted (or, on a repeat, already done).
    Answered,
    /// Unknown: its answer was lost (the error), or an earlier attempt or run part sent it
    /// (`None`). RDS showed a sign of it, or no more requests may be sent.
    Unknown(Option<ActionError>),
}

impl Sent {
    /// `e`, a failed wait for the request's effect, with why the request was not sent again
    /// when its outcome is unknown, and where to look (`events`, e.g. "the cluster's events (aws
    /// rds describe-events)"). Marked maybe applied: a retry must read, not resend.
    pub(crate) fn explain(&self, e: ActionError, operation: &str, events: &str) -> ActionError {
        let why = match self {
            Sent::Answered => return e,
            Sent::Unknown(Some(lost)) => format!(
                "{operation}'s answer was lost ({}) and it was not sent again",
                lost.message()
            ),
            Sent::Unknown(None) => format!(
                "{operation} was sent earlier (its intent is in the journal) and is not sent again"
            ),
        };
        ActionError::new(
            e.kind(),
            format!("{}; {why}: check {events} before retrying", e.message()),
        )
        .with_operation(operation)
        .with_maybe_applied()
    }
}

impl Once<'_> {
    /// Makes the request `call` with `intent` journalled first, unless `resume` (an earlier
    /// attempt or run part journalled this intent, so its outcome is unknown); reconciles an
    /// unknown outcome by polling `sign` (ready: the request reached RDS). A refusal (an error
    /// code, nothing changed) is returned as the error.
    pub(crate) async fn send<C, CF, S, SF>(
        &self,
        ctx: &Context,
        intent: Outputs,
        resume: bool,
        call: C,
        sign: S,
    ) -> Result<Sent, ActionError>
    where
        C: Fn() -> CF,
        CF: Future<Output = Result<(), ActionError>>,
        S: Fn(Context) -> SF,
        SF: Future<Output = Result<Poll<()>, ActionError>>,
    {
        let Once {
            operation, what, ..
        } = *self;
        let send = |repeat: bool| {
            let intent = intent.clone();
            let request = call();
            async move {
                match ctx
                    .mutate(intent, request)
                    .await
                    .map_err(|e| e.with_operation(operation))
                {
                    Ok(()) => {
                        ctx.progress(format!("{operation} accepted: {what}"));
                        Ok(Sent::Answered)
                    }
                    Err(e)
                        if repeat && self.exists_code.is_some() && e.code() == self.exists_code =>
                    {
                        ctx.progress(format!(
                            "{operation} answered {} on a repeat: the earlier request did it",
                            e.code().unwrap_or_default()
                        ));
                        Ok(Sent::Answered)
                    }
                    Err(e) if e.maybe_applied() => {
                        ctx.progress(format!(
                            "{operation}'s answer was lost ({}); reading instead of sending it \
                             again",
                            e.message()
                        ));
                        Ok(Sent::Unknown(Some(e)))
                    }
                    Err(e) => Err(e),
                }
            }
        };
        let (mut sent, mut sends) = if resume {
            ctx.progress(format!("{operation} already requested ({what}): reading"));
            (Sent::Unknown(None), 0)
        } else {
            (send(false).await?, 1)
        };
        let sign_what = format!("a sign of {operation} ({what})");
        while matches!(sent, Sent::Unknown(_))
            && sends < MAX_UNANSWERED_SENDS
            && !sign_within(ctx, UNSTARTED_GRACE, &sign_what, self.wait, &sign).await?
        {
            sends += 1;
            ctx.progress(format!(
                "no sign of {operation} ({what}) after {} s: it never reached RDS; sending it \
                 again ({sends} of at most {MAX_UNANSWERED_SENDS})",
                UNSTARTED_GRACE.as_secs()
            ));
            sent = send(true).await?;
        }
        Ok(sent)
    }
}
