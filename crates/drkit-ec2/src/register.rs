//! Registration of the EC2 actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};
use drkit_core::{ActionKind, PortFactory};

use crate::authorize::AuthorizeIngress;
use crate::check_sg::CheckSecurityGroup;
use crate::port::Ec2Api;
use crate::sdk::SdkEc2;

/// Every EC2 action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] =
    &[AuthorizeIngress::DESCRIPTOR, CheckSecurityGroup::DESCRIPTOR];

/// The EC2 port over the AWS SDK for a step's region (`None`: the default region),
/// configured by `aws` when first used.
pub fn ports(aws: &Aws) -> PortFactory<dyn Ec2Api> {
    let aws = aws.clone();
    PortFactory::new(move |region| Arc::new(SdkEc2::lazy(&aws, region)) as Arc<dyn Ec2Api>)
}

/// Registers every EC2 action, talking to AWS as configured in `aws` (loaded on first use).
pub fn register(registry: &mut Registry, aws: impl Into<Aws>) -> Result<(), DuplicateKind> {
    register_with(registry, &ports(&aws.into()))
}

/// Registers every EC2 action over `ports` (e.g. a mock in the embedder's tests).
pub fn register_with(
    registry: &mut Registry,
    ports: &PortFactory<dyn Ec2Api>,
) -> Result<(), DuplicateKind> {
    registry.register::<AuthorizeIngress>(ports.clone())?;
    registry.register::<CheckSecurityGroup>(ports.clone())
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
