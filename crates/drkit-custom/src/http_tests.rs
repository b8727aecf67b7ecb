//! `http.request` against a real local HTTP server (axum on 127.0.0.1) through the real
//! adapter: statuses, outputs, check / verify, redirects not followed, the Idempotency-Key the
//! same after a lost answer, an unknown outcome without one, secrets nowhere.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionRef, Check, Context, ErrorKind, Outputs};
use serde_json::{Value, json};

use crate::register;

const TOKEN: &str = "status-token-8c1f2e";

/// What the server saw and how it answers.
#[derive(Default)]
pub(crate) struct Seen {
    /// `(Idempotency-Key, Authorization, body)` of each POST /incidents.
    pub(crate) posts: Vec<(Option<String>, Option<String>, Value)>,
    /// POSTs whose answer is lost (the server waits past the client's time-out).
    lose: usize,
    /// The status of the next POSTs (201 when none).
    statuses: Vec<u16>,
}

pub(crate) type Shared = Arc<Mutex<Seen>>;

async fn incidents(
    State(seen): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> impl IntoResponse {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (lose, status) = {
        let mut seen = seen.lock().unwrap();
        let body = serde_json::from_str(&body).unwrap_or(Value::Null);
        seen.posts
            .push((header("idempotency-key"), header("authorization"), body));
        let lose = seen.lose > 0;
        seen.lose = seen.lose.saturating_sub(1);
        let status = if seen.statuses.is_empty() {
            201
        } else {
            seen.statuses.remove(0)
        };
        (lose, status)
    };
    if lose {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let status = StatusCode::from_u16(status).unwrap();
    let n = seen.lock().unwrap().posts.len();
    (
        status,
        [("content-type", "application/json")],
        json!({"data": {"id": format!("inc-{n}")}, "echo": header("authorization")}).to_string(),
    )
}

async fn current(State(seen): State<Shared>) -> impl IntoResponse {
    let open = !seen.lock().unwrap().posts.is_empty();
    if open {
        (StatusCode::OK, "status: degraded (DR in progress)")
    } else {
        (StatusCode::NOT_FOUND, "no incident")
    }
}

async fn moved() -> impl IntoResponse {
    (
        StatusCode::FOUND,
        [("location", "http://elsewhere.invalid/x")],
        "",
    )
}

/// A server on a free port, and what it saw.
pub(crate) async fn server() -> (String, Shared) {
    let seen = Shared::default();
    let app = Router::new()
        .route("/incidents", post(incidents))
        .route("/incidents/current", get(current))
        .route("/moved", post(moved))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

fn build(params: Value) -> ActionRef {
    let mut registry = Registry::new();
    register(&mut registry).unwrap();
    registry
        .build(&ActionSpec::new("status-page", "http.request", params))
        .unwrap()
}

fn refused(params: Value) -> String {
    let mut registry = Registry::new();
    register(&mut registry).unwrap();
    registry
        .build(&ActionSpec::new("status-page", "http.request", params))
        .unwrap_err()
        .to_string()
}

/// A token in a file, referenced as a secret.
fn token_file(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("token");
    std::fs::write(&path, format!("Bearer {TOKEN}\n")).unwrap();
    format!("file:{}", path.display())
}

fn ctx() -> Context {
    Context::new()
        .with_step("status-page")
        .with_run("run-42", std::time::SystemTime::now())
}

#[test]
fn bad_parameters_are_refused_naming_them() {
    let cases = [
        (
            json!({"method": "FETCH", "url": "http://x"}),
            "method",
            "unknown method",
        ),
        (
            json!({"method": "POST", "url": "ftp://x/y"}),
            "url",
            "scheme ftp",
        ),
        (
            json!({"method": "POST", "url": "https://ops:pw@x/y"}),
            "url",
            "credentials",
        ),
        (json!({"method": "POST", "url": "x"}), "url", "not a URL"),
        (
            json!({"method": "POST", "url": "http://x", "outputs": {"id": "data.id"}}),
            "outputs",
            "not a JSON pointer",
        ),
        (
            json!({"method": "POST", "url": "http://x", "headers": {"bad header": "x"}}),
            "headers",
            "not a header name",
        ),
        (
            json!({"method": "POST", "url": "http://x", "expect_status": 1000}),
            "expect_status",
            "between 100 and 599",
        ),
        (
            json!({"method": "POST", "url": "http://x", "check": {"url": "http://x", "method": "BREW"}}),
            "check.method",
            "unknown method",
        ),
        (
            json!({"method": "POST", "url": "http://x", "idempotency_key": true, "headers": {"idempotency-key": "k"}}),
            "headers",
            "set by drkit",
        ),
    ];
    for (params, param, says) in cases {
        let err = refused(params.clone());
        assert!(
            err.contains(param) && err.contains(says),
            "{params}: expected `{param}` / `{says}` in: {err}"
        );
        assert!(!err.contains(":pw@"), "the credential was repeated: {err}");
    }
}

/// POST with a secret header and a JSON body: the outputs come from the answer, the secret
/// reached the server, and nothing drkit keeps holds it, though the server echoed it.
#[tokio::test]
async fn a_post_gives_its_outputs_and_the_secret_header_is_nowhere() {
    let (base, seen) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let action = build(json!({
        "method": "POST",
        "url": format!("{base}/incidents"),
        "headers": {"Authorization": {"secret": token_file(&dir)}},
        "json": {"status": "degraded", "message": "Failing over to us-west-2"},
        "expect_status": [200, 201],
        "outputs": {"incident_id": "/data/id", "echo": "/echo"},
        "verify": {"url": format!("{base}/incidents/current"), "body_contains": "DR in progress"},
    }));
    let ctx = ctx();
    let outputs = action.execute(&ctx).await.unwrap();
    assert_eq!(outputs.get("status"), Some(&json!(201)));
    assert_eq!(outputs.get_str("incident_id"), Some("inc-1"));
    assert_eq!(outputs.get_str("echo"), Some("[REDACTED]"));
    let verified = action.verify(&ctx).await.unwrap();
    assert!(verified.contains("answered 200"), "{verified}");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.posts.len(), 1);
        assert_eq!(
            seen.posts[0].1.as_deref(),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(seen.posts[0].2["status"], "degraded");
        assert_eq!(seen.posts[0].0, None, "no Idempotency-Key unless asked");
    }
    let kept = format!("{outputs:?} {:?} {action:?} {:?}", ctx.intent(), verified);
    assert!(!kept.contains(TOKEN), "{kept}");
}

/// The answer to the first POST is lost; the retry sends the same Idempotency-Key.
#[tokio::test]
async fn the_idempotency_key_is_the_same_after_a_lost_answer() {
    let (base, seen) = server().await;
    seen.lock().unwrap().lose = 1;
    let action = build(json!({
        "method": "POST",
        "url": format!("{base}/incidents"),
        "json": {"status": "degraded"},
        "idempotency_key": true,
        "timeout": "500ms",
    }));
    let ctx = ctx();
    let lost = action.execute(&ctx).await.unwrap_err();
    assert_eq!(lost.kind(), ErrorKind::Timeout, "{lost}");
    assert!(lost.maybe_applied());
    // What the retry layer (or a resume) does next: check, then execute again.
    let Check::Ready { change } = action.check(&ctx).await.unwrap() else {
        panic!("not ready")
    };
    assert!(change.contains("same Idempotency-Key"), "{change}");
    action.execute(&ctx).await.unwrap();
    let keys: Vec<Option<String>> = seen
        .lock()
        .unwrap()
        .posts
        .iter()
        .map(|p| p.0.clone())
        .collect();
    assert_eq!(keys, vec![Some("run-42/status-page".to_owned()); 2]);
}

/// Without a key or a check, a lost answer makes the outcome unknown: the step asks.
#[tokio::test]
async fn a_lost_answer_without_a_key_or_check_is_unknown() {
    let (base, seen) = server().await;
    seen.lock().unwrap().lose = 1;
    let action = build(json!({
        "method": "POST", "url": format!("{base}/incidents"), "timeout": "300ms",
    }));
    let ctx = ctx();
    assert!(action.execute(&ctx).await.unwrap_err().maybe_applied());
    assert!(matches!(
        action.check(&ctx).await.unwrap(),
        Check::Unknown { .. }
    ));
    // A resume in another process is given the journalled intent: the same answer.
    let resumed = ctx.clone().with_recorded_intent(ctx.intent());
    assert!(matches!(
        build(json!({
            "method": "POST", "url": format!("{base}/incidents"), "timeout": "300ms",
        }))
        .check(&resumed)
        .await
        .unwrap(),
        Check::Unknown { .. }
    ));
}

/// A check request whose expected answer says the work is done: nothing is posted.
#[tokio::test]
async fn a_check_that_says_done_posts_nothing() {
    let (base, seen) = server().await;
    let params = json!({
        "method": "POST",
        "url": format!("{base}/incidents"),
        "check": {"url": format!("{base}/incidents/current"), "expect_status": 200},
    });
    let action = build(params);
    let Check::Ready { change } = action.check(&ctx()).await.unwrap() else {
        panic!("not ready")
    };
    assert!(change.contains("answered 404, not 200"), "{change}");
    action.execute(&ctx()).await.unwrap();
    assert!(action.check(&ctx()).await.unwrap().is_done());
    assert_eq!(seen.lock().unwrap().posts.len(), 1);
}

#[tokio::test]
async fn refusals_redirects_and_server_errors_say_what_they_are() {
    let (base, seen) = server().await;
    seen.lock().unwrap().statuses = vec![403, 503];
    let action = build(json!({"method": "POST", "url": format!("{base}/incidents")}));
    let ctx = ctx();
    let denied = action.execute(&ctx).await.unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::AccessDenied);
    assert_eq!(denied.code(), Some("403"));
    assert!(!denied.maybe_applied());
    assert!(
        ctx.intent().is_none(),
        "a refusal changed nothing: no intent left"
    );
    let failed = action.execute(&ctx).await.unwrap_err();
    assert!(failed.is_retryable() && failed.maybe_applied(), "{failed}");

    let moved = build(json!({"method": "POST", "url": format!("{base}/moved")}));
    let err = moved.execute(&Context::new()).await.unwrap_err();
    assert!(
        err.message()
            .contains("redirect to http://elsewhere.invalid/x (redirects are not followed"),
        "{err}"
    );
}

#[tokio::test]
async fn nothing_listening_means_nothing_was_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let action = build(json!({"method": "POST", "url": format!("http://127.0.0.1:{port}/x")}));
    let ctx = ctx();
    let err = action.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.message().contains("nothing was sent"), "{err}");
    assert!(!err.maybe_applied());
    assert!(ctx.intent().is_none());
    assert_eq!(ctx.intent(), None::<Outputs>);
}
