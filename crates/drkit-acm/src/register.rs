//! Registration of the ACM actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::AwsContext;
use drkit_core::ActionRef;
use drkit_core::registry::{
    ActionDescriptor, ActionSpec, BuildError, DuplicateKind, OutputDoc, ParamDoc, Registry,
    decode_params,
};
use drkit_route53::{Route53Api, SdkRoute53};

use crate::check::{self, CheckCertificate, CheckCertificateParams};
use crate::import::{self, ImportCertificate, ImportCertificateParams};
use crate::port::AcmApi;
use crate::request::{self, RequestCertificate, RequestCertificateParams};
use crate::sdk::SdkAcm;

const fn out(name: &'static str, doc: &'static str) -> OutputDoc {
    OutputDoc { name, doc }
}

const REGION: ParamDoc = ParamDoc::optional(
    "region",
    "string",
    "the ACM region (default: the step's region; CloudFront needs us-east-1)",
);

/// `acm.request_certificate`.
pub const REQUEST_CERTIFICATE: ActionDescriptor = ActionDescriptor {
    kind: request::KIND,
    summary: "Request a DNS-validated certificate, write its validation CNAMEs through Route 53, \
              wait until ISSUED; rollback deletes it if unused",
    mutates: true,
    iam_actions: request::IAM_ACTIONS,
    params: &[
        ParamDoc::required("domain", "string", "the main domain name"),
        ParamDoc::optional(
            "subject_alternative_names",
            "list of strings",
            "other names the certificate covers",
        ),
        ParamDoc::required(
            "hosted_zone",
            "string",
            "the Route 53 zone id (`Z...`) or name for the validation records",
        ),
        REGION,
    ],
    outputs: &[
        out("certificate_arn", "the certificate's ARN"),
        out("domain", "its main domain name"),
        out("names", "every name it covers"),
        out("status", "`ISSUED`"),
    ],
};

/// `acm.check_certificate`.
pub const CHECK_CERTIFICATE: ActionDescriptor = ActionDescriptor {
    kind: check::KIND,
    summary: "Read a certificate: done when ISSUED and valid for min_days_valid more days",
    mutates: false,
    iam_actions: check::IAM_ACTIONS,
    params: &[
        ParamDoc::optional("certificate_arn", "string", "the certificate (or `domain`)"),
        ParamDoc::optional(
            "domain",
            "string",
            "a name the certificate covers (or `certificate_arn`)",
        ),
        ParamDoc::optional(
            "min_days_valid",
            "integer",
            "the fewest days it must still be valid (default 30)",
        ),
        REGION,
    ],
    outputs: &[
        out("certificate_arn", "the certificate's ARN"),
        out("status", "its status"),
        out("names", "every name it covers"),
        out("days_to_expiry", "whole days until it expires"),
        out("in_use_by", "the ARNs of the resources using it"),
    ],
};

/// `acm.import_certificate`.
pub const IMPORT_CERTIFICATE: ActionDescriptor = ActionDescriptor {
    kind: import::KIND,
    summary: "Import a certificate and its private key (a secret reference) into ACM, or \
              re-import it into an ARN",
    mutates: true,
    iam_actions: import::IAM_ACTIONS,
    params: &[
        ParamDoc::required(
            "certificate",
            "string",
            "PEM text or the path of a PEM file",
        ),
        ParamDoc::required(
            "private_key",
            "secret reference",
            "`env:NAME` or `file:/path` of the PEM private key",
        ),
        ParamDoc::optional("chain", "string", "the chain: PEM text or a file path"),
        ParamDoc::optional(
            "certificate_arn",
            "string",
            "re-import into this imported certificate",
        ),
        REGION,
    ],
    outputs: &[out("certificate_arn", "the imported certificate's ARN")],
};

/// Every ACM action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] =
    &[REQUEST_CERTIFICATE, CHECK_CERTIFICATE, IMPORT_CERTIFICATE];

/// Builds the ACM port for a region (`None`: the default region).
pub type AcmApiFactory = Arc<dyn Fn(Option<&str>) -> Arc<dyn AcmApi> + Send + Sync>;

/// The ports the ACM actions are built with: the real AWS clients ([`register`]) or the
/// embedder's own, e.g. mocks ([`register_with`]).
#[derive(Clone)]
pub struct AcmPorts {
    /// The ACM port, per region.
    pub acm: AcmApiFactory,
    /// The Route 53 port (global) for the validation records.
    pub dns: Arc<dyn Route53Api>,
}

