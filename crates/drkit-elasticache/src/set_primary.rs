//! `elasticache.set_primary`: promote a replica of a replication group to primary (the seed's
//! "promote read replica"), with ElastiCache's Multi-AZ sequence when the group has automatic
//! failover or Multi-AZ enabled.

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::Memo;
use drkit_core::once::{Once, Sent};
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

/// A group's automatic failover and Multi-AZ settings, once settled (`enabled` or `disabled`,
/// not `enabling` / `disabling`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Settings {
    automatic_failover: bool,
    multi_az: bool,
}

fn flag(word: &str) -> Option<bool> {
    match word {
        "enabled" => Some(true),
        "disabled" => Some(false),
        _ => None,
    }
}

fn word(on: bool) -> &'static str {
    if on { "enabled" } else { "disabled" }
}

impl Settings {
    /// Both disabled: the only settings under which ElastiCache promotes a replica by hand.
    const OFF: Self = Self {
        automatic_failover: false,
        multi_az: false,
    };

    /// From the words ElastiCache uses; `None` for a setting still changing.
    fn from_words(automatic_failover: &str, multi_az: &str) -> Option<Self> {
        Some(Self {
            automatic_failover: flag(automatic_failover)?,
            multi_az: flag(multi_az)?,
        })
    }

    /// The group's settings; `None` while one is `enabling` / `disabling`.
    fn of(group: &ReplicationGroup) -> Option<Self> {
        Self::from_words(&group.automatic_failover, &group.multi_az)
    }

    fn is_off(self) -> bool {
        self == Self::OFF
    }

    fn describe(self) -> String {
        format!(
            "automatic failover {}, Multi-AZ {}",
            word(self.automatic_failover),
            word(self.multi_az)
        )
    }
}

/// The calls of a promotion, in order. Each is one `ModifyReplicationGroup`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// `AutomaticFailoverEnabled=false`, `MultiAZEnabled=false`.
    DisableMultiAz,
    /// `PrimaryClusterId`.
    Promote,
    /// The settings found before, back.
    RestoreMultiAz,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Self::DisableMultiAz => "disable_multi_az",
            Self::Promote => "promote",
            Self::RestoreMultiAz => "restore_multi_az",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::DisableMultiAz, Self::Promote, Self::RestoreMultiAz]
            .into_iter()
            .find(|p| p.as_str() == text)
    }
}

/// What the step journals before each of its calls (its intent): the call in flight, the
/// primary it promotes from and the settings to restore at the end. A resumed step (or a retry)
/// continues from it: it waits for the call in flight, never sends it again, then goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Intent {
    phase: Phase,
    from: String,
    to: String,
    restore: Settings,
}

impl Intent {
    fn outputs(&self) -> Outputs {
        Outputs::new()
            .with("phase", self.phase.as_str())
            .with("from", self.from.as_str())
            .with("to", self.to.as_str())
            .with("automatic_failover", word(self.restore.automatic_failover))
            .with("multi_az", word(self.restore.multi_az))
    }

    fn parse(outputs: &Outputs) -> Option<Self> {
        Some(Self {
            phase: Phase::parse(outputs.get_str("phase")?)?,
            from: outputs.get_str("from")?.to_owned(),
            to: outputs.get_str("to")?.to_owned(),
            restore: Settings::from_words(
                outputs.get_str("automatic_failover")?,
                outputs.get_str("multi_az")?,
            )?,
        })
    }

    fn at(&self, phase: Phase) -> Self {
        Self {
            phase,
            ..self.clone()
        }
    }
}

/// The same error (kind, code, operation, whether it may have applied) with another message;
/// the original is kept as the source.
fn reworded(e: ActionError, message: String) -> ActionError {
    let mut out = ActionError::new(e.kind(), message);
    if let Some(code) = e.code() {
        out = out.with_code(code.to_owned());
    }
    if let Some(operation) = e.operation() {
        out = out.with_operation(operation.to_owned());
    }
    if let Some(after) = e.retry_after() {
        out = out.with_retry_after(after);
    }
    if e.maybe_applied() {
        out = out.with_maybe_applied();
    }
    out.with_source(e)
}

