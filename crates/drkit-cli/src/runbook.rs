//! The runbook file (TOML): parsing, validation with located errors, and the plan it becomes.
//!
//! Validation makes no network call. Every problem found is reported, each with
//! `file:line:column` and what was expected.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use drkit::core::registry::{ActionDescriptor, ActionSpec, Registry};
use drkit::core::{RetryPolicy, SecretRef};
use drkit::runner::rto::{RpoObjectives, RtoBudgets};
use drkit::runner::{Mode, OnFailure, Plan, PlanError, PlanSource, Step, StepPolicy, Tier};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

/// The largest runbook accepted (a runbook is a page of text, not a data set).
pub const MAX_SIZE: usize = 1024 * 1024;

/// The file's top level. Its doc comments and `schemars` attributes make the JSON Schema that
/// `drkit schema` prints ([`crate::schema`]): what an editor completes and explains.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "drkit runbook",
    description = "A drkit recovery runbook (TOML): its steps, each a registered action with \
                   its parameters. `drkit validate FILE` checks what a schema cannot (unset \
                   variables, dependencies, cycles, values)."
)]
pub(crate) struct File {
    /// The file format: 1.
    #[schemars(schema_with = "crate::schema::version")]
    version: Spanned<u32>,
    /// The plan's name (not empty): the journal is `<journal dir>/<name>.journal.jsonl`; a
    /// resume needs the same name.
    #[schemars(with = "String", length(min = 1))]
    name: Spanned<String>,
    /// Shown by `plan`.
    #[serde(default)]
    #[schemars(with = "String")]
    description: Option<String>,
    /// What every step inherits.
    #[serde(default)]
    defaults: Defaults,
    /// RTO budgets per tier and RPO objectives per data class.
    #[serde(default)]
    objectives: Objectives,
    /// The steps, in file order (the order `plan` lists them within a wave).
    #[schemars(length(min = 1))]
    steps: Vec<StepDef>,
}

/// What every step inherits.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Defaults {
    /// The AWS region of every step without its own `region` (default: the `--region` flag or
    /// `AWS_REGION`).
    #[serde(default)]
    #[schemars(with = "String")]
    region: Option<String>,
    /// Bound on a whole step: every attempt and every wait of its check, execute and verify.
    #[serde(default, with = "humantime_serde")]
    #[schemars(schema_with = "crate::schema::duration")]
    timeout: Option<Duration>,
    /// Bound on one attempt (then the retry policy decides).
    #[serde(default, with = "humantime_serde")]
    #[schemars(schema_with = "crate::schema::duration")]
    attempt_timeout: Option<Duration>,
    /// Retry of the errors an action classes as retryable (throttling, 5xx, time-outs); none:
    /// one attempt.
    #[serde(default)]
    #[schemars(schema_with = "crate::schema::retry")]
    retry: Option<RetryPolicy>,
}

/// RTO budgets per tier and RPO objectives per data class.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Objectives {
    /// Each tier's budget, from the incident start (default 1h, 4h, 8h).
    #[serde(default)]
    #[schemars(schema_with = "crate::schema::rto")]
    rto: Option<RtoBudgets>,
    /// Data class -> the data loss allowed (default database 5m, files 15m, cache 1h,
    /// configuration 24h; with the table, exactly the classes written).
    #[serde(default)]
    #[schemars(schema_with = "crate::schema::rpo")]
    rpo: Option<RpoObjectives>,
}

