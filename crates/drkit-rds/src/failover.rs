//! `rds.failover_db_cluster`: fail an Aurora cluster over to a reader.

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Memo, Outputs, Params,
    Poll, PortFactory, Resource, StepSpec, wait_until,
};
use serde::Deserialize;
use tokio::time::Instant;

use crate::common::{
    BUSY_RETRIES, cluster_settled, identifier, in_progress, is_state_fault, optional_identifier,
};

use crate::port::{DbCluster, RdsApi};
use drkit_core::once::{Once, Sent};

/// The parameters of `rds.failover_db_cluster`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FailoverDbClusterParams {
    /// The DB cluster identifier, e.g. `mint-replica-cluster`.
    pub cluster: String,
    /// The reader to promote; RDS chooses by promotion tier when absent.
    #[serde(default)]
    pub target_instance: Option<String>,
}

impl FailoverDbClusterParams {
    /// Fail `cluster` over to a reader of RDS's choosing.
    pub fn new(cluster: impl Into<String>) -> Self {
        Self {
            cluster: cluster.into(),
            target_instance: None,
        }
    }

    /// Fail over to `instance`.
    #[must_use]
    pub fn to_instance(mut self, instance: impl Into<String>) -> Self {
        self.target_instance = Some(instance.into());
        self
    }
}

/// Fails an Aurora DB cluster over to a reader (the seed's `aws rds failover-db-cluster`), and
/// waits until the new writer serves and the cluster is `available`.
///
/// - `check`: the cluster exists and is `available` and has an available reader to promote (the
///   named target must be one of its readers); the target already the writer -> done.
/// - `execute`: records its intent (the writer it fails over *from*, the target) in the
///   journal, then sends `FailoverDBCluster` once (no SDK retry: sent twice, a failover fails
///   back), then waits until the writer is the target (or, with no target, any instance other
///   than the recorded writer) and the cluster is `available`. When the answer is lost, or the
///   step runs again (retry layer, `drkit resume` after a crash), it reconciles from the
///   recorded intent: a writer other than the recorded one means done; otherwise it waits for
///   the failover it requested. It never sends a second one.
/// - `verify`: the same post-condition, read again.
/// - `rollback`: fails back to the recorded writer (nothing to do if it is still the writer).
///
/// Outputs: `writer`, `previous_writer`, `cluster_status`.
#[derive(Debug, HasBase)]
pub struct FailoverDbCluster {
    base: Base<Self>,
    /// The writer this action failed over *from*, once it has called `FailoverDBCluster`.
    requested_from: Memo<String>,
}

impl ActionKind for FailoverDbCluster {
    const KIND: &'static str = "rds.failover_db_cluster";
    const SUMMARY: &'static str =
        "Fail an Aurora DB cluster over to a reader and wait until the new writer serves";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "rds:DescribeDBClusters",
        "rds:DescribeDBInstances",
        "rds:FailoverDBCluster",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("writer", "the writer instance after the failover"),
        OutputDoc::new("previous_writer", "the writer instance before the failover"),
        OutputDoc::new("cluster_status", "the cluster status at the end"),
    ];
    type Params = FailoverDbClusterParams;
    type Port = dyn RdsApi;
    type Ports = PortFactory<dyn RdsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        identifier("cluster", &p.cluster)?;
        optional_identifier("target_instance", p.target_instance.as_deref())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let port = ports.get(step.region());
        let region = step.region.clone();
        Ok(Self::new(step.id, step.params, port, region.as_deref()))
    }
}

impl FailoverDbCluster {
    /// A failover step `id` with `params`, talking to RDS through `api`; `region` only labels
    /// the resource (the `api` is already bound to a region).
    pub fn new(
        id: impl Into<String>,
        params: FailoverDbClusterParams,
        api: Arc<dyn RdsApi>,
        region: Option<&str>,
    ) -> Self {
        let target = Resource::new("rds", "db-cluster", params.cluster.clone()).in_region(region);
        Self {
            base: Base::new(id, params, target, api),
            requested_from: Memo::default(),
        }
    }

