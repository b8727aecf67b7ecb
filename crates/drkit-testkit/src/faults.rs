//! A fault-injecting HTTP proxy in front of an AWS endpoint (the moto server), for testing that
//! drkit survives throttling and transient faults and fails cleanly when the endpoint stops
//! answering.
//!
//! [`FaultProxy`] listens on a 127.0.0.1 port and forwards every request to the upstream. For a
//! share of the signed AWS requests (`rate`, drawn from a seeded RNG so a run can be replayed)
//! it answers instead, without forwarding, with one of the [`FaultKind`]s:
//!
//! - [`FaultKind::Throttle`]: the throttling error of the request's AWS protocol, which it
//!   finds from the service in the sigv4 credential scope ([`service_of`], [`Protocol::of`]):
//!   `Throttling` in an `<ErrorResponse>` for the query services (RDS, ElastiCache, IAM, STS)
//!   and Route 53 / CloudFront, `RequestLimitExceeded` for EC2, `SlowDown` for S3,
//!   `{"__type":"ThrottlingException"}` for the JSON services (ACM), HTTP 429 with
//!   `x-amzn-errortype: ThrottlingException` for the REST-JSON ones (EKS);
//! - [`FaultKind::ServerError`]: HTTP 500 and 503 in turn, with the protocol's error body
//!   (`InternalFailure` / `ServiceUnavailable` and their equivalents);
//! - [`FaultKind::Timeout`]: holds the request without answering for `hold` (longer than the
//!   client's attempt time-out), then answers 504; the request never reaches the upstream;
//! - [`FaultKind::LostAnswer`] (only when asked for, never in [`FaultKind::ALL`]): forwards the
//!   request, waits for the upstream's whole answer, then breaks the connection instead of
//!   passing it on. The change is made; the client cannot know it. With
//!   [`FaultConfig::lose_answer`], the answers to one named operation are lost (the first `n`
//!   of them), whatever the rate.
//!
//! With `blackhole_after = Some(n)`, every request after the first `n` is held forever: the
//! endpoint accepts connections and never answers. With [`FaultConfig::dark_region`], every
//! request signed for that region's regional services is held forever (a dark region), while
//! the global services that sign for us-east-1 ([`GLOBAL_SERVICES`]: Route 53, CloudFront,
//! IAM, STS) pass.
//!
//! Unsigned requests (moto's `/moto-api/...`) are always forwarded. The counts
//! ([`FaultStats`], with the requests per AWS operation: [`operation_of`]) are served at `GET /__fault-proxy/stats`. The `fault-proxy` binary runs it
//! from the command line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::fake_arc::FakeArc;

/// Services whose requests are signed for us-east-1 whatever the region in use: global, so a
/// dark us-east-1 does not stop them.
pub const GLOBAL_SERVICES: &[&str] = &["route53", "cloudfront", "iam", "sts"];

/// The path the proxy answers itself with its counts (never forwarded).
pub const STATS_PATH: &str = "/__fault-proxy/stats";

/// What the proxy injects instead of forwarding a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// The protocol's throttling error.
    Throttle,
    /// HTTP 500 or 503 with the protocol's error body.
    ServerError,
    /// No answer for the hold time, then 504.
    Timeout,
    /// Forwarded, then the answer is lost: the connection breaks before the client has it.
    LostAnswer,
}

impl FaultKind {
    /// Every kind, in rotation order.
    pub const ALL: [FaultKind; 3] = [
        FaultKind::Throttle,
        FaultKind::ServerError,
        FaultKind::Timeout,
    ];

    /// Its name: `throttle`, `5xx`, `timeout`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Throttle => "throttle",
            FaultKind::ServerError => "5xx",
            FaultKind::Timeout => "timeout",
            FaultKind::LostAnswer => "lost",
        }
    }

    /// Parses a name (`throttle`, `5xx`, `timeout`).
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "throttle" | "throttling" => Some(FaultKind::Throttle),
            "5xx" | "server-error" | "500" | "503" => Some(FaultKind::ServerError),
            "timeout" | "time-out" => Some(FaultKind::Timeout),
            "lost" | "lost-answer" => Some(FaultKind::LostAnswer),
            _ => None,
        }
    }
}

/// How the kind of each fault is chosen among the configured kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// In turn: throttle, 5xx, timeout, throttle...
    Rotate,
    /// At random (from the seeded RNG).
    Random,
}

