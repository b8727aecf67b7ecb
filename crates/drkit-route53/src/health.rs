//! `route53.check_health`: what Route 53's health checkers report about an endpoint.

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    ActionError, ActionKind, Base, Context, ErrorKind, Finding, HasBase, Outputs, Params,
    PortFactory, Probe, Resource, StepSpec,
};
use serde::Deserialize;

use crate::port::Route53Api;

/// The parameters of `route53.check_health`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckHealthParams {
    /// The health check id.
    pub health_check_id: String,
}

impl CheckHealthParams {
    /// Reads health check `health_check_id`.
    pub fn new(health_check_id: impl Into<String>) -> Self {
        Self {
            health_check_id: health_check_id.into(),
        }
    }
}

/// Reads the last report of every Route 53 health checker. The endpoint is healthy, as Route
/// 53 decides it, when more than 18 % of the checkers report success.
///
/// Read-only, with the probe convention: `check` -> done (healthy) or blocked (unhealthy, no
/// report yet, or no such health check); `execute` and `verify` fail with
/// `PostconditionFailed` when unhealthy.
#[derive(Debug, HasBase)]
pub struct CheckHealth {
    base: Base<Self>,
}

impl ActionKind for CheckHealth {
    const KIND: &'static str = "route53.check_health";
    const SUMMARY: &'static str =
        "Read a Route 53 health check's checkers; blocked unless more than 18 % report success";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &["route53:GetHealthCheckStatus"];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("status", "`healthy`"),
        OutputDoc::new("healthy_checkers", "how many checkers report success"),
        OutputDoc::new("checkers", "how many checkers reported"),
        OutputDoc::new("failures", "`region: status` of the checkers that did not"),
    ];
    type Params = CheckHealthParams;
    type Port = dyn Route53Api;
    type Ports = PortFactory<dyn Route53Api>;

    fn validate(params: &CheckHealthParams) -> Result<(), ParamError> {
        if params.health_check_id.trim().is_empty() {
            return Err(ParamError::new("health_check_id", "must not be empty"));
        }
        Ok(())
    }

    fn build(step: StepSpec<CheckHealthParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        // Route 53 is global: the resource has no region.
        let port = ports.get(step.region());
        Ok(Self::new(step.id, step.params, port))
    }
}

impl CheckHealth {
    /// A probe step `id`.
    pub fn new(id: impl Into<String>, params: CheckHealthParams, api: Arc<dyn Route53Api>) -> Self {
        let target = Resource::new("route53", "healthcheck", params.health_check_id.clone());
        Self {
            base: Base::new(id, params, target, api),
        }
    }
}

#[async_trait]
impl Probe for CheckHealth {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let id = &self.base.params.health_check_id;
        let reports = match ctx.bounded(self.base.port.health_check_status(id)).await {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Finding::fail(
                    format!("health check {id} does not exist"),
                    Outputs::new(),
                ));
            }
            Err(e) => return Err(e),
        };
        let total = reports.len();
        let healthy = reports.iter().filter(|r| r.is_healthy()).count();
        let failures: Vec<String> = reports
            .iter()
            .filter(|r| !r.is_healthy())
            .map(|r| format!("{}: {}", r.region, r.status))
            .collect();
        if total == 0 {
            return Ok(Finding::fail(
                format!("health check {id}: no checker has reported yet"),
                Outputs::new(),
            ));
        }
        let text = format!("health check {id}: {healthy} of {total} checkers report success");
        Ok(if healthy * 100 > total * 18 {
            Finding::pass(
                text,
                Outputs::new()
                    .with("status", "healthy")
                    .with("healthy_checkers", healthy)
                    .with("checkers", total)
                    .with("failures", failures),
            )
        } else {
            Finding::fail(
                format!("{text} (unhealthy): {}", failures.join("; ")),
                Outputs::new(),
            )
        })
    }
}
