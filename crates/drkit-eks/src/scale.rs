//! `eks.scale_nodegroup`: scale a managed node group (the seed's "scale up the standby node
//! group") and wait until it runs at the new size.

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::Memo;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params, Poll,
    PortFactory, RecoveryAction, StepSpec, wait_until,
};
use serde::Deserialize;
use tokio::time::Instant;

use crate::common::{
    HEALTH_ISSUES, NODEGROUP_OUTPUTS, cluster_name, nodegroup_name, nodegroup_outputs,
    nodegroup_resource,
};
use crate::port::{EksApi, Nodegroup, NodegroupUpdate, Scaling};

/// The parameters of `eks.scale_nodegroup`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ScaleNodegroupParams {
    /// The EKS cluster name.
    pub cluster: String,
    /// The managed node group name.
    pub nodegroup: String,
    /// The new minimum size; the current one is kept when absent.
    #[serde(default)]
    pub min_size: Option<u32>,
    /// The new maximum size; the current one is kept when absent.
    #[serde(default)]
    pub max_size: Option<u32>,
    /// The number of nodes to run.
    pub desired_size: u32,
}

impl ScaleNodegroupParams {
    /// Scale `nodegroup` of `cluster` to `desired_size` nodes, keeping its min and max.
    pub fn new(
        cluster: impl Into<String>,
        nodegroup: impl Into<String>,
        desired_size: u32,
    ) -> Self {
        Self {
            cluster: cluster.into(),
            nodegroup: nodegroup.into(),
            min_size: None,
            max_size: None,
            desired_size,
        }
    }

    /// Also sets the minimum size.
    #[must_use]
    pub fn min_size(mut self, min_size: u32) -> Self {
        self.min_size = Some(min_size);
        self
    }

    /// Also sets the maximum size.
    #[must_use]
    pub fn max_size(mut self, max_size: u32) -> Self {
        self.max_size = Some(max_size);
        self
    }

    /// The scaling asked for, given the node group's `current` one (for the sizes not given).
    pub fn target(&self, current: Scaling) -> Scaling {
        Scaling::new(
            self.min_size.unwrap_or(current.min_size),
            self.max_size.unwrap_or(current.max_size),
            self.desired_size,
        )
    }
}

/// What this action asked EKS to do, once it has called `UpdateNodegroupConfig`.
#[derive(Clone, Debug)]
struct Requested {
    update_id: String,
    previous: Scaling,
    target: Scaling,
    /// Whether the update has been seen `Successful` (no need to describe it again).
    update_done: bool,
}

/// Scales an EKS managed node group and waits until it is `ACTIVE` at the new size.
///
/// - `check`: the node group exists and is `ACTIVE`, and the new scaling keeps
///   `min_size <= desired_size <= max_size` against its current configuration (sizes not given
///   keep their current value); already at that scaling -> done.
/// - `execute`: `UpdateNodegroupConfig` with the new scaling, then waits until the update is
///   `Successful` (`DescribeUpdate`) and the node group is `ACTIVE` at that scaling. Executed
///   again after a failure, it does not request a second update: it waits for the one it made.
/// - `verify`: the node group is `ACTIVE` at the asked scaling.
/// - `rollback`: restores the scaling it found (only if this action changed it).
///
/// Outputs: `previous_min_size`, `previous_max_size`, `previous_desired_size`, `min_size`,
/// `max_size`, `desired_size`, `status`, `update_id` (empty when nothing had to change), and
/// the node group's `instance_types`, `capacity_type`, `health_issues`.
#[derive(Debug, HasBase)]
pub struct ScaleNodegroup {
    base: Base<Self>,
    requested: Memo<Requested>,
}

impl ActionKind for ScaleNodegroup {
    const KIND: &'static str = "eks.scale_nodegroup";
    const SUMMARY: &'static str =
        "Scale an EKS managed node group and wait until it is ACTIVE at the new size";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "eks:DescribeNodegroup",
        "eks:UpdateNodegroupConfig",
        "eks:DescribeUpdate",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("previous_min_size", "the minimum size before the change"),
        OutputDoc::new("previous_max_size", "the maximum size before the change"),
        OutputDoc::new(
            "previous_desired_size",
            "the desired size before the change",
        ),
        NODEGROUP_OUTPUTS[0],
        NODEGROUP_OUTPUTS[1],
        NODEGROUP_OUTPUTS[2],
        NODEGROUP_OUTPUTS[3],
        NODEGROUP_OUTPUTS[4],
        NODEGROUP_OUTPUTS[5],
        HEALTH_ISSUES,
        OutputDoc::new(
            "update_id",
            "the EKS update id (empty when the group was already at that size)",
        ),
    ];
    type Params = ScaleNodegroupParams;
    type Port = dyn EksApi;
    type Ports = PortFactory<dyn EksApi>;

    /// What can be checked without knowing the current scaling (the rest is checked against
    /// it before the call).
    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        cluster_name(&p.cluster)?;
        nodegroup_name(&p.nodegroup)?;
        if let Some(max) = p.max_size {
            if max == 0 {
                return Err(ParamError::new("max_size", "EKS needs max_size >= 1"));
            }
            if p.desired_size > max {
                return Err(ParamError::new(
                    "desired_size",
                    format!("desired_size {} is above max_size {max}", p.desired_size),
                ));
            }
        }
        if let Some(min) = p.min_size
            && p.desired_size < min
        {
            return Err(ParamError::new(
                "desired_size",
                format!("desired_size {} is below min_size {min}", p.desired_size),
            ));
        }
        Ok(())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = nodegroup_resource(&step.params.cluster, &step.params.nodegroup, None);
        Ok(Self {
            base: step.into_base(target, ports),
            requested: Memo::default(),
        })
    }
}

