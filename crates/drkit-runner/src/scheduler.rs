//! The scheduler of a run: launches ready steps (highest tier first, then the longest path
//! to the end), within the plan-wide and per-service limits; reacts to each step's end; stops
//! the run on a failure; records the steps never launched; rolls back.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use drkit_core::{ErrorKind, Outputs};
use tokio::task::{JoinError, JoinSet};

use crate::journal::{Event, JournalError, Record};
use crate::lease::LockLoss;
use crate::phases::{self, StepEnd, StepEnv, StepResult, run_step};
use crate::plan::OnFailure;
use crate::report::{Outcome, StepState};

/// Why the run launches no new step.
#[derive(Clone, Copy)]
enum Stop {
    Abort(usize),
    Rollback(usize),
}

/// The state of a run's steps, while it runs.
pub(crate) struct Scheduler<'a> {
    max_concurrency: usize,
    service_limits: &'a HashMap<String, usize>,
    env: Arc<StepEnv>,
    state: Vec<StepState>,
    outputs: Vec<Option<Outputs>>,
    waiting: Vec<usize>,
    /// Steps whose mutating execute completed, in completion order.
    completed: Vec<usize>,
    ready: BinaryHeap<(Reverse<crate::rto::Tier>, u32, Reverse<usize>)>,
    service_running: HashMap<String, usize>,
    service_waiting: HashMap<String, Vec<usize>>,
    running: usize,
    /// Set by the first failure that stops the run (a rollback overrides an abort).
    stop: Option<Stop>,
    /// The run's cancellation was seen (and journalled).
    cancelled: bool,
    /// Steps failed so far.
    failures: usize,
    /// A rollback the resumed run's journal shows started: the run only continues it.
    resumed_rollback: Option<phases::RollbackStarted>,
    /// The deadline of a compensation whose step has no time-out.
    rollback_timeout: Duration,
    /// The journal lock's loss signal, if the lock can be lost (a lease).
    lock: Option<LockLoss>,
    /// Why each step launched so far was skipped for the run's conditions, if it was.
    skipped_for: Vec<Option<String>>,
}

impl<'a> Scheduler<'a> {
    /// The scheduler of `env`'s run, at the state the `prior` records (of a resumed run) left.
    pub(crate) fn new(
        max_concurrency: usize,
        service_limits: &'a HashMap<String, usize>,
        env: &Arc<StepEnv>,
        prior: &[Record],
    ) -> Self {
        let inner = &env.plan.inner;
        let n = inner.steps.len();
        let mut state = vec![StepState::Pending; n];
        let mut outputs = vec![None; n];
        let mut mutates = vec![false; n];
        let mut completed = Vec::new();
        for r in prior {
            let Some(&i) = r.event.step().and_then(|s| inner.index.get(s)) else {
                continue;
            };
            match &r.event {
                Event::StepStarted { mutates: m, .. } => mutates[i] = *m,
                Event::StepSucceeded { outputs: o, .. } => {
                    state[i] = StepState::Succeeded;
                    outputs[i] = Some(o.clone());
                    if mutates[i] {
                        completed.push(i);
                    }
                }
                // Skipped for the conditions of that run part: evaluated again now.
                Event::StepSkipped {
                    condition: true, ..
                } => state[i] = StepState::Pending,
                Event::StepSkipped { outputs: o, .. } => {
                    state[i] = StepState::Skipped;
                    outputs[i] = Some(o.clone());
                }
                // Only after `rollback_started`: the run then only rolls back (see below).
                Event::StepRolledBack { .. } => {
                    state[i] = StepState::RolledBack;
                    completed.retain(|&c| c != i);
                }
                Event::StepRollbackFailed { .. } => state[i] = StepState::RollbackFailed,
                // Failed, interrupted, not run, in flight: run again.
                _ => {}
            }
        }
        // A rollback that started is what the run does from then on: a resume continues it and
        // never launches a step (what was compensated, or is to be, is not applied again).
        let resumed_rollback = phases::rollback_started(&inner.index, prior);
        let mut waiting: Vec<usize> = inner.deps.iter().map(Vec::len).collect();
        for (i, s) in state.iter().enumerate() {
            if s.is_done() {
                for &d in &inner.dependents[i] {
                    waiting[d] -= 1;
                }
            }
        }
        let mut sched = Self {
            max_concurrency,
            service_limits,
            env: Arc::clone(env),
            state,
            outputs,
            waiting,
            completed,
            ready: BinaryHeap::new(),
            service_running: HashMap::new(),
            service_waiting: HashMap::new(),
            running: 0,
            stop: None,
            cancelled: false,
            failures: 0,
            resumed_rollback,
            rollback_timeout: crate::runner::DEFAULT_ROLLBACK_TIMEOUT,
            lock: None,
            skipped_for: vec![None; n],
        };
        // Skipped by the operator in an earlier run part: stays so, and so do its users.
        for r in prior {
            if let Event::OperatorDecided {
                step,
                reason: Some(reason),
                ..
            } = &r.event
                && let Some(&i) = inner.index.get(step)
            {
                sched.skipped_for[i] = Some(format!("skipped by the operator: {reason}"));
            }
        }
        sched.queue_ready();
        sched
    }