/// The proxy's configuration.
#[derive(Clone, Debug)]
pub struct FaultConfig {
    /// The endpoint requests are forwarded to, e.g. `http://127.0.0.1:5000`.
    pub upstream: String,
    /// The share of signed AWS requests that get a fault (0.0 to 1.0).
    pub rate: f64,
    /// The RNG seed.
    pub seed: u64,
    /// The kinds injected (empty: all).
    pub kinds: Vec<FaultKind>,
    /// How the kind is chosen.
    pub pick: Pick,
    /// How long a [`FaultKind::Timeout`] holds the request before answering 504.
    pub hold: Duration,
    /// After this many requests, hold every request forever.
    pub blackhole_after: Option<u64>,
    /// Inject at most this many faults (then forward everything).
    pub max_faults: Option<u64>,
    /// Operations (as [`operation_of`] names them, e.g. `FailoverDBCluster`) whose answers are
    /// lost, with how many of them: forwarded, then the connection breaks. Independent of
    /// `rate`.
    pub lose_answers: BTreeMap<String, u64>,
    /// How long a lost answer is held before the connection breaks (zero by default): time
    /// for a test to kill the client while the outcome of its call is unknown to it.
    pub lose_after: Duration,
    /// Regions whose regional services never answer.
    pub dark_regions: Vec<String>,
    /// A fake ARC cluster that answers the `route53-recovery-cluster` requests instead of the
    /// upstream (after the faults; see [`crate::fake_arc`]).
    pub arc: Option<Arc<FakeArc>>,
}

impl FaultConfig {
    /// Forward everything to `upstream` (rate 0), seed 0, all kinds in rotation, 60 s hold.
    pub fn new(upstream: impl Into<String>) -> Self {
        Self {
            upstream: upstream.into().trim_end_matches('/').to_owned(),
            rate: 0.0,
            seed: 0,
            kinds: FaultKind::ALL.to_vec(),
            pick: Pick::Rotate,
            hold: Duration::from_secs(60),
            blackhole_after: None,
            max_faults: None,
            lose_answers: BTreeMap::new(),
            lose_after: Duration::ZERO,
            dark_regions: Vec::new(),
            arc: None,
        }
    }

    /// Answers ARC's cluster requests from `arc` (a fake: moto has no ARC).
    #[must_use]
    pub fn arc(mut self, arc: Arc<FakeArc>) -> Self {
        self.arc = Some(arc);
        self
    }

    /// Sets the fault rate.
    #[must_use]
    pub fn rate(mut self, rate: f64) -> Self {
        self.rate = rate.clamp(0.0, 1.0);
        self
    }

    /// Sets the seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the kinds injected.
    #[must_use]
    pub fn kinds(mut self, kinds: &[FaultKind]) -> Self {
        self.kinds = kinds.to_vec();
        self
    }

    /// Sets how kinds are chosen.
    #[must_use]
    pub fn pick(mut self, pick: Pick) -> Self {
        self.pick = pick;
        self
    }

    /// Sets the hold time of a time-out fault.
    #[must_use]
    pub fn hold(mut self, hold: Duration) -> Self {
        self.hold = hold;
        self
    }

    /// Stops answering after `n` requests.
    #[must_use]
    pub fn blackhole_after(mut self, n: u64) -> Self {
        self.blackhole_after = Some(n);
        self
    }

    /// Injects at most `n` faults.
    #[must_use]
    pub fn max_faults(mut self, n: u64) -> Self {
        self.max_faults = Some(n);
        self
    }

    /// Loses the answers to the first `times` requests of `operation` (e.g.
    /// `FailoverDBCluster`): each is forwarded and applied, then the connection breaks.
    #[must_use]
    pub fn lose_answer(mut self, operation: impl Into<String>, times: u64) -> Self {
        self.lose_answers.insert(operation.into(), times);
        self
    }

    /// Makes `region` dark: every request signed for one of its regional services is held
    /// forever (global services pass).
    #[must_use]
    pub fn dark_region(mut self, region: impl Into<String>) -> Self {
        self.dark_regions.push(region.into());
        self
    }

    /// Holds a lost answer for `after` before breaking the connection.
    #[must_use]
    pub fn lose_after(mut self, after: Duration) -> Self {
        self.lose_after = after;
        self
    }
}

