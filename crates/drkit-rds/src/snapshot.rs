//! `rds.create_snapshot`: the safety snapshot before a risky step.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use drkit_core::{
    ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource, WaitPolicy,
};
use serde::Deserialize;

use crate::common::{identity, rfc3339, snapshot_ready};
use crate::port::{DbSnapshot, RdsApi, SnapshotOf};

pub(crate) const KIND: &str = "rds.create_snapshot";
pub(crate) const IAM: &[&str] = &[
    "rds:CreateDBSnapshot",
    "rds:CreateDBClusterSnapshot",
    "rds:DescribeDBSnapshots",
    "rds:DescribeDBClusterSnapshots",
];

/// The parameters of `rds.create_snapshot`: exactly one of `instance` and `cluster`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SnapshotParams {
    /// The instance to snapshot.
    #[serde(default)]
    pub instance: Option<String>,
    /// The Aurora cluster to snapshot.
    #[serde(default)]
    pub cluster: Option<String>,
    /// The snapshot's identifier (default `<source>-drkit-<step id>`, so a re-run finds the
    /// snapshot it already took instead of taking another).
    #[serde(default)]
    pub snapshot_id: Option<String>,
}

impl SnapshotParams {
    /// A snapshot of `instance`.
    pub fn instance(instance: impl Into<String>) -> Self {
        Self {
            instance: Some(instance.into()),
            cluster: None,
            snapshot_id: None,
        }
    }

    /// A snapshot of `cluster`.
    pub fn cluster(cluster: impl Into<String>) -> Self {
        Self {
            instance: None,
            cluster: Some(cluster.into()),
            snapshot_id: None,
        }
    }
}

/// Takes a DB (instance or cluster) snapshot and waits until it is `available`.
/// Outputs: `snapshot`, `source`, `taken_at`. No rollback: a safety snapshot is kept.
pub struct CreateSnapshot {
    id: String,
    of: SnapshotOf,
    source: String,
    snapshot: String,
    target: Resource,
    api: Arc<dyn RdsApi>,
    wait: WaitPolicy,
}

impl fmt::Debug for CreateSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateSnapshot")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("snapshot", &self.snapshot)
            .finish_non_exhaustive()
    }
}

impl CreateSnapshot {
    /// A snapshot step `id`; `params` must name exactly one of instance and cluster (the
    /// registry checks this; here an instance wins).
    pub fn new(
        id: impl Into<String>,
        params: SnapshotParams,
        api: Arc<dyn RdsApi>,
        region: Option<&str>,
    ) -> Self {
        let id = id.into();
        let (of, source) = match (params.instance, params.cluster) {
            (Some(instance), _) => (SnapshotOf::Instance, instance),
            (None, Some(cluster)) => (SnapshotOf::Cluster, cluster),
            (None, None) => (SnapshotOf::Instance, String::new()),
        };
        let snapshot = params
            .snapshot_id
            .unwrap_or_else(|| format!("{source}-drkit-{id}"));
        let kind = match of {
            SnapshotOf::Instance => "db-snapshot",
            SnapshotOf::Cluster => "db-cluster-snapshot",
        };
        let target = Resource::new("rds", kind, snapshot.clone()).in_region(region);
        Self {
            id,
            of,
            source,
            snapshot,
            target,
            api,
            wait: WaitPolicy::default(),
        }
    }

    /// Uses `policy` for the wait.
    #[must_use]
    pub fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    async fn existing(&self, ctx: &Context) -> Result<Option<DbSnapshot>, ActionError> {
        match ctx
            .bounded(self.api.describe_snapshot(self.of, &self.snapshot))
            .await
        {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.in_action(self)),
        }
    }

    fn outputs(&self, s: &DbSnapshot) -> Outputs {
        Outputs::new()
            .with("snapshot", s.id.clone())
            .with("source", self.source.clone())
            .with("taken_at", s.created.map(rfc3339).unwrap_or_default())
    }
}

#[async_trait]
impl RecoveryAction for CreateSnapshot {
    identity!(kind = KIND, mutates = true, iam = IAM);

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        Ok(match self.existing(ctx).await? {
            Some(s) if s.status == "available" => Check::Done {
                detail: format!("snapshot {} exists", s.id),
                outputs: self.outputs(&s),
            },
            Some(s) => Check::ready(format!("wait for snapshot {} ({})", s.id, s.status)),
            None => Check::ready(format!("snapshot {} as {}", self.source, self.snapshot)),
        })
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        ctx.refuse_dry_run().map_err(|e| e.in_action(self))?;
        if self.existing(ctx).await?.is_none() {
            ctx.bounded(
                self.api
                    .create_snapshot(self.of, &self.source, &self.snapshot),
            )
            .await
            .map_err(|e| e.in_action(self))?;
            ctx.progress(format!(
                "snapshot {} of {} requested at {}",
                self.snapshot,
                self.source,
                rfc3339(SystemTime::now())
            ));
        }
        let s = snapshot_ready(ctx, self.api.as_ref(), &self.wait, self.of, &self.snapshot)
            .await
            .map_err(|e| e.in_action(self))?;
        Ok(self.outputs(&s))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        match self.existing(ctx).await? {
            Some(s) if s.status == "available" => Ok(format!("snapshot {} is available", s.id)),
            other => Err(ActionError::postcondition(format!(
                "snapshot {} is not available ({})",
                self.snapshot,
                other.map_or_else(|| "missing".to_owned(), |s| s.status)
            ))
            .in_action(self)),
        }
    }
}
