//! The conditions a run is made under, as in ARC Region switch: its [`Mode`] (`graceful`: a
//! planned switch or a drill, every region healthy; `ungraceful`: an outage) and the regions
//! known to be impaired.
//!
//! A step not run in the run's mode, or whose region is impaired, is journalled as skipped with
//! the reason and sends no request at all; so is a step that uses an output of a step skipped
//! that way. Such a skip satisfies the step's dependents, and is not a fact about the world: a
//! resume evaluates the step again under its own conditions (e.g. after switching a stuck
//! graceful run to ungraceful, or once the region is back).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::plan::{Plan, PlanInner, Step};

/// How the run treats the regions it leaves.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A planned switch or a drill: every region answers. The default.
    #[default]
    Graceful,
    /// An outage: the regions left may not answer.
    Ungraceful,
}

impl Mode {
    /// Both modes.
    pub const ALL: [Mode; 2] = [Mode::Graceful, Mode::Ungraceful];

    /// `graceful` or `ungraceful`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Graceful => "graceful",
            Mode::Ungraceful => "ungraceful",
        }
    }

    /// The mode named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The run's mode and impaired regions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Conditions {
    /// The mode.
    pub mode: Mode,
    /// Regions known to be impaired: a step whose calls go there is skipped.
    pub impaired_regions: BTreeSet<String>,
}

impl Conditions {
    /// `mode`, no region impaired.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            impaired_regions: BTreeSet::new(),
        }
    }

    /// Marks `regions` impaired.
    #[must_use]
    pub fn impaired(mut self, regions: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.impaired_regions
            .extend(regions.into_iter().map(Into::into));
        self
    }

    /// Why `step`, on its own, is not run under these conditions, if it is not.
    pub fn skip_reason(&self, step: &Step) -> Option<String> {
        if let Some(modes) = step.modes()
            && !modes.contains(&self.mode)
        {
            let only: Vec<&str> = modes.iter().map(|m| m.name()).collect();
            return Some(format!(
                "not run in {} mode (the step runs in: {})",
                self.mode,
                only.join(", ")
            ));
        }
        step.region()
            .filter(|r| self.impaired_regions.contains(*r))
            .map(|r| format!("region {r} impaired"))
    }
}

/// Why step `i` of `plan` is skipped under `conditions`, given why each step launched before
/// it was (`skipped[d]`, `None` when it was not): its own mode or region, else an output it
/// uses of a step skipped that way.
pub(crate) fn skip_reason(
    plan: &PlanInner,
    conditions: &Conditions,
    i: usize,
    skipped: &[Option<String>],
) -> Option<String> {
    let step = &plan.steps[i];
    conditions.skip_reason(step).or_else(|| {
        step.uses.iter().find_map(|r| {
            let d = *plan.index.get(&r.step)?;
            skipped.get(d)?.as_ref().map(|why| {
                format!(
                    "uses output `{}` of step `{}`, which was skipped ({why})",
                    r.output, r.step
                )
            })
        })
    })
}

impl Plan {
    /// The steps skipped under `conditions`, with why, in plan order: what `drkit plan --mode
    /// ... --impaired-region ...` shows before a run.
    pub fn skipped_under(&self, conditions: &Conditions) -> Vec<(String, String)> {
        let inner = &self.inner;
        let mut skipped = vec![None; inner.steps.len()];
        for &i in &inner.topo {
            skipped[i] = skip_reason(inner, conditions, i, &skipped);
        }
        inner
            .steps
            .iter()
            .zip(skipped)
            .filter_map(|(step, why)| Some((step.id.clone(), why?)))
            .collect()
    }
}

/// Whether `name` looks like an AWS region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`,
/// `ap-southeast-7`): lowercase words joined by `-`, ending in a number.
pub fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && words.len() <= 3
        && words
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
        && words[0].len() == 2
        && !number.is_empty()
        && number.len() <= 2
        && number.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for ok in [
            "us-east-1",
            "us-west-2",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-7",
        ] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "",
            "us",
            "us-east",
            "US-EAST-1",
            "us-east-1a",
            "useast1",
            "us--1",
            "x-y-1",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn modes_parse_and_print() {
        assert_eq!(Mode::parse("ungraceful"), Some(Mode::Ungraceful));
        assert_eq!(Mode::parse("Graceful"), None);
        assert_eq!(Mode::default().to_string(), "graceful");
    }
}
