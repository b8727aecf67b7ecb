//! # drkit-custom
//!
//! Your own steps in a drkit runbook, with every guarantee drkit's own actions have — check
//! before, verify after, rollback, a journal, exactly once, no secret in any log:
//!
//! | kind | what it runs |
//! |---|---|
//! | `exec.command` | a local program (no shell), with optional `check`, `verify` and `rollback` programs |
//! | `http.request` | a call to an HTTP API, with optional `check` and `verify` requests and an `Idempotency-Key` |
//!
//! No AWS dependency.
//!
//! ## Exactly once
//!
//! Before `exec.command` starts its program, or `http.request` sends its request, it journals
//! its intent; when the program ends (the answer comes), the exit code (the status). An
//! `http.request` with `idempotency_key = true` sends the same `Idempotency-Key: <run>/<step>`
//! on every attempt and after a resume, so a request whose answer was lost is sent again
//! safely. A resumed run that finds an intent without an exit code (the process was killed
//! in the middle, the machine lost) cannot know whether the program did its work: it runs the
//! step's `check` program, which decides; without one, the step's check answers
//! [`Check::Unknown`](drkit_core::Check::Unknown) and the runner asks a person, which an
//! automatic approval (`--auto-approve`) refuses.
//!
//! ## Secrets
//!
//! A secret reaches a program only through its environment (`env = { TOKEN = { secret =
//! "env:STATUS_TOKEN" } }`); a secret in an argument list is refused by `validate`, because
//! arguments are visible to every user of the machine. Everything drkit keeps of a program's
//! output (outputs, errors, the journal) has the step's secret values replaced by
//! `[REDACTED]` ([`Redactor`]).
//!
//! ## Parts
//!
//! The ports [`ProcessApi`] and [`HttpApi`] (`MockProcessApi`, `MockHttpApi` with the `mock`
//! feature) and their adapters [`TokioProcess`] and [`Reqwest`] (rustls, redirects never
//! followed); the kinds [`ExecCommand`] and [`HttpRequestAction`]; [`register`] /
//! [`register_with`].
//!
//! ```
//! use drkit_core::registry::Registry;
//! use drkit_custom::{ExecCommand, ExecCommandParams};
//!
//! let mut registry = Registry::new();
//! drkit_custom::register(&mut registry).unwrap();
//! let drain = registry
//!     .typed::<ExecCommand>(
//!         "drain-queue",
//!         ExecCommandParams::new(["/opt/mint/drain-queue", "--queue", "jobs"])
//!             .check(["/opt/mint/drain-queue", "--is-drained"])
//!             .secret_env("QUEUE_TOKEN", "env:MINT_QUEUE_TOKEN".parse().unwrap()),
//!     )
//!     .unwrap();
//! assert_eq!(drain.kind(), "exec.command");
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod exec;
mod http;
mod http_port;
mod process;
mod redact;
mod register;
mod values;

#[cfg(test)]
mod behaviour_tests;

pub use exec::{ExecCommand, ExecCommandParams, OutputMode};
pub use http::{HttpProbe, HttpRequestAction, HttpRequestParams, Statuses};
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use http_port::MockHttpApi;
pub use http_port::{HttpApi, HttpReply, HttpRequest, MAX_BODY, Reqwest};
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use process::MockProcessApi;
pub use process::{Ending, EnvValue, Exit, Invocation, KILL_GRACE, ProcessApi, TokioProcess};
pub use redact::{REDACTED, Redactor};
pub use register::{CustomPorts, DESCRIPTORS, register, register_with};
pub use values::{Arg, TextOrSecret};
