//! Reprotect after an ungraceful Region loss (issue 18, "Failback and reprotect"): rebuild an
//! Aurora global database around the cluster that was detached and now writes on its own, and
//! add a secondary back in the old primary's Region. AWS's procedure ("Recovering an Amazon
//! Aurora global database from an unplanned outage"):
//!
//! - `rds.create_global_cluster`: `CreateGlobalCluster` with `SourceDBClusterIdentifier`: the
//!   promoted cluster becomes the primary of a (new) global database.
//! - `rds.retire_global_cluster`: the old global database, which still holds the stale old
//!   primary (with writes that may never have replicated), loses every member
//!   (`RemoveFromGlobalCluster`, each in its own Region) and is deleted (`DeleteGlobalCluster`:
//!   only a global database without members can be). The clusters stay, standalone.
//! - `rds.add_global_secondary`: `CreateDBCluster` with `GlobalClusterIdentifier` (the global
//!   database's engine and version, no master credentials) and `CreateDBInstance` for its
//!   instances: a new secondary in the old primary's Region.
//!
//! Each change is exactly once as in [`crate::global`]: its intent is journalled before one SDK
//! attempt; after a lost answer, a retry or a resume the action reads state and waits for the
//! change, and sends it again only when no sign of it shows within [`UNSTARTED_GRACE`] (the
//! request never reached RDS), at most [`MAX_UNANSWERED_SENDS`] times.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params, Poll,
    PortFactory, StepSpec, WaitPolicy, wait_until,
};
use serde::Deserialize;

use crate::common::{
    SERVERLESS_CLASS, arn_region, capacity, cluster_ready, found, identifier, instance_gone,
    instance_ready, parameter_group, security_groups, step_created, subnet_group,
};
use crate::global::{
    describe, global_id, global_outputs, global_resource, global_settled, is_cluster_arn,
    member_name, members_text,
};
use crate::port::{DbCluster, GlobalCluster, RdsApi, RestoreSettings, SecondaryCluster};
use drkit_core::once::{Once, appeared};

/// Whether the global cluster `global` no longer has member `arn` (or no longer exists).
async fn not_member(
    api: &dyn RdsApi,
    ctx: &Context,
    global: &str,
    arn: &str,
) -> Result<Poll<()>, ActionError> {
    Ok(match found(describe(api, ctx, global).await)? {
        Some(g) if g.members.iter().any(|m| m.arn == arn) => {
            Poll::Pending(format!("{arn} still a member ({})", g.summary()))
        }
        _ => Poll::Ready(()),
    })
}

/// Whether the global cluster `global` is gone.
async fn global_gone(
    api: &dyn RdsApi,
    ctx: &Context,
    global: &str,
) -> Result<Poll<()>, ActionError> {
    Ok(match found(describe(api, ctx, global).await)? {
        Some(g) => Poll::Pending(format!("status={}", g.status)),
        None => Poll::Ready(()),
    })
}

/// The intent's `op` and `cluster`, to tell which call of a sequence an earlier attempt made.
fn intent_is(ctx: &Context, op: &str, cluster: Option<&str>) -> bool {
    ctx.intent().is_some_and(|i| {
        i.get_str("op") == Some(op) && cluster.is_none_or(|c| i.get_str("cluster") == Some(c))
    })
}

/// Removes member `arn` from `global` (`RemoveFromGlobalCluster` in the member's own Region,
/// exactly once) and waits until it is no longer a member. `intent` is journalled with it.
async fn remove_member(
    ctx: &Context,
    ports: &PortFactory<dyn RdsApi>,
    home: &dyn RdsApi,
    wait: &WaitPolicy,
    (global, arn): (&str, &str),
    intent: Outputs,
) -> Result<(), ActionError> {
    let region = arn_region(arn);
    if ctx.is_region_impaired(region) {
        return Err(ActionError::precondition(format!(
            "{arn} is in {region}, an impaired region: RemoveFromGlobalCluster is called there"
        )));
    }
    // Refused while another operation is under way (InvalidGlobalClusterStateFault).
    global_settled_or_gone(home, ctx, wait, global).await?;
    let port = ports.get(Some(region));
    let what = format!("{arn} out of global cluster {global}");
    Once::new("RemoveFromGlobalCluster", &what, wait)
        .send(
            ctx,
            intent.with("op", "remove").with("cluster", arn),
            intent_is(ctx, "remove", Some(arn)),
            || port.remove_from_global_cluster(global, arn),
            |grace| async move { not_member(home, &grace, global, arn).await },
        )
        .await?;
    wait_until(ctx, &format!("{what} to be removed"), wait, || {
        not_member(home, ctx, global, arn)
    })
    .await
}

