//! Registration of the Lambda action in a [`Registry`](drkit_core::registry::Registry).

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::PortFactory;

use crate::invoke::Invoke;
use crate::port::LambdaApi;
use crate::sdk::SdkLambda;

/// The Lambda ports over the AWS SDK, one per region, configured by `aws` when first used.
pub fn ports(aws: &Aws) -> PortFactory<dyn LambdaApi> {
    let aws = aws.clone();
    PortFactory::new(move |region| Arc::new(SdkLambda::lazy(&aws, region)) as Arc<dyn LambdaApi>)
}

drkit_aws::registration! {
    service: "Lambda",
    port: dyn LambdaApi,
    ports: ports,
    kinds: [Invoke],
}

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
