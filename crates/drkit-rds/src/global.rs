//! Aurora Global Database: the cross-Region path for Aurora PostgreSQL (issue "Region loss").
//!
//! - `rds.check_global_cluster`: read-only; the members, their Regions and roles, the writer,
//!   and the secondaries' replication and RPO lag from CloudWatch where it has datapoints.
//! - `rds.switchover_global_cluster`: `SwitchoverGlobalCluster`, planned, no data loss (every
//!   Region answers): the graceful mode's path. Rollback switches back.
//! - `rds.failover_global_cluster`: `FailoverGlobalCluster` with `AllowDataLoss` (the runbook
//!   must write `allow_data_loss = true`): the outage path, when the primary Region is impaired
//!   but Aurora's control plane can still act. No rollback (failing back needs the old primary
//!   resynchronised first).
//! - `rds.detach_global_secondary`: `RemoveFromGlobalCluster`, called in the secondary's own
//!   Region: the secondary becomes a standalone writer. The path when the managed failover
//!   cannot reach the primary Region. No rollback (a detached cluster cannot be re-added).
//!
//! The three changes are exactly once (issue "Exactly once"): the intent (the writer before the
//! change) is journalled before a single SDK attempt; after a lost answer, a retry or a resume
//! the action reads the global cluster and waits for the change it requested, never sending
//! it again. Members are named by ARN (`arn:aws:rds:<region>:<account>:cluster:<id>`); a
//! `target_cluster` given as an identifier is looked up among the members in the step's
//! Region.

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, Finding, HasBase, Outputs,
    Params, Poll, PortFactory, Probe, Resource, StepSpec, wait_until,
};
use serde::Deserialize;

use crate::common::{BUSY_RETRIES, found, identifier, is_state_fault};
use crate::port::{GlobalCluster, GlobalMember, MetricsApi, RdsApi};
use crate::probe::LagMetric;
use crate::register::RdsPorts;
use drkit_core::once::Once;

/// How far back `rds.check_global_cluster` looks for the lag metrics' datapoints.
const LAG_WINDOW: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Whether `text` is an RDS cluster ARN: `arn:<partition>:rds:<region>:<account>:cluster:<id>`.
pub(crate) fn is_cluster_arn(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    parts.len() == 7
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "rds"
        && !parts[3].is_empty()
        && parts[5] == "cluster"
        && identifier("target_cluster", parts[6]).is_ok()
}

/// A global database identifier: 1-63 letters, digits and hyphens, starting with a letter.
pub(crate) fn global_id(value: &str) -> Result<(), ParamError> {
    identifier("global_cluster", value)
}

