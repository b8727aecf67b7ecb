//! Plans: steps forming a DAG, validated before anything runs.
//!
//! ## Output references
//!
//! A step can use earlier steps' outputs (e.g. the certificate ARN a request step returned).
//! The action of such a step cannot exist before those outputs do, so the step holds a
//! *builder* instead of an action, plus the list of [`OutputRef`]s it uses:
//!
//! - [`Step::deferred`]: a closure receives the resolved [`StepInputs`] and builds the action;
//! - [`Step::from_spec`]: a registry [`ActionSpec`] whose parameters contain
//!   `${steps.<id>.outputs.<name>}` strings; the references are found when the step is made,
//!   substituted when it runs, and the action is built by the registry then.
//!
//! Because the references are declared up front, [`Plan::new`] checks that each one names a
//! step that is an *ancestor* (runs before, through `depends_on`): anything else is a
//! validation error, before anything runs.
//!
//! When a step runs, its action's `Context::outputs_of` sees the outputs of its direct
//! dependencies and of the steps it references — not of every ancestor, so a long chain does
//! not copy every earlier output map into every step.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionError, ActionRef, Outputs, RetryPolicy};
use petgraph::algo::{has_path_connecting, tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approval::ApprovalPolicy;
use crate::conditions::Mode;
use crate::error::{PlanError, PlanProblem};
use crate::guard::Guard;
use crate::rto::Tier;

/// A reference to an earlier step's output: `${steps.<step>.outputs.<output>}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OutputRef {
    /// The step that produces it.
    pub step: String,
    /// The output's name.
    pub output: String,
}

impl OutputRef {
    /// A reference to `output` of `step`.
    pub fn new(step: impl Into<String>, output: impl Into<String>) -> Self {
        Self {
            step: step.into(),
            output: output.into(),
        }
    }

    /// Parses the inside of `${...}`: `steps.<step>.outputs.<output>`.
    fn parse_inner(inner: &str) -> Option<Self> {
        let rest = inner.trim().strip_prefix("steps.")?;
        let (step, output) = rest.split_once(".outputs.")?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        };
        (ok(step) && ok(output)).then(|| Self::new(step, output))
    }

    /// Every `${...}` in `text`, in order: `Ok` for references, `Err(text)` for anything else
    /// written between `${` and `}`.
    fn scan(text: &str) -> Vec<(std::ops::Range<usize>, Result<Self, String>)> {
        let mut found = Vec::new();
        let mut from = 0;
        while let Some(start) = text[from..].find("${").map(|i| i + from) {
            let Some(end) = text[start..].find('}').map(|i| i + start) else {
                found.push((start..text.len(), Err(text[start..].to_owned())));
                break;
            };
            let inner = &text[start + 2..end];
            let parsed = Self::parse_inner(inner).ok_or_else(|| text[start..=end].to_owned());
            found.push((start..end + 1, parsed));
            from = end + 1;
        }
        found
    }
}

impl fmt::Display for OutputRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${{steps.{}.outputs.{}}}", self.step, self.output)
    }
}

/// The outputs a deferred step's builder may use: those of the steps it references and of its
/// direct dependencies.
#[derive(Clone, Copy, Debug)]
pub struct StepInputs<'a> {
    step: &'a str,
    outputs: &'a BTreeMap<String, Outputs>,
}

impl<'a> StepInputs<'a> {
    pub(crate) fn new(step: &'a str, outputs: &'a BTreeMap<String, Outputs>) -> Self {
        Self { step, outputs }
    }

