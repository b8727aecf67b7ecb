//! Write-ahead intents: the journal side of [`Context::mutate`](drkit_core::Context::mutate).
//!
//! Before a mutating call, an action records what it needs to recognise its own change later
//! (`step_intent`); the record is durable before the call is sent. A resumed step, or its
//! rollback, is given the last intent the journal holds for it and reconciles from it instead
//! of repeating the call.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use drkit_core::{ActionError, ErrorKind, IntentLog, Outputs, async_trait};

use crate::journal::{Event, Journal, Record};

/// The last intent of each step's change (`false`) and compensation (`true`).
pub(crate) type Intents = Arc<Mutex<BTreeMap<(String, bool), Outputs>>>;

/// Writes intents to the run's journal, durably, and keeps the last of each step in memory
/// (a rollback in the same run part starts from it).
#[derive(Debug)]
pub(crate) struct JournalIntents {
    pub(crate) journal: Journal,
    pub(crate) last: Intents,
}

#[async_trait]
impl IntentLog for JournalIntents {
    async fn record(
        &self,
        step: &str,
        rollback: bool,
        intent: &Outputs,
    ) -> Result<(), ActionError> {
        self.journal
            .record_durable(Event::StepIntent {
                step: step.to_owned(),
                rollback,
                intent: intent.clone(),
            })
            .await
            .map_err(|e| {
                ActionError::new(
                    ErrorKind::Other,
                    format!("the intent could not be journalled, so the change was not made: {e}"),
                )
            })?;
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (step.to_owned(), rollback);
        if intent.is_empty() {
            last.remove(&key);
        } else {
            last.insert(key, intent.clone());
        }
        Ok(())
    }
}

/// The last intent of each step's change (`false`) and compensation (`true`) in `records`;
/// a withdrawn (empty) intent removes it.
pub(crate) fn recorded(records: &[Record]) -> BTreeMap<(String, bool), Outputs> {
    let mut intents = BTreeMap::new();
    for record in records {
        if let Event::StepIntent {
            step,
            rollback,
            intent,
        } = &record.event
        {
            let key = (step.clone(), *rollback);
            if intent.is_empty() {
                intents.remove(&key);
            } else {
                intents.insert(key, intent.clone());
            }
        }
    }
    intents
}
