//! The runner: runs, resumes and dry-runs plans.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use drkit_core::{CancellationToken, Check, Context, Outputs};
use tokio::sync::broadcast;

use crate::approval::{Approver, AutoApprove};
use crate::clock::Clock;
use crate::conditions::{Conditions, Mode};
use crate::dry_run::{DryRunReport, DryRunState, DryRunStep};
use crate::error::RunError;
use crate::events::{Hub, RunEvent, RunEventSink};
use crate::journal::{Event, Journal, JournalError, JournalStore, LockHolder, Record, StepInfo};
use crate::lease::LockLoss;
use crate::operator::{OperatorChoice, OperatorDecisions, RetryApprover};
use crate::pause::FailureHandler;
use crate::phases::{StepEnv, layer};
use crate::plan::{ActionSource, Plan, StepInputs};
use crate::readiness::ReadinessReport;
use crate::report::{Outcome, Report};
use crate::rto::{RpoObjectives, RtoBudgets};
use crate::scheduler::Scheduler;

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
    rollback_timeout: Duration,
    /// The run's mode and impaired regions, where set: the rest comes from the journal (on a
    /// resume) or the defaults.
    mode: Option<Mode>,
    impaired_regions: Option<BTreeSet<String>>,
    /// The operator's decisions for a resume (`--retry`, `--skip`).
    operator: OperatorDecisions,
    /// Who decides after a failed step (a paused run), if anyone.
    pause: Option<Arc<dyn FailureHandler>>,
}

