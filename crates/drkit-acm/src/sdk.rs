//! The adapter: [`AcmApi`] over `aws-sdk-acm`.

use async_trait::async_trait;
use aws_sdk_acm::Client;
use aws_sdk_acm::primitives::Blob;
use aws_sdk_acm::types::{CertificateStatus, Filters, KeyAlgorithm, ValidationMethod};
use drkit_aws::SdkResultExt;
use drkit_core::{ActionError, ExposeSecret, SecretString};

use crate::port::{AcmApi, CertificateInfo, CertificateSummary, KEY_TYPES, ValidationRecord};

drkit_aws::sdk_adapter! {
    /// [`AcmApi`] over an `aws-sdk-acm` client (ACM is regional: the client's region matters).
    pub struct SdkAcm(Client);
}

#[async_trait]
impl AcmApi for SdkAcm {
    async fn request_certificate(
        &self,
        domain: &str,
        sans: Vec<String>,
        idempotency_token: &str,
    ) -> Result<String, ActionError> {
        let mut req = self
            .client()
            .await
            .request_certificate()
            .domain_name(domain)
            .validation_method(ValidationMethod::Dns)
            .idempotency_token(idempotency_token);
        for san in sans {
            req = req.subject_alternative_names(san);
        }
        let out = req.send().await.or_action_error("RequestCertificate")?;
        out.certificate_arn().map(str::to_owned).ok_or_else(|| {
            ActionError::postcondition("RequestCertificate returned no ARN")
                .with_operation("RequestCertificate")
        })
    }

    async fn describe_certificate(&self, arn: &str) -> Result<CertificateInfo, ActionError> {
        let out = self
            .client()
            .await
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .or_action_error("DescribeCertificate")?;
        let Some(c) = out.certificate() else {
            return Err(ActionError::new(
                drkit_core::ErrorKind::NotFound,
                format!("certificate {arn} not found"),
            )
            .with_operation("DescribeCertificate"));
        };
        let domain = c.domain_name().unwrap_or_default().to_owned();
        let mut names = vec![domain.clone()];
        for san in c.subject_alternative_names() {
            if !names.contains(san) {
                names.push(san.clone());
            }
        }
        let validation = c
            .domain_validation_options()
            .iter()
            .filter_map(|o| {
                o.resource_record().map(|r| ValidationRecord {
                    domain: o.domain_name().to_owned(),
                    name: r.name().to_owned(),
                    rtype: r.r#type().as_str().to_owned(),
                    value: r.value().to_owned(),
                })
            })
            .collect();
        Ok(CertificateInfo {
            arn: c.certificate_arn().unwrap_or(arn).to_owned(),
            domain,
            names,
            status: c
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            cert_type: c
                .r#type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            not_after: c.not_after().map(|t| t.secs()),
            in_use_by: c.in_use_by().to_vec(),
            failure_reason: c.failure_reason().map(|r| r.as_str().to_owned()),
            validation,
        })
    }

    async fn list_certificates(
        &self,
        statuses: Vec<String>,
    ) -> Result<Vec<CertificateSummary>, ActionError> {
        // Without `keyTypes` ACM lists RSA_1024 and RSA_2048 certificates only: an ECDSA (or
        // RSA 3072/4096) certificate would be missed.
        let includes = Filters::builder()
            .set_key_types(Some(
                KEY_TYPES.iter().map(|k| KeyAlgorithm::from(*k)).collect(),
            ))
            .build();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client()
                .await
                .list_certificates()
                .set_certificate_statuses((!statuses.is_empty()).then(|| {
                    statuses
                        .iter()
                        .map(|s| CertificateStatus::from(s.as_str()))
                        .collect()
                }))
                .includes(includes.clone())
                .max_items(1000)
                .set_next_token(token.take())
                .send()
                .await
                .or_action_error("ListCertificates")?;
            for c in page.certificate_summary_list() {
                out.push(CertificateSummary {
                    arn: c.certificate_arn().unwrap_or_default().to_owned(),
                    domain: c.domain_name().unwrap_or_default().to_owned(),
                    status: c
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    cert_type: c
                        .r#type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                    key_algorithm: c
                        .key_algorithm()
                        .map(|k| k.as_str().to_owned())
                        .unwrap_or_default(),
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
    }

    async fn get_certificate(&self, arn: &str) -> Result<String, ActionError> {
        let out = self
            .client()
            .await
            .get_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .or_action_error("GetCertificate")?;
        out.certificate().map(str::to_owned).ok_or_else(|| {
            ActionError::new(
                drkit_core::ErrorKind::NotFound,
                format!("certificate {arn} has no body"),
            )
            .with_operation("GetCertificate")
        })
    }

    async fn delete_certificate(&self, arn: &str) -> Result<(), ActionError> {
        self.client()
            .await
            .delete_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .or_action_error("DeleteCertificate")?;
        Ok(())
    }

    async fn import_certificate(
        &self,
        arn: Option<String>,
        certificate: String,
        private_key: SecretString,
        chain: Option<String>,
    ) -> Result<String, ActionError> {
        // The SDK marks the private key as sensitive: its Debug output is redacted.
        let out = self
            .client()
            .await
            .import_certificate()
            .set_certificate_arn(arn)
            .certificate(Blob::new(certificate.into_bytes()))
            .private_key(Blob::new(private_key.expose_secret().as_bytes()))
            .set_certificate_chain(chain.map(|c| Blob::new(c.into_bytes())))
            .send()
            .await
            .or_action_error("ImportCertificate")?;
        out.certificate_arn().map(str::to_owned).ok_or_else(|| {
            ActionError::postcondition("ImportCertificate returned no ARN")
                .with_operation("ImportCertificate")
        })
    }
}

#[cfg(test)]
#[path = "sdk_tests.rs"]
mod tests;