/// Counts of one service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ServiceStats {
    /// Requests received.
    pub requests: u64,
    /// Faults injected.
    pub faults: u64,
}

/// What the proxy did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FaultStats {
    /// Requests received (stats requests excepted).
    pub requests: u64,
    /// Requests forwarded to the upstream.
    pub forwarded: u64,
    /// Forwards that failed (upstream unreachable): answered 502.
    pub upstream_errors: u64,
    /// Faults injected, by kind name (`throttle`, `5xx`, `timeout`).
    pub faults: BTreeMap<String, u64>,
    /// All faults injected.
    pub faults_total: u64,
    /// Requests held forever (blackhole, or a dark region).
    pub blackholed: u64,
    /// Of those, requests to a dark region.
    pub dark: u64,
    /// Per service (from the credential scope; `-` for unsigned requests).
    pub by_service: BTreeMap<String, ServiceStats>,
    /// Signed requests per operation ([`operation_of`]), faulted or not.
    pub by_operation: BTreeMap<String, u64>,
    /// Signed requests per `region/service` of their credential scope ([`region_of`]), e.g.
    /// `us-east-1/rds`.
    pub by_region: BTreeMap<String, u64>,
    /// Answers lost after the request was forwarded ([`FaultKind::LostAnswer`]).
    pub answers_lost: u64,
}

/// The AWS operation a request calls: the query protocols' `Action=` form field (RDS,
/// ElastiCache, IAM, EC2...), the JSON protocols' `X-Amz-Target` (`CertificateManager.
/// DescribeCertificate` -> `DescribeCertificate`), else the REST method and path without the
/// query (`POST /2013-04-01/hostedzone/Z1/rrset/`).
pub fn operation_of(method: &Method, path: &str, headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(target) = header(headers, "x-amz-target") {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    let form = header(headers, "content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if form {
        let action = std::str::from_utf8(body)
            .ok()
            .into_iter()
            .flat_map(|text| text.split('&'))
            .find_map(|pair| pair.strip_prefix("Action="));
        if let Some(action) = action {
            return action.to_owned();
        }
    }
    let path = path.split('?').next().unwrap_or(path);
    format!("{method} {path}")
}

/// The AWS wire protocol of a request, which decides the shape of an error answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// awsQuery (RDS, ElastiCache, IAM, STS, CloudWatch): `<ErrorResponse><Error>...`.
    Query,
    /// ec2Query: `<Response><Errors><Error>...`.
    Ec2Query,
    /// restXml with the `<ErrorResponse>` wrapper (Route 53, CloudFront).
    RestXmlWrapped,
    /// restXml with a bare `<Error>` (S3).
    RestXml,
    /// awsJson 1.0 / 1.1 (ACM, DynamoDB, KMS...): `{"__type": ...}`.
    AwsJson,
    /// restJson1 (EKS, Lambda...): the code in `x-amzn-errortype`.
    RestJson,
}