/// Waits until `global` is settled; a missing global cluster is not an error here.
async fn global_settled_or_gone(
    api: &dyn RdsApi,
    ctx: &Context,
    wait: &WaitPolicy,
    global: &str,
) -> Result<(), ActionError> {
    match global_settled(api, ctx, wait, global).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes every member of `global` (the secondaries first, then the writer: RDS removes the
/// primary only when it is the last) and deletes it (`DeleteGlobalCluster`), exactly once
/// each; waits until it is gone. `intent` is journalled with each call. Returns the ARNs of the
/// members this call removed.
async fn retire(
    ctx: &Context,
    ports: &PortFactory<dyn RdsApi>,
    home: &dyn RdsApi,
    wait: &WaitPolicy,
    global: &str,
    intent: &Outputs,
) -> Result<Vec<String>, ActionError> {
    let Some(g) = found(describe(home, ctx, global).await)? else {
        return Ok(Vec::new());
    };
    let mut members = g.members.clone();
    members.sort_by_key(|m| m.is_writer);
    let mut removed = Vec::new();
    for m in members {
        remove_member(ctx, ports, home, wait, (global, &m.arn), intent.clone()).await?;
        removed.push(m.arn);
    }
    global_settled_or_gone(home, ctx, wait, global).await?;
    let what = format!("delete global cluster {global}");
    Once::new("DeleteGlobalCluster", &what, wait)
        .exists_code("GlobalClusterNotFoundFault")
        .send(
            ctx,
            intent.clone().with("op", "delete"),
            intent_is(ctx, "delete", None),
            || async {
                match home.delete_global_cluster(global).await {
                    // Already gone (a repeat after a lost answer, or another hand): done.
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                    other => other,
                }
            },
            |grace| async move { global_gone(home, &grace, global).await },
        )
        .await?;
    wait_until(
        ctx,
        &format!("global cluster {global} to be deleted"),
        wait,
        || global_gone(home, ctx, global),
    )
    .await?;
    Ok(removed)
}

// --- rds.create_global_cluster ------------------------------------------------------------

/// The parameters of `rds.create_global_cluster`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CreateGlobalClusterParams {
    /// The new global database's identifier, e.g. `mint-global-2` (an existing one is never
    /// taken over: retire it first).
    pub global_cluster: String,
    /// The cluster that becomes its primary (the promoted, standalone writer): its ARN, or its
    /// identifier in the step's Region.
    pub source_cluster: String,
    /// `DeletionProtection` of the global database (RDS's default: off).
    #[serde(default)]
    pub deletion_protection: Option<bool>,
}

impl CreateGlobalClusterParams {
    /// A global database `global` around `source`.
    pub fn new(global: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            global_cluster: global.into(),
            source_cluster: source.into(),
            deletion_protection: None,
        }
    }
}

/// `rds.create_global_cluster`: makes a standalone Aurora cluster the primary of a new global
/// database (`CreateGlobalCluster` with `SourceDBClusterIdentifier`, called in the source's
/// Region), and waits until the global database is `available` with it as the writer. Blocked
/// when a global database of that name exists built otherwise (e.g. the old one, still holding
/// the stale primary: retire it first) or the source is a member of one. Rollback (only when
/// this step created it): `RemoveFromGlobalCluster` of the source, then `DeleteGlobalCluster`.
#[derive(Debug, HasBase)]
pub struct CreateGlobalCluster {
    base: Base<Self>,
    ports: PortFactory<dyn RdsApi>,
    source_id: String,
    created: AtomicBool,
}

impl ActionKind for CreateGlobalCluster {
    const KIND: &'static str = "rds.create_global_cluster";
    const SUMMARY: &'static str = "Make a standalone Aurora cluster the primary of a new global \
                                   database (reprotect after a detach)";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "rds:DescribeDBClusters",
        "rds:DescribeGlobalClusters",
        "rds:CreateGlobalCluster",
        "rds:RemoveFromGlobalCluster",
        "rds:DeleteGlobalCluster",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("status", "the global cluster's status (`available`)"),
        OutputDoc::new("writer", "the ARN of its writer: the source cluster"),
        OutputDoc::new("writer_cluster", "the writer's identifier"),
        OutputDoc::new("writer_region", "the writer's Region"),
        OutputDoc::new(
            "members",
            "every member as region/cluster (writer or secondary)",
        ),
        OutputDoc::new(
            "created",
            "`true` when this step created the global cluster (what rollback undoes)",
        ),
    ];
    type Params = CreateGlobalClusterParams;
    type Port = dyn RdsApi;
    type Ports = PortFactory<dyn RdsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        global_id(&p.global_cluster)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        member_name("source_cluster", &step.params.source_cluster, step.region())?;
        let source = step.params.source_cluster.clone();
        let (region, source_id) = if is_cluster_arn(&source) {
            (
                arn_region(&source).to_owned(),
                source.rsplit(':').next().unwrap_or_default().to_owned(),
            )
        } else {
            (step.region().unwrap_or_default().to_owned(), source)
        };
        let target = global_resource(&step.params.global_cluster, None);
        // CreateGlobalCluster is called in the source's Region.
        let port = ports.get(Some(&region));
        Ok(Self {
            base: step.with_port(target, port),
            ports: ports.clone(),
            source_id,
            created: AtomicBool::new(false),
        })
    }
}

impl CreateGlobalCluster {
    async fn source(&self, ctx: &Context) -> Result<Option<DbCluster>, ActionError> {
        found(
            ctx.bounded(self.base.port.describe_db_cluster(&self.source_id))
                .await,
        )
    }

    fn outputs(g: &GlobalCluster, created: bool) -> Outputs {
        global_outputs(g).with("created", created)
    }

    /// Why the existing global cluster `g` is not this step's (it is not built around `arn`).
    fn taken(g: &GlobalCluster, source: &str) -> String {
        format!(
            "global cluster {} already exists, and {source} is not its writer (members: {}): \
             it is not taken over; retire it first (rds.retire_global_cluster, naming its \
             members in expect_members) or choose another global_cluster",
            g.id,
            if g.members.is_empty() {
                "none".to_owned()
            } else {
                members_text(g)
            }
        )
    }

