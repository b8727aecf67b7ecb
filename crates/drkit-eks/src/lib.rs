//! # drkit-eks
//!
//! EKS recovery actions for drkit, in the provider pattern of `drkit-rds`:
//!
//! 1. a **port** ([`EksApi`]): the EKS operations drkit uses, in drkit's own types, mockable
//!    with `MockEksApi` (feature `mock`);
//! 2. an **adapter** ([`SdkEks`]): the port over `aws-sdk-eks`, errors mapped by `drkit-aws`;
//! 3. **actions** written against the port: [`CheckCluster`] (`eks.check_cluster`),
//!    [`CheckNodegroup`] (`eks.check_nodegroup`) and [`ScaleNodegroup`]
//!    (`eks.scale_nodegroup`, the seed's "scale up the standby node group");
//! 4. **registration** ([`register`]);
//!
//! and tests at three levels: mocked port for the states moto cannot show, the behaviour suite
//! against an in-memory EKS, and moto server for the real protocol (`tests/it`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use drkit_aws::{AwsContext, AwsSettings};
//! use drkit_core::{Context, RecoveryAction};
//! use drkit_eks::{ScaleNodegroup, ScaleNodegroupParams, SdkEks};
//!
//! # async fn demo() -> Result<(), drkit_core::ActionError> {
//! let aws = AwsContext::load(&AwsSettings::default().region("us-west-2")).await;
//! let scale = ScaleNodegroup::new(
//!     "scale-standby",
//!     ScaleNodegroupParams::new("mint-dr", "standby", 6).max_size(10),
//!     Arc::new(SdkEks::from_config(aws.sdk_config())),
//!     aws.region(),
//! );
//! let outputs = scale.execute(&Context::new()).await?;
//! assert_eq!(outputs.get("desired_size"), Some(&6.into()));
//! # Ok(()) }
//! ```

#[cfg(test)]
mod behaviour_tests;
mod check;
mod common;
mod port;
mod register;
mod scale;
mod sdk;

pub use check::{CheckCluster, CheckClusterParams, CheckNodegroup, CheckNodegroupParams};
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use port::MockEksApi;
pub use port::{EksApi, EksCluster, HealthIssue, Nodegroup, NodegroupUpdate, Scaling};
pub use register::{DESCRIPTORS, ports, register, register_with};
pub use scale::{ScaleNodegroup, ScaleNodegroupParams};
pub use sdk::SdkEks;
