//! Registration of the IAM actions in a [`Registry`](drkit_core::registry::Registry).

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::PortFactory;

use crate::check_role::CheckRole;
use crate::port::IamApi;
use crate::put_policy::PutRolePolicy;
use crate::sdk::SdkIam;

/// The IAM port over the AWS SDK, configured by `aws` when first used (IAM is global; a step's
/// region only picks the endpoint the SDK signs for).
pub fn ports(aws: &Aws) -> PortFactory<dyn IamApi> {
    let aws = aws.clone();
    PortFactory::new(move |region| Arc::new(SdkIam::lazy(&aws, region)) as Arc<dyn IamApi>)
}

drkit_aws::registration! {
    service: "IAM",
    port: dyn IamApi,
    ports: ports,
    kinds: [PutRolePolicy, CheckRole],
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