    fn in_another(source: &str, other: &str) -> String {
        format!(
            "{source} is a member of global cluster {other}: detach it first \
             (rds.detach_global_secondary) or retire {other}"
        )
    }
}

#[async_trait]
impl Act for CreateGlobalCluster {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let p = &self.base.params;
        let Some(source) = self.source(ctx).await? else {
            return Ok(Check::blocked(format!(
                "DB cluster {} does not exist",
                self.source_id
            )));
        };
        let Some(arn) = source.arn.clone() else {
            return Ok(Check::blocked(format!(
                "RDS did not give DB cluster {}'s ARN",
                self.source_id
            )));
        };
        let requested = ctx.intent().is_some();
        match found(describe(self.base.port.as_ref(), ctx, &p.global_cluster).await)? {
            Some(g) if g.writer().is_some_and(|w| w.arn == arn) && g.is_settled() => {
                Ok(Check::Done {
                    detail: format!(
                        "global cluster {} is available with writer {}",
                        g.id, self.source_id
                    ),
                    outputs: Self::outputs(&g, requested),
                })
            }
            Some(g) if requested && g.members.iter().all(|m| m.arn == arn) => {
                Ok(Check::ready(format!(
                    "wait for global cluster {} requested earlier to be available with writer \
                     {} (now: {})",
                    g.id,
                    self.source_id,
                    g.summary()
                )))
            }
            Some(g) => Ok(Check::blocked(Self::taken(&g, &self.source_id))),
            None => {
                if let Some(other) = &source.global_cluster {
                    return Ok(Check::blocked(Self::in_another(&self.source_id, other)));
                }
                if requested {
                    return Ok(Check::ready(format!(
                        "wait for the CreateGlobalCluster of {} requested earlier",
                        p.global_cluster
                    )));
                }
                if !source.is_available() {
                    return Ok(Check::blocked(format!(
                        "{} is not available ({}): CreateGlobalCluster needs an available cluster",
                        self.source_id, source.status
                    )));
                }
                Ok(Check::ready(format!(
                    "CreateGlobalCluster {} with {} ({}) as its primary",
                    p.global_cluster, self.source_id, arn
                )))
            }
        }
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = &self.base.params;
        let api = self.base.port.as_ref();
        let source = self.source(ctx).await?.ok_or_else(|| {
            ActionError::new(
                ErrorKind::NotFound,
                format!("DB cluster {} does not exist", self.source_id),
            )
        })?;
        let arn = source.arn.clone().ok_or_else(|| {
            ActionError::precondition(format!(
                "RDS did not give DB cluster {}'s ARN",
                self.source_id
            ))
        })?;
        let resume = ctx.intent().is_some();
        if !resume {
            if let Some(g) = found(describe(api, ctx, &p.global_cluster).await)? {
                if g.writer().is_some_and(|w| w.arn == arn) {
                    return Ok(Self::outputs(&g, false));
                }
                return Err(ActionError::precondition(Self::taken(&g, &self.source_id)));
            }
            if let Some(other) = &source.global_cluster {
                return Err(ActionError::precondition(Self::in_another(
                    &self.source_id,
                    other,
                )));
            }
        }
        let what = format!(
            "global cluster {} around {}",
            p.global_cluster, self.source_id
        );
        Once::new("CreateGlobalCluster", &what, &self.base.wait)
            .exists_code("GlobalClusterAlreadyExistsFault")
            .send(
                ctx,
                Outputs::new()
                    .with("source", arn.as_str())
                    .with("created", true),
                resume,
                || api.create_global_cluster(&p.global_cluster, &arn, p.deletion_protection),
                |grace| async move { appeared(describe(api, &grace, &p.global_cluster).await) },
            )
            .await?;
        self.created.store(true, Ordering::SeqCst);
        let wait_what = format!(
            "global cluster {} to be available with writer {}",
            p.global_cluster, self.source_id
        );
        let g = wait_until(ctx, &wait_what, &self.base.wait, || async {
            Ok(match found(describe(api, ctx, &p.global_cluster).await)? {
                Some(g) if g.is_settled() && g.writer().is_some_and(|w| w.arn == arn) => {
                    Poll::Ready(g)
                }
                Some(g) => Poll::Pending(g.summary()),
                None => Poll::Pending("not visible yet".into()),
            })
        })
        .await?;
        Ok(Self::outputs(&g, true))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let p = &self.base.params;
        let g = describe(self.base.port.as_ref(), ctx, &p.global_cluster).await?;
        match g.writer() {
            Some(w) if w.cluster_id() == self.source_id && g.is_settled() => Ok(format!(
                "global cluster {} is available with writer {} in {}",
                g.id,
                w.cluster_id(),
                w.region()
            )),
            _ => Err(ActionError::postcondition(format!(
                "global cluster {} is not available with writer {}: {}",
                g.id,
                self.source_id,
                g.summary()
            ))),
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let p = &self.base.params;
        if !step_created(&self.created, ctx, &self.base.id, "created") {
            return Err(ActionError::unsupported(format!(
                "nothing to roll back: this step did not create global cluster {}",
                p.global_cluster
            )));
        }
        let ctx = ctx.for_compensation();
        let api = self.base.port.as_ref();
        if let Some(g) = found(describe(api, &ctx, &p.global_cluster).await)? {
            let others: Vec<&str> = g
                .members
                .iter()
                .filter(|m| m.cluster_id() != self.source_id)
                .map(|m| m.arn.as_str())
                .collect();
            if !others.is_empty() {
                return Err(ActionError::precondition(format!(
                    "global cluster {} has other members ({}): roll back the steps that added \
                     them first",
                    g.id,
                    others.join(", ")
                )));
            }
        }
        retire(
            &ctx,
            &self.ports,
            api,
            &self.base.wait,
            &p.global_cluster,
            &Outputs::new(),
        )
        .await?;
        self.created.store(false, Ordering::SeqCst);
        Ok(())
    }
}