/// A member cluster named by ARN, or by identifier in the step's Region.
pub(crate) fn member_name(
    param: &str,
    value: &str,
    region: Option<&str>,
) -> Result<(), ParamError> {
    if value.starts_with("arn:") {
        return if is_cluster_arn(value) {
            Ok(())
        } else {
            Err(ParamError::new(
                param,
                format!(
                    "`{value}` is not a DB cluster ARN (arn:aws:rds:<region>:<account>:cluster:<id>)"
                ),
            ))
        };
    }
    identifier(param, value)?;
    if region.is_none() {
        return Err(ParamError::new(
            param,
            format!(
                "`{value}` is a cluster identifier without a region: give the cluster's ARN, or \
                 the step's `region` (the Region the cluster is in)"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn global_resource(global: &str, region: Option<&str>) -> Resource {
    Resource::new("rds", "global-cluster", global.to_owned()).in_region(region)
}

pub(crate) async fn describe(
    api: &dyn RdsApi,
    ctx: &Context,
    global: &str,
) -> Result<GlobalCluster, ActionError> {
    ctx.bounded(api.describe_global_cluster(global)).await
}

pub(crate) fn members_text(g: &GlobalCluster) -> String {
    g.members
        .iter()
        .map(|m| {
            format!(
                "{}/{} ({})",
                m.region(),
                m.cluster_id(),
                if m.is_writer { "writer" } else { "secondary" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn global_outputs(g: &GlobalCluster) -> Outputs {
    let writer = g.writer();
    Outputs::new()
        .with("status", g.status.clone())
        .with("writer", writer.map(|w| w.arn.clone()).unwrap_or_default())
        .with(
            "writer_cluster",
            writer
                .map(|w| w.cluster_id().to_owned())
                .unwrap_or_default(),
        )
        .with(
            "writer_region",
            writer.map(|w| w.region().to_owned()).unwrap_or_default(),
        )
        .with("members", members_text(g))
}

/// The parameters of `rds.check_global_cluster`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckGlobalClusterParams {
    /// The global database identifier, e.g. `mint-global`.
    pub global_cluster: String,
}

/// `rds.check_global_cluster`: the global database is `available` with a writer; outputs its
/// members with their Regions and roles, and, where CloudWatch has datapoints of the last 5
/// minutes, the largest replication lag and RPO lag of its secondaries
/// (`AuroraGlobalDBReplicationLag`, `AuroraGlobalDBRPOLag`, read in each secondary's Region;
/// milliseconds converted to seconds). A lag that cannot be read is left out, never a failure:
/// the check is about the global database.
#[derive(Debug, HasBase)]
pub struct CheckGlobalCluster {
    base: Base<Self>,
    metrics: PortFactory<dyn MetricsApi>,
}

impl ActionKind for CheckGlobalCluster {
    const KIND: &'static str = "rds.check_global_cluster";
    const SUMMARY: &'static str =
        "Probe an Aurora global database: available, its writer, its members and their Regions";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "rds:DescribeGlobalClusters",
        "cloudwatch:GetMetricStatistics",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("status", "the global cluster's status"),
        OutputDoc::new(
            "replication_lag_seconds",
            "the largest AuroraGlobalDBReplicationLag of the secondaries, in seconds (absent \
             without datapoints)",
        ),
        OutputDoc::new(
            "rpo_lag_seconds",
            "the largest AuroraGlobalDBRPOLag of the secondaries, in seconds: the commits a \
             failover now would lose (absent without datapoints)",
        ),
        OutputDoc::new("writer", "the ARN of the writer (primary) cluster"),
        OutputDoc::new("writer_cluster", "the writer cluster's identifier"),
        OutputDoc::new("writer_region", "the writer cluster's Region"),
        OutputDoc::new(
            "members",
            "every member as region/cluster (writer or secondary)",
        ),
    ];
    type Params = CheckGlobalClusterParams;
    type Port = dyn RdsApi;
    type Ports = RdsPorts;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        global_id(&p.global_cluster)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = global_resource(&step.params.global_cluster, None);
        Ok(Self {
            base: step.into_base(target, &ports.rds),
            metrics: ports.metrics.clone(),
        })
    }
}

impl CheckGlobalCluster {
    /// The largest latest value of `metric` over the secondaries of `g`, in seconds; `None`
    /// when no secondary has a datapoint (or CloudWatch cannot be read: said as progress).
    async fn lag(&self, ctx: &Context, g: &GlobalCluster, metric: LagMetric) -> Option<f64> {
        let since = std::time::SystemTime::now() - LAG_WINDOW;
        let mut largest: Option<f64> = None;
        for m in g.members.iter().filter(|m| !m.is_writer) {
            if ctx.is_region_impaired(m.region()) {
                continue;
            }
            let port = self.metrics.get(Some(m.region()));
            let read = ctx
                .bounded(port.lag(metric.name(), "DBClusterIdentifier", m.cluster_id(), since))
                .await;
            match read {
                Ok(points) => {
                    if let Some(last) = points.last() {
                        let secs = last.value * metric.seconds_per_unit();
                        largest = Some(largest.map_or(secs, |l| l.max(secs)));
                    }
                }
                Err(e) => ctx.progress(format!(
                    "{} of {} in {} not read: {}",
                    metric.name(),
                    m.cluster_id(),
                    m.region(),
                    e.message()
                )),
            }
        }
        largest
    }
}

#[async_trait]
impl Probe for CheckGlobalCluster {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let id = &self.base.params.global_cluster;
        let g = match describe(self.base.port.as_ref(), ctx, id).await {
            Ok(g) => g,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Finding::fail(
                    format!("global cluster {id} does not exist"),
                    Outputs::new(),
                ));
            }
            Err(e) => return Err(e),
        };
        let mut outputs = global_outputs(&g);
        for (metric, key) in [
            (
                LagMetric::AuroraGlobalDBReplicationLag,
                "replication_lag_seconds",
            ),
            (LagMetric::AuroraGlobalDBRPOLag, "rpo_lag_seconds"),
        ] {
            if let Some(secs) = self.lag(ctx, &g, metric).await {
                outputs.insert(key, secs);
            }
        }
        Ok(match g.writer() {
            Some(w) if g.is_settled() => Finding::pass(
                format!(
                    "global cluster {id} is available, writer {} in {}; members: {}",
                    w.cluster_id(),
                    w.region(),
                    members_text(&g)
                ),
                outputs,
            ),
            _ => Finding::fail(
                format!("global cluster {id} is not settled: {}", g.summary()),
                outputs,
            ),
        })
    }
}

/// The parameters of `rds.switchover_global_cluster` and `rds.failover_global_cluster`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GlobalSwitchParams {
    /// The global database identifier.
    pub global_cluster: String,
    /// The secondary to make the writer: its ARN, or its identifier in the step's Region.
    pub target_cluster: String,
    /// `rds.failover_global_cluster` only, and required there: must be written `true` (the
    /// writes not yet replicated to the target are lost).
    #[serde(default)]
    pub allow_data_loss: Option<bool>,
}

impl GlobalSwitchParams {
    /// Make `target` the writer of `global`.
    pub fn new(global: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            global_cluster: global.into(),
            target_cluster: target.into(),
            allow_data_loss: None,
        }
    }
}

/// What a global switch needs from its kind.
#[async_trait]
trait GlobalSwitch: ActionKind<Params = GlobalSwitchParams, Port = dyn RdsApi> + HasBase {
    /// The operation's name, for messages.
    const OPERATION: &'static str;
    /// The call.
    async fn call(&self, global: &str, target: &str) -> Result<(), ActionError>;
}

fn switch_params(p: &GlobalSwitchParams, failover: bool) -> Result<(), ParamError> {
    global_id(&p.global_cluster)?;
    match (failover, p.allow_data_loss) {
        (true, Some(true)) | (false, None) => Ok(()),
        (true, _) => Err(ParamError::new(
            "allow_data_loss",
            "rds.failover_global_cluster loses the writes not yet replicated to the target: \
             write `allow_data_loss = true` to confirm (or use rds.switchover_global_cluster)",
        )),
        (false, Some(_)) => Err(ParamError::new(
            "allow_data_loss",
            "a switchover never loses data: remove allow_data_loss (or use \
             rds.failover_global_cluster)",
        )),
    }
}

/// The member `name` of `g` (ARN, or identifier in `region`), or why not.
fn target_member<'g>(
    g: &'g GlobalCluster,
    name: &str,
    region: Option<&str>,
) -> Result<&'g GlobalMember, String> {
    g.member(name, region).ok_or_else(|| {
        format!(
            "{name} is not a member of global cluster {} (members: {})",
            g.id,
            members_text(g)
        )
    })
}

