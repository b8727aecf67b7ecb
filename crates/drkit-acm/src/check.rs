//! `acm.check_certificate`: status, names, days to expiry and users of a certificate.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    ActionError, ActionKind, Base, Context, ErrorKind, Finding, HasBase, Outputs, Params,
    PortFactory, Probe, Resource, StepSpec,
};
use serde::Deserialize;

use crate::port::{AcmApi, CertificateInfo};
use crate::register::{acm_region, cloudfront_region, valid_name};

fn default_min_days() -> i64 {
    30
}

/// The parameters of `acm.check_certificate`: give `certificate_arn` or `domain`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckCertificateParams {
    /// The certificate (or `domain`).
    #[serde(default)]
    pub certificate_arn: Option<String>,
    /// A name the certificate covers (or `certificate_arn`).
    #[serde(default)]
    pub domain: Option<String>,
    /// The fewest days it must still be valid (default 30).
    #[serde(default = "default_min_days")]
    pub min_days_valid: i64,
    /// The ACM region (default: the step's region; CloudFront needs us-east-1).
    #[serde(default)]
    pub region: Option<String>,
    /// The certificate is for a CloudFront distribution: refused unless the ACM region is
    /// us-east-1.
    #[serde(default)]
    pub for_cloudfront: bool,
}

impl CheckCertificateParams {
    /// The certificate `arn`, valid for at least 30 more days.
    pub fn arn(arn: impl Into<String>) -> Self {
        Self {
            certificate_arn: Some(arn.into()),
            domain: None,
            min_days_valid: default_min_days(),
            region: None,
            for_cloudfront: false,
        }
    }

    /// The `ISSUED` certificate covering `domain` that expires last, valid for at least 30
    /// more days.
    pub fn domain(domain: impl Into<String>) -> Self {
        Self {
            certificate_arn: None,
            domain: Some(domain.into()),
            min_days_valid: default_min_days(),
            region: None,
            for_cloudfront: false,
        }
    }
}

/// Reads a certificate: done when it is `ISSUED` and valid for at least `min_days_valid` more
/// days, blocked otherwise (with what was found). Read-only.
#[derive(Debug, HasBase)]
pub struct CheckCertificate {
    base: Base<Self>,
}

impl ActionKind for CheckCertificate {
    const KIND: &'static str = "acm.check_certificate";
    const SUMMARY: &'static str =
        "Read a certificate: done when ISSUED and valid for min_days_valid more days";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] =
        &["acm:DescribeCertificate", "acm:ListCertificates"];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("certificate_arn", "the certificate's ARN"),
        OutputDoc::new("status", "its status"),
        OutputDoc::new("names", "every name it covers"),
        OutputDoc::new("days_to_expiry", "whole days until it expires"),
        OutputDoc::new("in_use_by", "the ARNs of the resources using it"),
    ];
    type Params = CheckCertificateParams;
    type Port = dyn AcmApi;
    type Ports = PortFactory<dyn AcmApi>;

    fn validate(params: &CheckCertificateParams) -> Result<(), ParamError> {
        match (&params.certificate_arn, &params.domain) {
            (Some(arn), None) if arn.starts_with("arn:") => {}
            (Some(_), None) => {
                return Err(ParamError::new(
                    "certificate_arn",
                    "must be an ARN (arn:aws:acm:...)",
                ));
            }
            (None, Some(domain)) => valid_name("domain", domain)?,
            _ => {
                return Err(ParamError::general(
                    "give exactly one of `certificate_arn` and `domain`",
                ));
            }
        }
        if params.min_days_valid < 0 {
            return Err(ParamError::new("min_days_valid", "must not be negative"));
        }
        Ok(())
    }

    fn build(
        step: StepSpec<CheckCertificateParams>,
        ports: &Self::Ports,
    ) -> Result<Self, ParamError> {
        let region = acm_region(&step, step.params.region.as_deref());
        cloudfront_region(step.params.for_cloudfront, region.as_deref())?;
        let acm = ports.get(region.as_deref());
        Ok(Self::new(step.id, step.params, acm, region.as_deref()))
    }
}

