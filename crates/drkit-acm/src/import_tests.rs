//! Unit tests of `acm.import_certificate` with the mocked ACM port: a re-run (or a retry after
//! a lost answer) finds the certificate ACM already holds by its leaf and imports no copy.

use std::sync::{Arc, Mutex};

use drkit_core::{Check, Context, ErrorKind, RecoveryAction};
use serde_json::json;

use super::*;
use crate::port::{CertificateInfo, CertificateSummary, MockAcmApi};

/// The same certificate, wrapped differently (PEM line length is free).
const LEAF: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUYWJj\nZGVmZ2hpams=\n-----END CERTIFICATE-----\n";
const LEAF_REWRAPPED: &str = "-----BEGIN CERTIFICATE-----\r\nMIIBszCCAVmgAwIBAgIUYWJjZGVmZ2hpams=\r\n-----END CERTIFICATE-----\r\n";
const OTHER: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUeHl6\n-----END CERTIFICATE-----\n";
const REGION_ARN: &str = "arn:aws:acm:us-east-1:123456789012:certificate";

/// A certificate: ARN, type, PEM body.
type Held = (String, &'static str, String);

/// An ACM behind the mock: certificates (ARN, type, body); `ImportCertificate` adds or
/// replaces one; `lose_next_answer` makes the next import happen but answer with a time-out.
#[derive(Clone, Default)]
struct Acm {
    certs: Arc<Mutex<Vec<Held>>>,
    imports: Arc<Mutex<Vec<Option<String>>>>,
    lose_next_answer: Arc<Mutex<bool>>,
}

impl Acm {
    fn with(certs: &[(&str, &'static str, &str)]) -> Self {
        let acm = Self::default();
        *acm.certs.lock().unwrap() = certs
            .iter()
            .map(|(arn, t, body)| (format!("{REGION_ARN}/{arn}"), *t, (*body).to_owned()))
            .collect();
        acm
    }

    fn mock(&self) -> MockAcmApi {
        let mut api = MockAcmApi::new();
        let certs = Arc::clone(&self.certs);
        api.expect_list_certificates().returning(move |statuses| {
            assert!(statuses.is_empty(), "every status");
            Ok(certs
                .lock()
                .unwrap()
                .iter()
                .enumerate()
                // The second certificate's summary does not say its type: described.
                .map(|(i, (arn, t, _))| {
                    let s = CertificateSummary::new(arn, "mint.example.com", "ISSUED");
                    if i == 1 { s } else { s.of_type(t) }
                })
                .collect())
        });
        let certs = Arc::clone(&self.certs);
        api.expect_describe_certificate().returning(move |arn| {
            let certs = certs.lock().unwrap();
            let (arn, t, _) = certs
                .iter()
                .find(|(a, _, _)| a == arn)
                .ok_or_else(|| ActionError::new(ErrorKind::NotFound, "no such certificate"))?;
            Ok(CertificateInfo {
                arn: arn.clone(),
                cert_type: (*t).to_owned(),
                status: "ISSUED".to_owned(),
                names: vec!["mint.example.com".to_owned()],
                ..CertificateInfo::default()
            })
        });
        let certs = Arc::clone(&self.certs);
        api.expect_get_certificate().returning(move |arn| {
            let certs = certs.lock().unwrap();
            let (_, t, body) = certs
                .iter()
                .find(|(a, _, _)| a == arn)
                .ok_or_else(|| ActionError::new(ErrorKind::NotFound, "no such certificate"))?;
            assert_eq!(
                *t, "IMPORTED",
                "GetCertificate only for imported certificates"
            );
            Ok(body.clone())
        });
        let (certs, imports, lose) = (
            Arc::clone(&self.certs),
            Arc::clone(&self.imports),
            Arc::clone(&self.lose_next_answer),
        );
        api.expect_import_certificate()
            .returning(move |arn, certificate, _key, _chain| {
                imports.lock().unwrap().push(arn.clone());
                let mut certs = certs.lock().unwrap();
                let arn = match arn {
                    Some(arn) => {
                        certs.retain(|(a, _, _)| *a != arn);
                        arn
                    }
                    None => format!("{REGION_ARN}/new-{}", certs.len()),
                };
                certs.push((arn.clone(), "IMPORTED", certificate));
                if std::mem::take(&mut *lose.lock().unwrap()) {
                    return Err(
                        ActionError::new(ErrorKind::Timeout, "no answer").with_maybe_applied()
                    );
                }
                Ok(arn)
            });
        api
    }

    fn imports(&self) -> Vec<Option<String>> {
        self.imports.lock().unwrap().clone()
    }
}

/// The step, its private key in a temporary file (kept while the returned directory lives).
fn step(acm: &Acm, params: serde_json::Value) -> (ImportCertificate, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    let mut params = params;
    params["private_key"] = json!(format!("file:{}", key.display()));
    let step = ImportCertificate::new(
        "import-cert",
        serde_json::from_value(params).unwrap(),
        Arc::new(acm.mock()),
        Some("us-east-1"),
    );
    (step, dir)
}

#[test]
fn leaves_are_compared_as_der_whatever_the_wrapping() {
    assert_eq!(leaf(LEAF).unwrap(), leaf(LEAF_REWRAPPED).unwrap());
    assert_ne!(leaf(LEAF).unwrap(), leaf(OTHER).unwrap());
    assert_eq!(base64_decode("TWFu").unwrap(), b"Man");
    assert_eq!(base64_decode("TWE=").unwrap(), b"Ma");
    assert_eq!(base64_decode("TQ==").unwrap(), b"M");
    assert!(base64_decode("TQ=a").is_err());
    assert!(base64_decode("T$==").is_err());
    let chain = format!("{LEAF}{OTHER}");
    assert_eq!(certificates_der(&chain).unwrap().len(), 2);
    assert!(certificates_der("-----BEGIN CERTIFICATE-----\nMIIB").is_err());
}

/// Without `certificate_arn`, a re-run finds the imported certificate with the same leaf
/// (ListCertificates, GetCertificate of the IMPORTED ones only) and imports no copy.
#[tokio::test]
async fn a_re_run_finds_the_certificate_by_its_leaf_and_imports_no_copy() {
    let acm = Acm::with(&[
        ("amazon", "AMAZON_ISSUED", ""),
        ("other", "IMPORTED", OTHER),
        ("held", "IMPORTED", LEAF_REWRAPPED),
    ]);
    let (import, _key) = step(&acm, json!({"certificate": LEAF}));
    let ctx = Context::new();
    match import.check(&ctx).await.unwrap() {
        Check::Done { outputs, detail } => {
            assert_eq!(
                outputs.get_str("certificate_arn"),
                Some(format!("{REGION_ARN}/held").as_str())
            );
            assert_eq!(outputs.get("imported"), Some(&json!(false)));
            assert!(detail.contains("already holds"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    let out = import.execute(&ctx).await.unwrap();
    assert_eq!(out.get("imported"), Some(&json!(false)));
    assert!(acm.imports().is_empty(), "no copy imported");

    // A certificate ACM does not hold: imported once, then found.
    let acm = Acm::with(&[("other", "IMPORTED", OTHER)]);
    let (import, _key) = step(&acm, json!({"certificate": LEAF}));
    assert!(matches!(
        import.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = import.execute(&ctx).await.unwrap();
    assert_eq!(out.get("imported"), Some(&json!(true)));
    assert_eq!(acm.imports(), [None]);
    let (rerun, _rerun_key) = step(&acm, json!({"certificate": LEAF}));
    assert!(rerun.check(&ctx).await.unwrap().is_done());
    rerun.execute(&ctx).await.unwrap();
    assert_eq!(acm.imports().len(), 1, "the re-run imports nothing");
}

/// An import whose answer was lost (it happened) is found by its leaf on the next execute:
/// no second copy.
#[tokio::test]
async fn an_import_whose_answer_was_lost_is_not_repeated() {
    let acm = Acm::with(&[]);
    *acm.lose_next_answer.lock().unwrap() = true;
    let (import, _key) = step(&acm, json!({"certificate": LEAF}));
    let ctx = Context::new();
    let err = import.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let out = import.execute(&ctx).await.unwrap();
    assert_eq!(
        out.get_str("certificate_arn"),
        Some(format!("{REGION_ARN}/new-0").as_str())
    );
    assert_eq!(acm.imports().len(), 1);
}

/// With `certificate_arn`: the same leaf there -> done, nothing re-imported; another leaf
/// (a renewal) -> re-imported into that ARN.
#[tokio::test]
async fn a_re_import_into_an_arn_is_skipped_when_it_holds_the_same_leaf() {
    let acm = Acm::with(&[("cdn", "IMPORTED", LEAF)]);
    let arn = format!("{REGION_ARN}/cdn");
    let (same, _same_key) = step(&acm, json!({"certificate": LEAF, "certificate_arn": arn}));
    let ctx = Context::new();
    assert!(same.check(&ctx).await.unwrap().is_done());
    let out = same.execute(&ctx).await.unwrap();
    assert_eq!(out.get("imported"), Some(&json!(false)));
    assert!(acm.imports().is_empty());

    let (renewed, _renewed_key) = step(&acm, json!({"certificate": OTHER, "certificate_arn": arn}));
    match renewed.check(&ctx).await.unwrap() {
        Check::Ready { change } => assert!(change.contains(&arn), "{change}"),
        other => panic!("{other:?}"),
    }
    let out = renewed.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("certificate_arn"), Some(arn.as_str()));
    assert_eq!(out.get("imported"), Some(&json!(true)));
    assert_eq!(acm.imports(), [Some(arn)]);
}

#[tokio::test]
async fn a_certificate_that_is_not_base64_is_blocked() {
    let acm = Acm::with(&[]);
    let bad = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
    let (import, _key) = step(&acm, json!({"certificate": bad}));
    match import.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => assert!(reason.contains("not valid base64"), "{reason}"),
        other => panic!("{other:?}"),
    }
}