/// The base of a global switch: the target cluster named by ARN or by id in the step's Region.
fn switch_base<K>(
    step: StepSpec<GlobalSwitchParams>,
    ports: &PortFactory<dyn RdsApi>,
) -> Result<Base<K>, ParamError>
where
    K: ActionKind<Params = GlobalSwitchParams, Port = dyn RdsApi>,
{
    member_name("target_cluster", &step.params.target_cluster, step.region())?;
    let target = global_resource(&step.params.global_cluster, None);
    Ok(step.into_base(target, ports))
}

fn switched_outputs(g: &GlobalCluster, previous: &str) -> Outputs {
    global_outputs(g).with("previous_writer", previous.to_owned())
}

/// `check` of a global switch: done when the target is the writer and all is settled; ready
/// to wait when this step requested it (intent); blocked when it cannot start.
async fn switch_check<K: GlobalSwitch>(action: &K, ctx: &Context) -> Result<Check, ActionError> {
    let base = action.base();
    let p = &base.params;
    let g = match describe(base.port.as_ref(), ctx, &p.global_cluster).await {
        Ok(g) => g,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(Check::blocked(format!(
                "global cluster {} does not exist",
                p.global_cluster
            )));
        }
        Err(e) => return Err(e),
    };
    let target = match target_member(&g, &p.target_cluster, base.region()) {
        Ok(t) => t.clone(),
        Err(why) => return Ok(Check::blocked(why)),
    };
    let requested = ctx
        .intent()
        .and_then(|i| i.get_str("from").map(str::to_owned));
    if target.is_writer && g.is_settled() {
        return Ok(Check::Done {
            detail: format!(
                "{} in {} is the writer of global cluster {}",
                target.cluster_id(),
                target.region(),
                g.id
            ),
            outputs: switched_outputs(&g, requested.as_deref().unwrap_or_default()),
        });
    }
    if let Some(from) = requested {
        return Ok(Check::ready(format!(
            "wait for the {} of global cluster {} from {from} requested earlier (now: {})",
            K::OPERATION,
            g.id,
            g.summary()
        )));
    }
    if !g.is_settled() {
        // Another operation is under way: RDS would refuse this one now
        // (InvalidGlobalClusterStateFault), and accepts it once that ends.
        return Ok(Check::ready(format!(
            "wait for the operation in progress on global cluster {} to end (now: {}), then {} \
             to {} in {}",
            g.id,
            g.summary(),
            K::OPERATION,
            target.cluster_id(),
            target.region()
        )));
    }
    Ok(Check::ready(format!(
        "{} of global cluster {}: writer {} -> {} in {}",
        K::OPERATION,
        g.id,
        g.writer().map_or("none", GlobalMember::cluster_id),
        target.cluster_id(),
        target.region()
    )))
}

