//! `elasticache.set_primary`: promote a replica of a replication group to primary (the seed's
//! "promote read replica").

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params, Poll,
    PortFactory, StepSpec, wait_until,
};
use serde::Deserialize;
use tokio::time::Instant;

use crate::common::{group_id, group_resource, identifier};
use crate::port::{ElastiCacheApi, ReplicationGroup};

/// The parameters of `elasticache.set_primary`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SetPrimaryParams {
    /// The replication group id, e.g. `mint-cache`.
    pub replication_group: String,
    /// The member (cache cluster id) to promote, e.g. `mint-cache-002`.
    pub primary_cluster: String,
}

impl SetPrimaryParams {
    /// Promote `primary_cluster` in `replication_group`.
    pub fn new(replication_group: impl Into<String>, primary_cluster: impl Into<String>) -> Self {
        Self {
            replication_group: replication_group.into(),
            primary_cluster: primary_cluster.into(),
        }
    }
}

/// Promotes a member of a cluster-mode-disabled replication group to primary with
/// `ModifyReplicationGroup` (`PrimaryClusterId`, `ApplyImmediately`), and waits until it is the
/// primary of an `available` group.
///
/// - `check`: the group exists, has cluster mode disabled, is `available`, does not have
///   Multi-AZ enabled (ElastiCache does not promote a replica by hand then: disable Multi-AZ
///   first, or use `elasticache.test_failover`), and `primary_cluster` is one of its members;
///   already the primary -> done.
/// - `execute`: the call, then the wait. Executed again after a failure, it does not call again:
///   it waits for the promotion it requested.
/// - `verify`: `primary_cluster` is the primary of an `available` group.
/// - `rollback`: promotes the primary it replaced (only if this action promoted).
///
/// Outputs: `primary`, `previous_primary`, `status`.
#[derive(Debug, HasBase)]
pub struct SetPrimary {
    base: Base<Self>,
    /// The primary this action replaced, once it has called `ModifyReplicationGroup`.
    requested_from: Mutex<Option<String>>,
}

impl ActionKind for SetPrimary {
    const KIND: &'static str = "elasticache.set_primary";
    const SUMMARY: &'static str = "Promote a replica of a cluster-mode-disabled replication group \
                                   to primary and wait until it serves";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "elasticache:DescribeReplicationGroups",
        "elasticache:ModifyReplicationGroup",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("primary", "the primary at the end"),
        OutputDoc::new(
            "previous_primary",
            "the primary before the promotion (empty when nothing had to change)",
        ),
        OutputDoc::new("status", "the group status at the end"),
    ];
    type Params = SetPrimaryParams;
    type Port = dyn ElastiCacheApi;
    type Ports = PortFactory<dyn ElastiCacheApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        group_id(&p.replication_group)?;
        identifier("primary_cluster", &p.primary_cluster, 50)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let port = ports.get(step.region());
        let region = step.region.clone();
        Ok(Self::new(step.id, step.params, port, region.as_deref()))
    }
}

impl SetPrimary {
    /// A promotion step `id` with `params`, talking to ElastiCache through `api`; `region` only
    /// labels the resource (the `api` is already bound to a region).
    pub fn new(
        id: impl Into<String>,
        params: SetPrimaryParams,
        api: Arc<dyn ElastiCacheApi>,
        region: Option<&str>,
    ) -> Self {
        let target = group_resource(&params.replication_group).in_region(region);
        Self {
            base: Base::new(id, params, target, api),
            requested_from: Mutex::new(None),
        }
    }

