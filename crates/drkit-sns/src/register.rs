//! Registration of the SNS action in a [`Registry`].

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};
use drkit_core::{ActionKind, PortFactory};

use crate::port::SnsApi;
use crate::publish::Publish;
use crate::sdk::SdkSns;

/// Every SNS action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[Publish::DESCRIPTOR];

/// The SNS ports over the AWS SDK, one per region (a topic's), configured by `aws` when first
/// used.
pub fn ports(aws: &Aws) -> PortFactory<dyn SnsApi> {
    let aws = aws.clone();
    PortFactory::new(move |region| Arc::new(SdkSns::lazy(&aws, region)) as Arc<dyn SnsApi>)
}

/// Registers every SNS action, talking to AWS as configured in `aws` (loaded on first use).
pub fn register(registry: &mut Registry, aws: impl Into<Aws>) -> Result<(), DuplicateKind> {
    register_with(registry, &ports(&aws.into()))
}

/// Registers every SNS action over `ports` (e.g. a mock).
pub fn register_with(
    registry: &mut Registry,
    ports: &PortFactory<dyn SnsApi>,
) -> Result<(), DuplicateKind> {
    registry.register::<Publish>(ports.clone())
}

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
