//! `arc.update_routing_control` and `arc.check_routing_control`: DNS failover through Route 53
//! ARC's data plane (its routing-control cluster), without Route 53's control plane in
//! us-east-1.
//!
//! Every call goes to one of the cluster's regional endpoints, as AWS advises: the endpoint
//! that answered last first, then the others in the runbook's order; an endpoint that does not
//! answer (a time-out, a refused connection, `EndpointTemporarilyUnavailableException`,
//! `InternalServerException`, throttling) is left for the next. An endpoint in a region the run
//! treats as impaired (`--impaired-region`) is never called.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use drkit_core::Memo;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, Finding, HasBase, Outputs,
    Params, Poll, PortFactory, Probe, Resource, StepSpec, wait_until,
};
use serde::Deserialize;

use crate::port::{ArcApi, ClusterEndpoint, ControlState, RoutingControl};

/// A routing control and the state it should have.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ControlTarget {
    /// The routing control's ARN.
    pub arn: String,
    /// `On` or `Off`.
    pub state: ControlState,
}

impl ControlTarget {
    /// `arn` set to `state`.
    pub fn new(arn: impl Into<String>, state: ControlState) -> Self {
        Self {
            arn: arn.into(),
            state,
        }
    }
}

/// A routing control to read, and the state it must have (if any).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ControlExpectation {
    /// The routing control's ARN.
    pub arn: String,
    /// The state it must have (`On` or `Off`); absent: any, only read.
    #[serde(default)]
    pub state: Option<ControlState>,
}

impl ControlExpectation {
    /// `arn`, expected in `state` (or only read when `None`).
    pub fn new(arn: impl Into<String>, state: Option<ControlState>) -> Self {
        Self {
            arn: arn.into(),
            state,
        }
    }
}

/// The parameters of `arc.update_routing_control`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UpdateRoutingControlParams {
    /// `{ arn, state = "On" | "Off" }`, set in one `UpdateRoutingControlStates` transaction.
    #[param(ty = "list of tables")]
    pub routing_controls: Vec<ControlTarget>,
    /// The cluster's regional endpoints `{ endpoint, region }` (as `DescribeCluster` lists
    /// them), tried in turn.
    #[param(ty = "list of tables")]
    pub cluster_endpoints: Vec<ClusterEndpoint>,
    /// ARNs of safety rules to override ("break glass"), default none.
    #[serde(default)]
    #[param(ty = "list of strings")]
    pub safety_rules_to_override: Vec<String>,
}

impl UpdateRoutingControlParams {
    /// Sets `routing_controls` through `cluster_endpoints`.
    pub fn new(
        routing_controls: Vec<ControlTarget>,
        cluster_endpoints: Vec<ClusterEndpoint>,
    ) -> Self {
        Self {
            routing_controls,
            cluster_endpoints,
            safety_rules_to_override: Vec::new(),
        }
    }
}

/// The parameters of `arc.check_routing_control`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckRoutingControlParams {
    /// `{ arn, state? }`: each is read; one with a `state` must have it.
    #[param(ty = "list of tables")]
    pub routing_controls: Vec<ControlExpectation>,
    /// The cluster's regional endpoints `{ endpoint, region }`, tried in turn.
    #[param(ty = "list of tables")]
    pub cluster_endpoints: Vec<ClusterEndpoint>,
}

impl CheckRoutingControlParams {
    /// Reads `routing_controls` through `cluster_endpoints`.
    pub fn new(
        routing_controls: Vec<ControlExpectation>,
        cluster_endpoints: Vec<ClusterEndpoint>,
    ) -> Self {
        Self {
            routing_controls,
            cluster_endpoints,
        }
    }
}

fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