    fn requested_from(&self) -> Option<String> {
        self.requested_from
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_requested_from(&self, primary: Option<String>) {
        *self
            .requested_from
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = primary;
    }

    async fn describe(&self, ctx: &Context) -> Result<ReplicationGroup, ActionError> {
        ctx.bounded(
            self.base
                .port
                .describe_replication_group(&self.base.params.replication_group),
        )
        .await
    }

    fn is_complete(&self, group: &ReplicationGroup) -> bool {
        group.is_available() && group.primary() == Some(self.base.params.primary_cluster.as_str())
    }

    fn outputs(group: &ReplicationGroup, previous: Option<&str>) -> Outputs {
        Outputs::new()
            .with("primary", group.primary().unwrap_or_default())
            .with("previous_primary", previous.unwrap_or_default())
            .with("status", group.status.clone())
    }

    /// Why the member cannot be promoted now, if it cannot.
    fn blocker(&self, group: &ReplicationGroup) -> Option<String> {
        if group.cluster_enabled {
            return Some(format!(
                "replication group {} has cluster mode enabled: PrimaryClusterId applies to \
                 cluster-mode-disabled groups only (use elasticache.test_failover per node group)",
                group.id
            ));
        }
        if !group.is_available() {
            return Some(format!(
                "replication group {} is {}, not available",
                group.id, group.status
            ));
        }
        if group
            .node_group_of(&self.base.params.primary_cluster)
            .is_none()
        {
            return Some(format!(
                "{} is not a member of replication group {} (members: {})",
                self.base.params.primary_cluster,
                group.id,
                group.member_ids().join(", ")
            ));
        }
        if group.multi_az == "enabled" {
            return Some(format!(
                "replication group {} has Multi-AZ enabled: ElastiCache does not promote a \
                 replica by hand then; disable Multi-AZ first, or use elasticache.test_failover",
                group.id
            ));
        }
        None
    }
}

#[async_trait]
impl Act for SetPrimary {
    fn can_undo(&self) -> bool {
        true
    }

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
        let from = self.requested_from();
        if self.is_complete(&group) {
            return Ok(Check::Done {
                detail: format!(
                    "{} is the primary of available replication group {}",
                    self.base.params.primary_cluster, group.id
                ),
                outputs: Self::outputs(&group, from.as_deref()),
            });
        }
        if let Some(from) = from {
            return Ok(Check::ready(format!(
                "wait for the promotion of {} in replication group {} (from {from}), already \
                 requested; now {}",
                self.base.params.primary_cluster,
                group.id,
                group.summary()
            )));
        }
        if let Some(reason) = self.blocker(&group) {
            return Ok(Check::blocked(reason));
        }
        Ok(Check::ready(format!(
            "promote {} to primary of replication group {}: primary {} -> {}",
            self.base.params.primary_cluster,
            group.id,
            group.primary().unwrap_or("unknown"),
            self.base.params.primary_cluster
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let started = Instant::now();
        let from = match self.requested_from() {
            Some(from) => {
                ctx.progress(format!(
                    "promotion of {} already requested; waiting for it",
                    self.base.params.primary_cluster
                ));
                from
            }
            None => {
                let group = self.describe(ctx).await?;
                if self.is_complete(&group) {
                    ctx.progress(format!(
                        "{} is already the primary",
                        self.base.params.primary_cluster
                    ));
                    return Ok(Self::outputs(&group, None));
                }
                if let Some(reason) = self.blocker(&group) {
                    return Err(ActionError::precondition(reason));
                }
                let from = group.primary().unwrap_or_default().to_owned();
                ctx.bounded(self.base.port.set_primary_cluster(
                    &self.base.params.replication_group,
                    &self.base.params.primary_cluster,
                ))
                .await
                .map_err(|e| e.with_operation("ModifyReplicationGroup"))?;
                self.set_requested_from(Some(from.clone()));
                ctx.progress(format!(
                    "ModifyReplicationGroup accepted: {} -> {} in {}",
                    if from.is_empty() { "unknown" } else { &from },
                    self.base.params.primary_cluster,
                    self.base.params.replication_group
                ));
                from
            }
        };
        let what = format!(
            "{} to be the primary of an available {}",
            self.base.params.primary_cluster, self.base.params.replication_group
        );
        let group = wait_until(ctx, &what, &self.base.wait, || async {
            let group = self.describe(ctx).await?;
            Ok(if self.is_complete(&group) {
                Poll::Ready(group)
            } else {
                Poll::Pending(group.summary())
            })
        })
        .await?;
        ctx.progress(format!(
            "{} is the primary of {} after {:.3} s",
            self.base.params.primary_cluster,
            group.id,
            started.elapsed().as_secs_f64()
        ));
        Ok(Self::outputs(&group, Some(&from)))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let group = self.describe(ctx).await?;
        if self.is_complete(&group) {
            Ok(format!(
                "{} is the primary of available replication group {}",
                self.base.params.primary_cluster, group.id
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "{} is not the primary of an available replication group {}: {}",
                self.base.params.primary_cluster,
                group.id,
                group.summary()
            )))
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        // What this instance did, else (after a resume) what the step recorded.
        let recorded = || {
            let out = ctx.outputs_of(&self.base.id)?;
            let previous = out.get_str("previous_primary").filter(|p| !p.is_empty())?;
            (out.get_str("primary") != Some(previous)).then(|| previous.to_owned())
        };
        let Some(previous) = self
            .requested_from()
            .filter(|p| !p.is_empty())
            .or_else(recorded)
        else {
            return Err(ActionError::unsupported(
                "nothing to roll back: this action did not change the primary",
            ));
        };
        let back = Self::new(
            format!("{}-rollback", self.base.id),
            SetPrimaryParams::new(self.base.params.replication_group.clone(), previous),
            Arc::clone(&self.base.port),
            self.base.region(),
        )
        .with_wait_policy(self.base.wait.clone());
        back.apply(ctx).await.map(|_| ())
    }
}

#[cfg(test)]
#[path = "set_primary_tests.rs"]
mod tests;