impl Protocol {
    /// The protocol of a request to `service` (the signing name of the credential scope), with
    /// the request's headers as a fallback for services not listed.
    pub fn of(service: Option<&str>, headers: &HeaderMap) -> Self {
        match service.unwrap_or_default() {
            "rds"
            | "elasticache"
            | "iam"
            | "sts"
            | "monitoring"
            | "sns"
            | "cloudformation"
            | "autoscaling"
            | "elasticloadbalancing"
            | "ses" => Protocol::Query,
            "ec2" => Protocol::Ec2Query,
            "s3" => Protocol::RestXml,
            "route53" | "cloudfront" => Protocol::RestXmlWrapped,
            "acm" | "dynamodb" | "kms" | "logs" | "secretsmanager" | "ssm" | "events" => {
                Protocol::AwsJson
            }
            "eks" | "lambda" | "backup" => Protocol::RestJson,
            _ => {
                let content_type = header(headers, "content-type").unwrap_or_default();
                if headers.contains_key("x-amz-target") || content_type.contains("x-amz-json") {
                    Protocol::AwsJson
                } else if content_type.contains("x-www-form-urlencoded") {
                    Protocol::Query
                } else if content_type.contains("json") {
                    Protocol::RestJson
                } else {
                    Protocol::RestXml
                }
            }
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The service of a sigv4 `Authorization` header: the fourth part of its credential scope
/// (`Credential=AKID/20260101/us-west-2/rds/aws4_request` gives `rds`).
pub fn service_of(authorization: &str) -> Option<&str> {
    let start = authorization.find("Credential=")? + "Credential=".len();
    let scope = authorization[start..].split([',', ' ']).next()?;
    let mut parts = scope.split('/');
    let service = parts.nth(3)?;
    (parts.next() == Some("aws4_request") && !service.is_empty()).then_some(service)
}

/// The region of a sigv4 `Authorization` header's credential scope (`us-west-2` in
/// `Credential=AKID/20261129/us-west-2/rds/aws4_request`). Global services sign for
/// `us-east-1` (Route 53, IAM) as AWS documents, so [`FaultStats::by_region`] counts them
/// there too: read it per service.
pub fn region_of(authorization: &str) -> Option<&str> {
    service_of(authorization)?;
    let start = authorization.find("Credential=")? + "Credential=".len();
    let scope = authorization[start..].split([',', ' ']).next()?;
    scope.split('/').nth(2).filter(|r| !r.is_empty())
}

/// An error answer: status, content type, extra headers, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorAnswer {
    /// HTTP status.
    pub status: u16,
    /// `content-type`.
    pub content_type: &'static str,
    /// Other headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: String,
}

/// The error answer of `kind` in `protocol`. `variant` alternates the 5xx answers (even: 500,
/// odd: 503); `request_id` goes where AWS puts its request id.
pub fn error_answer(
    protocol: Protocol,
    kind: FaultKind,
    variant: u64,
    request_id: &str,
) -> ErrorAnswer {
    let unavailable = variant % 2 == 1;
    // (status, code, message, sender fault?)
    let (status, code, message, sender) = match (protocol, kind) {
        (_, FaultKind::Timeout | FaultKind::LostAnswer) => {
            (504, "RequestTimeout", "Gateway time-out", false)
        }
        (Protocol::Ec2Query, FaultKind::Throttle) => {
            (503, "RequestLimitExceeded", "Request limit exceeded.", true)
        }
        (Protocol::RestXml, FaultKind::Throttle) => {
            (503, "SlowDown", "Please reduce your request rate.", true)
        }
        (Protocol::AwsJson, FaultKind::Throttle) => {
            (400, "ThrottlingException", "Rate exceeded", true)
        }
        (Protocol::RestJson, FaultKind::Throttle) => {
            (429, "ThrottlingException", "Rate exceeded", true)
        }
        (_, FaultKind::Throttle) => (400, "Throttling", "Rate exceeded", true),
        (Protocol::Ec2Query, FaultKind::ServerError) if unavailable => {
            (503, "Unavailable", "The server is overloaded.", false)
        }
        (Protocol::Ec2Query | Protocol::RestXml, FaultKind::ServerError) if !unavailable => (
            500,
            "InternalError",
            "We encountered an internal error.",
            false,
        ),
        (Protocol::RestXml, FaultKind::ServerError) => (
            503,
            "ServiceUnavailable",
            "Service is unable to handle request.",
            false,
        ),
        (Protocol::AwsJson | Protocol::RestJson, FaultKind::ServerError) if unavailable => (
            503,
            "ServiceUnavailableException",
            "Service unavailable",
            false,
        ),
        (Protocol::AwsJson, FaultKind::ServerError) => {
            (500, "InternalFailure", "Internal failure", false)
        }
        (Protocol::RestJson, FaultKind::ServerError) => {
            (500, "ServerException", "Internal server error", false)
        }
        (_, FaultKind::ServerError) if unavailable => {
            (503, "ServiceUnavailable", "Service unavailable", false)
        }
        (_, FaultKind::ServerError) => (500, "InternalFailure", "Internal failure", false),
    };
    let message = format!("{message} (injected by drkit fault-proxy)");
    let fault_type = if sender { "Sender" } else { "Receiver" };
    let xml = "text/xml";
    match protocol {
        Protocol::Query | Protocol::RestXmlWrapped => ErrorAnswer {
            status,
            content_type: xml,
            headers: vec![("x-amzn-requestid", request_id.to_owned())],
            body: format!(
                "<ErrorResponse><Error><Type>{fault_type}</Type><Code>{code}</Code>\
                 <Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            ),
        },
        Protocol::Ec2Query => ErrorAnswer {
            status,
            content_type: xml,
            headers: vec![],
            body: format!(
                "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>\
                 </Errors><RequestID>{request_id}</RequestID></Response>"
            ),
        },
        Protocol::RestXml => ErrorAnswer {
            status,
            content_type: "application/xml",
            headers: vec![("x-amz-request-id", request_id.to_owned())],
            body: format!(
                "<Error><Code>{code}</Code><Message>{message}</Message>\
                 <RequestId>{request_id}</RequestId></Error>"
            ),
        },
        Protocol::AwsJson => ErrorAnswer {
            status,
            content_type: "application/x-amz-json-1.1",
            headers: vec![
                ("x-amzn-requestid", request_id.to_owned()),
                ("x-amzn-query-error", format!("{code};{fault_type}")),
            ],
            body: format!(r#"{{"__type":"{code}","message":"{message}"}}"#),
        },
        Protocol::RestJson => ErrorAnswer {
            status,
            content_type: "application/json",
            headers: vec![
                ("x-amzn-requestid", request_id.to_owned()),
                ("x-amzn-errortype", code.to_owned()),
            ],
            body: format!(r#"{{"message":"{message}"}}"#),
        },
    }
}

/// A small seeded RNG (splitmix64): reproducible fault sequences without a dependency.
#[derive(Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        // 53 random bits; the conversions are exact.
        #[allow(clippy::cast_precision_loss)]
        let x = (self.next_u64() >> 11) as f64;
        x / (1u64 << 53) as f64
    }
}

#[derive(Debug)]
struct Shared {
    config: FaultConfig,
    /// Answers still to lose, per operation (from [`FaultConfig::lose_answers`]).
    to_lose: Mutex<BTreeMap<String, u64>>,
    rng: Mutex<SplitMix64>,
    received: AtomicU64,
    faults_done: AtomicU64,
    rotation: AtomicU64,
    stats: Mutex<FaultStats>,
    client: reqwest::Client,
}

enum Decision {
    Forward,
    Fault(FaultKind, u64),
    Blackhole,
}

impl Shared {
    fn with_stats(&self, f: impl FnOnce(&mut FaultStats)) {
        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut stats);
    }

    fn decide(&self, signed: bool, operation: &str) -> Decision {
        let n = self.received.fetch_add(1, Ordering::SeqCst) + 1;
        if self.config.blackhole_after.is_some_and(|after| n > after) {
            return Decision::Blackhole;
        }
        if signed {
            let mut to_lose = self.to_lose.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(left) = to_lose.get_mut(operation).filter(|left| **left > 0) {
                *left -= 1;
                return Decision::Fault(FaultKind::LostAnswer, 0);
            }
        }
        let kinds: &[FaultKind] = if self.config.kinds.is_empty() {
            &FaultKind::ALL
        } else {
            &self.config.kinds
        };
        if !signed || self.config.rate <= 0.0 {
            return Decision::Forward;
        }
        let (hit, r) = {
            let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
            (rng.next_f64() < self.config.rate, rng.next_u64())
        };
        if !hit {
            return Decision::Forward;
        }
        let done = self.faults_done.fetch_add(1, Ordering::SeqCst);
        if self.config.max_faults.is_some_and(|max| done >= max) {
            return Decision::Forward;
        }
        let len = kinds.len() as u64;
        let (index, variant) = match self.config.pick {
            Pick::Rotate => {
                let turn = self.rotation.fetch_add(1, Ordering::SeqCst);
                (turn % len, turn / len)
            }
            Pick::Random => (r % len, r / len),
        };
        let kind = kinds
            .get(usize::try_from(index).unwrap_or_default())
            .copied()
            .unwrap_or(FaultKind::Throttle);
        Decision::Fault(kind, variant)
    }
}

/// A running proxy. Dropping it leaves the server running until the runtime ends; call
/// [`shutdown`](Self::shutdown) to stop it.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts the proxy on `listen` (port 0: a free port).
    pub async fn start(config: FaultConfig, listen: SocketAddr) -> std::io::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            rng: Mutex::new(SplitMix64::new(config.seed)),
            to_lose: Mutex::new(config.lose_answers.clone()),
            config,
            received: AtomicU64::new(0),
            faults_done: AtomicU64::new(0),
            rotation: AtomicU64::new(0),
            stats: Mutex::new(FaultStats::default()),
            client,
        });
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (stop, task) = crate::serve(listener, app);
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Starts it on a free 127.0.0.1 port.
    pub async fn start_local(config: FaultConfig) -> std::io::Result<Self> {
        Self::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL, e.g. `http://127.0.0.1:40123` (the `AWS_ENDPOINT_URL` to give clients).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The counts so far.
    pub fn stats(&self) -> FaultStats {
        self.shared
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops the server (held requests are dropped) and returns the final counts.
    pub async fn shutdown(mut self) -> FaultStats {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        self.stats()
    }
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    if request.method() == Method::GET && request.uri().path() == STATS_PATH {
        let stats = shared
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        return axum::Json(stats).into_response();
    }
    if request.method() == Method::GET && request.uri().path() == crate::fake_arc::STATES_PATH {
        let states = shared.config.arc.as_ref().map(|a| a.states());
        return axum::Json(states).into_response();
    }
    let service = header(request.headers(), "authorization")
        .and_then(service_of)
        .map(str::to_owned);
    let signed = service.is_some();
    let service_name = service.clone().unwrap_or_else(|| "-".to_owned());
    let region = header(request.headers(), "authorization")
        .and_then(region_of)
        .map(str::to_owned);
    let (parts, body) = request.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(err) => {
            return (StatusCode::BAD_REQUEST, format!("fault-proxy: {err}")).into_response();
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let operation = operation_of(&parts.method, path, &parts.headers, &body);
    let dark = region.as_deref().is_some_and(|r| {
        shared.config.dark_regions.iter().any(|d| d == r)
            && !GLOBAL_SERVICES.contains(&service_name.as_str())
    });
    let decision = if dark {
        Decision::Blackhole
    } else {
        shared.decide(signed, &operation)
    };
    shared.with_stats(|s| {
        s.requests += 1;
        if signed {
            *s.by_operation.entry(operation.clone()).or_default() += 1;
        }
        if let Some(region) = &region {
            *s.by_region
                .entry(format!("{region}/{service_name}"))
                .or_default() += 1;
        }
        let per = s.by_service.entry(service_name.clone()).or_default();
        per.requests += 1;
        match &decision {
            Decision::Forward => {}
            Decision::Fault(kind, _) => {
                per.faults += 1;
                s.faults_total += 1;
                *s.faults.entry(kind.name().to_owned()).or_default() += 1;
            }
            Decision::Blackhole => {
                s.blackholed += 1;
                if dark {
                    s.dark += 1;
                }
            }
        }
    });
    match decision {
        Decision::Blackhole => std::future::pending::<Response>().await,
        Decision::Fault(FaultKind::LostAnswer, _) => {
            // The change reaches the upstream and is made; its answer never reaches the client.
            let forwarded = forward(&shared, &parts, body).await;
            shared.with_stats(|s| s.answers_lost += 1);
            drop(forwarded);
            tokio::time::sleep(shared.config.lose_after).await;
            lost_answer()
        }
        Decision::Fault(kind, variant) => {
            let protocol = Protocol::of(service.as_deref(), &parts.headers);
            let id = format!("fault-proxy-{}", shared.received.load(Ordering::SeqCst));
            if kind == FaultKind::Timeout {
                tokio::time::sleep(shared.config.hold).await;
            }
            answer(&error_answer(protocol, kind, variant, &id))
        }
        Decision::Forward => forward(&shared, &parts, body).await,
    }
}

/// An answer that breaks off: status and headers, then a body that fails, so the server aborts
/// the connection and the client has no complete answer.
fn lost_answer() -> Response {
    let broken = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fault-proxy: answer lost",
        ))
    });
    let mut response = Response::new(Body::from_stream(broken));
    *response.status_mut() = StatusCode::OK;
    response
}