// --- rds.retire_global_cluster ------------------------------------------------------------

/// The parameters of `rds.retire_global_cluster`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RetireGlobalClusterParams {
    /// The global database to retire, e.g. the old `mint-replica-global`.
    pub global_cluster: String,
    /// Every member it may still have, each by ARN or cluster identifier: a member not named
    /// here refuses the step (name exactly what you retire; `[]` for none).
    #[param(ty = "list of strings")]
    pub expect_members: Vec<String>,
}

impl RetireGlobalClusterParams {
    /// Retire `global`, whose members are `members`.
    pub fn new(
        global: impl Into<String>,
        members: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            global_cluster: global.into(),
            expect_members: members.into_iter().map(Into::into).collect(),
        }
    }
}

/// `rds.retire_global_cluster`: removes every remaining member of an Aurora global database
/// (`RemoveFromGlobalCluster`, in each member's Region; the secondaries first) and deletes it
/// (`DeleteGlobalCluster`). The clusters are not deleted: they become standalone and keep their
/// data (the stale old primary may hold writes that never replicated). Refused when a member is
/// not in `expect_members`; done when the global cluster does not exist. No rollback.
#[derive(Debug, HasBase)]
pub struct RetireGlobalCluster {
    base: Base<Self>,
    ports: PortFactory<dyn RdsApi>,
}

impl ActionKind for RetireGlobalCluster {
    const KIND: &'static str = "rds.retire_global_cluster";
    const SUMMARY: &'static str = "Remove every member of an Aurora global database (they stay, \
                                   standalone) and delete it";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "rds:DescribeGlobalClusters",
        "rds:RemoveFromGlobalCluster",
        "rds:DeleteGlobalCluster",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new(
            "detached",
            "the ARNs of the clusters that became standalone (list; their data is kept)",
        ),
        OutputDoc::new("detached_clusters", "the same as region/cluster (list)"),
    ];
    type Params = RetireGlobalClusterParams;
    type Port = dyn RdsApi;
    type Ports = PortFactory<dyn RdsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        global_id(&p.global_cluster)?;
        for m in &p.expect_members {
            if m.starts_with("arn:") {
                member_name("expect_members", m, None)?;
            } else {
                identifier("expect_members", m)?;
            }
        }
        Ok(())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = global_resource(&step.params.global_cluster, None);
        Ok(Self {
            base: step.into_base(target, ports),
            ports: ports.clone(),
        })
    }
}

impl RetireGlobalCluster {
    /// The members of `g` the runbook did not name.
    fn unexpected(&self, g: &GlobalCluster) -> Vec<String> {
        g.members
            .iter()
            .filter(|m| {
                !self
                    .base
                    .params
                    .expect_members
                    .iter()
                    .any(|e| *e == m.arn || e == m.cluster_id())
            })
            .map(|m| format!("{}/{}", m.region(), m.cluster_id()))
            .collect()
    }

    fn refusal(&self, g: &GlobalCluster, unexpected: &[String]) -> String {
        format!(
            "global cluster {} has members not named in expect_members: {} (members: {}); \
             nothing is retired that the runbook does not name",
            g.id,
            unexpected.join(", "),
            members_text(g)
        )
    }

    /// The outputs for the members removed: from this call, or from the journalled intent.
    fn outputs(arns: &[String]) -> Outputs {
        let named: Vec<String> = arns
            .iter()
            .map(|a| {
                format!(
                    "{}/{}",
                    arn_region(a),
                    a.rsplit(':').next().unwrap_or_default()
                )
            })
            .collect();
        Outputs::new()
            .with("detached", arns.to_vec())
            .with("detached_clusters", named)
    }

