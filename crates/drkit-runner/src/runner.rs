//! The runner: runs, resumes and dry-runs plans.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use drkit_core::{
    ActionError, ActionExt, ActionRef, CancellationToken, Check, Context, ErrorKind, Outputs,
};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::approval::{ApprovalRequest, Approver, AutoApprove, Decision};
use crate::clock::Clock;
use crate::error::RunError;
use crate::events::{Hub, RunEvent, RunEventSink, StepEvents};
use crate::guard::GuardVerdict;
use crate::journal::{Event, Journal, JournalError, JournalStore, LockHolder, Record, StepInfo};
use crate::plan::{ActionSource, OnFailure, Plan, StepInputs, StepPolicy};
use crate::report::{Outcome, Report, StepState};
use crate::rto::{RpoObjectives, RtoBudgets};

/// Runs plans. Configure once, then [`run`](Self::run), [`resume`](Self::resume) or
/// [`dry_run`](Self::dry_run).
///
/// A run that does not end with every step done returns [`RunError::Unsuccessful`] with the
/// report: a failed step always fails the run.
pub struct Runner {
    store: Option<Arc<dyn JournalStore>>,
    approver: Arc<dyn Approver>,
    max_concurrency: usize,
    service_limits: HashMap<String, usize>,
    incident_start: Option<SystemTime>,
    rto: RtoBudgets,
    rpo: RpoObjectives,
    cancel: CancellationToken,
    sinks: Vec<Arc<dyn RunEventSink>>,
    events: broadcast::Sender<RunEvent>,
    holder: Option<String>,
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("store", &self.store)
            .field("approver", &self.approver)
            .field("max_concurrency", &self.max_concurrency)
            .field("service_limits", &self.service_limits)
            .field("incident_start", &self.incident_start)
            .field("rto", &self.rto)
            .field("sinks", &self.sinks)
            .finish_non_exhaustive()
    }
}

impl Default for Runner {
    fn default() -> Self {
        Self::new()
    }
}

