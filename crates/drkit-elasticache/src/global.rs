//! `elasticache.failover_global_datastore`: make a secondary of an ElastiCache global datastore
//! (Valkey / Redis OSS) its primary (`FailoverGlobalReplicationGroup`), the cross-region path of
//! issue "Region loss".
//!
//! Where the call goes: the global datastore APIs answer in any region with a member, and a
//! failover during an outage of the primary region must be sent to another one. The step's
//! `region` decides (the CLI sets it from the runbook, and skips the step when that region is
//! impaired); a step without a region calls `primary_region`, the region that becomes primary.

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

use crate::common::{global_id, global_resource, identifier, region};
use crate::port::{ElastiCacheApi, GlobalDatastore, GlobalDatastoreMember};

/// The parameters of `elasticache.failover_global_datastore`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FailoverGlobalDatastoreParams {
    /// The global datastore (global replication group) id, with ElastiCache's prefix, e.g.
    /// `ldgnf-mint-global`.
    pub global_replication_group: String,
    /// The region of the member to make primary, e.g. `us-west-2`.
    pub primary_region: String,
    /// The replication group (in `primary_region`) to make primary, e.g. `mint-cache-west`.
    pub primary_replication_group: String,
}

impl FailoverGlobalDatastoreParams {
    /// Make `primary_replication_group` in `primary_region` the primary of
    /// `global_replication_group`.
    pub fn new(
        global_replication_group: impl Into<String>,
        primary_region: impl Into<String>,
        primary_replication_group: impl Into<String>,
    ) -> Self {
        Self {
            global_replication_group: global_replication_group.into(),
            primary_region: primary_region.into(),
            primary_replication_group: primary_replication_group.into(),
        }
    }
}

/// The primary this step failed over from (its intent), once it called
/// `FailoverGlobalReplicationGroup`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Before {
    region: String,
    replication_group: String,
}

impl Before {
    fn of(member: Option<&GlobalDatastoreMember>) -> Self {
        Self {
            region: member.map(|m| m.region.clone()).unwrap_or_default(),
            replication_group: member
                .map(|m| m.replication_group.clone())
                .unwrap_or_default(),
        }
    }

    fn parse(intent: &Outputs) -> Option<Self> {
        Some(Self {
            region: intent.get_str("from_region")?.to_owned(),
            replication_group: intent.get_str("from_replication_group")?.to_owned(),
        })
    }

    fn is_known(&self) -> bool {
        !self.region.is_empty() && !self.replication_group.is_empty()
    }

    fn name(&self) -> String {
        if self.is_known() {
            format!("{}/{}", self.region, self.replication_group)
        } else {
            "none".to_owned()
        }
    }
}

/// Makes a member of an ElastiCache global datastore its primary with
/// `FailoverGlobalReplicationGroup`, and waits until that member is `PRIMARY` and the global
/// datastore `available` (within the step's wait policy and time-out).
///
/// - `check`: the global datastore exists and lists `primary_replication_group` in
///   `primary_region`; already its primary with the global datastore `available` -> done.
///   Blocked when the global datastore is `creating`, `deleting`, `primary-only` or in another
///   state ElastiCache does not fail over from, or the member is `associating`,
///   `disassociating` or `disassociated`. `modifying` is ready: ElastiCache's user guide allows
///   a promotion while other modifications are in progress (the API may still refuse it with
///   `InvalidGlobalReplicationGroupState`, which changes nothing).
/// - `execute`: exactly once: the intent (the primary it fails over from) is journalled before
///   one SDK attempt; after a lost answer, a retry or a resume it reads the global datastore
///   and waits, never sending the failover again. An answer with an AWS error code
///   (`GlobalReplicationGroupNotFoundFault`, `InvalidGlobalReplicationGroupState`,
///   `InvalidParameterValue`, `InvalidParameterCombination`, throttling) made no change.
/// - `verify`: the member is `PRIMARY` of an `available` global datastore.
/// - `rollback`: fails back to the previous primary (only if this step failed over), with the
///   same call; it needs the old primary's region healthy: a graceful drill, not an outage.
///
/// Outputs: `primary_region`, `primary_replication_group`, `previous_primary_region`,
/// `previous_primary_replication_group`, `status`, `members`.
#[derive(Debug, HasBase)]
pub struct FailoverGlobalDatastore {
    base: Base<Self>,
    /// The primary this instance failed over from, once it called the failover.
    requested_from: Memo<Before>,
}

