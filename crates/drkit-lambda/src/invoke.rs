//! `lambda.invoke`: a Lambda function as a recovery step (ARC Region switch's custom-action
//! Lambda block, SSM Automation's `aws:invokeLambdaFunction`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, StepSpec,
};
use serde::Deserialize;
use serde_json::Value;

use crate::function::{FunctionName, qualifier_problem};
use crate::port::{Invocation, InvokeRequest, LambdaApi};

/// Lambda's quota for a synchronous invocation's request payload: 6 MB.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

/// The outputs drkit records itself (an `outputs` entry may not take these names).
const OWN_OUTPUTS: [&str; 2] = ["status_code", "executed_version"];

/// How much of a function's error message or answer an error quotes.
const EXCERPT: usize = 1000;

fn yes() -> bool {
    true
}

/// The parameters of `lambda.invoke`.
#[derive(Clone, Debug, PartialEq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InvokeParams {
    /// The function: its name (`mint-drain`), ARN (`arn:aws:lambda:us-east-1:123456789012:function:mint-drain`) or partial ARN (`123456789012:function:mint-drain`), optionally with `:version` or `:alias`.
    pub function: String,
    /// The event sent to the function (`${...}` references resolved), as JSON: a table, list, string, number or boolean; at most 6 MB (default: none, the function gets `{}`). Never put a secret here: let the function read it itself.
    #[serde(default)]
    #[param(ty = "JSON value")]
    pub payload: Option<Value>,
    /// The version or alias to run (default: the one in `function`, else `$LATEST`).
    #[serde(default)]
    pub qualifier: Option<String>,
    /// Outputs taken from the function's answer: output name -> JSON pointer (RFC 6901), e.g. `{ drained = "/drained", first = "/items/0/id" }`.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
    /// The Lambda region (default: the one in the function's ARN, else the step's region).
    #[serde(default)]
    pub region: Option<String>,
    /// Whether the function changes anything (default true). false: a read-only function (a probe), invoked without a journalled intent and invoked again freely.
    #[serde(default = "yes")]
    pub mutates: bool,
}

impl InvokeParams {
    /// Invoke `function` with no payload.
    pub fn new(function: impl Into<String>) -> Self {
        Self {
            function: function.into(),
            payload: None,
            qualifier: None,
            outputs: BTreeMap::new(),
            region: None,
            mutates: true,
        }
    }

    /// Sends `payload` as the event.
    #[must_use]
    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = Some(payload);
        self
    }

    /// Runs version or alias `qualifier`.
    #[must_use]
    pub fn qualifier(mut self, qualifier: impl Into<String>) -> Self {
        self.qualifier = Some(qualifier.into());
        self
    }

    /// Takes output `name` from the answer at JSON pointer `pointer`.
    #[must_use]
    pub fn output(mut self, name: impl Into<String>, pointer: impl Into<String>) -> Self {
        self.outputs.insert(name.into(), pointer.into());
        self
    }

    /// Calls Lambda in `region`.
    #[must_use]
    pub fn in_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Declares the function read-only.
    #[must_use]
    pub fn read_only(mut self) -> Self {
        self.mutates = false;
        self
    }
}

/// Invokes a Lambda function synchronously (`RequestResponse`), exactly once.
///
/// - `check`: ready — unless an earlier attempt of this step (this run, or the run a resume
///   continues) invoked it: its recorded answer -> done, with the outputs it gave; a failed
///   answer -> ready again; an answer that never came -> [`Check::Unknown`]: whether the
///   function ran cannot be read, so a person decides (an automatic approval refuses).
/// - `execute`: journals its intent (the function, run and step), then `Invoke` with one SDK
///   attempt (the SDK's retry would invoke the function again after a lost answer). A
///   function error (`X-Amz-Function-Error`: `Unhandled`, `Handled`) fails the step with the
///   function's `errorType` and `errorMessage`, not retryable; throttling and 5xx are
///   retryable (Lambda did not run the function); a missing function is `NotFound`. The
///   outputs are `status_code`, `executed_version` and each JSON pointer of `outputs` (one
///   that finds nothing fails the step, naming it). The answer is journalled.
/// - `verify`: the recorded answer had no function error. drkit sees the function's answer,
///   not its effects: check those with a later step.
///
/// With `mutates = false` nothing is journalled before the call, and `check` is always ready.
#[derive(Debug, HasBase)]
pub struct Invoke {
    base: Base<Self>,
}

