//! # drkit-core
//!
//! The vocabulary of drkit, with no cloud dependency:
//!
//! - [`RecoveryAction`]: one recovery step (check / execute / verify / rollback), usable as
//!   `Arc<dyn RecoveryAction>` ([`ActionRef`]);
//! - [`Context`]: dry-run flag, cancellation, deadline, progress events, earlier steps' outputs;
//! - [`ActionError`]: which action, which resource, which provider code, and whether a retry
//!   can help ([`ErrorKind::is_retryable`]);
//! - [`wait_until`]: the one waiting helper every provider uses;
//! - [`RetryLayer`] and [`TimeoutLayer`]: layers that wrap an action ([`ActionExt`]);
//! - [`ActionKind`], [`Act`], [`Probe`], [`Base`], [`PortFactory`]: one shape for every
//!   provider action (an action kind is a type: see the [`kind`] module);
//! - [`registry::Registry`]: kind name + parameter table -> action, or a typed parameter
//!   struct -> action;
//! - [`SecretRef`]: where a secret comes from (`env:`, `file:`, `prompt:`); values are read late
//!   into a redacted [`SecretString`] and never logged; `prompt:` asks the [`SecretPrompt`] the
//!   program installed ([`set_prompter`]);
//! - `MockRecoveryAction` (feature `mock`): a mockall mock for the embedder's unit tests.
//!
//! Provider crates (`drkit-rds`, ...) implement actions; `drkit-runner` composes them into plans.
#![cfg_attr(docsrs, feature(doc_cfg))]

// `#[derive(Params)]` names `::drkit_core`, also inside this crate's own tests.
#[allow(unused_extern_crates)]
extern crate self as drkit_core;

mod action;
mod context;
mod error;
pub mod kind;
mod layer;
mod memo;
#[cfg(any(test, feature = "mock"))]
mod mock;
pub mod once;
pub mod registry;
mod secret;
mod wait;

pub use action::{ActionRef, Check, Outputs, RecoveryAction, Resource};
pub use context::{
    Context, EventSink, IntentLog, ProgressEvent, ProgressKind, SendGate, TracingSink,
};
pub use error::{ActionError, BoxError, ErrorKind, Result};
pub use kind::{
    Act, ActionKind, Base, Finding, HasBase, PortFactory, Probe, ProbeExecute, StepSpec, Verdict,
};
pub use layer::{ActionExt, Layer, RetryLayer, RetryPolicy, TimeoutLayer};
pub use memo::Memo;
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use mock::MockRecoveryAction;
pub use secret::{
    ExposeSecret, MAX_SECRET_FILE, PrompterAlreadySet, SecretPrompt, SecretRef, SecretRefError,
    SecretString, set_prompter,
};
pub use wait::{MIN_FAILED_POLLS, Poll, WaitPolicy, wait_until};

/// Re-exported so providers and embedders use the same version.
pub use async_trait::async_trait;
/// `#[derive(HasBase)]`: an action struct's access to its `base: Base<Self>` field.
/// `#[derive(Params)]`: documents a parameter struct from its fields and doc comments.
pub use drkit_derive::{HasBase, Params};
/// Re-exported so embedders can create and share cancellation tokens.
pub use tokio_util::sync::CancellationToken;
