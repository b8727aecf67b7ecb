//! Unit tests with the mocked port, answering as the Lambda API reference documents `Invoke`:
//! a result payload, a function error (`X-Amz-Function-Error` with `errorType` and
//! `errorMessage` in the payload), `TooManyRequestsException` (429),
//! `ResourceNotFoundException` (404), and an answer that never came.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::kind::with_port;
use drkit_core::{
    ActionExt, ActionRef, Check, Context, ErrorKind, RecoveryAction, RetryPolicy, StepSpec,
};
use serde_json::json;

use super::*;
use crate::port::MockLambdaApi;

fn built(params: InvokeParams, api: MockLambdaApi) -> Invoke {
    with_port::<Invoke>(StepSpec::new("drain", params), Arc::new(api)).unwrap()
}

fn retried(action: Invoke) -> ActionRef {
    let action: ActionRef = Arc::new(action);
    action.with_retry(
        RetryPolicy::attempts(3)
            .initial_backoff(Duration::from_millis(10))
            .jitter(false),
    )
}

fn drain() -> InvokeParams {
    InvokeParams::new("mint-drain")
        .payload(json!({"queue": "jobs", "run": "r-1"}))
        .qualifier("live")
        .output("drained", "/result/drained")
        .output("first", "/result/ids/0")
}

#[tokio::test]
async fn a_result_gives_the_outputs_and_the_answer_is_journalled() {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&sent);
    let mut api = MockLambdaApi::new();
    api.expect_invoke().times(1).returning(move |request| {
        seen.lock().unwrap().push(request);
        Ok(Invocation::ok(
            r#"{"result": {"drained": 42, "ids": ["j-1", "j-2"]}}"#,
            "7",
        ))
    });
    let action = built(drain(), api);
    let ctx = Context::new()
        .with_step("drain")
        .with_run("run-1", std::time::SystemTime::now());
    match action.check(&ctx).await.unwrap() {
        Check::Ready { change } => assert!(
            change.contains("lambda:function/mint-drain:live") && change.contains("28-byte"),
            "{change}"
        ),
        other => panic!("{other:?}"),
    }
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get("drained"), Some(&json!(42)));
    assert_eq!(out.get_str("first"), Some("j-1"));
    assert_eq!(out.get("status_code"), Some(&json!(200)));
    assert_eq!(out.get_str("executed_version"), Some("7"));
    let request = sent.lock().unwrap()[0].clone();
    assert_eq!(request.function, "mint-drain");
    assert_eq!(request.qualifier.as_deref(), Some("live"));
    assert_eq!(
        serde_json::from_slice::<Value>(&request.payload.unwrap()).unwrap(),
        json!({"queue": "jobs", "run": "r-1"})
    );
    // The intent names the function, run and step; the answer is recorded with it.
    let intent = ctx.intent().unwrap();
    assert_eq!(intent.get_str("function"), Some("mint-drain"));
    assert_eq!(intent.get_str("run"), Some("run-1"));
    assert_eq!(intent.get_str("step"), Some("drain"));
    assert_eq!(intent.get("status_code"), Some(&json!(200)));
    // Checked again (a retry, a resume of this run): done, with the same outputs, no second
    // invocation (the mock allows one).
    match action.check(&ctx).await.unwrap() {
        Check::Done { outputs, .. } => assert_eq!(outputs, out),
        other => panic!("{other:?}"),
    }
    let verified = action.verify(&ctx).await.unwrap();
    assert!(verified.contains("without a function error"), "{verified}");
    // A resumed run's new instance, given the journalled intent, finds it done too.
    let resumed = built(drain(), MockLambdaApi::new());
    let resumed_ctx = Context::new().with_recorded_intent(Some(intent));
    assert!(resumed.check(&resumed_ctx).await.unwrap().is_done());
}

