//! The port: the one Lambda operation drkit uses, in drkit's own types.

use async_trait::async_trait;
use drkit_core::ActionError;

/// A synchronous invocation (`InvocationType = RequestResponse`, no log tail).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvokeRequest {
    /// The function's name, ARN or partial ARN (a version or alias may follow a `:`).
    pub function: String,
    /// The version or alias, when not in `function`.
    pub qualifier: Option<String>,
    /// The event: JSON bytes (`None`: no payload, the function gets `{}`).
    pub payload: Option<Vec<u8>>,
}

impl InvokeRequest {
    /// An invocation of `function` with `payload`.
    pub fn new(function: impl Into<String>, payload: Option<Vec<u8>>) -> Self {
        Self {
            function: function.into(),
            qualifier: None,
            payload,
        }
    }

    /// The same invocation of version or alias `qualifier`.
    #[must_use]
    pub fn qualified(mut self, qualifier: Option<String>) -> Self {
        self.qualifier = qualifier;
        self
    }
}

/// Lambda's answer to a synchronous invocation that reached the function.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Invocation {
    /// The HTTP status (200 for a synchronous invocation, also when the function failed).
    pub status_code: i32,
    /// `Unhandled` or `Handled` when the function failed (`X-Amz-Function-Error`): the payload
    /// then holds `errorType` and `errorMessage`.
    pub function_error: Option<String>,
    /// What the function returned (JSON), or its error object.
    pub payload: Vec<u8>,
    /// The version that ran (an alias resolved), e.g. `$LATEST` or `7`.
    pub executed_version: Option<String>,
}

impl Invocation {
    /// A successful answer with `payload` (handy in tests).
    pub fn ok(payload: impl Into<Vec<u8>>, executed_version: &str) -> Self {
        Self {
            status_code: 200,
            function_error: None,
            payload: payload.into(),
            executed_version: Some(executed_version.to_owned()),
        }
    }

    /// A function error `kind` (`Unhandled`, `Handled`) with its error object `payload`.
    pub fn failed(kind: &str, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            status_code: 200,
            function_error: Some(kind.to_owned()),
            payload: payload.into(),
            executed_version: Some("$LATEST".to_owned()),
        }
    }
}

/// The Lambda operation drkit uses. Implemented by [`crate::SdkLambda`] and by
/// `MockLambdaApi` (feature `mock`). A missing function is `NotFound`
/// (`ResourceNotFoundException`); throttling (`TooManyRequestsException`, 429) and 5xx are
/// retryable; a function error is an answer, not an error ([`Invocation::function_error`]).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait LambdaApi: std::fmt::Debug + Send + Sync {
    /// `Invoke`, synchronously, **one attempt** (the SDK does not send it again: an
    /// invocation is not idempotent).
    async fn invoke(&self, request: InvokeRequest) -> Result<Invocation, ActionError>;
}