    /// The writer this step failed over from, once it requested a failover: in memory, else
    /// from the intent recorded before the call (this attempt, an earlier one, or the run
    /// `drkit resume` continues). `Some("")`: the cluster had no writer then.
    fn requested_from(&self, ctx: &Context) -> Option<String> {
        self.requested_from
            .or_intent(ctx, |i| i.get_str("from").map(str::to_owned))
    }

    async fn describe(&self, ctx: &Context) -> Result<DbCluster, ActionError> {
        ctx.bounded(
            self.base
                .port
                .describe_db_cluster(&self.base.params.cluster),
        )
        .await
    }

    /// The cluster once no operation is in progress on it (a failover or modification by
    /// someone else, which would make RDS refuse this one).
    async fn settled(&self, ctx: &Context) -> Result<DbCluster, ActionError> {
        let cluster = self.describe(ctx).await?;
        if !in_progress(&cluster.status) {
            return Ok(cluster);
        }
        ctx.progress(format!(
            "DB cluster {} is {}: waiting for the operation in progress to end before failing \
             it over",
            cluster.id, cluster.status
        ));
        cluster_settled(
            ctx,
            self.base.port.as_ref(),
            &self.base.wait,
            &self.base.params.cluster,
        )
        .await
    }

    /// Whether the failover has taken effect, given the writer it started from.
    fn is_complete(&self, cluster: &DbCluster, from: Option<&str>) -> bool {
        if !cluster.is_available() {
            return false;
        }
        let from = from.filter(|f| !f.is_empty());
        match (&self.base.params.target_instance, cluster.writer()) {
            (Some(target), Some(writer)) => writer == target,
            (None, Some(writer)) => from.is_none_or(|from| writer != from),
            (_, None) => false,
        }
    }

    fn outputs(cluster: &DbCluster, previous: Option<&str>) -> Outputs {
        Outputs::new()
            .with("writer", cluster.writer().unwrap_or_default())
            .with("previous_writer", previous.unwrap_or_default())
            .with("cluster_status", cluster.status.clone())
    }

    /// Sends `FailoverDBCluster` from writer `from` exactly once (see [`drkit_core::once`]); a
    /// request from an earlier attempt or run part (`resume`) is only reconciled.
    async fn send(&self, ctx: &Context, from: &str, resume: bool) -> Result<Sent, ActionError> {
        let p = &self.base.params;
        let what = format!(
            "failover of {} from writer {}",
            p.cluster,
            if from.is_empty() { "none" } else { from }
        );
        let once = Once::new("FailoverDBCluster", &what, &self.base.wait);
        let intent = Outputs::new()
            .with("from", from)
            .with("target", p.target_instance.as_deref().unwrap_or(""));
        let call = || {
            self.base
                .port
                .failover_db_cluster(&p.cluster, p.target_instance.as_deref())
        };
        // RDS shows a failover it accepted within seconds: `failing-over`, or a new writer.
        let sign = |grace: Context| async move {
            let cluster = self.describe(&grace).await?;
            let started = !cluster.is_available() || cluster.writer().unwrap_or_default() != from;
            Ok(if started {
                Poll::Ready(())
            } else {
                Poll::Pending(cluster.summary())
            })
        };
        let sent = once.send(ctx, intent, resume, call, sign).await;
        if sent.is_err() {
            // Refused: no failover was requested (the intent is withdrawn too), so a retry
            // starts afresh instead of waiting for one.
            self.requested_from.clear();
        }
        sent
    }

