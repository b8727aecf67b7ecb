//! Errors of plan validation and of runs.

use std::fmt;

use crate::journal::JournalError;
use crate::report::Report;

/// One thing wrong with a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanProblem {
    /// The plan has no step.
    Empty,
    /// Several steps share an id.
    DuplicateId {
        /// The id.
        id: String,
    },
    /// A step depends on a step that is not in the plan.
    UnknownDependency {
        /// The step.
        step: String,
        /// The missing dependency.
        dependency: String,
    },
    /// Steps that depend on each other in a cycle.
    Cycle {
        /// The steps of the cycle, in plan order.
        steps: Vec<String>,
    },
    /// A step uses the output of a step that is not in the plan.
    UnknownReference {
        /// The step.
        step: String,
        /// The reference, as written.
        reference: String,
    },
    /// A step uses the output of a step that does not run before it.
    NotAnAncestor {
        /// The step.
        step: String,
        /// The reference, as written.
        reference: String,
    },
    /// A `${...}` reference that does not have the `${steps.<id>.outputs.<name>}` shape.
    MalformedReference {
        /// The step.
        step: String,
        /// The text.
        text: String,
    },
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the plan has no step"),
            Self::DuplicateId { id } => write!(f, "step id `{id}` is used more than once"),
            Self::UnknownDependency { step, dependency } => {
                write!(
                    f,
                    "step `{step}` depends on `{dependency}`, which is not in the plan"
                )
            }
            Self::Cycle { steps } => write!(
                f,
                "steps {} depend on each other in a cycle",
                steps
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::UnknownReference { step, reference } => write!(
                f,
                "step `{step}` uses {reference}, but that step is not in the plan"
            ),
            Self::NotAnAncestor { step, reference } => write!(
                f,
                "step `{step}` uses {reference}, but that step does not run before it \
                 (add it to `depends_on`, directly or through another step)"
            ),
            Self::MalformedReference { step, text } => write!(
                f,
                "step `{step}`: `{text}` is not a reference of the form \
                 `${{steps.<id>.outputs.<name>}}`"
            ),
        }
    }
}

/// Why a plan is invalid: every problem found, each naming its steps.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PlanError {
    /// The plan's name.
    pub plan: String,
    /// What is wrong, in plan order.
    pub problems: Vec<PlanProblem>,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plan `{}` is invalid: ", self.plan)?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// Why a run did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The run ended, but not with every step done: a step failed, the run was interrupted,
    /// or it was rolled back. The report says which steps and why.
    #[error("plan `{}` {}{}", .0.plan, .0.outcome_text(), failed_steps(.0))]
    Unsuccessful(Box<Report>),
    /// The journal could not be written or read: the run stopped launching steps.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A resume was asked for, but the journal holds no run of this plan.
    #[error("nothing to resume: the journal holds no run of plan `{plan}`")]
    NothingToResume {
        /// The plan.
        plan: String,
    },
    /// A resume was asked for, but the journal's last run failed and its rollback finished:
    /// every compensated change stays compensated, nothing is done (a new run starts over).
    #[error(
        "nothing to resume: run `{run}` of plan `{plan}` failed and was rolled back; a resume \
         never applies a compensated change again (start a new run to go forward)"
    )]
    RolledBack {
        /// The plan.
        plan: String,
        /// The run.
        run: String,
    },
    /// An operator decision (`--retry`, `--skip`) that cannot apply: an unknown step, a step
    /// already done, or no run to resume. Nothing was changed or journalled.
    #[error("{0}")]
    OperatorDecision(String),
    /// The journal's run was of a different plan (steps or dependencies changed).
    #[error(
        "cannot resume run `{run}`: the plan `{plan}` changed since (journal fingerprint \
         {journal}, plan fingerprint {current})"
    )]
    PlanChanged {
        /// The plan.
        plan: String,
        /// The run.
        run: String,
        /// The fingerprint in the journal.
        journal: String,
        /// The plan's fingerprint now.
        current: String,
    },
}

fn failed_steps(report: &Report) -> String {
    let failed: Vec<String> = report
        .failures()
        .map(|s| format!("`{}`: {}", s.id, s.error.as_deref().unwrap_or("")))
        .collect();
    if failed.is_empty() {
        String::new()
    } else {
        format!(" ({})", failed.join("; "))
    }
}

impl RunError {
    /// The report of an unsuccessful run.
    pub fn report(&self) -> Option<&Report> {
        match self {
            Self::Unsuccessful(report) => Some(report),
            _ => None,
        }
    }
}