impl Runner {
    /// No journal store (records kept in memory only), auto-approval, 16 steps at once, seed
    /// RTO budgets and RPO objectives, incident start = run start.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            store: None,
            approver: Arc::new(AutoApprove::default()),
            max_concurrency: 16,
            service_limits: HashMap::new(),
            incident_start: None,
            rto: RtoBudgets::default(),
            rpo: RpoObjectives::default(),
            cancel: CancellationToken::new(),
            sinks: Vec::new(),
            events,
            holder: None,
        }
    }

    /// Journals runs in `store` (and locks plans there).
    #[must_use]
    pub fn with_journal(mut self, store: impl JournalStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Journals runs in a shared `store`.
    #[must_use]
    pub fn with_shared_journal(mut self, store: Arc<dyn JournalStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Decides approval gates with `approver`.
    #[must_use]
    pub fn with_approver(mut self, approver: impl Approver + 'static) -> Self {
        self.approver = Arc::new(approver);
        self
    }

    /// At most `n` steps at once (at least 1).
    #[must_use]
    pub fn with_max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n.max(1);
        self
    }

    /// At most `n` steps at once on `service` (at least 1), e.g. to stay under an API's rate
    /// limit.
    #[must_use]
    pub fn with_service_limit(mut self, service: impl Into<String>, n: usize) -> Self {
        self.service_limits.insert(service.into(), n.max(1));
        self
    }

    /// RTO budgets count from `at` (default: the run's start). A resume keeps the incident
    /// start recorded in the journal.
    #[must_use]
    pub fn with_incident_start(mut self, at: SystemTime) -> Self {
        self.incident_start = Some(at);
        self
    }

    /// Sets the RTO budgets.
    #[must_use]
    pub fn with_rto(mut self, budgets: RtoBudgets) -> Self {
        self.rto = budgets;
        self
    }

    /// Sets the RPO objectives.
    #[must_use]
    pub fn with_rpo(mut self, objectives: RpoObjectives) -> Self {
        self.rpo = objectives;
        self
    }

    /// Cancels runs through `token` (e.g. on Ctrl-C): no new step is launched, running steps
    /// stop at a safe point, the journal says the run was interrupted.
    #[must_use]
    pub fn with_cancellation(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// Sends every event to `sink` too.
    #[must_use]
    pub fn with_sink(mut self, sink: Arc<dyn RunEventSink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Names who runs (for the lock and the journal; default `user@host (pid N)`).
    #[must_use]
    pub fn with_holder(mut self, who: impl Into<String>) -> Self {
        self.holder = Some(who.into());
        self
    }

    /// Keeps up to `capacity` events for slow subscribers (default 1024); a subscriber that
    /// falls further behind gets `RecvError::Lagged` and misses the oldest. Call before
    /// [`subscribe`](Self::subscribe). Sinks are not affected: they see every event.
    #[must_use]
    pub fn with_event_capacity(mut self, capacity: usize) -> Self {
        self.events = broadcast::channel(capacity.max(1)).0;
        self
    }

    /// A receiver of the events of the runs to come (journal records once durable, and the
    /// actions' progress), each with the RTO budget left.
    pub fn subscribe(&self) -> broadcast::Receiver<RunEvent> {
        self.events.subscribe()
    }

    /// Runs `plan` from the start.
    pub async fn run(&self, plan: &Plan) -> Result<Report, RunError> {
        self.locked(plan, false).await
    }

    /// Resumes the last run of `plan` from its journal: steps that succeeded (or were found
    /// done) are not run again; the others — in flight when the run stopped, failed,
    /// interrupted or never started — are checked again (check says done -> recorded done)
    /// and run if needed. A completed mutating step is never executed twice.
    pub async fn resume(&self, plan: &Plan) -> Result<Report, RunError> {
        self.locked(plan, true).await
    }

    async fn locked(&self, plan: &Plan, resume: bool) -> Result<Report, RunError> {
        let holder = LockHolder::new(
            self.holder
                .clone()
                .unwrap_or_else(|| LockHolder::from_environment().who),
        );
        let lock = match &self.store {
            Some(store) => Some(store.acquire(plan.name(), &holder).await?),
            None => None,
        };
        let result = self.go(plan, resume, &holder).await;
        if let Some(lock) = lock
            && let Err(e) = lock.release().await
        {
            tracing::warn!(
                plan = plan.name(),
                "could not release the journal lock: {e}"
            );
        }
        result
    }

    async fn go(&self, plan: &Plan, resume: bool, holder: &LockHolder) -> Result<Report, RunError> {
        let clock = Clock::start();
        let mut incident_start = self.incident_start.unwrap_or_else(|| clock.now());
        let (run, prior) = if resume {
            let store = self
                .store
                .as_ref()
                .ok_or_else(|| RunError::NothingToResume {
                    plan: plan.name().to_owned(),
                })?;
            let records = store.load(plan.name()).await?;
            let Some((run, fingerprint, start)) =
                records.iter().rev().find_map(|r| match &r.event {
                    Event::RunStarted {
                        resumed: false,
                        fingerprint,
                        incident_start,
                        ..
                    } => Some((r.run.clone(), fingerprint.clone(), *incident_start)),
                    _ => None,
                })
            else {
                return Err(RunError::NothingToResume {
                    plan: plan.name().to_owned(),
                });
            };
            if fingerprint != plan.fingerprint() {
                return Err(RunError::PlanChanged {
                    plan: plan.name().to_owned(),
                    run,
                    journal: fingerprint,
                    current: plan.fingerprint().to_owned(),
                });
            }
            incident_start = start;
            let prior: Vec<Record> = records.into_iter().filter(|r| r.run == run).collect();
            (run, prior)
        } else {
            let millis = clock
                .now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            (format!("{}-{millis}", plan.name()), Vec::new())
        };
        let first_seq = prior.last().map_or(0, |r| r.seq + 1);
        let inner = &plan.inner;
        let hub = Arc::new(Hub {
            run: run.clone(),
            plan: plan.name().to_owned(),
            tx: self.events.clone(),
            sinks: self.sinks.clone(),
            incident_start,
            budgets: self.rto.clone(),
            tiers: inner.steps.iter().map(|s| (s.id.clone(), s.tier)).collect(),
            clock,
        });
        let (journal, committer) = Journal::start(
            self.store.clone(),
            plan.name().to_owned(),
            run.clone(),
            first_seq,
            clock,
            Arc::clone(&hub),
        );
        let steps = inner
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepInfo {
                id: s.id.clone(),
                depends_on: inner.deps[i]
                    .iter()
                    .map(|&d| inner.steps[d].id.clone())
                    .collect(),
                tier: s.tier,
                service: s.service().to_owned(),
                kind: s.action().map(|a| a.kind().to_owned()),
                target: s.action().map(|a| a.target().to_string()),
            })
            .collect();
        let started = journal
            .record_durable(Event::RunStarted {
                plan: plan.name().to_owned(),
                fingerprint: plan.fingerprint().to_owned(),
                resumed: resume,
                holder: holder.to_string(),
                incident_start,
                rto: self.rto.clone(),
                rpo: self.rpo.clone(),
                steps,
                source: plan.source().cloned(),
            })
            .await;
        let outcome = match started {
            Ok(()) => {
                let env = Arc::new(StepEnv {
                    journal: journal.clone(),
                    hub,
                    approver: Arc::clone(&self.approver),
                    cancel: self.cancel.clone(),
                    plan: plan.clone(),
                    run: run.clone(),
                    built: std::sync::Mutex::new(vec![None; plan.inner.steps.len()]),
                });
                let mut sched = Scheduler::new(self, &env, &prior);
                sched.run().await
            }
            Err(e) => Err(e),
        };
        let finished = match &outcome {
            Ok(outcome) => {
                journal
                    .record_durable(Event::RunFinished { outcome: *outcome })
                    .await
            }
            Err(_) => Ok(()),
        };
        drop(journal);
        let committed = committer.await.unwrap_or_default();
        let outcome = outcome?;
        finished?;
        let mut records = prior;
        records.extend(committed.records);
        let report = Report::for_run(&records, &run).map_err(|e| {
            JournalError::Stopped(format!("the journal lost the run's records: {e}"))
        })?;
        if outcome == Outcome::Succeeded {
            Ok(report)
        } else {
            Err(RunError::Unsuccessful(Box::new(report)))
        }
    }

    /// Dry run: only read-only `check`s are called (with `Context::is_dry_run` set); nothing
    /// is executed, verified, rolled back, approved or journalled. The result lists what
    /// each step would do.
    pub async fn dry_run(&self, plan: &Plan) -> DryRunReport {
        let inner = &plan.inner;
        let mut known: Vec<Option<Outputs>> = vec![None; inner.steps.len()];
        let mut states: Vec<Option<DryRunState>> = vec![None; inner.steps.len()];
        for &i in &inner.topo {
            let step = &inner.steps[i];
            let inputs: BTreeMap<String, Outputs> = inner.inputs[i]
                .iter()
                .filter_map(|&d| known[d].clone().map(|o| (inner.steps[d].id.clone(), o)))
                .collect();
            let unresolved: Vec<String> = step
                .uses
                .iter()
                .filter(|r| !inputs.contains_key(&r.step))
                .map(|r| r.step.clone())
                .collect();
            let action = match &step.source {
                ActionSource::Ready(a) => Ok(Arc::clone(a)),
                ActionSource::Deferred { .. } if !unresolved.is_empty() => {
                    Err(DryRunState::Unresolved {
                        waiting_on: unresolved,
                    })
                }
                ActionSource::Deferred { build, .. } => build(&StepInputs::new(&step.id, &inputs))
                    .map_err(|e| DryRunState::CheckFailed {
                        error: e.to_string(),
                    }),
            };
            let state = match action {
                Err(state) => state,
                Ok(action) => {
                    let layered = layer(action, &step.policy);
                    let ctx = Context::new()
                        .with_step(step.id.as_str())
                        .with_dry_run(true)
                        .with_cancellation(self.cancel.clone())
                        .with_outputs(inputs);
                    match layered.check(&ctx).await {
                        Ok(Check::Done { detail, outputs }) => {
                            known[i] = Some(outputs);
                            DryRunState::AlreadyDone { detail }
                        }
                        Ok(Check::Ready { change }) => DryRunState::WouldChange { change },
                        Ok(Check::Blocked { reason }) => DryRunState::Blocked { reason },
                        Err(e) => DryRunState::CheckFailed {
                            error: e.to_string(),
                        },
                    }
                }
            };
            states[i] = Some(state);
        }
        let steps = inner
            .steps
            .iter()
            .zip(states)
            .enumerate()
            .map(|(i, (s, state))| DryRunStep {
                id: s.id.clone(),
                service: s.service().to_owned(),
                kind: s.action().map(|a| a.kind().to_owned()),
                target: s.action().map(|a| a.target().to_string()),
                mutates: s.action().map(|a| a.mutates()),
                depends_on: inner.deps[i]
                    .iter()
                    .map(|&d| inner.steps[d].id.clone())
                    .collect(),
                needs_approval: s.policy.approval.is_some(),
                guards: s.guards.iter().map(|g| g.name().to_owned()).collect(),
                state: state.unwrap_or(DryRunState::Unresolved {
                    waiting_on: Vec::new(),
                }),
            })
            .collect();
        DryRunReport {
            plan: plan.name().to_owned(),
            steps,
        }
    }
}

/// What a dry run found for one step.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DryRunState {
    /// Check says already done: the step would be skipped.
    AlreadyDone {
        /// What check found.
        detail: String,
    },
    /// The step would make this change.
    WouldChange {
        /// The change.
        change: String,
    },
    /// The step could not run now (it may be unblocked by earlier steps' changes).
    Blocked {
        /// Why.
        reason: String,
    },
    /// The check itself failed (e.g. a missing permission).
    CheckFailed {
        /// The error.
        error: String,
    },
    /// The action is built from outputs of steps that would change first: unknown yet.
    Unresolved {
        /// The steps whose outputs it waits for.
        waiting_on: Vec<String>,
    },
}