    /// Marks the steps the operator skipped for this resume (`step`, `reason`) as skipped,
    /// as [`new`](Self::new) does for those of an earlier run part: their dependents go on, and
    /// one that uses an output of theirs is skipped too.
    pub(crate) fn with_operator_skips(mut self, skips: &[(String, String)]) -> Self {
        for (step, reason) in skips {
            if let Some(&i) = self.env.plan.inner.index.get(step) {
                self.skip_by_operator(i, reason);
            }
        }
        self.ready.clear();
        self.queue_ready();
        self
    }

    /// Step `i` skipped by the operator: done, with no outputs, its dependents unblocked.
    fn skip_by_operator(&mut self, i: usize, reason: &str) {
        self.skipped_for[i] = Some(format!("skipped by the operator: {reason}"));
        if self.state[i].is_done() {
            return;
        }
        self.state[i] = StepState::Skipped;
        self.outputs[i] = Some(Outputs::new());
        for &d in &self.env.plan.inner.dependents[i] {
            self.waiting[d] -= 1;
        }
    }

    /// Every pending step whose dependencies are done (not while a rollback is resumed).
    fn queue_ready(&mut self) {
        for i in 0..self.state.len() {
            if self.resumed_rollback.is_none()
                && self.state[i] == StepState::Pending
                && self.waiting[i] == 0
            {
                self.push_ready(i);
            }
        }
    }

    /// Bounds each compensation whose step has no time-out by `timeout`.
    pub(crate) fn with_rollback_timeout(mut self, timeout: Duration) -> Self {
        self.rollback_timeout = timeout;
        self
    }

    /// Stops the run when `loss` fires: no new step, running ones cancelled (`env.cancel` must
    /// be the run's own token, not the caller's).
    pub(crate) fn with_lock_loss(mut self, loss: Option<LockLoss>) -> Self {
        self.lock = loss;
        self
    }

    /// Why the journal lock was lost, if it was (checked now, not when a task notices).
    fn lock_lost(&self) -> Option<String> {
        self.lock.as_ref().and_then(LockLoss::reason)
    }

    /// The run was cancelled, or lost its journal lock: journals why.
    fn interrupted(&mut self) {
        self.cancelled = true;
        let reason = match self.lock_lost() {
            Some(why) => format!(
                "lost the journal lock: {why}; no new step is launched; running steps stop at a \
                 safe point"
            ),
            None => {
                "cancelled: no new step is launched; running steps stop at a safe point".to_owned()
            }
        };
        self.env.journal.record(Event::RunInterrupted { reason });
    }

    fn push_ready(&mut self, i: usize) {
        let inner = &self.env.plan.inner;
        self.ready.push((
            Reverse(inner.steps[i].tier),
            inner.bottom_level[i],
            Reverse(i),
        ));
    }

    fn inputs(&self, i: usize) -> BTreeMap<String, Outputs> {
        let inner = &self.env.plan.inner;
        inner.inputs[i]
            .iter()
            .filter_map(|&d| {
                self.outputs[d]
                    .as_ref()
                    .map(|o| (inner.steps[d].id.clone(), o.clone()))
            })
            .collect()
    }

    fn launch(
        &mut self,
        join: &mut JoinSet<StepResult>,
        ids: &mut HashMap<tokio::task::Id, usize>,
    ) {
        while self.running < self.max_concurrency {
            let Some((_, _, Reverse(i))) = self.ready.pop() else {
                break;
            };
            let service = self.env.plan.inner.steps[i].service().to_owned();
            if let Some(&limit) = self.service_limits.get(&service) {
                let running = self.service_running.entry(service.clone()).or_insert(0);
                if *running >= limit {
                    self.service_waiting.entry(service).or_default().push(i);
                    continue;
                }
                *running += 1;
            }
            self.state[i] = StepState::Running;
            self.running += 1;
            let skip = crate::conditions::skip_reason(
                &self.env.plan.inner,
                &self.env.conditions,
                i,
                &self.skipped_for,
            );
            self.skipped_for[i].clone_from(&skip);
            let handle = join.spawn(run_step(Arc::clone(&self.env), i, self.inputs(i), skip));
            ids.insert(handle.id(), i);
        }
    }

