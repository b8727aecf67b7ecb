//! `route53.check_health`: what Route 53's health checkers report about an endpoint.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::{ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource};
use serde::Deserialize;

use crate::port::Route53Api;

/// The kind name.
pub(crate) const KIND: &str = "route53.check_health";

/// The IAM actions it needs.
pub(crate) const IAM_ACTIONS: &[&str] = &["route53:GetHealthCheckStatus"];

/// The parameters of `route53.check_health`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckHealthParams {
    /// The health check id.
    pub health_check_id: String,
}

/// Reads the last report of every Route 53 health checker. The endpoint is healthy, as Route
/// 53 decides it, when more than 18 % of the checkers report success.
///
/// Read-only, with the probe convention: `check` -> done (healthy) or blocked (unhealthy, no
/// report yet, or no such health check); `execute` and `verify` fail with
/// `PostconditionFailed` when unhealthy.
pub struct CheckHealth {
    id: String,
    params: CheckHealthParams,
    target: Resource,
    api: Arc<dyn Route53Api>,
}

impl fmt::Debug for CheckHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckHealth")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl CheckHealth {
    /// A probe step `id`.
    pub fn new(id: impl Into<String>, params: CheckHealthParams, api: Arc<dyn Route53Api>) -> Self {
        let target = Resource::new("route53", "healthcheck", params.health_check_id.clone());
        Self {
            id: id.into(),
            params,
            target,
            api,
        }
    }

    /// Healthy (detail, outputs) or not (why).
    async fn evaluate(
        &self,
        ctx: &Context,
    ) -> Result<Result<(String, Outputs), String>, ActionError> {
        let id = &self.params.health_check_id;
        let reports = match ctx.bounded(self.api.health_check_status(id)).await {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Err(format!("health check {id} does not exist")));
            }
            Err(e) => return Err(e.in_action(self)),
        };
        let total = reports.len();
        let healthy = reports.iter().filter(|r| r.is_healthy()).count();
        let failures: Vec<String> = reports
            .iter()
            .filter(|r| !r.is_healthy())
            .map(|r| format!("{}: {}", r.region, r.status))
            .collect();
        if total == 0 {
            return Ok(Err(format!(
                "health check {id}: no checker has reported yet"
            )));
        }
        let is_healthy = healthy * 100 > total * 18;
        let text = format!("health check {id}: {healthy} of {total} checkers report success");
        Ok(if is_healthy {
            Ok((
                text,
                Outputs::new()
                    .with("status", "healthy")
                    .with("healthy_checkers", healthy)
                    .with("checkers", total)
                    .with("failures", failures),
            ))
        } else {
            Err(format!("{text} (unhealthy): {}", failures.join("; ")))
        })
    }
}

#[async_trait]
impl RecoveryAction for CheckHealth {
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
        false
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        IAM_ACTIONS
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
