//! `http.request`: a call to an internal HTTP API as a recovery step (a status page, a
//! feature-flag service, a chat-ops hook), with the guarantees of drkit's own actions.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, StepSpec,
};
use serde::Deserialize;
use serde_json::Value;

use crate::http_port::{HttpApi, HttpReply, HttpRequest};
use crate::process::EnvValue;
use crate::redact::{Redactor, first_chars};
use crate::values::TextOrSecret;

/// The methods a step may use.
const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

fn thirty_seconds() -> Duration {
    Duration::from_secs(30)
}

fn yes() -> bool {
    true
}

fn get() -> String {
    "GET".to_owned()
}

/// The statuses that count as success: one, or a list.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Statuses {
    /// One status.
    One(u16),
    /// Any of these.
    Any(Vec<u16>),
}

impl Statuses {
    fn list(&self) -> Vec<u16> {
        match self {
            Self::One(s) => vec![*s],
            Self::Any(s) => s.clone(),
        }
    }
}

/// Whether `status` is expected (`None`: any 2xx).
fn expected(statuses: Option<&Statuses>, status: u16) -> bool {
    statuses.map_or((200..300).contains(&status), |s| s.list().contains(&status))
}

fn expected_text(statuses: Option<&Statuses>) -> String {
    statuses.map_or("2xx".to_owned(), |s| {
        s.list()
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    })
}

/// A read-only request that tells whether the change is done (`check`) or holds (`verify`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpProbe {
    /// The method (default GET).
    #[serde(default = "get")]
    pub method: String,
    /// The URL.
    pub url: String,
    /// Headers: text or `{ secret = "env:NAME" }`.
    #[serde(default)]
    pub headers: BTreeMap<String, TextOrSecret>,
    /// A JSON body.
    #[serde(default)]
    pub json: Option<Value>,
    /// The status(es) meaning yes (default any 2xx).
    #[serde(default)]
    pub expect_status: Option<Statuses>,
    /// Text the answer's body must contain, too.
    #[serde(default)]
    pub body_contains: Option<String>,
}

impl HttpProbe {
    /// `GET url`, yes on any 2xx.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: get(),
            url: url.into(),
            headers: BTreeMap::new(),
            json: None,
            expect_status: None,
            body_contains: None,
        }
    }

    /// Yes only when the body contains `text`.
    #[must_use]
    pub fn body_contains(mut self, text: impl Into<String>) -> Self {
        self.body_contains = Some(text.into());
        self
    }
}

/// The parameters of `http.request`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpRequestParams {
    /// GET, HEAD, POST, PUT, PATCH or DELETE.
    pub method: String,
    /// The http:// or https:// URL (no credentials in it: give them as a secret header).
    pub url: String,
    /// Headers: text or `{ secret = "env:NAME" }` (a secret header never appears in an error, a log or the journal).
    #[serde(default)]
    pub headers: BTreeMap<String, TextOrSecret>,
    /// The JSON body (`${...}` references resolved), sent with Content-Type application/json.
    #[serde(default)]
    #[param(ty = "JSON value")]
    pub json: Option<Value>,
    /// The status, or a list of statuses, that mean success (default any 2xx).
    #[serde(default)]
    #[param(ty = "integer or list")]
    pub expect_status: Option<Statuses>,
    /// Outputs taken from the JSON answer: output name -> JSON pointer, e.g. `{ incident_id = "/id" }`.
    #[serde(default)]
    pub outputs: BTreeMap<String, String>,
    /// Send `Idempotency-Key: <run id>/<step id>`, the same on every retry and on resume (the server deduplicates, so a lost answer can be sent again).
    #[serde(default)]
    pub idempotency_key: bool,
    /// A read-only request: its expected answer means the change is done already (`url`, `method?`, `headers?`, `json?`, `expect_status?`, `body_contains?`).
    #[serde(default)]
    #[param(ty = "request table")]
    pub check: Option<HttpProbe>,
    /// A read-only request that must give its expected answer afterwards (same fields as `check`).
    #[serde(default)]
    #[param(ty = "request table")]
    pub verify: Option<HttpProbe>,
    /// How long each request may take (default "30s").
    #[serde(default = "thirty_seconds", with = "humantime_serde")]
    pub timeout: Duration,
    /// Whether the request changes anything (default true): false makes it a read-only step.
    #[serde(default = "yes")]
    pub mutates: bool,
}