fn validate_arns<'a>(arns: impl Iterator<Item = &'a str>) -> Result<(), ParamError> {
    let mut seen = BTreeSet::new();
    let mut any = false;
    for arn in arns {
        any = true;
        if !arn.starts_with("arn:") || !arn.contains("routingcontrol/") {
            return Err(ParamError::new(
                "routing_controls",
                format!(
                    "`{arn}` is not a routing control ARN \
                     (arn:aws:route53-recovery-control::ACCOUNT:controlpanel/ID/routingcontrol/ID)"
                ),
            ));
        }
        if arn.contains([',', '=']) {
            return Err(ParamError::new(
                "routing_controls",
                format!("`{arn}` has a `,` or `=`, which no ARN has"),
            ));
        }
        if !seen.insert(arn) {
            return Err(ParamError::new(
                "routing_controls",
                format!("`{arn}` is listed twice"),
            ));
        }
    }
    if any {
        Ok(())
    } else {
        Err(ParamError::new(
            "routing_controls",
            "list at least one routing control",
        ))
    }
}

fn validate_endpoints(endpoints: &[ClusterEndpoint]) -> Result<(), ParamError> {
    if endpoints.is_empty() {
        return Err(ParamError::new(
            "cluster_endpoints",
            "list the cluster's regional endpoints ({ endpoint, region }, as DescribeCluster \
             shows them); AWS advises trying them in turn",
        ));
    }
    for e in endpoints {
        if !(e.endpoint.starts_with("https://") || e.endpoint.starts_with("http://")) {
            return Err(ParamError::new(
                "cluster_endpoints",
                format!("`{}` is not an endpoint URL (https://...)", e.endpoint),
            ));
        }
        if !is_region(&e.region) {
            return Err(ParamError::new(
                "cluster_endpoints",
                format!("`{}` is not a region name (e.g. us-west-2)", e.region),
            ));
        }
    }
    Ok(())
}

/// The resource a step acts on (its controls' ARNs) and its endpoints.
fn target_and_endpoints<'a>(
    arns: impl Iterator<Item = &'a str>,
    endpoints: &[ClusterEndpoint],
) -> (Resource, Endpoints) {
    let arns: Vec<&str> = arns.collect();
    (
        Resource::new("route53-recovery-control", "routingcontrol", arns.join(",")),
        Endpoints::new(endpoints.to_vec()),
    )
}

/// The states of some routing controls, as `arn=On,arn=Off` (what the journal keeps).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct States(Vec<(String, ControlState)>);

impl States {
    fn text(&self) -> String {
        let mut out = String::new();
        for (i, (arn, state)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{arn}={state}");
        }
        out
    }

    fn parse(text: &str) -> Option<Self> {
        let states = text
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (arn, state) = pair.rsplit_once('=')?;
                Some((arn.to_owned(), ControlState::parse(state)?))
            })
            .collect::<Option<Vec<_>>>()?;
        (!states.is_empty()).then_some(Self(states))
    }

    fn from_outputs(out: &Outputs, key: &str) -> Option<Self> {
        out.get_str(key).and_then(Self::parse)
    }

    /// The entries of `self` that `now` does not have.
    fn missing_from(&self, now: &States) -> Vec<(String, ControlState)> {
        self.0
            .iter()
            .filter(|entry| !now.0.contains(entry))
            .cloned()
            .collect()
    }
}

/// The cluster endpoints of one step, and which answered last.
#[derive(Debug)]
struct Endpoints {
    list: Vec<ClusterEndpoint>,
    last_good: AtomicUsize,
}

impl Endpoints {
    fn new(list: Vec<ClusterEndpoint>) -> Self {
        Self {
            list,
            last_good: AtomicUsize::new(0),
        }
    }