    /// The outputs of `step`, if given.
    pub fn outputs_of(&self, step: &str) -> Option<&'a Outputs> {
        self.outputs.get(step)
    }

    /// The value `r` refers to; an `InvalidInput` error naming it when missing.
    pub fn get(&self, r: &OutputRef) -> Result<&'a Value, ActionError> {
        self.outputs
            .get(&r.step)
            .and_then(|o| o.get(&r.output))
            .ok_or_else(|| {
                ActionError::invalid_input(format!(
                    "step `{}` uses {r}, but step `{}` produced no output `{}`",
                    self.step, r.step, r.output
                ))
            })
    }

    /// Replaces every `${steps.<id>.outputs.<name>}` in `params`: a string that is exactly one
    /// reference becomes the referred value (of any JSON type); a reference inside a longer
    /// string is replaced by the value's text.
    pub fn substitute(&self, params: &Value) -> Result<Value, ActionError> {
        Ok(match params {
            Value::String(s) => {
                let refs = OutputRef::scan(s);
                if refs.is_empty() {
                    return Ok(params.clone());
                }
                if let [(range, Ok(r))] = refs.as_slice()
                    && range.start == 0
                    && range.end == s.len()
                {
                    return self.get(r).cloned();
                }
                let mut out = String::with_capacity(s.len());
                let mut last = 0;
                for (range, r) in refs {
                    out.push_str(&s[last..range.start]);
                    match r {
                        Ok(r) => match self.get(&r)? {
                            Value::String(v) => out.push_str(v),
                            other => out.push_str(&other.to_string()),
                        },
                        Err(text) => out.push_str(&text),
                    }
                    last = range.end;
                }
                out.push_str(&s[last..]);
                Value::String(out)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.substitute(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.substitute(v)?)))
                    .collect::<Result<_, ActionError>>()?,
            ),
            other => other.clone(),
        })
    }
}

type BuildFn = dyn Fn(&StepInputs<'_>) -> Result<ActionRef, ActionError> + Send + Sync;

/// Where a step's action comes from.
#[derive(Clone)]
pub(crate) enum ActionSource {
    /// Built already.
    Ready(ActionRef),
    /// Built when the step runs, from earlier outputs.
    Deferred {
        service: String,
        build: Arc<BuildFn>,
    },
}

impl fmt::Debug for ActionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ready(a) => f.debug_tuple("Ready").field(a).finish(),
            Self::Deferred { service, .. } => f
                .debug_struct("Deferred")
                .field("service", service)
                .finish_non_exhaustive(),
        }
    }
}

/// What to do when a step fails (after its retries).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Launch no new step; let running ones finish; the run fails. The default.
    #[default]
    Abort,
    /// Go on with the steps that do not depend on this one; the run still fails.
    Continue,
    /// Launch no new step; let running ones finish; then run the compensations
    /// (`rollback`) of the completed steps in reverse order. The run fails either way.
    Rollback,
}

/// How a step is run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct StepPolicy {
    /// Bound on the whole step (check, guards, execute, verify); approval waits not included.
    #[serde(with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Bound on each attempt (inside the retry).
    #[serde(with = "humantime_serde")]
    pub attempt_timeout: Option<Duration>,
    /// Retry of retryable failures (see `drkit_core::RetryLayer`). `None`: one attempt.
    pub retry: Option<RetryPolicy>,
    /// What a failure does to the run.
    pub on_failure: OnFailure,
    /// Whether the step needs an approval before executing, and how long to wait for it.
    pub approval: Option<ApprovalPolicy>,
}

/// One step of a plan: an action (or a builder of one), what it depends on, its tier, its
/// policy and its guards.
#[derive(Clone, Debug)]
pub struct Step {
    pub(crate) id: String,
    pub(crate) source: ActionSource,
    pub(crate) depends_on: Vec<String>,
    pub(crate) uses: Vec<OutputRef>,
    pub(crate) malformed: Vec<String>,
    pub(crate) tier: Tier,
    pub(crate) policy: StepPolicy,
    pub(crate) guards: Vec<Arc<dyn Guard>>,
    pub(crate) modes: Option<Vec<Mode>>,
    pub(crate) region: Option<String>,
}

impl Step {
    /// A step running `action`, with the action's id as the step id.
    pub fn new(action: ActionRef) -> Self {
        Self::with_source(action.id().to_owned(), ActionSource::Ready(action))
    }

