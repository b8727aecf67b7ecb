//! Registration of the EC2 actions in a [`Registry`](drkit_core::registry::Registry).

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::PortFactory;

use crate::authorize::AuthorizeIngress;
use crate::check_sg::CheckSecurityGroup;
use crate::port::Ec2Api;
use crate::sdk::SdkEc2;

/// The EC2 port over the AWS SDK for a step's region (`None`: the default region),
/// configured by `aws` when first used.
pub fn ports(aws: &Aws) -> PortFactory<dyn Ec2Api> {
    let aws = aws.clone();
    PortFactory::new(move |region| Arc::new(SdkEc2::lazy(&aws, region)) as Arc<dyn Ec2Api>)
}

drkit_aws::registration! {
    service: "EC2",
    port: dyn Ec2Api,
    ports: ports,
    kinds: [AuthorizeIngress, CheckSecurityGroup],
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
