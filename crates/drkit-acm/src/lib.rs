//! # drkit-acm
//!
//! ACM certificate recovery actions for drkit:
//!
//! | kind | what it does |
//! |---|---|
//! | `acm.request_certificate` | a DNS-validated certificate; validation CNAMEs written through the Route 53 port; waited until `ISSUED` |
//! | `acm.check_certificate` | status, names, days to expiry, users of a certificate |
//! | `acm.import_certificate` | a certificate and its private key (a secret reference) into ACM, or re-imported |
//!
//! Parts, as in every provider: the port [`AcmApi`] (`MockAcmApi` with the `mock` feature), the
//! adapter [`SdkAcm`], the actions (one type per kind: [`RequestCertificate`],
//! [`CheckCertificate`], [`ImportCertificate`]), and [`register`] / [`register_with`] (over
//! [`AcmPorts`]). DNS records are written through `drkit-route53`'s port
//! ([`drkit_route53::Route53Api`], [`drkit_route53::upsert_records`]), never through
//! `aws-sdk-route53`.

#[cfg(test)]
mod behaviour_tests;
mod check;
mod import;
mod port;
mod register;
mod request;
mod sdk;

pub use check::{CheckCertificate, CheckCertificateParams};
pub use import::{ImportCertificate, ImportCertificateParams};
#[cfg(any(test, feature = "mock"))]
pub use port::MockAcmApi;
pub use port::{AcmApi, CertificateInfo, CertificateSummary, KEY_TYPES, ValidationRecord};
pub use register::{AcmPorts, CLOUDFRONT_REGION, DESCRIPTORS, register, register_with};
pub use request::{RequestCertificate, RequestCertificateParams};
pub use sdk::SdkAcm;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