    /// A step whose action is built when it runs, from the outputs it `uses` (which must be
    /// produced by ancestors). `service` is the service it will act on, for per-service
    /// limits (e.g. `acm`).
    pub fn deferred(
        id: impl Into<String>,
        service: impl Into<String>,
        uses: impl IntoIterator<Item = OutputRef>,
        build: impl Fn(&StepInputs<'_>) -> Result<ActionRef, ActionError> + Send + Sync + 'static,
    ) -> Self {
        let mut step = Self::with_source(
            id.into(),
            ActionSource::Deferred {
                service: service.into(),
                build: Arc::new(build),
            },
        );
        step.uses = uses.into_iter().collect();
        step
    }

    /// A step built by `registry` from `spec` when it runs, after substituting the
    /// `${steps.<id>.outputs.<name>}` references found in its parameters. The service is the
    /// kind's prefix (`acm` for `acm.request_certificate`). A malformed `${...}` is reported
    /// by [`Plan::new`].
    pub fn from_spec(registry: Arc<Registry>, spec: ActionSpec) -> Self {
        let mut uses = Vec::new();
        let mut malformed = Vec::new();
        collect_refs(&spec.params, &mut uses, &mut malformed);
        uses.sort();
        uses.dedup();
        let service = spec
            .kind
            .split_once('.')
            .map_or(spec.kind.as_str(), |(s, _)| s)
            .to_owned();
        let id = spec.id.clone();
        let mut step = Self::deferred(id, service, uses, move |inputs| {
            let mut spec = spec.clone();
            spec.params = inputs.substitute(&spec.params)?;
            registry
                .build(&spec)
                .map_err(|e| ActionError::invalid_input(e.to_string()))
        });
        step.malformed = malformed;
        step
    }

    fn with_source(id: String, source: ActionSource) -> Self {
        Self {
            id,
            source,
            depends_on: Vec::new(),
            uses: Vec::new(),
            malformed: Vec::new(),
            tier: Tier::default(),
            policy: StepPolicy::default(),
            guards: Vec::new(),
            modes: None,
            region: None,
        }
    }

    /// Runs only in `modes` (by default in both): in another mode the step is skipped, with
    /// the reason (see [`Conditions`](crate::Conditions)).
    #[must_use]
    pub fn only_in_modes(mut self, modes: impl IntoIterator<Item = Mode>) -> Self {
        let mut modes: Vec<Mode> = modes.into_iter().collect();
        modes.sort();
        modes.dedup();
        self.modes = Some(modes);
        self
    }

    /// The AWS region the step's calls go to: an impaired region (see [`Conditions`](crate::Conditions)) skips
    /// it. None (the default) for a global service (Route 53, CloudFront, IAM) or a step that
    /// calls no AWS API.
    #[must_use]
    pub fn in_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Runs after `steps` have succeeded.
    #[must_use]
    pub fn depends_on<S: Into<String>>(mut self, steps: impl IntoIterator<Item = S>) -> Self {
        self.depends_on.extend(steps.into_iter().map(Into::into));
        self
    }

    /// Sets the tier (default: full recovery).
    #[must_use]
    pub fn tier(mut self, tier: Tier) -> Self {
        self.tier = tier;
        self
    }

    /// Sets the whole policy.
    #[must_use]
    pub fn policy(mut self, policy: StepPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Bounds the whole step.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.policy.timeout = Some(timeout);
        self
    }

    /// Bounds each attempt.
    #[must_use]
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.policy.attempt_timeout = Some(timeout);
        self
    }

    /// Retries retryable failures with `policy`.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.policy.retry = Some(policy);
        self
    }

    /// Sets what a failure does to the run.
    #[must_use]
    pub fn on_failure(mut self, on_failure: OnFailure) -> Self {
        self.policy.on_failure = on_failure;
        self
    }

    /// Requires an approval before executing.
    #[must_use]
    pub fn require_approval(mut self, policy: ApprovalPolicy) -> Self {
        self.policy.approval = Some(policy);
        self
    }

    /// Adds a guard that must hold just before executing.
    #[must_use]
    pub fn guard(mut self, guard: impl Guard + 'static) -> Self {
        self.guards.push(Arc::new(guard));
        self
    }

    /// The step id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The service it acts on (for per-service limits).
    pub fn service(&self) -> &str {
        match &self.source {
            ActionSource::Ready(a) => &a.target().service,
            ActionSource::Deferred { service, .. } => service,
        }
    }

    /// The modes it runs in; `None`: both.
    pub fn modes(&self) -> Option<&[Mode]> {
        self.modes.as_deref()
    }

    /// The AWS region its calls go to, if regional.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The output references it uses.
    pub fn uses(&self) -> &[OutputRef] {
        &self.uses
    }

    /// Its dependencies, as declared.
    pub fn dependencies(&self) -> &[String] {
        &self.depends_on
    }

    /// Its tier.
    pub fn step_tier(&self) -> Tier {
        self.tier
    }

    /// The action, when it is built already.
    pub fn action(&self) -> Option<&ActionRef> {
        match &self.source {
            ActionSource::Ready(a) => Some(a),
            ActionSource::Deferred { .. } => None,
        }
    }
}