impl ScaleNodegroup {
    /// A scaling step `id` with `params`, talking to EKS through `api`; `region` only labels
    /// the resource (the `api` is already bound to a region).
    pub fn new(
        id: impl Into<String>,
        params: ScaleNodegroupParams,
        api: Arc<dyn EksApi>,
        region: Option<&str>,
    ) -> Self {
        let target = nodegroup_resource(&params.cluster, &params.nodegroup, region);
        Self {
            base: Base::new(id, params, target, api),
            requested: Memo::default(),
        }
    }

    fn mark_update_done(&self) {
        self.requested.update(|r| {
            if let Some(r) = r {
                r.update_done = true;
            }
        });
    }

    fn name(&self) -> String {
        let p = &self.base.params;
        format!("node group {} of EKS cluster {}", p.nodegroup, p.cluster)
    }

    async fn describe(&self, ctx: &Context) -> Result<Nodegroup, ActionError> {
        let p = &self.base.params;
        ctx.bounded(self.base.port.describe_nodegroup(&p.cluster, &p.nodegroup))
            .await
    }

    /// Whether `ng` is `ACTIVE` at the asked scaling.
    fn is_complete(&self, ng: &Nodegroup) -> bool {
        ng.is_active() && ng.scaling == self.base.params.target(ng.scaling)
    }

    /// Why the node group cannot be scaled now, if it cannot.
    fn blocker(&self, ng: &Nodegroup) -> Option<String> {
        if !ng.is_active() {
            return Some(format!("{} is {}, not ACTIVE", self.name(), ng.status));
        }
        let target = self.base.params.target(ng.scaling);
        if !target.is_valid() {
            return Some(format!(
                "cannot scale {} to {target} (it is now {}): EKS needs min_size <= desired_size \
                 <= max_size and max_size >= 1; give min_size or max_size too",
                self.name(),
                ng.scaling
            ));
        }
        None
    }

    fn outputs(ng: &Nodegroup, previous: Scaling, update_id: &str) -> Outputs {
        let mut out = nodegroup_outputs(ng);
        out.insert("previous_min_size", previous.min_size);
        out.insert("previous_max_size", previous.max_size);
        out.insert("previous_desired_size", previous.desired_size);
        out.insert("update_id", update_id.to_owned());
        out
    }

    fn failed_update(&self, update: &NodegroupUpdate, operation: &str) -> ActionError {
        let errors = if update.errors.is_empty() {
            String::new()
        } else {
            format!(": {}", update.errors.join("; "))
        };
        ActionError::new(
            ErrorKind::PostconditionFailed,
            format!(
                "EKS update {} of {} ended {}{errors}",
                update.id,
                self.name(),
                update.status
            ),
        )
        .with_operation(operation)
    }

    /// Polls until the update is `Successful` and the node group `ACTIVE` at `target`.
    async fn wait_for(
        &self,
        ctx: &Context,
        update_id: &str,
        target: Scaling,
    ) -> Result<Nodegroup, ActionError> {
        let what = format!("{} to be ACTIVE at {target}", self.name());
        let p = &self.base.params;
        wait_until(ctx, &what, &self.base.wait, || async {
            if !self.requested.get().is_some_and(|r| r.update_done) {
                let update = ctx
                    .bounded(self.base.port.describe_nodegroup_update(
                        &p.cluster,
                        &p.nodegroup,
                        update_id,
                    ))
                    .await?;
                if update.has_failed() {
                    // Nothing to wait for any more; a later execute may request anew.
                    self.requested.clear();
                    return Err(self.failed_update(&update, "DescribeUpdate"));
                }
                if !update.is_successful() {
                    return Ok(Poll::Pending(format!(
                        "update {update_id} is {}",
                        update.status
                    )));
                }
                self.mark_update_done();
            }
            let ng = ctx
                .bounded(self.base.port.describe_nodegroup(&p.cluster, &p.nodegroup))
                .await?;
            Ok(if ng.is_active() && ng.scaling == target {
                Poll::Ready(ng)
            } else {
                Poll::Pending(format!(
                    "update {update_id} is Successful; {}",
                    ng.summary()
                ))
            })
        })
        .await
    }
}

