//! Helpers shared by the mocked-port unit tests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use drkit_core::{ActionError, ErrorKind, ProgressEvent, ProgressKind};
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
