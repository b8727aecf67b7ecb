//! # drkit-lambda
//!
//! AWS Lambda as a recovery step (ARC Region switch's custom-action Lambda block, SSM
//! Automation's `aws:invokeLambdaFunction`): a team's own function — drain a queue, flip a
//! flag, call a partner — in the middle of a runbook, with drkit's journal, resume and
//! exactly-once guarantee.
//!
//! | kind | what it does |
//! |---|---|
//! | `lambda.invoke` | `Invoke` (`RequestResponse`, one attempt, intent journalled first); a function error fails the step; outputs from JSON pointers into the answer |
//!
//! Parts, as in every provider: the port [`LambdaApi`] (`MockLambdaApi` with the `mock`
//! feature), the adapter [`SdkLambda`], the kind [`Invoke`], and [`register`] /
//! [`register_with`] (over the [`ports`] of an [`Aws`](drkit_aws::Aws), or the embedder's
//! own).
//!
//! ```
//! use drkit_core::registry::Registry;
//! use drkit_lambda::{Invoke, InvokeParams};
//! use serde_json::json;
//!
//! let aws = drkit_aws::Aws::lazy(drkit_aws::AwsSettings::default());
//! let mut registry = Registry::new();
//! drkit_lambda::register(&mut registry, &aws).unwrap();
//! let drain = registry
//!     .typed::<Invoke>(
//!         "drain-queue",
//!         InvokeParams::new("mint-drain-queue")
//!             .payload(json!({"queue": "jobs", "region": "us-west-2"}))
//!             .output("drained", "/drained"),
//!     )
//!     .unwrap();
//! assert_eq!(drain.kind(), "lambda.invoke");
//! assert_eq!(drain.iam_actions(), ["lambda:InvokeFunction"]);
//! ```

#[cfg(test)]
mod behaviour_tests;
mod function;
mod invoke;
mod port;
mod register;
mod sdk;

pub use invoke::{Invoke, InvokeParams, MAX_PAYLOAD};
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use port::MockLambdaApi;
pub use port::{Invocation, InvokeRequest, LambdaApi};
pub use register::{DESCRIPTORS, ports, register, register_with};
pub use sdk::SdkLambda;