    /// The members an earlier attempt set out to retire (journalled with each call).
    fn retiring(ctx: &Context) -> Vec<String> {
        ctx.intent()
            .and_then(|i| i.get("retiring").cloned())
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Act for RetireGlobalCluster {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let p = &self.base.params;
        let Some(g) = found(describe(self.base.port.as_ref(), ctx, &p.global_cluster).await)?
        else {
            return Ok(Check::Done {
                detail: format!("global cluster {} does not exist", p.global_cluster),
                outputs: Self::outputs(&Self::retiring(ctx)),
            });
        };
        let unexpected = self.unexpected(&g);
        if !unexpected.is_empty() {
            return Ok(Check::blocked(self.refusal(&g, &unexpected)));
        }
        Ok(Check::ready(format!(
            "retire global cluster {}: remove {} (they stay as standalone clusters, with their \
             data), then DeleteGlobalCluster",
            g.id,
            if g.members.is_empty() {
                "no member".to_owned()
            } else {
                members_text(&g)
            }
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = &self.base.params;
        let api = self.base.port.as_ref();
        let mut retiring = Self::retiring(ctx);
        if let Some(g) = found(describe(api, ctx, &p.global_cluster).await)? {
            let unexpected = self.unexpected(&g);
            if !unexpected.is_empty() {
                return Err(ActionError::precondition(self.refusal(&g, &unexpected)));
            }
            for m in g.members {
                if !retiring.contains(&m.arn) {
                    retiring.push(m.arn);
                }
            }
        }
        let intent = Outputs::new().with("retiring", retiring.clone());
        retire(
            ctx,
            &self.ports,
            api,
            &self.base.wait,
            &p.global_cluster,
            &intent,
        )
        .await?;
        Ok(Self::outputs(&retiring))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let p = &self.base.params;
        match found(describe(self.base.port.as_ref(), ctx, &p.global_cluster).await)? {
            None => Ok(format!("global cluster {} is gone", p.global_cluster)),
            Some(g) => Err(ActionError::postcondition(format!(
                "global cluster {} still exists: {}",
                g.id,
                g.summary()
            ))),
        }
    }
}

// --- rds.add_global_secondary -------------------------------------------------------------

/// An instance of the new secondary cluster.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SecondaryInstance {
    /// Its identifier.
    pub identifier: String,
    /// Its class (`db.r6g.large`, `db.serverless`, ...).
    pub class: String,
}

impl SecondaryInstance {
    /// An instance `identifier` of `class`.
    pub fn new(identifier: impl Into<String>, class: impl Into<String>) -> Self {
        Self {
            identifier: identifier.into(),
            class: class.into(),
        }
    }
}

/// An Aurora Serverless v2 capacity range, in ACUs.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ScalingParams {
    /// `MinCapacity`.
    pub min_capacity: f64,
    /// `MaxCapacity`.
    pub max_capacity: f64,
}

/// The parameters of `rds.add_global_secondary`. The step's `region` is the new secondary's.
#[derive(Clone, Debug, PartialEq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AddGlobalSecondaryParams {
    /// The global database to add the secondary to (its engine and version are used).
    pub global_cluster: String,
    /// The new secondary cluster's identifier (an existing cluster of that name is never
    /// adopted).
    pub cluster: String,
    /// Its instances, at least one: `{ identifier, class }`.
    #[param(ty = "list of tables")]
    pub instances: Vec<SecondaryInstance>,
    /// Its DB subnet group in that Region (default: RDS's default).
    #[serde(default)]
    pub db_subnet_group: Option<String>,
    /// Its VPC security group ids in that Region (default: the VPC's default group).
    #[serde(default)]
    #[param(ty = "list of strings")]
    pub vpc_security_group_ids: Option<Vec<String>>,
    /// Its DB cluster parameter group (default: the engine's default).
    #[serde(default)]
    pub db_cluster_parameter_group: Option<String>,
    /// A KMS key of that Region (ARN, id or alias): for an encrypted global database, the key
    /// its storage is encrypted with there (without one, RDS uses the Region's default key
    /// `aws/rds`).
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// `{ min_capacity, max_capacity }` in ACUs: required when an instance is `db.serverless`.
    #[serde(default)]
    #[param(ty = "table")]
    pub serverless_v2_scaling: Option<ScalingParams>,
}

impl AddGlobalSecondaryParams {
    /// A secondary `cluster` of `global` with `instances`.
    pub fn new(
        global: impl Into<String>,
        cluster: impl Into<String>,
        instances: Vec<SecondaryInstance>,
    ) -> Self {
        Self {
            global_cluster: global.into(),
            cluster: cluster.into(),
            instances,
            db_subnet_group: None,
            vpc_security_group_ids: None,
            db_cluster_parameter_group: None,
            kms_key_id: None,
            serverless_v2_scaling: None,
        }
    }

