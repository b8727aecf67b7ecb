//! `cloudfront.switch_origin`: send a distribution's traffic to the DR origin.
//!
//! CloudFront's API replaces a distribution's whole config: drkit reads it with
//! `GetDistributionConfig`, changes only the target origin of the default cache behaviour and
//! of the listed path patterns, and writes it back with `UpdateDistribution` and
//! `If-Match: <ETag>`. A config changed in between is refused (`PreconditionFailed`): drkit
//! reads it again and decides again (at most 3 times). The same makes a retried update safe:
//! if the first one was applied, its ETag no longer matches, and the read shows the switch done.

use async_trait::async_trait;
use drkit_core::Memo;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params, Poll,
    PortFactory, Resource, StepSpec, wait_until,
};
use serde::Deserialize;

use crate::port::{CloudFrontApi, Routing};

/// How many times a switch is decided again after the config changed under it.
const CONFLICT_RETRIES: usize = 3;

/// The parameters of `cloudfront.switch_origin`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SwitchOriginParams {
    /// The distribution id.
    pub distribution: String,
    /// The origin (or origin group) id to send requests to, e.g. `web-dr`.
    pub origin: String,
    /// Path patterns of other cache behaviours to switch too (e.g. `/api/*`); the default
    /// behaviour is always switched.
    #[serde(default)]
    #[param(ty = "list of strings")]
    pub path_patterns: Vec<String>,
}

impl SwitchOriginParams {
    /// Switch `distribution`'s default behaviour to `origin`.
    pub fn new(distribution: impl Into<String>, origin: impl Into<String>) -> Self {
        Self {
            distribution: distribution.into(),
            origin: origin.into(),
            path_patterns: Vec::new(),
        }
    }
}

/// What the switch changed: the targets before, for the rollback.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Previous {
    default: String,
    behaviours: Vec<(String, String)>,
}

impl Previous {
    fn to_text(&self) -> String {
        self.behaviours
            .iter()
            .map(|(p, t)| format!("{p}={t}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn from_outputs(out: &Outputs) -> Option<Self> {
        let default = out.get_str("previous_default")?.to_owned();
        let behaviours = out
            .get_str("previous_behaviours")
            .unwrap_or_default()
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(p, t)| (p.to_owned(), t.to_owned()))
            .collect();
        (!default.is_empty()).then_some(Self {
            default,
            behaviours,
        })
    }

    fn outputs(&self) -> Outputs {
        Outputs::new()
            .with("previous_default", self.default.as_str())
            .with("previous_behaviours", self.to_text())
    }
}

/// `cloudfront.switch_origin`: points the default cache behaviour (and the listed path
/// patterns) of a distribution at another origin or origin group, and waits until the
/// distribution is `Deployed` again.
///
/// - `check`: the origin and the path patterns exist; all already target the origin (and the
///   distribution is deployed) -> done.
/// - `execute`: records the targets before as its intent, updates with `If-Match`, re-reads and
///   decides again on `PreconditionFailed`, waits for `Deployed`.
/// - `rollback`: restores the recorded targets the same way.
///
/// Outputs: `origin`, `previous_default`, `previous_behaviours` (`pattern=target,...`),
/// `status`.
#[derive(Debug, HasBase)]
pub struct SwitchOrigin {
    base: Base<Self>,
    previous: Memo<Previous>,
}

impl ActionKind for SwitchOrigin {
    const KIND: &'static str = "cloudfront.switch_origin";
    const SUMMARY: &'static str = "Point a distribution's cache behaviours at another origin (the \
                                   DR one) and wait until it is deployed";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "cloudfront:GetDistribution",
        "cloudfront:GetDistributionConfig",
        "cloudfront:UpdateDistribution",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("origin", "the origin requests now go to"),
        OutputDoc::new("previous_default", "the default behaviour's origin before"),
        OutputDoc::new(
            "previous_behaviours",
            "the switched path patterns' origins before, as pattern=origin,...",
        ),
        OutputDoc::new("status", "the distribution's status at the end (Deployed)"),
    ];
    type Params = SwitchOriginParams;
    type Port = dyn CloudFrontApi;
    type Ports = PortFactory<dyn CloudFrontApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        crate::actions::distribution_id(&p.distribution)?;
        if p.origin.trim().is_empty() {
            return Err(ParamError::new(
                "origin",
                "give the origin (or origin group) id",
            ));
        }
        if let Some(bad) = p
            .path_patterns
            .iter()
            .find(|pattern| pattern.is_empty() || pattern.contains(['=', ',']))
        {
            return Err(ParamError::new(
                "path_patterns",
                format!("`{bad}` is not a path pattern (e.g. /api/*)"),
            ));
        }
        Ok(())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = Resource::new(
            "cloudfront",
            "distribution",
            step.params.distribution.clone(),
        );
        Ok(Self {
            base: step.into_base(target, ports),
            previous: Memo::default(),
        })
    }
}

