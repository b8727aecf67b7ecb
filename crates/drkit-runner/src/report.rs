//! Reports built from the journal alone: Markdown (timeline, per-step durations, RTO/RPO
//! verdicts, each tier's critical path, failures with their errors) and JSON; with the
//! journal of an earlier run, each step's duration against it ([`Report::with_previous`]).

use std::collections::{BTreeSet, HashMap};
use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime};

use drkit_core::Outputs;
use serde::{Deserialize, Serialize};

use crate::clock::since;
use crate::conditions::Mode;
use crate::journal::{Event, Record};
use crate::rto::{
    RpoObjectives, RpoVerdict, RtoBudgets, Tier, TierStep, TierVerdict, rpo_verdict, rto_verdicts,
};

mod path;
#[cfg(test)]
mod tests;
mod trend;

pub use path::PathStep;
pub use trend::{StepTrend, Trend};

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step succeeded or was already done.
    Succeeded,
    /// A step failed (with `abort` or `continue`).
    Failed,
    /// A step failed and every completed change was compensated. Still not a success.
    RolledBack,
    /// A step failed and a compensation failed too (or was impossible): needs a human.
    RollbackFailed,
    /// The run was cancelled; it can be resumed.
    Interrupted,
}

impl Outcome {
    /// The snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::RolledBack => "rolled_back",
            Self::RollbackFailed => "rollback_failed",
            Self::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a step ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Not started.
    Pending,
    /// Started, no end recorded (in flight, or the runner died).
    Running,
    /// Executed and verified.
    Succeeded,
    /// Check said it was already done.
    Skipped,
    /// Not run under the run's conditions: its mode, an impaired region, or an output of a
    /// step skipped for them (`detail` says which). Satisfies its dependents; sent nothing.
    Excluded,
    /// Failed.
    Failed,
    /// Stopped by a cancellation.
    Interrupted,
    /// Never launched (dependency failed, run aborted or interrupted).
    NotRun,
    /// Succeeded, then compensated.
    RolledBack,
    /// Succeeded, then its compensation failed.
    RollbackFailed,
}

impl StepState {
    /// Whether the step's post-condition holds (succeeded or skipped).
    pub fn is_done(self) -> bool {
        matches!(self, Self::Succeeded | Self::Skipped | Self::Excluded)
    }
}

/// One step in a [`Report`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// The step.
    pub id: String,
    /// Its tier.
    pub tier: Tier,
    /// Its service.
    pub service: String,
    /// Its end state.
    pub state: StepState,
    /// Last start.
    #[serde(with = "crate::clock::opt_rfc3339")]
    pub started: Option<SystemTime>,
    /// Last end.
    #[serde(with = "crate::clock::opt_rfc3339")]
    pub finished: Option<SystemTime>,
    /// Time from last start to end.
    #[serde(with = "humantime_serde")]
    pub duration: Option<Duration>,
    /// Attempts made (1 + retries).
    pub attempts: u32,
    /// How many times the step was launched (more than 1 after a resume).
    pub launches: u32,
    /// Outputs.
    pub outputs: Outputs,
    /// What check or verify said.
    pub detail: Option<String>,
    /// The error, for failed steps (and failed rollbacks).
    pub error: Option<String>,
    /// Who approved it.
    pub approved_by: Option<String>,
    /// Its dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Whether its action changes anything (`None`: never started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutates: Option<bool>,
    /// Of its last run (`duration`), the time spent waiting for an approver.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub approval_wait: Option<Duration>,
}

/// What happened in a run, built from its journal records alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The run.
    pub run: String,
    /// The plan.
    pub plan: String,
    /// How it ended; `None` if the journal has no end (the runner died or is still running).
    pub outcome: Option<Outcome>,
    /// How many times the run was started (1 + resumes).
    pub segments: u32,
    /// When the incident started.
    #[serde(with = "crate::clock::rfc3339")]
    pub incident_start: SystemTime,
    /// When the run first started.
    #[serde(with = "crate::clock::rfc3339")]
    pub started: SystemTime,
    /// When it ended (the last record).
    #[serde(with = "crate::clock::rfc3339")]
    pub ended: SystemTime,
    /// The steps, in plan order.
    pub steps: Vec<StepReport>,
    /// RTO verdict per tier.
    pub rto: Vec<TierVerdict>,
    /// RPO verdicts, for steps that measured data loss.
    pub rpo: Vec<RpoVerdict>,
    /// Every record, in order.
    pub timeline: Vec<Record>,
    /// The mode of the run's last part (a resume may switch a graceful run to ungraceful).
    pub mode: Mode,
    /// The regions its last part was told are impaired.
    pub impaired_regions: BTreeSet<String>,
    /// Where a resume changed the run's mode (e.g. a graceful run that met a dark region,
    /// resumed ungraceful), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mode_switches: Vec<ModeSwitch>,
    /// Each step's duration against the plan's previous successful run, when
    /// [`with_previous`](Self::with_previous) found one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend: Option<Trend>,
}

