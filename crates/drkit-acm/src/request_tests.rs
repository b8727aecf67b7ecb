//! Unit tests of `acm.request_certificate` with mocked ports: what moto cannot show (it issues
//! every DNS-validated certificate after a fixed wait, never fails validation, never throttles,
//! and does not track `InUseBy`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{Check, Context, ErrorKind, RecoveryAction, WaitPolicy};
use drkit_route53::{ChangeInfo, HostedZone, MockRoute53Api, RecordChange};

use super::*;
use crate::port::{CertificateSummary, MockAcmApi};

const ZONE_ID: &str = "Z0000000000000000001";
const ARN: &str = "arn:aws:acm:us-east-1:123456789012:certificate/new-1";

/// A recorded request: domain, other names, idempotency token.
type Request = (String, Vec<String>, String);

/// A fake ACM behind the mock. A requested certificate is PENDING_VALIDATION with one
/// validation record per name; after `issue_after` describes it becomes `final_status`
/// (never when `issue_after` is None).
#[derive(Clone)]
struct FakeAcm {
    certs: Arc<Mutex<Vec<CertificateInfo>>>,
    describes: Arc<Mutex<usize>>,
    requests: Arc<Mutex<Vec<Request>>>,
    deleted: Arc<Mutex<Vec<String>>>,
    describe_errors: Arc<Mutex<VecDeque<ActionError>>>,
    issue_after: Option<usize>,
    final_status: &'static str,
}

impl FakeAcm {
    fn new(issue_after: Option<usize>, final_status: &'static str) -> Self {
        Self {
            certs: Arc::default(),
            describes: Arc::default(),
            requests: Arc::default(),
            deleted: Arc::default(),
            describe_errors: Arc::default(),
            issue_after,
            final_status,
        }
    }

    fn cert(arn: &str, names: &[&str], status: &str) -> CertificateInfo {
        CertificateInfo {
            arn: arn.to_owned(),
            domain: names[0].to_owned(),
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            status: status.to_owned(),
            cert_type: "AMAZON_ISSUED".to_owned(),
            not_after: None,
            in_use_by: Vec::new(),
            failure_reason: None,
            validation: names
                .iter()
                .map(|n| ValidationRecord {
                    domain: (*n).to_owned(),
                    name: format!("_v.{}.", n.trim_start_matches("*.")),
                    rtype: "CNAME".to_owned(),
                    value: "_x.acm-validations.aws.".to_owned(),
                })
                .collect(),
        }
    }

    fn mock(&self) -> MockAcmApi {
        let mut api = MockAcmApi::new();
        let (certs, requests) = (Arc::clone(&self.certs), Arc::clone(&self.requests));
        api.expect_request_certificate()
            .returning(move |domain, sans, token| {
                let mut names = vec![domain];
                names.extend(sans.iter().map(String::as_str));
                requests
                    .lock()
                    .unwrap()
                    .push((domain.to_owned(), sans.clone(), token.to_owned()));
                certs
                    .lock()
                    .unwrap()
                    .push(Self::cert(ARN, &names, "PENDING_VALIDATION"));
                Ok(ARN.to_owned())
            });
        let (certs, describes, errors) = (
            Arc::clone(&self.certs),
            Arc::clone(&self.describes),
            Arc::clone(&self.describe_errors),
        );
        let (issue_after, final_status) = (self.issue_after, self.final_status);
        api.expect_describe_certificate().returning(move |arn| {
            if let Some(e) = errors.lock().unwrap().pop_front() {
                return Err(e);
            }
            let mut certs = certs.lock().unwrap();
            let Some(cert) = certs.iter_mut().find(|c| c.arn == arn) else {
                return Err(ActionError::new(ErrorKind::NotFound, "no such certificate"));
            };
            if cert.arn == ARN {
                let mut n = describes.lock().unwrap();
                *n += 1;
                if issue_after.is_some_and(|after| *n > after) {
                    cert.status = final_status.to_owned();
                    if final_status == "FAILED" {
                        cert.failure_reason = Some("CAA_ERROR".to_owned());
                    }
                }
            }
            Ok(cert.clone())
        });
        let certs = Arc::clone(&self.certs);
        api.expect_list_certificates().returning(move |statuses| {
            Ok(certs
                .lock()
                .unwrap()
                .iter()
                .filter(|c| statuses.is_empty() || statuses.contains(&c.status))
                .map(|c| CertificateSummary::new(&c.arn, &c.domain, &c.status))
                .collect())
        });
        let (certs, deleted) = (Arc::clone(&self.certs), Arc::clone(&self.deleted));
        api.expect_delete_certificate().returning(move |arn| {
            certs.lock().unwrap().retain(|c| c.arn != arn);
            deleted.lock().unwrap().push(arn.to_owned());
            Ok(())
        });
        api
    }

