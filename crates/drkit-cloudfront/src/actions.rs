//! `cloudfront.invalidate` and `cloudfront.check_distribution`.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use drkit_core::{
    ActionError, Check, Context, ErrorKind, Outputs, Poll, RecoveryAction, Resource, WaitPolicy,
    wait_until,
};
use serde::Deserialize;

use crate::port::{CloudFrontApi, Distribution, Invalidation};

pub(crate) const INVALIDATE_KIND: &str = "cloudfront.invalidate";
pub(crate) const INVALIDATE_IAM: &[&str] = &[
    "cloudfront:GetDistribution",
    "cloudfront:CreateInvalidation",
    "cloudfront:GetInvalidation",
];
pub(crate) const CHECK_KIND: &str = "cloudfront.check_distribution";
pub(crate) const CHECK_IAM: &[&str] = &["cloudfront:GetDistribution"];

/// The parameters of `cloudfront.invalidate`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InvalidateParams {
    /// The distribution id.
    pub distribution: String,
    /// The paths, each starting with `/` (`/*` for everything).
    pub paths: Vec<String>,
}

/// The parameters of `cloudfront.check_distribution`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DistributionParams {
    /// The distribution id.
    pub distribution: String,
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
pub struct Invalidate {
    id: String,
    params: InvalidateParams,
    target: Resource,
    api: Arc<dyn CloudFrontApi>,
    wait: WaitPolicy,
    caller_reference: String,
    made: Mutex<Option<Invalidation>>,
}

impl fmt::Debug for Invalidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invalidate")
            .field("id", &self.id)
            .field("params", &self.params)
            .field("caller_reference", &self.caller_reference)
            .finish_non_exhaustive()
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
        let target = Resource::new("cloudfront", "distribution", params.distribution.clone());
        Self {
            caller_reference: format!("drkit-{id}-{nonce}"),
            id,
            params,
            target,
            api,
            wait: WaitPolicy::default(),
            made: Mutex::new(None),
        }
    }

    /// Uses `policy` for the wait until `Completed`.
    #[must_use]
    pub fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    /// The caller reference sent with `CreateInvalidation`.
    pub fn caller_reference(&self) -> &str {
        &self.caller_reference
    }

    fn made(&self) -> Option<Invalidation> {
        self.made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_made(&self, i: Invalidation) {
        *self.made.lock().unwrap_or_else(PoisonError::into_inner) = Some(i);
    }

    fn outputs(&self, i: &Invalidation) -> Outputs {
        Outputs::new()
            .with("invalidation_id", i.id.clone())
            .with("status", i.status.clone())
            .with("caller_reference", self.caller_reference.clone())
    }
}

