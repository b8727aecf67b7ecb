//! Registration of the S3 actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};
use drkit_core::{ActionKind, PortFactory};

use crate::configure_replication::ConfigureReplication;
use crate::port::S3Api;
use crate::remove_replication::RemoveReplication;
use crate::replication::VerifyReplication;
use crate::sdk::SdkS3;
use crate::website::ConfigureWebsite;

/// The S3 port of each region, over the AWS SDK (path-style addressing when an endpoint is
/// set), configured by `aws` when first used.
pub fn aws_ports(aws: &Aws) -> PortFactory<dyn S3Api> {
    let aws = aws.clone();
    PortFactory::new(move |region| Arc::new(SdkS3::lazy(&aws, region)) as Arc<dyn S3Api>)
}

/// Every S3 action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[
    VerifyReplication::DESCRIPTOR,
    ConfigureWebsite::DESCRIPTOR,
    ConfigureReplication::DESCRIPTOR,
    RemoveReplication::DESCRIPTOR,
];

/// Registers every S3 action, talking to AWS as configured in `aws` (loaded on first use).
pub fn register(registry: &mut Registry, aws: impl Into<Aws>) -> Result<(), DuplicateKind> {
    register_with(registry, &aws_ports(&aws.into()))
}

/// Registers every S3 action with the given port factory (e.g. mocks).
pub fn register_with(
    registry: &mut Registry,
    ports: &PortFactory<dyn S3Api>,
) -> Result<(), DuplicateKind> {
    registry.register::<VerifyReplication>(ports.clone())?;
    registry.register::<ConfigureWebsite>(ports.clone())?;
    registry.register::<ConfigureReplication>(ports.clone())?;
    registry.register::<RemoveReplication>(ports.clone())
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
