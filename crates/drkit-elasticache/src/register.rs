//! Registration of the ElastiCache actions in a [`Registry`](drkit_core::registry::Registry).

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::PortFactory;

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

drkit_aws::registration! {
    service: "ElastiCache",
    port: dyn ElastiCacheApi,
    ports: aws_ports,
    kinds: [CheckReplicationGroup, SetPrimary, TestFailover, FailoverGlobalDatastore],
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
