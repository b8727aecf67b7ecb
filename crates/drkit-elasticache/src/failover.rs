//! `elasticache.test_failover`: ElastiCache's managed failover of one node group
//! (`TestFailover`), waiting until a new primary serves.

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::once::{Once, Sent};
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Memo, Outputs, Params,
    Poll, PortFactory, StepSpec, wait_until,
};
use serde::Deserialize;
use tokio::time::Instant;

use crate::common::{group_id, group_resource, node_group_id};
use crate::port::{ElastiCacheApi, NodeGroup, ReplicationGroup};

/// The error codes AWS answers `TestFailover` with once its quota is used up.
pub(crate) const QUOTA_CODES: &[&str] = &[
    "TestFailoverNotAvailableFault",
    "APICallRateForCustomerExceeded",
];

/// The parameters of `elasticache.test_failover`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TestFailoverParams {
    /// The replication group id, e.g. `mint-cache`.
    pub replication_group: String,
    /// The node group (shard) to fail over, e.g. `0001`.
    pub node_group: String,
}

impl TestFailoverParams {
    /// Fail over `node_group` of `replication_group`.
    pub fn new(replication_group: impl Into<String>, node_group: impl Into<String>) -> Self {
        Self {
            replication_group: replication_group.into(),
            node_group: node_group.into(),
        }
    }
}

/// Runs ElastiCache's managed failover of one node group (`TestFailover`) and waits until a
/// member other than the old primary is the primary, with the node group and the group
/// `available`.
///
/// AWS limits `TestFailover` to a few node groups per account in any rolling 24 hours (5 in
/// older API references, 15 in the current one), and may block it during large-scale events.
/// Once refused, AWS answers `TestFailoverNotAvailableFault` or `APICallRateForCustomerExceeded`,
/// which this action turns into a non-retryable error that says so (a retry cannot succeed until
/// older calls leave the 24-hour window).
///
/// - `check`: the group exists, is `available`, has automatic failover `enabled` (TestFailover
///   needs it), the node group exists, is `available`, with a known primary and at least one
///   replica. A failover
///   is an event, not a state: `check` says done only for the failover this action requested.
/// - `execute`: the call, then the wait. Executed again after a failure, it does not call again
///   (that would use up the quota and fail back): it waits for the failover it requested.
/// - `verify`: the node group's primary is not the one this action failed over from.
/// - No rollback: failing back would be another `TestFailover` call; run this action again.
///
/// Outputs: `primary`, `previous_primary`, `node_group`, `status`.
#[derive(Debug, HasBase)]
pub struct TestFailover {
    base: Base<Self>,
    /// The primary this action failed over from, once it has called `TestFailover`.
    requested_from: Memo<String>,
}

impl ActionKind for TestFailover {
    const KIND: &'static str = "elasticache.test_failover";
    const SUMMARY: &'static str = "Run ElastiCache's managed failover (TestFailover) of a node \
                                   group and wait until a new primary serves; AWS allows only a \
                                   few such calls per rolling 24 hours";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "elasticache:DescribeReplicationGroups",
        "elasticache:TestFailover",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("primary", "the node group's new primary"),
        OutputDoc::new("previous_primary", "the primary it failed over from"),
        OutputDoc::new("node_group", "the node group id"),
        OutputDoc::new("status", "the group status at the end"),
    ];
    type Params = TestFailoverParams;
    type Port = dyn ElastiCacheApi;
    type Ports = PortFactory<dyn ElastiCacheApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        group_id(&p.replication_group)?;
        node_group_id(&p.node_group)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let port = ports.get(step.region());
        let region = step.region.clone();
        Ok(Self::new(step.id, step.params, port, region.as_deref()))
    }
}

/// Turns AWS's quota answer into an error that says what it means; other errors pass through.
pub(crate) fn explain_quota(err: ActionError) -> ActionError {
    let Some(code) = err
        .code()
        .filter(|c| QUOTA_CODES.contains(c))
        .map(str::to_owned)
    else {
        return err;
    };
    ActionError::new(
        ErrorKind::Conflict,
        format!(
            "AWS refused TestFailover ({}): it allows only a few TestFailover calls per \
             account in any rolling 24 hours (5 in older API references, 15 in the current one) \
             and this quota is used up, or AWS blocks TestFailover for now; retrying will not \
             help until older calls leave the 24-hour window: promote a replica with \
             elasticache.set_primary instead, or try again later",
            err.message()
        ),
    )
    .with_code(code)
    .with_operation("TestFailover")
    .with_source(err)
}