impl ActionKind for FailoverGlobalDatastore {
    const KIND: &'static str = "elasticache.failover_global_datastore";
    const SUMMARY: &'static str = "Make a secondary region's replication group the primary of an \
                                   ElastiCache global datastore (FailoverGlobalReplicationGroup) \
                                   and wait until it serves writes";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "elasticache:DescribeGlobalReplicationGroups",
        "elasticache:FailoverGlobalReplicationGroup",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("primary_region", "the primary member's region at the end"),
        OutputDoc::new(
            "primary_replication_group",
            "the primary member's replication group at the end",
        ),
        OutputDoc::new(
            "previous_primary_region",
            "the primary's region before (empty when nothing had to change)",
        ),
        OutputDoc::new(
            "previous_primary_replication_group",
            "the primary's replication group before (empty when nothing had to change)",
        ),
        OutputDoc::new("status", "the global datastore's status at the end"),
        OutputDoc::new(
            "members",
            "every member as region/group (primary or secondary, membership status)",
        ),
    ];
    type Params = FailoverGlobalDatastoreParams;
    type Port = dyn ElastiCacheApi;
    type Ports = PortFactory<dyn ElastiCacheApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        global_id("global_replication_group", &p.global_replication_group)?;
        region("primary_region", &p.primary_region)?;
        identifier(
            "primary_replication_group",
            &p.primary_replication_group,
            40,
        )
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        // The step's region decides where the call goes; without one, the region that becomes
        // primary (it must answer for the failover to complete).
        let region = step
            .region
            .clone()
            .unwrap_or_else(|| step.params.primary_region.clone());
        let port = ports.get(Some(&region));
        Ok(Self::new(step.id, step.params, port, Some(&region)))
    }
}

impl FailoverGlobalDatastore {
    /// A global failover step `id` with `params`, talking to ElastiCache through `api` (bound
    /// to the region the call goes to, which `region` names on the resource).
    pub fn new(
        id: impl Into<String>,
        params: FailoverGlobalDatastoreParams,
        api: Arc<dyn ElastiCacheApi>,
        region: Option<&str>,
    ) -> Self {
        let target = global_resource(&params.global_replication_group).in_region(region);
        Self {
            base: Base::new(id, params, target, api),
            requested_from: Memo::default(),
        }
    }

    /// The primary this step failed over from: in memory, else from the intent journalled
    /// before the call (an earlier attempt, or the run `drkit resume` continues).
    fn requested_from(&self, ctx: &Context) -> Option<Before> {
        self.requested_from.or_intent(ctx, Before::parse)
    }

    fn global(&self) -> &str {
        &self.base.params.global_replication_group
    }

    /// `region/group` of the member to make primary.
    fn wanted(&self) -> String {
        format!(
            "{}/{}",
            self.base.params.primary_region, self.base.params.primary_replication_group
        )
    }

    async fn describe(&self, ctx: &Context) -> Result<GlobalDatastore, ActionError> {
        ctx.bounded(self.base.port.describe_global_datastore(self.global()))
            .await
    }

