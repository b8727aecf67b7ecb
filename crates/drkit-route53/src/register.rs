//! Registration of the Route 53 actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};
use drkit_core::{ActionKind, PortFactory};

use crate::change::ChangeRecords;
use crate::health::CheckHealth;
use crate::port::Route53Api;
use crate::sdk::SdkRoute53;

/// Every Route 53 action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[ChangeRecords::DESCRIPTOR, CheckHealth::DESCRIPTOR];

/// The Route 53 port over the AWS SDK, configured by `aws` when first used. Route 53 is global:
/// every region gets the same client. Other providers writing DNS records (ACM) use it too.
pub fn ports(aws: &Aws) -> PortFactory<dyn Route53Api> {
    PortFactory::fixed(Arc::new(SdkRoute53::lazy(aws, None)) as Arc<dyn Route53Api>)
}

/// Registers every Route 53 action, talking to AWS as configured in `aws` (loaded on first use;
/// Route 53 is global: the step's region is ignored).
pub fn register(registry: &mut Registry, aws: impl Into<Aws>) -> Result<(), DuplicateKind> {
    register_with(registry, &ports(&aws.into()))
}

/// Registers every Route 53 action over `ports` (e.g. a mock in the embedder's tests).
pub fn register_with(
    registry: &mut Registry,
    ports: &PortFactory<dyn Route53Api>,
) -> Result<(), DuplicateKind> {
    registry.register::<ChangeRecords>(ports.clone())?;
    registry.register::<CheckHealth>(ports.clone())
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
