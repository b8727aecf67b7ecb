//! `eks.scale_nodegroup`: scale a managed node group (the seed's "scale up the standby node
//! group") and wait until it runs at the new size.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use drkit_core::{
    ActionError, Check, Context, ErrorKind, Outputs, Poll, RecoveryAction, Resource, WaitPolicy,
    wait_until,
};
use serde::Deserialize;
use tokio::time::Instant;

use crate::check::{nodegroup_outputs, nodegroup_resource};
use crate::port::{EksApi, Nodegroup, NodegroupUpdate, Scaling};

/// The kind name.
pub(crate) const KIND: &str = "eks.scale_nodegroup";

/// The IAM actions it needs.
pub(crate) const IAM_ACTIONS: &[&str] = &[
    "eks:DescribeNodegroup",
    "eks:UpdateNodegroupConfig",
    "eks:DescribeUpdate",
];

/// The parameters of `eks.scale_nodegroup`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ScaleNodegroupParams {
    /// The cluster name.
    pub cluster: String,
    /// The node group name.
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
pub struct ScaleNodegroup {
    id: String,
    params: ScaleNodegroupParams,
    target: Resource,
    api: Arc<dyn EksApi>,
    wait: WaitPolicy,
    requested: Mutex<Option<Requested>>,
}

impl fmt::Debug for ScaleNodegroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScaleNodegroup")
            .field("id", &self.id)
            .field("params", &self.params)
            .field("target", &self.target)
            .finish_non_exhaustive()
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
            id: id.into(),
            params,
            target,
            api,
            wait: WaitPolicy::default(),
            requested: Mutex::new(None),
        }
    }

    /// Uses `policy` for the wait after the update call.
    #[must_use]
    pub fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    fn requested(&self) -> Option<Requested> {
        self.requested
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_requested(&self, requested: Option<Requested>) {
        *self
            .requested
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = requested;
    }

    fn mark_update_done(&self) {
        if let Some(r) = self
            .requested
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            r.update_done = true;
        }
    }

    fn name(&self) -> String {
        format!(
            "node group {} of EKS cluster {}",
            self.params.nodegroup, self.params.cluster
        )
    }

    async fn describe(&self, ctx: &Context) -> Result<Nodegroup, ActionError> {
        ctx.bounded(
            self.api
                .describe_nodegroup(&self.params.cluster, &self.params.nodegroup),
        )
        .await
        .map_err(|e| e.in_action(self))
    }

    /// Whether `ng` is `ACTIVE` at the asked scaling.
    fn is_complete(&self, ng: &Nodegroup) -> bool {
        ng.is_active() && ng.scaling == self.params.target(ng.scaling)
    }

    /// Why the node group cannot be scaled now, if it cannot.
    fn blocker(&self, ng: &Nodegroup) -> Option<String> {
        if !ng.is_active() {
            return Some(format!("{} is {}, not ACTIVE", self.name(), ng.status));
        }
        let target = self.params.target(ng.scaling);
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
        .in_action(self)
    }

    /// Polls until the update is `Successful` and the node group `ACTIVE` at `target`.
    async fn wait_for(
        &self,
        ctx: &Context,
        update_id: &str,
        target: Scaling,
    ) -> Result<Nodegroup, ActionError> {
        let what = format!("{} to be ACTIVE at {target}", self.name());
        wait_until(ctx, &what, &self.wait, || async {
            if !self.requested().is_some_and(|r| r.update_done) {
                let update = ctx
                    .bounded(self.api.describe_nodegroup_update(
                        &self.params.cluster,
                        &self.params.nodegroup,
                        update_id,
                    ))
                    .await?;
                if update.has_failed() {
                    // Nothing to wait for any more; a later execute may request anew.
                    self.set_requested(None);
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
                .bounded(
                    self.api
                        .describe_nodegroup(&self.params.cluster, &self.params.nodegroup),
                )
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
        .map_err(|e| e.in_action(self))
    }
}

#[async_trait]
impl RecoveryAction for ScaleNodegroup {
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
        let ng = match self.describe(ctx).await {
            Ok(ng) => ng,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!("{} does not exist", self.name())));
            }
            Err(e) => return Err(e),
        };
        let requested = self.requested();
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
            self.params.target(ng.scaling)
        )))
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        ctx.refuse_dry_run().map_err(|e| e.in_action(self))?;
        let started = Instant::now();
        let requested = match self.requested() {
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
                    return Err(ActionError::precondition(reason).in_action(self));
                }
                let target = self.params.target(ng.scaling);
                let update = ctx
                    .bounded(self.api.update_nodegroup_scaling(
                        &self.params.cluster,
                        &self.params.nodegroup,
                        target,
                    ))
                    .await
                    .map_err(|e| e.with_operation("UpdateNodegroupConfig").in_action(self))?;
                if update.has_failed() {
                    return Err(self.failed_update(&update, "UpdateNodegroupConfig"));
                }
                let requested = Requested {
                    update_id: update.id.clone(),
                    previous: ng.scaling,
                    target,
                    update_done: update.is_successful(),
                };
                self.set_requested(Some(requested.clone()));
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

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let ng = self.describe(ctx).await?;
        if self.is_complete(&ng) {
            Ok(format!("{} is ACTIVE at {}", self.name(), ng.scaling))
        } else {
            Err(ActionError::postcondition(format!(
                "{} is not ACTIVE at {}: {}",
                self.name(),
                self.params.target(ng.scaling),
                ng.summary()
            ))
            .in_action(self))
        }
    }

    async fn rollback(&self, ctx: &Context) -> Result<(), ActionError> {
        // What this instance did, else (after a resume) what the step recorded.
        let recorded = || {
            let out = ctx.outputs_of(&self.id)?;
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
        let Some(previous) = self.requested().map(|r| r.previous).or_else(recorded) else {
            return Err(ActionError::unsupported(
                "nothing to roll back: this action did not change the node group's scaling",
            )
            .in_action(self));
        };
        let back = Self::new(
            format!("{}-rollback", self.id),
            ScaleNodegroupParams::new(
                self.params.cluster.clone(),
                self.params.nodegroup.clone(),
                previous.desired_size,
            )
            .min_size(previous.min_size)
            .max_size(previous.max_size),
            Arc::clone(&self.api),
            self.target.region.as_deref(),
        )
        .with_wait_policy(self.wait.clone());
        back.execute(ctx).await.map(|_| ())
    }
}

#[cfg(test)]
#[path = "scale_tests.rs"]
mod tests;