/// One step of a [`DryRunReport`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DryRunStep {
    /// The step.
    pub id: String,
    /// Its service.
    pub service: String,
    /// The action kind, when built before the run.
    pub kind: Option<String>,
    /// The resource, when built before the run.
    pub target: Option<String>,
    /// Whether the action changes anything, when built before the run.
    pub mutates: Option<bool>,
    /// Its dependencies.
    pub depends_on: Vec<String>,
    /// Whether it needs an approval.
    pub needs_approval: bool,
    /// Its guards, by name (evaluated only just before executing, so not in a dry run).
    pub guards: Vec<String>,
    /// What its check said.
    pub state: DryRunState,
}

/// The result of a dry run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DryRunReport {
    /// The plan.
    pub plan: String,
    /// Every step, in plan order.
    pub steps: Vec<DryRunStep>,
}

impl DryRunReport {
    /// The steps that would change something.
    pub fn changes(&self) -> impl Iterator<Item = &DryRunStep> {
        self.steps
            .iter()
            .filter(|s| matches!(s.state, DryRunState::WouldChange { .. }))
    }

    /// The steps whose check failed or said blocked.
    pub fn problems(&self) -> impl Iterator<Item = &DryRunStep> {
        self.steps.iter().filter(|s| {
            matches!(
                s.state,
                DryRunState::Blocked { .. } | DryRunState::CheckFailed { .. }
            )
        })
    }

