//! A journal lock that can be lost while held (an object store's lease): when its renewal
//! deadline passes, or it learns that it was taken over, the run launches no new step, cancels
//! the running ones, and journals why. Paused clock; the journal in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use drkit_core::{CancellationToken, async_trait};
use drkit_runner::{
    Batch, Event, JournalError, JournalLock, JournalStore, LockHolder, LockLoss, Outcome, Plan,
    Record, Runner, StepState, parse_lines,
};
use tokio::time::Instant;

use crate::common::{Fake, Log, action, failed_report};

/// A journal in memory whose lock hands the runner `loss`.
#[derive(Debug, Default)]
struct Leased {
    lines: Mutex<HashMap<String, Vec<u8>>>,
    loss: LockLoss,
}

#[derive(Debug)]
struct LeasedLock {
    holder: LockHolder,
    loss: LockLoss,
}

#[async_trait]
impl JournalLock for LeasedLock {
    fn holder(&self) -> &LockHolder {
        &self.holder
    }
    async fn release(self: Box<Self>) -> Result<(), JournalError> {
        Ok(())
    }
    fn loss(&self) -> Option<LockLoss> {
        Some(self.loss.clone())
    }
}

#[async_trait]
impl JournalStore for Leased {
    async fn acquire(
        &self,
        _plan: &str,
        holder: &LockHolder,
    ) -> Result<Box<dyn JournalLock>, JournalError> {
        Ok(Box::new(LeasedLock {
            holder: holder.clone(),
            loss: self.loss.clone(),
        }))
    }
    async fn append(&self, plan: &str, batch: Batch) -> Result<(), JournalError> {
        self.lines
            .lock()
            .unwrap()
            .entry(plan.to_owned())
            .or_default()
            .extend_from_slice(&batch.lines);
        Ok(())
    }
    async fn load(&self, plan: &str) -> Result<Vec<Record>, JournalError> {
        let lines = self
            .lines
            .lock()
            .unwrap()
            .get(plan)
            .cloned()
            .unwrap_or_default();
        parse_lines(&lines[..], "memory")
    }
}

fn interruption(records: &[Record]) -> String {
    records
        .iter()
        .find_map(|r| match &r.event {
            Event::RunInterrupted { reason } => Some(reason.clone()),
            _ => None,
        })
        .expect("no run_interrupted")
}

/// `first` (40 s) -> `next`, and `long` (1 h) beside them; the lock is lost at 30 s.
fn plan(log: &Log) -> (Plan, [std::sync::Arc<Fake>; 3]) {
    let first = Fake::new("first", log).latency(40).arc();
    let next = Fake::new("next", log).latency(10).arc();
    let long = Fake::new("long", log).latency(3600).arc();
    let plan = Plan::new(
        "leased",
        vec![
            drkit_runner::Step::new(action(&first)),
            drkit_runner::Step::new(action(&next)).depends_on(["first"]),
            drkit_runner::Step::new(action(&long)),
        ],
    )
    .unwrap();
    (plan, [first, next, long])
}

#[tokio::test(start_paused = true)]
async fn a_lease_not_renewed_in_time_stops_the_run_at_its_deadline() {
    let log = Log::default();
    let (plan, _) = plan(&log);
    let store = std::sync::Arc::new(Leased::default());
    let start = Instant::now();
    store.loss.renew_by(start + Duration::from_secs(30));
    store.loss.renewal_failed("PutObject: HTTP 503");
    let token = CancellationToken::new();
    let runner = Runner::new()
        .with_shared_journal(store.clone())
        .with_cancellation(token.clone());
    let report = failed_report(runner.run(&plan).await);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(31),
        "{took:?}"
    );
    assert_eq!(report.outcome, Some(Outcome::Interrupted));
    assert_eq!(report.step("first").unwrap().state, StepState::Interrupted);
    assert_eq!(report.step("long").unwrap().state, StepState::Interrupted);
    assert_eq!(report.step("next").unwrap().state, StepState::NotRun);
    assert_eq!(log.count("execute:next"), 0);
    let records = store.load("leased").await.unwrap();
    assert_eq!(
        interruption(&records),
        "lost the journal lock: its lease could not be renewed in time (last attempt: \
         PutObject: HTTP 503); no new step is launched; running steps stop at a safe point"
    );
    // The caller's token is not cancelled: the runner can run again.
    assert!(!token.is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn a_lock_taken_over_stops_the_run_at_once() {
    let log = Log::default();
    let (plan, _) = plan(&log);
    let store = std::sync::Arc::new(Leased::default());
    let loss = store.loss.clone();
    let start = Instant::now();
    let takeover = async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        loss.lose("it was taken over by bob@dr-bastion (generation 2)");
    };
    let runner = Runner::new().with_shared_journal(store.clone());
    let ((), result) = tokio::join!(takeover, runner.run(&plan));
    let report = failed_report(result);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert_eq!(report.step("first").unwrap().state, StepState::Interrupted);
    assert_eq!(report.step("next").unwrap().state, StepState::NotRun);
    let records = store.load("leased").await.unwrap();
    assert!(
        interruption(&records).starts_with(
            "lost the journal lock: it was taken over by bob@dr-bastion (generation 2);"
        ),
        "{records:#?}"
    );
}