    fn settings(&self) -> RestoreSettings {
        RestoreSettings {
            subnet_group: self.db_subnet_group.clone(),
            security_groups: self.vpc_security_group_ids.clone().unwrap_or_default(),
            cluster_parameter_group: self.db_cluster_parameter_group.clone(),
            parameter_group: None,
            serverless_v2: self.serverless_v2_scaling.and_then(|s| {
                capacity(Some(s.min_capacity), Some(s.max_capacity))
                    .ok()
                    .flatten()
            }),
        }
    }
}

/// `rds.add_global_secondary`: a new secondary cluster of an Aurora global database in the
/// step's Region (`CreateDBCluster` with `GlobalClusterIdentifier`, the global database's engine
/// and version, no master credentials) and its instances (`CreateDBInstance`; those that exist
/// in it already are kept), waited until the cluster and its instances are `available` and it
/// is a (reader) member. Blocked when a cluster of that name exists that is not a member (a
/// stale one is never adopted), when the global database is missing, or when it has a member
/// in that Region already. Rollback (only what this step created): the instances, then
/// `RemoveFromGlobalCluster`, then `DeleteDBCluster` without a final snapshot (it holds only
/// replicated data).
#[derive(Debug, HasBase)]
pub struct AddGlobalSecondary {
    base: Base<Self>,
    ports: PortFactory<dyn RdsApi>,
    region: String,
    created: AtomicBool,
}

impl ActionKind for AddGlobalSecondary {
    const KIND: &'static str = "rds.add_global_secondary";
    const SUMMARY: &'static str =
        "Add a new secondary cluster, with its instances, to an Aurora global database";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "rds:DescribeGlobalClusters",
        "rds:DescribeDBClusters",
        "rds:DescribeDBInstances",
        "rds:CreateDBCluster",
        "rds:CreateDBInstance",
        "rds:DeleteDBInstance",
        "rds:RemoveFromGlobalCluster",
        "rds:DeleteDBCluster",
        // An encrypted secondary: RDS uses the Region's KMS key on the caller's behalf.
        "kms:DescribeKey",
        "kms:CreateGrant",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("cluster", "the secondary cluster's identifier"),
        OutputDoc::new("cluster_arn", "its ARN"),
        OutputDoc::new("region", "its Region"),
        OutputDoc::new("endpoint", "its cluster (writer) endpoint"),
        OutputDoc::new("reader_endpoint", "its reader endpoint"),
        OutputDoc::new("instances", "its instances (list)"),
        OutputDoc::new("engine", "the engine"),
        OutputDoc::new("engine_version", "the engine version"),
        OutputDoc::new(
            "created",
            "`true` when this step created the cluster (what rollback deletes)",
        ),
    ];
    type Params = AddGlobalSecondaryParams;
    type Port = dyn RdsApi;
    type Ports = PortFactory<dyn RdsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        global_id(&p.global_cluster)?;
        identifier("cluster", &p.cluster)?;
        if p.instances.is_empty() {
            return Err(ParamError::new(
                "instances",
                "give at least one instance { identifier, class }",
            ));
        }
        for (n, i) in p.instances.iter().enumerate() {
            identifier("instances", &i.identifier)?;
            if !i.class.starts_with("db.") || i.class.len() < 4 {
                return Err(ParamError::new(
                    "instances",
                    format!(
                        "`{}` is not a DB instance class (db.r6g.large, db.serverless)",
                        i.class
                    ),
                ));
            }
            if p.instances[..n]
                .iter()
                .any(|o| o.identifier == i.identifier)
            {
                return Err(ParamError::new(
                    "instances",
                    format!("instance {} is listed twice", i.identifier),
                ));
            }
        }
        subnet_group("db_subnet_group", p.db_subnet_group.as_deref())?;
        security_groups(
            "vpc_security_group_ids",
            p.vpc_security_group_ids.as_deref(),
        )?;
        parameter_group(
            "db_cluster_parameter_group",
            p.db_cluster_parameter_group.as_deref(),
        )?;
        if p.kms_key_id.as_deref().is_some_and(str::is_empty) {
            return Err(ParamError::new("kms_key_id", "an empty KMS key id"));
        }
        if let Some(s) = p.serverless_v2_scaling {
            capacity(Some(s.min_capacity), Some(s.max_capacity))
                .map_err(|e| ParamError::new("serverless_v2_scaling", e.to_string()))?;
        } else if p.instances.iter().any(|i| i.class == SERVERLESS_CLASS) {
            return Err(ParamError::new(
                "serverless_v2_scaling",
                "a db.serverless instance needs the cluster's Serverless v2 capacity range: \
                 serverless_v2_scaling = { min_capacity, max_capacity }",
            ));
        }
        Ok(())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let Some(region) = step.region().map(str::to_owned) else {
            return Err(ParamError::general(
                "rds.add_global_secondary needs the step's `region`: the new secondary's Region",
            ));
        };
        let target = drkit_core::Resource::new("rds", "db-cluster", step.params.cluster.clone());
        Ok(Self {
            base: step.into_base(target, ports),
            ports: ports.clone(),
            region,
            created: AtomicBool::new(false),
        })
    }
}

/// What `add_global_secondary` finds of its cluster.
enum Secondary {
    /// No cluster of that name.
    Missing,
    /// A member (reader) of the global cluster.
    Member(Box<DbCluster>),
    /// Something else: why it is refused.
    Refused(String),
}

impl AddGlobalSecondary {
    fn api(&self) -> &dyn RdsApi {
        self.base.port.as_ref()
    }

    async fn global(&self, ctx: &Context) -> Result<Option<GlobalCluster>, ActionError> {
        found(describe(self.api(), ctx, &self.base.params.global_cluster).await)
    }

    async fn cluster(&self, ctx: &Context) -> Result<Option<DbCluster>, ActionError> {
        found(
            ctx.bounded(self.api().describe_db_cluster(&self.base.params.cluster))
                .await,
        )
    }

    /// What the cluster of that name is to global cluster `g`.
    async fn secondary(&self, ctx: &Context, g: &GlobalCluster) -> Result<Secondary, ActionError> {
        let p = &self.base.params;
        let Some(c) = self.cluster(ctx).await? else {
            return Ok(Secondary::Missing);
        };
        let member = g.members.iter().find(|m| {
            c.arn.as_deref() == Some(m.arn.as_str())
                || (m.cluster_id() == p.cluster && m.region() == self.region)
        });
        Ok(match member {
            Some(m) if m.is_writer => Secondary::Refused(format!(
                "{} is the writer of global cluster {}, not a secondary",
                p.cluster, g.id
            )),
            Some(_) => Secondary::Member(Box::new(c)),
            None => Secondary::Refused(format!(
                "DB cluster {} already exists in {} and is not a member of global cluster {} \
                 ({}): a stale cluster is never adopted; delete or rename it, or choose another \
                 `cluster`",
                p.cluster,
                self.region,
                g.id,
                c.summary()
            )),
        })
    }

