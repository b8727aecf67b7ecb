//! Registration of the IAM actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};
use drkit_core::{ActionKind, PortFactory};

use crate::check_role::CheckRole;
use crate::port::IamApi;
use crate::put_policy::PutRolePolicy;
use crate::sdk::SdkIam;

/// Every IAM action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[PutRolePolicy::DESCRIPTOR, CheckRole::DESCRIPTOR];

/// The IAM port over the AWS SDK, configured by `aws` when first used (IAM is global; a step's
/// region only picks the endpoint the SDK signs for).
pub fn ports(aws: &Aws) -> PortFactory<dyn IamApi> {
    let aws = aws.clone();
    PortFactory::new(move |region| Arc::new(SdkIam::lazy(&aws, region)) as Arc<dyn IamApi>)
}

/// Registers every IAM action, talking to AWS as configured in `aws` (loaded on first use).
pub fn register(registry: &mut Registry, aws: impl Into<Aws>) -> Result<(), DuplicateKind> {
    register_with(registry, &ports(&aws.into()))
}

/// Registers every IAM action over `ports` (e.g. a mock in the embedder's tests).
pub fn register_with(
    registry: &mut Registry,
    ports: &PortFactory<dyn IamApi>,
) -> Result<(), DuplicateKind> {
    registry.register::<PutRolePolicy>(ports.clone())?;
    registry.register::<CheckRole>(ports.clone())
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