/// A resume that changed the run's mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeSwitch {
    /// The mode before.
    pub from: Mode,
    /// The mode from this resume on.
    pub to: Mode,
    /// When the resume started.
    #[serde(with = "crate::clock::rfc3339")]
    pub at: SystemTime,
}

/// The journal holds no run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the journal holds no run{}", .0.as_ref().map(|r| format!(" `{r}`")).unwrap_or_default())]
pub struct NoRun(pub Option<String>);

impl Report {
    /// The report of the last run in `records`.
    pub fn from_records(records: &[Record]) -> Result<Self, NoRun> {
        let run = records
            .iter()
            .rev()
            .find(|r| matches!(r.event, Event::RunStarted { resumed: false, .. }))
            .map(|r| r.run.clone())
            .ok_or(NoRun(None))?;
        Self::for_run(records, &run)
    }

    /// The report of run `run` in `records`.
    pub fn for_run(records: &[Record], run: &str) -> Result<Self, NoRun> {
        let records: Vec<&Record> = records.iter().filter(|r| r.run == run).collect();
        let Some(first) = records.first() else {
            return Err(NoRun(Some(run.to_owned())));
        };
        let mut plan = String::new();
        let mut incident_start = first.at;
        let mut budgets = RtoBudgets::default();
        let mut run_mode = Mode::default();
        let mut mode_switches = Vec::new();
        let mut impaired = BTreeSet::new();
        let mut objectives = RpoObjectives::default();
        let mut steps: Vec<StepReport> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut outcome = None;
        let mut segments = 0;
        // When each step's pending approval was asked for.
        let mut asked: HashMap<String, SystemTime> = HashMap::new();
        for r in &records {
            if let Event::RunStarted {
                plan: p,
                incident_start: start,
                rto,
                rpo,
                steps: infos,
                mode,
                impaired_regions,
                ..
            } = &r.event
            {
                segments += 1;
                if segments > 1 && *mode != run_mode {
                    mode_switches.push(ModeSwitch {
                        from: run_mode,
                        to: *mode,
                        at: r.at,
                    });
                }
                run_mode = *mode;
                impaired.clone_from(impaired_regions);
                outcome = None;
                plan.clone_from(p);
                incident_start = *start;
                budgets = rto.clone();
                objectives = rpo.clone();
                for info in infos {
                    if !index.contains_key(&info.id) {
                        index.insert(info.id.clone(), steps.len());
                        steps.push(StepReport {
                            id: info.id.clone(),
                            tier: info.tier,
                            service: info.service.clone(),
                            state: StepState::Pending,
                            started: None,
                            finished: None,
                            duration: None,
                            attempts: 0,
                            launches: 0,
                            outputs: Outputs::new(),
                            detail: None,
                            error: None,
                            approved_by: None,
                            depends_on: info.depends_on.clone(),
                            mutates: None,
                            approval_wait: None,
                        });
                    }
                }
                continue;
            }
            if let Event::RunFinished { outcome: o } = &r.event {
                outcome = Some(*o);
                continue;
            }
            let Some(s) = r
                .event
                .step()
                .and_then(|id| index.get(id))
                .map(|&i| &mut steps[i])
            else {
                continue;
            };
            let end = |s: &mut StepReport, state| {
                s.state = state;
                s.finished = Some(r.at);
                s.duration = s.started.map(|t| since(r.at, t));
            };
            match &r.event {
                Event::StepStarted { mutates, .. } => {
                    s.mutates = Some(*mutates);
                    s.approval_wait = None;
                    s.state = StepState::Running;
                    s.started = Some(r.at);
                    s.finished = None;
                    s.duration = None;
                    s.attempts = 1;
                    s.launches += 1;
                    s.error = None;
                }
                Event::StepReady { change, .. } => s.detail = Some(change.clone()),
                Event::StepRetried { .. } => s.attempts += 1,
                Event::ApprovalRequested { step } => {
                    asked.insert(step.clone(), r.at);
                }
                Event::ApprovalDecided { step, decision } => {
                    if let Some(at) = asked.remove(step) {
                        s.approval_wait =
                            Some(s.approval_wait.unwrap_or_default() + since(r.at, at));
                    }
                    if let crate::Decision::Approved { by } = decision {
                        s.approved_by = Some(by.clone());
                    }
                }
                Event::StepSucceeded {
                    outputs, verified, ..
                } => {
                    end(s, StepState::Succeeded);
                    s.outputs = outputs.clone();
                    s.detail = Some(verified.clone());
                }
                Event::StepSkipped {
                    detail,
                    outputs,
                    condition,
                    ..
                } => {
                    end(
                        s,
                        if *condition {
                            StepState::Excluded
                        } else {
                            StepState::Skipped
                        },
                    );
                    s.outputs = outputs.clone();
                    s.detail = Some(detail.clone());
                }
                Event::StepFailed { error, outputs, .. } => {
                    end(s, StepState::Failed);
                    s.error = Some(error.clone());
                    // A failed check's measurement still counts for the RPO verdict.
                    if !outputs.is_empty() {
                        s.outputs = outputs.clone();
                    }
                }
                Event::StepInterrupted { error, .. } => {
                    end(s, StepState::Interrupted);
                    s.error = Some(error.clone());
                }
                Event::StepNotRun { reason, .. } => {
                    s.state = StepState::NotRun;
                    s.detail = Some(reason.clone());
                }
                Event::StepRolledBack { .. } => {
                    // A compensation interrupted, then finished by a resume: no error left.
                    if s.state == StepState::RollbackFailed {
                        s.error = None;
                    }
                    s.state = StepState::RolledBack;
                }
                Event::StepRollbackFailed { error, .. } => {
                    s.state = StepState::RollbackFailed;
                    s.error = Some(error.clone());
                }
                _ => {}
            }
        }
        let ended = records.last().map_or(first.at, |r| r.at);
        let tier_steps: Vec<TierStep> = steps
            .iter()
            .map(|s| TierStep {
                tier: s.tier,
                done_at: if s.state.is_done() { s.finished } else { None },
                role: path::role(s),
            })
            .collect();
        let mut rto = rto_verdicts(&budgets, incident_start, ended, &tier_steps);
        for v in &mut rto {
            v.critical_path = path::critical_path(&steps, v.tier, first.at);
        }
        let rpo = steps
            .iter()
            .filter(|s| {
                // Failed steps count too: a data check that failed because too much was lost
                // carries its measurement.
                s.state.is_done() || matches!(s.state, StepState::RolledBack | StepState::Failed)
            })
            .filter_map(|s| rpo_verdict(&objectives, &s.id, &s.outputs))
            .collect();
        Ok(Self {
            run: run.to_owned(),
            plan,
            outcome,
            segments,
            incident_start,
            started: first.at,
            ended,
            steps,
            rto,
            rpo,
            timeline: records.into_iter().cloned().collect(),
            mode: run_mode,
            impaired_regions: impaired,
            mode_switches,
            trend: None,
        })
    }

