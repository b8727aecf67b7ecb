//! Exactly once: how an action makes a request that must not take effect twice (a failover, a
//! switchover, a detach, a create, a restore), whatever the provider.
//!
//! 1. The request's intent is journalled, then one attempt is made ([`Context::mutate`]; the
//!    adapter sends such requests with one attempt, no SDK retry).
//! 2. When its answer is lost, or an earlier attempt or run part journalled the intent, the
//!    action reads state for a sign of the change instead of sending it again.
//! 3. With [`Once::send`], only when no sign shows within [`UNSTARTED_GRACE`] (the request never
//!    reached the service) is it sent again, at most [`MAX_UNANSWERED_SENDS`] requests in all.
//!    On such a repeat, the error that says the change is already made
//!    ([`Once::exists_code`]: the resource already exists, or is already gone) means the earlier
//!    request did it. [`Once::send_one`] never sends again (a repeat that could undo the first,
//!    or use up a quota).
//!
//! Then the action waits for the change; if that wait fails while the outcome is unknown,
//! [`Sent::explain`] says why the request was not sent again.

use std::future::Future;
use std::time::Duration;

use crate::{ActionError, Context, ErrorKind, Outputs, Poll, WaitPolicy, wait_until};

/// How long a request whose outcome is unknown may show no sign (the failover, switchover,
/// detach or create not started) before drkit concludes it never reached the service and sends
/// it again (at most [`MAX_UNANSWERED_SENDS`] requests in all). AWS shows an accepted request
/// within seconds (`failing-over`, `modifying`, `creating`, ...).
pub const UNSTARTED_GRACE: Duration = Duration::from_secs(60);

/// The most requests one execution sends while none is answered and no sign of the change
/// shows after [`UNSTARTED_GRACE`] each time.
pub const MAX_UNANSWERED_SENDS: usize = 3;

