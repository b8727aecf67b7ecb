//! The one error type every action returns.
//!
//! An [`ActionError`] says *what kind* of failure happened (and so whether a retry can help), which
//! action and resource it concerns, which provider operation failed and with which provider error
//! code. Providers build it from their SDK's error (see `drkit-aws`); layers and the runner add the
//! action and resource with [`ActionError::in_action`].

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `Result` with [`ActionError`] as the default error.
pub type Result<T, E = ActionError> = std::result::Result<T, E>;

/// A boxed error kept as the [`std::error::Error::source`] of an [`ActionError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong, coarsely: decides whether a retry can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The provider asked us to slow down (HTTP 429, `Throttling`, `RequestLimitExceeded`,
    /// `PriorRequestNotComplete`, ...). Retryable.
    Throttled,
    /// The provider or the network is temporarily unable to answer (HTTP 5xx, connection reset,
    /// DNS failure). Retryable.
    Unavailable,
    /// One call took too long. Retryable: the next attempt may be faster.
    Timeout,
    /// The step's own deadline has passed. Not retryable: there is no time left.
    DeadlineExceeded,
    /// The run was cancelled (e.g. Ctrl-C). Not retryable.
    Cancelled,
    /// Credentials are missing, invalid, expired, or lack a permission. Not retryable.
    AccessDenied,
    /// The resource does not exist. Not retryable.
    NotFound,
    /// A parameter is invalid (provider validation, or drkit's own checks before calling). Not
    /// retryable.
    InvalidInput,
    /// The resource is in a state that does not allow the operation (e.g. a cluster that is not
    /// `available`). Not retryable by a blind retry; wait for the state instead.
    Conflict,
    /// The endpoint does not implement the operation (typical of a local emulator). Not retryable.
    NotImplemented,
    /// The action does not support what was asked (e.g. rollback). Not retryable.
    Unsupported,
    /// The action's pre-condition does not hold (its `check` said *blocked*). Not retryable.
    PreconditionFailed,
    /// The action ran but its post-condition does not hold (`verify` failed). Not retryable.
    PostconditionFailed,
    /// Anything else. Not retryable.
    Other,
}

impl ErrorKind {
    /// Whether running the same call again, after a pause, can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Unavailable | Self::Timeout)
    }

    /// A short, stable, human-readable name (also the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Cancelled => "cancelled",
            Self::AccessDenied => "access_denied",
            Self::NotFound => "not_found",
            Self::InvalidInput => "invalid_input",
            Self::Conflict => "conflict",
            Self::NotImplemented => "not_implemented",
            Self::Unsupported => "unsupported",
            Self::PreconditionFailed => "precondition_failed",
            Self::PostconditionFailed => "postcondition_failed",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of a recovery action.
///
/// Its `Display` is one line an operator can act on, e.g.
/// `rds.failover_db_cluster [failover-db] on rds:db-cluster/mint-replica-cluster: FailoverDBCluster:
/// cluster is not available (code InvalidDBClusterStateFault; conflict, a retry will not help)`.
///
/// Messages must never contain secrets: providers put identifiers and states in them, not values.
///
/// It is one pointer wide (the details are boxed), so `Result<T, ActionError>` stays small.
#[derive(Debug)]
pub struct ActionError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ErrorKind,
    message: String,
    action: Option<String>,
    step: Option<String>,
    resource: Option<String>,
    operation: Option<String>,
    code: Option<String>,
    retry_after: Option<Duration>,
    outputs: Option<crate::Outputs>,
    maybe_applied: bool,
    source: Option<BoxError>,
}