impl TestFailover {
    /// A failover step `id` with `params`, talking to ElastiCache through `api`; `region` only
    /// labels the resource (the `api` is already bound to a region).
    pub fn new(
        id: impl Into<String>,
        params: TestFailoverParams,
        api: Arc<dyn ElastiCacheApi>,
        region: Option<&str>,
    ) -> Self {
        let target = group_resource(&params.replication_group).in_region(region);
        Self {
            base: Base::new(id, params, target, api),
            requested_from: Memo::default(),
        }
    }

    /// The primary this step failed over from, once it called `TestFailover`: in memory, else
    /// from the intent recorded before the call (this attempt, an earlier one, or the run
    /// `drkit resume` continues).
    fn requested_from(&self, ctx: &Context) -> Option<String> {
        self.requested_from
            .or_intent(ctx, |i| i.get_str("from").map(str::to_owned))
    }

    async fn describe(&self, ctx: &Context) -> Result<ReplicationGroup, ActionError> {
        ctx.bounded(
            self.base
                .port
                .describe_replication_group(&self.base.params.replication_group),
        )
        .await
    }

    fn node_group<'g>(&self, group: &'g ReplicationGroup) -> Option<&'g NodeGroup> {
        group.node_group(&self.base.params.node_group)
    }

    /// Whether a new primary serves, given the primary the failover started from.
    fn is_complete(&self, group: &ReplicationGroup, from: &str) -> bool {
        let Some(ng) = self.node_group(group) else {
            return false;
        };
        group.is_available()
            && ng.is_available()
            && ng.primary().is_some_and(|primary| primary != from)
    }

    fn summary(&self, group: &ReplicationGroup) -> String {
        match self.node_group(group) {
            Some(ng) => format!(
                "status={}, node group {} {} with primary {}",
                group.status,
                ng.id,
                ng.status,
                ng.primary().unwrap_or("unknown")
            ),
            None => format!(
                "status={}, node group {} missing",
                group.status, self.base.params.node_group
            ),
        }
    }

    fn outputs(&self, group: &ReplicationGroup, previous: &str) -> Outputs {
        let primary = self
            .node_group(group)
            .and_then(NodeGroup::primary)
            .unwrap_or_default();
        Outputs::new()
            .with("primary", primary)
            .with("previous_primary", previous)
            .with("node_group", self.base.params.node_group.clone())
            .with("status", group.status.clone())
    }

    /// Why the node group cannot be failed over now, if it cannot.
    fn blocker(&self, group: &ReplicationGroup) -> Option<String> {
        let Some(ng) = self.node_group(group) else {
            let ids: Vec<_> = group.node_groups.iter().map(|n| n.id.as_str()).collect();
            return Some(format!(
                "replication group {} has no node group {} (node groups: {})",
                group.id,
                self.base.params.node_group,
                ids.join(", ")
            ));
        };
        if !group.is_available() {
            return Some(format!(
                "replication group {} is {}, not available",
                group.id, group.status
            ));
        }
        if !ng.is_available() {
            // E.g. a failover already under way (perhaps from an earlier call whose answer was
            // lost): never start another one on top of it.
            return Some(format!(
                "node group {} of replication group {} is {}, not available",
                ng.id, group.id, ng.status
            ));
        }
        if group.automatic_failover != "enabled" {
            return Some(format!(
                "replication group {} has automatic failover {}: TestFailover needs it enabled",
                group.id, group.automatic_failover
            ));
        }
        if ng.primary().is_none() {
            return Some(format!(
                "ElastiCache does not report which member of node group {} is primary (cluster \
                 mode enabled?), so drkit cannot tell when a new primary serves",
                ng.id
            ));
        }
        if ng.replicas().next().is_none() {
            return Some(format!(
                "node group {} of replication group {} has no replica to fail over to",
                ng.id, group.id
            ));
        }
        None
    }
}

