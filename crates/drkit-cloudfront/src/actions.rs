//! `cloudfront.invalidate` and `cloudfront.check_distribution`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use drkit_core::Memo;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, Finding, HasBase, Outputs,
    Params, Poll, PortFactory, Probe, Resource, StepSpec, wait_until,
};
use serde::Deserialize;

use crate::port::{CloudFrontApi, Distribution, Invalidation};

/// The parameters of `cloudfront.invalidate`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InvalidateParams {
    /// The distribution id.
    pub distribution: String,
    /// Paths starting with `/` (`/*`: everything); at most 3,000, 15 with a wildcard.
    #[param(ty = "list of strings")]
    pub paths: Vec<String>,
}

impl InvalidateParams {
    /// Invalidate `paths` of `distribution`.
    pub fn new(distribution: impl Into<String>, paths: Vec<String>) -> Self {
        Self {
            distribution: distribution.into(),
            paths,
        }
    }
}

/// The parameters of `cloudfront.check_distribution`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DistributionParams {
    /// The distribution id.
    pub distribution: String,
}

impl DistributionParams {
    /// Probe `distribution`.
    pub fn new(distribution: impl Into<String>) -> Self {
        Self {
            distribution: distribution.into(),
        }
    }
}

/// A distribution id: letters and digits.
pub(crate) fn distribution_id(id: &str) -> Result<(), ParamError> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ParamError::new(
            "distribution",
            format!("`{id}` is not a distribution id (letters and digits, e.g. E2QWRUHAPOMQZL)"),
        ));
    }
    Ok(())
}

/// CloudFront is global: the resource has no region.
fn distribution(id: &str) -> Resource {
    Resource::new("cloudfront", "distribution", id.to_owned())
}

/// Why `paths` cannot be invalidated, if they cannot (AWS's limits: 3,000 paths, 15 with a
/// wildcard, `*` only at the end).
pub(crate) fn paths_problem(paths: &[String]) -> Option<String> {
    if paths.is_empty() {
        return Some("give at least one path".into());
    }
    if paths.len() > 3_000 {
        return Some(format!(
            "{} paths: at most 3,000 per invalidation",
            paths.len()
        ));
    }
    if let Some(p) = paths.iter().find(|p| !p.starts_with('/')) {
        return Some(format!("`{p}` must start with `/`"));
    }
    if let Some(p) = paths
        .iter()
        .find(|p| p.find('*').is_some_and(|i| i + 1 != p.len()))
    {
        return Some(format!("`{p}`: `*` is only allowed at the end"));
    }
    let wildcards = paths.iter().filter(|p| p.ends_with('*')).count();
    if wildcards > 15 {
        return Some(format!(
            "{wildcards} wildcard paths: at most 15 per invalidation"
        ));
    }
    None
}

/// Invalidates paths of a distribution and waits until the invalidation is `Completed`.
///
/// - `check`: the distribution exists (else blocked); an invalidation this step made and saw
///   completed -> done; otherwise ready (an invalidation is an event, not a state).
/// - `execute`: `CreateInvalidation` with a caller reference derived from the step id and the
///   action's creation time: executed again (a retry), it does not create a second
///   invalidation — it waits for the one it made, and if the first answer was lost, AWS
///   returns the same invalidation for the same reference. Waits until `Completed`.
///
/// Outputs: `invalidation_id`, `status`, `caller_reference`.
#[derive(Debug, HasBase)]
pub struct Invalidate {
    base: Base<Self>,
    caller_reference: String,
    made: Memo<Invalidation>,
}

impl ActionKind for Invalidate {
    const KIND: &'static str = "cloudfront.invalidate";
    const SUMMARY: &'static str =
        "Invalidate paths of a distribution and wait until the invalidation is Completed";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "cloudfront:GetDistribution",
        "cloudfront:CreateInvalidation",
        "cloudfront:GetInvalidation",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("invalidation_id", "the invalidation's id"),
        OutputDoc::new("status", "`Completed`"),
        OutputDoc::new(
            "caller_reference",
            "the caller reference sent (drkit-<step>-<time>)",
        ),
    ];
    type Params = InvalidateParams;
    type Port = dyn CloudFrontApi;
    type Ports = PortFactory<dyn CloudFrontApi>;

    fn validate(params: &InvalidateParams) -> Result<(), ParamError> {
        distribution_id(&params.distribution)?;
        match paths_problem(&params.paths) {
            Some(problem) => Err(ParamError::new("paths", problem)),
            None => Ok(()),
        }
    }

    fn build(step: StepSpec<InvalidateParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let port = ports.get(step.region());
        Ok(Self::new(step.id, step.params, port))
    }
}

impl Invalidate {
    /// A step `id` invalidating `params.paths`.
    pub fn new(
        id: impl Into<String>,
        params: InvalidateParams,
        api: Arc<dyn CloudFrontApi>,
    ) -> Self {
        let id = id.into();
        let nonce = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let target = distribution(&params.distribution);
        Self {
            caller_reference: format!("drkit-{id}-{nonce}"),
            base: Base::new(id, params, target, api),
            made: Memo::default(),
        }
    }