    fn requests(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

/// A fake zone behind the Route 53 mock: records the submitted batches; INSYNC at once.
#[derive(Clone, Default)]
struct FakeDns {
    submitted: Arc<Mutex<Vec<Vec<RecordChange>>>>,
    submit_errors: Arc<Mutex<VecDeque<ActionError>>>,
}

impl FakeDns {
    fn mock(&self) -> MockRoute53Api {
        let mut api = MockRoute53Api::new();
        api.expect_find_zone().returning(|zone| {
            if zone == "example.com" || zone == ZONE_ID {
                Ok(HostedZone::new(ZONE_ID, "example.com"))
            } else {
                Err(ActionError::new(ErrorKind::NotFound, "no such zone"))
            }
        });
        let (submitted, errors) = (Arc::clone(&self.submitted), Arc::clone(&self.submit_errors));
        api.expect_change_records().returning(move |_, changes, _| {
            if let Some(e) = errors.lock().unwrap().pop_front() {
                return Err(e);
            }
            let mut s = submitted.lock().unwrap();
            s.push(changes);
            Ok(ChangeInfo::new(format!("C{}", s.len()), "PENDING"))
        });
        api.expect_get_change()
            .returning(|id| Ok(ChangeInfo::new(id, "INSYNC")));
        api
    }

    fn records(&self) -> Vec<RecordSet> {
        self.submitted
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .map(|c| c.record.clone())
            .collect()
    }
}

fn params(domain: &str, sans: &[&str], zone: &str) -> RequestCertificateParams {
    serde_json::from_value(serde_json::json!({
        "domain": domain, "subject_alternative_names": sans, "hosted_zone": zone,
    }))
    .unwrap()
}

fn action(acm: &FakeAcm, dns: &FakeDns, p: RequestCertificateParams) -> RequestCertificate {
    RequestCertificate::new(
        "request-cert",
        p,
        Arc::new(acm.mock()),
        Arc::new(dns.mock()),
        Some("us-east-1"),
    )
    .with_wait_policy(WaitPolicy::without_jitter())
}

fn api_cert() -> RequestCertificateParams {
    params("api.example.com", &["*.example.com"], "example.com")
}

#[tokio::test(start_paused = true)]
async fn request_writes_the_validation_records_through_route53_and_waits_until_issued() {
    let (acm, dns) = (FakeAcm::new(Some(3), "ISSUED"), FakeDns::default());
    let step = action(&acm, &dns, api_cert());
    let ctx = Context::new();
    let check = step.check(&ctx).await.unwrap();
    assert!(
        matches!(check, Check::Ready { ref change } if change.contains("request")),
        "{check:?}"
    );
    let out = step.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("certificate_arn"), Some(ARN));
    assert_eq!(out.get_str("status"), Some("ISSUED"));
    let requests = acm.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].0, "api.example.com");
    assert_eq!(requests[0].1, ["*.example.com"]);
    assert_eq!(requests[0].2, step.token());
    let submitted = dns.submitted.lock().unwrap().clone();
    assert_eq!(submitted.len(), 1, "one batch");
    assert!(
        submitted[0]
            .iter()
            .all(|c| c.action == drkit_route53::ChangeAction::Upsert)
    );
    let mut names: Vec<_> = dns.records().iter().map(|r| r.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["_v.api.example.com.", "_v.example.com."]);
    assert!(
        dns.records()
            .iter()
            .all(|r| r.rtype == "CNAME" && r.values == ["_x.acm-validations.aws."])
    );
    assert_eq!(
        step.verify(&ctx).await.unwrap(),
        format!("certificate {ARN} is ISSUED")
    );
    // Executed again: nothing is requested or written again.
    step.execute(&ctx).await.unwrap();
    assert_eq!(acm.requests(), 1);
    assert_eq!(dns.submitted.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn pending_validation_that_never_ends_times_out_and_a_re_execute_does_not_request_again() {
    let (acm, dns) = (FakeAcm::new(None, "ISSUED"), FakeDns::default());
    let step = action(&acm, &dns, api_cert());
    let ctx = Context::new().with_timeout(Duration::from_secs(600));
    let err = step.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded, "{err}");
    assert!(err.message().contains("ISSUED"), "{err}");
    assert!(err.message().contains("PENDING_VALIDATION"), "{err}");
    assert_eq!(
        dns.submitted.lock().unwrap().len(),
        1,
        "records were written"
    );
    let ctx = Context::new().with_timeout(Duration::from_secs(60));
    let err = step.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert_eq!(acm.requests(), 1, "no second request");
    assert_eq!(dns.submitted.lock().unwrap().len(), 1, "no second write");
}