impl HttpRequestParams {
    /// `method url`, success on any 2xx.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            url: url.into(),
            headers: BTreeMap::new(),
            json: None,
            expect_status: None,
            outputs: BTreeMap::new(),
            idempotency_key: false,
            check: None,
            verify: None,
            timeout: thirty_seconds(),
            mutates: true,
        }
    }

    /// Sends `body` as JSON.
    #[must_use]
    pub fn json(mut self, body: Value) -> Self {
        self.json = Some(body);
        self
    }

    /// Adds a header with a plain value.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .insert(name.into(), TextOrSecret::Text(value.into()));
        self
    }

    /// Adds a header whose value is the secret `reference` names.
    #[must_use]
    pub fn secret_header(
        mut self,
        name: impl Into<String>,
        reference: drkit_core::SecretRef,
    ) -> Self {
        self.headers
            .insert(name.into(), TextOrSecret::Secret { secret: reference });
        self
    }

    /// Takes output `name` from the JSON answer at `pointer`.
    #[must_use]
    pub fn output(mut self, name: impl Into<String>, pointer: impl Into<String>) -> Self {
        self.outputs.insert(name.into(), pointer.into());
        self
    }

    /// Sends an `Idempotency-Key`.
    #[must_use]
    pub fn idempotent(mut self) -> Self {
        self.idempotency_key = true;
        self
    }

    /// Asks `check` first.
    #[must_use]
    pub fn check(mut self, check: HttpProbe) -> Self {
        self.check = Some(check);
        self
    }

    /// Verifies with `verify` afterwards.
    #[must_use]
    pub fn verify(mut self, verify: HttpProbe) -> Self {
        self.verify = Some(verify);
        self
    }
}

/// Calls an HTTP API as a recovery step.
///
/// - `check`: the `check` request's expected answer -> done; another answer -> ready. Without
///   one: ready, unless an earlier attempt sent the request and its answer was lost: then with
///   `idempotency_key` it is sent again (the server deduplicates), and without, whether it took
///   effect is unknown and the runner asks a person.
/// - `execute`: journals its intent, sends the request once (no redirect followed), and
///   records the answer. An expected status -> the outputs; a 4xx or a redirect -> refused
///   (nothing changed); 429 and 5xx -> retryable.
/// - `verify`: the `verify` request's expected answer; without one, the expected status was
///   all there is.
#[derive(Debug, HasBase)]
pub struct HttpRequestAction {
    base: Base<Self>,
}

impl ActionKind for HttpRequestAction {
    const KIND: &'static str = "http.request";
    const SUMMARY: &'static str = "Call an HTTP API (status page, feature flags, chat-ops) with optional check and verify requests";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("status", "the answer's status code"),
        OutputDoc::new(
            "<output>",
            "each name of `outputs`: the value at its JSON pointer in the answer",
        ),
    ];
    type Params = HttpRequestParams;
    type Port = dyn HttpApi;
    type Ports = PortFactory<dyn HttpApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        request_problem("", &p.method, &p.url, &p.headers, p.expect_status.as_ref())?;
        if p.idempotency_key
            && p.headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("idempotency-key"))
        {
            return Err(ParamError::new(
                "headers",
                "Idempotency-Key is set by drkit when idempotency_key = true",
            ));
        }
        for (name, pointer) in &p.outputs {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(ParamError::new(
                    "outputs",
                    format!(
                        "`{name}` = `{pointer}` is not a JSON pointer (RFC 6901: empty, or starting with `/`, e.g. `/data/id`)"
                    ),
                ));
            }
            if name == "status" {
                return Err(ParamError::new(
                    "outputs",
                    "`status` is recorded by drkit itself",
                ));
            }
        }
        for (name, probe) in [("check", &p.check), ("verify", &p.verify)] {
            if let Some(probe) = probe {
                request_problem(
                    name,
                    &probe.method,
                    &probe.url,
                    &probe.headers,
                    probe.expect_status.as_ref(),
                )?;
            }
        }
        if p.timeout.is_zero() {
            return Err(ParamError::new("timeout", "must be above zero"));
        }
        Ok(())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = Resource::new("http", "endpoint", endpoint(&step.params.url));
        Ok(Self {
            base: step.into_base(target, ports),
        })
    }
}