    fn release_service(&mut self, i: usize) {
        let service = self.env.plan.inner.steps[i].service();
        if let Some(running) = self.service_running.get_mut(service) {
            *running = running.saturating_sub(1);
            if let Some(waiting) = self.service_waiting.remove(service) {
                for w in waiting {
                    self.push_ready(w);
                }
            }
        }
    }

    /// Runs the steps left, then rolls back if a failure asks for it. A resumed run whose
    /// rollback had started only continues the rollback.
    pub(crate) async fn run(&mut self) -> Result<Outcome, JournalError> {
        if let Some(started) = self.resumed_rollback.take() {
            return self.rollback(started.because_of, started.left).await;
        }
        let mut join = JoinSet::new();
        let mut ids = HashMap::new();
        let mut fatal: Option<JournalError> = None;
        loop {
            // Checked before each launch: a lease whose renewal deadline passed stops the run
            // here even if the task watching the lock has not run yet.
            if !self.cancelled && self.lock_lost().is_some() {
                self.env.cancel.cancel();
                self.interrupted();
            }
            if self.stop.is_none()
                && fatal.is_none()
                && !self.cancelled
                && !self.env.cancel.is_cancelled()
            {
                self.launch(&mut join, &mut ids);
            }
            if join.is_empty() {
                break;
            }
            let joined = tokio::select! {
                biased;
                () = self.env.cancel.cancelled(), if !self.cancelled => {
                    self.interrupted();
                    continue;
                }
                joined = join.join_next_with_id() => joined,
            };
            let Some(joined) = joined else { break };
            let (i, result) = match joined {
                Ok((id, result)) => (ids.remove(&id), result),
                Err(e) => {
                    let i = ids.remove(&e.id());
                    (i, self.task_failed(i, &e).await)
                }
            };
            let Some(i) = i else { continue };
            if let Err(e) = self.step_ended(i, result) {
                fatal.get_or_insert(e);
            }
        }
        if let Some(e) = fatal {
            return Err(e);
        }
        self.record_not_run();
        if let Some(Stop::Rollback(failed)) = self.stop {
            let because_of = self.env.plan.inner.steps[failed].id.clone();
            let order = self.completed.iter().rev().copied().collect();
            return self.rollback(because_of, order).await;
        }
        Ok(if self.failures > 0 {
            Outcome::Failed
        } else if self.state.iter().all(|s| s.is_done()) {
            Outcome::Succeeded
        } else {
            Outcome::Interrupted
        })
    }

    /// A step's task that ended abnormally (it panicked): the step failed.
    async fn task_failed(&self, i: Option<usize>, e: &JoinError) -> StepResult {
        let error = format!("the step's task ended abnormally: {e}");
        let journal = match i {
            Some(i) => {
                self.env
                    .journal
                    .record_durable(Event::StepFailed {
                        step: self.env.plan.inner.steps[i].id.clone(),
                        error: error.clone(),
                        kind: ErrorKind::Other,
                        outputs: Outputs::new(),
                        duration: Duration::ZERO,
                    })
                    .await
            }
            None => Ok(()),
        };
        StepResult::new(StepEnd::Failed, false, journal)
    }

    /// Step `i` ended: its dependents may be ready, or its failure stops the run. The error is
    /// the journal's, which could not record the step's end.
    fn step_ended(&mut self, i: usize, result: StepResult) -> Result<(), JournalError> {
        let inner = Arc::clone(&self.env.plan.inner);
        self.running -= 1;
        self.release_service(i);
        if result.mutated {
            self.completed.push(i);
        }
        match result.end {
            StepEnd::Succeeded(o) | StepEnd::Skipped(o) => {
                if let Some(reason) = &result.operator_skip {
                    self.skipped_for[i] = Some(format!("skipped by the operator: {reason}"));
                }
                self.state[i] = StepState::Succeeded;
                self.outputs[i] = Some(o);
                for &d in &inner.dependents[i] {
                    self.waiting[d] -= 1;
                    if self.waiting[d] == 0 && self.state[d] == StepState::Pending {
                        self.push_ready(d);
                    }
                }
            }
            StepEnd::Failed => {
                self.state[i] = StepState::Failed;
                self.failures += 1;
                match result
                    .on_failure
                    .unwrap_or(inner.steps[i].policy.on_failure)
                {
                    OnFailure::Continue => {}
                    OnFailure::Abort => {
                        self.stop.get_or_insert(Stop::Abort(i));
                    }
                    OnFailure::Rollback => {
                        if !matches!(self.stop, Some(Stop::Rollback(_))) {
                            self.stop = Some(Stop::Rollback(i));
                        }
                    }
                }
            }
            StepEnd::Interrupted => self.state[i] = StepState::Interrupted,
        }
        result.journal
    }

