//! Registration of the EKS actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};
use drkit_core::{ActionKind, PortFactory};

use crate::check::{CheckCluster, CheckNodegroup};
use crate::port::EksApi;
use crate::scale::ScaleNodegroup;
use crate::sdk::SdkEks;

/// Every EKS action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[
    CheckCluster::DESCRIPTOR,
    CheckNodegroup::DESCRIPTOR,
    ScaleNodegroup::DESCRIPTOR,
];

/// The EKS port over the AWS SDK, one client per region, configured by `aws` when first used.
/// drkit-k8s describes EKS clusters through it too.
pub fn ports(aws: &Aws) -> PortFactory<dyn EksApi> {
    let aws = aws.clone();
    PortFactory::new(move |region| Arc::new(SdkEks::lazy(&aws, region)) as Arc<dyn EksApi>)
}

/// Registers every EKS action, talking to AWS as configured in `aws` (loaded on first use).
pub fn register(registry: &mut Registry, aws: impl Into<Aws>) -> Result<(), DuplicateKind> {
    register_with(registry, &ports(&aws.into()))
}

/// Registers every EKS action over `ports` (e.g. mocks in the embedder's tests).
pub fn register_with(
    registry: &mut Registry,
    ports: &PortFactory<dyn EksApi>,
) -> Result<(), DuplicateKind> {
    registry.register::<CheckCluster>(ports.clone())?;
    registry.register::<CheckNodegroup>(ports.clone())?;
    registry.register::<ScaleNodegroup>(ports.clone())
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