impl ActionKind for Invoke {
    const KIND: &'static str = "lambda.invoke";
    const SUMMARY: &'static str =
        "Invoke a Lambda function synchronously, exactly once; a function error fails the step";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &["lambda:InvokeFunction"];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("status_code", "Lambda's HTTP status (200)"),
        OutputDoc::new(
            "executed_version",
            "the version that ran (an alias resolved), e.g. `$LATEST` or `7`",
        ),
        OutputDoc::new(
            "<output>",
            "each name of `outputs`: the value at its JSON pointer in the function's answer",
        ),
    ];
    type Params = InvokeParams;
    type Port = dyn LambdaApi;
    type Ports = PortFactory<dyn LambdaApi>;

    fn validate(p: &InvokeParams) -> Result<(), ParamError> {
        let function =
            FunctionName::parse(&p.function).map_err(|e| ParamError::new("function", e))?;
        if let Some(q) = &p.qualifier {
            if let Some(problem) = qualifier_problem(q) {
                return Err(ParamError::new("qualifier", problem));
            }
            if let Some(named) = function.qualifier.filter(|named| named != q) {
                return Err(ParamError::new(
                    "qualifier",
                    format!("`function` already names `{named}`, not `{q}`: give one"),
                ));
            }
        }
        if let Some(region) = &p.region {
            if !drkit_aws::is_region_name(region) {
                return Err(ParamError::new(
                    "region",
                    format!("`{region}` is not a region (e.g. us-east-1)"),
                ));
            }
            if let Some(arn_region) = function.region.filter(|r| r != region) {
                return Err(ParamError::new(
                    "region",
                    format!("the function's ARN is in {arn_region}, not {region}"),
                ));
            }
        }
        if let Some(payload) = &p.payload {
            let size = serde_json::to_vec(payload).map_or(0, |b| b.len());
            if size > MAX_PAYLOAD {
                return Err(ParamError::new(
                    "payload",
                    format!(
                        "{size} bytes as JSON: a synchronous invocation takes at most 6 MB \
                         ({MAX_PAYLOAD} bytes)"
                    ),
                ));
            }
        }
        for (name, pointer) in &p.outputs {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(ParamError::new(
                    "outputs",
                    format!(
                        "`{name}` = `{pointer}` is not a JSON pointer (RFC 6901: empty for the \
                         whole answer, or starting with `/`, e.g. `/items/0/id`)"
                    ),
                ));
            }
            if OWN_OUTPUTS.contains(&name.as_str()) {
                return Err(ParamError::new(
                    "outputs",
                    format!("`{name}` is recorded by drkit itself"),
                ));
            }
        }
        Ok(())
    }

    fn build(step: StepSpec<InvokeParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let function = FunctionName::parse(&step.params.function)
            .map_err(|e| ParamError::new("function", e))?;
        let region = step
            .params
            .region
            .as_deref()
            .or(function.region)
            .or(step.region())
            .map(str::to_owned);
        let qualifier = function.qualifier.or(step.params.qualifier.as_deref());
        let id = match qualifier {
            Some(q) => format!("{}:{q}", function.name),
            None => function.name.to_owned(),
        };
        let target = Resource::new("lambda", "function", id).in_region(region.clone());
        let port = ports.get(region.as_deref());
        Ok(Self {
            base: Base::new(step.id, step.params, target, port),
        })
    }
}

impl Invoke {
    fn params(&self) -> &InvokeParams {
        &self.base.params
    }

    /// What a dry run prints.
    fn change(&self) -> String {
        let p = self.params();
        let bytes = p
            .payload
            .as_ref()
            .and_then(|v| serde_json::to_vec(v).ok())
            .map_or(0, |b| b.len());
        format!(
            "invoke {} synchronously ({bytes}-byte payload)",
            self.base.target
        )
    }

    fn request(&self) -> Result<InvokeRequest, ActionError> {
        let p = self.params();
        let payload = p
            .payload
            .as_ref()
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| ActionError::invalid_input(format!("payload: {e}")))?;
        Ok(InvokeRequest::new(p.function.clone(), payload).qualified(p.qualifier.clone()))
    }

    /// The intent journalled before the call: the function, the run and the step.
    fn intent(&self, ctx: &Context) -> Outputs {
        let p = self.params();
        let mut intent = Outputs::new().with("function", p.function.clone());
        if let Some(q) = &p.qualifier {
            intent.insert("qualifier", q.clone());
        }
        if let Some(run) = ctx.run_id() {
            intent.insert("run", run);
        }
        intent.insert("step", ctx.step().unwrap_or(&self.base.id));
        intent
    }

    /// The step's outputs from Lambda's answer, or why the step fails: a function error, an
    /// answer without what `outputs` points at.
    fn outputs(&self, answer: &Invocation) -> Result<Outputs, ActionError> {
        if let Some(kind) = &answer.function_error {
            return Err(function_error(kind, &answer.payload));
        }
        let mut outputs = Outputs::new().with("status_code", answer.status_code);
        if let Some(version) = &answer.executed_version {
            outputs.insert("executed_version", version.clone());
        }
        let pointers = &self.params().outputs;
        if pointers.is_empty() {
            return Ok(outputs);
        }
        let body: Value = serde_json::from_slice(&answer.payload).map_err(|_| {
            ActionError::postcondition(format!(
                "outputs are asked of the function's answer, but it is not JSON: {}",
                excerpt(&answer.payload)
            ))
        })?;
        for (name, pointer) in pointers {
            let value = body.pointer(pointer).ok_or_else(|| {
                ActionError::postcondition(format!(
                    "output `{name}`: the function's answer has nothing at `{pointer}`: {}",
                    excerpt(&answer.payload)
                ))
            })?;
            outputs.insert(name.clone(), value.clone());
        }
        Ok(outputs)
    }

    /// Lambda's error, with what to do about a missing function.
    fn explain(&self, e: ActionError) -> ActionError {
        let e = e.with_operation("Invoke");
        if e.kind() == ErrorKind::NotFound {
            let region = self.base.region().unwrap_or("the default region");
            return e.with_note(format!(
                "no function `{}` in {region} (check its name, qualifier and region)",
                self.params().function
            ));
        }
        e
    }
}

