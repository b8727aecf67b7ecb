//! Test actions and helpers.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use drkit_core::{
    ActionError, ActionRef, Check, Context, ErrorKind, MockRecoveryAction, Outputs, RecoveryAction,
    Resource, async_trait,
};
use drkit_runner::{Report, RunError};

/// A shared, ordered log of calls: `check:a`, `execute:a`, `end:a`, `verify:a`, `rollback:a`.
#[derive(Clone, Debug, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    pub fn count(&self, prefix: &str) -> usize {
        self.entries()
            .iter()
            .filter(|e| e.starts_with(prefix))
            .count()
    }
    pub fn position(&self, entry: &str) -> usize {
        self.entries()
            .iter()
            .position(|e| e == entry)
            .unwrap_or_else(|| panic!("{entry} not in {:?}", self.entries()))
    }
}

/// The run an action's phase was given: (`execute:<id>` or `rollback:<id>`, run id, start).
pub type SeenRun = (String, Option<String>, Option<SystemTime>);

/// A configurable action. `check` says done once `execute` succeeded (or from the start with
/// `done`).
#[derive(Debug)]
pub struct Fake {
    pub id: String,
    pub target: Resource,
    pub mutates: bool,
    pub latency: Duration,
    pub done: bool,
    pub blocked: Option<String>,
    pub outputs: Outputs,
    /// How many `execute` calls fail first, and how.
    pub failures: AtomicU32,
    pub failure_kind: ErrorKind,
    pub verify_fails: bool,
    /// `None`: no rollback support; `Some(true)`: rollback succeeds; `Some(false)`: fails.
    pub rollback: Option<bool>,
    /// How long `rollback` takes (a pause that stops on the run's cancellation).
    pub rollback_latency: Duration,
    pub executed: AtomicU32,
    pub log: Log,
    /// The run each `execute` and `rollback` was given: (`execute:<id>` or `rollback:<id>`,
    /// run id, run start).
    pub runs: Mutex<Vec<SeenRun>>,
}

impl Fake {
    pub fn new(id: &str, log: &Log) -> Self {
        Self {
            id: id.to_owned(),
            target: Resource::new("demo", "thing", id),
            mutates: true,
            latency: Duration::from_secs(1),
            done: false,
            blocked: None,
            outputs: Outputs::new(),
            failures: AtomicU32::new(0),
            failure_kind: ErrorKind::Conflict,
            verify_fails: false,
            rollback: Some(true),
            rollback_latency: Duration::ZERO,
            executed: AtomicU32::new(0),
            log: log.clone(),
            runs: Mutex::default(),
        }
    }
    pub fn service(mut self, service: &str) -> Self {
        self.target.service = service.to_owned();
        self
    }
    pub fn latency(mut self, secs: u64) -> Self {
        self.latency = Duration::from_secs(secs);
        self
    }
    pub fn latency_ms(mut self, ms: u64) -> Self {
        self.latency = Duration::from_millis(ms);
        self
    }
    pub fn done(mut self) -> Self {
        self.done = true;
        self
    }
    pub fn blocked(mut self, why: &str) -> Self {
        self.blocked = Some(why.to_owned());
        self
    }
    pub fn output(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.outputs.insert(name, value);
        self
    }
    pub fn fails(self, times: u32, kind: ErrorKind) -> Self {
        self.failures.store(times, Ordering::SeqCst);
        Self {
            failure_kind: kind,
            ..self
        }
    }
    pub fn verify_fails(mut self) -> Self {
        self.verify_fails = true;
        self
    }
    pub fn rollback(mut self, support: Option<bool>) -> Self {
        self.rollback = support;
        self
    }
    pub fn rollback_latency(mut self, secs: u64) -> Self {
        self.rollback_latency = Duration::from_secs(secs);
        self
    }
    pub fn read_only(mut self) -> Self {
        self.mutates = false;
        self
    }
    pub fn arc(self) -> Arc<Self> {
        Arc::new(self)
    }
    fn saw_run(&self, phase: &str, ctx: &Context) {
        self.runs.lock().unwrap().push((
            format!("{phase}:{}", self.id),
            ctx.run_id().map(str::to_owned),
            ctx.run_started(),
        ));
    }
}