/// A step ends after the deadline passed but before anything noticed it: the next step is not
/// launched (the scheduler checks the lock itself before each launch).
#[tokio::test(start_paused = true)]
async fn no_step_is_launched_once_the_deadline_has_passed() {
    let log = Log::default();
    let first = Fake::new("first", &log).latency(10).arc();
    let next = Fake::new("next", &log).latency(10).arc();
    let plan = Plan::new(
        "leased",
        vec![
            drkit_runner::Step::new(action(&first)),
            drkit_runner::Step::new(action(&next)).depends_on(["first"]),
        ],
    )
    .unwrap();
    let store = std::sync::Arc::new(Leased::default());
    // The deadline and the end of `first` fall on the same instant.
    store
        .loss
        .renew_by(Instant::now() + Duration::from_secs(10));
    let report = failed_report(
        Runner::new()
            .with_shared_journal(store.clone())
            .run(&plan)
            .await,
    );
    assert_eq!(log.count("execute:next"), 0, "{:?}", log.entries());
    assert_eq!(report.step("next").unwrap().state, StepState::NotRun);
}

/// A step whose call starts through `ctx.bounded` after stalling for `stall` (the runtime's
/// only thread blocked: as SIGSTOP or a paused VM stops every task at once).
#[derive(Debug)]
struct Stalls {
    target: drkit_core::Resource,
    stall: Duration,
    sent: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

#[async_trait]
impl drkit_core::RecoveryAction for Stalls {
    fn id(&self) -> &str {
        "stalls"
    }
    fn kind(&self) -> &'static str {
        "demo.stalls"
    }
    fn target(&self) -> &drkit_core::Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        true
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }
    async fn check(
        &self,
        _ctx: &drkit_core::Context,
    ) -> Result<drkit_core::Check, drkit_core::ActionError> {
        Ok(drkit_core::Check::ready("call once"))
    }
    async fn execute(
        &self,
        ctx: &drkit_core::Context,
    ) -> Result<drkit_core::Outputs, drkit_core::ActionError> {
        std::thread::sleep(self.stall);
        let sent = std::sync::Arc::clone(&self.sent);
        ctx.bounded(async move {
            sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(drkit_core::Outputs::new())
        })
        .await
    }
    async fn verify(&self, _ctx: &drkit_core::Context) -> Result<String, drkit_core::ActionError> {
        Ok("called".to_owned())
    }
}

/// A process that stalls past its lock's renewal deadline and wakes in the middle of a step
/// sends nothing more: the step's next call is refused as it starts (`SendGate`), before the
/// task that cancels the run on the loss has even run. Real clock, one thread: the stall
/// blocks every task, as SIGSTOP does. Without the gate, the call was sent.
#[tokio::test(flavor = "current_thread")]
async fn a_step_that_wakes_past_the_lease_sends_nothing() {
    let store = std::sync::Arc::new(Leased::default());
    store
        .loss
        .renew_by(Instant::now() + Duration::from_millis(300));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let step = Stalls {
        target: drkit_core::Resource::new("demo", "thing", "stalls"),
        stall: Duration::from_millis(600),
        sent: std::sync::Arc::clone(&sent),
    };
    let plan = Plan::new(
        "stalled",
        vec![drkit_runner::Step::new(std::sync::Arc::new(step))],
    )
    .unwrap();
    let report = failed_report(
        Runner::new()
            .with_shared_journal(store.clone())
            .run(&plan)
            .await,
    );
    assert_eq!(
        sent.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a call was sent past the lease"
    );
    let step = report.step("stalls").unwrap();
    assert_eq!(step.state, StepState::Interrupted, "{step:?}");
    let records = store.load("stalled").await.unwrap();
    let stopped_with = |r: &Record| match &r.event {
        Event::StepFailed { error, .. } | Event::StepInterrupted { error, .. } => {
            error.contains("not sent: lost the journal lock")
        }
        _ => false,
    };
    assert!(records.iter().any(stopped_with), "{records:#?}");
}
