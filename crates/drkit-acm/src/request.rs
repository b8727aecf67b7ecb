//! `acm.request_certificate`: a DNS-validated certificate, its validation records written
//! through the Route 53 port, waited until `ISSUED`.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use drkit_core::{
    ActionError, Check, Context, ErrorKind, Outputs, Poll, RecoveryAction, Resource, WaitPolicy,
    wait_until,
};
use drkit_route53::{HostedZone, RecordSet, Route53Api, normalize_name, upsert_records};
use serde::Deserialize;

use crate::port::{AcmApi, CertificateInfo, ValidationRecord};

/// The kind name.
pub(crate) const KIND: &str = "acm.request_certificate";

/// The IAM actions it needs (ACM and the Route 53 record writes).
pub(crate) const IAM_ACTIONS: &[&str] = &[
    "acm:RequestCertificate",
    "acm:DescribeCertificate",
    "acm:ListCertificates",
    "acm:DeleteCertificate",
    "route53:GetHostedZone",
    "route53:ListHostedZonesByName",
    "route53:ChangeResourceRecordSets",
    "route53:GetChange",
];

/// The TTL of the validation CNAMEs.
const VALIDATION_TTL: i64 = 300;

/// The parameters of `acm.request_certificate`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RequestCertificateParams {
    /// The main domain name, e.g. `api-dr.example.com` (or `*.example.com`).
    pub domain: String,
    /// Other names the certificate covers.
    #[serde(default)]
    pub subject_alternative_names: Vec<String>,
    /// The hosted zone for the validation records: its id (`Z...`) or name.
    pub hosted_zone: String,
    /// The ACM region (default: the step's region). CloudFront needs `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
}

impl RequestCertificateParams {
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

/// A short token (`\w`, at most 32 characters) derived from the step id and the names, so a
/// retried request within ACM's hour is the same request.
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

#[derive(Debug, Default)]
struct State {
    /// The certificate this step works on (requested or adopted).
    arn: Option<String>,
    /// Whether this step requested it (rollback deletes only those).
    requested: bool,
    /// Whether the validation records were written.
    records_written: bool,
}

/// Requests a DNS-validated ACM certificate, writes its validation CNAMEs into the hosted zone
/// through the Route 53 port ([`upsert_records`]: UPSERT, waited until `INSYNC`) and waits
/// until the certificate is `ISSUED`.
///
/// - `check`: the zone exists and covers every name; an Amazon-issued certificate for exactly
///   these names that is `ISSUED` -> done (its ARN); `PENDING_VALIDATION` -> ready (resume:
///   no new request); otherwise ready (request).
/// - `execute`: adopts a pending certificate or requests one (idempotency token from the step
///   id), writes the records, waits; `FAILED` ends with its reason. Executed again, it reuses
///   the certificate it has.
/// - `rollback`: deletes the certificate this run requested, only if nothing uses it.
pub struct RequestCertificate {
    id: String,
    params: RequestCertificateParams,
    names: Vec<String>,
    target: Resource,
    acm: Arc<dyn AcmApi>,
    dns: Arc<dyn Route53Api>,
    dns_wait: WaitPolicy,
    issue_wait: WaitPolicy,
    state: Mutex<State>,
}

impl fmt::Debug for RequestCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestCertificate")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
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
        let names = params.names();
        let region = params.region.clone().or(region.map(str::to_owned));
        let target = Resource::new("acm", "certificate", names[0].clone()).in_region(region);
        Self {
            id: id.into(),
            params,
            names,
            target,
            acm,
            dns,
            dns_wait: WaitPolicy::default(),
            issue_wait: WaitPolicy::default(),
            state: Mutex::new(State::default()),
        }
    }

    /// Uses `policy` for the wait until `ISSUED` (and `INSYNC`).
    #[must_use]
    pub fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.dns_wait = policy.clone();
        self.issue_wait = policy;
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The zone, or why it cannot be used.
    async fn zone(&self, ctx: &Context) -> Result<Result<HostedZone, String>, ActionError> {
        let zone = match ctx
            .bounded(self.dns.find_zone(&self.params.hosted_zone))
            .await
        {
            Ok(zone) => zone,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Err(format!(
                    "hosted zone {} does not exist",
                    self.params.hosted_zone
                )));
            }
            Err(e) => return Err(e.in_action(self)),
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
                self.acm
                    .list_certificates(vec!["ISSUED".into(), "PENDING_VALIDATION".into()]),
            )
            .await
            .map_err(|e| e.in_action(self))?;
        let mut pending = None;
        for summary in list
            .iter()
            .filter(|s| s.domain.eq_ignore_ascii_case(&self.names[0]))
        {
            let info = match ctx
                .bounded(self.acm.describe_certificate(&summary.arn))
                .await
            {
                Ok(info) => info,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e.in_action(self)),
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
        Outputs::new()
            .with("certificate_arn", info.arn.clone())
            .with("domain", info.domain.clone())
            .with("names", info.names.clone())
            .with("status", info.status.clone())
    }

    /// Waits until ACM has published a validation record for every name.
    async fn validation_records(
        &self,
        ctx: &Context,
        arn: &str,
    ) -> Result<Vec<ValidationRecord>, ActionError> {
        let what = format!("the DNS validation records of {arn}");
        wait_until(ctx, &what, &self.dns_wait, || async {
            let info = ctx.bounded(self.acm.describe_certificate(arn)).await?;
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
        .map_err(|e| e.in_action(self))
    }

    async fn wait_issued(&self, ctx: &Context, arn: &str) -> Result<CertificateInfo, ActionError> {
        let what = format!("certificate {arn} to be ISSUED");
        wait_until(ctx, &what, &self.issue_wait, || async {
            let info = ctx.bounded(self.acm.describe_certificate(arn)).await?;
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
                    self.params.hosted_zone
                ))
                .with_code(other)),
            }
        })
        .await
        .map_err(|e| e.in_action(self))
    }
}

