//! Helpers shared by the mocked-port unit tests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use drkit_core::{ActionError, ErrorKind, IntentLog, Outputs, ProgressEvent, ProgressKind};
use mockall::predicate::eq;

use crate::port::{MockElastiCacheApi, NodeGroup, NodeGroupMember, ReplicationGroup};

pub(crate) const GROUP: &str = "mint-cache";

/// A cluster-mode-disabled group with node group `0001`: `primary` first, then `replicas`.
pub(crate) fn group(status: &str, primary: &str, replicas: &[&str]) -> ReplicationGroup {
    let mut members = vec![NodeGroupMember::primary(primary)];
    members.extend(replicas.iter().map(|r| NodeGroupMember::replica(*r)));
    ReplicationGroup::new(GROUP, status, vec![NodeGroup::new("0001", status, members)])
}

/// The same with automatic failover and Multi-AZ enabled.
pub(crate) fn multi_az(status: &str, primary: &str, replicas: &[&str]) -> ReplicationGroup {
    let mut g = group(status, primary, replicas);
    g.automatic_failover = "enabled".into();
    g.multi_az = "enabled".into();
    g
}

/// `g` with automatic failover `automatic_failover` and Multi-AZ `multi_az` (`enabled`,
/// `disabled`, `enabling`, `disabling`).
pub(crate) fn with_settings(
    mut g: ReplicationGroup,
    automatic_failover: &str,
    multi_az: &str,
) -> ReplicationGroup {
    g.automatic_failover = automatic_failover.into();
    g.multi_az = multi_az.into();
    g
}

/// `describe_replication_group` answers these states in order, repeating the last one.
pub(crate) fn states(
    api: &mut MockElastiCacheApi,
    states: Vec<Result<ReplicationGroup, ActionError>>,
) {
    let queue = Mutex::new(VecDeque::from(states));
    api.expect_describe_replication_group()
        .with(eq(GROUP))
        .returning(move |_| {
            let mut queue = queue.lock().unwrap();
            if queue.len() > 1 {
                queue.pop_front().unwrap()
            } else {
                match queue.front().unwrap() {
                    Ok(g) => Ok(g.clone()),
                    Err(e) => Err(ActionError::new(e.kind(), e.message())),
                }
            }
        });
}

pub(crate) fn throttled() -> ActionError {
    ActionError::new(ErrorKind::Throttled, "Rate exceeded").with_code("Throttling")
}

pub(crate) fn recorder() -> (
    Arc<Mutex<Vec<ProgressEvent>>>,
    impl Fn(ProgressEvent) + Send + Sync + 'static,
) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let events = Arc::clone(&events);
        move |e| events.lock().unwrap().push(e)
    };
    (events, sink)
}

pub(crate) fn polls(events: &Mutex<Vec<ProgressEvent>>) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            ProgressKind::Poll { state, .. } => Some(state.clone()),
            _ => None,
        })
        .collect()
}

/// An answer that never came: no AWS error code (the connection broke after the request left).
pub(crate) fn lost() -> ActionError {
    ActionError::new(
        ErrorKind::Unavailable,
        "dispatch failure: connection closed before message completed",
    )
}

/// A refusal by AWS: an error code (classified as drkit-aws would).
pub(crate) fn refused(kind: ErrorKind, code: &str, message: &str) -> ActionError {
    ActionError::new(kind, message.to_owned()).with_code(code.to_owned())
}

/// The journal of a step's intents, as the runner keeps it: each record in order, `rollback`
/// for the compensation's.
#[derive(Debug, Default)]
pub(crate) struct Journal(Mutex<Vec<(bool, Outputs)>>);

#[async_trait::async_trait]
impl IntentLog for Journal {
    async fn record(
        &self,
        _step: &str,
        rollback: bool,
        intent: &Outputs,
    ) -> Result<(), ActionError> {
        self.0.lock().unwrap().push((rollback, intent.clone()));
        Ok(())
    }
}

impl Journal {
    /// Each record's `key` (`withdrawn` for an empty intent), `rollback:` before a
    /// compensation's.
    pub(crate) fn records(&self, key: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(rollback, intent)| {
                let value = if intent.is_empty() {
                    "withdrawn".to_owned()
                } else {
                    intent.get_str(key).unwrap_or("?").to_owned()
                };
                if *rollback {
                    format!("rollback:{value}")
                } else {
                    value
                }
            })
            .collect()
    }

    /// The last record's `key`.
    pub(crate) fn last(&self, key: &str) -> Option<String> {
        self.records(key).pop()
    }
}
