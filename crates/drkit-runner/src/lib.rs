//! # drkit-runner
//!
//! Composes [`RecoveryAction`](drkit_core::RecoveryAction)s into a recovery [`Plan`] (a DAG) and
//! runs it the way an incident commander needs: independent steps concurrently, dependent
//! steps in order, every state change in a durable [`journal`], and always able to say what
//! happened. It knows nothing about AWS.
//!
//! - [`Plan`] / [`Step`]: steps with `depends_on`, a [`Tier`], a [`StepPolicy`] (time-out, retry,
//!   [`OnFailure`], approval) and [`Guard`]s; validated before anything runs ([`PlanError`]
//!   names every offending step). A step's action can be built lazily from earlier steps'
//!   outputs ([`Step::deferred`], [`Step::from_spec`], [`OutputRef`]); a reference to a step
//!   that is not an ancestor is a validation error.
//! - [`Runner`]: runs, resumes and dry-runs plans: plan-wide and per-service concurrency
//!   limits, check before / verify after each step, cancellation, rollback.
//! - [`journal`]: append-only JSON lines, group-committed and fsynced before any dependent step
//!   starts; [`JournalStore`] with a local-file store and a lock.
//! - [`rto`]: RTO budgets per tier and RPO objectives per data class, with verdicts.
//! - [`events`]: a broadcast of [`RunEvent`]s and sinks (tracing, JSON lines, webhook).
//! - [`Report`]: Markdown and JSON, built from the journal alone: RTO verdicts with each tier's
//!   critical path and the time until it was healthy; with an earlier run, the trend.
//! - [`Approver`]: approval gates, with the approver's identity in the journal.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime};
//! use drkit_core::{ActionRef, Check, MockRecoveryAction, Outputs, Resource};
//! use drkit_runner::{OnFailure, Plan, Runner, Step, Tier};
//!
//! fn action(id: &str) -> ActionRef {
//!     let mut m = MockRecoveryAction::new();
//!     m.expect_id().return_const(id.to_owned());
//!     m.expect_kind().return_const("demo.touch");
//!     m.expect_target().return_const(Resource::new("demo", "thing", id));
//!     m.expect_mutates().return_const(true);
//!     m.expect_check().returning(|_| Ok(Check::ready("touch it")));
//!     m.expect_execute().returning(|_| Ok(Outputs::new().with("arn", "arn:demo")));
//!     m.expect_verify().returning(|_| Ok("touched".into()));
//!     Arc::new(m)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let plan = Plan::new(
//!     "failover",
//!     vec![
//!         Step::new(action("fence")).tier(Tier::Critical),
//!         Step::new(action("promote"))
//!             .tier(Tier::Critical)
//!             .depends_on(["fence"])
//!             .timeout(Duration::from_secs(30 * 60))
//!             .on_failure(OnFailure::Rollback),
//!     ],
//! )
//! .unwrap();
//! let report = Runner::new()
//!     .with_incident_start(SystemTime::now() - Duration::from_secs(600))
//!     .run(&plan)
//!     .await
//!     .unwrap();
//! assert!(report.is_success());
//! assert!(report.to_markdown().contains("| critical (2 steps) | 1h |"));
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod approval;
mod clock;
mod conditions;
mod dry_run;
mod error;
pub mod events;
mod guard;
pub mod journal;
mod lease;
mod operator;
mod pause;
mod phases;
mod plan;
mod readiness;
mod report;
pub mod rto;
mod runner;
mod scheduler;

pub use approval::{
    ApprovalPolicy, ApprovalRequest, Approver, AutoApprove, Decision, PromptApprover,
};
pub use conditions::{Conditions, Mode, is_region_name};
pub use dry_run::{DryRunReport, DryRunState, DryRunStep};
pub use error::{PlanError, PlanProblem, RunError};
pub use events::{RunEvent, RunEventKind, RunEventSink};
pub use guard::{Guard, GuardVerdict, ProbeGuard};
pub use journal::{
    Batch, Event, FileJournalStore, JournalError, JournalLock, JournalStore, LockHolder, Record,
    last_run_source, parse_lines,
};
pub use lease::LockLoss;
pub use operator::{OperatorChoice, OperatorDecisions};
pub use pause::{FailureChoice, FailureHandler, FailureRequest};
pub use plan::{
    OnFailure, OutputRef, Plan, PlanSource, Step, StepInputs, StepPolicy, text_fingerprint,
};
pub use readiness::{Permissions, Readiness, ReadinessReport, StepReadiness};
pub use report::{
    ModeSwitch, NoRun, Outcome, PathStep, Report, StepReport, StepState, StepTrend, Trend,
};
pub use rto::{RpoObjectives, RtoBudgets, Tier, Verdict};
pub use runner::{DEFAULT_ROLLBACK_TIMEOUT, Runner};