    /// A step by id.
    pub fn step(&self, id: &str) -> Option<&DryRunStep> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The dry run as a Markdown table, one row per step, in plan order.
    pub fn to_markdown(&self) -> String {
        let mut md = format!(
            "# Dry run of plan `{}`\n\n{} step(s) would change something, {} cannot run now.\n\n\
             | Step | Target | After | Would | Approval |\n|---|---|---|---|---|\n",
            self.plan,
            self.changes().count(),
            self.problems().count()
        );
        for s in &self.steps {
            let would = match &s.state {
                DryRunState::AlreadyDone { detail } => format!("nothing (already done: {detail})"),
                DryRunState::WouldChange { change } => format!("**{change}**"),
                DryRunState::Blocked { reason } => format!("BLOCKED: {reason}"),
                DryRunState::CheckFailed { error } => format!("CHECK FAILED: {error}"),
                DryRunState::Unresolved { waiting_on } => {
                    format!("depends on outputs of {}", waiting_on.join(", "))
                }
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                s.id,
                s.target.as_deref().unwrap_or(&s.service),
                if s.depends_on.is_empty() {
                    "-".to_owned()
                } else {
                    s.depends_on.join(", ")
                },
                would.replace('|', "\\|").replace('\n', " "),
                if s.needs_approval { "required" } else { "-" }
            ));
        }
        md
    }
}

