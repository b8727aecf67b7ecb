//! # drkit-aws
//!
//! The AWS plumbing every drkit provider shares:
//!
//! - [`AwsSettings`] / [`AwsContext`]: the SDK configuration, loaded the way AWS users expect
//!   (default credential chain, profile, region per step, assume-role, `endpoint_url` and
//!   `AWS_ENDPOINT_URL` for emulators, S3 path-style when an endpoint is set), with a connect,
//!   per-attempt and per-call time-out on every client (5 s, 30 s, 2 min by default; settable,
//!   or `DRKIT_AWS_CONNECT_TIMEOUT` / `DRKIT_AWS_ATTEMPT_TIMEOUT` /
//!   `DRKIT_AWS_OPERATION_TIMEOUT`) and the SDK's standard retry mode (3 attempts);
//! - [`Aws`] / [`LazyClient`]: the same configuration and the SDK clients, made on first use,
//!   so building actions (validate, plan) never loads credentials; [`sdk_adapter!`] defines a
//!   provider's adapter around one;
//! - [`sdk_error`] / [`SdkResultExt`]: SDK errors mapped to [`drkit_core::ActionError`] with
//!   the provider's error code and the right retry classification — including a local
//!   emulator's "not implemented" answer (HTTP 500 with an HTML page), which is permanent;
//! - [`Arn`], [`is_region_name`], [`is_account_id`]: identifiers read before any call.
//!
//! ```no_run
//! use drkit_aws::{AwsContext, AwsSettings};
//!
//! # async fn demo() {
//! let aws = AwsContext::load(&AwsSettings::default().region("us-west-2")).await;
//! let east = aws.for_region(Some("us-east-1")); // one step in another region
//! # let _ = east;
//! # }
//! ```

mod arn;
mod config;
mod error;
mod lazy;

pub use arn::{Arn, is_account_id, is_region_name};
/// The SDK configuration type (for [`sdk_adapter!`]).
pub use aws_config::SdkConfig;
pub use config::{
    ATTEMPT_TIMEOUT_ENV, AssumeRole, AwsContext, AwsSettings, CONNECT_TIMEOUT_ENV,
    DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_ATTEMPTS,
    DEFAULT_OPERATION_TIMEOUT, OPERATION_TIMEOUT_ENV,
};
pub use error::{SdkResultExt, classify_code, sdk_error};
pub use lazy::{Aws, LazyClient};

/// For the macros ([`registration!`]): `drkit_core` as the calling crate sees it.
#[doc(hidden)]
pub use drkit_core as __core;

/// The retry configuration of a call that must reach the provider at most once: a
/// non-idempotent mutation that has no idempotency token (e.g. `FailoverDBCluster`, which
/// fails a cluster back when sent twice). The SDK's retries would resend it after a lost
/// answer; with one attempt, the action reconciles from its recorded intent instead
/// ([`drkit_core::Context::mutate`]). Use it per operation:
///
/// ```ignore
/// client.failover_db_cluster()
///     .db_cluster_identifier(cluster)
///     .customize()
///     .config_override(aws_sdk_rds::Config::builder().retry_config(drkit_aws::single_attempt()))
///     .send()
///     .await
/// ```
pub fn single_attempt() -> aws_smithy_types::retry::RetryConfig {
    aws_smithy_types::retry::RetryConfig::standard().with_max_attempts(1)
}