#[tokio::test]
async fn a_function_error_fails_the_step_with_its_type_and_message_not_retryable() {
    let mut api = MockLambdaApi::new();
    api.expect_invoke().times(1).returning(|_| {
        Ok(Invocation::failed(
            "Unhandled",
            r#"{"errorType": "QueueLocked", "errorMessage": "queue jobs is locked by r-0", "stackTrace": ["at drain (index.js:12)"]}"#,
        ))
    });
    let action = retried(built(drain(), api));
    let ctx = Context::new();
    let e = action.execute(&ctx).await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    assert_eq!(e.code(), Some("QueueLocked"));
    assert_eq!(e.operation(), Some("Invoke"));
    assert!(
        e.message().contains("Unhandled") && e.message().contains("queue jobs is locked by r-0"),
        "{e}"
    );
    assert!(!e.message().contains("index.js"), "no stack trace: {e}");
    // The function ran and failed: a resume runs it again (ready), verify fails.
    match action.check(&ctx).await.unwrap() {
        Check::Ready { change } => assert!(change.contains("again"), "{change}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        action.verify(&ctx).await.unwrap_err().kind(),
        ErrorKind::PostconditionFailed
    );
}

/// A time-out inside the function is an `Unhandled` error whose payload may have no
/// `errorType`: the error still says what happened.
#[tokio::test]
async fn a_function_error_without_an_error_type_is_named_by_its_kind() {
    let mut api = MockLambdaApi::new();
    api.expect_invoke().returning(|_| {
        Ok(Invocation::failed(
            "Unhandled",
            r#"{"errorMessage": "2025-01-01T00:00:03.000Z 1b2c Task timed out after 3.00 seconds"}"#,
        ))
    });
    let e = built(InvokeParams::new("mint-drain"), api)
        .execute(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("Unhandled"));
    assert!(e.message().contains("Task timed out"), "{e}");
}

#[tokio::test]
async fn throttling_is_retried_and_the_function_runs_once() {
    let mut api = MockLambdaApi::new();
    let mut calls = 0;
    api.expect_invoke().times(2).returning(move |_| {
        calls += 1;
        if calls == 1 {
            Err(ActionError::new(ErrorKind::Throttled, "Rate Exceeded.")
                .with_code("TooManyRequestsException"))
        } else {
            Ok(Invocation::ok(
                r#"{"result": {"drained": 1, "ids": ["j"]}}"#,
                "7",
            ))
        }
    });
    let action = retried(built(drain(), api));
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("drained"), Some(&json!(1)));
}