fn layer(action: ActionRef, policy: &StepPolicy) -> ActionRef {
    let mut action = action;
    if let Some(t) = policy.attempt_timeout {
        action = action.with_timeout(t);
    }
    if let Some(retry) = &policy.retry {
        action = action.with_retry(retry.clone());
    }
    action
}

/// What every step task shares.
#[derive(Debug)]
struct StepEnv {
    journal: Journal,
    hub: Arc<Hub>,
    approver: Arc<dyn Approver>,
    cancel: CancellationToken,
    plan: Plan,
    run: String,
    /// The action each step was built into when it ran, by step index: a rollback compensates
    /// with that same instance (it remembers what it changed), not a fresh build.
    built: std::sync::Mutex<Vec<Option<ActionRef>>>,
}

impl StepEnv {
    fn remember(&self, idx: usize, action: &ActionRef) {
        let mut built = self
            .built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(slot) = built.get_mut(idx) {
            *slot = Some(Arc::clone(action));
        }
    }

    fn built(&self, idx: usize) -> Option<ActionRef> {
        self.built
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(idx)
            .cloned()
            .flatten()
    }
}

enum StepEnd {
    Succeeded(Outputs),
    Skipped(Outputs),
    Failed,
    Interrupted,
}

struct StepResult {
    end: StepEnd,
    /// Whether a mutating `execute` completed (so a rollback must compensate it).
    mutated: bool,
    journal: Result<(), JournalError>,
}