#[async_trait]
impl Act for ScaleNodegroup {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let ng = match self.describe(ctx).await {
            Ok(ng) => ng,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!("{} does not exist", self.name())));
            }
            Err(e) => return Err(e),
        };
        let requested = self.requested.get();
        if self.is_complete(&ng) {
            let previous = requested.as_ref().map_or(ng.scaling, |r| r.previous);
            let update_id = requested.as_ref().map_or("", |r| r.update_id.as_str());
            return Ok(Check::Done {
                detail: format!("{} is ACTIVE at {}", self.name(), ng.scaling),
                outputs: Self::outputs(&ng, previous, update_id),
            });
        }
        if let Some(r) = requested {
            // This action's own update is under way: executing again waits for it.
            return Ok(Check::ready(format!(
                "wait for update {} of {} ({} -> {}), already requested; now {}",
                r.update_id,
                self.name(),
                r.previous,
                r.target,
                ng.summary()
            )));
        }
        if let Some(reason) = self.blocker(&ng) {
            return Ok(Check::blocked(reason));
        }
        Ok(Check::ready(format!(
            "scale {}: {} -> {}",
            self.name(),
            ng.scaling,
            self.base.params.target(ng.scaling)
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = &self.base.params;
        let started = Instant::now();
        let requested = match self.requested.get() {
            Some(r) => {
                ctx.progress(format!(
                    "update {} already requested ({} -> {}); waiting for it",
                    r.update_id, r.previous, r.target
                ));
                r
            }
            None => {
                let ng = self.describe(ctx).await?;
                if self.is_complete(&ng) {
                    ctx.progress(format!("{} is already at {}", self.name(), ng.scaling));
                    return Ok(Self::outputs(&ng, ng.scaling, ""));
                }
                if let Some(reason) = self.blocker(&ng) {
                    return Err(ActionError::precondition(reason));
                }
                let target = p.target(ng.scaling);
                let update = ctx
                    .bounded(self.base.port.update_nodegroup_scaling(
                        &p.cluster,
                        &p.nodegroup,
                        target,
                    ))
                    .await
                    .map_err(|e| e.with_operation("UpdateNodegroupConfig"))?;
                if update.has_failed() {
                    return Err(self.failed_update(&update, "UpdateNodegroupConfig"));
                }
                let requested = Requested {
                    update_id: update.id.clone(),
                    previous: ng.scaling,
                    target,
                    update_done: update.is_successful(),
                };
                self.requested.set(requested.clone());
                ctx.progress(format!(
                    "UpdateNodegroupConfig accepted for {} ({} -> {target}): update {} is {}",
                    self.name(),
                    ng.scaling,
                    update.id,
                    update.status
                ));
                requested
            }
        };
        let ng = self
            .wait_for(ctx, &requested.update_id, requested.target)
            .await?;
        ctx.progress(format!(
            "{} is ACTIVE at {} after {:.3} s",
            self.name(),
            ng.scaling,
            started.elapsed().as_secs_f64()
        ));
        Ok(Self::outputs(&ng, requested.previous, &requested.update_id))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let ng = self.describe(ctx).await?;
        if self.is_complete(&ng) {
            Ok(format!("{} is ACTIVE at {}", self.name(), ng.scaling))
        } else {
            Err(ActionError::postcondition(format!(
                "{} is not ACTIVE at {}: {}",
                self.name(),
                self.base.params.target(ng.scaling),
                ng.summary()
            )))
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        // What this instance did, else (after a resume) what the step recorded.
        let recorded = || {
            let out = ctx.outputs_of(&self.base.id)?;
            let size = |name: &str| {
                out.get(name)
                    .and_then(serde_json::Value::as_u64)
                    .and_then(|v| u32::try_from(v).ok())
            };
            Some(Scaling {
                min_size: size("previous_min_size")?,
                max_size: size("previous_max_size")?,
                desired_size: size("previous_desired_size")?,
            })
        };
        let Some(previous) = self.requested.get().map(|r| r.previous).or_else(recorded) else {
            return Err(ActionError::unsupported(
                "nothing to roll back: this action did not change the node group's scaling",
            ));
        };
        let p = &self.base.params;
        let back = Self::new(
            format!("{}-rollback", self.base.id),
            ScaleNodegroupParams::new(
                p.cluster.clone(),
                p.nodegroup.clone(),
                previous.desired_size,
            )
            .min_size(previous.min_size)
            .max_size(previous.max_size),
            Arc::clone(&self.base.port),
            self.base.region(),
        )
        .with_wait_policy(self.base.wait.clone());
        // As a step of its own: refused in a dry run, errors naming the rollback step.
        back.execute(ctx).await.map(|_| ())
    }
}

#[cfg(test)]
#[path = "scale_tests.rs"]
mod tests;