/// One step: a registered action with its parameters, run as check -> (approval) -> execute
/// -> verify.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "StepFields")]
struct StepDef {
    /// Unique in the file; what `depends_on` and `${steps.<id>...}` name.
    #[schemars(with = "String", length(min = 1))]
    id: Spanned<String>,
    /// A registered action kind, `<service>.<operation>` (`drkit actions` lists them).
    #[schemars(with = "String")]
    action: Spanned<String>,
    /// Which RTO budget the step counts against.
    #[serde(default)]
    #[schemars(schema_with = "crate::schema::tier")]
    tier: Tier,
    /// This step's AWS region (default: `[defaults].region`).
    #[serde(default)]
    #[schemars(with = "String")]
    region: Option<String>,
    /// Steps that must have succeeded first.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    depends_on: Vec<Spanned<String>>,
    /// After the retries: `abort` (the default) launches no new step; `continue` goes on with
    /// the steps that do not depend on this one; `rollback` then runs the compensations of the
    /// completed steps in reverse order.
    #[serde(default)]
    #[schemars(schema_with = "crate::schema::on_failure")]
    on_failure: OnFailure,
    /// Wait for an approver before executing.
    #[serde(default)]
    approval: bool,
    /// This step's own bound on the whole step (default: `[defaults].timeout`).
    #[serde(default, with = "humantime_serde")]
    #[schemars(schema_with = "crate::schema::duration")]
    timeout: Option<Duration>,
    /// This step's own bound on one attempt (default: `[defaults].attempt_timeout`).
    #[serde(default, with = "humantime_serde")]
    #[schemars(schema_with = "crate::schema::duration")]
    attempt_timeout: Option<Duration>,
    /// This step's own retry policy (default: `[defaults].retry`).
    #[serde(default)]
    #[schemars(schema_with = "crate::schema::retry")]
    retry: Option<RetryPolicy>,
    /// The action's parameters (`drkit actions` lists them).
    #[serde(default)]
    #[schemars(schema_with = "crate::schema::params")]
    params: Option<Spanned<toml::Table>>,
    /// The modes the step runs in (default both): `graceful`, `ungraceful`.
    #[serde(default)]
    #[schemars(schema_with = "crate::schema::modes")]
    modes: Option<Spanned<Vec<Spanned<String>>>>,
}

/// The services whose API is not tied to the step's region (none to be impaired): global ones,
/// and ARC's routing-control cluster, whose action chooses among the cluster's five regional
/// endpoints and avoids the impaired ones itself. An action whose IAM actions are all in these
/// is not regional.
const GLOBAL_SERVICES: &[&str] = &[
    "route53",
    "cloudfront",
    "iam",
    "sts",
    "organizations",
    "route53-recovery-cluster",
];

/// The AWS region a step's calls go to: its region, when the kind calls a regional AWS service
/// (judged by its IAM actions). None for global services and for kinds that call no AWS API
/// (HTTP, TLS, PostgreSQL, Redis, Vault, Kubernetes with a kubeconfig).
fn aws_region(descriptor: &ActionDescriptor, region: Option<&str>) -> Option<String> {
    let regional = descriptor.iam_actions.iter().any(|a| {
        a.split_once(':')
            .is_some_and(|(service, _)| !GLOBAL_SERVICES.contains(&service))
    });
    region.filter(|_| regional).map(str::to_owned)
}

/// One problem in a runbook, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Every problem found in a runbook file.
#[derive(Debug)]
pub struct Invalid {
    /// The file, as given.
    pub path: String,
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.path, p.line, p.column, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

/// A validated runbook.
#[derive(Debug)]
pub struct Runbook {
    /// The plan's name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// The plan, ready to run.
    pub plan: Plan,
    /// The action kind of each step, in file order.
    pub kinds: Vec<(String, String)>,
    /// RTO budgets per tier.
    pub rto: RtoBudgets,
    /// RPO objectives per data class.
    pub rpo: RpoObjectives,
    /// By step id, what its parameters need from this machine and did not get: only from
    /// [`load_for_plan`] (for [`load`], that is a problem), and only steps with something.
    pub unresolved: BTreeMap<String, Unresolved>,
}

impl Runbook {
    /// One warning per variable not set and per secret file not readable here, in name
    /// order, for `plan`: `validate` and `run` need them.
    pub fn unresolved_warnings(&self) -> Vec<String> {
        let mut variables = BTreeSet::new();
        let mut files = BTreeSet::new();
        for u in self.unresolved.values() {
            variables.extend(u.variables.iter().map(String::as_str));
            for r in &u.secrets {
                match r.strip_prefix("env:") {
                    Some(name) => variables.insert(name),
                    None => files.insert(r.as_str()),
                };
            }
        }
        let need = "`validate` and `run` need it";
        variables
            .into_iter()
            .map(|v| format!("plan: {v} is not set; {need}"))
            .chain(
                files
                    .into_iter()
                    .map(|f| format!("plan: secret {f} cannot be read here; {need}")),
            )
            .collect()
    }
}

/// Line and column (1-based) of byte `offset` in `text`.
fn locate(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

struct Problems<'a> {
    text: &'a str,
    list: Vec<(usize, Problem)>,
}

impl Problems<'_> {
    fn at(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let (line, column) = locate(self.text, span.start);
        self.list.push((
            span.start,
            Problem {
                line,
                column,
                message: message.into(),
            },
        ));
    }
}

/// TOML -> JSON, turning TOML datetimes into RFC 3339 strings.
fn to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

