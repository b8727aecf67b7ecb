//! Registration of the ARC actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};
use drkit_core::{ActionKind, PortFactory};

use crate::actions::{CheckRoutingControl, UpdateRoutingControl};
use crate::port::ArcApi;
use crate::sdk::SdkArc;

/// Every ARC action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[
    UpdateRoutingControl::DESCRIPTOR,
    CheckRoutingControl::DESCRIPTOR,
];

/// The ARC port over the AWS SDK, configured by `aws` when first used. The cluster endpoints
/// come from each step's parameters, so every step region gets the same port.
pub fn ports(aws: &Aws) -> PortFactory<dyn ArcApi> {
    PortFactory::fixed(Arc::new(SdkArc::new(aws)) as Arc<dyn ArcApi>)
}

/// Registers every ARC action, talking to AWS as configured in `aws` (credentials; each call
/// goes to one of the step's `cluster_endpoints`, signed for its region).
pub fn register(registry: &mut Registry, aws: impl Into<Aws>) -> Result<(), DuplicateKind> {
    register_with(registry, &ports(&aws.into()))
}

/// Registers every ARC action over `ports` (e.g. a mock).
pub fn register_with(
    registry: &mut Registry,
    ports: &PortFactory<dyn ArcApi>,
) -> Result<(), DuplicateKind> {
    registry.register::<UpdateRoutingControl>(ports.clone())?;
    registry.register::<CheckRoutingControl>(ports.clone())
}

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