#[async_trait]
impl RecoveryAction for Invalidate {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        INVALIDATE_KIND
    }
    fn target(&self) -> &Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        true
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        INVALIDATE_IAM
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        match ctx
            .bounded(self.api.get_distribution(&self.params.distribution))
            .await
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "distribution {} does not exist",
                    self.params.distribution
                )));
            }
            Err(e) => return Err(e.in_action(self)),
        }
        if let Some(made) = self.made() {
            let now = ctx
                .bounded(
                    self.api
                        .get_invalidation(&self.params.distribution, &made.id),
                )
                .await
                .map_err(|e| e.in_action(self))?;
            if now.is_completed() {
                return Ok(Check::Done {
                    detail: format!("invalidation {} is Completed", now.id),
                    outputs: self.outputs(&now),
                });
            }
        }
        Ok(Check::ready(format!(
            "invalidate {} path(s) of distribution {}: {}",
            self.params.paths.len(),
            self.params.distribution,
            self.params.paths.join(", ")
        )))
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        ctx.refuse_dry_run().map_err(|e| e.in_action(self))?;
        let made = match self.made() {
            Some(made) => {
                ctx.progress(format!(
                    "invalidation {} already created; waiting for it",
                    made.id
                ));
                made
            }
            None => {
                let made = ctx
                    .bounded(self.api.create_invalidation(
                        &self.params.distribution,
                        self.params.paths.clone(),
                        &self.caller_reference,
                    ))
                    .await
                    .map_err(|e| e.with_operation("CreateInvalidation").in_action(self))?;
                ctx.progress(format!(
                    "invalidation {} created for {} ({})",
                    made.id, self.params.distribution, made.status
                ));
                self.set_made(made.clone());
                made
            }
        };
        let what = format!("invalidation {} to be Completed", made.id);
        let done = wait_until(ctx, &what, &self.wait, || async {
            let i = ctx
                .bounded(
                    self.api
                        .get_invalidation(&self.params.distribution, &made.id),
                )
                .await?;
            Ok(if i.is_completed() {
                Poll::Ready(i)
            } else {
                Poll::Pending(format!("status={}", i.status))
            })
        })
        .await
        .map_err(|e| e.in_action(self))?;
        self.set_made(done.clone());
        Ok(self.outputs(&done))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let Some(made) = self.made() else {
            return Err(
                ActionError::postcondition("this step has made no invalidation").in_action(self),
            );
        };
        let now = ctx
            .bounded(
                self.api
                    .get_invalidation(&self.params.distribution, &made.id),
            )
            .await
            .map_err(|e| e.in_action(self))?;
        if now.is_completed() {
            Ok(format!("invalidation {} is Completed", now.id))
        } else {
            Err(
                ActionError::postcondition(format!("invalidation {} is {}", now.id, now.status))
                    .in_action(self),
            )
        }
    }
}

/// Probes a distribution: `Deployed` and enabled (read-only; probe convention: done / blocked,
/// `execute` and `verify` fail with `PostconditionFailed` when it does not hold).
///
/// Outputs: `status`, `enabled`, `domain_name`.
pub struct CheckDistribution {
    id: String,
    params: DistributionParams,
    target: Resource,
    api: Arc<dyn CloudFrontApi>,
}

impl fmt::Debug for CheckDistribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckDistribution")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl CheckDistribution {
    /// A probe step `id`.
    pub fn new(
        id: impl Into<String>,
        params: DistributionParams,
        api: Arc<dyn CloudFrontApi>,
    ) -> Self {
        let target = Resource::new("cloudfront", "distribution", params.distribution.clone());
        Self {
            id: id.into(),
            params,
            target,
            api,
        }
    }

    async fn evaluate(
        &self,
        ctx: &Context,
    ) -> Result<Result<(String, Outputs), String>, ActionError> {
        let d: Distribution = match ctx
            .bounded(self.api.get_distribution(&self.params.distribution))
            .await
        {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Err(format!(
                    "distribution {} does not exist",
                    self.params.distribution
                )));
            }
            Err(e) => return Err(e.in_action(self)),
        };
        let text = format!(
            "distribution {} is {} and {}",
            d.id,
            d.status,
            if d.enabled { "enabled" } else { "disabled" }
        );
        Ok(if d.status == "Deployed" && d.enabled {
            Ok((
                text,
                Outputs::new()
                    .with("status", d.status)
                    .with("enabled", d.enabled)
                    .with("domain_name", d.domain_name),
            ))
        } else {
            Err(text)
        })
    }
}

#[async_trait]
impl RecoveryAction for CheckDistribution {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        CHECK_KIND
    }
    fn target(&self) -> &Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        false
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        CHECK_IAM
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        Ok(match self.evaluate(ctx).await? {
            Ok((detail, outputs)) => Check::Done { detail, outputs },
            Err(reason) => Check::blocked(reason),
        })
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        match self.evaluate(ctx).await? {
            Ok((_, outputs)) => Ok(outputs),
            Err(reason) => Err(ActionError::postcondition(reason).in_action(self)),
        }
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        match self.evaluate(ctx).await? {
            Ok((detail, _)) => Ok(detail),
            Err(reason) => Err(ActionError::postcondition(reason).in_action(self)),
        }
    }
}

#[cfg(test)]
#[path = "actions_tests.rs"]
mod tests;