    /// Sends `call` to the endpoints in turn (the last good one first, none in an impaired
    /// region) until one answers; an answer that is an error other than "this endpoint did not
    /// answer" is returned as it is.
    async fn call<T, F, Fut>(&self, ctx: &Context, what: &str, call: F) -> Result<T, ActionError>
    where
        F: Fn(ClusterEndpoint) -> Fut,
        Fut: Future<Output = Result<T, ActionError>>,
    {
        let n = self.list.len();
        let start = self.last_good.load(Ordering::Relaxed) % n.max(1);
        let mut failures = Vec::new();
        let mut skipped = Vec::new();
        for k in 0..n {
            let i = (start + k) % n;
            let endpoint = &self.list[i];
            if ctx.is_region_impaired(&endpoint.region) {
                skipped.push(endpoint.region.clone());
                continue;
            }
            ctx.ensure_live()?;
            match ctx.bounded(call(endpoint.clone())).await {
                Ok(v) => {
                    self.last_good.store(i, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(e) if e.is_retryable() => {
                    ctx.progress(format!(
                        "{what}: cluster endpoint in {} did not answer ({}); trying the next",
                        endpoint.region,
                        e.message()
                    ));
                    failures.push(format!("{}: {}", endpoint.region, e.message()));
                }
                Err(e) => {
                    return Err(e.with_note(format!("answered by the cluster endpoint {endpoint}")));
                }
            }
        }
        let mut message = format!("{what}: no cluster endpoint answered");
        if !failures.is_empty() {
            let _ = write!(message, " ({})", failures.join("; "));
        }
        if !skipped.is_empty() {
            let _ = write!(
                message,
                "; not tried, in impaired regions: {}",
                skipped.join(", ")
            );
        }
        Err(ActionError::new(
            if failures.is_empty() {
                ErrorKind::PreconditionFailed
            } else {
                ErrorKind::Unavailable
            },
            message,
        ))
    }

    /// The states of `arns`, each read with `GetRoutingControlState`.
    async fn read(
        &self,
        ctx: &Context,
        port: &dyn ArcApi,
        arns: &[&str],
    ) -> Result<Vec<RoutingControl>, ActionError> {
        let mut out = Vec::with_capacity(arns.len());
        for arn in arns {
            let control = self
                .call(ctx, "GetRoutingControlState", |e| async move {
                    port.get_state(&e, arn).await
                })
                .await?;
            out.push(control);
        }
        Ok(out)
    }
}

fn states_of(controls: &[RoutingControl]) -> States {
    States(controls.iter().map(|c| (c.arn.clone(), c.state)).collect())
}

/// `arc.update_routing_control`: sets routing controls `On`/`Off` in one
/// `UpdateRoutingControlStates` transaction on one of the ARC cluster's regional endpoints (tried
/// in turn), and waits until `GetRoutingControlState` reads the new states back.
///
/// - `check`: every control exists; all already in the wanted state -> done.
/// - `execute`: reads the states before (journalled as the intent, before the update), updates
///   (overriding `safety_rules_to_override`), waits for the read-back. Setting absolute states
///   is idempotent: an update whose answer was lost is sent again at the next endpoint.
/// - `rollback`: sets the states before again, the same way.
///
/// Outputs: `states` and `previous_states` (`arn=On,arn=Off`), `endpoint_region` (the region of
/// the endpoint that took the update).
#[derive(Debug, HasBase)]
pub struct UpdateRoutingControl {
    base: Base<Self>,
    endpoints: Endpoints,
    previous: Memo<States>,
}

impl ActionKind for UpdateRoutingControl {
    const KIND: &'static str = "arc.update_routing_control";
    const SUMMARY: &'static str = "Set Route 53 ARC routing controls On/Off through the \
                                   cluster's regional endpoints (DNS failover on the data plane)";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "route53-recovery-cluster:GetRoutingControlState",
        "route53-recovery-cluster:UpdateRoutingControlStates",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("states", "the states set, as arn=On,arn=Off"),
        OutputDoc::new("previous_states", "the states before, as arn=On,arn=Off"),
        OutputDoc::new(
            "endpoint_region",
            "the region of the cluster endpoint that took the update",
        ),
    ];
    type Params = UpdateRoutingControlParams;
    type Port = dyn ArcApi;
    type Ports = PortFactory<dyn ArcApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        validate_arns(p.routing_controls.iter().map(|c| c.arn.as_str()))?;
        validate_endpoints(&p.cluster_endpoints)?;
        if let Some(bad) = p
            .safety_rules_to_override
            .iter()
            .find(|r| !r.starts_with("arn:"))
        {
            return Err(ParamError::new(
                "safety_rules_to_override",
                format!("`{bad}` is not a safety rule ARN"),
            ));
        }
        Ok(())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let (target, endpoints) = target_and_endpoints(
            step.params.routing_controls.iter().map(|c| c.arn.as_str()),
            &step.params.cluster_endpoints,
        );
        Ok(Self {
            base: step.into_base(target, ports),
            endpoints,
            previous: Memo::default(),
        })
    }
}