/// `Ok(None)` for a [`ErrorKind::NotFound`] error, the value or the error otherwise.
pub fn found<T>(result: Result<T, ActionError>) -> Result<Option<T>, ActionError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The sign of a create: the described resource exists (describes are eventually consistent:
/// not visible yet is "pending", not an error).
pub fn appeared<T>(described: Result<T, ActionError>) -> Result<Poll<()>, ActionError> {
    Ok(match found(described)? {
        Some(_) => Poll::Ready(()),
        None => Poll::Pending("not visible yet".into()),
    })
}

/// Whether `probe` (polled as [`wait_until`] does, under a context bounded by `grace`) shows
/// within `grace` the sign that a request whose answer was lost reached the service. `false`:
/// no sign (the caller may send it again). The step's own deadline passing first is an error,
/// not "no sign".
pub async fn sign_within<F, Fut>(
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

/// One request made exactly once (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct Once<'a> {
    operation: &'a str,
    what: &'a str,
    wait: &'a WaitPolicy,
    exists_code: Option<&'a str>,
}

/// What is known of a request once [`Once::send`] or [`Once::send_one`] returns.
#[derive(Debug)]
pub enum Sent {
    /// The service answered: accepted (or, on a repeat, already done).
    Answered,
    /// Unknown: its answer was lost (the error), or an earlier attempt or run part sent it
    /// (`None`). The service showed a sign of it, or no more requests may be sent.
    Unknown(Option<ActionError>),
}

impl Sent {
    /// `e`, a failed wait for the request's effect, with why the request was not sent again
    /// when its outcome is unknown, and where to look (`events`, e.g. "the cluster's events
    /// (aws rds describe-events)"). Marked maybe applied: a retry must read, not resend.
    pub fn explain(&self, e: ActionError, operation: &str, events: &str) -> ActionError {
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
        .with_source(e)
    }
}

impl<'a> Once<'a> {
    /// `operation` (e.g. `FailoverDBCluster`), changing `what` (for progress messages), its
    /// sign polled with `wait`.
    pub fn new(operation: &'a str, what: &'a str, wait: &'a WaitPolicy) -> Self {
        Self {
            operation,
            what,
            wait,
            exists_code: None,
        }
    }

    /// The error code that, on a repeat, means the earlier request did its work.
    #[must_use]
    pub fn exists_code(mut self, code: &'a str) -> Self {
        self.exists_code = Some(code);
        self
    }

    /// Makes the request `call` once, `intent` journalled first; a lost answer is
    /// [`Sent::Unknown`] and is never sent again. A refusal (an error code, nothing changed) is
    /// returned as the error.
    pub async fn send_one<F>(
        &self,
        ctx: &Context,
        intent: Outputs,
        call: F,
    ) -> Result<Sent, ActionError>
    where
        F: Future<Output = Result<(), ActionError>>,
    {
        self.attempt(ctx, intent, call, false).await
    }

    /// Makes the request `call` with `intent` journalled first, unless `resume` (an earlier
    /// attempt or run part journalled this intent, so its outcome is unknown); reconciles an
    /// unknown outcome by polling `sign` (ready: the request reached the service) and sends it
    /// again when none shows (see the module docs). A refusal is returned as the error.
    pub async fn send<C, CF, S, SF>(
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
        let (mut sent, mut sends) = if resume {
            ctx.progress(format!("{operation} already requested ({what}): reading"));
            (Sent::Unknown(None), 0)
        } else {
            (self.attempt(ctx, intent.clone(), call(), false).await?, 1)
        };
        let sign_what = format!("a sign of {operation} ({what})");
        while matches!(sent, Sent::Unknown(_))
            && sends < MAX_UNANSWERED_SENDS
            && !sign_within(ctx, UNSTARTED_GRACE, &sign_what, self.wait, &sign).await?
        {
            sends += 1;
            ctx.progress(format!(
                "no sign of {operation} ({what}) after {} s: it never reached the service; \
                 sending it again ({sends} of at most {MAX_UNANSWERED_SENDS})",
                UNSTARTED_GRACE.as_secs()
            ));
            sent = self.attempt(ctx, intent.clone(), call(), true).await?;
        }
        Ok(sent)
    }

    async fn attempt<F>(
        &self,
        ctx: &Context,
        intent: Outputs,
        call: F,
        repeat: bool,
    ) -> Result<Sent, ActionError>
    where
        F: Future<Output = Result<(), ActionError>>,
    {
        let Once {
            operation, what, ..
        } = *self;
        match ctx
            .mutate(intent, call)
            .await
            .map_err(|e| e.with_operation(operation))
        {
            Ok(()) => {
                ctx.progress(format!("{operation} accepted: {what}"));
                Ok(Sent::Answered)
            }
            Err(e) if repeat && self.exists_code.is_some() && e.code() == self.exists_code => {
                ctx.progress(format!(
                    "{operation} answered {} on a repeat: the earlier request did it",
                    e.code().unwrap_or_default()
                ));
                Ok(Sent::Answered)
            }
            Err(e) if e.maybe_applied() => {
                ctx.progress(format!(
                    "{operation}'s answer was lost ({}); reading instead of sending it again",
                    e.message()
                ));
                Ok(Sent::Unknown(Some(e)))
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn lost() -> ActionError {
        ActionError::new(ErrorKind::Unavailable, "connection reset").with_maybe_applied()
    }

    #[tokio::test]
    async fn send_one_reads_a_lost_answer_back_and_never_sends_again() {
        let ctx = Context::new().with_step("failover");
        let wait = WaitPolicy::default();
        let sent = Once::new("TestFailover", "node group 0001", &wait)
            .send_one(&ctx, Outputs::new().with("from", "a"), async {
                Err(lost())
            })
            .await
            .unwrap();
        assert!(matches!(&sent, Sent::Unknown(Some(e)) if e.message() == "connection reset"));
        let err = sent.explain(
            ActionError::deadline_exceeded("still primary a"),
            "TestFailover",
            "the events",
        );
        assert!(err.maybe_applied());
        assert!(err.message().contains(
            "answer was lost (connection reset) and it was not sent again: check the events"
        ));
        assert_eq!(err.operation(), Some("TestFailover"));
    }

    #[tokio::test(start_paused = true)]
    async fn send_sends_again_only_when_no_sign_shows_and_takes_exists_code_as_done() {
        let ctx = Context::new().with_step("create");
        let wait = WaitPolicy::default();
        let calls = AtomicUsize::new(0);
        let sent = Once::new("CreateDBCluster", "db-west", &wait)
            .exists_code("DBClusterAlreadyExistsFault")
            .send(
                &ctx,
                Outputs::new(),
                false,
                || {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    async move {
                        Err(if n == 0 {
                            lost()
                        } else {
                            ActionError::new(ErrorKind::Conflict, "exists")
                                .with_code("DBClusterAlreadyExistsFault")
                        })
                    }
                },
                |_| async { Ok(Poll::Pending("not visible yet".into())) },
            )
            .await
            .unwrap();
        assert!(matches!(sent, Sent::Answered));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