#[async_trait]
impl Act for TestFailover {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let group = match self.describe(ctx).await {
            Ok(group) => group,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "replication group {} does not exist",
                    self.base.params.replication_group
                )));
            }
            Err(e) => return Err(e),
        };
        if let Some(from) = self.requested_from(ctx) {
            if self.is_complete(&group, &from) {
                return Ok(Check::Done {
                    detail: format!(
                        "node group {} of {} failed over from {from}: {}",
                        self.base.params.node_group,
                        group.id,
                        self.summary(&group)
                    ),
                    outputs: self.outputs(&group, &from),
                });
            }
            return Ok(Check::ready(format!(
                "wait for the failover of node group {} of {} (from {from}), already requested; \
                 now {}",
                self.base.params.node_group,
                group.id,
                self.summary(&group)
            )));
        }
        if let Some(reason) = self.blocker(&group) {
            return Ok(Check::blocked(reason));
        }
        let (primary, replicas) = match self.node_group(&group) {
            Some(ng) => (
                ng.primary().unwrap_or("unknown"),
                ng.replicas()
                    .map(|m| m.cache_cluster_id.as_str())
                    .collect::<Vec<_>>(),
            ),
            None => ("unknown", Vec::new()),
        };
        Ok(Check::ready(format!(
            "TestFailover of node group {} of replication group {}: primary {primary} -> one of \
             [{}] (uses one of the few TestFailover calls AWS allows per rolling 24 hours)",
            self.base.params.node_group,
            group.id,
            replicas.join(", ")
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let started = Instant::now();
        let p = &self.base.params;
        // Already requested (by this step before, or the run a resume continues): waited on as
        // an answered request.
        let mut sent = Sent::Answered;
        let from = match self.requested_from(ctx) {
            Some(from) => {
                ctx.progress(format!(
                    "failover from {from} already requested; waiting for it"
                ));
                from
            }
            None => {
                let group = self.describe(ctx).await?;
                if let Some(reason) = self.blocker(&group) {
                    return Err(ActionError::precondition(reason));
                }
                let from = self
                    .node_group(&group)
                    .and_then(NodeGroup::primary)
                    .unwrap_or_default()
                    .to_owned();
                let intent = Outputs::new()
                    .with("from", from.as_str())
                    .with("node_group", self.base.params.node_group.as_str());
                let what = format!(
                    "node group {} of {} (primary was {from})",
                    p.node_group, p.replication_group
                );
                // Never sent again: a second call would use up the quota and may fail back.
                sent = Once::new("TestFailover", &what, &self.base.wait)
                    .send_one(
                        ctx,
                        intent,
                        self.base
                            .port
                            .test_failover(&p.replication_group, &p.node_group),
                    )
                    .await
                    .map_err(explain_quota)?;
                self.requested_from.set(from.clone());
                from
            }
        };
        let what = format!(
            "a new primary of node group {} of {}",
            p.node_group, p.replication_group
        );
        let group = wait_until(ctx, &what, &self.base.wait, || async {
            let group = self.describe(ctx).await?;
            Ok(if self.is_complete(&group, &from) {
                Poll::Ready(group)
            } else {
                Poll::Pending(self.summary(&group))
            })
        })
        .await
        // Still the old primary: the call may never have reached ElastiCache. Not sent again
        // blindly: the operator decides (the group's events show whether it started).
        .map_err(|e| {
            sent.explain(
                e,
                "TestFailover",
                "the replication group's events (aws elasticache describe-events)",
            )
        })?;
        ctx.progress(format!(
            "node group {} of {} failed over from {from} after {:.3} s: {}",
            self.base.params.node_group,
            group.id,
            started.elapsed().as_secs_f64(),
            self.summary(&group)
        ));
        Ok(self.outputs(&group, &from))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let Some(from) = self.requested_from(ctx) else {
            return Err(ActionError::postcondition(
                "this action has not failed the node group over",
            ));
        };
        let group = self.describe(ctx).await?;
        if self.is_complete(&group, &from) {
            Ok(format!(
                "node group {} of {} failed over from {from}: {}",
                self.base.params.node_group,
                group.id,
                self.summary(&group)
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "node group {} of {} has not failed over from {from}: {}",
                self.base.params.node_group,
                group.id,
                self.summary(&group)
            )))
        }
    }
}

#[cfg(test)]
#[path = "failover_tests.rs"]
mod tests;