    /// The caller reference sent with `CreateInvalidation`.
    pub fn caller_reference(&self) -> &str {
        &self.caller_reference
    }

    fn outputs(&self, i: &Invalidation) -> Outputs {
        Outputs::new()
            .with("invalidation_id", i.id.clone())
            .with("status", i.status.clone())
            .with("caller_reference", self.caller_reference.clone())
    }
}

#[async_trait]
impl Act for Invalidate {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let p = &self.base.params;
        match ctx
            .bounded(self.base.port.get_distribution(&p.distribution))
            .await
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "distribution {} does not exist",
                    p.distribution
                )));
            }
            Err(e) => return Err(e),
        }
        if let Some(made) = self.made.get() {
            let now = ctx
                .bounded(self.base.port.get_invalidation(&p.distribution, &made.id))
                .await?;
            if now.is_completed() {
                return Ok(Check::Done {
                    detail: format!("invalidation {} is Completed", now.id),
                    outputs: self.outputs(&now),
                });
            }
        }
        Ok(Check::ready(format!(
            "invalidate {} path(s) of distribution {}: {}",
            p.paths.len(),
            p.distribution,
            p.paths.join(", ")
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = &self.base.params;
        let made = match self.made.get() {
            Some(made) => {
                ctx.progress(format!(
                    "invalidation {} already created; waiting for it",
                    made.id
                ));
                made
            }
            None => {
                let made = ctx
                    .bounded(self.base.port.create_invalidation(
                        &p.distribution,
                        p.paths.clone(),
                        &self.caller_reference,
                    ))
                    .await
                    .map_err(|e| e.with_operation("CreateInvalidation"))?;
                ctx.progress(format!(
                    "invalidation {} created for {} ({})",
                    made.id, p.distribution, made.status
                ));
                self.made.set(made.clone());
                made
            }
        };
        let what = format!("invalidation {} to be Completed", made.id);
        let done = wait_until(ctx, &what, &self.base.wait, || async {
            let i = ctx
                .bounded(self.base.port.get_invalidation(&p.distribution, &made.id))
                .await?;
            Ok(if i.is_completed() {
                Poll::Ready(i)
            } else {
                Poll::Pending(format!("status={}", i.status))
            })
        })
        .await?;
        self.made.set(done.clone());
        Ok(self.outputs(&done))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let Some(made) = self.made.get() else {
            return Err(ActionError::postcondition(
                "this step has made no invalidation",
            ));
        };
        let now = ctx
            .bounded(
                self.base
                    .port
                    .get_invalidation(&self.base.params.distribution, &made.id),
            )
            .await?;
        if now.is_completed() {
            Ok(format!("invalidation {} is Completed", now.id))
        } else {
            Err(ActionError::postcondition(format!(
                "invalidation {} is {}",
                now.id, now.status
            )))
        }
    }
}

/// Probes a distribution: `Deployed` and enabled (read-only; probe convention: done / blocked,
/// `execute` and `verify` fail with `PostconditionFailed` when it does not hold).
///
/// Outputs: `status`, `enabled`, `domain_name`.
#[derive(Debug, HasBase)]
pub struct CheckDistribution {
    base: Base<Self>,
}

impl ActionKind for CheckDistribution {
    const KIND: &'static str = "cloudfront.check_distribution";
    const SUMMARY: &'static str = "Probe a distribution: Deployed and enabled";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &["cloudfront:GetDistribution"];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("status", "`Deployed`"),
        OutputDoc::new("enabled", "true"),
        OutputDoc::new("domain_name", "its domain name (`d...cloudfront.net`)"),
    ];
    type Params = DistributionParams;
    type Port = dyn CloudFrontApi;
    type Ports = PortFactory<dyn CloudFrontApi>;

    fn validate(params: &DistributionParams) -> Result<(), ParamError> {
        distribution_id(&params.distribution)
    }

    fn build(step: StepSpec<DistributionParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let port = ports.get(step.region());
        Ok(Self::new(step.id, step.params, port))
    }
}

impl CheckDistribution {
    /// A probe step `id`.
    pub fn new(
        id: impl Into<String>,
        params: DistributionParams,
        api: Arc<dyn CloudFrontApi>,
    ) -> Self {
        let target = distribution(&params.distribution);
        Self {
            base: Base::new(id, params, target, api),
        }
    }
}

#[async_trait]
impl Probe for CheckDistribution {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let id = &self.base.params.distribution;
        let d: Distribution = match ctx.bounded(self.base.port.get_distribution(id)).await {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Finding::fail(
                    format!("distribution {id} does not exist"),
                    Outputs::new(),
                ));
            }
            Err(e) => return Err(e),
        };
        let text = format!(
            "distribution {} is {} and {}",
            d.id,
            d.status,
            if d.enabled { "enabled" } else { "disabled" }
        );
        Ok(if d.status == "Deployed" && d.enabled {
            Finding::pass(
                text,
                Outputs::new()
                    .with("status", d.status)
                    .with("enabled", d.enabled)
                    .with("domain_name", d.domain_name),
            )
        } else {
            Finding::fail(text, Outputs::new())
        })
    }
}

#[cfg(test)]
#[path = "actions_tests.rs"]
mod tests;