#[async_trait]
impl RecoveryAction for RequestCertificate {
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
        true
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        IAM_ACTIONS
    }
    fn supports_rollback(&self) -> bool {
        true
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
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

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        ctx.refuse_dry_run().map_err(|e| e.in_action(self))?;
        let zone = match self.zone(ctx).await? {
            Ok(zone) => zone,
            Err(reason) => return Err(ActionError::precondition(reason).in_action(self)),
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
                    let token = idempotency_token(&self.id, &self.names);
                    let arn = ctx
                        .bounded(self.acm.request_certificate(
                            &self.names[0],
                            self.names[1..].to_vec(),
                            &token,
                        ))
                        .await
                        .map_err(|e| e.in_action(self))?;
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
            upsert_records(ctx, self.dns.as_ref(), &zone.id, records, &self.dns_wait)
                .await
                .map_err(|e| e.in_action(self))?;
            ctx.progress(format!(
                "{n} validation record(s) of {arn} are INSYNC in {}",
                zone.name
            ));
            self.state().records_written = true;
        }
        let info = self.wait_issued(ctx, &arn).await?;
        Ok(self.outputs(&info))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let known = self.state().arn.clone();
        let info = match known {
            Some(arn) => ctx
                .bounded(self.acm.describe_certificate(&arn))
                .await
                .map_err(|e| e.in_action(self))?,
            None => match self.existing(ctx).await? {
                Existing::Issued(info) => info,
                _ => {
                    return Err(ActionError::postcondition(format!(
                        "no ISSUED certificate for {}",
                        self.names.join(", ")
                    ))
                    .in_action(self));
                }
            },
        };
        if info.status == "ISSUED" {
            Ok(format!("certificate {} is ISSUED", info.arn))
        } else {
            Err(ActionError::postcondition(format!(
                "certificate {} is {}, not ISSUED",
                info.arn, info.status
            ))
            .in_action(self))
        }
    }

    async fn rollback(&self, ctx: &Context) -> Result<(), ActionError> {
        let (arn, requested) = {
            let state = self.state();
            (state.arn.clone(), state.requested)
        };
        let Some(arn) = arn.filter(|_| requested) else {
            ctx.progress("nothing to roll back: this run requested no certificate");
            return Ok(());
        };
        let info = match ctx.bounded(self.acm.describe_certificate(&arn)).await {
            Ok(info) => info,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.in_action(self)),
        };
        if !info.in_use_by.is_empty() {
            return Err(ActionError::precondition(format!(
                "certificate {arn} is in use by {}: not deleted",
                info.in_use_by.join(", ")
            ))
            .in_action(self));
        }
        match ctx.bounded(self.acm.delete_certificate(&arn)).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e.in_action(self)),
        }
        ctx.progress(format!("deleted certificate {arn}"));
        let mut state = self.state();
        state.arn = None;
        state.requested = false;
        state.records_written = false;
        Ok(())
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
