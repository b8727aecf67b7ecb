//! A proxy in front of moto that injects what moto cannot produce on its own, request by
//! request: an answer lost after the request was applied, a 409 `ConditionalRequestConflict`,
//! a 503. It logs every request with its answer.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use drkit_aws::AwsContext;

/// What the proxy does to a request matched by a [`Rule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Forwards it (moto applies it), then answers 500 `InternalError` instead of moto's
    /// answer: the answer is lost, and the SDK sends the request again.
    LoseAnswer,
    /// Answers 409 `ConditionalRequestConflict` without forwarding.
    Conflict,
    /// Answers 503 `SlowDown` without forwarding.
    Unavailable,
}

/// Which requests a fault applies to, and how many times.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    pub(crate) method: Method,
    /// The path ends with this.
    pub(crate) path_suffix: String,
    /// The body contains this (e.g. `"pending"`: a journal commit), or lacks it (`!pending`).
    pub(crate) body: Option<String>,
    pub(crate) fault: Fault,
    /// How many more requests it applies to.
    pub(crate) times: usize,
}

impl Rule {
    pub(crate) fn new(method: Method, path_suffix: &str, fault: Fault, times: usize) -> Self {
        Self {
            method,
            path_suffix: path_suffix.to_owned(),
            body: None,
            fault,
            times,
        }
    }

    pub(crate) fn body(mut self, pattern: &str) -> Self {
        self.body = Some(pattern.to_owned());
        self
    }

    fn matches(&self, method: &Method, path: &str, body: &[u8]) -> bool {
        if self.times == 0 || method != self.method || !path.ends_with(&self.path_suffix) {
            return false;
        }
        let text = String::from_utf8_lossy(body);
        match &self.body {
            None => true,
            Some(p) => match p.strip_prefix('!') {
                Some(absent) => !text.contains(absent),
                None => text.contains(p.as_str()),
            },
        }
    }
}

/// One request seen.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: Method,
    pub(crate) path: String,
    /// The status answered to the client.
    pub(crate) status: u16,
    pub(crate) fault: Option<Fault>,
    pub(crate) at: Instant,
}

#[derive(Default)]
struct Shared {
    upstream: String,
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Seen>>,
    client: reqwest::Client,
}

pub(crate) struct Proxy {
    url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub(crate) async fn start(upstream: &str) -> Self {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            ..Shared::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, shared, task }
    }

    /// An AWS configuration whose calls go through the proxy.
    pub(crate) async fn aws(&self) -> AwsContext {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-west-2"))
            .endpoint_url(&self.url)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "proxy",
            ))
            .load()
            .await;
        AwsContext::from_sdk_config(config)
    }

    pub(crate) fn add(&self, rule: Rule) {
        self.shared.rules.lock().unwrap().push(rule);
    }

    pub(crate) fn log(&self) -> Vec<Seen> {
        self.shared.log.lock().unwrap().clone()
    }

    /// `(method, status, fault)` of the requests whose path ends with `suffix`.
    pub(crate) fn seen(&self, suffix: &str) -> Vec<(Method, u16, Option<Fault>)> {
        self.log()
            .into_iter()
            .filter(|s| s.path.ends_with(suffix))
            .map(|s| (s.method, s.status, s.fault))
            .collect()
    }
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>proxy</RequestId></Error>"
    );
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert("content-type", "application/xml".parse().unwrap());
    response
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let path = parts.uri.path().to_owned();
    let fault = {
        let mut rules = shared.rules.lock().unwrap();
        rules
            .iter_mut()
            .find(|r| r.matches(&parts.method, &path, &body))
            .map(|r| {
                r.times -= 1;
                r.fault
            })
    };
    let response = match fault {
        Some(Fault::Conflict) => s3_error(
            StatusCode::CONFLICT,
            "ConditionalRequestConflict",
            "A conflicting operation occurred. If using PutObject you can retry the request.",
        ),
        Some(Fault::Unavailable) => s3_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate.",
        ),
        Some(Fault::LoseAnswer) | None => {
            let forwarded = forward(&shared, &parts, body).await;
            if fault == Some(Fault::LoseAnswer) {
                s3_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                )
            } else {
                forwarded
            }
        }
    };
    shared.log.lock().unwrap().push(Seen {
        method: parts.method.clone(),
        path,
        status: response.status().as_u16(),
        fault,
        at: Instant::now(),
    });
    response
}

async fn forward(shared: &Shared, parts: &axum::http::request::Parts, body: Bytes) -> Response {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let mut headers = parts.headers.clone();
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    let upstream = shared
        .client
        .request(parts.method.clone(), format!("{}{path}", shared.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = upstream.status();
    let mut out_headers = upstream.headers().clone();
    for name in HOP_BY_HOP {
        out_headers.remove(*name);
    }
    let bytes = upstream.bytes().await.unwrap();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = out_headers;
    response
}