impl SwitchOrigin {
    /// Why `routing` cannot be switched to `origin`, if it cannot.
    fn blocker(&self, routing: &Routing, origin: &str) -> Option<String> {
        let p = &self.base.params;
        if !routing.origins.iter().any(|o| o == origin) {
            return Some(format!(
                "distribution {} has no origin or origin group `{origin}` (it has: {})",
                p.distribution,
                routing.origins.join(", ")
            ));
        }
        p.path_patterns
            .iter()
            .find(|pattern| routing.target_of(pattern).is_none())
            .map(|pattern| {
                format!(
                    "distribution {} has no cache behaviour for path pattern `{pattern}`",
                    p.distribution
                )
            })
    }

    /// The targets `routing` has that `to` would change: the default and the listed patterns.
    fn current(&self, routing: &Routing) -> Previous {
        Previous {
            default: routing.default_target.clone(),
            behaviours: self
                .base
                .params
                .path_patterns
                .iter()
                .filter_map(|p| routing.target_of(p).map(|t| (p.clone(), t.to_owned())))
                .collect(),
        }
    }

    /// Makes the targets `wanted` (the default, and each pattern's), reading again and deciding
    /// again when the config changed meanwhile. `intent`: what to journal before the update.
    async fn route(
        &self,
        ctx: &Context,
        wanted: &Previous,
        intent: impl Fn(&Routing) -> Outputs,
    ) -> Result<(), ActionError> {
        let p = &self.base.params;
        for attempt in 1..=CONFLICT_RETRIES {
            let routing = ctx
                .bounded(self.base.port.get_routing(&p.distribution))
                .await?;
            let default =
                (routing.default_target != wanted.default).then(|| wanted.default.clone());
            let behaviours: Vec<(String, String)> = wanted
                .behaviours
                .iter()
                .filter(|(pattern, target)| routing.target_of(pattern) != Some(target.as_str()))
                .cloned()
                .collect();
            if default.is_none() && behaviours.is_empty() {
                return Ok(());
            }
            let sent = ctx
                .mutate(
                    intent(&routing),
                    self.base
                        .port
                        .set_routing(&p.distribution, &routing.etag, default, behaviours),
                )
                .await;
            match sent {
                Ok(()) => return Ok(()),
                // Changed under us, or our own earlier update applied: read and decide again.
                Err(e) if e.code() == Some("PreconditionFailed") && attempt < CONFLICT_RETRIES => {
                    ctx.progress(format!(
                        "the config of {} changed while switching; reading it again",
                        p.distribution
                    ));
                }
                Err(e) if e.maybe_applied() => {
                    // The update may have been applied: the next read shows it.
                    ctx.progress(format!(
                        "UpdateDistribution's answer was lost ({})",
                        e.message()
                    ));
                }
                Err(e) => return Err(e.with_operation("UpdateDistribution")),
            }
        }
        Err(ActionError::new(
            ErrorKind::Conflict,
            format!(
                "the config of distribution {} kept changing while switching ({CONFLICT_RETRIES} \
                 reads): another change is being made to it",
                p.distribution
            ),
        )
        .with_code("PreconditionFailed"))
    }

