//! Registration of the Lambda action in a [`Registry`].

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};
use drkit_core::{ActionKind, PortFactory};

use crate::invoke::Invoke;
use crate::port::LambdaApi;
use crate::sdk::SdkLambda;

/// Every Lambda action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[Invoke::DESCRIPTOR];

/// The Lambda ports over the AWS SDK, one per region, configured by `aws` when first used.
pub fn ports(aws: &Aws) -> PortFactory<dyn LambdaApi> {
    let aws = aws.clone();
    PortFactory::new(move |region| Arc::new(SdkLambda::lazy(&aws, region)) as Arc<dyn LambdaApi>)
}

/// Registers every Lambda action, talking to AWS as configured in `aws` (loaded on first use).
pub fn register(registry: &mut Registry, aws: impl Into<Aws>) -> Result<(), DuplicateKind> {
    register_with(registry, &ports(&aws.into()))
}

/// Registers every Lambda action over `ports` (e.g. a mock).
pub fn register_with(
    registry: &mut Registry,
    ports: &PortFactory<dyn LambdaApi>,
) -> Result<(), DuplicateKind> {
    registry.register::<Invoke>(ports.clone())
}

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