    /// The report with each step's duration against the plan's previous successful run, the
    /// last in `records` that started before this one (runs of other plans, failed runs and
    /// this run are passed over). `records` may hold several runs, e.g. a store's archived
    /// journals followed by its current one ([`JournalStore::load_archived`] then
    /// [`JournalStore::load`]); without a previous successful run, there is no trend.
    ///
    /// [`JournalStore::load_archived`]: crate::JournalStore::load_archived
    /// [`JournalStore::load`]: crate::JournalStore::load
    #[must_use]
    pub fn with_previous(mut self, records: &[Record]) -> Self {
        self.trend = trend::previous_success(&self, records).map(|p| trend::trend(&p, &self));
        self
    }

    /// Whether the run succeeded.
    pub fn is_success(&self) -> bool {
        self.outcome == Some(Outcome::Succeeded)
    }

    /// A step by id.
    pub fn step(&self, id: &str) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Steps that failed, were interrupted, or whose rollback failed.
    pub fn failures(&self) -> impl Iterator<Item = &StepReport> {
        self.steps.iter().filter(|s| {
            matches!(
                s.state,
                StepState::Failed | StepState::Interrupted | StepState::RollbackFailed
            )
        })
    }

    /// The outcome in words.
    pub(crate) fn outcome_text(&self) -> String {
        match self.outcome {
            Some(Outcome::Succeeded) => "succeeded".into(),
            Some(Outcome::Failed) => "failed".into(),
            Some(Outcome::RolledBack) => "failed and was rolled back".into(),
            Some(Outcome::RollbackFailed) => {
                "failed, and its rollback failed: completed changes remain".into()
            }
            Some(Outcome::Interrupted) => "was interrupted (resume it to go on)".into(),
            None => "has not finished".into(),
        }
    }

    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The report as Markdown: summary, RTO/RPO verdicts, steps with durations, failures with
    /// their errors, and the timeline.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let offset = |t: SystemTime| fmt_duration(since(t, self.incident_start));
        let _ = writeln!(
            md,
            "# Recovery run `{}` of plan `{}`\n",
            self.run, self.plan
        );
        let _ = writeln!(md, "- Outcome: **{}**", self.outcome_text());
        let _ = writeln!(
            md,
            "- Mode: {}{}{}",
            self.mode,
            if self.impaired_regions.is_empty() {
                String::new()
            } else {
                let regions: Vec<&str> = self.impaired_regions.iter().map(String::as_str).collect();
                format!("; impaired regions: {}", regions.join(", "))
            },
            self.mode_switches
                .iter()
                .map(|m| format!(
                    " (switched from {} to {} at the resume at T+{})",
                    m.from,
                    m.to,
                    offset(m.at)
                ))
                .collect::<String>()
        );
        let _ = writeln!(
            md,
            "- Incident start: {}",
            humantime::format_rfc3339_seconds(self.incident_start)
        );
        let _ = writeln!(
            md,
            "- Run: {} to {} (T+{} to T+{}){}\n",
            humantime::format_rfc3339_seconds(self.started),
            humantime::format_rfc3339_seconds(self.ended),
            offset(self.started),
            offset(self.ended),
            if self.segments > 1 {
                format!(", resumed {} time(s)", self.segments - 1)
            } else {
                String::new()
            }
        );
        md.push_str(
            "## RTO\n\n| Tier | Budget | Recovered after | Verdict | Last change | Healthy after |\n\
             |---|---|---|---|---|---|\n",
        );
        for v in &self.rto {
            let healthy = match (v.healthy_after, v.last_change_after) {
                (Some(h), Some(c)) if h < c => {
                    format!("{} (before the last change)", fmt_duration(h))
                }
                (h, _) => h.map_or("-".into(), fmt_duration),
            };
            let _ = writeln!(
                md,
                "| {} ({} steps) | {} | {} | {} | {} | {} |",
                v.tier,
                v.steps,
                fmt_duration(v.budget),
                v.recovered_after.map_or("-".into(), fmt_duration),
                v.verdict,
                v.last_change_after.map_or("-".into(), fmt_duration),
                healthy
            );
        }
        md.push_str(
            "\nFrom the incident start. The verdict judges *recovered after*: when every step of \
             the tier (and of the tiers before it) was done. *Last change*: the end of its last \
             step that changed something; *healthy after*: when its last read-only check passed \
             (ARC's actual recovery time).\n",
        );
        self.critical_paths_markdown(&mut md);
        self.trend_markdown(&mut md);
        if !self.rpo.is_empty() {
            md.push_str("\n## RPO\n\n| Step | Class | Measured | Objective | Verdict |\n|---|---|---|---|---|\n");
            for v in &self.rpo {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} |",
                    v.step,
                    v.class,
                    fmt_duration(v.measured),
                    v.objective.map_or("-".into(), fmt_duration),
                    v.verdict
                );
            }
        }
        md.push_str("\n## Steps\n\n| Step | Tier | Service | State | Started | Duration | Attempts | Approved by |\n|---|---|---|---|---|---|---|---|\n");
        for s in &self.steps {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                s.id,
                s.tier,
                s.service,
                if s.state == StepState::Excluded {
                    format!(
                        "skipped: {}",
                        escape(s.detail.as_deref().unwrap_or("the run's conditions"))
                    )
                } else {
                    state_name(s.state).to_owned()
                },
                s.started.map_or("-".into(), |t| format!("T+{}", offset(t))),
                s.duration.map_or("-".into(), fmt_duration),
                s.attempts,
                s.approved_by.as_deref().unwrap_or("-")
            );
        }
        let failures: Vec<&StepReport> = self.failures().collect();
        if !failures.is_empty() {
            md.push_str("\n## Failures\n\n");
            for s in failures {
                let _ = writeln!(
                    md,
                    "- `{}` ({}): {}",
                    s.id,
                    state_name(s.state),
                    escape(s.error.as_deref().unwrap_or("no error text"))
                );
            }
        }
        md.push_str(
            "\n## Timeline\n\n| # | Time | Step | Event | Detail |\n|---|---|---|---|---|\n",
        );
        for r in &self.timeline {
            let _ = writeln!(
                md,
                "| {} | T+{} | {} | {} | {} |",
                r.seq,
                offset(r.at),
                r.event.step().unwrap_or("-"),
                r.event.name(),
                escape(&detail(&r.event))
            );
        }
        md
    }
}