fn collect_refs(v: &Value, uses: &mut Vec<OutputRef>, malformed: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            for (_, r) in OutputRef::scan(s) {
                match r {
                    Ok(r) => uses.push(r),
                    Err(text) => malformed.push(text),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, uses, malformed)),
        Value::Object(map) => map.values().for_each(|v| collect_refs(v, uses, malformed)),
        _ => {}
    }
}

#[derive(Debug)]
pub(crate) struct PlanInner {
    pub(crate) name: String,
    pub(crate) steps: Vec<Step>,
    pub(crate) index: HashMap<String, usize>,
    /// Dependencies of each step, by index.
    pub(crate) deps: Vec<Vec<usize>>,
    /// Direct dependents of each step, by index.
    pub(crate) dependents: Vec<Vec<usize>>,
    /// Steps in a topological order.
    pub(crate) topo: Vec<usize>,
    /// Length (in steps) of the longest path from each step to the end of the plan.
    pub(crate) bottom_level: Vec<u32>,
    /// Steps whose outputs each step may see (direct dependencies and referenced steps).
    pub(crate) inputs: Vec<Vec<usize>>,
    pub(crate) fingerprint: String,
}

/// A validated recovery plan: a DAG of steps. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Plan {
    pub(crate) inner: Arc<PlanInner>,
    pub(crate) source: Option<Arc<PlanSource>>,
}

/// Where a plan came from, kept in the journal's `run_started` record so that a run can be
/// resumed from its journal alone (`drkit resume JOURNAL`), on another machine if need be.
///
/// Only for sources that hold no secret: a drkit runbook may (its secrets are references such
/// as `env:VAULT_KEY_1`, and a secret written in clear is refused before a run starts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSource {
    /// Where it was read from (a file path as given), for messages.
    pub origin: String,
    /// Its text.
    pub text: String,
}

impl PlanSource {
    /// The SHA-256 of the text, as `sha256:<64 hex digits>`: what `sha256sum FILE` prints for
    /// the runbook file it was read from. `drkit resume` shows it before running a runbook taken
    /// from a journal, and compares it with `--runbook FILE`'s.
    pub fn fingerprint(&self) -> String {
        text_fingerprint(&self.text)
    }
}

/// The SHA-256 of `text`, as `sha256:<64 hex digits>` (see [`PlanSource::fingerprint`]).
pub fn text_fingerprint(text: &str) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    let digest = sha2::Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

