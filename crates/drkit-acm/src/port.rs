//! The port: the narrow set of ACM operations drkit uses, in drkit's own types.

use async_trait::async_trait;
use drkit_core::{ActionError, SecretString};

/// A DNS validation record ACM asks for (always a CNAME).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValidationRecord {
    /// The domain it validates.
    pub domain: String,
    /// The record name, e.g. `_x1.example.com.`.
    pub name: String,
    /// The record type (`CNAME`).
    pub rtype: String,
    /// The value, e.g. `_x2.acm-validations.aws.`.
    pub value: String,
}

/// A certificate, as drkit needs to see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateInfo {
    /// Its ARN.
    pub arn: String,
    /// The main domain name.
    pub domain: String,
    /// Every name it covers (the domain first, then the other SANs).
    pub names: Vec<String>,
    /// `PENDING_VALIDATION`, `ISSUED`, `FAILED`, ...
    pub status: String,
    /// `AMAZON_ISSUED`, `IMPORTED` or `PRIVATE`.
    pub cert_type: String,
    /// Expiry, in seconds since the Unix epoch.
    pub not_after: Option<i64>,
    /// The ARNs of the resources using it.
    pub in_use_by: Vec<String>,
    /// Why it failed, when `FAILED`.
    pub failure_reason: Option<String>,
    /// The DNS validation records known so far.
    pub validation: Vec<ValidationRecord>,
}

/// One line of `ListCertificates`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateSummary {
    /// Its ARN.
    pub arn: String,
    /// The main domain name.
    pub domain: String,
    /// Its status.
    pub status: String,
    /// `AMAZON_ISSUED`, `IMPORTED` or `PRIVATE` (empty when the answer does not say).
    pub cert_type: String,
    /// `RSA_2048`, `EC_prime256v1`, ... (empty when the answer does not say).
    pub key_algorithm: String,
}

impl CertificateSummary {
    /// A summary (handy in tests).
    pub fn new(arn: &str, domain: &str, status: &str) -> Self {
        Self {
            arn: arn.to_owned(),
            domain: domain.to_owned(),
            status: status.to_owned(),
            ..Self::default()
        }
    }

    /// Of type `cert_type`.
    #[must_use]
    pub fn of_type(mut self, cert_type: &str) -> Self {
        self.cert_type = cert_type.to_owned();
        self
    }
}

/// Every key algorithm ACM knows (`KeyAlgorithm`). `ListCertificates` returns only RSA
/// certificates unless `Includes.keyTypes` names the others: drkit always sends them all.
pub const KEY_TYPES: &[&str] = &[
    "RSA_1024",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "EC_prime256v1",
    "EC_secp384r1",
    "EC_secp521r1",
];

/// The ACM operations drkit uses. Implemented by [`crate::SdkAcm`] over `aws-sdk-acm`, and by
/// `MockAcmApi` (feature `mock`) in tests. Errors are classified [`ActionError`]s; a missing
/// certificate is `NotFound`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AcmApi: std::fmt::Debug + Send + Sync {
    /// `RequestCertificate` with DNS validation; returns the ARN.
    async fn request_certificate(
        &self,
        domain: &str,
        sans: Vec<String>,
        idempotency_token: &str,
    ) -> Result<String, ActionError>;

    /// `DescribeCertificate`.
    async fn describe_certificate(&self, arn: &str) -> Result<CertificateInfo, ActionError>;

    /// `ListCertificates` with these statuses (none: every status), of every key type
    /// (`Includes.keyTypes` = [`KEY_TYPES`]; without it ACM lists RSA certificates only),
    /// following `NextToken` through every page.
    async fn list_certificates(
        &self,
        statuses: Vec<String>,
    ) -> Result<Vec<CertificateSummary>, ActionError>;

    /// `GetCertificate`: the certificate's PEM body (the leaf; not the chain).
    async fn get_certificate(&self, arn: &str) -> Result<String, ActionError>;

    /// `DeleteCertificate`.
    async fn delete_certificate(&self, arn: &str) -> Result<(), ActionError>;

    /// `ImportCertificate` (into `arn` when given: a re-import); returns the ARN.
    async fn import_certificate(
        &self,
        arn: Option<String>,
        certificate: String,
        private_key: SecretString,
        chain: Option<String>,
    ) -> Result<String, ActionError>;
}