/// `host/path` of `url`, for the resource (no query: it is not the resource's name).
fn endpoint(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(
        |_| url.to_owned(),
        |u| format!("{}{}", u.host_str().unwrap_or(""), u.path()),
    )
}

/// Why a request (the step's own when `prefix` is empty, else `check` / `verify`) cannot be
/// sent, if it cannot.
fn request_problem(
    prefix: &str,
    method: &str,
    url: &str,
    headers: &BTreeMap<String, TextOrSecret>,
    statuses: Option<&Statuses>,
) -> Result<(), ParamError> {
    let field = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    if !METHODS.contains(&method) {
        return Err(ParamError::new(
            field("method"),
            format!("unknown method `{method}`: one of {}", METHODS.join(", ")),
        ));
    }
    let problem = match reqwest::Url::parse(url) {
        Err(e) => Some(format!("`{url}` is not a URL: {e}")),
        Ok(u) if u.scheme() != "http" && u.scheme() != "https" => {
            Some(format!("scheme {} is not http or https", u.scheme()))
        }
        // Not repeated: it holds a credential.
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            Some("credentials in the URL are refused: give them as a secret header".to_owned())
        }
        Ok(u) if u.host_str().is_none() => Some(format!("`{url}` has no host")),
        Ok(_) => None,
    };
    if let Some(problem) = problem {
        return Err(ParamError::new(field("url"), problem));
    }
    for name in headers.keys() {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(ParamError::new(
                field("headers"),
                format!("`{name}` is not a header name"),
            ));
        }
    }
    if let Some(statuses) = statuses {
        let list = statuses.list();
        if list.is_empty() || list.iter().any(|s| !(100..=599).contains(s)) {
            return Err(ParamError::new(
                field("expect_status"),
                "give HTTP statuses between 100 and 599",
            ));
        }
    }
    Ok(())
}

/// What `send` got back, with the redactor of the secrets it sent.
struct Sent {
    reply: HttpReply,
    redactor: Redactor,
}

impl Sent {
    /// The body as redacted text.
    fn body(&self) -> String {
        self.redactor.text(&self.reply.body, false)
    }

    /// The start of the body, for an error.
    fn excerpt(&self) -> String {
        let body = self.body();
        if body.trim().is_empty() {
            String::from("(empty body)")
        } else {
            format!("`{}`", first_chars(body.trim(), 300))
        }
    }
}

impl HttpRequestAction {
    fn params(&self) -> &HttpRequestParams {
        &self.base.params
    }

    /// Sends `method url` with `headers` and `json`, once.
    async fn send(
        &self,
        ctx: &Context,
        method: &str,
        url: &str,
        headers: &BTreeMap<String, TextOrSecret>,
        json: Option<&Value>,
        idempotency: Option<String>,
    ) -> Result<Sent, ActionError> {
        let mut secrets = Vec::new();
        let mut request = HttpRequest::new(method, url, self.timeout(ctx));
        for (name, value) in headers {
            let value = value.resolve(&format!("header {name}"), &mut secrets)?;
            request.headers.push((name.clone(), value));
        }
        if let Some(key) = idempotency {
            request
                .headers
                .push(("Idempotency-Key".to_owned(), EnvValue::Plain(key)));
        }
        request.json = json.cloned();
        // Bounded by the request's own time-out, not cut by a cancellation: a request that
        // may have reached the server is waited for (see `Context::mutate`).
        let reply = self.base.port.send(&request).await?;
        Ok(Sent {
            reply,
            redactor: Redactor::new(secrets),
        })
    }

