//! SDK error -> [`ActionError`], with the right retry classification.
//!
//! Every provider calls [`sdk_error`] (or [`SdkResultExt::or_action_error`]) on every SDK
//! result, so the classification lives in one place:
//!
//! | what the SDK returned | [`ErrorKind`] | retry? |
//! |---|---|---|
//! | throttling codes (`Throttling`, `RequestLimitExceeded`, `PriorRequestNotComplete`, ...), IAM `ConcurrentModification`, CloudFront `TooManyInvalidationsInProgress`, SNS `Throttled` and `KMSThrottling`, HTTP 429 | `Throttled` | yes |
//! | HTTP 5xx, `InternalFailure`, `ServiceUnavailable`, ARC `EndpointTemporarilyUnavailableException`, connection/IO failure | `Unavailable` | yes |
//! | a call time-out | `Timeout` | yes |
//! | HTTP 500 with an HTML page (a local emulator's "not implemented") | `NotImplemented` | no |
//! | access codes (`AccessDenied`, `UnrecognizedClientException`, `ExpiredToken`, SNS `AuthorizationError`, Lambda's `KMSAccessDeniedException` and `EC2AccessDeniedException` (HTTP 502), ...), HTTP 403, no credentials | `AccessDenied` | no |
//! | `*NotFound*`, `NoSuch*`, HTTP 404 | `NotFound` | no |
//! | `Invalid*State*`, `*AlreadyExists*`, `ResourceInUse`, `Conflict*`, HTTP 409 | `Conflict` | no |
//! | validation codes, Lambda's broken-configuration codes (`InvalidZipFileException`, ... with HTTP 502), other HTTP 4xx, a request that could not be built | `InvalidInput` | no |

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use drkit_core::{ActionError, ErrorKind};

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "RequestThrottled",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "TransactionInProgressException",
    // IAM: another request is changing the same entity; the same call succeeds after a pause.
    "ConcurrentModification",
    "ConcurrentModificationException",
    // CloudFront: the account's limit of invalidations in progress (3,000 paths, 15 wildcard
    // paths); a later call succeeds once some complete.
    "TooManyInvalidationsInProgress",
    // SNS: the account's publish rate (HTTP 429 or 400), or KMS's for an encrypted topic.
    "Throttled",
    "KMSThrottling",
];

const TRANSIENT_CODES: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    // ARC's cluster endpoint in maintenance: another endpoint answers.
    "EndpointTemporarilyUnavailableException",
];

const ACCESS_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "MissingAuthenticationToken",
    "NotAuthorized",
    // SNS: the caller may not publish to the topic (403), or KMS refused its key (400).
    "AuthorizationError",
    "KMSAccessDenied",
    // Lambda answers these with HTTP 502, which alone would read as "retry": the function's
    // role may not use its KMS key or its VPC's network interfaces.
    "KMSAccessDeniedException",
    "EC2AccessDeniedException",
];

const VALIDATION_CODES: &[&str] = &[
    "ValidationException",
    "ValidationError",
    "InvalidParameter",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "InvalidParameterCombination",
    "InvalidParameterException",
    "MissingParameter",
    "InvalidInput",
    "InvalidRequest",
    "MalformedQueryString",
    "InvalidArgument",
    // Lambda (HTTP 502): the function's configuration is broken; a retry meets it again.
    "InvalidZipFileException",
    "InvalidRuntimeException",
    "InvalidSubnetIDException",
    "InvalidSecurityGroupIDException",
];

