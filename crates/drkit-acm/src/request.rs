//! `acm.request_certificate`: a DNS-validated certificate, its validation records written
//! through the Route 53 port, waited until `ISSUED`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params, Poll,
    Resource, StepSpec, wait_until,
};
use drkit_route53::{HostedZone, RecordSet, Route53Api, normalize_name, upsert_records};
use serde::Deserialize;

use crate::port::{AcmApi, CertificateInfo, ValidationRecord};
use crate::register::{AcmPorts, acm_region, cloudfront_region, not_empty, valid_name};

/// The TTL of the validation CNAMEs.
const VALIDATION_TTL: i64 = 300;

/// The parameters of `acm.request_certificate`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RequestCertificateParams {
    /// The main domain name.
    pub domain: String,
    /// Other names the certificate covers.
    #[serde(default)]
    #[param(ty = "list of strings")]
    pub subject_alternative_names: Vec<String>,
    /// The Route 53 zone id (`Z...`) or name for the validation records.
    pub hosted_zone: String,
    /// The ACM region (default: the step's region; CloudFront needs us-east-1).
    #[serde(default)]
    pub region: Option<String>,
    /// The certificate is for a CloudFront distribution: refused unless the ACM region is
    /// us-east-1.
    #[serde(default)]
    pub for_cloudfront: bool,
}

impl RequestCertificateParams {
    /// A certificate for `domain`, validated through the Route 53 zone `hosted_zone`.
    pub fn new(domain: impl Into<String>, hosted_zone: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            subject_alternative_names: Vec::new(),
            hosted_zone: hosted_zone.into(),
            region: None,
            for_cloudfront: false,
        }
    }

    /// Also covering `names`.
    #[must_use]
    pub fn with_names(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.subject_alternative_names
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// In ACM's `region`.
    #[must_use]
    pub fn in_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Every name, lowercase, the domain first, without duplicates.
    pub fn names(&self) -> Vec<String> {
        let mut names = vec![self.domain.trim().to_ascii_lowercase()];
        for san in &self.subject_alternative_names {
            let san = san.trim().to_ascii_lowercase();
            if !names.contains(&san) {
                names.push(san);
            }
        }
        names
    }
}

/// The name a validation record is written for: a wildcard validates its base domain.
pub(crate) fn validated_name(name: &str) -> String {
    normalize_name(name.strip_prefix("*.").unwrap_or(name))
}

/// A short token (`\w`, at most 32 characters) derived from `step` (the step id and the
/// action instance's [`nonce`]) and the names, so a retried request within ACM's hour is the
/// same request.
pub(crate) fn idempotency_token(step: &str, names: &[String]) -> String {
    // FNV-1a, twice with different seeds: stable across builds and platforms.
    let hash = |seed: u64| {
        let mut h: u64 = seed;
        for b in step.bytes().chain([0]).chain(names.join(",").bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    };
    format!(
        "drkit{:016x}{:011x}",
        hash(0xcbf2_9ce4_8422_2325),
        hash(0x8422_2325_cbf2_9ce4) & 0xfff_ffff_ffff
    )
}

/// Same names, compared as sets.
pub(crate) fn same_names(a: &[String], b: &[String]) -> bool {
    let norm = |v: &[String]| {
        let mut v: Vec<String> = v.iter().map(|n| n.to_ascii_lowercase()).collect();
        v.sort();
        v.dedup();
        v
    };
    norm(a) == norm(b)
}

/// Unique to an action instance (and to each request after a rollback): the time and a
/// counter of the process.
///
/// ACM keeps an idempotency token for an hour, also once its certificate is deleted: a token
/// derived from the step alone would, after a rollback, get the deleted certificate's ARN back
/// (moto fails the request instead). A re-run in a new process finds its certificate through
/// `ListCertificates`, not through the token.
fn nonce() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{time:x}.{}", COUNT.fetch_add(1, Ordering::Relaxed))
}

#[derive(Debug)]
struct State {
    /// The certificate this step works on (requested or adopted).
    arn: Option<String>,
    /// Whether this step requested it (rollback deletes only those).
    requested: bool,
    /// Whether the validation records were written.
    records_written: bool,
    /// The idempotency token of the next request.
    token: String,
}

impl State {
    fn new(step: &str, names: &[String]) -> Self {
        Self {
            arn: None,
            requested: false,
            records_written: false,
            token: idempotency_token(&format!("{step}.{}", nonce()), names),
        }
    }
}

