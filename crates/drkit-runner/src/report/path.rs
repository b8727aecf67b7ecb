//! What decided a tier's recovery time: its critical path (the chain of steps, each with its
//! waiting and working time), and when its last change and its last health check ended.
//!
//! Built from the [`StepReport`]s alone (their start, end, duration and approval wait, as
//! [`Report::for_run`](super::Report::for_run) read them from the journal).

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{StepReport, StepState};
use crate::clock::since;
use crate::rto::{StepRole, Tier};

/// One step of a tier's critical path.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PathStep {
    /// The step.
    pub step: String,
    /// Its end state (succeeded, done at check, or skipped for the run's conditions).
    pub state: StepState,
    /// The dependency it waited for last (`None`: the head of the chain, which waited for the
    /// run's start).
    pub after: Option<String>,
    /// From that dependency's end (or the run's start) to the step's start: the scheduler's
    /// concurrency limits, or a resume's gap.
    #[serde(with = "humantime_serde")]
    pub waiting: Duration,
    /// Within its run, the time spent waiting for an approver.
    #[serde(with = "humantime_serde")]
    pub approval: Duration,
    /// The rest of its run: check, guards, execute, verify (zero for a step skipped for the
    /// run's conditions).
    #[serde(with = "humantime_serde")]
    pub working: Duration,
    /// When it ended.
    #[serde(with = "crate::clock::rfc3339")]
    pub finished: SystemTime,
}

/// What a step counts as for "RTO until healthy": a change (a mutating step that executed), a
/// health check (a read-only step that passed), or neither.
pub(super) fn role(s: &StepReport) -> StepRole {
    match (s.mutates, s.state) {
        (Some(true), StepState::Succeeded) => StepRole::Change,
        (Some(false), StepState::Succeeded | StepState::Skipped) => StepRole::HealthCheck,
        _ => StepRole::Other,
    }
}

/// The critical path of `tier` (its steps and the tiers' before it), head first: from the
/// member that ended last, back through the dependency that ended last before each step
/// started. Empty unless every member is done.
pub(super) fn critical_path(
    steps: &[StepReport],
    tier: Tier,
    run_started: SystemTime,
) -> Vec<PathStep> {
    let members: Vec<&StepReport> = steps.iter().filter(|s| s.tier <= tier).collect();
    if members.is_empty() || !members.iter().all(|s| s.state.is_done()) {
        return Vec::new();
    }
    let Some(mut current) = members.into_iter().max_by_key(|s| s.finished) else {
        return Vec::new();
    };
    let mut chain = Vec::new();
    // A DAG: the walk ends at a head; the bound only guards against a journal edited by hand.
    for _ in 0..steps.len() {
        let Some(finished) = current.finished else {
            break;
        };
        // A step skipped for the run's conditions was never started: no work.
        let started = current.started.unwrap_or(finished);
        let before = current
            .depends_on
            .iter()
            .filter_map(|d| steps.iter().find(|s| &s.id == d))
            .filter(|d| d.finished.is_some_and(|f| f <= started))
            .max_by_key(|d| d.finished);
        let ready = before.and_then(|d| d.finished).unwrap_or(run_started);
        let approval = current.approval_wait.unwrap_or_default();
        chain.push(PathStep {
            step: current.id.clone(),
            state: current.state,
            after: before.map(|d| d.id.clone()),
            waiting: since(started, ready),
            approval,
            working: current
                .duration
                .unwrap_or_default()
                .saturating_sub(approval),
            finished,
        });
        match before {
            Some(d) => current = d,
            None => break,
        }
    }
    chain.reverse();
    chain
}
