//! The HTTP port ([`HttpApi`]) of `http.request`, and its adapter over `reqwest` ([`Reqwest`]):
//! rustls with the Mozilla roots, **redirects never followed**, one attempt per call.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::{ActionError, ErrorKind};
use serde_json::Value;

use crate::process::EnvValue;

/// One request. Its `Debug` shows header names only: a value may be a secret.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The URL (no credentials in it).
    pub url: String,
    /// Headers, secret values included.
    pub headers: Vec<(String, EnvValue)>,
    /// A JSON body, sent with `Content-Type: application/json`.
    pub json: Option<Value>,
    /// How long to wait for the whole answer.
    pub timeout: Duration,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("json", &self.json.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpRequest {
    /// `method url`, no headers, no body.
    pub fn new(method: impl Into<String>, url: impl Into<String>, timeout: Duration) -> Self {
        Self {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            json: None,
            timeout,
        }
    }

    /// The value of header `name` as sent (for tests of code that uses the port).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.expose())
    }
}

/// An answer: the status, the `Location` of a redirect (not followed), the body (up to
/// [`MAX_BODY`] bytes).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// `Location`, for a 3xx.
    pub location: Option<String>,
    /// The body's first [`MAX_BODY`] bytes (not yet redacted).
    pub body: Vec<u8>,
    /// `Retry-After` in seconds, when given.
    pub retry_after: Option<u64>,
}

impl fmt::Debug for HttpReply {
    /// The body by length only: it may echo a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpReply")
            .field("status", &self.status)
            .field("location", &self.location)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl HttpReply {
    /// An answer with `status` and `body`.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            location: None,
            body: body.into(),
            retry_after: None,
        }
    }
}

/// The most bytes of an answer's body kept.
pub const MAX_BODY: usize = 1024 * 1024;

/// Sends HTTP requests: the port of `http.request`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait HttpApi: fmt::Debug + Send + Sync {
    /// Sends `request` once. `Err` when no answer came: [`ErrorKind::Unavailable`] with the
    /// code `connect` when the connection was never made (nothing was sent), otherwise the
    /// request may have reached the server ([`ErrorKind::Timeout`] or `Unavailable`).
    async fn send(&self, request: &HttpRequest) -> Result<HttpReply, ActionError>;
}

/// [`HttpApi`] over `reqwest`: rustls (Mozilla roots), no redirects, no retries.
#[derive(Debug)]
pub struct Reqwest {
    client: Result<reqwest::Client, String>,
}

impl Default for Reqwest {
    fn default() -> Self {
        Self::new()
    }
}

impl Reqwest {
    /// The adapter.
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("drkit/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("HTTP client: {e}"));
        Self { client }
    }
}

#[async_trait]
impl HttpApi for Reqwest {
    async fn send(&self, request: &HttpRequest) -> Result<HttpReply, ActionError> {
        let client = self
            .client
            .as_ref()
            .map_err(|e| ActionError::new(ErrorKind::Other, e.clone()))?;
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| ActionError::invalid_input(format!("method {}", request.method)))?;
        let mut builder = client
            .request(method, &request.url)
            .timeout(request.timeout);
        for (name, value) in &request.headers {
            let mut header =
                reqwest::header::HeaderValue::from_str(value.expose()).map_err(|_| {
                    ActionError::invalid_input(format!("header {name}: not a valid value"))
                })?;
            // Kept out of reqwest's and hyper's own Debug output.
            header.set_sensitive(matches!(value, EnvValue::Secret(_)));
            builder = builder.header(name.as_str(), header);
        }
        if let Some(json) = &request.json {
            builder = builder.json(json);
        }
        let said = |e: &reqwest::Error| {
            let what = format!("{} {}", request.method, request.url);
            if e.is_connect() {
                ActionError::new(
                    ErrorKind::Unavailable,
                    format!("{what}: no connection (nothing was sent): {}", root(e)),
                )
                .with_code("connect")
            } else if e.is_timeout() {
                ActionError::new(
                    ErrorKind::Timeout,
                    format!(
                        "{what}: no answer within {}",
                        humantime::format_duration(request.timeout)
                    ),
                )
            } else {
                ActionError::new(
                    ErrorKind::Unavailable,
                    format!("{what}: no answer: {}", root(e)),
                )
            }
        };
        let mut response = builder.send().await.map_err(|e| said(&e))?;
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header(reqwest::header::LOCATION);
        let retry_after = header(reqwest::header::RETRY_AFTER).and_then(|v| v.parse().ok());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| said(&e))? {
            let room = MAX_BODY.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if room < chunk.len() {
                break;
            }
        }
        Ok(HttpReply {
            status,
            location,
            body,
            retry_after,
        })
    }
}

/// The innermost cause of `e` (reqwest's own text is "error sending request").
fn root(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(inner) = source.source() {
        source = inner;
    }
    source.to_string()
}
