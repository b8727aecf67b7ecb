//! Registration of the CloudFront actions in a [`Registry`](drkit_core::registry::Registry).

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::PortFactory;

use crate::actions::{CheckDistribution, Invalidate};
use crate::port::CloudFrontApi;
use crate::sdk::SdkCloudFront;
use crate::switch::SwitchOrigin;

/// The CloudFront port over the AWS SDK, configured by `aws` when first used. CloudFront is
/// global: every region gets the same client.
pub fn ports(aws: &Aws) -> PortFactory<dyn CloudFrontApi> {
    PortFactory::fixed(Arc::new(SdkCloudFront::lazy(aws, None)) as Arc<dyn CloudFrontApi>)
}

drkit_aws::registration! {
    service: "CloudFront",
    port: dyn CloudFrontApi,
    ports: ports,
    kinds: [Invalidate, CheckDistribution, SwitchOrigin],
}

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