    /// A member of `g` already in this Region, other than the cluster itself.
    fn region_taken(&self, g: &GlobalCluster) -> Option<String> {
        g.members
            .iter()
            .find(|m| m.region() == self.region && m.cluster_id() != self.base.params.cluster)
            .map(|m| {
                format!(
                    "global cluster {} already has a member in {}: {} (one secondary per Region)",
                    g.id,
                    self.region,
                    m.cluster_id()
                )
            })
    }

    /// The instances not yet `available` in the cluster (or why one is refused).
    async fn pending_instances(
        &self,
        ctx: &Context,
    ) -> Result<Result<Vec<String>, String>, ActionError> {
        let p = &self.base.params;
        let mut pending = Vec::new();
        for i in &p.instances {
            match found(
                ctx.bounded(self.api().describe_db_instance(&i.identifier))
                    .await,
            )? {
                Some(d) if d.cluster.as_deref() != Some(p.cluster.as_str()) => {
                    return Ok(Err(format!(
                        "DB instance {} already exists and is not an instance of {}",
                        i.identifier, p.cluster
                    )));
                }
                Some(d) if d.is_available() => {}
                Some(d) => pending.push(format!("{} ({})", i.identifier, d.status)),
                None => pending.push(format!("{} (to create, {})", i.identifier, i.class)),
            }
        }
        Ok(Ok(pending))
    }

    fn outputs(&self, c: &DbCluster, g: &GlobalCluster, created: bool) -> Outputs {
        Outputs::new()
            .with("cluster", c.id.clone())
            .with("cluster_arn", c.arn.clone().unwrap_or_default())
            .with("region", self.region.clone())
            .with("endpoint", c.endpoint.clone().unwrap_or_default())
            .with(
                "reader_endpoint",
                c.reader_endpoint.clone().unwrap_or_default(),
            )
            .with(
                "instances",
                self.base
                    .params
                    .instances
                    .iter()
                    .map(|i| i.identifier.clone())
                    .collect::<Vec<_>>(),
            )
            .with("engine", g.engine.clone().unwrap_or_default())
            .with(
                "engine_version",
                g.engine_version.clone().unwrap_or_default(),
            )
            .with("created", created)
    }

    fn intent(&self, created: bool) -> Outputs {
        Outputs::new()
            .with("cluster", self.base.params.cluster.as_str())
            .with("created", created)
    }
}