#[tokio::test(start_paused = true)]
async fn failed_validation_is_a_clear_error() {
    let (acm, dns) = (FakeAcm::new(Some(2), "FAILED"), FakeDns::default());
    let step = action(&acm, &dns, api_cert());
    let err = step.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed, "{err}");
    assert_eq!(err.code(), Some("FAILED"));
    assert!(err.message().contains("FAILED (CAA_ERROR)"), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test(start_paused = true)]
async fn throttling_is_backed_off_while_writing_and_waiting() {
    let (acm, dns) = (FakeAcm::new(Some(3), "ISSUED"), FakeDns::default());
    let throttled =
        || ActionError::new(ErrorKind::Throttled, "Rate exceeded").with_code("Throttling");
    dns.submit_errors
        .lock()
        .unwrap()
        .extend([throttled(), throttled()]);
    let step = action(&acm, &dns, api_cert());
    let ctx = Context::new();
    // Lookups before the request are not throttled; the waits are.
    step.check(&ctx).await.unwrap();
    acm.describe_errors
        .lock()
        .unwrap()
        .extend([throttled(), throttled()]);
    let out = step.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("certificate_arn"), Some(ARN));
    assert_eq!(acm.requests(), 1);
    assert_eq!(dns.submitted.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_re_run_finds_the_issued_certificate_and_does_not_request_another() {
    let (acm, dns) = (FakeAcm::new(Some(0), "ISSUED"), FakeDns::default());
    let existing = "arn:aws:acm:us-east-1:123456789012:certificate/old";
    acm.certs.lock().unwrap().extend([
        // Other names, an import for the same names: not it.
        FakeAcm::cert("arn:other", &["api.example.com"], "ISSUED"),
        CertificateInfo {
            cert_type: "IMPORTED".into(),
            ..FakeAcm::cert(
                "arn:imported",
                &["api.example.com", "*.example.com"],
                "ISSUED",
            )
        },
        FakeAcm::cert(existing, &["API.example.com", "*.example.com"], "ISSUED"),
    ]);
    let step = action(&acm, &dns, api_cert());
    let ctx = Context::new();
    match step.check(&ctx).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("certificate_arn"), Some(existing));
        }
        other => panic!("expected done, got {other:?}"),
    }
    let out = step.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("certificate_arn"), Some(existing));
    assert_eq!(acm.requests(), 0);
    assert!(dns.submitted.lock().unwrap().is_empty());
    step.rollback(&ctx).await.unwrap();
    assert!(
        acm.deleted.lock().unwrap().is_empty(),
        "not this run's certificate"
    );
}

