//! The one convention every check follows (see the crate docs): `check` measures and answers
//! `Done { outputs }` when the data passes and `Blocked { reason }` when it does not (a data-loss
//! measurement over its limit instead fails, carrying its outputs: see [`as_check`]); `execute`
//! measures and returns the outputs or fails with `PostconditionFailed`; `verify` measures again.

use drkit_core::{ActionError, Check, ErrorKind, Outputs};

/// What one measurement found.
#[derive(Debug)]
pub(crate) struct Measurement {
    /// The measured values (never a secret).
    pub(crate) outputs: Outputs,
    /// Whether the data passes, in words.
    pub(crate) verdict: Verdict,
}

/// Pass (what was seen) or fail (why, with the measured values).
#[derive(Debug)]
pub(crate) enum Verdict {
    Pass(String),
    Fail(String),
}

impl Measurement {
    pub(crate) fn pass(outputs: Outputs, detail: String) -> Self {
        Self {
            outputs,
            verdict: Verdict::Pass(detail),
        }
    }

    pub(crate) fn fail(outputs: Outputs, reason: String) -> Self {
        Self {
            outputs,
            verdict: Verdict::Fail(reason),
        }
    }
}

/// `check`: pass -> done with the outputs; fail -> blocked — except a failed measurement of data
/// loss (outputs with `rpo_seconds`), which fails with `PostconditionFailed` *carrying* its
/// outputs, so the run's report can give the RPO verdict (breached, by how much) instead of
/// losing the number; a missing database, table or column -> blocked (a missing resource is
/// blocked, not an error); other errors as they are.
pub(crate) fn as_check(measured: Result<Measurement, ActionError>) -> Result<Check, ActionError> {
    match measured {
        Ok(Measurement {
            outputs,
            verdict: Verdict::Pass(detail),
        }) => Ok(Check::Done { detail, outputs }),
        Ok(Measurement {
            outputs,
            verdict: Verdict::Fail(reason),
        }) if outputs.get("rpo_seconds").is_some() => {
            Err(ActionError::postcondition(reason).with_outputs(outputs))
        }
        Ok(Measurement {
            verdict: Verdict::Fail(reason),
            ..
        }) => Ok(Check::blocked(reason)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Check::blocked(e.message().to_owned())),
        Err(e) => Err(e),
    }
}

/// `execute`: pass -> the outputs; fail -> `PostconditionFailed` with the reason.
pub(crate) fn as_outputs(
    measured: Result<Measurement, ActionError>,
    action: &(impl drkit_core::RecoveryAction + ?Sized),
) -> Result<Outputs, ActionError> {
    let m = measured?;
    match m.verdict {
        Verdict::Pass(_) => Ok(m.outputs),
        Verdict::Fail(reason) => Err(ActionError::postcondition(reason)
            .with_outputs(m.outputs)
            .in_action(action)),
    }
}

/// `verify`: pass -> what was seen; fail -> `PostconditionFailed` with the reason.
pub(crate) fn as_verified(
    measured: Result<Measurement, ActionError>,
    action: &(impl drkit_core::RecoveryAction + ?Sized),
) -> Result<String, ActionError> {
    let m = measured?;
    match m.verdict {
        Verdict::Pass(detail) => Ok(detail),
        Verdict::Fail(reason) => Err(ActionError::postcondition(reason)
            .with_outputs(m.outputs)
            .in_action(action)),
    }
}

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
