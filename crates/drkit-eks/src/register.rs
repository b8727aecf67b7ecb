//! Registration of the EKS actions in a [`Registry`](drkit_core::registry::Registry).

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::PortFactory;

use crate::check::{CheckCluster, CheckNodegroup};
use crate::port::EksApi;
use crate::scale::ScaleNodegroup;
use crate::sdk::SdkEks;

/// The EKS port over the AWS SDK, one client per region, configured by `aws` when first used.
/// drkit-k8s describes EKS clusters through it too.
pub fn ports(aws: &Aws) -> PortFactory<dyn EksApi> {
    let aws = aws.clone();
    PortFactory::new(move |region| Arc::new(SdkEks::lazy(&aws, region)) as Arc<dyn EksApi>)
}

drkit_aws::registration! {
    service: "EKS",
    port: dyn EksApi,
    ports: ports,
    kinds: [CheckCluster, CheckNodegroup, ScaleNodegroup],
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