/// Parameter names that hold secrets: a plain string there is a secret written in clear.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "token",
        "secret",
        "unseal",
        "private_key",
        "keys",
    ]
    .iter()
    .any(|s| name.contains(s))
}

/// What a step's parameters need from this machine and did not get, when the runbook is loaded
/// for `plan` ([`load_for_plan`]): `validate` and `run` refuse the runbook instead.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unresolved {
    /// `${env.NAME}` variables that are not set. The parameters hold [`placeholder`]s in their
    /// place, so they were checked for their names only (a placeholder is no value: a port
    /// would not be an integer, an address not a URL).
    pub variables: BTreeSet<String>,
    /// Secret references that cannot be read here, as written (`env:NAME` with NAME unset,
    /// `file:/path` missing or unreadable). Never a value.
    pub secrets: BTreeSet<String>,
}

impl Unresolved {
    fn is_empty(&self) -> bool {
        self.variables.is_empty() && self.secrets.is_empty()
    }
}

/// What stands for an unset `${env.NAME}` when the runbook is loaded for `plan`: readable, and
/// no value a parameter could take (angle brackets and spaces; no `${`).
pub fn placeholder(name: &str) -> String {
    format!("<env {name} unset>")
}

/// How [`prepare`] reads the environment, and what it found missing.
struct Prepare<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    /// For `plan`: what is missing is recorded in `unresolved`, not an error.
    lenient: bool,
    unresolved: Unresolved,
    /// Problems (messages only: the caller locates them at the step's parameters).
    errors: Vec<String>,
}

/// Checks secrets and substitutes `${env.NAME}`, collecting problems.
fn prepare(value: &mut Value, key: Option<&str>, p: &mut Prepare<'_>) {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("secret") => {
            match map
                .get("secret")
                .and_then(Value::as_str)
                .map(str::parse::<SecretRef>)
            {
                Some(Ok(SecretRef::Env(name))) if (p.env)(&name).is_none() => {
                    if p.lenient {
                        p.unresolved.secrets.insert(format!("env:{name}"));
                    } else {
                        p.errors.push(format!(
                            "parameter `{}`: missing secret: environment variable {name} is not set",
                            key.unwrap_or("?")
                        ));
                    }
                }
                // Probed, never read: validation does not handle secret values.
                Some(Ok(r @ SecretRef::File(_))) if r.probe_file().is_err() => {
                    if p.lenient {
                        p.unresolved.secrets.insert(r.to_string());
                        return;
                    }
                    let why = r.probe_file().err().map(|e| e.message().to_owned());
                    p.errors.push(format!(
                        "parameter `{}`: missing secret: {}",
                        key.unwrap_or("?"),
                        why.unwrap_or_default()
                    ));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => p
                    .errors
                    .push(format!("parameter `{}`: {e}", key.unwrap_or("?"))),
                None => p.errors.push(format!(
                    "parameter `{}`: `secret` must be a string such as \"env:NAME\"",
                    key.unwrap_or("?")
                )),
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                prepare(v, Some(k), p);
            }
        }
        Value::Array(items) => {
            for v in items {
                prepare(v, key, p);
            }
        }
        Value::String(s) => {
            if let Some(k) = key
                && is_secret_name(k)
                && !s.starts_with("env:")
                && !s.starts_with("file:")
                && !s.starts_with("prompt:")
                && !s.contains("${")
            {
                p.errors.push(format!(
                    "parameter `{k}`: a secret written in clear; use a reference such as \
                     {{ secret = \"env:NAME\" }}"
                ));
                return;
            }
            let whole = s.starts_with("${env.") && s.ends_with('}') && s.matches("${").count() == 1;
            // A value that is exactly one `${env.NAME}` takes the type its text reads as
            // (`"${env.PG_PORT}"` -> 5433), as a whole `${steps...}` reference keeps the output's
            // type; inside longer text it stays text. An unset variable is reported once, and the
            // runner must not see its `${...}` again (for `plan`, it becomes a placeholder).
            let unset = p.lenient.then_some(&mut p.unresolved.variables);
            let replacement = match substitute_env(s, p.env, unset) {
                Ok(new) if whole => typed(new),
                Ok(new) => Value::String(new),
                Err(e) => {
                    p.errors
                        .push(format!("parameter `{}`: {e}", key.unwrap_or("?")));
                    Value::Null
                }
            };
            *value = replacement;
        }
        _ => {}
    }
}

