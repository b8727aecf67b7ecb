//! The adapter through the real SDK client against a canned endpoint answering as the SNS API
//! reference documents `Publish` (the query protocol: a form-encoded request, an XML answer,
//! errors in an `ErrorResponse`). Shows the request drkit sends, the answer decoded, and that
//! the SDK makes one attempt.

use drkit_core::ErrorKind;
use drkit_testkit::canned::{Answer, CannedAws, Received};

use super::*;

const NS: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

async fn sns(answer: Answer) -> (CannedAws, SdkSns) {
    let aws = CannedAws::start(move |_| answer.clone()).await;
    let sns = SdkSns::from_config(&aws.sdk_config("us-east-1").await);
    (aws, sns)
}

fn published(extra: &str) -> Answer {
    Answer::xml(format!(
        "<PublishResponse xmlns=\"{NS}\"><PublishResult>\
         <MessageId>94f20ce6-13c5-43a0-9a9e-ca52d816e90b</MessageId>{extra}</PublishResult>\
         <ResponseMetadata><RequestId>f187a3c1-376f-11df-8963-01868b7c937a</RequestId>\
         </ResponseMetadata></PublishResponse>"
    ))
}

fn only(received: &[Received]) -> &Received {
    assert_eq!(received.len(), 1, "one attempt: {received:?}");
    &received[0]
}

#[tokio::test]
async fn a_notice_and_its_message_id() {
    let (aws, sns) = sns(published("")).await;
    let mut request = PublishRequest::new(
        "arn:aws:sns:us-east-1:123456789012:dr-team",
        "Mint is failing over.",
    );
    request.subject = Some("[DR] started".into());
    let out = sns.publish(request).await.unwrap();
    assert_eq!(out.message_id, "94f20ce6-13c5-43a0-9a9e-ca52d816e90b");
    assert_eq!(out.sequence_number, None);
    let received = aws.received();
    let body = &only(&received).body;
    for part in [
        "Action=Publish",
        "TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3Adr-team",
        "Subject=%5BDR%5D%20started",
        "Message=Mint%20is%20failing%20over.",
    ] {
        assert!(body.contains(part), "{part} in {body}");
    }
    assert!(!body.contains("MessageGroupId"), "{body}");
}

#[tokio::test]
async fn a_fifo_message_has_its_group_deduplication_id_and_sequence_number() {
    let (aws, sns) = sns(published(
        "<SequenceNumber>10000000000000003000</SequenceNumber>",
    ))
    .await;
    let mut request = PublishRequest::new(
        "arn:aws:sns:us-east-1:123456789012:dr-team.fifo",
        "Update 2",
    );
    request.group = Some("mint-dr".into());
    request.deduplication_id = Some("mint-1/notify".into());
    let out = sns.publish(request).await.unwrap();
    assert_eq!(out.sequence_number.as_deref(), Some("10000000000000003000"));
    let received = aws.received();
    let body = &only(&received).body;
    assert!(body.contains("MessageGroupId=mint-dr"), "{body}");
    assert!(
        body.contains("MessageDeduplicationId=mint-1%2Fnotify"),
        "{body}"
    );
}

#[tokio::test]
async fn errors_are_classified_and_sent_once() {
    for (status, code, kind) in [
        (404, "NotFound", ErrorKind::NotFound),
        (403, "AuthorizationError", ErrorKind::AccessDenied),
        (400, "InvalidParameter", ErrorKind::InvalidInput),
        (429, "Throttled", ErrorKind::Throttled),
        (400, "KMSThrottling", ErrorKind::Throttled),
        (500, "InternalError", ErrorKind::Unavailable),
    ] {
        let (aws, sns) = sns(Answer::xml_error(status, code, "no")).await;
        let e = sns
            .publish(PublishRequest::new(
                "arn:aws:sns:us-east-1:123456789012:dr-team",
                "m",
            ))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), kind, "{code}: {e}");
        assert_eq!(e.code(), Some(code));
        assert_eq!(e.operation(), Some("Publish"));
        only(&aws.received());
    }
}