impl Plan {
    /// Validates `steps` as a plan named `name` (the name keys its journal and lock).
    ///
    /// Every problem is reported at once, each naming its steps: duplicate ids, unknown
    /// dependencies, cycles, references to outputs of steps that are not ancestors.
    pub fn new(name: impl Into<String>, steps: Vec<Step>) -> Result<Self, PlanError> {
        let name = name.into();
        let mut problems = Vec::new();
        if steps.is_empty() {
            problems.push(PlanProblem::Empty);
        }
        let mut index = HashMap::with_capacity(steps.len());
        let mut graph: DiGraph<usize, ()> = DiGraph::with_capacity(steps.len(), steps.len());
        for (i, step) in steps.iter().enumerate() {
            graph.add_node(i);
            if index.insert(step.id.clone(), i).is_some()
                && !problems
                    .iter()
                    .any(|p| matches!(p, PlanProblem::DuplicateId { id } if *id == step.id))
            {
                problems.push(PlanProblem::DuplicateId {
                    id: step.id.clone(),
                });
            }
        }
        let mut deps = vec![Vec::new(); steps.len()];
        let mut dependents = vec![Vec::new(); steps.len()];
        for (i, step) in steps.iter().enumerate() {
            for dep in &step.depends_on {
                match index.get(dep) {
                    Some(&d) => {
                        if !deps[i].contains(&d) {
                            deps[i].push(d);
                            dependents[d].push(i);
                            graph.add_edge(NodeIndex::new(d), NodeIndex::new(i), ());
                        }
                    }
                    None => problems.push(PlanProblem::UnknownDependency {
                        step: step.id.clone(),
                        dependency: dep.clone(),
                    }),
                }
            }
        }
        let topo = match toposort(&graph, None) {
            Ok(order) => order.into_iter().map(NodeIndex::index).collect(),
            Err(_) => {
                for scc in tarjan_scc(&graph) {
                    let self_loop = scc.len() == 1 && graph.contains_edge(scc[0], scc[0]);
                    if scc.len() > 1 || self_loop {
                        let mut members: Vec<usize> = scc.iter().map(|n| n.index()).collect();
                        members.sort_unstable();
                        problems.push(PlanProblem::Cycle {
                            steps: members.iter().map(|&m| steps[m].id.clone()).collect(),
                        });
                    }
                }
                Vec::new()
            }
        };
        let mut inputs = deps.clone();
        for (i, step) in steps.iter().enumerate() {
            for text in &step.malformed {
                problems.push(PlanProblem::MalformedReference {
                    step: step.id.clone(),
                    text: text.clone(),
                });
            }
            for r in &step.uses {
                match index.get(&r.step) {
                    None => problems.push(PlanProblem::UnknownReference {
                        step: step.id.clone(),
                        reference: r.to_string(),
                    }),
                    Some(&producer) => {
                        let ancestor = producer != i
                            && !topo.is_empty()
                            && has_path_connecting(
                                &graph,
                                NodeIndex::new(producer),
                                NodeIndex::new(i),
                                None,
                            );
                        if ancestor {
                            if !inputs[i].contains(&producer) {
                                inputs[i].push(producer);
                            }
                        } else if !topo.is_empty() || producer == i {
                            problems.push(PlanProblem::NotAnAncestor {
                                step: step.id.clone(),
                                reference: r.to_string(),
                            });
                        }
                    }
                }
            }
        }
        if !problems.is_empty() {
            return Err(PlanError {
                plan: name,
                problems,
            });
        }
        let mut bottom_level = vec![1u32; steps.len()];
        for &i in topo.iter().rev() {
            let below = dependents[i]
                .iter()
                .map(|&d| bottom_level[d])
                .max()
                .unwrap_or(0);
            bottom_level[i] = below + 1;
        }
        let fingerprint = fingerprint(&steps, &deps);
        Ok(Self {
            inner: Arc::new(PlanInner {
                name,
                steps,
                index,
                deps,
                dependents,
                topo,
                bottom_level,
                inputs,
                fingerprint,
            }),
            source: None,
        })
    }

    /// Records where the plan came from: the journal keeps it, so a resume needs nothing else.
    #[must_use]
    pub fn with_source(mut self, source: PlanSource) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Where the plan came from, if recorded.
    pub fn source(&self) -> Option<&PlanSource> {
        self.source.as_deref()
    }

    /// The plan's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The steps, in the order given.
    pub fn steps(&self) -> &[Step] {
        &self.inner.steps
    }

    /// A step by id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.inner.index.get(id).map(|&i| &self.inner.steps[i])
    }

    /// How many steps there are.
    pub fn len(&self) -> usize {
        self.inner.steps.len()
    }

    /// Whether there are none (never true of a validated plan).
    pub fn is_empty(&self) -> bool {
        self.inner.steps.is_empty()
    }

    /// Step ids in an order where every step comes after its dependencies.
    pub fn topological_order(&self) -> impl Iterator<Item = &str> {
        self.inner
            .topo
            .iter()
            .map(|&i| self.inner.steps[i].id.as_str())
    }

    /// A stable digest of the step ids, dependencies and output references: a resume is
    /// refused if the plan changed since the journal was written.
    pub fn fingerprint(&self) -> &str {
        &self.inner.fingerprint
    }
}

