//! `checks.http`: the seed's `curl https://api-dr.../health` — does the endpoint answer the
//! expected status (and body), within a time-out, in one of a few attempts?

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::{ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource};
use serde::Deserialize;
use tokio::time::Instant;

use crate::verdict::{Measurement, as_check, as_outputs, as_verified};

pub(crate) const KIND: &str = "checks.http";

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
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpCheckParams {
    /// The URL (`http://` or `https://`; no credentials in it).
    pub url: String,
    /// The status the endpoint must answer (default 200).
    #[serde(default = "status_200")]
    pub expect_status: u16,
    /// Text the body must contain.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// The time-out of one attempt (default `"10s"`).
    #[serde(default = "ten_seconds", with = "humantime_serde")]
    pub timeout: Duration,
    /// How many attempts, 1 s apart, before the check fails (default 1).
    #[serde(default = "one")]
    pub attempts: u32,
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
/// Read-only, with the checks' convention: `check` -> done (with what was seen) or blocked
/// (the last wrong answer); `execute` and `verify` fail with `PostconditionFailed`. When the
/// last attempt got no answer at all, the error is returned as it is: `Timeout` or
/// `Unavailable` (connection refused), which the retry layer may retry.
pub struct HttpCheck {
    id: String,
    params: HttpCheckParams,
    target: Resource,
    client: reqwest::Client,
}

impl fmt::Debug for HttpCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCheck")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// One attempt's outcome: an answer (right or wrong) or no answer.
enum Attempt {
    Right(u16, usize),
    Wrong(String),
    NoAnswer(ActionError),
}

fn is_certificate_error(e: &reqwest::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        let text = s.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("unknownissuer") {
            return true;
        }
        source = s.source();
    }
    false
}

impl HttpCheck {
    /// A check step `id` (its parameters validated by the registry).
    pub fn new(id: impl Into<String>, params: HttpCheckParams) -> Result<Self, ActionError> {
        let client = reqwest::Client::builder()
            .timeout(params.timeout)
            .user_agent("drkit-checks")
            .build()
            .map_err(|e| ActionError::new(ErrorKind::Other, format!("HTTP client: {e}")))?;
        let target = Resource::new("http", "endpoint", params.url.clone());
        Ok(Self {
            id: id.into(),
            params,
            target,
            client,
        })
    }

    async fn attempt(&self) -> Attempt {
        let p = &self.params;
        let response = match self.client.get(&p.url).send().await {
            Ok(r) => r,
            Err(e) if is_certificate_error(&e) => {
                return Attempt::Wrong(format!("TLS certificate not accepted: {e}"));
            }
            Err(e) => return Attempt::NoAnswer(classify(&e, p)),
        };
        let status = response.status().as_u16();
        let body = match response.text().await {
            Ok(b) => b,
            Err(e) => return Attempt::NoAnswer(classify(&e, p)),
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

    async fn measure(&self, ctx: &Context) -> Result<Measurement, ActionError> {
        let attempts = self.params.attempts.max(1);
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
                    return Ok(Measurement::pass(
                        Outputs::new()
                            .with("url", self.params.url.clone())
                            .with("status", status)
                            .with("body_bytes", bytes)
                            .with("elapsed_ms", elapsed_ms)
                            .with("attempts_used", n),
                        format!(
                            "{} answered {status} in {elapsed_ms} ms (attempt {n} of {attempts})",
                            self.params.url
                        ),
                    ));
                }
                Attempt::Wrong(why) => {
                    ctx.progress(format!(
                        "{}: attempt {n} of {attempts}: {why}",
                        self.params.url
                    ));
                    last = Some(Ok(why));
                }
                Attempt::NoAnswer(e) => {
                    ctx.progress(format!(
                        "{}: attempt {n} of {attempts}: {}",
                        self.params.url,
                        e.message()
                    ));
                    last = Some(Err(e));
                }
            }
        }
        match last {
            Some(Ok(why)) => Ok(Measurement::fail(
                Outputs::new()
                    .with("url", self.params.url.clone())
                    .with("attempts_used", attempts),
                format!("{}: {why} (after {attempts} attempt(s))", self.params.url),
            )),
            Some(Err(e)) => Err(e.in_action(self)),
            None => Err(ActionError::new(ErrorKind::Other, "no attempt was made").in_action(self)),
        }
    }
}

fn classify(e: &reqwest::Error, p: &HttpCheckParams) -> ActionError {
    let (kind, text) = if e.is_timeout() {
        (
            ErrorKind::Timeout,
            format!("no answer within {}", humantime::format_duration(p.timeout)),
        )
    } else {
        (ErrorKind::Unavailable, format!("no answer: {e}"))
    };
    ActionError::new(kind, format!("GET {}: {text}", p.url))
}

#[async_trait]
impl RecoveryAction for HttpCheck {
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
        &[]
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        as_check(self.measure(ctx).await)
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        as_outputs(self.measure(ctx).await, self)
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        as_verified(self.measure(ctx).await, self)
    }
}
