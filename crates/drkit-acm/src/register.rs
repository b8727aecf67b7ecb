//! Registration of the ACM actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::Aws;
use drkit_core::registry::{ActionDescriptor, DuplicateKind, ParamError, Registry};
use drkit_core::{ActionKind, PortFactory, StepSpec};
use drkit_route53::Route53Api;

use crate::check::CheckCertificate;
use crate::import::ImportCertificate;
use crate::port::AcmApi;
use crate::request::RequestCertificate;
use crate::sdk::SdkAcm;

/// Every ACM action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[
    RequestCertificate::DESCRIPTOR,
    CheckCertificate::DESCRIPTOR,
    ImportCertificate::DESCRIPTOR,
];

/// The ports the ACM actions are built with: the real AWS clients ([`AcmPorts::aws`]) or the
/// embedder's own, e.g. mocks ([`register_with`]).
#[derive(Clone, Debug)]
pub struct AcmPorts {
    /// The ACM port, per region.
    pub acm: PortFactory<dyn AcmApi>,
    /// The Route 53 port (global) for the validation records: `drkit-route53`'s.
    pub dns: PortFactory<dyn Route53Api>,
}

impl AcmPorts {
    /// Ports over the AWS SDK, configured by `aws` when first used; DNS through
    /// [`drkit_route53::ports`].
    pub fn aws(aws: &Aws) -> Self {
        let a = aws.clone();
        Self {
            acm: PortFactory::new(move |region| {
                Arc::new(SdkAcm::lazy(&a, region)) as Arc<dyn AcmApi>
            }),
            dns: drkit_route53::ports(aws),
        }
    }
}

/// Registers every ACM action, talking to AWS as configured in `aws` (loaded on first use).
pub fn register(registry: &mut Registry, aws: impl Into<Aws>) -> Result<(), DuplicateKind> {
    register_with(registry, &AcmPorts::aws(&aws.into()))
}

/// Registers every ACM action with the given ports (e.g. mocks in the embedder's tests).
pub fn register_with(registry: &mut Registry, ports: &AcmPorts) -> Result<(), DuplicateKind> {
    registry.register::<RequestCertificate>(ports.clone())?;
    registry.register::<CheckCertificate>(ports.acm.clone())?;
    registry.register::<ImportCertificate>(ports.acm.clone())
}

/// The ACM region of a step: its `region` parameter, else the step's region.
pub(crate) fn acm_region<P>(step: &StepSpec<P>, param: Option<&str>) -> Option<String> {
    param.or(step.region()).map(str::to_owned)
}

/// The one ACM region CloudFront reads certificates from.
pub const CLOUDFRONT_REGION: &str = "us-east-1";

/// A certificate for CloudFront must be in ACM in us-east-1: refused (before any call) when the
/// step's ACM region is another one or unknown.
pub(crate) fn cloudfront_region(
    for_cloudfront: bool,
    region: Option<&str>,
) -> Result<(), ParamError> {
    match region {
        _ if !for_cloudfront => Ok(()),
        Some(CLOUDFRONT_REGION) => Ok(()),
        Some(other) => Err(ParamError::new(
            "for_cloudfront",
            format!(
                "CloudFront uses certificates from ACM in {CLOUDFRONT_REGION} only, not {other}: \
                 give region = \"{CLOUDFRONT_REGION}\""
            ),
        )),
        None => Err(ParamError::new(
            "for_cloudfront",
            format!(
                "CloudFront uses certificates from ACM in {CLOUDFRONT_REGION} only and the step \
                 has no region: give region = \"{CLOUDFRONT_REGION}\""
            ),
        )),
    }
}

pub(crate) fn not_empty(name: &str, value: &str) -> Result<(), ParamError> {
    if value.trim().is_empty() {
        Err(ParamError::new(name, "must not be empty"))
    } else {
        Ok(())
    }
}

pub(crate) fn valid_name(param: &str, name: &str) -> Result<(), ParamError> {
    let n = name.trim().trim_end_matches('.');
    let labels: Vec<&str> = n.split('.').collect();
    let ok = labels.len() >= 2
        && labels.iter().enumerate().all(|(i, l)| {
            (i == 0 && *l == "*")
                || (!l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        });
    if ok {
        Ok(())
    } else {
        Err(ParamError::new(
            param,
            format!("`{name}` is not a valid domain name"),
        ))
    }
}