/// `execute` of a global switch: intent, one call, then the wait; reconciles from the intent.
async fn switch_apply<K: GlobalSwitch>(action: &K, ctx: &Context) -> Result<Outputs, ActionError> {
    let base = action.base();
    let p = &base.params;
    let api = base.port.as_ref();
    let g = describe(api, ctx, &p.global_cluster).await?;
    let target = target_member(&g, &p.target_cluster, base.region())
        .map_err(ActionError::precondition)?
        .clone();
    let what = format!("{} of {} to {}", K::OPERATION, p.global_cluster, target.arn);
    let once = Once::new(K::OPERATION, &what, &base.wait);
    // RDS shows a switch it accepted within seconds: the global cluster `modifying`, a
    // `FailoverState`, or a new writer.
    let send = |from: &str, resume: bool| {
        let intent = Outputs::new()
            .with("from", from)
            .with("target", target.arn.as_str());
        let from = from.to_owned();
        let sign = move |grace: Context| {
            let from = from.clone();
            async move {
                let g = describe(api, &grace, &p.global_cluster).await?;
                let writer = g.writer().map_or("", |w| w.arn.as_str());
                Ok(if !g.is_settled() || writer != from {
                    Poll::Ready(())
                } else {
                    Poll::Pending(g.summary())
                })
            }
        };
        let call = || action.call(&p.global_cluster, &target.arn);
        async move { once.send(ctx, intent, resume, call, sign).await }
    };
    let from = match ctx
        .intent()
        .and_then(|i| i.get_str("from").map(str::to_owned))
    {
        Some(from) => {
            send(&from, true).await?;
            from
        }
        None => {
            let mut g = g;
            let mut refusals = 0;
            loop {
                if !g.is_settled() {
                    ctx.progress(format!(
                        "global cluster {} is not settled ({}): waiting for the operation in \
                         progress to end before the {}",
                        g.id,
                        g.summary(),
                        K::OPERATION
                    ));
                    g = global_settled(api, ctx, &base.wait, &p.global_cluster).await?;
                }
                if g.writer().is_some_and(|w| w.arn == target.arn) {
                    ctx.progress(format!("{} is already the writer", target.cluster_id()));
                    return Ok(switched_outputs(&g, ""));
                }
                let from = g.writer().map(|w| w.arn.clone()).unwrap_or_default();
                match send(&from, false).await {
                    // Refused because another operation started meanwhile: nothing changed;
                    // wait for it to end and decide again.
                    Err(e) if is_state_fault(&e) && refusals < BUSY_RETRIES => {
                        g = describe(api, ctx, &p.global_cluster).await?;
                        if g.is_settled() {
                            return Err(e);
                        }
                        refusals += 1;
                        ctx.progress(format!(
                            "{} refused ({}) while global cluster {} is busy ({}); deciding \
                             again once the operation in progress ends",
                            K::OPERATION,
                            e.code().unwrap_or_default(),
                            g.id,
                            g.summary()
                        ));
                    }
                    sent => {
                        sent?;
                        break from;
                    }
                }
            }
        }
    };
    let what = format!(
        "{} in {} to be the writer of a settled global cluster {}",
        target.cluster_id(),
        target.region(),
        p.global_cluster
    );
    let g = wait_until(ctx, &what, &base.wait, || async {
        let g = describe(api, ctx, &p.global_cluster).await?;
        let done = g.is_settled() && g.writer().is_some_and(|w| w.arn == target.arn);
        Ok(if done {
            Poll::Ready(g)
        } else {
            Poll::Pending(g.summary())
        })
    })
    .await
    .map_err(|e| {
        ActionError::new(
            e.kind(),
            format!(
                "{}; the {} was sent once and is not sent again: check the global cluster's \
                 events before retrying",
                e.message(),
                K::OPERATION
            ),
        )
        .with_operation(K::OPERATION)
        .with_maybe_applied()
    })?;
    Ok(switched_outputs(&g, &from))
}