    fn timeout(&self, ctx: &Context) -> Duration {
        match ctx.remaining() {
            Some(left) => self.params().timeout.min(left),
            None => self.params().timeout,
        }
    }

    /// The same key on every attempt and every run part of this run.
    fn idempotency_key(&self, ctx: &Context) -> Option<String> {
        self.params().idempotency_key.then(|| {
            format!(
                "{}/{}",
                ctx.run_id().unwrap_or("no-run"),
                ctx.step().unwrap_or(&self.base.id)
            )
        })
    }

    /// Whether `probe`'s answer says yes, with what it saw.
    async fn probe(
        &self,
        ctx: &Context,
        probe: &HttpProbe,
    ) -> Result<(bool, String, Sent), ActionError> {
        let sent = self
            .send(
                ctx,
                &probe.method,
                &probe.url,
                &probe.headers,
                probe.json.as_ref(),
                None,
            )
            .await?;
        let status = sent.reply.status;
        let what = format!("{} {} answered {status}", probe.method, probe.url);
        if !expected(probe.expect_status.as_ref(), status) {
            let want = expected_text(probe.expect_status.as_ref());
            return Ok((
                false,
                format!("{what}, not {want}: {}", sent.excerpt()),
                sent,
            ));
        }
        if let Some(text) = &probe.body_contains
            && !sent.body().contains(text.as_str())
        {
            return Ok((false, format!("{what} without `{text}` in its body"), sent));
        }
        Ok((true, what, sent))
    }

    /// The outputs of an expected answer: `status` and each pointer. `strict`: a missing
    /// pointer or a body that is not JSON fails.
    fn outputs(&self, sent: &Sent, strict: bool) -> Result<Outputs, ActionError> {
        let mut outputs = Outputs::new().with("status", sent.reply.status);
        if self.params().outputs.is_empty() {
            return Ok(outputs);
        }
        let body: Value = match serde_json::from_str(&sent.body()) {
            Ok(body) => body,
            Err(_) if !strict => return Ok(outputs),
            Err(_) => {
                return Err(ActionError::postcondition(format!(
                    "outputs are asked of the answer, but its body is not JSON: {}",
                    sent.excerpt()
                )));
            }
        };
        for (name, pointer) in &self.params().outputs {
            match body.pointer(pointer) {
                Some(value) => outputs.insert(name.clone(), value.clone()),
                None if !strict => {}
                None => {
                    return Err(ActionError::postcondition(format!(
                        "output `{name}`: the answer has nothing at `{pointer}`: {}",
                        sent.excerpt()
                    )));
                }
            }
        }
        Ok(outputs)
    }

    /// The error of an answer that is not the expected one; `None` for a refusal (4xx,
    /// redirect) means nothing changed.
    fn refused(&self, sent: &Sent) -> ActionError {
        let p = self.params();
        let status = sent.reply.status;
        let what = format!("{} {} answered {status}", p.method, p.url);
        let (kind, text) = match status {
            300..=399 => (
                ErrorKind::Other,
                format!(
                    "{what}, a redirect to {} (redirects are not followed: give the final URL)",
                    sent.reply.location.as_deref().unwrap_or("nowhere")
                ),
            ),
            401 | 403 => (
                ErrorKind::AccessDenied,
                format!("{what}: {}", sent.excerpt()),
            ),
            404 => (ErrorKind::NotFound, format!("{what}: {}", sent.excerpt())),
            409 => (ErrorKind::Conflict, format!("{what}: {}", sent.excerpt())),
            429 => (ErrorKind::Throttled, format!("{what}: {}", sent.excerpt())),
            500..=599 => (
                ErrorKind::Unavailable,
                format!("{what}: {}", sent.excerpt()),
            ),
            _ => (
                ErrorKind::Other,
                format!(
                    "{what}, not {}: {}",
                    expected_text(p.expect_status.as_ref()),
                    sent.excerpt()
                ),
            ),
        };
        let mut error = ActionError::new(kind, text).with_code(status.to_string());
        if let Some(after) = sent.reply.retry_after {
            error = error.with_retry_after(Duration::from_secs(after));
        }
        error
    }
}

