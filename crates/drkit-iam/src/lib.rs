//! # drkit-iam
//!
//! IAM recovery actions for drkit (the seed's "IAM and RBAC Recovery"), built like `drkit-rds`:
//!
//! 1. a **port** ([`IamApi`]): the IAM operations drkit uses, mockable with `MockIamApi`
//!    (feature `mock`);
//! 2. an **adapter** ([`SdkIam`]) over `aws-sdk-iam`, errors mapped by `drkit-aws`, and IAM's
//!    URL-encoded policy documents decoded in one place ([`decode_policy_document`]);
//! 3. **actions**: [`PutRolePolicy`] (`iam.put_role_policy`: restore a role's inline policy,
//!    validated before any call, idempotent, with rollback) and [`CheckRole`]
//!    (`iam.check_role`: the role exists and allows the actions recovery needs);
//! 4. **registration** ([`register`], [`register_with`]);
//! 5. **permission simulation** ([`simulate`]): may the caller run a plan? Used by
//!    `drkit check`.
//!
//! ```no_run
//! use drkit_aws::{AwsContext, AwsSettings};
//! use drkit_core::registry::{ActionSpec, Registry};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let aws = AwsContext::load(&AwsSettings::default().region("us-east-1")).await;
//! let mut registry = Registry::new();
//! drkit_iam::register(&mut registry, &aws)?;
//! let check = registry.build(&ActionSpec::new(
//!     "dr-role",
//!     "iam.check_role",
//!     serde_json::json!({"role": "mint-replica-dr-role", "expect_actions": ["rds:FailoverDBCluster"]}),
//! ))?;
//! println!("{:?}", check.check(&drkit_core::Context::new()).await?);
//! # Ok(()) }
//! ```

#[cfg(test)]
mod behaviour_tests;
mod check_role;
mod policy;
mod port;
mod put_policy;
mod register;
mod sdk;
pub mod simulate;

pub use check_role::{CheckRole, CheckRoleParams};
pub use policy::{PolicyDocument, PolicyError, wildcard_match};
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use port::MockIamApi;
pub use port::{AttachedPolicy, IamApi, Role};
pub use put_policy::{PutRolePolicy, PutRolePolicyParams};
pub use register::{DESCRIPTORS, ports, register, register_with};
pub use sdk::{SdkIam, decode_policy_document};
