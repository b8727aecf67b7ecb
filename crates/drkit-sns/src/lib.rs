//! # drkit-sns
//!
//! Amazon SNS as a recovery step: the seed's communication plan ("Email distribution:
//! dr-team@…", an initial notice within 15 minutes, updates every 30) as steps of the runbook,
//! with drkit's journal, resume and exactly-once guarantee.
//!
//! | kind | what it does |
//! |---|---|
//! | `sns.publish` | `Publish` (one attempt, intent journalled first; FIFO topics deduplicated by run and step); the message id as output |
//!
//! Parts, as in every provider: the port [`SnsApi`] (`MockSnsApi` with the `mock` feature),
//! the adapter [`SdkSns`], the kind [`Publish`], and [`register`] / [`register_with`] (over
//! the [`ports`] of an [`Aws`](drkit_aws::Aws), or the embedder's own).
//!
//! ```
//! use drkit_core::registry::Registry;
//! use drkit_sns::{Publish, PublishParams};
//!
//! let aws = drkit_aws::Aws::lazy(drkit_aws::AwsSettings::default());
//! let mut registry = Registry::new();
//! drkit_sns::register(&mut registry, &aws).unwrap();
//! let notice = registry
//!     .typed::<Publish>(
//!         "notify-dr-team",
//!         PublishParams::new(
//!             "arn:aws:sns:us-east-1:123456789012:dr-team",
//!             "Mint is failing over to us-west-2.",
//!         )
//!         .subject("[DR] Mint failover started"),
//!     )
//!     .unwrap();
//! assert_eq!(notice.kind(), "sns.publish");
//! assert_eq!(notice.target().to_string(), "sns:topic/dr-team@us-east-1");
//! ```

#[cfg(test)]
mod behaviour_tests;
mod port;
mod publish;
mod register;
mod sdk;

#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use port::MockSnsApi;
pub use port::{PublishRequest, Published, SnsApi};
pub use publish::{MAX_MESSAGE, Publish, PublishParams};
pub use register::{DESCRIPTORS, ports, register, register_with};
pub use sdk::SdkSns;
