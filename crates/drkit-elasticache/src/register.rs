//! Registration of the ElastiCache actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};
use drkit_core::{ActionKind, PortFactory};

use crate::check::CheckReplicationGroup;
use crate::failover::TestFailover;
use crate::global::FailoverGlobalDatastore;
use crate::port::ElastiCacheApi;
use crate::sdk::SdkElastiCache;
use crate::set_primary::SetPrimary;

/// The ElastiCache port of each region, over the AWS SDK, configured by `aws` when first used.
pub fn aws_ports(aws: &Aws) -> PortFactory<dyn ElastiCacheApi> {
    let aws = aws.clone();
    PortFactory::new(move |region| {
        Arc::new(SdkElastiCache::lazy(&aws, region)) as Arc<dyn ElastiCacheApi>
    })
}

/// Every ElastiCache action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[
    CheckReplicationGroup::DESCRIPTOR,
    SetPrimary::DESCRIPTOR,
    TestFailover::DESCRIPTOR,
    FailoverGlobalDatastore::DESCRIPTOR,
];

/// Registers every ElastiCache action, talking to AWS as configured in `aws` (loaded on first
/// use).
pub fn register(registry: &mut Registry, aws: impl Into<Aws>) -> Result<(), DuplicateKind> {
    register_with(registry, &aws_ports(&aws.into()))
}

/// Registers every ElastiCache action with the given port factory (e.g. mocks in the
/// embedder's tests).
pub fn register_with(
    registry: &mut Registry,
    ports: &PortFactory<dyn ElastiCacheApi>,
) -> Result<(), DuplicateKind> {
    registry.register::<CheckReplicationGroup>(ports.clone())?;
    registry.register::<SetPrimary>(ports.clone())?;
    registry.register::<TestFailover>(ports.clone())?;
    registry.register::<FailoverGlobalDatastore>(ports.clone())
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