impl std::error::Error for ActionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl ActionError {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            kind,
            message: message.into(),
            action: None,
            step: None,
            resource: None,
            operation: None,
            code: None,
            retry_after: None,
            outputs: None,
            maybe_applied: false,
            source: None,
        }))
    }

    /// The step was cancelled.
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Cancelled, message)
    }

    /// The step's deadline passed.
    pub fn deadline_exceeded(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::DeadlineExceeded, message)
    }

    /// A parameter or request is invalid.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// The pre-condition does not hold.
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PreconditionFailed, message)
    }

    /// The post-condition does not hold.
    pub fn postcondition(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PostconditionFailed, message)
    }

    /// The operation is not supported by this action.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }

    /// Adds what the caller knows about the failure to the message (`message: note`), e.g. which
    /// endpoint answered or what the operator can do.
    #[must_use]
    pub fn with_note(mut self, note: impl fmt::Display) -> Self {
        self.0.message = format!("{}: {note}", self.0.message);
        self
    }

    /// A `NotFound` error said in the action's words (e.g. `EKS cluster mint-dr does not
    /// exist`), keeping its kind, code and operation; any other error as it is.
    #[must_use]
    pub fn with_not_found_message(mut self, message: impl FnOnce() -> String) -> Self {
        if self.0.kind == ErrorKind::NotFound {
            self.0.message = message();
        }
        self
    }

    /// Sets the provider operation that failed (e.g. `FailoverDBCluster`).
    #[must_use]
    pub fn with_operation(mut self, operation: impl Into<String>) -> Self {
        self.0.operation = Some(operation.into());
        self
    }

    /// Sets the provider's error code (e.g. `InvalidDBClusterStateFault`).
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.0.code = Some(code.into());
        self
    }

    /// Sets the resource concerned, if not set yet.
    #[must_use]
    pub fn with_resource(mut self, resource: impl fmt::Display) -> Self {
        if self.0.resource.is_none() {
            self.0.resource = Some(resource.to_string());
        }
        self
    }

    /// Sets the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.0.source = Some(source.into());
        self
    }

    /// How long the provider asked us to wait before retrying, when it said so.
    #[must_use]
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.0.retry_after = Some(after);
        self
    }

    /// What the action measured before failing (e.g. a data check's measured loss window, with
    /// `rpo_seconds`), so the run's report can still show it. Never put a secret in outputs.
    #[must_use]
    pub fn with_outputs(mut self, outputs: crate::Outputs) -> Self {
        self.0.outputs = Some(outputs);
        self
    }

    /// Marks a failed mutating call whose outcome is unknown: the request may have reached the
    /// provider and taken effect (its answer was lost, or the call was cut off). Nothing may
    /// send it again blindly; the action reconciles from what it recorded before the call.
    #[must_use]
    pub fn with_maybe_applied(mut self) -> Self {
        self.0.maybe_applied = true;
        self
    }

    /// Whether the failed call may have taken effect (see [`with_maybe_applied`](Self::with_maybe_applied)).
    pub fn maybe_applied(&self) -> bool {
        self.0.maybe_applied
    }

    /// Whether the provider answered the call with an error code (throttling, a refusal, also
    /// a 5xx such as `ServiceUnavailable` or `InternalFailure`), so it is taken as not applied:
    /// the AWS SDKs' standard retry sends such a call again, non-idempotent or not. Only a call
    /// with no answer (a broken connection, a time-out, a body cut short) may have applied.
    pub fn is_refusal(&self) -> bool {
        self.0.code.is_some()
            && !matches!(
                self.0.kind,
                ErrorKind::Timeout | ErrorKind::DeadlineExceeded
            )
            && !self.0.maybe_applied
    }

    /// Fills in the action kind, step id and resource from `action`, keeping any already set.
    #[must_use]
    pub fn in_action(mut self, action: &(impl crate::RecoveryAction + ?Sized)) -> Self {
        if self.0.action.is_none() {
            self.0.action = Some(action.kind().to_owned());
        }
        if self.0.step.is_none() {
            self.0.step = Some(action.id().to_owned());
        }
        self.with_resource(action.target())
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// Whether a retry can help. Derived from the kind, so the retry layer asks the error, not
    /// the call site.
    pub fn is_retryable(&self) -> bool {
        self.0.kind.is_retryable()
    }

    /// The message, without the context.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The action kind (e.g. `rds.failover_db_cluster`), when known.
    pub fn action(&self) -> Option<&str> {
        self.0.action.as_deref()
    }

    /// The step id, when known.
    pub fn step(&self) -> Option<&str> {
        self.0.step.as_deref()
    }

    /// The resource concerned, when known.
    pub fn resource(&self) -> Option<&str> {
        self.0.resource.as_deref()
    }

    /// The provider operation that failed, when known.
    pub fn operation(&self) -> Option<&str> {
        self.0.operation.as_deref()
    }

    /// The provider's error code, when known.
    pub fn code(&self) -> Option<&str> {
        self.0.code.as_deref()
    }

    /// What the action measured before failing, if it said.
    pub fn outputs(&self) -> Option<&crate::Outputs> {
        self.0.outputs.as_ref()
    }

    /// The provider's requested pause before a retry, when given.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut prefix = false;
        if let Some(action) = &self.0.action {
            write!(f, "{action}")?;
            prefix = true;
        }
        if let Some(step) = &self.0.step {
            write!(f, "{}[{step}]", if prefix { " " } else { "" })?;
            prefix = true;
        }
        if let Some(resource) = &self.0.resource {
            write!(f, "{}{resource}", if prefix { " on " } else { "" })?;
            prefix = true;
        }
        if prefix {
            f.write_str(": ")?;
        }
        if let Some(op) = &self.0.operation {
            write!(f, "{op}: ")?;
        }
        f.write_str(&self.0.message)?;
        f.write_str(" (")?;
        if let Some(code) = &self.0.code {
            write!(f, "code {code}; ")?;
        }
        if self.0.maybe_applied {
            f.write_str("the change may have been made; ")?;
        }
        let hint = if self.is_retryable() {
            "a retry can help"
        } else {
            "a retry will not help"
        };
        write!(f, "{}, {hint})", self.0.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryability_follows_the_kind() {
        let retryable = [
            ErrorKind::Throttled,
            ErrorKind::Unavailable,
            ErrorKind::Timeout,
        ];
        for kind in retryable {
            assert!(kind.is_retryable(), "{kind}");
        }
        let permanent = [
            ErrorKind::DeadlineExceeded,
            ErrorKind::Cancelled,
            ErrorKind::AccessDenied,
            ErrorKind::NotFound,
            ErrorKind::InvalidInput,
            ErrorKind::Conflict,
            ErrorKind::NotImplemented,
            ErrorKind::Unsupported,
            ErrorKind::PreconditionFailed,
            ErrorKind::PostconditionFailed,
            ErrorKind::Other,
        ];
        for kind in permanent {
            assert!(!kind.is_retryable(), "{kind}");
        }
    }

    #[test]
    fn display_names_action_step_resource_operation_and_code() {
        let err = ActionError::new(ErrorKind::Conflict, "cluster is not available")
            .with_operation("FailoverDBCluster")
            .with_code("InvalidDBClusterStateFault")
            .with_resource("rds:db-cluster/mint-replica-cluster");
        let mut err = err;
        err.0.action = Some("rds.failover_db_cluster".into());
        err.0.step = Some("failover-db".into());
        assert_eq!(
            err.to_string(),
            "rds.failover_db_cluster [failover-db] on rds:db-cluster/mint-replica-cluster: \
             FailoverDBCluster: cluster is not available \
             (code InvalidDBClusterStateFault; conflict, a retry will not help)"
        );
    }

    #[test]
    fn display_without_context_still_says_whether_to_retry() {
        let err = ActionError::new(ErrorKind::Throttled, "Rate exceeded");
        assert_eq!(
            err.to_string(),
            "Rate exceeded (throttled, a retry can help)"
        );
    }

    #[test]
    fn measured_outputs_travel_with_the_error() {
        let err = ActionError::postcondition("12 min of data lost, more than 5 min")
            .with_outputs(crate::Outputs::new().with("rpo_seconds", 720));
        assert_eq!(
            err.outputs().and_then(|o| o.get("rpo_seconds")),
            Some(&serde_json::json!(720))
        );
        assert!(ActionError::invalid_input("x").outputs().is_none());
    }

    #[test]
    fn resource_is_not_overwritten_by_outer_context() {
        let err = ActionError::invalid_input("bad")
            .with_resource("inner")
            .with_resource("outer");
        assert_eq!(err.resource(), Some("inner"));
    }
}