/// FNV-1a over the plan's shape: stable across builds and machines (unlike `DefaultHasher`).
fn fingerprint(steps: &[Step], deps: &[Vec<usize>]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    for (i, step) in steps.iter().enumerate() {
        feed(step.id.as_bytes());
        let mut d: Vec<&str> = deps[i].iter().map(|&d| steps[d].id.as_str()).collect();
        d.sort_unstable();
        for dep in d {
            feed(dep.as_bytes());
        }
        for r in &step.uses {
            feed(r.to_string().as_bytes());
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_reads_the_runbook_shape() {
        let policy: StepPolicy = serde_json::from_value(serde_json::json!({
            "timeout": "30m",
            "attempt_timeout": "5m",
            "retry": {"max_attempts": 3, "initial_backoff": "2s", "max_backoff": "10s"},
            "on_failure": "rollback",
            "approval": {"timeout": "10m"}
        }))
        .unwrap();
        assert_eq!(policy.timeout, Some(Duration::from_secs(1800)));
        assert_eq!(policy.attempt_timeout, Some(Duration::from_secs(300)));
        assert_eq!(policy.retry.as_ref().map(|r| r.max_attempts), Some(3));
        assert_eq!(policy.on_failure, OnFailure::Rollback);
        assert_eq!(
            policy.approval,
            Some(ApprovalPolicy::within(Duration::from_secs(600)))
        );
        let default: StepPolicy = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(default, StepPolicy::default());
        assert_eq!(default.on_failure, OnFailure::Abort);
        let err = serde_json::from_value::<StepPolicy>(serde_json::json!({"on_failur": "abort"}))
            .unwrap_err();
        assert!(
            err.to_string().contains("unknown field `on_failur`"),
            "{err}"
        );
    }

    #[test]
    fn a_source_fingerprint_is_the_sha256_of_its_text() {
        // `printf 'abc' | sha256sum`
        let source = PlanSource {
            origin: "x.toml".into(),
            text: "abc".into(),
        };
        assert_eq!(
            source.fingerprint(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(text_fingerprint("abc "), source.fingerprint());
    }

    #[test]
    fn scans_references() {
        let found =
            OutputRef::scan("arn=${steps.req.outputs.arn} x ${oops} ${steps.a-1.outputs.b_2}");
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].1, Ok(OutputRef::new("req", "arn")));
        assert_eq!(found[1].1, Err("${oops}".to_owned()));
        assert_eq!(found[2].1, Ok(OutputRef::new("a-1", "b_2")));
        assert_eq!(OutputRef::new("a", "b").to_string(), "${steps.a.outputs.b}");
    }

    #[test]
    fn substitutes_whole_and_embedded_references() {
        let mut outputs = BTreeMap::new();
        outputs.insert(
            "req".to_owned(),
            Outputs::new().with("arn", "arn:aws:acm:x").with("n", 3),
        );
        let inputs = StepInputs::new("use", &outputs);
        let params = serde_json::json!({
            "arn": "${steps.req.outputs.arn}",
            "count": "${steps.req.outputs.n}",
            "text": "n=${steps.req.outputs.n}, arn=${steps.req.outputs.arn}",
            "list": ["${steps.req.outputs.n}", 1]
        });
        let out = inputs.substitute(&params).unwrap();
        assert_eq!(
            out,
            serde_json::json!({
                "arn": "arn:aws:acm:x",
                "count": 3,
                "text": "n=3, arn=arn:aws:acm:x",
                "list": [3, 1]
            })
        );
        let err = inputs
            .substitute(&serde_json::json!("${steps.req.outputs.missing}"))
            .unwrap_err();
        assert!(
            err.message().contains("produced no output `missing`"),
            "{err}"
        );
    }
}