/// Whole days from now until `not_after` (negative once expired).
pub(crate) fn days_left(not_after: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    (not_after - now).div_euclid(86_400)
}

fn covers(name: &str, domain: &str) -> bool {
    let (name, domain) = (name.to_ascii_lowercase(), domain.to_ascii_lowercase());
    if name == domain {
        return true;
    }
    match (name.strip_prefix("*."), domain.split_once('.')) {
        (Some(base), Some((_, parent))) => base == parent,
        _ => false,
    }
}

impl CheckCertificate {
    /// A step `id` with `params`, ACM through `acm` (already for the right region).
    pub fn new(
        id: impl Into<String>,
        params: CheckCertificateParams,
        acm: Arc<dyn AcmApi>,
        region: Option<&str>,
    ) -> Self {
        let what = params
            .certificate_arn
            .clone()
            .or_else(|| params.domain.clone())
            .unwrap_or_default();
        let region = params.region.clone().or(region.map(str::to_owned));
        let target = Resource::new("acm", "certificate", what).in_region(region);
        Self {
            base: Base::new(id, params, target, acm),
        }
    }

    async fn find(&self, ctx: &Context) -> Result<Result<CertificateInfo, String>, ActionError> {
        if let Some(arn) = &self.base.params.certificate_arn {
            return match ctx.bounded(self.base.port.describe_certificate(arn)).await {
                Ok(info) => Ok(Ok(info)),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    Ok(Err(format!("certificate {arn} does not exist")))
                }
                Err(e) => Err(e),
            };
        }
        let domain = self.base.params.domain.clone().unwrap_or_default();
        let list = ctx
            .bounded(self.base.port.list_certificates(Vec::new()))
            .await?;
        let mut best: Option<CertificateInfo> = None;
        for summary in list {
            let info = match ctx
                .bounded(self.base.port.describe_certificate(&summary.arn))
                .await
            {
                Ok(info) => info,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if !info.names.iter().any(|n| covers(n, &domain)) {
                continue;
            }
            let rank = |i: &CertificateInfo| (i.status == "ISSUED", i.not_after.unwrap_or(0));
            if best.as_ref().is_none_or(|b| rank(&info) > rank(b)) {
                best = Some(info);
            }
        }
        Ok(best.ok_or_else(|| format!("no certificate covers {domain}")))
    }
}

#[async_trait]
impl Probe for CheckCertificate {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let info = match self.find(ctx).await? {
            Ok(info) => info,
            Err(reason) => return Ok(Finding::fail(reason, Outputs::new())),
        };
        let days = info.not_after.map(days_left);
        let mut outputs = Outputs::new()
            .with("certificate_arn", info.arn.clone())
            .with("status", info.status.clone())
            .with("names", info.names.clone())
            .with("in_use_by", info.in_use_by.clone());
        if let Some(d) = days {
            outputs.insert("days_to_expiry", d);
        }
        let summary = format!(
            "certificate {} ({}) is {}, {}, in use by {}",
            info.arn,
            info.names.join(", "),
            info.status,
            days.map_or("no expiry known".to_owned(), |d| format!(
                "{d} day(s) to expiry"
            )),
            if info.in_use_by.is_empty() {
                "nothing".to_owned()
            } else {
                info.in_use_by.join(", ")
            }
        );
        if info.status != "ISSUED" {
            return Ok(Finding::fail(
                format!("{summary}: not ISSUED"),
                Outputs::new(),
            ));
        }
        Ok(match days {
            Some(d) if d >= self.base.params.min_days_valid => Finding::pass(summary, outputs),
            _ => Finding::fail(
                format!(
                    "{summary}: fewer than {} day(s) valid",
                    self.base.params.min_days_valid
                ),
                Outputs::new(),
            ),
        })
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