impl Report {
    /// `## Critical path`: per recovered tier, the chain of steps that decided its time.
    fn critical_paths_markdown(&self, md: &mut String) {
        let offset = |t: SystemTime| fmt_duration(since(t, self.incident_start));
        let paths: Vec<&TierVerdict> = self
            .rto
            .iter()
            .filter(|v| !v.critical_path.is_empty())
            .collect();
        if paths.is_empty() {
            return;
        }
        let _ = writeln!(
            md,
            "\n## Critical path\n\nPer tier, the steps that decided its recovery time: from \
             its last step back through the dependency each step waited for last. *Waiting*: \
             from that dependency's end (or the run's start) to the step's start (concurrency \
             limits, a resume); *approval*: waiting for an approver; *working*: the rest. The \
             run started at T+{}.",
            offset(self.started)
        );
        let mut shown: Vec<&TierVerdict> = Vec::new();
        for v in paths {
            let _ = write!(
                md,
                "\n### {}: recovered after {}\n\n",
                v.tier,
                v.recovered_after.map_or("-".into(), fmt_duration)
            );
            if let Some(same) = shown.iter().find(|s| s.critical_path == v.critical_path) {
                let _ = writeln!(md, "The same chain as the {} tier.", same.tier);
                continue;
            }
            md.push_str("| Step | After | Waiting | Approval | Working | Ended |\n|---|---|---|---|---|---|\n");
            let (mut waiting, mut approval, mut working) =
                (Duration::ZERO, Duration::ZERO, Duration::ZERO);
            for p in &v.critical_path {
                waiting += p.waiting;
                approval += p.approval;
                working += p.working;
                let _ = writeln!(
                    md,
                    "| {}{} | {} | {} | {} | {} | T+{} |",
                    p.step,
                    match p.state {
                        StepState::Skipped => " (done at check)",
                        StepState::Excluded => " (skipped)",
                        _ => "",
                    },
                    p.after.as_deref().unwrap_or("run start"),
                    fmt_duration(p.waiting),
                    if p.approval.is_zero() {
                        "-".into()
                    } else {
                        fmt_duration(p.approval)
                    },
                    fmt_duration(p.working),
                    offset(p.finished)
                );
            }
            let _ = writeln!(
                md,
                "| **total** | | {} | {} | {} | |",
                fmt_duration(waiting),
                fmt_duration(approval),
                fmt_duration(working)
            );
            shown.push(v);
        }
    }

