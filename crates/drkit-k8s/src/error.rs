//! kube errors -> [`ActionError`], in one place.
//!
//! | what kube returned | [`ErrorKind`] | retry? |
//! |---|---|---|
//! | API status 429 (`TooManyRequests`) | `Throttled` (with `Retry-After` from `retryAfterSeconds`) | yes |
//! | API status 5xx (`InternalError`, `ServiceUnavailable`, `Timeout`, ...), 504 | `Unavailable` | yes |
//! | API status 408 / reason `Timeout` | `Timeout` | yes |
//! | no answer within the read time-out (a `TimedOut` I/O error under `HyperError`, `Service`) | `Timeout` | yes |
//! | a connection, I/O or HTTP-stack failure (`HyperError`, `Service`) | `Unavailable` | yes |
//! | API status 401 / 403 (`Unauthorized`, `Forbidden`) and auth errors | `AccessDenied` | no |
//! | API status 404 (`NotFound`) | `NotFound` | no |
//! | API status 409 (`AlreadyExists`, `Conflict`: a field-manager conflict) | `Conflict` | no |
//! | API status 400 / 422 (`BadRequest`, `Invalid`) and other 4xx; a request that could not be built | `InvalidInput` | no |
//! | kubeconfig that cannot be found or read | `InvalidInput` | no |
//! | TLS set-up, an answer that cannot be decoded, anything else | `Other` | no |
//!
//! The message names the operation (`apply`, `get`, `list`, `get scale`, ...) and the object
//! (`Deployment mint-replica/api`); the code is the API's `reason` (`Forbidden`, `NotFound`,
//! ...). kube's errors never carry the bearer token, and neither do these.

use std::time::Duration;

use drkit_core::{ActionError, ErrorKind};

/// Classifies an HTTP status of the Kubernetes API.
pub(crate) fn classify_status(code: u16, reason: &str) -> ErrorKind {
    match code {
        429 => ErrorKind::Throttled,
        408 => ErrorKind::Timeout,
        401 | 403 => ErrorKind::AccessDenied,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        400..=499 => ErrorKind::InvalidInput,
        500..=599 => ErrorKind::Unavailable,
        _ => match reason {
            "Timeout" => ErrorKind::Timeout,
            "TooManyRequests" => ErrorKind::Throttled,
            "ServiceUnavailable" | "InternalError" | "ServerTimeout" => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        },
    }
}

/// Maps a kube error of `operation` on `object` (e.g. `Deployment mint-replica/api`).
pub fn kube_error(err: kube::Error, operation: &str, object: &str) -> ActionError {
    let (kind, message, code, retry_after) = match &err {
        kube::Error::Api(status) => {
            let kind = classify_status(status.code, &status.reason);
            let retry_after = status
                .details
                .as_ref()
                .map(|d| d.retry_after_seconds)
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(u64::from(s)));
            let code = if status.reason.is_empty() {
                format!("HTTP{}", status.code)
            } else {
                status.reason.clone()
            };
            let what = if status.message.is_empty() {
                format!("the API server answered HTTP {}", status.code)
            } else {
                status.message.clone()
            };
            (kind, what, Some(code), retry_after)
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) if timed_out(&err) => (
            ErrorKind::Timeout,
            format!("the API server did not answer in time: {}", chain(&err)),
            None,
            None,
        ),
        other => {
            let known = match other {
                kube::Error::HyperError(_) | kube::Error::Service(_) => {
                    Some((ErrorKind::Unavailable, "cannot reach the API server"))
                }
                kube::Error::ReadEvents(_) => Some((
                    ErrorKind::Unavailable,
                    "connection to the API server broken",
                )),
                kube::Error::Auth(_) => Some((
                    ErrorKind::AccessDenied,
                    "cannot authenticate to the API server",
                )),
                kube::Error::BuildRequest(_) | kube::Error::HttpError(_) => {
                    Some((ErrorKind::InvalidInput, "cannot build the request"))
                }
                kube::Error::InferConfig(_) => {
                    Some((ErrorKind::InvalidInput, "cannot find a kubeconfig"))
                }
                kube::Error::InferKubeconfig(_) => {
                    Some((ErrorKind::InvalidInput, "cannot use the kubeconfig"))
                }
                kube::Error::Discovery(_) => Some((ErrorKind::NotFound, "API discovery failed")),
                _ => None,
            };
            let (kind, message) = match known {
                Some((kind, what)) => {
                    // kube's variants wrap their cause (`#[source]`): the detail worth showing.
                    let detail = std::error::Error::source(other)
                        .map_or_else(|| other.to_string(), ToString::to_string);
                    (kind, format!("{what}: {detail}"))
                }
                None => (ErrorKind::Other, other.to_string()),
            };
            (kind, message, None, None)
        }
    };
    let mut out = ActionError::new(kind, format!("{operation} {object}: {message}"))
        .with_operation(operation.to_owned())
        .with_source(err);
    if let Some(code) = code {
        out = out.with_code(code);
    }
    if let Some(after) = retry_after {
        out = out.with_retry_after(after);
    }
    out
}

/// Whether a time-out is behind `err`: the client's read or connect time-out (an I/O error of
/// kind `TimedOut`, or tower's `Elapsed`) anywhere in its causes.
fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        let text = e.to_string();
        if text.contains("timed out") || text.contains("deadline has elapsed") {
            return true;
        }
        current = e.source();
    }
    false
}

/// The error text with its causes, `: `-separated (each once).
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether `err` is the API's 404.
pub(crate) fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
