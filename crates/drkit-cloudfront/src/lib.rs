//! # drkit-cloudfront
//!
//! CloudFront recovery actions for drkit:
//!
//! | kind | what it does |
//! |---|---|
//! | `cloudfront.invalidate` | `CreateInvalidation`, waited until `Completed`; a re-execute never creates a second one |
//! | `cloudfront.check_distribution` | probe: the distribution is `Deployed` and enabled |
//! | `cloudfront.switch_origin` | points the default behaviour (and listed path patterns) at another origin, `If-Match` on the config's ETag, waited until `Deployed`; rollback restores the targets |
//!
//! Parts, as in every provider: the port [`CloudFrontApi`] (`MockCloudFrontApi` with the
//! `mock` feature), the adapter [`SdkCloudFront`], the actions (one type per kind:
//! [`Invalidate`], [`CheckDistribution`]), and [`register`] / [`register_with`] (over the
//! [`ports`] of an [`Aws`](drkit_aws::Aws), or the embedder's own).

mod actions;
#[cfg(test)]
mod behaviour_tests;
mod port;
mod register;
mod sdk;
mod switch;

pub use actions::{CheckDistribution, DistributionParams, Invalidate, InvalidateParams};
#[cfg(any(test, feature = "mock"))]
pub use port::MockCloudFrontApi;
pub use port::{CloudFrontApi, Distribution, Invalidation, Routing};
pub use register::{DESCRIPTORS, ports, register, register_with};
pub use sdk::SdkCloudFront;
pub use switch::{SwitchOrigin, SwitchOriginParams};