    /// `## Trend`: the slowest regressions against the previous successful run.
    fn trend_markdown(&self, md: &mut String) {
        /// How many regressions the Markdown lists.
        const TOP: usize = 10;
        let Some(trend) = &self.trend else {
            return;
        };
        let slower: Vec<&StepTrend> = trend.steps.iter().filter(|s| s.is_regression()).collect();
        let _ = write!(
            md,
            "\n## Trend\n\nAgainst the previous successful run `{}` ({}): {} step(s) compared, \
             {} slower",
            trend.previous_run,
            humantime::format_rfc3339_seconds(trend.previous_started),
            trend.steps.len(),
            slower.len()
        );
        if slower.is_empty() {
            md.push_str(".\n");
            return;
        }
        let _ = writeln!(
            md,
            "; the slowest regressions first{}.\n",
            if slower.len() > TOP {
                format!(" (the top {TOP})")
            } else {
                String::new()
            }
        );
        md.push_str("| Step | Previous | Now | Change |\n|---|---|---|---|\n");
        for s in slower.iter().take(TOP) {
            let change = s.now.saturating_sub(s.previous);
            let _ = writeln!(
                md,
                "| {} | {} | {} | +{}{} |",
                s.step,
                fmt_duration(s.previous),
                fmt_duration(s.now),
                fmt_duration(change),
                // A percentage of a few milliseconds says little.
                if s.previous < Duration::from_secs(1) {
                    String::new()
                } else {
                    format!(
                        " (+{:.0} %)",
                        100.0 * change.as_secs_f64() / s.previous.as_secs_f64()
                    )
                }
            );
        }
    }
}