/// Waits until global cluster `global` is settled (`available`, no switchover or failover in
/// progress).
pub(crate) async fn global_settled(
    api: &dyn RdsApi,
    ctx: &Context,
    policy: &drkit_core::WaitPolicy,
    global: &str,
) -> Result<GlobalCluster, ActionError> {
    let what = format!("the operation in progress on global cluster {global} to end");
    wait_until(ctx, &what, policy, || async {
        let g = describe(api, ctx, global).await?;
        Ok(if g.is_settled() {
            Poll::Ready(g)
        } else {
            Poll::Pending(g.summary())
        })
    })
    .await
}

async fn switch_confirm<K: GlobalSwitch>(action: &K, ctx: &Context) -> Result<String, ActionError> {
    let base = action.base();
    let p = &base.params;
    let g = describe(base.port.as_ref(), ctx, &p.global_cluster).await?;
    match target_member(&g, &p.target_cluster, base.region()) {
        Ok(t) if t.is_writer && g.is_settled() => Ok(format!(
            "{} in {} is the writer of global cluster {}",
            t.cluster_id(),
            t.region(),
            g.id
        )),
        _ => Err(ActionError::postcondition(format!(
            "global cluster {} has not switched to {}: {}",
            g.id,
            p.target_cluster,
            g.summary()
        ))),
    }
}

const SWITCH_OUTPUTS: &[OutputDoc] = &[
    OutputDoc::new("status", "the global cluster's status"),
    OutputDoc::new("writer", "the ARN of the new writer cluster"),
    OutputDoc::new("writer_cluster", "the new writer's identifier"),
    OutputDoc::new("writer_region", "the new writer's Region"),
    OutputDoc::new(
        "members",
        "every member as region/cluster (writer or secondary)",
    ),
    OutputDoc::new("previous_writer", "the ARN of the writer before"),
];

/// `rds.switchover_global_cluster`: a planned switch of an Aurora global database's writer to
/// a secondary (`SwitchoverGlobalCluster`, no data loss), waited until the target writes and
/// the global cluster is `available` with no operation in progress. Rollback switches back to
/// the previous writer. Needs every Region: run it in the graceful mode.
#[derive(Debug, HasBase)]
pub struct SwitchoverGlobalCluster {
    base: Base<Self>,
}

impl ActionKind for SwitchoverGlobalCluster {
    const KIND: &'static str = "rds.switchover_global_cluster";
    const SUMMARY: &'static str = "Switch an Aurora global database's writer to a secondary \
                                   Region, with no data loss (planned; every Region answers)";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] =
        &["rds:DescribeGlobalClusters", "rds:SwitchoverGlobalCluster"];
    const OUTPUTS: &'static [OutputDoc] = SWITCH_OUTPUTS;
    type Params = GlobalSwitchParams;
    type Port = dyn RdsApi;
    type Ports = PortFactory<dyn RdsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        switch_params(p, false)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        Ok(Self {
            base: switch_base(step, ports)?,
        })
    }
}

#[async_trait]
impl GlobalSwitch for SwitchoverGlobalCluster {
    const OPERATION: &'static str = "SwitchoverGlobalCluster";
    async fn call(&self, global: &str, target: &str) -> Result<(), ActionError> {
        self.base
            .port
            .switchover_global_cluster(global, target)
            .await
    }
}