async fn run_step(env: Arc<StepEnv>, idx: usize, inputs: BTreeMap<String, Outputs>) -> StepResult {
    let env: &StepEnv = &env;
    let step = &env.plan.inner.steps[idx];
    let id = step.id.as_str();
    let start = Instant::now();
    let inputs = Arc::new(inputs);
    let journal = &env.journal;
    let fail = move |err: ActionError, mutated: bool| async move {
        let kind = err.kind();
        let error = err.to_string();
        let outputs = err.outputs().cloned().unwrap_or_default();
        let journal = env
            .journal
            .record_durable(Event::StepFailed {
                step: id.to_owned(),
                error: error.clone(),
                kind,
                outputs,
                duration: start.elapsed(),
            })
            .await;
        StepResult {
            end: StepEnd::Failed,
            mutated,
            journal,
        }
    };
    let interrupted = move |err: ActionError, mutated: bool| async move {
        let journal = env
            .journal
            .record_durable(Event::StepInterrupted {
                step: id.to_owned(),
                error: err.to_string(),
            })
            .await;
        StepResult {
            end: StepEnd::Interrupted,
            mutated,
            journal,
        }
    };
    let built = match &step.source {
        ActionSource::Ready(a) => Ok(Arc::clone(a)),
        ActionSource::Deferred { build, .. } => build(&StepInputs::new(id, &inputs)),
    };
    let action = match built {
        Ok(a) => {
            env.remember(idx, &a);
            a
        }
        Err(e) => {
            journal.record(Event::StepStarted {
                step: id.to_owned(),
                kind: "(not built)".to_owned(),
                target: "(not built)".to_owned(),
                mutates: false,
            });
            return fail(e, false).await;
        }
    };
    journal.record(Event::StepStarted {
        step: id.to_owned(),
        kind: action.kind().to_owned(),
        target: action.target().to_string(),
        mutates: action.mutates(),
    });
    let layered = layer(Arc::clone(&action), &step.policy);
    let base = Context::new()
        .with_step(id)
        .with_cancellation(env.cancel.clone())
        .with_outputs(Arc::clone(&inputs))
        .with_events(StepEvents {
            hub: Arc::clone(&env.hub),
            journal: journal.clone(),
        });
    let step_timeout = step.policy.timeout;
    let bounded = |ctx: &Context| match step.policy.timeout {
        Some(t) => ctx.clone().with_timeout(t),
        None => ctx.clone(),
    };
    let mut ctx = bounded(&base);

    // Steady state before: already done -> skipped.
    let change = match within(&ctx, step_timeout, layered.check(&ctx)).await {
        Ok(Check::Done { detail, outputs }) => {
            let journal = journal
                .record_durable(Event::StepSkipped {
                    step: id.to_owned(),
                    detail,
                    outputs: outputs.clone(),
                })
                .await;
            return StepResult {
                end: StepEnd::Skipped(outputs),
                mutated: false,
                journal,
            };
        }
        Ok(Check::Ready { change }) => change,
        Ok(Check::Blocked { reason }) => {
            return fail(
                ActionError::precondition(format!("check says blocked: {reason}"))
                    .in_action(action.as_ref()),
                false,
            )
            .await;
        }
        Err(e) if e.kind() == ErrorKind::Cancelled => return interrupted(e, false).await,
        Err(e) => return fail(e.in_action(action.as_ref()), false).await,
    };
    journal.record(Event::StepReady {
        step: id.to_owned(),
        change: change.clone(),
    });

    // Approval gate.
    if let Some(policy) = &step.policy.approval {
        journal.record(Event::ApprovalRequested {
            step: id.to_owned(),
        });
        let request = ApprovalRequest {
            run: env.run.clone(),
            plan: env.plan.name().to_owned(),
            step: id.to_owned(),
            kind: action.kind().to_owned(),
            target: action.target().to_string(),
            change,
        };
        let decided = tokio::select! {
            biased;
            () = env.cancel.cancelled() => {
                return interrupted(ActionError::cancelled("cancelled while waiting for approval"), false).await;
            }
            decided = tokio::time::timeout(policy.timeout, env.approver.decide(&request)) => decided,
        };
        match decided {
            Ok(Ok(decision)) => {
                let denied = match &decision {
                    Decision::Approved { .. } => None,
                    Decision::Denied { by, reason } => Some(format!("denied by {by}: {reason}")),
                };
                if let Err(e) = journal
                    .record_durable(Event::ApprovalDecided {
                        step: id.to_owned(),
                        decision,
                    })
                    .await
                {
                    return StepResult {
                        end: StepEnd::Failed,
                        mutated: false,
                        journal: Err(e),
                    };
                }
                if let Some(denied) = denied {
                    return fail(
                        ActionError::precondition(denied).in_action(action.as_ref()),
                        false,
                    )
                    .await;
                }
            }
            Ok(Err(e)) => return fail(e.in_action(action.as_ref()), false).await,
            Err(_) => {
                return fail(
                    ActionError::precondition(format!(
                        "no approval decision within {}",
                        humantime::format_duration(policy.timeout)
                    ))
                    .in_action(action.as_ref()),
                    false,
                )
                .await;
            }
        }
        // The step's time-out does not count the wait for a human.
        ctx = bounded(&base);
    }

    // Safety interlocks, just before executing.
    for guard in &step.guards {
        match within(&ctx, step_timeout, guard.evaluate(&ctx)).await {
            Ok(GuardVerdict::Holds(_)) => {}
            Ok(GuardVerdict::Violated(why)) => {
                return fail(
                    ActionError::precondition(format!(
                        "guard `{}` does not hold: {why}",
                        guard.name()
                    ))
                    .in_action(action.as_ref()),
                    false,
                )
                .await;
            }
            Err(e) if e.kind() == ErrorKind::Cancelled => return interrupted(e, false).await,
            Err(e) => {
                return fail(
                    ActionError::precondition(format!(
                        "guard `{}` could not be evaluated: {e}",
                        guard.name()
                    ))
                    .in_action(action.as_ref()),
                    false,
                )
                .await;
            }
        }
    }
    if env.cancel.is_cancelled() {
        return interrupted(ActionError::cancelled("cancelled before executing"), false).await;
    }

    let outputs = match within(&ctx, step_timeout, layered.execute(&ctx)).await {
        Ok(outputs) => outputs,
        Err(e) if e.kind() == ErrorKind::Cancelled => return interrupted(e, false).await,
        Err(e) => return fail(e.in_action(action.as_ref()), false).await,
    };
    let mutated = action.mutates();
    // Steady state after.
    let verified = match within(&ctx, step_timeout, layered.verify(&ctx)).await {
        Ok(v) => v,
        Err(e) => {
            let e = if e.kind() == ErrorKind::PostconditionFailed {
                e
            } else {
                ActionError::postcondition(format!("verify after execute failed: {e}"))
            };
            return fail(e.in_action(action.as_ref()), mutated).await;
        }
    };
    let journal = journal
        .record_durable(Event::StepSucceeded {
            step: id.to_owned(),
            outputs: outputs.clone(),
            verified,
            duration: start.elapsed(),
        })
        .await;
    StepResult {
        end: StepEnd::Succeeded(outputs),
        mutated,
        journal,
    }
}

