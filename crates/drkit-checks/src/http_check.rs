//! `checks.http`: the seed's `curl https://api-dr.../health` — does the endpoint answer the
//! expected status (and body), within a time-out, in one of a few attempts?

use std::time::Duration;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    ActionError, ActionKind, Base, Context, ErrorKind, Finding, HasBase, Outputs, Params,
    PortFactory, Probe, Resource, StepSpec,
};
use serde::Deserialize;
use tokio::time::Instant;

use crate::web_port::{HttpAnswer, HttpApi};

/// The pause between two attempts.
const PAUSE: Duration = Duration::from_secs(1);

fn ten_seconds() -> Duration {
    Duration::from_secs(10)
}

fn status_200() -> u16 {
    200
}

fn one() -> u32 {
    1
}

/// The parameters of `checks.http`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpCheckParams {
    /// http:// or https:// URL (no credentials in it)
    pub url: String,
    /// the status to answer (default 200)
    #[serde(default = "status_200")]
    pub expect_status: u16,
    /// text the body must contain
    #[serde(default)]
    pub body_contains: Option<String>,
    /// time-out of one attempt (default "10s")
    #[serde(default = "ten_seconds", with = "humantime_serde")]
    pub timeout: Duration,
    /// attempts, 1 s apart (default 1, at most 20)
    #[serde(default = "one")]
    pub attempts: u32,
}

impl HttpCheckParams {
    /// Expects `url` to answer 200 within 10 s, in one attempt.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            expect_status: status_200(),
            body_contains: None,
            timeout: ten_seconds(),
            attempts: one(),
        }
    }
}

/// Why `url` cannot be checked, if it cannot.
pub(crate) fn url_problem(url: &str) -> Option<String> {
    match reqwest::Url::parse(url) {
        Err(e) => Some(format!("not a URL: {e}")),
        Ok(u) if u.scheme() != "http" && u.scheme() != "https" => {
            Some(format!("scheme {} is not http or https", u.scheme()))
        }
        Ok(u) if !u.username().is_empty() || u.password().is_some() => {
            Some("credentials in the URL are refused".into())
        }
        Ok(u) if u.host_str().is_none() => Some("the URL has no host".into()),
        Ok(_) => None,
    }
}

/// Checks an HTTP(S) endpoint: up to `attempts` GETs, 1 s apart, each bounded by `timeout`;
/// passes on the first answer with `expect_status` (and `body_contains`). HTTPS certificates
/// are verified against the Mozilla roots (an untrusted certificate is a failed check).
///
/// A [`Probe`]: `check` -> done (with what was seen) or blocked (the last wrong answer);
/// `execute` and `verify` fail with `PostconditionFailed`. When the last attempt got no answer
/// at all, the error is returned as it is: `Timeout` or `Unavailable` (connection refused),
/// which the retry layer may retry.
#[derive(Debug, HasBase)]
pub struct HttpCheck {
    base: Base<Self>,
}

impl ActionKind for HttpCheck {
    const KIND: &'static str = "checks.http";
    const SUMMARY: &'static str = "GET an HTTP(S) endpoint: expected status (and body text) within a time-out, in a \
              few attempts";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("url", "the URL"),
        OutputDoc::new("status", "the status answered"),
        OutputDoc::new("body_bytes", "the body's length"),
        OutputDoc::new("elapsed_ms", "the answering attempt's duration"),
        OutputDoc::new("attempts_used", "how many attempts were made"),
    ];
    type Params = HttpCheckParams;
    type Port = dyn HttpApi;
    type Ports = PortFactory<dyn HttpApi>;

    fn validate(p: &HttpCheckParams) -> Result<(), ParamError> {
        if let Some(problem) = url_problem(&p.url) {
            return Err(ParamError::new("url", problem));
        }
        if !(100..=599).contains(&p.expect_status) {
            return Err(ParamError::new("expect_status", "must be 100 to 599"));
        }
        if !(1..=20).contains(&p.attempts) {
            return Err(ParamError::new("attempts", "must be 1 to 20"));
        }
        if p.timeout.is_zero() {
            return Err(ParamError::new("timeout", "must be more than 0"));
        }
        Ok(())
    }

    fn build(step: StepSpec<HttpCheckParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = Resource::new("http", "endpoint", step.params.url.clone());
        Ok(Self {
            base: step.into_base(target, ports),
        })
    }
}

/// One attempt's outcome: an answer (right or wrong) or no answer.
enum Attempt {
    Right(u16, usize),
    Wrong(String),
    NoAnswer(ActionError),
}

impl HttpCheck {
    async fn attempt(&self) -> Attempt {
        let p = &self.base.params;
        let (status, body) = match self.base.port.get(&p.url, p.timeout).await {
            Ok(HttpAnswer::Answered { status, body }) => (status, body),
            Ok(HttpAnswer::CertificateRefused(why)) => {
                return Attempt::Wrong(format!("TLS certificate not accepted: {why}"));
            }
            Err(e) => return Attempt::NoAnswer(e),
        };
        if status != p.expect_status {
            return Attempt::Wrong(format!("status {status}, expected {}", p.expect_status));
        }
        if let Some(needle) = &p.body_contains
            && !body.contains(needle.as_str())
        {
            return Attempt::Wrong(format!(
                "status {status} but the body ({} bytes) lacks {needle:?}",
                body.len()
            ));
        }
        Attempt::Right(status, body.len())
    }
}

#[async_trait]
impl Probe for HttpCheck {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let url = &self.base.params.url;
        let attempts = self.base.params.attempts.max(1);
        let mut last = None;
        for n in 1..=attempts {
            if n > 1 {
                ctx.sleep(PAUSE).await?;
            }
            ctx.ensure_live()?;
            let started = Instant::now();
            let outcome = ctx.bounded(async { Ok(self.attempt().await) }).await?;
            let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            match outcome {
                Attempt::Right(status, bytes) => {
                    return Ok(Finding::pass(
                        format!(
                            "{url} answered {status} in {elapsed_ms} ms (attempt {n} of {attempts})"
                        ),
                        Outputs::new()
                            .with("url", url.clone())
                            .with("status", status)
                            .with("body_bytes", bytes)
                            .with("elapsed_ms", elapsed_ms)
                            .with("attempts_used", n),
                    ));
                }
                Attempt::Wrong(why) => {
                    ctx.progress(format!("{url}: attempt {n} of {attempts}: {why}"));
                    last = Some(Ok(why));
                }
                Attempt::NoAnswer(e) => {
                    ctx.progress(format!("{url}: attempt {n} of {attempts}: {}", e.message()));
                    last = Some(Err(e));
                }
            }
        }
        match last {
            Some(Ok(why)) => Ok(Finding::fail(
                format!("{url}: {why} (after {attempts} attempt(s))"),
                Outputs::new()
                    .with("url", url.clone())
                    .with("attempts_used", attempts),
            )),
            Some(Err(e)) => Err(e),
            None => Err(ActionError::new(ErrorKind::Other, "no attempt was made")),
        }
    }
}