    /// Why the cluster cannot be failed over right now, if it cannot.
    async fn blocker(
        &self,
        ctx: &Context,
        cluster: &DbCluster,
    ) -> Result<Option<String>, ActionError> {
        if !cluster.is_available() {
            return Ok(Some(format!(
                "cluster {} is {}, not available",
                cluster.id, cluster.status
            )));
        }
        let candidates: Vec<&str> = match &self.base.params.target_instance {
            Some(target) if !cluster.has_member(target) => {
                let members: Vec<_> = cluster
                    .members
                    .iter()
                    .map(|m| m.instance_id.as_str())
                    .collect();
                return Ok(Some(format!(
                    "{target} is not a member of cluster {} (members: {})",
                    cluster.id,
                    members.join(", ")
                )));
            }
            Some(target) => vec![target.as_str()],
            None => cluster.readers().map(|m| m.instance_id.as_str()).collect(),
        };
        if candidates.is_empty() {
            return Ok(Some(format!(
                "cluster {} has no reader to promote",
                cluster.id
            )));
        }
        let mut states = Vec::new();
        for instance in candidates {
            let found = ctx
                .bounded(self.base.port.describe_db_instance(instance))
                .await?;
            if found.status == "available" {
                return Ok(None);
            }
            states.push(format!("{instance} is {}", found.status));
        }
        Ok(Some(format!(
            "no reader is available to promote: {}",
            states.join(", ")
        )))
    }
}