impl UpdateRoutingControl {
    fn arns(&self) -> Vec<&str> {
        self.base
            .params
            .routing_controls
            .iter()
            .map(|c| c.arn.as_str())
            .collect()
    }

    fn wanted(&self) -> States {
        States(
            self.base
                .params
                .routing_controls
                .iter()
                .map(|c| (c.arn.clone(), c.state))
                .collect(),
        )
    }

    async fn now(&self, ctx: &Context) -> Result<States, ActionError> {
        let controls = self
            .endpoints
            .read(ctx, self.base.port.as_ref(), &self.arns())
            .await?;
        Ok(states_of(&controls))
    }

    /// Makes the controls `wanted`: updates the ones that differ, then waits until an endpoint
    /// reads them all back. Returns the region of the endpoint that took the update (None: no
    /// update was needed).
    async fn set(
        &self,
        ctx: &Context,
        wanted: &States,
        intent: Outputs,
    ) -> Result<Option<String>, ActionError> {
        let now = self.now(ctx).await?;
        let changes = wanted.missing_from(&now);
        let mut region = None;
        if !changes.is_empty() {
            let port = self.base.port.as_ref();
            let overrides = &self.base.params.safety_rules_to_override;
            let changes = &changes;
            let used = ctx
                .mutate(
                    intent,
                    self.endpoints
                        .call(ctx, "UpdateRoutingControlStates", |e| async move {
                            port.update_states(&e, changes, overrides)
                                .await
                                .map(|()| e.region)
                        }),
                )
                .await
                .map_err(|e| {
                    if e.kind() == ErrorKind::Conflict {
                        let hint = "ARC did not accept the change: another change to these \
                                    controls was in progress (run the step again), or a safety \
                                    rule forbids the result (name it in \
                                    safety_rules_to_override to override it)";
                        e.with_note(hint)
                    } else {
                        e
                    }
                })?;
            region = Some(used);
        }
        let what = format!("routing controls to read back {}", wanted.text());
        wait_until(ctx, &what, &self.base.wait, || async {
            let now = self.now(ctx).await?;
            let missing = wanted.missing_from(&now);
            Ok(if missing.is_empty() {
                Poll::Ready(())
            } else {
                Poll::Pending(format!("now {}", now.text()))
            })
        })
        .await?;
        Ok(region)
    }

    fn recorded_previous(&self, ctx: &Context) -> Option<States> {
        ctx.intent()
            .as_ref()
            .and_then(|o| States::from_outputs(o, "previous_states"))
    }
}