#[async_trait]
impl Act for SwitchoverGlobalCluster {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        switch_check(self, ctx).await
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        switch_apply(self, ctx).await
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        switch_confirm(self, ctx).await
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let recorded = ctx
            .outputs_of(&self.base.id)
            .and_then(|o| o.get_str("previous_writer").map(str::to_owned));
        let Some(previous) = ctx
            .intent()
            .and_then(|i| i.get_str("from").map(str::to_owned))
            .or(recorded)
            .filter(|p| !p.is_empty())
        else {
            return Err(ActionError::unsupported(
                "nothing to roll back: this step did not switch the global cluster over",
            ));
        };
        let mut base = Base::new(
            format!("{}-rollback", self.base.id),
            GlobalSwitchParams::new(self.base.params.global_cluster.clone(), previous),
            self.base.target.clone(),
            std::sync::Arc::clone(&self.base.port),
        );
        base.wait = self.base.wait.clone();
        let back = SwitchoverGlobalCluster { base };
        switch_apply(&back, &ctx.for_compensation()).await.map(drop)
    }
}

/// `rds.failover_global_cluster`: an outage failover of an Aurora global database to a
/// secondary (`FailoverGlobalCluster` with `AllowDataLoss`; the runbook must write
/// `allow_data_loss = true`), waited as the switchover is. The writes not yet replicated are
/// lost: before the call, the target's `AuroraGlobalDBRPOLag` (its own region, last 5 minutes)
/// is read, and when CloudWatch has it the step outputs it as `rpo_seconds` (`rpo_class =
/// database`) for the report's RPO verdict; measure the loss with the data checks too. No
/// rollback.
#[derive(Debug, HasBase)]
pub struct FailoverGlobalCluster {
    base: Base<Self>,
    metrics: PortFactory<dyn MetricsApi>,
}

const FAILOVER_OUTPUTS: &[OutputDoc] = &[
    OutputDoc::new("status", "the global cluster's status"),
    OutputDoc::new("writer", "the ARN of the new writer cluster"),
    OutputDoc::new("writer_cluster", "the new writer's identifier"),
    OutputDoc::new("writer_region", "the new writer's Region"),
    OutputDoc::new(
        "members",
        "every member as region/cluster (writer or secondary)",
    ),
    OutputDoc::new("previous_writer", "the ARN of the writer before"),
    OutputDoc::new(
        "rpo_seconds",
        "the target's AuroraGlobalDBRPOLag just before the failover, in seconds: the writes \
         lost (absent when CloudWatch had no datapoint)",
    ),
    OutputDoc::new("rpo_class", "`database` (with `rpo_seconds`)"),
];

impl FailoverGlobalCluster {
    /// The target's RPO lag now, in seconds, when CloudWatch has a datapoint of the last 5
    /// minutes (never read in an impaired region; a failed read is progress, not a failure).
    async fn rpo_lag(&self, ctx: &Context) -> Option<f64> {
        let p = &self.base.params;
        let g = describe(self.base.port.as_ref(), ctx, &p.global_cluster)
            .await
            .ok()?;
        let target = target_member(&g, &p.target_cluster, self.base.region()).ok()?;
        if ctx.is_region_impaired(target.region()) {
            return None;
        }
        let metric = LagMetric::AuroraGlobalDBRPOLag;
        let read = ctx
            .bounded(self.metrics.get(Some(target.region())).lag(
                metric.name(),
                "DBClusterIdentifier",
                target.cluster_id(),
                std::time::SystemTime::now() - LAG_WINDOW,
            ))
            .await;
        match read {
            Ok(points) => points.last().map(|d| d.value * metric.seconds_per_unit()),
            Err(e) => {
                ctx.progress(format!(
                    "{} of {} not read: {}",
                    metric.name(),
                    target.cluster_id(),
                    e.message()
                ));
                None
            }
        }
    }
}

impl ActionKind for FailoverGlobalCluster {
    const KIND: &'static str = "rds.failover_global_cluster";
    const SUMMARY: &'static str = "Fail an Aurora global database over to a secondary Region in \
                                   an outage (AllowDataLoss: unreplicated writes are lost)";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "rds:DescribeGlobalClusters",
        "rds:FailoverGlobalCluster",
        "cloudwatch:GetMetricStatistics",
    ];
    const OUTPUTS: &'static [OutputDoc] = FAILOVER_OUTPUTS;
    type Params = GlobalSwitchParams;
    type Port = dyn RdsApi;
    type Ports = RdsPorts;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        switch_params(p, true)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        Ok(Self {
            base: switch_base(step, &ports.rds)?,
            metrics: ports.metrics.clone(),
        })
    }
}