/// Requests a DNS-validated ACM certificate, writes its validation CNAMEs into the hosted zone
/// through the Route 53 port ([`upsert_records`]: UPSERT, waited until `INSYNC`) and waits
/// until the certificate is `ISSUED`.
///
/// - `check`: the zone exists and covers every name; an Amazon-issued certificate for exactly
///   these names that is `ISSUED` -> done (its ARN); `PENDING_VALIDATION` -> ready (resume:
///   no new request); otherwise ready (request).
/// - `execute`: adopts a pending certificate or requests one (idempotency token from the step
///   id and the action instance), writes the records, waits; `FAILED` ends with its reason.
///   Executed again, it reuses the certificate it has.
/// - `rollback`: deletes the certificate this run requested (also after a resume: the
///   `requested` output says so), only if nothing uses it.
#[derive(Debug, HasBase)]
pub struct RequestCertificate {
    base: Base<Self>,
    names: Vec<String>,
    dns: Arc<dyn Route53Api>,
    state: Mutex<State>,
}

impl ActionKind for RequestCertificate {
    const KIND: &'static str = "acm.request_certificate";
    const SUMMARY: &'static str = "Request a DNS-validated certificate, write its validation \
                                   CNAMEs through Route 53, wait until ISSUED; rollback deletes \
                                   it if unused";
    const MUTATES: bool = true;
    /// ACM and the Route 53 record writes.
    const IAM_ACTIONS: &'static [&'static str] = &[
        "acm:RequestCertificate",
        "acm:DescribeCertificate",
        "acm:ListCertificates",
        "acm:DeleteCertificate",
        "route53:GetHostedZone",
        "route53:ListHostedZonesByName",
        "route53:ChangeResourceRecordSets",
        "route53:GetChange",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("certificate_arn", "the certificate's ARN"),
        OutputDoc::new("domain", "its main domain name"),
        OutputDoc::new("names", "every name it covers"),
        OutputDoc::new("status", "`ISSUED`"),
        OutputDoc::new(
            "requested",
            "whether this step requested it (a rollback deletes only such a certificate)",
        ),
    ];
    type Params = RequestCertificateParams;
    type Port = dyn AcmApi;
    type Ports = AcmPorts;

    fn validate(params: &RequestCertificateParams) -> Result<(), ParamError> {
        valid_name("domain", &params.domain)?;
        for san in &params.subject_alternative_names {
            valid_name("subject_alternative_names", san)?;
        }
        not_empty("hosted_zone", &params.hosted_zone)?;
        if params.names().len() > 100 {
            return Err(ParamError::new(
                "subject_alternative_names",
                "ACM allows at most 100 names",
            ));
        }
        Ok(())
    }

    fn build(
        step: StepSpec<RequestCertificateParams>,
        ports: &AcmPorts,
    ) -> Result<Self, ParamError> {
        let region = acm_region(&step, step.params.region.as_deref());
        cloudfront_region(step.params.for_cloudfront, region.as_deref())?;
        let acm = ports.acm.get(region.as_deref());
        // Route 53 is global.
        let dns = ports.dns.get(None);
        Ok(Self::new(step.id, step.params, acm, dns, region.as_deref()))
    }
}

/// What the lookup of existing certificates found.
enum Existing {
    Issued(CertificateInfo),
    Pending(CertificateInfo),
    None,
}

impl RequestCertificate {
    /// A step `id` with `params`, ACM through `acm` (already for the right region), DNS through
    /// `dns`.
    pub fn new(
        id: impl Into<String>,
        params: RequestCertificateParams,
        acm: Arc<dyn AcmApi>,
        dns: Arc<dyn Route53Api>,
        region: Option<&str>,
    ) -> Self {
        let id = id.into();
        let names = params.names();
        let region = params.region.clone().or(region.map(str::to_owned));
        let target = Resource::new("acm", "certificate", names[0].clone()).in_region(region);
        let state = Mutex::new(State::new(&id, &names));
        Self {
            base: Base::new(id, params, target, acm),
            names,
            dns,
            state,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The idempotency token the next `RequestCertificate` sends.
    pub(crate) fn token(&self) -> String {
        self.state().token.clone()
    }

    /// The zone, or why it cannot be used.
    async fn zone(&self, ctx: &Context) -> Result<Result<HostedZone, String>, ActionError> {
        let zone = match ctx
            .bounded(self.dns.find_zone(&self.base.params.hosted_zone))
            .await
        {
            Ok(zone) => zone,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Err(format!(
                    "hosted zone {} does not exist",
                    self.base.params.hosted_zone
                )));
            }
            Err(e) => return Err(e),
        };
        let outside: Vec<&str> = self
            .names
            .iter()
            .filter(|n| {
                let v = validated_name(n);
                v != zone.name && !v.ends_with(&format!(".{}", zone.name))
            })
            .map(String::as_str)
            .collect();
        if outside.is_empty() {
            Ok(Ok(zone))
        } else {
            Ok(Err(format!(
                "{} not in hosted zone {}: the validation records cannot be written there",
                outside.join(", "),
                zone.name
            )))
        }
    }