#[tokio::test]
async fn a_missing_function_is_not_retried_and_is_named() {
    let mut api = MockLambdaApi::new();
    api.expect_invoke().times(1).returning(|_| {
        Err(ActionError::new(
            ErrorKind::NotFound,
            "Function not found: arn:aws:lambda:us-west-2:123456789012:function:mint-drain:live",
        )
        .with_code("ResourceNotFoundException"))
    });
    let action = retried(built(drain().in_region("us-west-2"), api));
    let ctx = Context::new();
    let e = action.execute(&ctx).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(!e.is_retryable());
    assert!(
        e.to_string()
            .contains("no function `mint-drain` in us-west-2"),
        "{e}"
    );
    // Lambda refused it: nothing ran, nothing to reconcile.
    assert!(ctx.intent().is_none());
    assert!(matches!(
        action.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
}

/// The answer never came (the connection broke after the request was sent): the function
/// may have run. The step is not invoked again — not by the retry layer, not by a resume —
/// until a person decides ([`Check::Unknown`]).
#[tokio::test]
async fn a_lost_answer_is_never_invoked_again_blindly() {
    let mut api = MockLambdaApi::new();
    api.expect_invoke().times(1).returning(|_| {
        Err(ActionError::new(
            ErrorKind::Unavailable,
            "the request was not answered: connection reset",
        ))
    });
    let action = retried(built(drain(), api));
    let ctx = Context::new().with_step("drain");
    let e = action.execute(&ctx).await.unwrap_err();
    assert!(e.maybe_applied(), "{e}");
    assert!(e.message().contains("unknown"), "{e}");
    let intent = ctx.intent().unwrap();
    assert!(intent.get("status_code").is_none());
    match action.check(&ctx).await.unwrap() {
        Check::Unknown { question } => {
            assert!(question.contains("may have run"), "{question}");
            assert!(
                question.contains("lambda:function/mint-drain:live"),
                "{question}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A resumed run (another process): the same question, and no invocation (the mock of
    // the resumed instance expects none).
    let resumed = built(drain(), MockLambdaApi::new());
    let resumed_ctx = Context::new().with_recorded_intent(Some(intent));
    assert!(matches!(
        resumed.check(&resumed_ctx).await.unwrap(),
        Check::Unknown { .. }
    ));
}

#[tokio::test]
async fn an_output_the_answer_lacks_fails_the_step_naming_it() {
    let mut api = MockLambdaApi::new();
    api.expect_invoke()
        .returning(|_| Ok(Invocation::ok(r#"{"result": {"drained": 3}}"#, "7")));
    let action = built(drain(), api);
    let ctx = Context::new();
    let e = action.execute(&ctx).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PostconditionFailed);
    assert!(
        e.message().contains("output `first`") && e.message().contains("/result/ids/0"),
        "{e}"
    );
    let mut api = MockLambdaApi::new();
    api.expect_invoke()
        .returning(|_| Ok(Invocation::ok("done", "7")));
    let e = built(drain(), api)
        .execute(&Context::new())
        .await
        .unwrap_err();
    assert!(e.message().contains("not JSON: done"), "{e}");
}

#[tokio::test]
async fn a_read_only_function_journals_nothing_and_stays_ready() {
    let mut api = MockLambdaApi::new();
    api.expect_invoke()
        .times(2)
        .returning(|_| Ok(Invocation::ok(r#"{"healthy": true}"#, "$LATEST")));
    let action = built(
        InvokeParams::new("mint-health")
            .output("healthy", "/healthy")
            .read_only(),
        api,
    );
    assert!(!action.mutates());
    let ctx = Context::new();
    for _ in 0..2 {
        let out = action.execute(&ctx).await.unwrap();
        assert_eq!(out.get("healthy"), Some(&json!(true)));
        assert!(ctx.intent().is_none());
        assert!(matches!(
            action.check(&ctx).await.unwrap(),
            Check::Ready { .. }
        ));
    }
    action.verify(&ctx).await.unwrap();
}

#[test]
fn the_call_goes_to_the_functions_region() {
    let region_of = |params: InvokeParams, step: Option<&str>| {
        let spec = StepSpec::new("s", params).in_region(step);
        let api: Arc<dyn LambdaApi> = Arc::new(MockLambdaApi::new());
        let ports = PortFactory::fixed(api);
        Invoke::build(spec, &ports).unwrap().base.target.region
    };
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:f";
    assert_eq!(
        region_of(InvokeParams::new(arn), Some("us-west-2")).as_deref(),
        Some("us-east-1")
    );
    assert_eq!(
        region_of(InvokeParams::new("f"), Some("us-west-2")).as_deref(),
        Some("us-west-2")
    );
    assert_eq!(
        region_of(
            InvokeParams::new("f").in_region("eu-west-1"),
            Some("us-west-2")
        )
        .as_deref(),
        Some("eu-west-1")
    );
    assert_eq!(region_of(InvokeParams::new("f"), None), None);
}

#[test]
fn parameters_are_validated_before_any_call() {
    let refused = |p: InvokeParams| Invoke::validate(&p).unwrap_err().to_string();
    assert!(refused(InvokeParams::new("no spaces")).contains("`function`"));
    assert!(refused(InvokeParams::new("f").qualifier("v/1")).contains("`qualifier`"));
    assert!(refused(InvokeParams::new("f:blue").qualifier("green")).contains("already names"));
    assert!(refused(InvokeParams::new("f").in_region("us-west")).contains("`region`"));
    assert!(refused(InvokeParams::new("f").output("x", "a/b")).contains("not a JSON pointer"));
    assert!(refused(InvokeParams::new("f").output("status_code", "/s")).contains("drkit itself"));
    let big = InvokeParams::new("f").payload(json!({"data": "x".repeat(MAX_PAYLOAD)}));
    assert!(refused(big).contains("at most 6 MB"));
    for ok in [
        InvokeParams::new("f:blue").qualifier("blue"),
        InvokeParams::new("f").output("all", "").output("id", "/id"),
        InvokeParams::new("arn:aws:lambda:us-east-1:123456789012:function:f")
            .in_region("us-east-1"),
        InvokeParams::new("f").payload(json!({"data": "x".repeat(MAX_PAYLOAD - 20)})),
    ] {
        Invoke::validate(&ok).unwrap();
    }
}