#[async_trait]
impl Act for UpdateRoutingControl {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let now = match self.now(ctx).await {
            Ok(now) => now,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "a routing control does not exist: {}",
                    e.message()
                )));
            }
            Err(e) => return Err(e),
        };
        let wanted = self.wanted();
        if wanted.missing_from(&now).is_empty() {
            let previous = self.recorded_previous(ctx).unwrap_or_else(|| now.clone());
            return Ok(Check::Done {
                detail: format!("routing controls already {}", wanted.text()),
                outputs: Outputs::new()
                    .with("states", wanted.text())
                    .with("previous_states", previous.text()),
            });
        }
        Ok(Check::ready(format!(
            "set {} (now {})",
            wanted.text(),
            now.text()
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let previous = match self.recorded_previous(ctx) {
            Some(p) => p,
            None => self.now(ctx).await?,
        };
        let wanted = self.wanted();
        let intent = Outputs::new()
            .with("previous_states", previous.text())
            .with("states", wanted.text());
        self.previous.set(previous.clone());
        let region = self.set(ctx, &wanted, intent).await?;
        let mut out = Outputs::new()
            .with("states", wanted.text())
            .with("previous_states", previous.text());
        if let Some(region) = region {
            out.insert("endpoint_region", region);
        }
        Ok(out)
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let now = self.now(ctx).await?;
        let wanted = self.wanted();
        if wanted.missing_from(&now).is_empty() {
            Ok(format!("routing controls read {}", now.text()))
        } else {
            Err(ActionError::postcondition(format!(
                "routing controls read {}, not {}",
                now.text(),
                wanted.text()
            )))
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let Some(previous) = (self.previous.get())
            .or_else(|| self.recorded_previous(ctx))
            .or_else(|| {
                ctx.outputs_of(&self.base.id)
                    .and_then(|o| States::from_outputs(o, "previous_states"))
            })
        else {
            return Err(ActionError::unsupported(
                "nothing to roll back: this step did not change the routing controls",
            ));
        };
        let ctx = ctx.for_compensation();
        let intent = Outputs::new().with("restoring", previous.text());
        self.set(&ctx, &previous, intent).await.map(drop)
    }
}

/// `arc.check_routing_control` (read-only): reads routing controls through the cluster's
/// regional endpoints (tried in turn); holds when each control given a `state` has it.
///
/// Outputs: `states` (`arn=On,arn=Off`), `on` (the ARNs that are `On`, comma-separated).
#[derive(Debug, HasBase)]
pub struct CheckRoutingControl {
    base: Base<Self>,
    endpoints: Endpoints,
}

impl ActionKind for CheckRoutingControl {
    const KIND: &'static str = "arc.check_routing_control";
    const SUMMARY: &'static str = "Read Route 53 ARC routing controls through the cluster's \
                                   regional endpoints; hold when each has its expected state";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] =
        &["route53-recovery-cluster:GetRoutingControlState"];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("states", "the states read, as arn=On,arn=Off"),
        OutputDoc::new(
            "on",
            "the ARNs of the controls that are On, comma-separated",
        ),
    ];
    type Params = CheckRoutingControlParams;
    type Port = dyn ArcApi;
    type Ports = PortFactory<dyn ArcApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        validate_arns(p.routing_controls.iter().map(|c| c.arn.as_str()))?;
        validate_endpoints(&p.cluster_endpoints)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let (target, endpoints) = target_and_endpoints(
            step.params.routing_controls.iter().map(|c| c.arn.as_str()),
            &step.params.cluster_endpoints,
        );
        Ok(Self {
            base: step.into_base(target, ports),
            endpoints,
        })
    }
}

#[async_trait]
impl Probe for CheckRoutingControl {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let p = &self.base.params;
        let arns: Vec<&str> = p.routing_controls.iter().map(|c| c.arn.as_str()).collect();
        let controls = match self
            .endpoints
            .read(ctx, self.base.port.as_ref(), &arns)
            .await
        {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Finding::fail(
                    format!("a routing control does not exist: {}", e.message()),
                    Outputs::new(),
                ));
            }
            Err(e) => return Err(e),
        };
        let states = states_of(&controls);
        let on: Vec<&str> = controls
            .iter()
            .filter(|c| c.state == ControlState::On)
            .map(|c| c.arn.as_str())
            .collect();
        let wrong: Vec<String> = p
            .routing_controls
            .iter()
            .zip(&controls)
            .filter_map(|(want, got)| {
                want.state
                    .filter(|s| *s != got.state)
                    .map(|s| format!("{} is {}, not {s}", want.arn, got.state))
            })
            .collect();
        let outputs = Outputs::new()
            .with("states", states.text())
            .with("on", on.join(","));
        Ok(if wrong.is_empty() {
            Finding::pass(format!("routing controls read {}", states.text()), outputs)
        } else {
            Finding::fail(wrong.join("; "), outputs)
        })
    }
}

#[cfg(test)]
#[path = "actions_tests.rs"]
mod tests;