#[async_trait]
impl GlobalSwitch for FailoverGlobalCluster {
    const OPERATION: &'static str = "FailoverGlobalCluster";
    async fn call(&self, global: &str, target: &str) -> Result<(), ActionError> {
        self.base.port.failover_global_cluster(global, target).await
    }
}

#[async_trait]
impl Act for FailoverGlobalCluster {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        switch_check(self, ctx).await
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        // The lag before the failover: only on the first attempt (after a lost answer or a
        // resume, the failover may have happened already and the metric no longer says it).
        let lag = if ctx.intent().is_none() {
            self.rpo_lag(ctx).await
        } else {
            None
        };
        let outputs = switch_apply(self, ctx).await?;
        Ok(match lag {
            Some(seconds) => outputs
                .with("rpo_seconds", seconds)
                .with("rpo_class", "database"),
            None => outputs,
        })
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        switch_confirm(self, ctx).await
    }
}

/// The parameters of `rds.detach_global_secondary`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DetachGlobalSecondaryParams {
    /// The global database identifier.
    pub global_cluster: String,
    /// The secondary cluster's identifier, in the step's Region (where the call is made).
    pub cluster: String,
}

/// `rds.detach_global_secondary`: removes a secondary from its Aurora global database
/// (`RemoveFromGlobalCluster`, called in the secondary's Region), then waits until it is a
/// standalone, `available` cluster with a writer. The path when the primary Region cannot be
/// reached. No rollback: a detached cluster cannot rejoin; build a new secondary to reprotect.
///
/// Outputs: `writer`, `endpoint`, `cluster_arn`.
#[derive(Debug, HasBase)]
pub struct DetachGlobalSecondary {
    base: Base<Self>,
}

impl ActionKind for DetachGlobalSecondary {
    const KIND: &'static str = "rds.detach_global_secondary";
    const SUMMARY: &'static str = "Detach a secondary from its Aurora global database so it \
                                   writes on its own (the primary Region is unreachable)";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "rds:DescribeGlobalClusters",
        "rds:DescribeDBClusters",
        "rds:RemoveFromGlobalCluster",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("writer", "the detached cluster's writer instance"),
        OutputDoc::new("endpoint", "its writer endpoint"),
        OutputDoc::new("cluster_arn", "its ARN"),
    ];
    type Params = DetachGlobalSecondaryParams;
    type Port = dyn RdsApi;
    type Ports = PortFactory<dyn RdsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        global_id(&p.global_cluster)?;
        identifier("cluster", &p.cluster)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = Resource::new("rds", "db-cluster", step.params.cluster.clone());
        Ok(Self {
            base: step.into_base(target, ports),
        })
    }
}

impl DetachGlobalSecondary {
    /// Whether the cluster is still a member, read from the global cluster (a missing global
    /// cluster: not a member).
    async fn membership(
        &self,
        ctx: &Context,
        arn: &str,
    ) -> Result<Option<GlobalMember>, ActionError> {
        let g = found(
            describe(
                self.base.port.as_ref(),
                ctx,
                &self.base.params.global_cluster,
            )
            .await,
        )?;
        Ok(g.and_then(|g| g.members.into_iter().find(|m| m.arn == arn)))
    }

    fn outputs(cluster: &crate::port::DbCluster) -> Outputs {
        Outputs::new()
            .with("writer", cluster.writer().unwrap_or_default())
            .with("endpoint", cluster.endpoint.clone().unwrap_or_default())
            .with("cluster_arn", cluster.arn.clone().unwrap_or_default())
    }

    async fn cluster(&self, ctx: &Context) -> Result<crate::port::DbCluster, ActionError> {
        ctx.bounded(
            self.base
                .port
                .describe_db_cluster(&self.base.params.cluster),
        )
        .await
    }
}