    fn member<'g>(&self, g: &'g GlobalDatastore) -> Option<&'g GlobalDatastoreMember> {
        g.member(
            &self.base.params.primary_region,
            &self.base.params.primary_replication_group,
        )
    }

    fn not_a_member(&self, g: &GlobalDatastore) -> String {
        format!(
            "{} is not a member of global datastore {} (members: {})",
            self.wanted(),
            g.id,
            g.members_text()
        )
    }

    /// The wanted member is the primary of an `available` global datastore.
    fn is_complete(&self, g: &GlobalDatastore) -> bool {
        g.is_available()
            && self
                .member(g)
                .is_some_and(GlobalDatastoreMember::is_primary)
    }

    fn outputs(&self, g: &GlobalDatastore, previous: Option<&Before>) -> Outputs {
        let primary = g.primary();
        Outputs::new()
            .with(
                "primary_region",
                primary.map(|m| m.region.clone()).unwrap_or_default(),
            )
            .with(
                "primary_replication_group",
                primary
                    .map(|m| m.replication_group.clone())
                    .unwrap_or_default(),
            )
            .with(
                "previous_primary_region",
                previous.map(|p| p.region.clone()).unwrap_or_default(),
            )
            .with(
                "previous_primary_replication_group",
                previous
                    .map(|p| p.replication_group.clone())
                    .unwrap_or_default(),
            )
            .with("status", g.status.clone())
            .with("members", g.members_text())
    }

    /// Why the wanted member cannot be made primary now, if it cannot.
    fn blocker(&self, g: &GlobalDatastore) -> Option<String> {
        let Some(member) = self.member(g) else {
            return Some(self.not_a_member(g));
        };
        let status = g.status.to_ascii_lowercase();
        if !matches!(status.as_str(), "available" | "modifying") {
            let why = match status.as_str() {
                "primary-only" => "it has no secondary left",
                "creating" | "deleting" => "ElastiCache fails over an available global datastore",
                _ => "ElastiCache fails over an available global datastore only",
            };
            return Some(format!(
                "global datastore {} is {}: {why} (AWS would answer \
                 InvalidGlobalReplicationGroupState)",
                g.id, g.status
            ));
        }
        let membership = member.status.to_ascii_lowercase();
        if matches!(
            membership.as_str(),
            "associating" | "disassociating" | "disassociated"
        ) {
            return Some(format!(
                "{} is {} in global datastore {}, not associated: it does not replicate the \
                 primary",
                member.name(),
                member.status,
                g.id
            ));
        }
        None
    }

    /// Waits until the wanted member is the primary of an available global datastore.
    async fn wait(&self, ctx: &Context, sent: &Sent) -> Result<GlobalDatastore, ActionError> {
        let what = format!(
            "{} to be the primary of an available global datastore {}",
            self.wanted(),
            self.global()
        );
        wait_until(ctx, &what, &self.base.wait, || async {
            let g = self.describe(ctx).await?;
            Ok(if self.is_complete(&g) {
                Poll::Ready(g)
            } else {
                let role = match self.member(&g) {
                    Some(m) if m.is_primary() => "PRIMARY",
                    Some(_) => "SECONDARY",
                    None => "missing",
                };
                Poll::Pending(format!("{}, {} {role}", g.summary(), self.wanted()))
            })
        })
        .await
        // Not seen yet: the call may never have reached ElastiCache. Not sent again blindly:
        // the operator decides (the events show whether it started).
        .map_err(|e| {
            sent.explain(
                e,
                "FailoverGlobalReplicationGroup",
                "the global datastore (aws elasticache describe-global-replication-groups \
                 --show-member-info) and its events",
            )
        })
    }
}