fn answer(error: &ErrorAnswer) -> Response {
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, error.body.clone()).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(error.content_type));
    for (name, value) in &error.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}

async fn forward(shared: &Shared, parts: &axum::http::request::Parts, body: Bytes) -> Response {
    if let Some(arc) = &shared.config.arc {
        let service = header(&parts.headers, "authorization").and_then(service_of);
        if service == Some(crate::fake_arc::SERVICE) {
            shared.with_stats(|s| s.forwarded += 1);
            return arc.answer(header(&parts.headers, "x-amz-target"), &body);
        }
    }
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let url = format!("{}{path}", shared.config.upstream);
    let mut headers = parts.headers.clone();
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    let sent = shared
        .client
        .request(parts.method.clone(), &url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let upstream = match sent {
        Ok(r) => r,
        Err(err) => {
            shared.with_stats(|s| s.upstream_errors += 1);
            return (
                StatusCode::BAD_GATEWAY,
                format!("fault-proxy: upstream {url}: {err}"),
            )
                .into_response();
        }
    };
    let status = upstream.status();
    let mut out_headers = upstream.headers().clone();
    for name in HOP_BY_HOP {
        out_headers.remove(*name);
    }
    let bytes = match upstream.bytes().await {
        Ok(b) => b,
        Err(err) => {
            shared.with_stats(|s| s.upstream_errors += 1);
            return (
                StatusCode::BAD_GATEWAY,
                format!("fault-proxy: reading upstream answer: {err}"),
            )
                .into_response();
        }
    };
    shared.with_stats(|s| s.forwarded += 1);
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = out_headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_comes_from_the_credential_scope() {
        let auth = "AWS4-HMAC-SHA256 Credential=test/20261129/us-west-2/rds/aws4_request, \
                    SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(service_of(auth), Some("rds"));
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20261129/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=0";
        assert_eq!(service_of(auth), Some("s3"));
        assert_eq!(service_of("Basic dXNlcjpwYXNz"), None);
        assert_eq!(service_of("AWS4-HMAC-SHA256 Credential=a/b/c"), None);
        assert_eq!(region_of(auth), Some("us-east-1"));
        assert_eq!(region_of("Basic dXNlcjpwYXNz"), None);
    }

    #[test]
    fn each_service_gets_its_protocol() {
        let none = HeaderMap::new();
        let cases = [
            ("rds", Protocol::Query),
            ("elasticache", Protocol::Query),
            ("iam", Protocol::Query),
            ("sts", Protocol::Query),
            ("ec2", Protocol::Ec2Query),
            ("s3", Protocol::RestXml),
            ("route53", Protocol::RestXmlWrapped),
            ("cloudfront", Protocol::RestXmlWrapped),
            ("acm", Protocol::AwsJson),
            ("eks", Protocol::RestJson),
        ];
        for (service, protocol) in cases {
            assert_eq!(Protocol::of(Some(service), &none), protocol, "{service}");
        }
        let mut json = HeaderMap::new();
        json.insert("x-amz-target", HeaderValue::from_static("Foo.Bar"));
        assert_eq!(Protocol::of(Some("newservice"), &json), Protocol::AwsJson);
        let mut form = HeaderMap::new();
        form.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        assert_eq!(Protocol::of(None, &form), Protocol::Query);
    }

    #[test]
    fn error_shapes_follow_the_protocol() {
        let q = error_answer(Protocol::Query, FaultKind::Throttle, 0, "r1");
        assert_eq!(q.status, 400);
        assert!(
            q.body
                .starts_with("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>")
        );
        let ec2 = error_answer(Protocol::Ec2Query, FaultKind::Throttle, 0, "r1");
        assert!(
            ec2.body
                .contains("<Errors><Error><Code>RequestLimitExceeded</Code>")
        );
        let s3 = error_answer(Protocol::RestXml, FaultKind::Throttle, 0, "r1");
        assert_eq!(s3.status, 503);
        assert!(s3.body.starts_with("<Error><Code>SlowDown</Code>"));
        let r53 = error_answer(Protocol::RestXmlWrapped, FaultKind::Throttle, 0, "r1");
        assert!(r53.body.contains("<Code>Throttling</Code>"));
        let acm = error_answer(Protocol::AwsJson, FaultKind::Throttle, 0, "r1");
        assert!(acm.body.contains(r#""__type":"ThrottlingException""#));
        assert!(acm.content_type.starts_with("application/x-amz-json"));
        let eks = error_answer(Protocol::RestJson, FaultKind::Throttle, 0, "r1");
        assert_eq!(eks.status, 429);
        assert!(
            eks.headers
                .contains(&("x-amzn-errortype", "ThrottlingException".to_owned()))
        );

        // 5xx alternate 500 and 503, in every protocol.
        for protocol in [
            Protocol::Query,
            Protocol::Ec2Query,
            Protocol::RestXml,
            Protocol::RestXmlWrapped,
            Protocol::AwsJson,
            Protocol::RestJson,
        ] {
            assert_eq!(
                error_answer(protocol, FaultKind::ServerError, 0, "r").status,
                500
            );
            assert_eq!(
                error_answer(protocol, FaultKind::ServerError, 1, "r").status,
                503
            );
        }
    }

    #[test]
    fn the_operation_comes_from_the_form_the_target_or_the_rest_path() {
        let mut form = HeaderMap::new();
        form.insert(
            "content-type",
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        let body = b"Action=FailoverDBCluster&Version=2014-10-31&DBClusterIdentifier=c1";
        assert_eq!(
            operation_of(&Method::POST, "/", &form, body),
            "FailoverDBCluster"
        );
        let mut json = HeaderMap::new();
        json.insert(
            "x-amz-target",
            HeaderValue::from_static("CertificateManager.DescribeCertificate"),
        );
        assert_eq!(
            operation_of(&Method::POST, "/", &json, b"{}"),
            "DescribeCertificate"
        );
        assert_eq!(
            operation_of(
                &Method::POST,
                "/2013-04-01/hostedzone/Z1/rrset/?x=1",
                &HeaderMap::new(),
                b"<xml/>"
            ),
            "POST /2013-04-01/hostedzone/Z1/rrset/"
        );
    }

    #[test]
    fn the_answers_of_a_named_operation_are_lost_whatever_the_rate() {
        let config = FaultConfig::new("http://x").lose_answer("FailoverDBCluster", 2);
        let s = Shared {
            rng: Mutex::new(SplitMix64::new(0)),
            to_lose: Mutex::new(config.lose_answers.clone()),
            config,
            received: AtomicU64::new(0),
            faults_done: AtomicU64::new(0),
            rotation: AtomicU64::new(0),
            stats: Mutex::new(FaultStats::default()),
            client: reqwest::Client::new(),
        };
        assert!(matches!(
            s.decide(true, "DescribeDBClusters"),
            Decision::Forward
        ));
        for _ in 0..2 {
            assert!(matches!(
                s.decide(true, "FailoverDBCluster"),
                Decision::Fault(FaultKind::LostAnswer, _)
            ));
        }
        assert!(matches!(
            s.decide(true, "FailoverDBCluster"),
            Decision::Forward
        ));
        assert_eq!(FaultKind::parse("lost"), Some(FaultKind::LostAnswer));
        assert!(!FaultKind::ALL.contains(&FaultKind::LostAnswer));
    }

    #[test]
    fn decisions_follow_the_rate_and_rotate_the_kinds() {
        let shared = |config: FaultConfig| Shared {
            rng: Mutex::new(SplitMix64::new(config.seed)),
            to_lose: Mutex::new(config.lose_answers.clone()),
            config,
            received: AtomicU64::new(0),
            faults_done: AtomicU64::new(0),
            rotation: AtomicU64::new(0),
            stats: Mutex::new(FaultStats::default()),
            client: reqwest::Client::new(),
        };
        let s = shared(FaultConfig::new("http://x").rate(0.3).seed(7));
        let mut kinds = Vec::new();
        for _ in 0..10_000 {
            if let Decision::Fault(kind, _) = s.decide(true, "Op") {
                kinds.push(kind);
            }
        }
        assert!((2700..3300).contains(&kinds.len()), "{}", kinds.len());
        assert_eq!(
            &kinds[..4],
            &[
                FaultKind::Throttle,
                FaultKind::ServerError,
                FaultKind::Timeout,
                FaultKind::Throttle
            ]
        );
        // Unsigned requests are never faulted.
        assert!(matches!(s.decide(false, "Op"), Decision::Forward));

        let s = shared(
            FaultConfig::new("http://x")
                .rate(1.0)
                .max_faults(2)
                .blackhole_after(4),
        );
        assert!(matches!(s.decide(true, "Op"), Decision::Fault(..)));
        assert!(matches!(s.decide(true, "Op"), Decision::Fault(..)));
        assert!(matches!(s.decide(true, "Op"), Decision::Forward));
        assert!(matches!(s.decide(true, "Op"), Decision::Forward));
        assert!(matches!(s.decide(true, "Op"), Decision::Blackhole));
        assert!(matches!(s.decide(false, "Op"), Decision::Blackhole));

        // Same seed, same sequence.
        let a: Vec<u64> = {
            let mut r = SplitMix64::new(42);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = SplitMix64::new(42);
            (0..5).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
    }
}
