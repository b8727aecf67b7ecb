//! What the checks share beyond drkit-core's [`Probe`](drkit_core::Probe) (which maps one
//! measurement to check / execute / verify for every check): naming which side of a
//! comparison an error came from.

use drkit_core::ActionError;

/// The same error with `label` before its message (e.g. which of two databases failed), kind,
/// code and retry hint kept.
pub(crate) fn labelled(err: ActionError, label: &str) -> ActionError {
    let mut out = ActionError::new(err.kind(), format!("{label}: {}", err.message()));
    if let Some(code) = err.code() {
        out = out.with_code(code.to_owned());
    }
    if let Some(op) = err.operation() {
        out = out.with_operation(op.to_owned());
    }
    if let Some(after) = err.retry_after() {
        out = out.with_retry_after(after);
    }
    out.with_source(err)
}