/// How long a step's compensation may take when the step has no time-out (see
/// [`Runner::with_rollback_timeout`]).
pub const DEFAULT_ROLLBACK_TIMEOUT: Duration = Duration::from_secs(30 * 60);

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
            .field("rollback_timeout", &self.rollback_timeout)
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
            rollback_timeout: DEFAULT_ROLLBACK_TIMEOUT,
            mode: None,
            impaired_regions: None,
            operator: OperatorDecisions::default(),
            pause: None,
        }
    }

    /// Pauses at a failed step and lets `handler` (a person at a terminal: the CLI's
    /// `--pause-on-failure`) choose: retry, skip with a reason, continue without it, roll back
    /// or abort. The choice, with who made it, is journalled before it is acted on. Without
    /// one, a failed step follows its own `on_failure`.
    #[must_use]
    pub fn with_failure_handler(mut self, handler: Arc<dyn FailureHandler>) -> Self {
        self.pause = Some(handler);
        self
    }

    /// The operator's decisions for the next [`resume`](Self::resume): steps to run again
    /// (also when their earlier outcome is unknown) and steps to skip with a reason. They are
    /// checked against the journal first (an unknown step, or one already done, is refused with
    /// [`RunError::OperatorDecision`] and nothing is journalled), then journalled with who
    /// decided, before any step runs. A new run (not a resume) refuses them.
    #[must_use]
    pub fn with_operator_decisions(mut self, decisions: OperatorDecisions) -> Self {
        self.operator = decisions;
        self
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

    /// Bounds the compensation of a step that has no time-out of its own by `timeout` (default
    /// [`DEFAULT_ROLLBACK_TIMEOUT`], 30 min; a step's `timeout` bounds its compensation too). A
    /// compensation cut off is journalled `step_rollback_failed`; a resume tries it again.
    #[must_use]
    pub fn with_rollback_timeout(mut self, timeout: Duration) -> Self {
        self.rollback_timeout = timeout;
        self
    }

    /// Runs under `conditions`: the mode and the impaired regions (see [`Conditions`]). By
    /// default a new run is graceful with no region impaired, and a resume keeps the
    /// conditions its journal recorded last; given here, they replace those for the steps not
    /// yet done (e.g. switching a stuck graceful run to ungraceful).
    #[must_use]
    pub fn with_conditions(self, conditions: Conditions) -> Self {
        self.with_mode(conditions.mode)
            .with_impaired_regions(conditions.impaired_regions)
    }

    /// Runs in `mode`; the impaired regions stay as recorded (see
    /// [`with_conditions`](Self::with_conditions)).
    #[must_use]
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Runs with `regions` impaired; the mode stays as recorded (see
    /// [`with_conditions`](Self::with_conditions)).
    #[must_use]
    pub fn with_impaired_regions(
        mut self,
        regions: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.impaired_regions = Some(regions.into_iter().map(Into::into).collect());
        self
    }

    /// The conditions of a run part, given what `prior` (a resumed run's records) recorded.
    fn conditions(&self, prior: &[Record]) -> Conditions {
        let recorded = recorded_conditions(prior);
        Conditions {
            mode: self.mode.unwrap_or(recorded.mode),
            impaired_regions: self
                .impaired_regions
                .clone()
                .unwrap_or(recorded.impaired_regions),
        }
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
    ///
    /// A run whose rollback started (`rollback_started` journalled) only rolls back: the resume
    /// compensates the steps of that rollback not yet journalled `step_rolled_back` (failed,
    /// interrupted or never reached), in the recorded order, and launches no step; nothing
    /// that was compensated, or was to be, is applied again. After a rollback that finished
    /// (every step rolled back) there is nothing to do: [`RunError::RolledBack`], and the
    /// journal is left as it is.
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
        let loss = lock.as_ref().and_then(|lock| lock.loss());
        let result = self.go(plan, resume, &holder, loss).await;
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

    async fn go(
        &self,
        plan: &Plan,
        resume: bool,
        holder: &LockHolder,
        loss: Option<LockLoss>,
    ) -> Result<Report, RunError> {
        let clock = Clock::start();
        // To the microsecond, as the journal keeps it, like every time the report reads.
        let mut incident_start =
            crate::clock::to_micros(self.incident_start.unwrap_or_else(|| clock.now()));
        // A resumed run keeps the original run's id and start (what the steps name and date
        // their resources by).
        let (run, prior, run_started) = if resume {
            let last = self.last_run(plan).await?;
            incident_start = last.incident_start;
            (last.run, last.records, last.started)
        } else {
            // To the microsecond, as the journal keeps it: a resume reads back the same time.
            let now = crate::clock::to_micros(clock.now());
            let millis = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            (format!("{}-{millis}", plan.name()), Vec::new(), now)
        };
        self.check_operator_decisions(plan, resume, &prior)?;
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
            sink_queue: Default::default(),
        });
        let (journal, committer) = Journal::start(
            self.store.clone(),
            plan.name().to_owned(),
            run.clone(),
            first_seq,
            clock,
            Arc::clone(&hub),
        );
        let steps = step_infos(plan);
        let conditions = self.conditions(&prior);
        // A fresh run's `run_started` record is dated by the run's start; a resume's by now.
        let record_at = if resume { clock.now() } else { run_started };
        let started = journal
            .record_durable_at(
                Event::RunStarted {
                    plan: plan.name().to_owned(),
                    fingerprint: plan.fingerprint().to_owned(),
                    resumed: resume,
                    holder: holder.to_string(),
                    incident_start,
                    rto: self.rto.clone(),
                    rpo: self.rpo.clone(),
                    steps,
                    source: plan.source().cloned(),
                    mode: conditions.mode,
                    impaired_regions: conditions.impaired_regions.clone(),
                },
                record_at,
            )
            .await;
        // The run's cancellation: the caller's (Ctrl-C), or the loss of the journal lock.
        let cancel = self.cancel.child_token();
        let _watch = loss
            .as_ref()
            .map(|loss| watch_lock(plan.name(), loss.clone(), cancel.clone()));
        let started = match started {
            Ok(()) => self.journal_operator_decisions(&journal).await,
            Err(e) => Err(e),
        };
        let approver: Arc<dyn Approver> = if self.operator.is_empty() {
            Arc::clone(&self.approver)
        } else {
            Arc::new(RetryApprover {
                inner: Arc::clone(&self.approver),
                decisions: self.operator.clone(),
            })
        };
        let outcome = match started {
            Ok(()) => {
                let env = Arc::new(StepEnv {
                    journal: journal.clone(),
                    hub,
                    approver,
                    cancel,
                    plan: plan.clone(),
                    run: run.clone(),
                    run_started,
                    built: std::sync::Mutex::new(vec![None; plan.inner.steps.len()]),
                    intents: Arc::new(std::sync::Mutex::new(crate::phases::recorded_intents(
                        &prior,
                    ))),
                    conditions,
                    pause: self.pause.clone(),
                    gate: loss
                        .clone()
                        .map(|loss| Arc::new(loss) as Arc<dyn drkit_core::SendGate>),
                });
                let skips: Vec<(String, String)> = self
                    .operator
                    .choices()
                    .filter_map(|(step, choice)| match choice {
                        OperatorChoice::Skip { reason } => Some((step.to_owned(), reason.clone())),
                        OperatorChoice::Retry => None,
                    })
                    .collect();
                let mut sched =
                    Scheduler::new(self.max_concurrency, &self.service_limits, &env, &prior)
                        .with_operator_skips(&skips)
                        .with_rollback_timeout(self.rollback_timeout)
                        .with_lock_loss(loss);
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

    /// Refuses operator decisions that cannot apply, before anything is journalled: on a new
    /// run, for a step the plan lacks, or for a step the resumed run has already done.
    fn check_operator_decisions(
        &self,
        plan: &Plan,
        resume: bool,
        prior: &[Record],
    ) -> Result<(), RunError> {
        if self.operator.is_empty() {
            return Ok(());
        }
        if !resume {
            return Err(RunError::OperatorDecision(
                "--retry and --skip apply to a resume only".to_owned(),
            ));
        }
        for (step, choice) in self.operator.choices() {
            if !plan.inner.index.contains_key(step) {
                let known: Vec<&str> = plan.inner.steps.iter().map(|s| s.id.as_str()).collect();
                return Err(RunError::OperatorDecision(format!(
                    "unknown step `{step}`: the plan's steps are {}",
                    known.join(", ")
                )));
            }
            let done = prior.iter().rev().find_map(|r| match &r.event {
                Event::StepSucceeded { step: s, .. } if s == step => Some("succeeded"),
                Event::StepSkipped {
                    step: s,
                    condition: false,
                    ..
                } if s == step => Some("was skipped"),
                _ => None,
            });
            if let Some(done) = done {
                let verb = match choice {
                    OperatorChoice::Retry => "retry",
                    OperatorChoice::Skip { .. } => "skip",
                };
                return Err(RunError::OperatorDecision(format!(
                    "step `{step}` {done} in this run already: nothing to {verb}"
                )));
            }
        }
        Ok(())
    }

    /// Journals the operator's decisions durably, a skipped step as skipped.
    async fn journal_operator_decisions(&self, journal: &Journal) -> Result<(), JournalError> {
        for (step, choice) in self.operator.choices() {
            let (decision, reason) = match choice {
                OperatorChoice::Retry => ("retry", None),
                OperatorChoice::Skip { reason } => ("skip", Some(reason.clone())),
            };
            journal
                .record_durable(Event::OperatorDecided {
                    step: step.to_owned(),
                    decision: decision.to_owned(),
                    by: self.operator.who().to_owned(),
                    reason: reason.clone(),
                })
                .await?;
            if let Some(reason) = reason {
                journal
                    .record_durable(Event::StepSkipped {
                        step: step.to_owned(),
                        detail: format!("skipped by {}: {reason}", self.operator.who()),
                        outputs: Outputs::new(),
                        condition: false,
                    })
                    .await?;
            }
        }
        Ok(())
    }

    /// The last (not resumed) run of `plan` in the journal: its id, its records, when it
    /// started and its incident start. The plan must not have changed since.
    async fn last_run(&self, plan: &Plan) -> Result<LastRun, RunError> {
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| RunError::NothingToResume {
                plan: plan.name().to_owned(),
            })?;
        let records = store.load(plan.name()).await?;
        let Some((run, fingerprint, started, incident_start)) =
            records.iter().rev().find_map(|r| match &r.event {
                Event::RunStarted {
                    resumed: false,
                    fingerprint,
                    incident_start,
                    ..
                } => Some((r.run.clone(), fingerprint.clone(), r.at, *incident_start)),
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
        let prior: Vec<Record> = records.into_iter().filter(|r| r.run == run).collect();
        if crate::phases::rollback_started(&plan.inner.index, &prior)
            .is_some_and(|started| started.left.is_empty())
        {
            return Err(RunError::RolledBack {
                plan: plan.name().to_owned(),
                run,
            });
        }
        Ok(LastRun {
            run,
            records: prior,
            started,
            incident_start,
        })
    }

    /// Readiness (`drkit check`): can the plan run now, under the runner's mode and impaired
    /// regions? Every step with no change before it is checked in a dry-run context; steps
    /// after a change are reported as such, not evaluated (see [`ReadinessReport`]). Nothing
    /// is executed, journalled or approved.
    pub async fn readiness(&self, plan: &Plan) -> ReadinessReport {
        crate::readiness::evaluate(plan, &self.conditions(&[]), &self.cancel).await
    }

    /// Dry run: only read-only `check`s are called (with `Context::is_dry_run` set); nothing
    /// is executed, verified, rolled back, approved or journalled. The result lists what
    /// each step would do.
    pub async fn dry_run(&self, plan: &Plan) -> DryRunReport {
        let inner = &plan.inner;
        let conditions = self.conditions(&[]);
        let mut known: Vec<Option<Outputs>> = vec![None; inner.steps.len()];
        let mut states: Vec<Option<DryRunState>> = vec![None; inner.steps.len()];
        let mut skipped: Vec<Option<String>> = vec![None; inner.steps.len()];
        for &i in &inner.topo {
            let step = &inner.steps[i];
            if let Some(reason) = crate::conditions::skip_reason(inner, &conditions, i, &skipped) {
                // Skipped for the conditions: not even checked (no request at all).
                states[i] = Some(DryRunState::Skipped {
                    reason: reason.clone(),
                });
                skipped[i] = Some(reason);
                known[i] = Some(Outputs::new());
                continue;
            }
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
                        .with_outputs(inputs)
                        .with_impaired_regions(conditions.impaired_regions.iter().cloned());
                    match layered.check(&ctx).await {
                        Ok(Check::Done { detail, outputs }) => {
                            known[i] = Some(outputs);
                            DryRunState::AlreadyDone { detail }
                        }
                        Ok(Check::Ready { change }) => DryRunState::WouldChange { change },
                        Ok(Check::Blocked { reason }) => DryRunState::Blocked { reason },
                        Ok(Check::Unknown { question }) => DryRunState::WouldChange {
                            change: format!("after a person's decision: {question}"),
                        },
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

/// Cancels `cancel` once `loss` fires (the journal lock was lost); stops watching when dropped.
fn watch_lock(plan: &str, loss: LockLoss, cancel: CancellationToken) -> AbortOnDrop {
    let plan = plan.to_owned();
    AbortOnDrop(tokio::spawn(async move {
        let why = loss.lost().await;
        tracing::error!(
            plan,
            "lost the journal lock: {why}: no new step is launched, running steps are cancelled"
        );
        cancel.cancel();
    }))
}

/// A task aborted when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The run a resume continues.
struct LastRun {
    /// Its id.
    run: String,
    /// Its records.
    records: Vec<Record>,
    /// When it started (its `run_started` record).
    started: SystemTime,
    /// Its incident start.
    incident_start: SystemTime,
}

/// The plan's steps, as the `run_started` record describes them.
fn step_infos(plan: &Plan) -> Vec<StepInfo> {
    let inner = &plan.inner;
    inner
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
        .collect()
}

/// The conditions the last part of a resumed run recorded (the default for a new run).
fn recorded_conditions(prior: &[Record]) -> Conditions {
    prior
        .iter()
        .rev()
        .find_map(|r| match &r.event {
            Event::RunStarted {
                mode,
                impaired_regions,
                ..
            } => Some(Conditions {
                mode: *mode,
                impaired_regions: impaired_regions.clone(),
            }),
            _ => None,
        })
        .unwrap_or_default()
}