#[async_trait]
impl Act for AddGlobalSecondary {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let p = &self.base.params;
        let Some(g) = self.global(ctx).await? else {
            return Ok(Check::blocked(format!(
                "global cluster {} does not exist: create it first (rds.create_global_cluster)",
                p.global_cluster
            )));
        };
        match self.secondary(ctx, &g).await? {
            Secondary::Refused(why) => Ok(Check::blocked(why)),
            Secondary::Member(c) => match self.pending_instances(ctx).await? {
                Err(why) => Ok(Check::blocked(why)),
                Ok(pending) if pending.is_empty() && c.is_available() => Ok(Check::Done {
                    detail: format!(
                        "{} in {} is a secondary of global cluster {}, available with its \
                         instances",
                        p.cluster, self.region, g.id
                    ),
                    outputs: self.outputs(
                        &c,
                        &g,
                        step_created(&self.created, ctx, &self.base.id, "created"),
                    ),
                }),
                Ok(pending) => Ok(Check::ready(format!(
                    "{} is a secondary of {} ({}); wait for or create its instances: {}",
                    p.cluster,
                    g.id,
                    c.summary(),
                    if pending.is_empty() {
                        "none".to_owned()
                    } else {
                        pending.join(", ")
                    }
                ))),
            },
            Secondary::Missing => {
                if let Some(why) = self.region_taken(&g) {
                    return Ok(Check::blocked(why));
                }
                if ctx.intent().is_some() {
                    return Ok(Check::ready(format!(
                        "wait for the CreateDBCluster of {} requested earlier",
                        p.cluster
                    )));
                }
                let instances: Vec<String> = p
                    .instances
                    .iter()
                    .map(|i| format!("{} ({})", i.identifier, i.class))
                    .collect();
                Ok(Check::ready(format!(
                    "CreateDBCluster {} in {} as a secondary of global cluster {} ({} {}), in {}; \
                     then instances {}",
                    p.cluster,
                    self.region,
                    g.id,
                    g.engine.as_deref().unwrap_or("engine unknown"),
                    g.engine_version.as_deref().unwrap_or(""),
                    p.settings().summary(),
                    instances.join(", ")
                )))
            }
        }
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = &self.base.params;
        let api = self.api();
        let wait = &self.base.wait;
        let g = self.global(ctx).await?.ok_or_else(|| {
            ActionError::precondition(format!(
                "global cluster {} does not exist",
                p.global_cluster
            ))
        })?;
        let engine = g.engine.clone().ok_or_else(|| {
            ActionError::precondition(format!("RDS did not give global cluster {}'s engine", g.id))
        })?;
        let recorded_created = step_created(&self.created, ctx, &self.base.id, "created");
        let created = match self.secondary(ctx, &g).await? {
            Secondary::Refused(why) => return Err(ActionError::precondition(why)),
            Secondary::Member(_) => recorded_created,
            Secondary::Missing => {
                if let Some(why) = self.region_taken(&g) {
                    return Err(ActionError::precondition(why));
                }
                let spec = SecondaryCluster {
                    cluster: p.cluster.clone(),
                    global: g.id.clone(),
                    engine: engine.clone(),
                    engine_version: g.engine_version.clone(),
                    storage_encrypted: g.storage_encrypted.filter(|e| *e),
                    kms_key_id: p.kms_key_id.clone(),
                    settings: p.settings(),
                };
                let what = format!(
                    "{} in {} as a secondary of {}",
                    p.cluster, self.region, g.id
                );
                Once::new("CreateDBCluster", &what, wait)
                    .exists_code("DBClusterAlreadyExistsFault")
                    .send(
                        ctx,
                        self.intent(true).with("op", "create-cluster"),
                        intent_is(ctx, "create-cluster", Some(&p.cluster)),
                        || api.create_global_secondary(&spec),
                        |grace| async move {
                            appeared(grace.bounded(api.describe_db_cluster(&p.cluster)).await)
                        },
                    )
                    .await?;
                self.created.store(true, Ordering::SeqCst);
                true
            }
        };
        let what = format!("cluster {} to be available", p.cluster);
        cluster_ready(ctx, api, wait, &p.cluster, &what, |_| true).await?;
        for i in &p.instances {
            match found(ctx.bounded(api.describe_db_instance(&i.identifier)).await)? {
                Some(d) if d.cluster.as_deref() == Some(p.cluster.as_str()) => continue,
                Some(_) => {
                    return Err(ActionError::precondition(format!(
                        "DB instance {} already exists and is not an instance of {}",
                        i.identifier, p.cluster
                    )));
                }
                None => {}
            }
            let what = format!("instance {} ({}) in {}", i.identifier, i.class, p.cluster);
            Once::new("CreateDBInstance", &what, wait)
                .exists_code("DBInstanceAlreadyExists")
                .send(
                    ctx,
                    self.intent(created)
                        .with("op", "create-instance")
                        .with("instance", i.identifier.as_str()),
                    ctx.intent().is_some_and(|x| {
                        x.get_str("op") == Some("create-instance")
                            && x.get_str("instance") == Some(i.identifier.as_str())
                    }),
                    || {
                        api.create_cluster_instance(
                            &i.identifier,
                            &p.cluster,
                            &engine,
                            &i.class,
                            None,
                        )
                    },
                    |grace| async move {
                        appeared(grace.bounded(api.describe_db_instance(&i.identifier)).await)
                    },
                )
                .await?;
        }
        for i in &p.instances {
            let what = format!("instance {} to be available", i.identifier);
            instance_ready(ctx, api, wait, &i.identifier, &what, |_| true).await?;
        }
        let what = format!("{} to be a secondary of global cluster {}", p.cluster, g.id);
        let g = wait_until(ctx, &what, wait, || async {
            let g = describe(api, ctx, &p.global_cluster).await?;
            let listed = g
                .members
                .iter()
                .any(|m| !m.is_writer && m.cluster_id() == p.cluster && m.region() == self.region);
            Ok(if listed {
                Poll::Ready(g)
            } else {
                Poll::Pending(format!("not listed yet; members: {}", members_text(&g)))
            })
        })
        .await?;
        let what = format!("cluster {} to be available", p.cluster);
        let c = cluster_ready(ctx, api, wait, &p.cluster, &what, |_| true).await?;
        Ok(self.outputs(&c, &g, created))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        match self.inspect(ctx).await? {
            Check::Done { detail, .. } => Ok(detail),
            other => Err(ActionError::postcondition(format!(
                "{} is not a ready secondary: {other:?}",
                self.base.params.cluster
            ))),
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let p = &self.base.params;
        if !step_created(&self.created, ctx, &self.base.id, "created") {
            return Err(ActionError::unsupported(format!(
                "nothing to roll back: this step did not create cluster {}",
                p.cluster
            )));
        }
        let ctx = ctx.for_compensation();
        let api = self.api();
        let wait = &self.base.wait;
        let Some(c) = self.cluster(&ctx).await? else {
            return Ok(());
        };
        // Its instances: all this step's (the cluster is).
        for m in &c.members {
            match ctx.bounded(api.delete_db_instance(&m.instance_id)).await {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            instance_gone(&ctx, api, wait, &m.instance_id).await?;
        }
        if let Some(arn) = &c.arn
            && let Some(g) = self.global(&ctx).await?
            && g.members.iter().any(|m| &m.arn == arn)
        {
            remove_member(&ctx, &self.ports, api, wait, (&g.id, arn), Outputs::new()).await?;
            let what = format!(
                "cluster {} to be available after leaving {}",
                p.cluster, g.id
            );
            cluster_ready(&ctx, api, wait, &p.cluster, &what, |_| true).await?;
        }
        match ctx.bounded(api.delete_db_cluster(&p.cluster)).await {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let what = format!("DB cluster {} to be deleted", p.cluster);
        wait_until(&ctx, &what, wait, || async {
            Ok(match self.cluster(&ctx).await? {
                Some(c) => Poll::Pending(format!("status={}", c.status)),
                None => Poll::Ready(()),
            })
        })
        .await?;
        self.created.store(false, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
#[path = "reprotect_tests.rs"]
mod tests;