impl std::fmt::Debug for AcmPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmPorts").finish_non_exhaustive()
    }
}

impl AcmPorts {
    /// Ports over the AWS SDK, configured by `aws`.
    pub fn aws(aws: &AwsContext) -> Self {
        let a = aws.clone();
        Self {
            acm: Arc::new(move |region| {
                Arc::new(SdkAcm::from_config(&a.for_region(region))) as Arc<dyn AcmApi>
            }),
            dns: Arc::new(SdkRoute53::from_config(aws.sdk_config())),
        }
    }
}

/// Registers every ACM action, talking to AWS as configured in `aws`.
pub fn register(registry: &mut Registry, aws: &AwsContext) -> Result<(), DuplicateKind> {
    register_with(registry, &AcmPorts::aws(aws))
}

fn not_empty(spec: &ActionSpec, name: &str, value: &str) -> Result<(), BuildError> {
    if value.trim().is_empty() {
        Err(BuildError::invalid(spec, Some(name), "must not be empty"))
    } else {
        Ok(())
    }
}

fn valid_name(spec: &ActionSpec, param: &str, name: &str) -> Result<(), BuildError> {
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
        Err(BuildError::invalid(
            spec,
            Some(param),
            format!("`{name}` is not a valid domain name"),
        ))
    }
}

/// Registers every ACM action with the given ports (e.g. mocks in the embedder's tests).
pub fn register_with(registry: &mut Registry, ports: &AcmPorts) -> Result<(), DuplicateKind> {
    let (acm, dns) = (Arc::clone(&ports.acm), Arc::clone(&ports.dns));
    registry.register_fn(REQUEST_CERTIFICATE, move |spec| {
        let params: RequestCertificateParams = decode_params(spec)?;
        valid_name(spec, "domain", &params.domain)?;
        for san in &params.subject_alternative_names {
            valid_name(spec, "subject_alternative_names", san)?;
        }
        not_empty(spec, "hosted_zone", &params.hosted_zone)?;
        if params.names().len() > 100 {
            return Err(BuildError::invalid(
                spec,
                Some("subject_alternative_names"),
                "ACM allows at most 100 names",
            ));
        }
        let region = params.region.clone().or_else(|| spec.region.clone());
        let api = acm(region.as_deref());
        Ok(Arc::new(RequestCertificate::new(
            spec.id.clone(),
            params,
            api,
            Arc::clone(&dns),
            region.as_deref(),
        )) as ActionRef)
    })?;
    let acm = Arc::clone(&ports.acm);
    registry.register_fn(CHECK_CERTIFICATE, move |spec| {
        let params: CheckCertificateParams = decode_params(spec)?;
        match (&params.certificate_arn, &params.domain) {
            (Some(arn), None) if arn.starts_with("arn:") => {}
            (Some(_), None) => {
                return Err(BuildError::invalid(
                    spec,
                    Some("certificate_arn"),
                    "must be an ARN (arn:aws:acm:...)",
                ));
            }
            (None, Some(domain)) => valid_name(spec, "domain", domain)?,
            _ => {
                return Err(BuildError::invalid(
                    spec,
                    None,
                    "give exactly one of `certificate_arn` and `domain`",
                ));
            }
        }
        if params.min_days_valid < 0 {
            return Err(BuildError::invalid(
                spec,
                Some("min_days_valid"),
                "must not be negative",
            ));
        }
        let region = params.region.clone().or_else(|| spec.region.clone());
        let api = acm(region.as_deref());
        Ok(Arc::new(CheckCertificate::new(
            spec.id.clone(),
            params,
            api,
            region.as_deref(),
        )) as ActionRef)
    })?;
    let acm = Arc::clone(&ports.acm);
    registry.register_fn(IMPORT_CERTIFICATE, move |spec| {
        let params: ImportCertificateParams = decode_params(spec)?;
        not_empty(spec, "certificate", &params.certificate)?;
        if let Some(arn) = &params.certificate_arn
            && !arn.starts_with("arn:")
        {
            return Err(BuildError::invalid(
                spec,
                Some("certificate_arn"),
                "must be an ARN (arn:aws:acm:...)",
            ));
        }
        let region = params.region.clone().or_else(|| spec.region.clone());
        let api = acm(region.as_deref());
        Ok(Arc::new(ImportCertificate::new(
            spec.id.clone(),
            params,
            api,
            region.as_deref(),
        )) as ActionRef)
    })
}