/// Classifies a provider error code. `None` when the code says nothing we know.
pub fn classify_code(code: &str) -> Option<ErrorKind> {
    if THROTTLING_CODES.contains(&code) {
        return Some(ErrorKind::Throttled);
    }
    if TRANSIENT_CODES.contains(&code) {
        return Some(ErrorKind::Unavailable);
    }
    if ACCESS_CODES.contains(&code) {
        return Some(ErrorKind::AccessDenied);
    }
    if VALIDATION_CODES.contains(&code) {
        return Some(ErrorKind::InvalidInput);
    }
    if code.contains("NotFound") || code.starts_with("NoSuch") {
        return Some(ErrorKind::NotFound);
    }
    if (code.starts_with("Invalid") && code.contains("State"))
        || code.contains("AlreadyExists")
        || code.starts_with("ResourceInUse")
        || code.starts_with("Conflict")
        || code == "IncorrectState"
        || code == "OperationAborted"
    {
        return Some(ErrorKind::Conflict);
    }
    None
}

/// Classifies an HTTP status alone.
fn classify_status(status: u16) -> ErrorKind {
    match status {
        429 => ErrorKind::Throttled,
        401 | 403 => ErrorKind::AccessDenied,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        400..=499 => ErrorKind::InvalidInput,
        500..=599 => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

/// The emulator quirks: moto answers an operation it does not implement with HTTP 500 and an
/// HTML page (and logs `NotImplementedError`), and a request in a protocol it does not speak
/// (e.g. CloudWatch's RPC v2 CBOR, which current SDKs use) with an HTML 404 page. Real AWS
/// answers errors in its protocol's format (XML, JSON or CBOR), never with an HTML page, so this
/// cannot misfire on AWS.
fn is_html_not_implemented(raw: &HttpResponse) -> bool {
    if !matches!(raw.status().as_u16(), 404 | 500) {
        return false;
    }
    let html_type = raw
        .headers()
        .get("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().contains("text/html"));
    let html_body = raw.body().bytes().is_some_and(|b| {
        let head = String::from_utf8_lossy(&b[..b.len().min(256)]).to_ascii_lowercase();
        let head = head.trim_start();
        head.starts_with("<!doctype html") || head.starts_with("<html")
    });
    html_type || html_body
}

fn retry_after(raw: &HttpResponse) -> Option<std::time::Duration> {
    raw.headers()
        .get("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
}

fn mentions_credentials(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("credentials") || text.contains("identity resolver")
}

/// Maps an SDK error of `operation` (e.g. `"FailoverDBCluster"`) to an [`ActionError`] with the
/// provider's code, its message, and a retry classification. The SDK error is kept as source.
pub fn sdk_error<E>(operation: &str, err: SdkError<E, HttpResponse>) -> ActionError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let raw = err.raw_response();
    let status = raw.map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    let provider_message = err.message().map(str::to_owned);
    let full_text = DisplayErrorContext(&err).to_string();

    let (kind, message) = match &err {
        SdkError::ConstructionFailure(_) if mentions_credentials(&full_text) => (
            ErrorKind::AccessDenied,
            format!("no usable AWS credentials: {full_text}"),
        ),
        SdkError::ConstructionFailure(_) => (
            ErrorKind::InvalidInput,
            format!("the request could not be built: {full_text}"),
        ),
        SdkError::TimeoutError(_) => (
            ErrorKind::Timeout,
            format!("the call timed out: {full_text}"),
        ),
        SdkError::DispatchFailure(failure) => {
            let kind = if mentions_credentials(&full_text) {
                ErrorKind::AccessDenied
            } else if failure.is_timeout() {
                ErrorKind::Timeout
            } else if failure.is_user() {
                ErrorKind::InvalidInput
            } else {
                ErrorKind::Unavailable
            };
            (kind, format!("the request was not answered: {full_text}"))
        }
        _ if code.is_none() && raw.is_some_and(is_html_not_implemented) => (
            ErrorKind::NotImplemented,
            format!(
                "the endpoint answered HTTP {} with an HTML page: the operation (or its protocol) \
                 is not implemented there (this is how a local emulator such as moto reports an \
                 unsupported operation)",
                status.unwrap_or_default()
            ),
        ),
        SdkError::ResponseError(_) => (
            status.map_or(ErrorKind::Other, classify_status),
            format!("the response could not be read: {full_text}"),
        ),
        _ => {
            let kind = code
                .as_deref()
                .and_then(classify_code)
                .or_else(|| status.map(classify_status))
                .unwrap_or(ErrorKind::Other);
            let message = provider_message.unwrap_or(full_text);
            (kind, message)
        }
    };

    let mut out = ActionError::new(kind, message).with_operation(operation);
    if let Some(code) = code {
        out = out.with_code(code);
    } else if let Some(status) = status {
        out = out.with_code(format!("HTTP {status}"));
    }
    if let Some(after) = raw.and_then(retry_after) {
        out = out.with_retry_after(after);
    }
    out.with_source(err)
}

/// `.or_action_error("Operation")?` on an SDK result.
pub trait SdkResultExt<T> {
    /// Maps the error with [`sdk_error`].
    fn or_action_error(self, operation: &str) -> Result<T, ActionError>;
}

impl<T, E> SdkResultExt<T> for Result<T, SdkError<E, HttpResponse>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    fn or_action_error(self, operation: &str) -> Result<T, ActionError> {
        self.map_err(|err| sdk_error(operation, err))
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    /// A service error as the generated SDK errors present it: metadata with code and message.
    #[derive(Debug)]
    struct ServiceErr(ErrorMetadata);

    impl fmt::Display for ServiceErr {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}", self.0.message().unwrap_or("unhandled"))
        }
    }
    impl std::error::Error for ServiceErr {}
    impl ProvideErrorMetadata for ServiceErr {
        fn meta(&self) -> &ErrorMetadata {
            &self.0
        }
    }

    fn response(status: u16, body: &'static str) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
    }

    fn service(
        code: Option<&str>,
        status: u16,
        body: &'static str,
    ) -> SdkError<ServiceErr, HttpResponse> {
        let mut meta = ErrorMetadata::builder().message("service says no");
        if let Some(code) = code {
            meta = meta.code(code);
        }
        SdkError::service_error(ServiceErr(meta.build()), response(status, body))
    }

    #[test]
    fn codes_decide_the_kind() {
        let cases = [
            ("Throttling", 400, ErrorKind::Throttled),
            ("PriorRequestNotComplete", 400, ErrorKind::Throttled),
            ("RequestLimitExceeded", 503, ErrorKind::Throttled),
            ("ConcurrentModification", 409, ErrorKind::Throttled),
            ("TooManyInvalidationsInProgress", 400, ErrorKind::Throttled),
            ("Throttled", 429, ErrorKind::Throttled),
            ("KMSThrottling", 400, ErrorKind::Throttled),
            ("TooManyRequestsException", 429, ErrorKind::Throttled),
            ("EC2ThrottledException", 502, ErrorKind::Throttled),
            ("AuthorizationError", 403, ErrorKind::AccessDenied),
            ("KMSAccessDeniedException", 502, ErrorKind::AccessDenied),
            ("EC2AccessDeniedException", 502, ErrorKind::AccessDenied),
            ("InvalidZipFileException", 502, ErrorKind::InvalidInput),
            ("InvalidSubnetIDException", 502, ErrorKind::InvalidInput),
            ("ResourceNotFoundException", 404, ErrorKind::NotFound),
            ("ResourceNotReadyException", 502, ErrorKind::Unavailable),
            ("InternalFailure", 500, ErrorKind::Unavailable),
            ("AccessDenied", 403, ErrorKind::AccessDenied),
            ("UnrecognizedClientException", 400, ErrorKind::AccessDenied),
            ("DBClusterNotFoundFault", 404, ErrorKind::NotFound),
            ("NoSuchBucket", 404, ErrorKind::NotFound),
            ("InvalidDBClusterStateFault", 400, ErrorKind::Conflict),
            ("DBClusterAlreadyExistsFault", 400, ErrorKind::Conflict),
            ("InvalidParameterValue", 400, ErrorKind::InvalidInput),
            ("ValidationError", 400, ErrorKind::InvalidInput),
            // Unknown codes fall back to the status.
            ("SomethingNew", 503, ErrorKind::Unavailable),
            ("SomethingNew", 400, ErrorKind::InvalidInput),
        ];
        for (code, status, kind) in cases {
            let err = sdk_error("Op", service(Some(code), status, "<Error/>"));
            assert_eq!(err.kind(), kind, "{code}");
            assert_eq!(err.code(), Some(code));
            assert_eq!(err.operation(), Some("Op"));
            assert_eq!(err.message(), "service says no");
        }
    }

    #[test]
    fn throttling_and_5xx_are_retryable_access_and_validation_are_not() {
        assert!(sdk_error("Op", service(Some("Throttling"), 400, "")).is_retryable());
        assert!(sdk_error("Op", service(None, 502, "")).is_retryable());
        assert!(!sdk_error("Op", service(Some("AccessDenied"), 403, "")).is_retryable());
        assert!(!sdk_error("Op", service(Some("ValidationError"), 400, "")).is_retryable());
    }

    /// The quirk, shown: moto's answer to an operation it lacks is an HTTP 500 HTML page. A
    /// plain 5xx rule would call it retryable and a drill would retry it for minutes.
    #[test]
    fn an_html_500_is_not_implemented_and_not_retryable() {
        let body = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n\
                    <h1>Internal Server Error</h1>";
        let err = sdk_error("FailoverGlobalCluster", service(None, 500, body));
        assert_eq!(err.kind(), ErrorKind::NotImplemented);
        assert!(!err.is_retryable());
        assert_eq!(err.code(), Some("HTTP 500"));
        assert!(err.message().contains("not implemented"), "{err}");

        let as_response_error: SdkError<ServiceErr, HttpResponse> =
            SdkError::response_error("unparseable", response(500, body));
        let err = sdk_error("FailoverGlobalCluster", as_response_error);
        assert_eq!(err.kind(), ErrorKind::NotImplemented);

        // An HTML 404 is the same quirk (a protocol the emulator does not speak), not a
        // missing resource.
        let err = sdk_error("GetMetricStatistics", service(None, 404, body));
        assert_eq!(err.kind(), ErrorKind::NotImplemented);

        // An XML 500, as AWS sends, stays retryable.
        let err = sdk_error("Op", service(None, 500, "<ErrorResponse/>"));
        assert_eq!(err.kind(), ErrorKind::Unavailable);
    }

    #[test]
    fn transport_failures() {
        let io = SdkError::<ServiceErr, HttpResponse>::dispatch_failure(ConnectorError::io(
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused").into(),
        ));
        assert_eq!(sdk_error("Op", io).kind(), ErrorKind::Unavailable);

        let timeout = SdkError::<ServiceErr, HttpResponse>::dispatch_failure(
            ConnectorError::timeout("read timed out".into()),
        );
        assert_eq!(sdk_error("Op", timeout).kind(), ErrorKind::Timeout);

        let timeout = SdkError::<ServiceErr, HttpResponse>::timeout_error("operation timeout");
        assert_eq!(sdk_error("Op", timeout).kind(), ErrorKind::Timeout);

        let creds = SdkError::<ServiceErr, HttpResponse>::construction_failure(
            "failed to load credentials: no providers in chain provided credentials",
        );
        assert_eq!(sdk_error("Op", creds).kind(), ErrorKind::AccessDenied);

        let build = SdkError::<ServiceErr, HttpResponse>::construction_failure("bad field");
        assert_eq!(sdk_error("Op", build).kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn retry_after_is_kept() {
        let mut raw = response(429, "");
        raw.headers_mut().insert("retry-after", "7");
        let err = sdk_error(
            "Op",
            SdkError::service_error(ServiceErr(ErrorMetadata::builder().build()), raw),
        );
        assert_eq!(err.kind(), ErrorKind::Throttled);
        assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(7)));
    }
}