#[async_trait]
impl Act for DetachGlobalSecondary {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let p = &self.base.params;
        let cluster = match self.cluster(ctx).await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "DB cluster {} does not exist",
                    p.cluster
                )));
            }
            Err(e) => return Err(e),
        };
        let Some(arn) = cluster.arn.clone() else {
            return Ok(Check::blocked(format!(
                "RDS did not give DB cluster {}'s ARN",
                p.cluster
            )));
        };
        match self.membership(ctx, &arn).await? {
            Some(m) if m.is_writer => Ok(Check::blocked(format!(
                "{} is the writer of global cluster {}: detach a secondary, or switch over",
                p.cluster, p.global_cluster
            ))),
            Some(_) if ctx.intent().is_some() => Ok(Check::ready(format!(
                "wait for the detach of {} from {} requested earlier",
                p.cluster, p.global_cluster
            ))),
            Some(_) => Ok(Check::ready(format!(
                "detach {} ({}) from global cluster {}: it becomes a standalone writer",
                p.cluster, cluster.status, p.global_cluster
            ))),
            None if cluster.is_available() && cluster.writer().is_some() => Ok(Check::Done {
                detail: format!(
                    "{} is standalone and available with writer {}",
                    p.cluster,
                    cluster.writer().unwrap_or_default()
                ),
                outputs: Self::outputs(&cluster),
            }),
            None if ctx.intent().is_some() => Ok(Check::ready(format!(
                "wait for {} to be available with a writer ({})",
                p.cluster,
                cluster.summary()
            ))),
            None => Ok(Check::blocked(format!(
                "{} is not a member of global cluster {} and not an available cluster with a \
                 writer: {}",
                p.cluster,
                p.global_cluster,
                cluster.summary()
            ))),
        }
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = &self.base.params;
        let cluster = self.cluster(ctx).await?;
        let arn = cluster.arn.clone().ok_or_else(|| {
            ActionError::precondition(format!("RDS did not give DB cluster {}'s ARN", p.cluster))
        })?;
        let member = self.membership(ctx, &arn).await?.is_some();
        let what = format!("detach of {} from {}", p.cluster, p.global_cluster);
        let once = Once::new("RemoveFromGlobalCluster", &what, &self.base.wait);
        let send = |resume: bool| {
            once.send(
                ctx,
                Outputs::new().with("cluster_arn", arn.as_str()),
                resume,
                || {
                    self.base
                        .port
                        .remove_from_global_cluster(&p.global_cluster, &arn)
                },
                // A detach RDS accepted shows within seconds: no longer a member, or the
                // cluster not available.
                |grace: Context| {
                    let arn = &arn;
                    async move {
                        let member = self.membership(&grace, arn).await?.is_some();
                        let c = self.cluster(&grace).await?;
                        Ok(if !member || !c.is_available() {
                            Poll::Ready(())
                        } else {
                            Poll::Pending(c.summary())
                        })
                    }
                },
            )
        };
        if ctx.intent().is_some() {
            send(true).await?;
        } else if member {
            // Refused because the global cluster is busy (a switchover or another member's
            // detach in progress: a state fault): nothing changed; sent again once it settles.
            let mut refusals = 0;
            loop {
                match send(false).await {
                    Err(e) if is_state_fault(&e) && refusals < BUSY_RETRIES => {
                        refusals += 1;
                        ctx.progress(format!(
                            "RemoveFromGlobalCluster refused ({}): an operation is in progress \
                             on global cluster {}; sending it again once it settles",
                            e.code().unwrap_or_default(),
                            p.global_cluster
                        ));
                        global_settled(
                            self.base.port.as_ref(),
                            ctx,
                            &self.base.wait,
                            &p.global_cluster,
                        )
                        .await?;
                    }
                    sent => break sent.map(drop)?,
                }
            }
        }
        let what = format!("{} to be standalone and available with a writer", p.cluster);
        let cluster = wait_until(ctx, &what, &self.base.wait, || async {
            let c = self.cluster(ctx).await?;
            let member = self.membership(ctx, &arn).await?.is_some();
            Ok(if !member && c.is_available() && c.writer().is_some() {
                Poll::Ready(c)
            } else {
                Poll::Pending(format!(
                    "{}{}",
                    c.summary(),
                    if member { ", still a member" } else { "" }
                ))
            })
        })
        .await?;
        Ok(Self::outputs(&cluster))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let p = &self.base.params;
        let cluster = self.cluster(ctx).await?;
        let member = match &cluster.arn {
            Some(arn) => self.membership(ctx, arn).await?.is_some(),
            None => true,
        };
        if !member && cluster.is_available() && cluster.writer().is_some() {
            Ok(format!(
                "{} is standalone and available with writer {}",
                p.cluster,
                cluster.writer().unwrap_or_default()
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "{} is not a standalone writer yet: {}",
                p.cluster,
                cluster.summary()
            )))
        }
    }
}

#[cfg(test)]
#[path = "global_tests.rs"]
mod tests;
