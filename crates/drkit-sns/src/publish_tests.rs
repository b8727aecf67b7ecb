//! Unit tests with the mocked port, answering with SNS's documented `Publish` errors
//! (`InvalidParameter`, `NotFound`, `AuthorizationError`: refusals; `Throttled`: retryable) and
//! an answer that never came.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use drkit_core::kind::with_port;
use drkit_core::{
    ActionExt, ActionRef, Check, Context, ErrorKind, RecoveryAction, RetryPolicy, StepSpec,
};

use super::*;
use crate::port::MockSnsApi;

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:dr-team";
const FIFO: &str = "arn:aws:sns:us-east-1:123456789012:dr-team.fifo";

fn built(params: PublishParams, api: MockSnsApi) -> Publish {
    with_port::<Publish>(StepSpec::new("notify", params), Arc::new(api)).unwrap()
}

fn retried(action: Publish) -> ActionRef {
    let action: ActionRef = Arc::new(action);
    action.with_retry(
        RetryPolicy::attempts(3)
            .initial_backoff(Duration::from_millis(10))
            .jitter(false),
    )
}

fn notice() -> PublishParams {
    PublishParams::new(TOPIC, "Mint is failing over to us-west-2 (run r-1).")
        .subject("[DR] Mint failover started")
}

/// A mock that records every request and answers with `answers` in turn.
fn recording(
    answers: Vec<Result<Published, ActionError>>,
) -> (MockSnsApi, Arc<Mutex<Vec<PublishRequest>>>) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&sent);
    let answers = Mutex::new(answers);
    let mut api = MockSnsApi::new();
    api.expect_publish().returning(move |request| {
        seen.lock().unwrap().push(request);
        answers.lock().unwrap().remove(0)
    });
    (api, sent)
}

fn lost() -> ActionError {
    ActionError::new(
        ErrorKind::Unavailable,
        "the request was not answered: connection reset",
    )
}

#[tokio::test]
async fn a_notice_is_published_once_and_its_id_recorded() {
    let (api, sent) = recording(vec![Ok(Published::new("m-1"))]);
    let action = built(notice(), api);
    let ctx = Context::new().with_step("notify");
    match action.check(&ctx).await.unwrap() {
        Check::Ready { change } => assert!(
            change.contains("[DR] Mint failover started") && change.contains("sns:topic/dr-team"),
            "{change}"
        ),
        other => panic!("{other:?}"),
    }
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("message_id"), Some("m-1"));
    let request = sent.lock().unwrap()[0].clone();
    assert_eq!(request.topic, TOPIC);
    assert_eq!(
        request.subject.as_deref(),
        Some("[DR] Mint failover started")
    );
    assert_eq!(request.deduplication_id, None, "a standard topic");
    assert!(action.check(&ctx).await.unwrap().is_done());
    assert!(action.verify(&ctx).await.unwrap().contains("m-1"));
    // A resumed run finds it done from the journalled intent.
    let resumed = built(notice(), MockSnsApi::new());
    let resumed_ctx = Context::new().with_recorded_intent(ctx.intent());
    match resumed.check(&resumed_ctx).await.unwrap() {
        Check::Done { outputs, .. } => assert_eq!(outputs, out),
        other => panic!("{other:?}"),
    }
    assert_eq!(sent.lock().unwrap().len(), 1);
}

/// SNS's refusals: nothing was published, nothing to reconcile, not retried.
#[tokio::test]
async fn refusals_fail_at_once_and_leave_the_step_ready() {
    for (kind, code, note) in [
        (
            ErrorKind::InvalidInput,
            "InvalidParameter",
            "Invalid parameter: Message too long",
        ),
        (ErrorKind::NotFound, "NotFound", "no topic arn:aws:sns"),
        (
            ErrorKind::AccessDenied,
            "AuthorizationError",
            "needs sns:Publish",
        ),
    ] {
        let (api, sent) = recording(vec![Err(ActionError::new(
            kind,
            "Invalid parameter: Message too long",
        )
        .with_code(code))]);
        let action = retried(built(notice(), api));
        let ctx = Context::new();
        let e = action.execute(&ctx).await.unwrap_err();
        assert_eq!(e.kind(), kind);
        assert!(!e.is_retryable(), "{e}");
        assert_eq!(e.code(), Some(code));
        assert_eq!(e.operation(), Some("Publish"));
        assert!(e.to_string().contains(note), "{e}");
        assert_eq!(sent.lock().unwrap().len(), 1, "{code}: sent once");
        assert!(ctx.intent().is_none(), "{code}: the intent is withdrawn");
        assert!(matches!(
            action.check(&ctx).await.unwrap(),
            Check::Ready { .. }
        ));
    }
}

#[tokio::test]
async fn throttling_is_retried_and_the_notice_sent_once() {
    let (api, sent) = recording(vec![
        Err(ActionError::new(ErrorKind::Throttled, "Rate exceeded").with_code("Throttled")),
        Ok(Published::new("m-2")),
    ]);
    let action = retried(built(notice(), api));
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("message_id"), Some("m-2"));
    assert_eq!(
        sent.lock().unwrap().len(),
        2,
        "the throttled one was refused"
    );
}