/// Promotes a member of a cluster-mode-disabled replication group to primary with
/// `ModifyReplicationGroup` (`PrimaryClusterId`, `ApplyImmediately`), and waits until it is the
/// primary of an `available` group.
///
/// ElastiCache promotes a replica by hand only while Multi-AZ and automatic failover are
/// disabled. When either is enabled the action runs AWS's sequence, each call waited: disable
/// both (`MultiAZEnabled=false`, `AutomaticFailoverEnabled=false`), promote, then set them back
/// as they were (`AutomaticFailoverEnabled`, `MultiAZEnabled`: Multi-AZ needs automatic
/// failover, so both are sent together).
///
/// - `check`: the group exists, has cluster mode disabled, is `available` with its settings
///   settled (not `enabling` / `disabling`), and `primary_cluster` is one of its members; already
///   the primary -> done. With a recorded intent: done once the whole sequence is.
/// - `execute`: each call is exactly once: its intent (the call, the primary promoted from, the
///   settings to restore) is journalled first, the SDK makes one attempt, and a lost answer is
///   reconciled by reading. A retry or a resume continues the sequence where it stopped (killed
///   after Multi-AZ was disabled: it promotes, then enables it again). A promotion ElastiCache
///   refuses after Multi-AZ was disabled is followed by enabling it again before the step fails.
/// - `verify`: `primary_cluster` is the primary of an `available` group (and the settings are
///   back as they were, when this step changed them).
/// - `rollback`: promotes the primary it replaced with the same sequence and leaves automatic
///   failover and Multi-AZ as they were before the step; after a crash between the calls
///   (Multi-AZ disabled, nothing promoted) it only restores the settings.
///
/// Outputs: `primary`, `previous_primary`, `status`, `automatic_failover`, `multi_az`.
#[derive(Debug, HasBase)]
pub struct SetPrimary {
    base: Base<Self>,
    /// The sequence this instance is in, as last journalled (the context holds the journalled
    /// one after a resume).
    sequence: Memo<Intent>,
}

