//! How a step ended, and the journal record that says so.

use drkit_core::{ActionError, Outputs};
use tokio::time::Instant;

use crate::journal::{Event, Journal, JournalError};

/// How a step's lifecycle ended: the last phase it reached decides.
#[derive(Debug)]
pub(crate) enum Ending {
    /// Executed and verified.
    Succeeded {
        outputs: Outputs,
        verified: String,
        /// Whether a mutating `execute` completed.
        mutated: bool,
    },
    /// Check said done already.
    Skipped { detail: String, outputs: Outputs },
    /// A phase failed; `mutated` once a mutating `execute` completed (verify failed after it).
    Failed { error: ActionError, mutated: bool },
    /// Cancelled, at a safe point.
    Interrupted(ActionError),
    /// The journal could not record a phase's outcome (an approval decision): the step fails
    /// and nothing more is recorded for it.
    Unrecorded(JournalError),
}

/// How a step task ended, for the scheduler.
#[derive(Debug)]
pub(crate) enum StepEnd {
    Succeeded(Outputs),
    Skipped(Outputs),
    Failed,
    Interrupted,
}

/// What a step task hands back to the scheduler.
#[derive(Debug)]
pub(crate) struct StepResult {
    pub(crate) end: StepEnd,
    /// Whether a mutating `execute` completed (so a rollback must compensate it).
    pub(crate) mutated: bool,
    pub(crate) journal: Result<(), JournalError>,
    /// The failure, as journalled (for a person deciding what happens next).
    pub(crate) error: Option<String>,
    /// What a person chose instead of the step's own `on_failure` (after a failure).
    pub(crate) on_failure: Option<crate::plan::OnFailure>,
    /// Skipped by a person, for this reason: users of its outputs are skipped too.
    pub(crate) operator_skip: Option<String>,
}

impl StepResult {
    /// A step that ended with `end`, its record written (or not: `journal`).
    pub(crate) fn new(end: StepEnd, mutated: bool, journal: Result<(), JournalError>) -> Self {
        Self {
            end,
            mutated,
            journal,
            error: None,
            on_failure: None,
            operator_skip: None,
        }
    }
}

impl Ending {
    /// Records the ending of step `step`, started at `start`, durably: `step_succeeded`,
    /// `step_skipped`, `step_failed` or `step_interrupted` (nothing for
    /// [`Unrecorded`](Self::Unrecorded)).
    pub(crate) async fn record(self, journal: &Journal, step: &str, start: Instant) -> StepResult {
        let step = step.to_owned();
        let (event, end, mutated) = match self {
            Self::Succeeded {
                outputs,
                verified,
                mutated,
            } => (
                Event::StepSucceeded {
                    step,
                    outputs: outputs.clone(),
                    verified,
                    duration: start.elapsed(),
                },
                StepEnd::Succeeded(outputs),
                mutated,
            ),
            Self::Skipped { detail, outputs } => (
                Event::StepSkipped {
                    step,
                    detail,
                    outputs: outputs.clone(),
                    condition: false,
                },
                StepEnd::Skipped(outputs),
                false,
            ),
            Self::Failed { error, mutated } => (
                Event::StepFailed {
                    step,
                    error: error.to_string(),
                    kind: error.kind(),
                    outputs: error.outputs().cloned().unwrap_or_default(),
                    duration: start.elapsed(),
                },
                StepEnd::Failed,
                mutated,
            ),
            Self::Interrupted(error) => (
                Event::StepInterrupted {
                    step,
                    error: error.to_string(),
                },
                StepEnd::Interrupted,
                false,
            ),
            Self::Unrecorded(e) => {
                return StepResult::new(StepEnd::Failed, false, Err(e));
            }
        };
        let error = match &event {
            Event::StepFailed { error, .. } => Some(error.clone()),
            _ => None,
        };
        let mut result = StepResult::new(end, mutated, journal.record_durable(event).await);
        result.error = error;
        result
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use drkit_core::ErrorKind;

    use super::*;
    use crate::phases::testing;

    #[tokio::test(start_paused = true)]
    async fn each_ending_is_recorded_as_its_event() {
        let (journal, _hub, committer) = testing::journal();
        let start = Instant::now();
        tokio::time::advance(Duration::from_secs(3)).await;
        let ok = Ending::Succeeded {
            outputs: Outputs::new().with("arn", "arn:demo"),
            verified: "fine".into(),
            mutated: true,
        }
        .record(&journal, "a", start)
        .await;
        assert!(matches!(ok.end, StepEnd::Succeeded(ref o) if o.get("arn").is_some()));
        assert!(ok.mutated && ok.journal.is_ok());
        let skipped = Ending::Skipped {
            detail: "done".into(),
            outputs: Outputs::new(),
        }
        .record(&journal, "b", start)
        .await;
        assert!(matches!(skipped.end, StepEnd::Skipped(_)) && !skipped.mutated);
        let failed = Ending::Failed {
            error: ActionError::postcondition("not right"),
            mutated: true,
        }
        .record(&journal, "c", start)
        .await;
        assert!(matches!(failed.end, StepEnd::Failed) && failed.mutated);
        let interrupted = Ending::Interrupted(ActionError::cancelled("stop"))
            .record(&journal, "d", start)
            .await;
        assert!(matches!(interrupted.end, StepEnd::Interrupted));
        let unrecorded = Ending::Unrecorded(JournalError::Stopped("disk full".into()))
            .record(&journal, "e", start)
            .await;
        assert!(matches!(unrecorded.end, StepEnd::Failed));
        assert!(unrecorded.journal.is_err());

        let events = testing::events(journal, committer).await;
        assert_eq!(events.len(), 4, "{events:?}");
        assert!(matches!(
            &events[0],
            Event::StepSucceeded { step, verified, duration, .. }
                if step == "a" && verified == "fine" && *duration == Duration::from_secs(3)
        ));
        assert!(
            matches!(&events[1], Event::StepSkipped { step, detail, .. } if step == "b" && detail == "done")
        );
        assert!(matches!(
            &events[2],
            Event::StepFailed { step, kind: ErrorKind::PostconditionFailed, error, .. }
                if step == "c" && error.contains("not right")
        ));
        assert!(matches!(&events[3], Event::StepInterrupted { step, .. } if step == "d"));
    }
}
