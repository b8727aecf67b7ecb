//! Reports built from the journal alone: Markdown (timeline, per-step durations, RTO/RPO
//! verdicts, failures with their errors) and JSON.

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
        let mut impaired = BTreeSet::new();
        let mut objectives = RpoObjectives::default();
        let mut steps: Vec<StepReport> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut outcome = None;
        let mut segments = 0;
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
                Event::StepStarted { .. } => {
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
                Event::ApprovalDecided {
                    decision: crate::Decision::Approved { by },
                    ..
                } => s.approved_by = Some(by.clone()),
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
            })
            .collect();
        let rto = rto_verdicts(&budgets, incident_start, ended, &tier_steps);
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
        })
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
            "- Mode: {}{}",
            self.mode,
            if self.impaired_regions.is_empty() {
                String::new()
            } else {
                let regions: Vec<&str> = self.impaired_regions.iter().map(String::as_str).collect();
                format!("; impaired regions: {}", regions.join(", "))
            }
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
        md.push_str("## RTO\n\n| Tier | Budget | Recovered after | Verdict |\n|---|---|---|---|\n");
        for v in &self.rto {
            let _ = writeln!(
                md,
                "| {} ({} steps) | {} | {} | {} |",
                v.tier,
                v.steps,
                fmt_duration(v.budget),
                v.recovered_after.map_or("-".into(), fmt_duration),
                v.verdict
            );
        }
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