    /// Records why each step never launched was not run.
    fn record_not_run(&mut self) {
        let inner = Arc::clone(&self.env.plan.inner);
        for &i in &inner.topo {
            if self.state[i] != StepState::Pending {
                continue;
            }
            let blocking = inner.deps[i]
                .iter()
                .find(|&&d| !self.state[d].is_done())
                .map(|&d| inner.steps[d].id.clone());
            let reason = match (&blocking, &self.stop) {
                (Some(dep), _) => format!("dependency `{dep}` did not succeed"),
                (None, Some(Stop::Abort(f) | Stop::Rollback(f))) => {
                    format!("the run stopped after `{}` failed", inner.steps[*f].id)
                }
                (None, None) if self.cancelled => "the run was interrupted".to_owned(),
                (None, None) => "not reached".to_owned(),
            };
            self.state[i] = StepState::NotRun;
            self.env.journal.record(Event::StepNotRun {
                step: inner.steps[i].id.clone(),
                reason,
            });
        }
    }

    /// Compensates the steps of `order` (the completed mutating steps, newest first; or what a
    /// resumed rollback has left), because step `because_of` failed. `rollback_started` is
    /// durable first: from then on a resume only continues the rollback.
    ///
    /// Each compensation runs with the run's cancellation and a deadline. Once the run is
    /// cancelled no further one starts: each step left is journalled `step_rollback_failed`
    /// ("interrupted: ..."), and the run ends interrupted, to be resumed.
    async fn rollback(
        &mut self,
        because_of: String,
        order: Vec<usize>,
    ) -> Result<Outcome, JournalError> {
        let inner = Arc::clone(&self.env.plan.inner);
        self.env
            .journal
            .record_durable(Event::RollbackStarted {
                because_of,
                steps: order.iter().map(|&i| inner.steps[i].id.clone()).collect(),
            })
            .await?;
        let mut all_ok = true;
        let mut interrupted = false;
        for i in order {
            let step = &inner.steps[i];
            // The step's own recorded outputs too: after a resume, the action instance is new
            // and remembers nothing of its execute; what it recorded (e.g. the previous
            // document) is what it can undo from (`ctx.outputs_of(own id)`).
            let mut inputs = self.inputs(i);
            if let Some(own) = &self.outputs[i] {
                inputs.insert(step.id.clone(), own.clone());
            }
            let result = phases::undo(
                step,
                self.env.built(i),
                inputs,
                self.env.events(),
                self.env.intents(&step.id),
                &self.env.cancel,
                self.rollback_timeout,
            )
            .await;
            if self.env.cancel.is_cancelled() && !self.cancelled {
                self.cancelled = true;
                let reason = match self.lock_lost() {
                    Some(why) => format!(
                        "lost the journal lock during the rollback: {why}; no further \
                         compensation starts; a resume continues the rollback"
                    ),
                    None => "cancelled during the rollback: no further compensation starts; a \
                             resume continues the rollback"
                        .to_owned(),
                };
                self.env.journal.record(Event::RunInterrupted { reason });
            }
            let event = match result {
                Ok(()) => {
                    self.state[i] = StepState::RolledBack;
                    Event::StepRolledBack {
                        step: step.id.clone(),
                    }
                }
                Err(error) => {
                    all_ok = false;
                    interrupted |= matches!(error, phases::Undo::Interrupted(_));
                    self.state[i] = StepState::RollbackFailed;
                    Event::StepRollbackFailed {
                        step: step.id.clone(),
                        error: error.to_string(),
                    }
                }
            };
            self.env.journal.record_durable(event).await?;
        }
        Ok(if interrupted {
            Outcome::Interrupted
        } else if all_ok {
            Outcome::RolledBack
        } else {
            Outcome::RollbackFailed
        })
    }
}
