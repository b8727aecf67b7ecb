//! `rds.create_snapshot`: the safety snapshot before a risky step.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, StepSpec,
};
use serde::Deserialize;

use crate::common::{
    RunStart, exactly_one, optional_identifier, rfc3339, run_scoped_name, snapshot_ready,
};
use crate::port::{DbSnapshot, RdsApi, SnapshotOf};

/// The parameters of `rds.create_snapshot`: exactly one of `instance` and `cluster`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SnapshotParams {
    /// The instance to snapshot (or give `cluster`).
    #[serde(default)]
    pub instance: Option<String>,
    /// The Aurora cluster to snapshot (or give `instance`).
    #[serde(default)]
    pub cluster: Option<String>,
    /// The snapshot's identifier (default `<source>-drkit-<step id>-<run tag>`, the tag made
    /// from the run's id: a resume of the run finds the snapshot it took, the next run takes a
    /// new one). A snapshot of that name made before the run started is refused.
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
///
/// The snapshot is this run's: named after the run by default, and a snapshot of its name
/// created before the run started (last quarter's drill) is refused, never reported as taken.
#[derive(Debug, HasBase)]
pub struct CreateSnapshot {
    base: Base<Self>,
    of: SnapshotOf,
    source: String,
    run_start: RunStart,
}

impl ActionKind for CreateSnapshot {
    const KIND: &'static str = "rds.create_snapshot";
    const SUMMARY: &'static str =
        "Take a safety snapshot of an instance or a cluster and wait until it is available";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "rds:CreateDBSnapshot",
        "rds:CreateDBClusterSnapshot",
        "rds:DescribeDBSnapshots",
        "rds:DescribeDBClusterSnapshots",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("snapshot", "its id"),
        OutputDoc::new("source", "what it is of"),
        OutputDoc::new("taken_at", "when"),
    ];
    type Params = SnapshotParams;
    type Port = dyn RdsApi;
    type Ports = PortFactory<dyn RdsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        exactly_one(
            ("instance", p.instance.as_deref()),
            ("cluster", p.cluster.as_deref()),
        )?;
        optional_identifier("snapshot_id", p.snapshot_id.as_deref())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let port = ports.get(step.region());
        let region = step.region.clone();
        Ok(Self::new(step.id, step.params, port, region.as_deref()))
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
        let (of, source) = match (&params.instance, &params.cluster) {
            (Some(instance), _) => (SnapshotOf::Instance, instance.clone()),
            (None, Some(cluster)) => (SnapshotOf::Cluster, cluster.clone()),
            (None, None) => (SnapshotOf::Instance, String::new()),
        };
        // The run's tag is known only when the step runs: the resource names the pattern.
        let name = params
            .snapshot_id
            .clone()
            .unwrap_or_else(|| format!("{source}-drkit-{id}-<run>"));
        let kind = match of {
            SnapshotOf::Instance => "db-snapshot",
            SnapshotOf::Cluster => "db-cluster-snapshot",
        };
        let target = Resource::new("rds", kind, name).in_region(region);
        Self {
            base: Base::new(id, params, target, api),
            of,
            source,
            run_start: RunStart::default(),
        }
    }

    /// The snapshot's name in the run of `ctx`: the one given, else
    /// `<source>-drkit-<step>-<run tag>`.
    pub fn snapshot_name(&self, ctx: &Context) -> String {
        match &self.base.params.snapshot_id {
            Some(name) => name.clone(),
            None => run_scoped_name(
                &format!("{}-drkit-{}", self.source, self.base.id),
                ctx.run_id(),
            ),
        }
    }

    /// The snapshot, if it exists; refused if it was made before the run started.
    async fn existing(&self, ctx: &Context, name: &str) -> Result<Option<DbSnapshot>, ActionError> {
        let found = match ctx
            .bounded(self.base.port.describe_snapshot(self.of, name))
            .await
        {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let fix = if self.base.params.snapshot_id.is_some() {
            "give another `snapshot_id`"
        } else {
            "run the plan anew (a new run id)"
        };
        self.run_start
            .refuse_stale(ctx, &format!("snapshot {name}"), found.created, fix)?;
        Ok(Some(found))
    }

    fn outputs(&self, s: &DbSnapshot) -> Outputs {
        Outputs::new()
            .with("snapshot", s.id.clone())
            .with("source", self.source.clone())
            .with("taken_at", s.created.map(rfc3339).unwrap_or_default())
    }
}

#[async_trait]
impl Act for CreateSnapshot {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        if ctx.is_dry_run() && ctx.run_id().is_none() && self.base.params.snapshot_id.is_none() {
            // A dry run has no run yet: the name is made when the run starts, and no snapshot
            // of an earlier run can have it.
            return Ok(Check::ready(format!(
                "snapshot {} as {}-drkit-{}-<run tag> (named when the run starts)",
                self.source, self.source, self.base.id
            )));
        }
        let name = self.snapshot_name(ctx);
        Ok(match self.existing(ctx, &name).await? {
            Some(s) if s.status == "available" => Check::Done {
                detail: format!("snapshot {} exists (taken in this run)", s.id),
                outputs: self.outputs(&s),
            },
            Some(s) => Check::ready(format!("wait for snapshot {} ({})", s.id, s.status)),
            None => Check::ready(format!("snapshot {} as {name}", self.source)),
        })
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let name = self.snapshot_name(ctx);
        if self.existing(ctx, &name).await?.is_none() {
            ctx.bounded(self.base.port.create_snapshot(self.of, &self.source, &name))
                .await?;
            ctx.progress(format!(
                "snapshot {name} of {} requested at {}",
                self.source,
                rfc3339(SystemTime::now())
            ));
        }
        let s = snapshot_ready(
            ctx,
            self.base.port.as_ref(),
            &self.base.wait,
            self.of,
            &name,
        )
        .await?;
        Ok(self.outputs(&s))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let name = self.snapshot_name(ctx);
        match self.existing(ctx, &name).await? {
            Some(s) if s.status == "available" => Ok(format!("snapshot {} is available", s.id)),
            other => Err(ActionError::postcondition(format!(
                "snapshot {name} is not available ({})",
                other.map_or_else(|| "missing".to_owned(), |s| s.status)
            ))),
        }
    }
}