/// Runs `fut`, cut off at the context's deadline (the step's time-out) even if the action does
/// not watch it. Cancellation is left to the action, which stops at a safe point.
async fn within<T>(
    ctx: &Context,
    timeout: Option<Duration>,
    fut: impl Future<Output = Result<T, ActionError>>,
) -> Result<T, ActionError> {
    match (ctx.deadline(), timeout) {
        (Some(deadline), Some(timeout)) => tokio::time::timeout_at(deadline, fut)
            .await
            .unwrap_or_else(|_| {
                Err(ActionError::deadline_exceeded(format!(
                    "the step did not finish within its time-out of {}",
                    humantime::format_duration(timeout)
                )))
            }),
        _ => fut.await,
    }
}

enum Stop {
    Abort(usize),
    Rollback(usize),
}

struct Scheduler<'a> {
    runner: &'a Runner,
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
}

impl<'a> Scheduler<'a> {
    fn new(runner: &'a Runner, env: &Arc<StepEnv>, prior: &[Record]) -> Self {
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
            runner,
            env: Arc::clone(env),
            state,
            outputs,
            waiting,
            completed,
            ready: BinaryHeap::new(),
            service_running: HashMap::new(),
            service_waiting: HashMap::new(),
            running: 0,
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
        while self.running < self.runner.max_concurrency {
            let Some((_, _, Reverse(i))) = self.ready.pop() else {
                break;
            };
            let service = self.env.plan.inner.steps[i].service().to_owned();
            if let Some(&limit) = self.runner.service_limits.get(&service) {
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

    async fn run(&mut self) -> Result<Outcome, JournalError> {
        let inner = Arc::clone(&self.env.plan.inner);
        let mut join = JoinSet::new();
        let mut ids = HashMap::new();
        let mut stop: Option<Stop> = None;
        let mut fatal: Option<JournalError> = None;
        let mut cancelled = false;
        let mut failures = 0usize;
        loop {
            if stop.is_none() && fatal.is_none() && !cancelled && !self.env.cancel.is_cancelled() {
                self.launch(&mut join, &mut ids);
            }
            if join.is_empty() {
                break;
            }
            let joined = tokio::select! {
                biased;
                () = self.env.cancel.cancelled(), if !cancelled => {
                    cancelled = true;
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
                    let error = format!("the step's task ended abnormally: {e}");
                    let journal = match i {
                        Some(i) => {
                            self.env
                                .journal
                                .record_durable(Event::StepFailed {
                                    step: inner.steps[i].id.clone(),
                                    error: error.clone(),
                                    kind: ErrorKind::Other,
                                    outputs: Outputs::new(),
                                    duration: Duration::ZERO,
                                })
                                .await
                        }
                        None => Ok(()),
                    };
                    (
                        i,
                        StepResult {
                            end: StepEnd::Failed,
                            mutated: false,
                            journal,
                        },
                    )
                }
            };
            let Some(i) = i else { continue };
            self.running -= 1;
            self.release_service(i);
            if let Err(e) = result.journal {
                fatal.get_or_insert(e);
            }
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
                    failures += 1;
                    match inner.steps[i].policy.on_failure {
                        OnFailure::Continue => {}
                        OnFailure::Abort => {
                            stop.get_or_insert(Stop::Abort(i));
                        }
                        OnFailure::Rollback => {
                            if !matches!(stop, Some(Stop::Rollback(_))) {
                                stop = Some(Stop::Rollback(i));
                            }
                        }
                    }
                }
                StepEnd::Interrupted => self.state[i] = StepState::Interrupted,
            }
        }
        if let Some(e) = fatal {
            return Err(e);
        }
        // Steps never launched.
        for &i in &inner.topo {
            if self.state[i] != StepState::Pending {
                continue;
            }
            let blocking = inner.deps[i]
                .iter()
                .find(|&&d| !self.state[d].is_done())
                .map(|&d| inner.steps[d].id.clone());
            let reason = match (&blocking, &stop) {
                (Some(dep), _) => format!("dependency `{dep}` did not succeed"),
                (None, Some(Stop::Abort(f) | Stop::Rollback(f))) => {
                    format!("the run stopped after `{}` failed", inner.steps[*f].id)
                }
                (None, None) if cancelled => "the run was interrupted".to_owned(),
                (None, None) => "not reached".to_owned(),
            };
            self.state[i] = StepState::NotRun;
            self.env.journal.record(Event::StepNotRun {
                step: inner.steps[i].id.clone(),
                reason,
            });
        }
        if let Some(Stop::Rollback(failed)) = stop {
            return self.rollback(failed).await;
        }
        Ok(if failures > 0 {
            Outcome::Failed
        } else if self.state.iter().all(|s| s.is_done()) {
            Outcome::Succeeded
        } else {
            Outcome::Interrupted
        })
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
            let inputs = Arc::new(inputs);
            // The instance that ran (it remembers what it changed); after a resume, a new
            // one, which has the step's recorded outputs in its context.
            let action = match (self.env.built(i), &step.source) {
                (Some(a), _) => Ok(a),
                (None, ActionSource::Ready(a)) => Ok(Arc::clone(a)),
                (None, ActionSource::Deferred { build, .. }) => {
                    build(&StepInputs::new(&step.id, &inputs))
                }
            };
            let result = match action {
                Err(e) => Err(e.to_string()),
                Ok(action) if !action.supports_rollback() => Err(format!(
                    "{} on {} has no rollback: its change remains",
                    action.kind(),
                    action.target()
                )),
                Ok(action) => {
                    let mut ctx = Context::new()
                        .with_step(step.id.as_str())
                        .with_outputs(Arc::clone(&inputs))
                        .with_events(StepEvents {
                            hub: Arc::clone(&self.env.hub),
                            journal: self.env.journal.clone(),
                        });
                    if let Some(t) = step.policy.timeout {
                        ctx = ctx.with_timeout(t);
                    }
                    let layered = layer(Arc::clone(&action), &step.policy);
                    within(&ctx, step.policy.timeout, layered.rollback(&ctx))
                        .await
                        .map_err(|e| e.in_action(action.as_ref()).to_string())
                }
            };
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