#[async_trait]
impl Act for FailoverGlobalDatastore {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let g = match self.describe(ctx).await {
            Ok(g) => g,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "global datastore {} does not exist",
                    self.global()
                )));
            }
            Err(e) => return Err(e),
        };
        let Some(member) = self.member(&g) else {
            return Ok(Check::blocked(self.not_a_member(&g)));
        };
        let from = self.requested_from(ctx);
        if self.is_complete(&g) {
            return Ok(Check::Done {
                detail: format!(
                    "{} is the primary of available global datastore {}",
                    member.name(),
                    g.id
                ),
                outputs: self.outputs(&g, from.as_ref()),
            });
        }
        if let Some(from) = from {
            return Ok(Check::ready(format!(
                "wait for the failover of global datastore {} from {} to {}, already requested; \
                 now {}",
                g.id,
                from.name(),
                self.wanted(),
                g.summary()
            )));
        }
        if member.is_primary() {
            return Ok(Check::ready(format!(
                "wait for global datastore {} to be available: {} is its primary already; now {}",
                g.id,
                self.wanted(),
                g.summary()
            )));
        }
        if let Some(reason) = self.blocker(&g) {
            return Ok(Check::blocked(reason));
        }
        let modifying = if g.is_available() {
            String::new()
        } else {
            format!(
                " (the global datastore is {}: ElastiCache allows a promotion while other \
                 modifications are in progress)",
                g.status
            )
        };
        Ok(Check::ready(format!(
            "FailoverGlobalReplicationGroup of global datastore {}: primary {} -> {}, called in \
             {}{modifying}",
            g.id,
            g.primary()
                .map_or_else(|| "none".to_owned(), GlobalDatastoreMember::name),
            self.wanted(),
            self.base.region().unwrap_or("the default region")
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let started = Instant::now();
        let mut sent = Sent::Answered;
        let from = match self.requested_from(ctx) {
            Some(from) => {
                ctx.progress(format!(
                    "failover of {} from {} already requested; waiting for it",
                    self.global(),
                    from.name()
                ));
                Some(from)
            }
            None => {
                let g = self.describe(ctx).await?;
                match self.member(&g) {
                    None => return Err(ActionError::precondition(self.not_a_member(&g))),
                    // Primary already (nothing to send): wait until the global datastore is
                    // available.
                    Some(m) if m.is_primary() => {
                        ctx.progress(format!("{} is already the primary", m.name()));
                        None
                    }
                    Some(_) => {
                        if let Some(reason) = self.blocker(&g) {
                            return Err(ActionError::precondition(reason));
                        }
                        let from = Before::of(g.primary());
                        let intent = Outputs::new()
                            .with("from_region", from.region.as_str())
                            .with("from_replication_group", from.replication_group.as_str())
                            .with("to_region", self.base.params.primary_region.as_str())
                            .with(
                                "to_replication_group",
                                self.base.params.primary_replication_group.as_str(),
                            );
                        self.requested_from.set(from.clone());
                        let what = format!("{} -> {}", from.name(), self.wanted());
                        // Never sent again: a second call could fail back, or race the first.
                        let call = self.base.port.failover_global_datastore(
                            self.global(),
                            &self.base.params.primary_region,
                            &self.base.params.primary_replication_group,
                        );
                        sent = Once::new("FailoverGlobalReplicationGroup", &what, &self.base.wait)
                            .send_one(ctx, intent, call)
                            .await
                            // Refused (or not sent): no change was made.
                            .inspect_err(|_| self.requested_from.clear())?;
                        Some(from)
                    }
                }
            }
        };
        let g = self.wait(ctx, &sent).await?;
        ctx.progress(format!(
            "{} is the primary of global datastore {} after {:.3} s: {}",
            self.wanted(),
            g.id,
            started.elapsed().as_secs_f64(),
            g.members_text()
        ));
        Ok(self.outputs(&g, from.as_ref()))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let g = self.describe(ctx).await?;
        if self.is_complete(&g) {
            Ok(format!(
                "{} is the primary of available global datastore {}",
                self.wanted(),
                g.id
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "{} is not the primary of an available global datastore {}: {} (members: {})",
                self.wanted(),
                g.id,
                g.summary(),
                g.members_text()
            )))
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        // What this step did (this instance, else its journalled intent), else (a resume in
        // another process) what it recorded.
        let recorded = || {
            let out = ctx.outputs_of(&self.base.id)?;
            let from = Before {
                region: out.get_str("previous_primary_region")?.to_owned(),
                replication_group: out
                    .get_str("previous_primary_replication_group")?
                    .to_owned(),
            };
            let unchanged = out.get_str("primary_region") == Some(from.region.as_str())
                && out.get_str("primary_replication_group")
                    == Some(from.replication_group.as_str());
            (from.is_known() && !unchanged).then_some(from)
        };
        let Some(from) = self
            .requested_from(ctx)
            .filter(Before::is_known)
            .or_else(recorded)
        else {
            return Err(ActionError::unsupported(
                "nothing to roll back: this step did not fail the global datastore over",
            ));
        };
        let back = Self::new(
            format!("{}-rollback", self.base.id),
            FailoverGlobalDatastoreParams::new(
                self.global(),
                from.region.clone(),
                from.replication_group.clone(),
            ),
            Arc::clone(&self.base.port),
            self.base.region(),
        )
        .with_wait_policy(self.base.wait.clone());
        back.apply(&ctx.for_compensation()).await?;
        self.requested_from.clear();
        Ok(())
    }
}

#[cfg(test)]
#[path = "global_tests.rs"]
mod tests;
