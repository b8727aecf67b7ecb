//! Registration of the Route 53 actions in a [`Registry`](drkit_core::registry::Registry).

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::PortFactory;

use crate::change::ChangeRecords;
use crate::health::CheckHealth;
use crate::port::Route53Api;
use crate::sdk::SdkRoute53;

/// The Route 53 port over the AWS SDK, configured by `aws` when first used. Route 53 is global:
/// every region gets the same client. Other providers writing DNS records (ACM) use it too.
pub fn ports(aws: &Aws) -> PortFactory<dyn Route53Api> {
    PortFactory::fixed(Arc::new(SdkRoute53::lazy(aws, None)) as Arc<dyn Route53Api>)
}

drkit_aws::registration! {
    service: "Route 53",
    port: dyn Route53Api,
    ports: ports,
    kinds: [ChangeRecords, CheckHealth],
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
