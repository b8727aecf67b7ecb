//! # drkit-ec2
//!
//! EC2 security-group recovery actions for drkit (the seed's "Security Group Recovery" and
//! "Security Validation"), built like `drkit-rds`:
//!
//! 1. a **port** ([`Ec2Api`]): the EC2 operations drkit uses, mockable with `MockEc2Api`
//!    (feature `mock`);
//! 2. an **adapter** ([`SdkEc2`]) over `aws-sdk-ec2` (the largest SDK crate, kept in this crate
//!    alone), errors mapped by `drkit-aws`;
//! 3. **actions**: [`AuthorizeIngress`] (`ec2.authorize_ingress`: add only the missing rules,
//!    rollback revokes only those) and [`CheckSecurityGroup`] (`ec2.check_security_group`);
//! 4. **registration** ([`register`], [`register_with`]).
//!
//! ```no_run
//! use drkit_aws::{AwsContext, AwsSettings};
//! use drkit_core::registry::{ActionSpec, Registry};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let aws = AwsContext::load(&AwsSettings::default().region("us-west-2")).await;
//! let mut registry = Registry::new();
//! drkit_ec2::register(&mut registry, &aws)?;
//! let open = registry.build(&ActionSpec::new(
//!     "open-api-443",
//!     "ec2.authorize_ingress",
//!     serde_json::json!({"group": "sg-0123456789abcdef0",
//!                        "rules": [{"protocol": "tcp", "port": 443, "cidr": "10.0.0.0/8"}]}),
//! ))?;
//! println!("{:?}", open.check(&drkit_core::Context::new()).await?);
//! # Ok(()) }
//! ```

mod authorize;
#[cfg(test)]
mod behaviour_tests;
mod check_sg;
mod port;
mod register;
mod rule;
mod sdk;

pub use authorize::{AuthorizeIngress, AuthorizeIngressParams};
pub use check_sg::{CheckSecurityGroup, CheckSecurityGroupParams};
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use port::MockEc2Api;
pub use port::{Ec2Api, GroupRef, SecurityGroup};
pub use register::{DESCRIPTORS, ports, register, register_with};
pub use rule::{IngressRule, RuleParam, Source};
pub use sdk::SdkEc2;
