//! The adapter through the real SDK client against a canned endpoint answering as the Lambda
//! API reference documents `Invoke` (REST-JSON: the payload is the body, the function error
//! and executed version are headers; errors name their type in `X-Amzn-ErrorType`). Shows the
//! request drkit sends, how the SDK's answer is decoded, and that the SDK makes one attempt.

use drkit_core::ErrorKind;
use drkit_testkit::canned::{Answer, CannedAws, Received};
use serde_json::{Value, json};

use super::*;

async fn lambda(answer: Answer) -> (CannedAws, SdkLambda) {
    let aws = CannedAws::start(move |_| answer.clone()).await;
    let lambda = SdkLambda::from_config(&aws.sdk_config("us-west-2").await);
    (aws, lambda)
}

fn drain() -> InvokeRequest {
    InvokeRequest::new("mint-drain", Some(br#"{"queue":"jobs"}"#.to_vec()))
        .qualified(Some("live".into()))
}

/// A REST-JSON error as Lambda answers it.
fn error(status: u16, code: &str, message: &str) -> Answer {
    Answer::raw(json!({"Type": "User", "message": message}).to_string())
        .with_status(status)
        .with_header("x-amzn-ErrorType", code)
}

fn only(received: &[Received]) -> &Received {
    assert_eq!(received.len(), 1, "one attempt: {received:?}");
    &received[0]
}

#[tokio::test]
async fn a_synchronous_invocation_and_its_answer() {
    let (aws, lambda) =
        lambda(Answer::raw(r#"{"drained": 3}"#).with_header("X-Amz-Executed-Version", "7")).await;
    let answer = lambda.invoke(drain()).await.unwrap();
    assert_eq!(answer.status_code, 200);
    assert_eq!(answer.function_error, None);
    assert_eq!(answer.executed_version.as_deref(), Some("7"));
    assert_eq!(
        serde_json::from_slice::<Value>(&answer.payload).unwrap(),
        json!({"drained": 3})
    );
    let received = aws.received();
    let sent = only(&received);
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/2015-03-31/functions/mint-drain/invocations");
    assert_eq!(sent.param("Qualifier"), Some("live"));
    assert_eq!(
        sent.header("x-amz-invocation-type"),
        Some("RequestResponse")
    );
    assert_eq!(sent.header("x-amz-log-type"), Some("None"));
    assert_eq!(sent.json(), json!({"queue": "jobs"}));
}

#[tokio::test]
async fn a_function_error_is_an_answer_with_its_error_object() {
    let (_aws, lambda) = lambda(
        Answer::raw(r#"{"errorType":"QueueLocked","errorMessage":"queue jobs is locked"}"#)
            .with_header("X-Amz-Function-Error", "Unhandled")
            .with_header("X-Amz-Executed-Version", "$LATEST"),
    )
    .await;
    let answer = lambda.invoke(drain()).await.unwrap();
    assert_eq!(answer.status_code, 200);
    assert_eq!(answer.function_error.as_deref(), Some("Unhandled"));
    let body: Value = serde_json::from_slice(&answer.payload).unwrap();
    assert_eq!(body["errorType"], "QueueLocked");
}

/// Throttling and a service error are retryable for the step, but the SDK itself sends the
/// invocation once (its standard retry would send it three times); a missing function is
/// permanent.
#[tokio::test]
async fn errors_are_classified_and_sent_once() {
    for (status, code, kind) in [
        (429, "TooManyRequestsException", ErrorKind::Throttled),
        (500, "ServiceException", ErrorKind::Unavailable),
        (404, "ResourceNotFoundException", ErrorKind::NotFound),
        (413, "RequestTooLargeException", ErrorKind::InvalidInput),
    ] {
        let (aws, lambda) = lambda(error(status, code, "no")).await;
        let e = lambda.invoke(drain()).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{code}: {e}");
        assert_eq!(e.code(), Some(code));
        assert_eq!(e.operation(), Some("Invoke"));
        only(&aws.received());
    }
}
