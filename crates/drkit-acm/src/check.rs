//! `acm.check_certificate`: status, names, days to expiry and users of a certificate.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use drkit_core::{ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource};
use serde::Deserialize;

use crate::port::{AcmApi, CertificateInfo};

/// The kind name.
pub(crate) const KIND: &str = "acm.check_certificate";

/// The IAM actions it needs.
pub(crate) const IAM_ACTIONS: &[&str] = &["acm:DescribeCertificate", "acm:ListCertificates"];

fn default_min_days() -> i64 {
    30
}

/// The parameters of `acm.check_certificate`: give `certificate_arn` or `domain`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckCertificateParams {
    /// The certificate's ARN.
    #[serde(default)]
    pub certificate_arn: Option<String>,
    /// Or a name it covers: the ISSUED certificate covering it that expires last is checked.
    #[serde(default)]
    pub domain: Option<String>,
    /// The fewest days it must still be valid (default 30).
    #[serde(default = "default_min_days")]
    pub min_days_valid: i64,
    /// The ACM region (default: the step's region).
    #[serde(default)]
    pub region: Option<String>,
}

/// Reads a certificate: done when it is `ISSUED` and valid for at least `min_days_valid` more
/// days, blocked otherwise (with what was found). Read-only.
pub struct CheckCertificate {
    id: String,
    params: CheckCertificateParams,
    target: Resource,
    acm: Arc<dyn AcmApi>,
}

impl fmt::Debug for CheckCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckCertificate")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
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
        Self {
            id: id.into(),
            target: Resource::new("acm", "certificate", what).in_region(region),
            params,
            acm,
        }
    }

    async fn find(&self, ctx: &Context) -> Result<Result<CertificateInfo, String>, ActionError> {
        if let Some(arn) = &self.params.certificate_arn {
            return match ctx.bounded(self.acm.describe_certificate(arn)).await {
                Ok(info) => Ok(Ok(info)),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    Ok(Err(format!("certificate {arn} does not exist")))
                }
                Err(e) => Err(e.in_action(self)),
            };
        }
        let domain = self.params.domain.clone().unwrap_or_default();
        let list = ctx
            .bounded(self.acm.list_certificates(Vec::new()))
            .await
            .map_err(|e| e.in_action(self))?;
        let mut best: Option<CertificateInfo> = None;
        for summary in list {
            let info = match ctx
                .bounded(self.acm.describe_certificate(&summary.arn))
                .await
            {
                Ok(info) => info,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e.in_action(self)),
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

    async fn evaluate(
        &self,
        ctx: &Context,
    ) -> Result<Result<(String, Outputs), String>, ActionError> {
        let info = match self.find(ctx).await? {
            Ok(info) => info,
            Err(reason) => return Ok(Err(reason)),
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
            return Ok(Err(format!("{summary}: not ISSUED")));
        }
        match days {
            Some(d) if d >= self.params.min_days_valid => Ok(Ok((summary, outputs))),
            _ => Ok(Err(format!(
                "{summary}: fewer than {} day(s) valid",
                self.params.min_days_valid
            ))),
        }
    }
}

#[async_trait]
impl RecoveryAction for CheckCertificate {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn target(&self) -> &Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        false
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        IAM_ACTIONS
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        Ok(match self.evaluate(ctx).await? {
            Ok((detail, outputs)) => Check::Done { detail, outputs },
            Err(reason) => Check::blocked(reason),
        })
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        match self.evaluate(ctx).await? {
            Ok((_, outputs)) => Ok(outputs),
            Err(reason) => Err(ActionError::postcondition(reason).in_action(self)),
        }
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        match self.evaluate(ctx).await? {
            Ok((detail, _)) => Ok(detail),
            Err(reason) => Err(ActionError::postcondition(reason).in_action(self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("api.example.com", "API.example.com"));
        assert!(covers("*.example.com", "api.example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
    }
}
