//! Registration of the S3 actions in a [`Registry`](drkit_core::registry::Registry).

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::PortFactory;

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

drkit_aws::registration! {
    service: "S3",
    port: dyn S3Api,
    ports: aws_ports,
    kinds: [VerifyReplication, ConfigureWebsite, ConfigureReplication, RemoveReplication],
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