impl ActionKind for SetPrimary {
    const KIND: &'static str = "elasticache.set_primary";
    const SUMMARY: &'static str = "Promote a replica of a cluster-mode-disabled replication group \
                                   to primary and wait until it serves (Multi-AZ and automatic \
                                   failover disabled around the promotion, then restored)";
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
        OutputDoc::new(
            "automatic_failover",
            "automatic failover at the end (as before the step)",
        ),
        OutputDoc::new("multi_az", "Multi-AZ at the end (as before the step)"),
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
            sequence: Memo::default(),
        }
    }

    /// The sequence this step is in: as this instance last journalled it, else the intent the
    /// journal gave the context (an earlier attempt, or the run `drkit resume` continues).
    fn intent(&self, ctx: &Context) -> Option<Intent> {
        self.sequence.or_intent(ctx, Intent::parse)
    }

    fn to(&self) -> &str {
        &self.base.params.primary_cluster
    }

    fn group_id(&self) -> &str {
        &self.base.params.replication_group
    }

    async fn describe(&self, ctx: &Context) -> Result<ReplicationGroup, ActionError> {
        ctx.bounded(self.base.port.describe_replication_group(self.group_id()))
            .await
    }

    fn is_complete(&self, group: &ReplicationGroup) -> bool {
        group.is_available() && group.primary() == Some(self.to())
    }

    /// The whole sequence of `intent` is done: promoted, settings as they were.
    fn sequence_done(&self, group: &ReplicationGroup, intent: &Intent) -> bool {
        self.is_complete(group) && Settings::of(group) == Some(intent.restore)
    }

    fn outputs(group: &ReplicationGroup, previous: Option<&str>) -> Outputs {
        Outputs::new()
            .with("primary", group.primary().unwrap_or_default())
            .with("previous_primary", previous.unwrap_or_default())
            .with("status", group.status.clone())
            .with("automatic_failover", group.automatic_failover.clone())
            .with("multi_az", group.multi_az.clone())
    }

    fn summary_with_settings(group: &ReplicationGroup) -> String {
        format!(
            "{}, automatic failover {}, Multi-AZ {}",
            group.summary(),
            group.automatic_failover,
            group.multi_az
        )
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
        if group.node_group_of(self.to()).is_none() {
            return Some(format!(
                "{} is not a member of replication group {} (members: {})",
                self.to(),
                group.id,
                group.member_ids().join(", ")
            ));
        }
        if Settings::of(group).is_none() {
            return Some(format!(
                "replication group {} has automatic failover {} and Multi-AZ {}: wait until the \
                 change under way settles",
                group.id, group.automatic_failover, group.multi_az
            ));
        }
        None
    }

    /// Whether the call of `phase` has taken effect.
    fn phase_done(&self, phase: Phase, group: &ReplicationGroup, restore: Settings) -> bool {
        let settings = Settings::of(group);
        match phase {
            Phase::DisableMultiAz => group.is_available() && settings == Some(Settings::OFF),
            Phase::Promote => self.is_complete(group) && settings.is_some(),
            Phase::RestoreMultiAz => group.is_available() && settings == Some(restore),
        }
    }

    /// The call after `phase`, given the group once `phase` took effect; `None`: done.
    fn next(&self, phase: Phase, group: &ReplicationGroup, restore: Settings) -> Option<Phase> {
        let restored = Settings::of(group) == Some(restore);
        match phase {
            Phase::DisableMultiAz if group.primary() != Some(self.to()) => Some(Phase::Promote),
            Phase::DisableMultiAz | Phase::Promote if !restored => Some(Phase::RestoreMultiAz),
            _ => None,
        }
    }

    /// Sends the call of `intent` exactly once, journalling `intent` first (one attempt; a lost
    /// answer is read back, never sent again). A refusal made no change: the intent before it
    /// (`previous`, whose call took effect) is journalled again.
    async fn send(
        &self,
        ctx: &Context,
        intent: &Intent,
        previous: Option<&Intent>,
    ) -> Result<Sent, ActionError> {
        let group = self.group_id();
        let what = match intent.phase {
            Phase::DisableMultiAz => format!(
                "disable Multi-AZ and automatic failover of {group} (to promote {})",
                intent.to
            ),
            Phase::Promote => format!(
                "{} -> {} in {group}",
                if intent.from.is_empty() {
                    "unknown"
                } else {
                    &intent.from
                },
                intent.to
            ),
            Phase::RestoreMultiAz => {
                format!("restore {} of {group}", intent.restore.describe())
            }
        };
        let port = &self.base.port;
        let call = match intent.phase {
            Phase::DisableMultiAz => port.set_failover_settings(group, false, false),
            Phase::Promote => port.set_primary_cluster(group, &intent.to),
            Phase::RestoreMultiAz => port.set_failover_settings(
                group,
                intent.restore.automatic_failover,
                intent.restore.multi_az,
            ),
        };
        self.sequence.set(intent.clone());
        match Once::new("ModifyReplicationGroup", &what, &self.base.wait)
            .send_one(ctx, intent.outputs(), call)
            .await
        {
            Ok(sent) => Ok(sent),
            Err(e) => {
                // Not applied: refused by ElastiCache (the intent was withdrawn), or never sent.
                self.sequence.replace(previous.cloned());
                if e.is_refusal()
                    && let Some(previous) = previous
                    && let Err(journal) = ctx.record_intent(previous.outputs()).await
                {
                    let message = format!(
                        "{}; and what the step changed before could not be journalled again \
                         ({journal}): the group keeps {}",
                        e.message(),
                        Settings::OFF.describe()
                    );
                    return Err(reworded(e, message));
                }
                Err(e)
            }
        }
    }

    /// Waits until the call of `intent` (`sent`) has taken effect; a wait that ends after a lost
    /// answer says it was not sent again.
    async fn await_phase(
        &self,
        ctx: &Context,
        intent: &Intent,
        sent: Sent,
    ) -> Result<ReplicationGroup, ActionError> {
        let group = self.group_id();
        let what = match intent.phase {
            Phase::DisableMultiAz => {
                format!("Multi-AZ and automatic failover of {group} to be disabled")
            }
            Phase::Promote => format!("{} to be the primary of an available {group}", intent.to),
            Phase::RestoreMultiAz => {
                format!("{} of {group} to be restored", intent.restore.describe())
            }
        };
        wait_until(ctx, &what, &self.base.wait, || async {
            let g = self.describe(ctx).await?;
            Ok(if self.phase_done(intent.phase, &g, intent.restore) {
                Poll::Ready(g)
            } else if intent.phase == Phase::Promote {
                Poll::Pending(g.summary())
            } else {
                Poll::Pending(Self::summary_with_settings(&g))
            })
        })
        .await
        .map_err(|e| {
            sent.explain(
                e,
                "ModifyReplicationGroup",
                "the replication group's events (aws elasticache describe-events)",
            )
        })
    }

    /// Waits until the group is `available` with settled settings (a rollback may start while
    /// the step's last change is still being applied).
    async fn settled(&self, ctx: &Context) -> Result<ReplicationGroup, ActionError> {
        let what = format!(
            "replication group {} to be available with settled automatic failover and Multi-AZ",
            self.group_id()
        );
        wait_until(ctx, &what, &self.base.wait, || async {
            let g = self.describe(ctx).await?;
            Ok(if g.is_available() && Settings::of(&g).is_some() {
                Poll::Ready(g)
            } else {
                Poll::Pending(Self::summary_with_settings(&g))
            })
        })
        .await
    }

    /// ElastiCache refused the promotion after Multi-AZ was disabled (`done`): set the settings
    /// back before failing, so the group is left as it was found. The error to return.
    async fn restore_after_refusal(
        &self,
        ctx: &Context,
        done: &Intent,
        refused: ActionError,
    ) -> ActionError {
        let intent = done.at(Phase::RestoreMultiAz);
        ctx.progress(format!(
            "ElastiCache refused the promotion ({}); restoring {} of {}",
            refused.message(),
            intent.restore.describe(),
            self.group_id()
        ));
        let restored = async {
            let sent = self.send(ctx, &intent, Some(done)).await?;
            self.await_phase(ctx, &intent, sent).await
        }
        .await;
        match restored {
            Ok(_) => {
                // Nothing of this step's change remains: no intent, no compensation.
                self.sequence.clear();
                let journal = ctx.record_intent(Outputs::new()).await;
                let message = format!(
                    "{}; {} restored as before{}",
                    refused.message(),
                    intent.restore.describe(),
                    journal
                        .err()
                        .map(|e| format!(" (the intent could not be withdrawn: {e})"))
                        .unwrap_or_default()
                );
                reworded(refused, message)
            }
            Err(e) => {
                let message = format!(
                    "ElastiCache refused the promotion ({}), and restoring {} failed: {}; the \
                     step's rollback (or a retry) restores them",
                    refused.message(),
                    intent.restore.describe(),
                    e.message()
                );
                reworded(e, message)
            }
        }
    }

    /// Brings the group to `primary_cluster` as primary with the settings `wanted` (default:
    /// the ones found), continuing the sequence journalled in the context, if any. Returns the
    /// group and the primary it promoted from (`None`: nothing had to change). `settle_first`:
    /// wait for a group in transition instead of refusing it (a rollback).
    async fn converge(
        &self,
        ctx: &Context,
        wanted: Option<Settings>,
        settle_first: bool,
    ) -> Result<(ReplicationGroup, Option<String>), ActionError> {
        let to = self.to().to_owned();
        let mut sent = Sent::Answered;
        let mut current = if let Some(intent) = self.intent(ctx) {
            ctx.progress(format!(
                "{} of the promotion of {to} (from {}) already requested; waiting for it",
                intent.phase.as_str(),
                intent.from
            ));
            intent
        } else {
            let group = if settle_first {
                self.settled(ctx).await?
            } else {
                self.describe(ctx).await?
            };
            let found = Settings::of(&group);
            let intent = if self.is_complete(&group) {
                match (wanted, found) {
                    // Promoted already, the settings not as wanted (a rollback after a crash
                    // between the calls): restore them only.
                    (Some(wanted), Some(found)) if wanted != found => Intent {
                        phase: Phase::RestoreMultiAz,
                        from: to.clone(),
                        to: to.clone(),
                        restore: wanted,
                    },
                    _ => {
                        ctx.progress(format!("{to} is already the primary"));
                        return Ok((group, None));
                    }
                }
            } else {
                if let Some(reason) = self.blocker(&group) {
                    return Err(ActionError::precondition(reason));
                }
                let found = found.ok_or_else(|| {
                    ActionError::precondition(format!(
                        "replication group {} has automatic failover and Multi-AZ changing",
                        group.id
                    ))
                })?;
                Intent {
                    phase: if found.is_off() {
                        Phase::Promote
                    } else {
                        Phase::DisableMultiAz
                    },
                    from: group.primary().unwrap_or_default().to_owned(),
                    to: to.clone(),
                    restore: wanted.unwrap_or(found),
                }
            };
            sent = self.send(ctx, &intent, None).await?;
            intent
        };
        loop {
            let last = std::mem::replace(&mut sent, Sent::Answered);
            let group = self.await_phase(ctx, &current, last).await?;
            let Some(next) = self.next(current.phase, &group, current.restore) else {
                return Ok((group, Some(current.from.clone())));
            };
            let intent = current.at(next);
            match self.send(ctx, &intent, Some(&current)).await {
                Ok(next_sent) => {
                    sent = next_sent;
                    current = intent;
                }
                Err(refused)
                    if next == Phase::Promote
                        && refused.is_refusal()
                        && Settings::of(&group) != Some(current.restore) =>
                {
                    return Err(self.restore_after_refusal(ctx, &current, refused).await);
                }
                Err(e) => return Err(e),
            }
        }
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
                    self.group_id()
                )));
            }
            Err(e) => return Err(e),
        };
        let to = self.to();
        if let Some(intent) = self.intent(ctx) {
            if self.sequence_done(&group, &intent) {
                return Ok(Check::Done {
                    detail: format!(
                        "{to} is the primary of available replication group {} ({})",
                        group.id,
                        intent.restore.describe()
                    ),
                    outputs: Self::outputs(&group, Some(&intent.from)),
                });
            }
            let then = if intent.restore.is_off() {
                String::new()
            } else {
                format!(", then restore {}", intent.restore.describe())
            };
            return Ok(Check::ready(match intent.phase {
                Phase::DisableMultiAz => format!(
                    "wait for Multi-AZ and automatic failover of replication group {} to be \
                     disabled, already requested, then promote {to} (from {}){then}; now {}",
                    group.id,
                    intent.from,
                    Self::summary_with_settings(&group)
                ),
                Phase::Promote => format!(
                    "wait for the promotion of {to} in replication group {} (from {}), already \
                     requested{then}; now {}",
                    group.id,
                    intent.from,
                    group.summary()
                ),
                Phase::RestoreMultiAz => format!(
                    "wait for {} of replication group {} to be restored after the promotion of \
                     {to} (from {}), already requested; now {}",
                    intent.restore.describe(),
                    group.id,
                    intent.from,
                    Self::summary_with_settings(&group)
                ),
            }));
        }
        if self.is_complete(&group) {
            return Ok(Check::Done {
                detail: format!(
                    "{to} is the primary of available replication group {}",
                    group.id
                ),
                outputs: Self::outputs(&group, None),
            });
        }
        if let Some(reason) = self.blocker(&group) {
            return Ok(Check::blocked(reason));
        }
        let promote = format!(
            "promote {to} to primary of replication group {}: primary {} -> {to}",
            group.id,
            group.primary().unwrap_or("unknown")
        );
        Ok(Check::ready(match Settings::of(&group) {
            Some(found) if !found.is_off() => format!(
                "{promote}; ElastiCache promotes by hand only with Multi-AZ and automatic \
                 failover disabled: disable them, promote, then restore {}, each change waited",
                found.describe()
            ),
            _ => promote,
        }))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let started = Instant::now();
        let (group, from) = self.converge(ctx, None, false).await?;
        if from.is_some() {
            ctx.progress(format!(
                "{} is the primary of {} after {:.3} s ({})",
                self.to(),
                group.id,
                started.elapsed().as_secs_f64(),
                Self::summary_with_settings(&group)
            ));
        }
        Ok(Self::outputs(&group, from.as_deref()))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let group = self.describe(ctx).await?;
        let holds = match self.intent(ctx) {
            Some(intent) => self.sequence_done(&group, &intent),
            None => self.is_complete(&group),
        };
        if holds {
            Ok(format!(
                "{} is the primary of available replication group {} (automatic failover {}, \
                 Multi-AZ {})",
                self.to(),
                group.id,
                group.automatic_failover,
                group.multi_az
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "{} is not the primary of an available replication group {} with its settings \
                 as before: {}",
                self.to(),
                group.id,
                Self::summary_with_settings(&group)
            )))
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        // What this step did (this instance, else its journalled intent), else (a resume in
        // another process, the journal without the intent) what the step recorded.
        let recorded = || {
            let out = ctx.outputs_of(&self.base.id)?;
            let previous = out.get_str("previous_primary").filter(|p| !p.is_empty())?;
            let settings = Settings::from_words(
                out.get_str("automatic_failover").unwrap_or_default(),
                out.get_str("multi_az").unwrap_or_default(),
            );
            (out.get_str("primary") != Some(previous)).then(|| (previous.to_owned(), settings))
        };
        let Some((previous, restore)) = self
            .intent(ctx)
            .filter(|i| !i.from.is_empty())
            .map(|i| (i.from, Some(i.restore)))
            .or_else(recorded)
        else {
            return Err(ActionError::unsupported(
                "nothing to roll back: this action did not change the primary",
            ));
        };
        let back = Self::new(
            format!("{}-rollback", self.base.id),
            SetPrimaryParams::new(self.group_id(), previous),
            Arc::clone(&self.base.port),
            self.base.region(),
        )
        .with_wait_policy(self.base.wait.clone());
        back.converge(&ctx.for_compensation(), restore, true)
            .await?;
        self.sequence.clear();
        Ok(())
    }
}

#[cfg(test)]
#[path = "set_primary_tests.rs"]
mod tests;