    /// An Amazon-issued certificate for exactly these names, ISSUED first.
    async fn existing(&self, ctx: &Context) -> Result<Existing, ActionError> {
        let list = ctx
            .bounded(
                self.base
                    .port
                    .list_certificates(vec!["ISSUED".into(), "PENDING_VALIDATION".into()]),
            )
            .await?;
        let mut pending = None;
        for summary in list
            .iter()
            .filter(|s| s.domain.eq_ignore_ascii_case(&self.names[0]))
        {
            let info = match ctx
                .bounded(self.base.port.describe_certificate(&summary.arn))
                .await
            {
                Ok(info) => info,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if info.cert_type != "AMAZON_ISSUED" || !same_names(&info.names, &self.names) {
                continue;
            }
            match info.status.as_str() {
                "ISSUED" => return Ok(Existing::Issued(info)),
                "PENDING_VALIDATION" if pending.is_none() => pending = Some(info),
                _ => {}
            }
        }
        Ok(pending.map_or(Existing::None, Existing::Pending))
    }

    fn outputs(&self, info: &CertificateInfo) -> Outputs {
        let requested = {
            let state = self.state();
            state.requested && state.arn.as_deref() == Some(info.arn.as_str())
        };
        Outputs::new()
            .with("certificate_arn", info.arn.clone())
            .with("domain", info.domain.clone())
            .with("names", info.names.clone())
            .with("status", info.status.clone())
            .with("requested", requested)
    }

    /// Waits until ACM has published a validation record for every name.
    async fn validation_records(
        &self,
        ctx: &Context,
        arn: &str,
    ) -> Result<Vec<ValidationRecord>, ActionError> {
        let what = format!("the DNS validation records of {arn}");
        wait_until(ctx, &what, &self.base.wait, || async {
            let info = ctx
                .bounded(self.base.port.describe_certificate(arn))
                .await?;
            let missing: Vec<&str> = self
                .names
                .iter()
                .filter(|n| {
                    !info
                        .validation
                        .iter()
                        .any(|v| v.domain.eq_ignore_ascii_case(n))
                })
                .map(String::as_str)
                .collect();
            Ok(if missing.is_empty() {
                Poll::Ready(info.validation)
            } else {
                Poll::Pending(format!("no record yet for {}", missing.join(", ")))
            })
        })
        .await
    }

    async fn wait_issued(&self, ctx: &Context, arn: &str) -> Result<CertificateInfo, ActionError> {
        let what = format!("certificate {arn} to be ISSUED");
        wait_until(ctx, &what, &self.base.wait, || async {
            let info = ctx
                .bounded(self.base.port.describe_certificate(arn))
                .await?;
            match info.status.as_str() {
                "ISSUED" => Ok(Poll::Ready(info)),
                "PENDING_VALIDATION" => Ok(Poll::Pending("status=PENDING_VALIDATION".into())),
                other => Err(ActionError::precondition(format!(
                    "certificate {arn} is {other}{}: ACM will not issue it; check the validation \
                     records in {} and request again",
                    info.failure_reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default(),
                    self.base.params.hosted_zone
                ))
                .with_code(other)),
            }
        })
        .await
    }
}

#[async_trait]
impl Act for RequestCertificate {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let zone = match self.zone(ctx).await? {
            Ok(zone) => zone,
            Err(reason) => return Ok(Check::blocked(reason)),
        };
        Ok(match self.existing(ctx).await? {
            Existing::Issued(info) => Check::Done {
                detail: format!(
                    "certificate {} for {} is ISSUED",
                    info.arn,
                    self.names.join(", ")
                ),
                outputs: self.outputs(&info),
            },
            Existing::Pending(info) => Check::ready(format!(
                "resume: write the validation records of pending certificate {} into {} and wait \
                 until ISSUED (no new request)",
                info.arn, zone.name
            )),
            Existing::None => Check::ready(format!(
                "request a DNS-validated certificate for {}, write its validation records into {} \
                 and wait until ISSUED",
                self.names.join(", "),
                zone.name
            )),
        })
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let zone = match self.zone(ctx).await? {
            Ok(zone) => zone,
            Err(reason) => return Err(ActionError::precondition(reason)),
        };
        let known = self.state().arn.clone();
        let arn = match known {
            Some(arn) => arn,
            None => match self.existing(ctx).await? {
                Existing::Issued(info) => {
                    ctx.progress(format!("certificate {} is already ISSUED", info.arn));
                    return Ok(self.outputs(&info));
                }
                Existing::Pending(info) => {
                    ctx.progress(format!("resuming pending certificate {}", info.arn));
                    self.state().arn = Some(info.arn.clone());
                    info.arn
                }
                Existing::None => {
                    let token = self.token();
                    let arn = ctx
                        .bounded(self.base.port.request_certificate(
                            &self.names[0],
                            self.names[1..].to_vec(),
                            &token,
                        ))
                        .await?;
                    ctx.progress(format!("requested certificate {arn}"));
                    let mut state = self.state();
                    state.arn = Some(arn.clone());
                    state.requested = true;
                    arn
                }
            },
        };
        if !self.state().records_written {
            let mut records: Vec<RecordSet> = Vec::new();
            for v in self.validation_records(ctx, &arn).await? {
                let record = RecordSet::simple(&v.name, &v.rtype, VALIDATION_TTL, vec![v.value]);
                if !records.iter().any(|r| r.same_record(&record)) {
                    records.push(record);
                }
            }
            let n = records.len();
            upsert_records(ctx, self.dns.as_ref(), &zone.id, records, &self.base.wait).await?;
            ctx.progress(format!(
                "{n} validation record(s) of {arn} are INSYNC in {}",
                zone.name
            ));
            self.state().records_written = true;
        }
        let info = self.wait_issued(ctx, &arn).await?;
        Ok(self.outputs(&info))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let known = self.state().arn.clone();
        let info = match known {
            Some(arn) => {
                ctx.bounded(self.base.port.describe_certificate(&arn))
                    .await?
            }
            None => match self.existing(ctx).await? {
                Existing::Issued(info) => info,
                _ => {
                    return Err(ActionError::postcondition(format!(
                        "no ISSUED certificate for {}",
                        self.names.join(", ")
                    )));
                }
            },
        };
        if info.status == "ISSUED" {
            Ok(format!("certificate {} is ISSUED", info.arn))
        } else {
            Err(ActionError::postcondition(format!(
                "certificate {} is {}, not ISSUED",
                info.arn, info.status
            )))
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let (arn, requested) = {
            let state = self.state();
            (state.arn.clone(), state.requested)
        };
        // What this instance requested, else (after a resume) what the step recorded.
        let recorded = || {
            let out = ctx.outputs_of(&self.base.id)?;
            (out.get("requested") == Some(&serde_json::Value::Bool(true)))
                .then(|| out.get_str("certificate_arn").map(str::to_owned))
                .flatten()
        };
        let Some(arn) = arn.filter(|_| requested).or_else(recorded) else {
            ctx.progress("nothing to roll back: this run requested no certificate");
            return Ok(());
        };
        match ctx.bounded(self.base.port.describe_certificate(&arn)).await {
            Ok(info) if !info.in_use_by.is_empty() => {
                return Err(ActionError::precondition(format!(
                    "certificate {arn} is in use by {}: not deleted",
                    info.in_use_by.join(", ")
                )));
            }
            Ok(_) => {
                match ctx.bounded(self.base.port.delete_certificate(&arn)).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                ctx.progress(format!("deleted certificate {arn}"));
            }
            // Already gone.
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // A request after this one is a new request: a new token (ACM would answer the old
        // one with the deleted certificate).
        *self.state() = State::new(&self.base.id, &self.names);
        Ok(())
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