/// A standard topic delivers every Publish: after a lost answer the notice is not sent again
/// unless a person says so, or the step accepts a duplicate (`resend_if_unknown`).
#[tokio::test]
async fn a_lost_answer_is_not_published_again_blindly() {
    let (api, sent) = recording(vec![Err(lost())]);
    let action = retried(built(notice(), api));
    let ctx = Context::new().with_step("notify");
    let e = action.execute(&ctx).await.unwrap_err();
    assert!(e.maybe_applied(), "{e}");
    assert_eq!(sent.lock().unwrap().len(), 1, "not sent again");
    match action.check(&ctx).await.unwrap() {
        Check::Unknown { question } => {
            assert!(
                question.contains("may have taken the message"),
                "{question}"
            );
        }
        other => panic!("{other:?}"),
    }
    let resumed = built(notice(), MockSnsApi::new());
    let resumed_ctx = Context::new().with_recorded_intent(ctx.intent());
    assert!(matches!(
        resumed.check(&resumed_ctx).await.unwrap(),
        Check::Unknown { .. }
    ));
}

#[tokio::test]
async fn resend_if_unknown_publishes_again_after_a_lost_answer() {
    let (api, sent) = recording(vec![Err(lost()), Ok(Published::new("m-3"))]);
    let action = retried(built(notice().resend_if_unknown(), api));
    let ctx = Context::new();
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("message_id"), Some("m-3"));
    assert_eq!(sent.lock().unwrap().len(), 2);
}

/// A FIFO topic: the message group, and a deduplication id that is the same on the retry
/// after a lost answer and on a resume of the run, so SNS itself drops a duplicate.
#[tokio::test]
async fn a_fifo_topic_is_sent_again_with_the_same_deduplication_id() {
    let (api, sent) = recording(vec![
        Err(lost()),
        Ok(Published {
            message_id: "m-4".into(),
            sequence_number: Some("10000000000000003000".into()),
        }),
    ]);
    let params = PublishParams::new(FIFO, "Update 2: database promoted.").group("mint-dr");
    let action = retried(built(params.clone(), api));
    let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let ctx = Context::new()
        .with_step("notify-update-2")
        .with_run("mint-failover-1700000000000", started);
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("sequence_number"), Some("10000000000000003000"));
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    for request in &sent {
        assert_eq!(request.group.as_deref(), Some("mint-dr"));
        assert_eq!(
            request.deduplication_id.as_deref(),
            Some("mint-failover-1700000000000/notify-update-2")
        );
    }
    // A resume after a lost answer: ready to send again, saying why that is safe.
    let mut api = MockSnsApi::new();
    api.expect_publish().never();
    let resumed = built(params, api);
    let intent = Outputs::new().with("topic", FIFO);
    let resumed_ctx = Context::new().with_recorded_intent(Some(intent));
    match resumed.check(&resumed_ctx).await.unwrap() {
        Check::Ready { change } => {
            assert!(change.contains("same MessageDeduplicationId"), "{change}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn deduplication_ids_keep_to_what_sns_takes() {
    assert_eq!(deduplication_id("mint-1", "notify"), "mint-1/notify");
    assert_eq!(
        deduplication_id("Mint failover é-1", "n"),
        "Mint_failover__-1/n"
    );
    let long = deduplication_id(&format!("{}-1700000000000", "p".repeat(200)), "notify");
    assert_eq!(long.len(), 128);
    assert!(long.ends_with("p-1700000000000/notify"), "{long}");
}

#[test]
fn parameters_are_validated_before_any_call() {
    let refused = |p: PublishParams| Publish::validate(&p).unwrap_err().to_string();
    for (topic, why) in [
        ("dr-team", "not a topic ARN"),
        (
            "arn:aws:sqs:us-east-1:123456789012:dr-team",
            "not a topic ARN",
        ),
        ("arn:aws:sns:useast1:123456789012:dr-team", "not a region"),
        ("arn:aws:sns:us-east-1:1234:dr-team", "account id"),
        ("arn:aws:sns:us-east-1:123456789012:dr team", "topic name"),
        (
            "arn:aws:sns:us-east-1:123456789012:dr-team:6b0e71bd-7e97-4d97-80ce-4a0994e55286",
            "topic name",
        ),
        ("arn:aws:sns:us-east-1:123456789012:.fifo", "topic name"),
    ] {
        let e = refused(PublishParams::new(topic, "m"));
        assert!(e.contains("`topic`") && e.contains(why), "{topic}: {e}");
    }
    let long = "s".repeat(100);
    for (subject, why) in [
        ("", "1 to 99"),
        (long.as_str(), "100 characters"),
        ("a\nb", "line breaks"),
        ("tab\there", "control"),
    ] {
        let e = refused(notice().subject(subject));
        assert!(
            e.contains("`subject`") && e.contains(why),
            "{subject:?}: {e}"
        );
    }
    assert!(refused(PublishParams::new(TOPIC, "")).contains("`message`"));
    let e = refused(PublishParams::new(TOPIC, "x".repeat(MAX_MESSAGE + 1)));
    assert!(e.contains("256 KB"), "{e}");
    assert!(refused(PublishParams::new(FIFO, "m")).contains("FIFO topic"));
    assert!(refused(PublishParams::new(FIFO, "m").group("two words")).contains("`group`"));
    for ok in [
        notice().subject("é".repeat(99)),
        PublishParams::new(TOPIC, "x".repeat(MAX_MESSAGE)),
        PublishParams::new(FIFO, "m").group("mint-dr/us-west-2"),
        PublishParams::new("arn:aws-us-gov:sns:us-gov-west-1:123456789012:t_1", "m"),
    ] {
        Publish::validate(&ok).unwrap();
    }
}
