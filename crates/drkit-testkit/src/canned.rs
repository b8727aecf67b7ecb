//! A canned AWS endpoint: an HTTP server on a free 127.0.0.1 port that answers every request
//! with what a test's handler returns, and records the requests. For testing an SDK adapter
//! against AWS's **documented** responses (the XML or JSON shapes of the API reference, real
//! error codes, pagination tokens) where the emulator behaves otherwise: the request goes
//! through the real SDK client (serialisation, signing, parsing), only the server is scripted.
//!
//! ```no_run
//! # async fn a_test() {
//! use drkit_testkit::canned::{Answer, CannedAws};
//! let aws = CannedAws::start(|request| {
//!     assert_eq!(request.target(), Some("CertificateManager.ListCertificates"));
//!     Answer::json(serde_json::json!({"CertificateSummaryList": []}))
//! })
//! .await;
//! let config = aws.sdk_config("us-east-1").await;
//! # let _ = config;
//! # }
//! ```

use std::sync::{Arc, Mutex, PoisonError};

use aws_config::SdkConfig;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

/// A request the endpoint received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, e.g. `/2013-04-01/hostedzone/Z1/rrset`.
    pub path: String,
    /// The query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The `X-Amz-Target` header (JSON protocols: `CertificateManager.ListCertificates`).
    pub target_header: Option<String>,
    /// Every header, names in lower case, in order (REST protocols put parameters there:
    /// Lambda's `x-amz-invocation-type`).
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl Received {
    /// The operation of a JSON-protocol request: its `X-Amz-Target`.
    pub fn target(&self) -> Option<&str> {
        self.target_header.as_deref()
    }

    /// The query parameter `name` (REST protocols), if given.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (JSON protocols); `null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

/// What the endpoint answers.
#[derive(Clone, Debug)]
pub struct Answer {
    status: u16,
    content_type: &'static str,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    /// 200 with an XML body (REST-XML protocols such as Route 53).
    pub fn xml(body: impl Into<String>) -> Self {
        Self {
            status: 200,
            content_type: "text/xml",
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// 200 with `body` as it is (REST protocols whose payload is the body, such as Lambda's
    /// `Invoke`), typed `application/json`.
    pub fn raw(body: impl Into<String>) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The same answer with HTTP `status` (a REST-JSON error: `raw` body, `X-Amzn-ErrorType`
    /// header).
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The same answer with a header (REST protocols answer fields there: Lambda's
    /// `X-Amz-Function-Error`).
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// 200 with a JSON body (JSON protocols such as ACM).
    #[allow(clippy::needless_pass_by_value)] // callers build the value inline
    pub fn json(body: serde_json::Value) -> Self {
        Self {
            status: 200,
            content_type: "application/x-amz-json-1.1",
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    /// A JSON-protocol error: `status` with `{"__type": code, "message": message}`.
    pub fn json_error(status: u16, code: &str, message: &str) -> Self {
        Self {
            status,
            content_type: "application/x-amz-json-1.1",
            headers: Vec::new(),
            body: serde_json::json!({"__type": code, "message": message}).to_string(),
        }
    }

    /// A REST-XML error: `status` with an `ErrorResponse` of `code` and `message`.
    pub fn xml_error(status: u16, code: &str, message: &str) -> Self {
        Self {
            status,
            content_type: "text/xml",
            headers: Vec::new(),
            body: format!(
                "<?xml version=\"1.0\"?>\n<ErrorResponse><Error><Type>Sender</Type><Code>{code}\
                 </Code><Message>{message}</Message></Error><RequestId>canned</RequestId>\
                 </ErrorResponse>"
            ),
        }
    }
}

type Handler = dyn Fn(&Received) -> Answer + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    received: Mutex<Vec<Received>>,
}

/// The running endpoint; it stops when dropped.
pub struct CannedAws {
    url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for CannedAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CannedAws").field("url", &self.url).finish()
    }
}

impl CannedAws {
    /// Starts the endpoint on a free 127.0.0.1 port; `handler` answers each request.
    ///
    /// # Panics
    /// When no port can be bound (a test helper: failing loudly is its job).
    pub async fn start(handler: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> Self {
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            received: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|e| panic!("cannot bind the canned AWS endpoint: {e}"));
        let url = match listener.local_addr() {
            Ok(addr) => format!("http://{addr}"),
            Err(e) => panic!("the canned AWS endpoint has no address: {e}"),
        };
        let app = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        let (stop, _task) = crate::serve(listener, app);
        Self {
            url,
            shared,
            stop: Some(stop),
        }
    }

    /// Its URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The requests received so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// An SDK configuration for `region` pointing at this endpoint, with dummy credentials.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        crate::test_sdk_config(&self.url, region).await
    }
}

impl Drop for CannedAws {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn answer(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let query = parts
        .uri
        .query()
        .map(|q| {
            reqwest::Url::parse(&format!("http://canned/?{q}"))
                .map(|u| u.query_pairs().into_owned().collect())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let received = Received {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query,
        target_header: parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let answer = (shared.handler)(&received);
    shared
        .received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(received);
    let mut response = (
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(header::CONTENT_TYPE, answer.content_type)],
        Body::from(answer.body),
    )
        .into_response();
    for (name, value) in &answer.headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::try_from(name.as_str()),
            header::HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