    async fn deployed(&self, ctx: &Context) -> Result<String, ActionError> {
        let p = &self.base.params;
        let what = format!("distribution {} to be Deployed", p.distribution);
        let d = wait_until(ctx, &what, &self.base.wait, || async {
            let d = ctx
                .bounded(self.base.port.get_distribution(&p.distribution))
                .await?;
            Ok(if d.status.eq_ignore_ascii_case("Deployed") {
                Poll::Ready(d)
            } else {
                Poll::Pending(format!("status={}", d.status))
            })
        })
        .await?;
        Ok(d.status)
    }

    fn wanted(&self, origin: &str) -> Previous {
        Previous {
            default: origin.to_owned(),
            behaviours: self
                .base
                .params
                .path_patterns
                .iter()
                .map(|p| (p.clone(), origin.to_owned()))
                .collect(),
        }
    }
}

#[async_trait]
impl Act for SwitchOrigin {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let p = &self.base.params;
        let routing = match ctx
            .bounded(self.base.port.get_routing(&p.distribution))
            .await
        {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "distribution {} does not exist",
                    p.distribution
                )));
            }
            Err(e) => return Err(e),
        };
        if let Some(why) = self.blocker(&routing, &p.origin) {
            return Ok(Check::blocked(why));
        }
        let now = self.current(&routing);
        if now == self.wanted(&p.origin) {
            let d = ctx
                .bounded(self.base.port.get_distribution(&p.distribution))
                .await?;
            if d.status.eq_ignore_ascii_case("Deployed") {
                let recorded = ctx.intent().as_ref().and_then(Previous::from_outputs);
                let outputs = recorded
                    .map_or_else(Outputs::new, |previous| previous.outputs())
                    .with("origin", p.origin.as_str())
                    .with("status", d.status.as_str());
                return Ok(Check::Done {
                    detail: format!(
                        "distribution {} already sends to {} and is Deployed",
                        p.distribution, p.origin
                    ),
                    outputs,
                });
            }
        }
        Ok(Check::ready(format!(
            "switch distribution {} from {} to {}{}",
            p.distribution,
            now.default,
            p.origin,
            if p.path_patterns.is_empty() {
                String::new()
            } else {
                format!(" (default and {})", p.path_patterns.join(", "))
            }
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = &self.base.params;
        let routing = ctx
            .bounded(self.base.port.get_routing(&p.distribution))
            .await?;
        if let Some(why) = self.blocker(&routing, &p.origin) {
            return Err(ActionError::precondition(why));
        }
        // The targets before: the journalled intent when an earlier attempt or run already
        // switched, else what is there now.
        let previous = ctx
            .intent()
            .as_ref()
            .and_then(Previous::from_outputs)
            .unwrap_or_else(|| self.current(&routing));
        let record = previous.outputs();
        self.route(ctx, &self.wanted(&p.origin), |_| record.clone())
            .await?;
        self.previous.set(previous.clone());
        let status = self.deployed(ctx).await?;
        Ok(previous
            .outputs()
            .with("origin", p.origin.as_str())
            .with("status", status))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let p = &self.base.params;
        let routing = ctx
            .bounded(self.base.port.get_routing(&p.distribution))
            .await?;
        if self.current(&routing) == self.wanted(&p.origin) {
            Ok(format!(
                "distribution {} sends to {}",
                p.distribution, p.origin
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "distribution {} does not send to {}: default -> {}",
                p.distribution, p.origin, routing.default_target
            )))
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let Some(previous) = (self.previous)
            .or_intent(ctx, Previous::from_outputs)
            .or_else(|| {
                ctx.outputs_of(&self.base.id)
                    .and_then(Previous::from_outputs)
            })
        else {
            return Err(ActionError::unsupported(
                "nothing to roll back: this step did not switch the distribution",
            ));
        };
        let ctx = ctx.for_compensation();
        self.route(&ctx, &previous, |_| {
            Outputs::new().with("restoring", previous.default.as_str())
        })
        .await?;
        self.deployed(&ctx).await.map(drop)
    }
}

#[cfg(test)]
#[path = "switch_tests.rs"]
mod tests;
