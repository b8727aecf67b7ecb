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
                Event::StepSkipped { outputs: o, .. } => {
                    state[i] = StepState::Skipped;
                    outputs[i] = Some(o.clone());
                }
                // Rolled back, failed, interrupted, not run, in flight: run again.
                Event::StepRolledBack { .. } => {
                    state[i] = StepState::Pending;
                    outputs[i] = None;
                    completed.retain(|&c| c != i);
                }
                _ => {}
            }
        }
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
        };
        for i in 0..n {
            if sched.state[i] == StepState::Pending && sched.waiting[i] == 0 {
                sched.push_ready(i);
            }
        }
        sched
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
            let handle = join.spawn(run_step(Arc::clone(&self.env), i, self.inputs(i)));
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

    /// Runs the steps left, then rolls back if a failure asks for it.
    pub(crate) async fn run(&mut self) -> Result<Outcome, JournalError> {
        let mut join = JoinSet::new();
        let mut ids = HashMap::new();
        let mut fatal: Option<JournalError> = None;
        loop {
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
                    self.cancelled = true;
                    self.env.journal.record(Event::RunInterrupted {
                        reason: "cancelled: no new step is launched; running steps stop at a safe point".to_owned(),
                    });
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
            return self.rollback(failed).await;
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
        StepResult {
            end: StepEnd::Failed,
            mutated: false,
            journal,
        }
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
                match inner.steps[i].policy.on_failure {
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

    /// Compensates the completed mutating steps, newest first. Not interrupted by the run's
    /// cancellation: a half-done rollback is worse than a finished one.
    async fn rollback(&mut self, failed: usize) -> Result<Outcome, JournalError> {
        let inner = Arc::clone(&self.env.plan.inner);
        let order: Vec<usize> = self.completed.iter().rev().copied().collect();
        self.env
            .journal
            .record_durable(Event::RollbackStarted {
                because_of: inner.steps[failed].id.clone(),
                steps: order.iter().map(|&i| inner.steps[i].id.clone()).collect(),
            })
            .await?;
        let mut all_ok = true;
        for i in order {
            let step = &inner.steps[i];
            // The step's own recorded outputs too: after a resume, the action instance is new
            // and remembers nothing of its execute; what it recorded (e.g. the previous
            // document) is what it can undo from (`ctx.outputs_of(own id)`).
            let mut inputs = self.inputs(i);
            if let Some(own) = &self.outputs[i] {
                inputs.insert(step.id.clone(), own.clone());
            }
            let result = phases::undo(step, self.env.built(i), inputs, self.env.events()).await;
            let event = match result {
                Ok(()) => {
                    self.state[i] = StepState::RolledBack;
                    Event::StepRolledBack {
                        step: step.id.clone(),
                    }
                }
                Err(error) => {
                    all_ok = false;
                    self.state[i] = StepState::RollbackFailed;
                    Event::StepRollbackFailed {
                        step: step.id.clone(),
                        error,
                    }
                }
            };
            self.env.journal.record_durable(event).await?;
        }
        Ok(if all_ok {
            Outcome::RolledBack
        } else {
            Outcome::RollbackFailed
        })
    }
}