#[async_trait]
impl Act for FailoverDbCluster {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let cluster = match self.describe(ctx).await {
            Ok(cluster) => cluster,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "DB cluster {} does not exist",
                    self.base.params.cluster
                )));
            }
            Err(e) => return Err(e),
        };
        let from = self.requested_from(ctx);
        let already_target = match &self.base.params.target_instance {
            Some(target) => cluster.writer() == Some(target.as_str()),
            // Without a target, "done" is only knowable for a failover this step requested.
            None => from.is_some(),
        };
        if already_target && self.is_complete(&cluster, from.as_deref()) {
            return Ok(Check::Done {
                detail: format!(
                    "cluster {} is available with writer {}",
                    cluster.id,
                    cluster.writer().unwrap_or("none")
                ),
                outputs: Self::outputs(&cluster, from.as_deref()),
            });
        }
        if let Some(from) = &from {
            // Requested earlier (the answer was lost, or the run was resumed): executing again
            // only waits for that failover; nothing is sent again.
            return Ok(Check::ready(format!(
                "wait for the failover of DB cluster {} from writer {} requested earlier \
                 (now: {})",
                cluster.id,
                if from.is_empty() { "none" } else { from },
                cluster.summary()
            )));
        }
        if in_progress(&cluster.status) {
            // Another operation (a failover, a modification) is under way: RDS would refuse
            // this one now (InvalidDBClusterStateFault), and accepts it once that ends.
            return Ok(Check::ready(format!(
                "wait for the operation in progress on DB cluster {} to end (now: {}), then \
                 fail it over{}",
                cluster.id,
                cluster.summary(),
                self.base
                    .params
                    .target_instance
                    .as_deref()
                    .map(|t| format!(" to {t}"))
                    .unwrap_or_default()
            )));
        }
        if let Some(reason) = self.blocker(ctx, &cluster).await? {
            return Ok(Check::blocked(reason));
        }
        let to = self
            .base
            .params
            .target_instance
            .as_deref()
            .unwrap_or("a reader chosen by RDS");
        Ok(Check::ready(format!(
            "fail over DB cluster {}: writer {} -> {to}",
            cluster.id,
            cluster.writer().unwrap_or("none")
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let started = Instant::now();
        let (from, sent) = match self.requested_from(ctx) {
            // Requested earlier (by this attempt's predecessor or the run being resumed): do
            // not request a second one (that would fail back); reconcile by waiting for it.
            Some(from) => {
                let sent = self.send(ctx, &from, true).await?;
                (from, sent)
            }
            None => {
                let mut refusals = 0;
                loop {
                    let cluster = self.settled(ctx).await?;
                    if let Some(target) = &self.base.params.target_instance
                        && cluster.writer() == Some(target.as_str())
                        && cluster.is_available()
                    {
                        ctx.progress(format!("{target} is already the writer"));
                        return Ok(Self::outputs(&cluster, None));
                    }
                    if let Some(reason) = self.blocker(ctx, &cluster).await? {
                        return Err(ActionError::precondition(reason));
                    }
                    let from = cluster.writer().unwrap_or_default().to_owned();
                    match self.send(ctx, &from, false).await {
                        // Refused because another operation started meanwhile: nothing was
                        // changed; wait for it to end and decide again.
                        Err(e) if is_state_fault(&e) && refusals < BUSY_RETRIES => {
                            let now = self.describe(ctx).await?;
                            if !in_progress(&now.status) {
                                return Err(e);
                            }
                            refusals += 1;
                            ctx.progress(format!(
                                "FailoverDBCluster refused ({}) while cluster {} is {}: an \
                                 operation is in progress; deciding again once it ends",
                                e.code().unwrap_or_default(),
                                now.id,
                                now.status
                            ));
                        }
                        sent => {
                            let sent = sent?;
                            self.requested_from.set(from.clone());
                            break (from, sent);
                        }
                    }
                }
            }
        };
        let p = &self.base.params;
        let what = match &p.target_instance {
            Some(target) => format!("{target} to be the writer of an available {}", p.cluster),
            None => format!("a new writer of an available {}", p.cluster),
        };
        let cluster = wait_until(ctx, &what, &self.base.wait, || async {
            let cluster = self.describe(ctx).await?;
            Ok(if self.is_complete(&cluster, Some(&from)) {
                Poll::Ready(cluster)
            } else {
                Poll::Pending(cluster.summary())
            })
        })
        .await
        // Still the old writer: the request may never have reached RDS. Not resent blindly:
        // the operator decides (the cluster's events show whether it started).
        .map_err(|e| {
            sent.explain(
                e,
                "FailoverDBCluster",
                "the cluster's events (aws rds describe-events)",
            )
        })?;
        ctx.progress(format!(
            "writer of {} is now {} after {:.3} s",
            cluster.id,
            cluster.writer().unwrap_or("none"),
            started.elapsed().as_secs_f64()
        ));
        Ok(Self::outputs(&cluster, Some(&from)))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let cluster = self.describe(ctx).await?;
        let from = self.requested_from(ctx);
        if self.is_complete(&cluster, from.as_deref()) {
            Ok(format!(
                "cluster {} is available with writer {}",
                cluster.id,
                cluster.writer().unwrap_or("none")
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "cluster {} has not failed over as expected: {}",
                cluster.id,
                cluster.summary()
            )))
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        // What this instance did, else (after a resume) what the step recorded.
        let recorded = || {
            let out = ctx.outputs_of(&self.base.id)?;
            let previous = out.get_str("previous_writer").filter(|p| !p.is_empty())?;
            (out.get_str("writer") != Some(previous)).then(|| previous.to_owned())
        };
        let Some(previous) = self
            .requested_from(ctx)
            .filter(|p| !p.is_empty())
            .or_else(recorded)
        else {
            return Err(ActionError::unsupported(
                "nothing to roll back: this step did not fail the cluster over from a writer",
            ));
        };
        // The fail-back is a change of its own, with its own intent: after a crash during it,
        // a resumed rollback waits for it instead of sending another.
        let ctx = &ctx.for_compensation();
        let back = Self::new(
            format!("{}-rollback", self.base.id),
            FailoverDbClusterParams::new(self.base.params.cluster.clone()).to_instance(previous),
            Arc::clone(&self.base.port),
            self.base.region(),
        )
        .with_wait_policy(self.base.wait.clone());
        back.apply(ctx).await?;
        self.requested_from.clear();
        Ok(())
    }
}

#[cfg(test)]
#[path = "failover_tests.rs"]
mod tests;