/// The JSON value a substituted text reads as: an integer, a number, a boolean, else the text.
fn typed(text: String) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = text.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    match text.as_str() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(text),
    }
}

/// Replaces `${env.NAME}` in `s`; `${steps...}` is left for the runner. An unset variable is an
/// error, or, given `unset`, is recorded there and replaced by its [`placeholder`].
fn substitute_env(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
    mut unset: Option<&mut BTreeSet<String>>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${env.") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 6..];
        let Some(end) = after.find('}') else {
            return Err(format!("unclosed `${{env.` in \"{s}\""));
        };
        let name = &after[..end];
        match (env(name), unset.as_deref_mut()) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(unset)) => {
                out.push_str(&placeholder(name));
                unset.insert(name.to_owned());
            }
            (None, None) => {
                return Err(format!(
                    "environment variable {name} is not set (`${{env.{name}}}`)"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn contains_step_refs(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("${steps."),
        Value::Array(a) => a.iter().any(contains_step_refs),
        Value::Object(o) => o.values().any(contains_step_refs),
        _ => false,
    }
}

/// Parses and validates `text` (the file `path`) against the actions in `registry`, reading
/// `${env.NAME}` and secret references with `env`: each must be set (each secret file
/// readable). Makes no network call.
pub fn load(
    path: &str,
    text: &str,
    registry: &Arc<Registry>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Runbook, Invalid> {
    load_with(path, text, registry, env, false)
}

/// [`load`] for `plan`, which needs no value from this machine: an unset `${env.NAME}` becomes
/// its [`placeholder`] (the step's parameters are then checked for their names only), a secret
/// reference that cannot be read here stays a reference, and both are listed in
/// [`Runbook::unresolved`] rather than being problems. Everything else is checked as by
/// [`load`].
pub fn load_for_plan(
    path: &str,
    text: &str,
    registry: &Arc<Registry>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Runbook, Invalid> {
    load_with(path, text, registry, env, true)
}

fn load_with(
    path: &str,
    text: &str,
    registry: &Arc<Registry>,
    env: &dyn Fn(&str) -> Option<String>,
    lenient: bool,
) -> Result<Runbook, Invalid> {
    let mut problems = Problems {
        text,
        list: Vec::new(),
    };
    let invalid = |problems: Problems<'_>| {
        let mut list = problems.list;
        list.sort_by_key(|(at, _)| *at);
        Invalid {
            path: path.to_owned(),
            problems: list.into_iter().map(|(_, p)| p).collect(),
        }
    };
    if text.len() > MAX_SIZE {
        problems.at(
            &(0..0),
            format!(
                "the file is larger than {} KiB: not a runbook",
                MAX_SIZE / 1024
            ),
        );
        return Err(invalid(problems));
    }
    let file: File = match toml::from_str(text) {
        Ok(file) => file,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            problems.at(&span, e.message().trim().to_owned());
            return Err(invalid(problems));
        }
    };
    if *file.version.get_ref() != 1 {
        problems.at(
            &file.version.span(),
            format!("unsupported version {}; expected 1", file.version.get_ref()),
        );
    }
    if file.name.get_ref().trim().is_empty() {
        problems.at(&file.name.span(), "the runbook needs a name");
    }
    if file.steps.is_empty() {
        problems.at(&(0..0), "the runbook has no [[steps]]");
    }

    let registry_arc = Arc::clone(registry);
    let mut steps = Vec::new();
    let mut kinds = Vec::new();
    let mut seen = BTreeSet::new();
    let mut unresolved = BTreeMap::new();
    for def in &file.steps {
        let id = def.id.get_ref().clone();
        if !seen.insert(id.clone()) {
            problems.at(&def.id.span(), format!("duplicate step id `{id}`"));
        }
        let kind = def.action.get_ref().clone();
        let params_span = def
            .params
            .as_ref()
            .map_or_else(|| def.id.span(), Spanned::span);
        let mut params = def.params.as_ref().map_or_else(
            || Value::Object(serde_json::Map::new()),
            |t| to_json(&toml::Value::Table(t.get_ref().clone())),
        );
        let mut prep = Prepare {
            env,
            lenient,
            unresolved: Unresolved::default(),
            errors: Vec::new(),
        };
        prepare(&mut params, None, &mut prep);
        // Parameters already reported (an unset variable, a secret in clear) are not built
        // again: one problem, one message.
        let params_ok = prep.errors.is_empty();
        for e in prep.errors {
            problems.at(&params_span, format!("step `{id}`: {e}"));
        }
        // Parameters waiting for earlier outputs (built when the step runs) or holding
        // placeholders for unset variables (never built by `plan`).
        let deferred = !prep.unresolved.variables.is_empty();
        if !prep.unresolved.is_empty() {
            unresolved.insert(id.clone(), prep.unresolved);
        }
        let region = def.region.clone().or_else(|| file.defaults.region.clone());
        let mut spec = ActionSpec::new(id.clone(), kind.clone(), params);
        spec.region = region;
        match registry.descriptor(&kind) {
            None => {
                let err = registry
                    .build(&spec)
                    .err()
                    .map_or_else(|| format!("unknown action `{kind}`"), |e| e.to_string());
                problems.at(&def.action.span(), err);
            }
            Some(_) if !params_ok => {}
            Some(_) if !deferred && !contains_step_refs(&spec.params) => {
                // Build it now: unknown parameters, wrong types and bad values show here.
                if let Err(e) = registry.build(&spec) {
                    problems.at(&params_span, e.to_string());
                }
            }
            Some(descriptor) => {
                // Parameters that wait for earlier outputs are built when the step runs (those
                // with placeholders never are); at least their names must be known.
                if let Value::Object(map) = &spec.params {
                    for name in map.keys() {
                        if !descriptor.params.iter().any(|p| p.name == name) {
                            let known: Vec<&str> =
                                descriptor.params.iter().map(|p| p.name).collect();
                            problems.at(&params_span, format!(
                                "step `{id}` ({kind}): unknown parameter `{name}`, expected one of {}",
                                known.join(", ")
                            ));
                        }
                    }
                }
            }
        }
        let mut policy = StepPolicy::default();
        policy.timeout = def.timeout.or(file.defaults.timeout);
        policy.attempt_timeout = def.attempt_timeout.or(file.defaults.attempt_timeout);
        policy.retry = def.retry.clone().or_else(|| file.defaults.retry.clone());
        policy.on_failure = def.on_failure;
        policy.approval = def.approval.then(Default::default);
        let step_region = registry
            .descriptor(&kind)
            .and_then(|d| aws_region(d, spec.region.as_deref()));
        let mut step = Step::from_spec(Arc::clone(&registry_arc), spec)
            .depends_on(def.depends_on.iter().map(|d| d.get_ref().clone()))
            .tier(def.tier)
            .policy(policy);
        if let Some(region) = step_region {
            step = step.in_region(region);
        }
        if let Some(modes) = &def.modes {
            if modes.get_ref().is_empty() {
                problems.at(
                    &modes.span(),
                    format!("step `{id}`: `modes` is empty; write graceful, ungraceful or both"),
                );
            }
            let mut parsed = Vec::new();
            for m in modes.get_ref() {
                match Mode::parse(m.get_ref()) {
                    Some(mode) => parsed.push(mode),
                    None => problems.at(
                        &m.span(),
                        format!(
                            "step `{id}`: unknown mode `{}`; expected graceful or ungraceful",
                            m.get_ref()
                        ),
                    ),
                }
            }
            step = step.only_in_modes(parsed);
        }
        kinds.push((id, kind));
        steps.push(step);
    }
    let plan = match Plan::new(file.name.get_ref().clone(), steps) {
        // The journal keeps the runbook's text (it holds no secret: only references), so a
        // run can be resumed from its journal alone.
        Ok(plan) => Some(plan.with_source(PlanSource {
            origin: path.to_owned(),
            text: text.to_owned(),
        })),
        Err(PlanError {
            problems: plan_problems,
            ..
        }) => {
            for p in plan_problems {
                let text = p.to_string();
                // Point at the first step the problem names.
                let span = file
                    .steps
                    .iter()
                    .find(|s| text.contains(&format!("`{}`", s.id.get_ref())))
                    .map_or(0..0, |s| s.id.span());
                problems.at(&span, text);
            }
            None
        }
    };
    match plan {
        Some(plan) if problems.list.is_empty() => Ok(Runbook {
            name: file.name.into_inner(),
            description: file.description,
            plan,
            kinds,
            rto: file.objectives.rto.unwrap_or_default(),
            rpo: file.objectives.rpo.unwrap_or_default(),
            unresolved,
        }),
        _ => Err(invalid(problems)),
    }
}

/// The kinds most like `kind`, for "did you mean".
pub fn suggest(registry: &Registry, kind: &str) -> Vec<String> {
    registry.closest(kind)
}