/// The intent recorded before the request is sent; `status` (and `outputs`) once answered.
fn intent(method: &str, url: &str, key: Option<&str>) -> Outputs {
    let mut intent = Outputs::new().with("request", format!("{method} {}", endpoint(url)));
    if let Some(key) = key {
        intent.insert("idempotency_key", key);
    }
    intent
}

#[async_trait]
impl Act for HttpRequestAction {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let p = self.params();
        let change = format!("{} {}", p.method, p.url);
        if let Some(check) = &p.check {
            let (yes, saw, sent) = self.probe(ctx, check).await?;
            return Ok(if yes {
                Check::Done {
                    detail: format!("{saw}: already done"),
                    outputs: self.outputs(&sent, false)?,
                }
            } else {
                Check::ready(format!("{change} ({saw})"))
            });
        }
        let Some(earlier) = ctx.intent() else {
            return Ok(Check::ready(change));
        };
        match earlier.get("status").and_then(Value::as_u64) {
            Some(status)
                if expected(p.expect_status.as_ref(), u16::try_from(status).unwrap_or(0)) =>
            {
                let outputs = earlier
                    .get("outputs")
                    .cloned()
                    .and_then(|o| serde_json::from_value(o).ok())
                    .unwrap_or_default();
                Ok(Check::Done {
                    detail: format!("an earlier attempt was answered {status}"),
                    outputs,
                })
            }
            Some(status) => Ok(Check::ready(format!(
                "{change} again (an earlier attempt was answered {status})"
            ))),
            None if p.idempotency_key => Ok(Check::ready(format!(
                "{change} again with the same Idempotency-Key (the earlier attempt's answer was \
                 lost; the server deduplicates)"
            ))),
            None => Ok(Check::unknown(format!(
                "{change} was sent by an earlier attempt whose answer was lost: it may have taken \
                 effect, and the step has neither a `check` request nor an `idempotency_key` to \
                 tell. Send it again?"
            ))),
        }
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = self.params();
        let key = self.idempotency_key(ctx);
        let intent = intent(&p.method, &p.url, key.as_deref());
        let sent = ctx
            .mutate(
                intent.clone(),
                self.send(ctx, &p.method, &p.url, &p.headers, p.json.as_ref(), key),
            )
            .await?;
        let status = sent.reply.status;
        if expected(p.expect_status.as_ref(), status) {
            let outputs = self.outputs(&sent, true);
            let mut answered = intent.with("status", status);
            if let Ok(outputs) = &outputs {
                answered.insert(
                    "outputs",
                    serde_json::to_value(outputs).unwrap_or(Value::Null),
                );
            }
            ctx.record_intent(answered).await?;
            return outputs;
        }
        let error = self.refused(&sent);
        if (500..=599).contains(&status) {
            // The server failed mid-way: whatever it did stays unknown.
            return Err(error.with_maybe_applied());
        }
        // A refusal, a redirect, another status: the server answered, nothing to reconcile.
        ctx.record_intent(Outputs::new()).await?;
        Err(error)
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let p = self.params();
        let Some(verify) = &p.verify else {
            return Ok(format!(
                "no `verify` request: {} {} was answered {}",
                p.method,
                p.url,
                expected_text(p.expect_status.as_ref())
            ));
        };
        let (yes, saw, _) = self.probe(ctx, verify).await?;
        if yes {
            Ok(saw)
        } else {
            Err(ActionError::postcondition(saw))
        }
    }

    fn mutating(&self) -> bool {
        self.params().mutates
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
pub(crate) mod tests;
