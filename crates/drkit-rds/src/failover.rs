//! `rds.failover_db_cluster`: fail an Aurora cluster over to a reader.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use drkit_core::{
    ActionError, Check, Context, ErrorKind, Outputs, Poll, RecoveryAction, Resource, WaitPolicy,
    wait_until,
};
use serde::Deserialize;
use tokio::time::Instant;

use crate::port::{DbCluster, RdsApi};

/// The parameters of `rds.failover_db_cluster`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FailoverDbClusterParams {
    /// The cluster identifier, e.g. `mint-replica-cluster`.
    pub cluster: String,
    /// The reader to promote; when absent RDS picks one (by promotion tier).
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
/// - `execute`: `FailoverDBCluster`, then waits until the writer is the target (or, with no
///   target, any instance other than the old writer) and the cluster is `available`. If it is
///   executed again after a failure (e.g. by the retry layer), it does not fail over a second
///   time: it resumes waiting for the failover it already requested.
/// - `verify`: the same post-condition, read again.
/// - `rollback`: fails back to the writer it replaced (only if this action failed over).
///
/// Outputs: `writer`, `previous_writer`, `cluster_status`.
pub struct FailoverDbCluster {
    id: String,
    params: FailoverDbClusterParams,
    target: Resource,
    api: Arc<dyn RdsApi>,
    wait: WaitPolicy,
    /// The writer this action failed over *from*, once it has called `FailoverDBCluster`.
    requested_from: Mutex<Option<String>>,
}

impl fmt::Debug for FailoverDbCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailoverDbCluster")
            .field("id", &self.id)
            .field("params", &self.params)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// The kind name.
pub(crate) const KIND: &str = "rds.failover_db_cluster";

/// The IAM actions it needs.
pub(crate) const IAM_ACTIONS: &[&str] = &[
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:FailoverDBCluster",
];

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
            id: id.into(),
            params,
            target,
            api,
            wait: WaitPolicy::default(),
            requested_from: Mutex::new(None),
        }
    }

    /// Uses `policy` for the wait after the failover call.
    #[must_use]
    pub fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    fn requested_from(&self) -> Option<String> {
        self.requested_from
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_requested_from(&self, writer: Option<String>) {
        *self
            .requested_from
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = writer;
    }

    async fn describe(&self, ctx: &Context) -> Result<DbCluster, ActionError> {
        ctx.bounded(self.api.describe_db_cluster(&self.params.cluster))
            .await
            .map_err(|e| e.in_action(self))
    }

    /// Whether the failover has taken effect, given the writer it started from.
    fn is_complete(&self, cluster: &DbCluster, from: Option<&str>) -> bool {
        if !cluster.is_available() {
            return false;
        }
        match (&self.params.target_instance, cluster.writer()) {
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
        let candidates: Vec<&str> = match &self.params.target_instance {
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
                .bounded(self.api.describe_db_instance(instance))
                .await
                .map_err(|e| e.in_action(self))?;
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
impl RecoveryAction for FailoverDbCluster {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    fn target(&self) -> &Resource {
        &self.target
    }

    fn mutates(&self) -> bool {
        true
    }

    fn iam_actions(&self) -> &'static [&'static str] {
        IAM_ACTIONS
    }

    fn supports_rollback(&self) -> bool {
        true
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        let cluster = match self.describe(ctx).await {
            Ok(cluster) => cluster,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "DB cluster {} does not exist",
                    self.params.cluster
                )));
            }
            Err(e) => return Err(e),
        };
        let from = self.requested_from();
        let already_target = match &self.params.target_instance {
            Some(target) => cluster.writer() == Some(target.as_str()),
            // Without a target, "done" is only knowable for a failover this action requested.
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
        if let Some(reason) = self.blocker(ctx, &cluster).await? {
            return Ok(Check::blocked(reason));
        }
        let to = self
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

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        ctx.refuse_dry_run().map_err(|e| e.in_action(self))?;
        let started = Instant::now();
        let from = match self.requested_from() {
            // Executed again after a failure: the failover was already requested; do not
            // request a second one (that would fail back), just wait for it.
            Some(from) => {
                ctx.progress(format!(
                    "failover from {from} already requested; waiting for it"
                ));
                Some(from)
            }
            None => {
                let cluster = self.describe(ctx).await?;
                if let Some(target) = &self.params.target_instance
                    && cluster.writer() == Some(target.as_str())
                    && cluster.is_available()
                {
                    ctx.progress(format!("{target} is already the writer"));
                    return Ok(Self::outputs(&cluster, None));
                }
                if let Some(reason) = self.blocker(ctx, &cluster).await? {
                    return Err(ActionError::precondition(reason).in_action(self));
                }
                let from = cluster.writer().map(str::to_owned);
                ctx.bounded(self.api.failover_db_cluster(
                    &self.params.cluster,
                    self.params.target_instance.as_deref(),
                ))
                .await
                .map_err(|e| e.with_operation("FailoverDBCluster").in_action(self))?;
                self.set_requested_from(from.clone());
                ctx.progress(format!(
                    "FailoverDBCluster accepted for {} (writer was {})",
                    self.params.cluster,
                    from.as_deref().unwrap_or("none")
                ));
                from
            }
        };

        let what = match &self.params.target_instance {
            Some(target) => format!(
                "{target} to be the writer of an available {}",
                self.params.cluster
            ),
            None => format!("a new writer of an available {}", self.params.cluster),
        };
        let cluster = wait_until(ctx, &what, &self.wait, || async {
            let cluster = ctx
                .bounded(self.api.describe_db_cluster(&self.params.cluster))
                .await?;
            Ok(if self.is_complete(&cluster, from.as_deref()) {
                Poll::Ready(cluster)
            } else {
                Poll::Pending(cluster.summary())
            })
        })
        .await
        .map_err(|e| e.in_action(self))?;
        ctx.progress(format!(
            "writer of {} is now {} after {:.3} s",
            cluster.id,
            cluster.writer().unwrap_or("none"),
            started.elapsed().as_secs_f64()
        ));
        Ok(Self::outputs(&cluster, from.as_deref()))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let cluster = self.describe(ctx).await?;
        let from = self.requested_from();
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
            ))
            .in_action(self))
        }
    }

    async fn rollback(&self, ctx: &Context) -> Result<(), ActionError> {
        // What this instance did, else (after a resume) what the step recorded.
        let recorded = || {
            let out = ctx.outputs_of(&self.id)?;
            let previous = out.get_str("previous_writer").filter(|p| !p.is_empty())?;
            (out.get_str("writer") != Some(previous)).then(|| previous.to_owned())
        };
        let Some(previous) = self.requested_from().or_else(recorded) else {
            return Err(ActionError::unsupported(
                "nothing to roll back: this action did not fail the cluster over",
            )
            .in_action(self));
        };
        let back = Self::new(
            format!("{}-rollback", self.id),
            FailoverDbClusterParams::new(self.params.cluster.clone()).to_instance(previous),
            Arc::clone(&self.api),
            self.target.region.as_deref(),
        )
        .with_wait_policy(self.wait.clone());
        back.execute(ctx).await.map(|_| ())
    }
}

#[cfg(test)]
#[path = "failover_tests.rs"]
mod tests;
