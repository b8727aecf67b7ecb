//! Tests of `error.rs`.

use kube::core::Status;
use kube::core::response::StatusDetails;

use super::*;

fn api(code: u16, reason: &str, message: &str) -> kube::Error {
    kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
}

#[test]
fn statuses_map_to_kinds_and_retryability() {
    let cases = [
        (429, "TooManyRequests", ErrorKind::Throttled, true),
        (500, "InternalError", ErrorKind::Unavailable, true),
        (503, "ServiceUnavailable", ErrorKind::Unavailable, true),
        (504, "Timeout", ErrorKind::Unavailable, true),
        (408, "Timeout", ErrorKind::Timeout, true),
        (401, "Unauthorized", ErrorKind::AccessDenied, false),
        (403, "Forbidden", ErrorKind::AccessDenied, false),
        (404, "NotFound", ErrorKind::NotFound, false),
        (409, "Conflict", ErrorKind::Conflict, false),
        (409, "AlreadyExists", ErrorKind::Conflict, false),
        (422, "Invalid", ErrorKind::InvalidInput, false),
        (400, "BadRequest", ErrorKind::InvalidInput, false),
    ];
    for (code, reason, kind, retryable) in cases {
        let err = kube_error(api(code, reason, "boom"), "apply", "Deployment ns/api");
        assert_eq!(err.kind(), kind, "{code} {reason}");
        assert_eq!(err.is_retryable(), retryable, "{code} {reason}");
        assert_eq!(err.code(), Some(reason));
        assert_eq!(err.operation(), Some("apply"));
    }
}

#[test]
fn forbidden_names_the_object_and_the_operation() {
    let err = kube_error(
        api(
            403,
            "Forbidden",
            "deployments.apps \"api\" is forbidden: User \"dr\" cannot patch resource",
        ),
        "apply",
        "Deployment mint-replica/api",
    );
    let text = err.to_string();
    assert!(text.contains("apply Deployment mint-replica/api"), "{text}");
    assert!(text.contains("code Forbidden"), "{text}");
    assert!(text.contains("a retry will not help"), "{text}");
}

#[test]
fn retry_after_seconds_are_kept() {
    let status = Status::failure("slow down", "TooManyRequests")
        .with_code(429)
        .with_details(
            serde_json::from_value::<StatusDetails>(serde_json::json!({"retryAfterSeconds": 7}))
                .unwrap(),
        );
    let err = kube_error(kube::Error::Api(status.boxed()), "list", "pods in ns");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert!(err.is_retryable());
}

#[test]
fn connection_failures_are_retryable_and_undecodable_answers_are_not() {
    let io: tower::BoxError = Box::new(std::io::Error::new(
        std::io::ErrorKind::ConnectionRefused,
        "connection refused",
    ));
    let err = kube_error(kube::Error::Service(io), "get", "Namespace ns");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_retryable());

    let serde = serde_json::from_str::<u32>("x").unwrap_err();
    let err = kube_error(kube::Error::SerdeError(serde), "get", "Namespace ns");
    assert_eq!(err.kind(), ErrorKind::Other);
    assert!(!err.is_retryable());
}

#[test]
fn not_found_is_recognised() {
    assert!(is_not_found(&api(404, "NotFound", "x")));
    assert!(!is_not_found(&api(403, "Forbidden", "x")));
}
