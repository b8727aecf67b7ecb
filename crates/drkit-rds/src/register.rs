//! Registration of the RDS actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};
use drkit_core::{ActionKind, PortFactory};

use crate::failover::FailoverDbCluster;
use crate::global::{
    CheckGlobalCluster, DetachGlobalSecondary, FailoverGlobalCluster, SwitchoverGlobalCluster,
};
use crate::port::{MetricsApi, RdsApi};
use crate::probe::{CheckReplicaLag, ClusterStatus, InstanceStatus};
use crate::promote::{PromoteReadReplica, PromoteReadReplicaDbCluster};
use crate::reprotect::{AddGlobalSecondary, CreateGlobalCluster, RetireGlobalCluster};
use crate::restore::{
    RestoreClusterToPointInTime, RestoreInstanceFromSnapshot, RestoreInstanceToPointInTime,
};
use crate::sdk::{SdkCloudWatch, SdkRds};
use crate::snapshot::CreateSnapshot;

/// The ports the RDS actions are built with: the real AWS clients ([`RdsPorts::aws`]) or the
/// embedder's own, e.g. mocks ([`register_with`]).
#[derive(Clone, Debug)]
pub struct RdsPorts {
    /// The RDS port.
    pub rds: PortFactory<dyn RdsApi>,
    /// The CloudWatch port (replica lag).
    pub metrics: PortFactory<dyn MetricsApi>,
}

impl RdsPorts {
    /// Ports over the AWS SDK, configured by `aws` when first used.
    pub fn aws(aws: &Aws) -> Self {
        let (a, b) = (aws.clone(), aws.clone());
        Self {
            rds: PortFactory::new(move |region| {
                Arc::new(SdkRds::lazy(&a, region)) as Arc<dyn RdsApi>
            }),
            metrics: PortFactory::new(move |region| {
                Arc::new(SdkCloudWatch::lazy(&b, region)) as Arc<dyn MetricsApi>
            }),
        }
    }
}

/// Every RDS action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[
    FailoverDbCluster::DESCRIPTOR,
    PromoteReadReplica::DESCRIPTOR,
    PromoteReadReplicaDbCluster::DESCRIPTOR,
    RestoreInstanceToPointInTime::DESCRIPTOR,
    RestoreInstanceFromSnapshot::DESCRIPTOR,
    RestoreClusterToPointInTime::DESCRIPTOR,
    CreateSnapshot::DESCRIPTOR,
    CheckReplicaLag::DESCRIPTOR,
    InstanceStatus::DESCRIPTOR,
    ClusterStatus::DESCRIPTOR,
    CheckGlobalCluster::DESCRIPTOR,
    SwitchoverGlobalCluster::DESCRIPTOR,
    FailoverGlobalCluster::DESCRIPTOR,
    DetachGlobalSecondary::DESCRIPTOR,
    CreateGlobalCluster::DESCRIPTOR,
    RetireGlobalCluster::DESCRIPTOR,
    AddGlobalSecondary::DESCRIPTOR,
];

/// Registers every RDS action, talking to AWS as configured in `aws` (loaded on first use).
pub fn register(registry: &mut Registry, aws: impl Into<Aws>) -> Result<(), DuplicateKind> {
    register_with(registry, &RdsPorts::aws(&aws.into()))
}

/// Registers every RDS action with the given ports (e.g. mocks in the embedder's tests).
pub fn register_with(registry: &mut Registry, ports: &RdsPorts) -> Result<(), DuplicateKind> {
    registry.register::<FailoverDbCluster>(ports.rds.clone())?;
    registry.register::<PromoteReadReplica>(ports.rds.clone())?;
    registry.register::<PromoteReadReplicaDbCluster>(ports.rds.clone())?;
    registry.register::<RestoreInstanceToPointInTime>(ports.rds.clone())?;
    registry.register::<RestoreInstanceFromSnapshot>(ports.rds.clone())?;
    registry.register::<RestoreClusterToPointInTime>(ports.rds.clone())?;
    registry.register::<CreateSnapshot>(ports.rds.clone())?;
    registry.register::<InstanceStatus>(ports.rds.clone())?;
    registry.register::<ClusterStatus>(ports.rds.clone())?;
    registry.register::<CheckReplicaLag>(ports.metrics.clone())?;
    registry.register::<CheckGlobalCluster>(ports.clone())?;
    registry.register::<SwitchoverGlobalCluster>(ports.rds.clone())?;
    registry.register::<FailoverGlobalCluster>(ports.clone())?;
    registry.register::<DetachGlobalSecondary>(ports.rds.clone())?;
    registry.register::<CreateGlobalCluster>(ports.rds.clone())?;
    registry.register::<RetireGlobalCluster>(ports.rds.clone())?;
    registry.register::<AddGlobalSecondary>(ports.rds.clone())?;
    Ok(())
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