#[tokio::test(start_paused = true)]
async fn a_re_run_resumes_a_pending_certificate_without_a_new_request() {
    let (acm, dns) = (FakeAcm::new(Some(0), "ISSUED"), FakeDns::default());
    let pending = "arn:aws:acm:us-east-1:123456789012:certificate/pending";
    acm.certs.lock().unwrap().push(FakeAcm::cert(
        pending,
        &["api.example.com", "*.example.com"],
        "PENDING_VALIDATION",
    ));
    let step = action(&acm, &dns, api_cert());
    let ctx = Context::new().with_timeout(Duration::from_secs(30));
    let check = step.check(&ctx).await.unwrap();
    assert!(
        matches!(check, Check::Ready { ref change } if change.contains("resume") && change.contains(pending)),
        "{check:?}"
    );
    // It stays pending (the fake issues only its own requests): the wait times out, but the
    // records were written and nothing was requested.
    let err = step.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert_eq!(acm.requests(), 0);
    assert_eq!(dns.records().len(), 2);
    acm.certs.lock().unwrap()[0].status = "ISSUED".into();
    let out = step.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("certificate_arn"), Some(pending));
    step.rollback(&Context::new()).await.unwrap();
    assert!(
        acm.deleted.lock().unwrap().is_empty(),
        "adopted, not requested: kept"
    );
}

#[tokio::test(start_paused = true)]
async fn rollback_deletes_the_requested_certificate_only_when_nothing_uses_it() {
    let (acm, dns) = (FakeAcm::new(Some(1), "ISSUED"), FakeDns::default());
    let step = action(&acm, &dns, api_cert());
    let ctx = Context::new();
    step.execute(&ctx).await.unwrap();
    let lb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/mint/1";
    acm.certs.lock().unwrap()[0].in_use_by = vec![lb.to_owned()];
    let err = step.rollback(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    assert!(
        err.message().contains("in use by") && err.message().contains(lb),
        "{err}"
    );
    assert!(acm.deleted.lock().unwrap().is_empty());
    acm.certs.lock().unwrap()[0].in_use_by.clear();
    step.rollback(&ctx).await.unwrap();
    assert_eq!(*acm.deleted.lock().unwrap(), [ARN]);
    // Idempotent.
    step.rollback(&ctx).await.unwrap();
    assert_eq!(acm.deleted.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn names_outside_the_zone_or_a_missing_zone_block_and_a_dry_run_is_refused() {
    let (acm, dns) = (FakeAcm::new(Some(0), "ISSUED"), FakeDns::default());
    let step = action(&acm, &dns, params("api.example.org", &[], "example.com"));
    let check = step.check(&Context::new()).await.unwrap();
    assert!(
        matches!(check, Check::Blocked { ref reason } if reason.contains("api.example.org")),
        "{check:?}"
    );
    let step = action(&acm, &dns, params("api.example.com", &[], "nope.com"));
    let check = step.check(&Context::new()).await.unwrap();
    assert!(
        matches!(check, Check::Blocked { ref reason } if reason.contains("does not exist")),
        "{check:?}"
    );
    let step = action(&acm, &dns, api_cert());
    let err = step
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(acm.requests(), 0);
}

#[test]
fn the_idempotency_token_is_stable_short_and_per_step() {
    let names = vec!["api.example.com".to_owned()];
    let t = idempotency_token("request-cert", &names);
    assert_eq!(t, idempotency_token("request-cert", &names));
    assert_ne!(t, idempotency_token("other-step", &names));
    assert!(
        t.len() <= 32 && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "{t}"
    );
    assert_eq!(validated_name("*.example.com"), "example.com.");
    assert!(same_names(
        &["a.example.com".into(), "B.example.com".into()],
        &["b.example.com".into(), "a.example.com".into()]
    ));
}

/// ACM keeps a token's ARN for an hour, also once the certificate is deleted: each action
/// instance has its own token, and a rollback gives the instance a new one.
#[tokio::test(start_paused = true)]
async fn a_request_after_a_rollback_is_a_new_request() {
    let (acm, dns) = (FakeAcm::new(Some(1), "ISSUED"), FakeDns::default());
    let step = action(&acm, &dns, api_cert());
    let resumed = action(&acm, &dns, api_cert());
    assert_ne!(step.token(), resumed.token(), "one token per instance");
    let ctx = Context::new();
    step.execute(&ctx).await.unwrap();
    let sent = step.token();
    step.rollback(&ctx).await.unwrap();
    assert_eq!(*acm.deleted.lock().unwrap(), [ARN]);
    assert_ne!(step.token(), sent, "a new token after the rollback");
}
