//! Each step's duration against the plan's previous successful run.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::Report;
use crate::journal::{Event, Record};

/// A run's step durations against the plan's previous successful run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// The previous successful run.
    pub previous_run: String,
    /// When it started.
    #[serde(with = "crate::clock::rfc3339")]
    pub previous_started: SystemTime,
    /// Every step done the same way in both runs (executed in both, or found done in both),
    /// the largest slow-down first.
    pub steps: Vec<StepTrend>,
}

/// One step's duration in two runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepTrend {
    /// The step.
    pub step: String,
    /// Its duration in the previous run.
    #[serde(with = "humantime_serde")]
    pub previous: Duration,
    /// Its duration in this run.
    #[serde(with = "humantime_serde")]
    pub now: Duration,
    /// `now - previous`, in seconds: positive when it got slower.
    pub change_secs: f64,
}

impl StepTrend {
    /// Whether the step got slower, by a millisecond (the report's resolution) or more.
    pub fn is_regression(&self) -> bool {
        self.change_secs >= 0.001
    }
}

/// The last run of `report`'s plan in `records`, started before it, that succeeded.
pub(super) fn previous_success(report: &Report, records: &[Record]) -> Option<Report> {
    let mut runs: Vec<&str> = Vec::new();
    for r in records {
        if let Event::RunStarted {
            resumed: false,
            plan,
            ..
        } = &r.event
            && plan == &report.plan
            && r.run != report.run
            && r.at < report.started
            && !runs.contains(&r.run.as_str())
        {
            runs.push(&r.run);
        }
    }
    runs.iter()
        .rev()
        .filter_map(|run| Report::for_run(records, run).ok())
        .find(|p| p.is_success())
}

/// `now`'s step durations against `previous`'s.
pub(super) fn trend(previous: &Report, now: &Report) -> Trend {
    let mut steps: Vec<StepTrend> = now
        .steps
        .iter()
        .filter_map(|s| {
            let p = previous.step(&s.id)?;
            if p.state != s.state || !s.state.is_done() {
                return None;
            }
            let (before, after) = (p.duration?, s.duration?);
            Some(StepTrend {
                step: s.id.clone(),
                previous: before,
                now: after,
                change_secs: after.as_secs_f64() - before.as_secs_f64(),
            })
        })
        .collect();
    steps.sort_by(|a, b| b.change_secs.total_cmp(&a.change_secs));
    Trend {
        previous_run: previous.run.clone(),
        previous_started: previous.started,
        steps,
    }
}
