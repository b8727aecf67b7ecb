//! What a dry run reports: per step, what its check said it would do.

use serde::Serialize;

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
    /// Not run under the run's conditions (its mode, an impaired region, or an output of a step
    /// skipped so): no request is sent for it.
    Skipped {
        /// Why.
        reason: String,
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
                DryRunState::Skipped { reason } => format!("nothing (skipped: {reason})"),
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
