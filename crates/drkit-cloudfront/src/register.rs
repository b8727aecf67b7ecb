//! Registration of the CloudFront actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};
use drkit_core::{ActionKind, PortFactory};

use crate::actions::{CheckDistribution, Invalidate};
use crate::port::CloudFrontApi;
use crate::sdk::SdkCloudFront;
use crate::switch::SwitchOrigin;

/// Every CloudFront action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[
    Invalidate::DESCRIPTOR,
    CheckDistribution::DESCRIPTOR,
    SwitchOrigin::DESCRIPTOR,
];

/// The CloudFront port over the AWS SDK, configured by `aws` when first used. CloudFront is
/// global: every region gets the same client.
pub fn ports(aws: &Aws) -> PortFactory<dyn CloudFrontApi> {
    PortFactory::fixed(Arc::new(SdkCloudFront::lazy(aws, None)) as Arc<dyn CloudFrontApi>)
}

/// Registers every CloudFront action, talking to AWS as configured in `aws` (loaded on first
/// use; CloudFront is global: the step's region is ignored).
pub fn register(registry: &mut Registry, aws: impl Into<Aws>) -> Result<(), DuplicateKind> {
    register_with(registry, &ports(&aws.into()))
}

/// Registers every CloudFront action over `ports` (e.g. a mock).
pub fn register_with(
    registry: &mut Registry,
    ports: &PortFactory<dyn CloudFrontApi>,
) -> Result<(), DuplicateKind> {
    registry.register::<Invalidate>(ports.clone())?;
    registry.register::<CheckDistribution>(ports.clone())?;
    registry.register::<SwitchOrigin>(ports.clone())
}

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
