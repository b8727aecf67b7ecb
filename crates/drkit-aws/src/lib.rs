//! # drkit-aws
//!
//! The AWS plumbing every drkit provider shares:
//!
//! - [`AwsSettings`] / [`AwsContext`]: the SDK configuration, loaded the way AWS users expect
//!   (default credential chain, profile, region per step, assume-role, `endpoint_url` and
//!   `AWS_ENDPOINT_URL` for emulators, S3 path-style when an endpoint is set);
//! - [`sdk_error`] / [`SdkResultExt`]: SDK errors mapped to [`drkit_core::ActionError`] with
//!   the provider's error code and the right retry classification — including a local
//!   emulator's "not implemented" answer (HTTP 500 with an HTML page), which is permanent.
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

mod config;
mod error;

pub use config::{AssumeRole, AwsContext, AwsSettings};
pub use error::{SdkResultExt, classify_code, sdk_error};