/// The step's error for a function that failed: its `errorType` and `errorMessage`.
fn function_error(kind: &str, payload: &[u8]) -> ActionError {
    let body: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let error_type = body.get("errorType").and_then(Value::as_str);
    let message = body
        .get("errorMessage")
        .and_then(Value::as_str)
        .map_or_else(|| excerpt(payload), |m| first_chars(m, EXCERPT));
    ActionError::new(
        ErrorKind::Other,
        format!(
            "the function failed ({kind} error){}: {message}",
            error_type.map(|t| format!(" with {t}")).unwrap_or_default()
        ),
    )
    .with_code(error_type.unwrap_or(kind).to_owned())
    .with_operation("Invoke")
}

fn first_chars(text: &str, n: usize) -> String {
    match text.char_indices().nth(n) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

fn excerpt(payload: &[u8]) -> String {
    if payload.is_empty() {
        return "(empty)".to_owned();
    }
    first_chars(&String::from_utf8_lossy(payload), EXCERPT)
}

#[async_trait]
impl Act for Invoke {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let change = self.change();
        if !self.mutating() {
            return Ok(Check::ready(format!("{change} (read-only)")));
        }
        let Some(earlier) = ctx.intent() else {
            return Ok(Check::ready(change));
        };
        if earlier.get("status_code").is_none() {
            return Ok(Check::unknown(format!(
                "{} was invoked by an earlier attempt whose answer was lost (a broken \
                 connection, a time-out, a crash): the function may have run in full, in part, \
                 or not at all, and Lambda keeps no record drkit can read. Look at what it does \
                 (its effects, its logs in CloudWatch), then decide. Invoke it again?",
                self.base.target
            )));
        }
        if let Some(error) = earlier.get_str("error") {
            return Ok(Check::ready(format!(
                "{change} again (the earlier invocation failed: {error})"
            )));
        }
        let outputs = earlier
            .get("outputs")
            .cloned()
            .and_then(|o| serde_json::from_value(o).ok())
            .unwrap_or_default();
        Ok(Check::Done {
            detail: format!(
                "{} was invoked by an earlier attempt of this step and answered without a \
                 function error",
                self.base.target
            ),
            outputs,
        })
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let request = self.request()?;
        let port = &self.base.port;
        if !self.mutating() {
            let answer = ctx
                .bounded(port.invoke(request))
                .await
                .map_err(|e| self.explain(e))?;
            return self.outputs(&answer);
        }
        let intent = self.intent(ctx);
        let answer = ctx
            .mutate(intent.clone(), port.invoke(request))
            .await
            .map_err(|e| self.explain(e))?;
        let result = self.outputs(&answer);
        let mut answered = intent.with("status_code", answer.status_code);
        if let Some(version) = &answer.executed_version {
            answered.insert("executed_version", version.clone());
        }
        match &result {
            Ok(outputs) => answered.insert(
                "outputs",
                serde_json::to_value(outputs).unwrap_or(Value::Null),
            ),
            Err(e) => answered.insert("error", e.message()),
        }
        ctx.record_intent(answered).await?;
        result
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        if !self.mutating() {
            return Ok(format!(
                "{} answered without a function error (read-only)",
                self.base.target
            ));
        }
        let answered = ctx.intent().filter(|i| i.get("status_code").is_some());
        match answered {
            Some(i) if i.get("error").is_none() => Ok(format!(
                "{} answered {} without a function error (version {}); drkit sees the \
                 function's answer, not its effects",
                self.base.target,
                i.get("status_code").unwrap_or(&Value::Null),
                i.get_str("executed_version").unwrap_or("unknown"),
            )),
            Some(i) => Err(ActionError::postcondition(format!(
                "the invocation of {} failed: {}",
                self.base.target,
                i.get_str("error").unwrap_or("unknown error")
            ))),
            None => Err(ActionError::postcondition(format!(
                "this step has no answer from {}",
                self.base.target
            ))),
        }
    }

    fn mutating(&self) -> bool {
        self.params().mutates
    }
}

#[cfg(test)]
#[path = "invoke_tests.rs"]
mod tests;