/// `Arc<Fake>` as an action.
pub fn action(fake: &Arc<Fake>) -> ActionRef {
    Arc::clone(fake) as ActionRef
}

#[async_trait]
impl RecoveryAction for Fake {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        "demo.fake"
    }
    fn target(&self) -> &Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        self.mutates
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        &["demo:Fake"]
    }
    async fn check(&self, _ctx: &Context) -> Result<Check, ActionError> {
        self.log.push(format!("check:{}", self.id));
        if self.done || self.executed.load(Ordering::SeqCst) > 0 {
            return Ok(Check::Done {
                detail: format!("{} is done", self.id),
                outputs: self.outputs.clone(),
            });
        }
        if let Some(why) = &self.blocked {
            return Ok(Check::blocked(why.clone()));
        }
        Ok(Check::ready(format!("would change {}", self.id)))
    }
    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        self.log.push(format!("execute:{}", self.id));
        self.saw_run("execute", ctx);
        ctx.sleep(self.latency).await?;
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            self.log.push(format!("failed:{}", self.id));
            return Err(ActionError::new(
                self.failure_kind,
                format!("{} broke", self.id),
            ));
        }
        self.executed.fetch_add(1, Ordering::SeqCst);
        self.log.push(format!("end:{}", self.id));
        Ok(self.outputs.clone())
    }
    async fn verify(&self, _ctx: &Context) -> Result<String, ActionError> {
        self.log.push(format!("verify:{}", self.id));
        if self.verify_fails {
            return Err(ActionError::postcondition(format!(
                "{} is not right",
                self.id
            )));
        }
        Ok(format!("{} verified", self.id))
    }
    async fn rollback(&self, ctx: &Context) -> Result<(), ActionError> {
        self.log.push(format!("rollback:{}", self.id));
        self.saw_run("rollback", ctx);
        if let Some(own) = ctx.outputs_of(&self.id) {
            let own = serde_json::to_string(own).unwrap_or_default();
            self.log.push(format!("undo-from:{}:{own}", self.id));
        }
        if !self.rollback_latency.is_zero() {
            ctx.sleep(self.rollback_latency).await?;
        }
        match self.rollback {
            Some(true) => Ok(()),
            Some(false) => Err(ActionError::new(ErrorKind::Conflict, "cannot undo")),
            None => Err(ActionError::unsupported("no rollback")),
        }
    }
    fn supports_rollback(&self) -> bool {
        self.rollback.is_some()
    }
}

/// A mock with id, kind and target set, for `.never()` expectations.
pub fn mock(id: &str) -> MockRecoveryAction {
    let mut m = MockRecoveryAction::new();
    m.expect_id().return_const(id.to_owned());
    m.expect_kind().return_const("demo.mock");
    m.expect_target()
        .return_const(Resource::new("demo", "thing", id));
    m.expect_mutates().return_const(true);
    m.expect_iam_actions().return_const(&[][..]);
    m.expect_supports_rollback().return_const(true);
    m
}

/// The report of an unsuccessful run (panics on success or another error).
pub fn failed_report(result: Result<Report, RunError>) -> Report {
    match result {
        Err(RunError::Unsuccessful(report)) => *report,
        Err(other) => panic!("expected an unsuccessful run, got {other}"),
        Ok(report) => panic!("expected an unsuccessful run, got {:?}", report.outcome),
    }
}

/// Names of the journal events of a step, in order.
pub fn events_of(report: &Report, step: &str) -> Vec<&'static str> {
    report
        .timeline
        .iter()
        .filter(|r| r.event.step() == Some(step))
        .map(|r| r.event.name())
        .collect()
}