fn state_name(s: StepState) -> &'static str {
    match s {
        StepState::Pending => "pending",
        StepState::Running => "running",
        StepState::Succeeded => "succeeded",
        StepState::Skipped => "done at check (nothing to change)",
        StepState::Excluded => "skipped (the run's mode or an impaired region)",
        StepState::Failed => "FAILED",
        StepState::Interrupted => "interrupted",
        StepState::NotRun => "not run",
        StepState::RolledBack => "rolled back",
        StepState::RollbackFailed => "ROLLBACK FAILED",
    }
}

fn detail(e: &Event) -> String {
    match e {
        Event::RunStarted {
            resumed,
            steps,
            mode,
            impaired_regions,
            ..
        } => format!(
            "{} with {} steps, {mode} mode{}",
            if *resumed { "resumed" } else { "started" },
            steps.len(),
            if impaired_regions.is_empty() {
                String::new()
            } else {
                let regions: Vec<&str> = impaired_regions.iter().map(String::as_str).collect();
                format!(", impaired: {}", regions.join(", "))
            }
        ),
        Event::StepStarted { kind, target, .. } => format!("{kind} on {target}"),
        Event::StepReady { change, .. } => change.clone(),
        Event::StepIntent {
            intent, rollback, ..
        } => {
            let what = if *rollback { "rollback" } else { "change" };
            if intent.is_empty() {
                format!("{what} refused by the provider: intent withdrawn")
            } else {
                format!(
                    "about to send its {what}; recorded {}",
                    serde_json::to_string(intent).unwrap_or_default()
                )
            }
        }
        Event::StepRetried {
            attempt,
            delay,
            error,
            ..
        } => format!(
            "attempt {attempt} failed, retry in {}: {error}",
            fmt_duration(*delay)
        ),
        Event::ApprovalRequested { .. } => "waiting for approval".into(),
        Event::ApprovalDecided { decision, .. } => match decision {
            crate::Decision::Approved { by } => format!("approved by {by}"),
            crate::Decision::Denied { by, reason } => format!("denied by {by}: {reason}"),
        },
        Event::StepSucceeded { verified, .. } => verified.clone(),
        Event::StepSkipped { detail, .. } => detail.clone(),
        Event::StepFailed { error, .. }
        | Event::StepInterrupted { error, .. }
        | Event::StepRollbackFailed { error, .. } => error.clone(),
        Event::StepNotRun { reason, .. } | Event::RunInterrupted { reason } => reason.clone(),
        Event::RollbackStarted { because_of, steps } => {
            format!(
                "because `{because_of}` failed; compensating {}",
                steps.join(", ")
            )
        }
        Event::StepRolledBack { .. } => String::new(),
        Event::RunFinished { outcome } => outcome.to_string(),
        Event::OperatorDecided {
            decision,
            by,
            reason,
            ..
        } => match reason {
            Some(reason) => format!("{by} decided: {decision} ({reason})"),
            None => format!("{by} decided: {decision}"),
        },
    }
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}
