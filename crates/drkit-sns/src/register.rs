//! Registration of the SNS action in a [`Registry`](drkit_core::registry::Registry).

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::PortFactory;

use crate::port::SnsApi;
use crate::publish::Publish;
use crate::sdk::SdkSns;

/// The SNS ports over the AWS SDK, one per region (a topic's), configured by `aws` when first
/// used.
pub fn ports(aws: &Aws) -> PortFactory<dyn SnsApi> {
    let aws = aws.clone();
    PortFactory::new(move |region| Arc::new(SdkSns::lazy(&aws, region)) as Arc<dyn SnsApi>)
}

drkit_aws::registration! {
    service: "SNS",
    port: dyn SnsApi,
    ports: ports,
    kinds: [Publish],
}

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
