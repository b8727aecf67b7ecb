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
//! - [`registry::Registry`]: kind name + parameter table -> action;
//! - [`SecretRef`]: where a secret comes from (`env:`, `file:`); values are read late into a
//!   redacted [`SecretString`] and never logged;
//! - `MockRecoveryAction` (feature `mock`): a mockall mock for the embedder's unit tests.
//!
//! Provider crates (`drkit-rds`, ...) implement actions; `drkit-runner` composes them into plans.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod action;
mod context;
mod error;
mod layer;
#[cfg(any(test, feature = "mock"))]
mod mock;
pub mod registry;
mod secret;
mod wait;

pub use action::{ActionRef, Check, Outputs, RecoveryAction, Resource};
pub use context::{Context, EventSink, ProgressEvent, ProgressKind, TracingSink};
pub use error::{ActionError, BoxError, ErrorKind, Result};
pub use layer::{ActionExt, Layer, RetryLayer, RetryPolicy, TimeoutLayer};
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use mock::MockRecoveryAction;
pub use secret::{ExposeSecret, MAX_SECRET_FILE, SecretRef, SecretRefError, SecretString};
pub use wait::{MIN_FAILED_POLLS, Poll, WaitPolicy, wait_until};

/// Re-exported so providers and embedders use the same version.
pub use async_trait::async_trait;
/// Re-exported so embedders can create and share cancellation tokens.
pub use tokio_util::sync::CancellationToken;
