//! Unit tests of `acm.check_certificate`, `acm.import_certificate` and the registration, with
//! the mocked ACM port.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{
    Check, Context, ErrorKind, ExposeSecret, PortFactory, ProgressEvent, RecoveryAction, SecretRef,
};
use drkit_route53::MockRoute53Api;
use serde_json::json;

use crate::port::{CertificateInfo, CertificateSummary, MockAcmApi};
use crate::{AcmPorts, CheckCertificate, DESCRIPTORS, ImportCertificate, register_with};

const ARN: &str = "arn:aws:acm:us-east-1:123456789012:certificate/c1";
const KEY_MARKER: &str = "MIIEvQ-TOP-SECRET-KEY-MATERIAL-7f3a";
const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const OTHER_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n";

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn cert(arn: &str, names: &[&str], status: &str, days: i64) -> CertificateInfo {
    CertificateInfo {
        arn: arn.into(),
        domain: names[0].into(),
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        status: status.into(),
        cert_type: "AMAZON_ISSUED".into(),
        not_after: Some(now() + days * 86_400 + 3_600),
        in_use_by: vec!["arn:aws:cloudfront::123456789012:distribution/E1".into()],
        ..CertificateInfo::default()
    }
}

fn acm_with(certs: Vec<CertificateInfo>) -> MockAcmApi {
    let mut api = MockAcmApi::new();
    let all = certs.clone();
    api.expect_list_certificates().returning(move |_| {
        Ok(all
            .iter()
            .map(|c| CertificateSummary::new(&c.arn, &c.domain, &c.status))
            .collect())
    });
    api.expect_describe_certificate().returning(move |arn| {
        certs
            .iter()
            .find(|c| c.arn == arn)
            .cloned()
            .ok_or_else(|| drkit_core::ActionError::new(ErrorKind::NotFound, "not found"))
    });
    // Every certificate's body is another certificate than CERT_PEM.
    api.expect_get_certificate()
        .returning(|_| Ok(OTHER_PEM.to_owned()));
    api
}

fn check_step(api: MockAcmApi, params: serde_json::Value) -> CheckCertificate {
    CheckCertificate::new(
        "check-cert",
        serde_json::from_value(params).unwrap(),
        Arc::new(api),
        Some("us-east-1"),
    )
}

#[tokio::test]
async fn check_certificate_reports_status_names_days_and_users() {
    let api = acm_with(vec![cert(
        ARN,
        &["api.example.com", "*.example.com"],
        "ISSUED",
        90,
    )]);
    let step = check_step(api, json!({"certificate_arn": ARN, "min_days_valid": 30}));
    match step.check(&Context::new()).await.unwrap() {
        Check::Done { detail, outputs } => {
            assert!(detail.contains("ISSUED"), "{detail}");
            assert_eq!(outputs.get_str("status"), Some("ISSUED"));
            assert_eq!(outputs.get("days_to_expiry"), Some(&json!(90)));
            assert_eq!(
                outputs.get("names"),
                Some(&json!(["api.example.com", "*.example.com"]))
            );
            assert_eq!(
                outputs.get("in_use_by"),
                Some(&json!(["arn:aws:cloudfront::123456789012:distribution/E1"]))
            );
        }
        other => panic!("expected done, got {other:?}"),
    }
    let api = acm_with(vec![cert(ARN, &["api.example.com"], "ISSUED", 10)]);
    let step = check_step(api, json!({"certificate_arn": ARN, "min_days_valid": 30}));
    let check = step.check(&Context::new()).await.unwrap();
    assert!(
        matches!(check, Check::Blocked { ref reason } if reason.contains("10 day(s)")),
        "{check:?}"
    );
    let err = step.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
}

#[tokio::test]
async fn check_certificate_by_domain_picks_the_issued_one_that_expires_last() {
    let api = acm_with(vec![
        cert("arn:a", &["*.example.com"], "ISSUED", 40),
        cert("arn:b", &["example.com", "*.example.com"], "ISSUED", 200),
        cert("arn:c", &["api.example.com"], "PENDING_VALIDATION", 0),
        cert("arn:d", &["www.example.org"], "ISSUED", 300),
    ]);
    let step = check_step(api, json!({"domain": "api.example.com"}));
    match step.check(&Context::new()).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("certificate_arn"), Some("arn:b"));
        }
        other => panic!("expected done, got {other:?}"),
    }
    let step = check_step(acm_with(Vec::new()), json!({"domain": "api.example.com"}));
    let check = step.check(&Context::new()).await.unwrap();
    assert!(
        matches!(check, Check::Blocked { ref reason } if reason.contains("no certificate covers")),
        "{check:?}"
    );
    let step = check_step(acm_with(Vec::new()), json!({"certificate_arn": ARN}));
    let check = step.check(&Context::new()).await.unwrap();
    assert!(
        matches!(check, Check::Blocked { ref reason } if reason.contains("does not exist")),
        "{check:?}"
    );
}

/// The private key is read through its reference, handed to the port, and appears nowhere
/// else: not in Debug, progress events, check results, outputs or errors.
#[tokio::test]
async fn the_private_key_never_appears_in_logs_errors_outputs_or_debug() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key.pem");
    std::fs::write(&key_path, format!("{KEY_MARKER}\n")).unwrap();
    let key_ref: SecretRef = format!("file:{}", key_path.display()).parse().unwrap();
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut api = MockAcmApi::new();
    api.expect_list_certificates().returning(|_| Ok(Vec::new()));
    let r = Arc::clone(&received);
    let mut calls = 0;
    api.expect_import_certificate()
        .returning(move |arn, certificate, key, chain| {
            r.lock().unwrap().push(key.expose_secret().to_owned());
            assert_eq!(arn, None);
            assert_eq!(certificate, CERT_PEM);
            assert_eq!(chain, None);
            calls += 1;
            if calls == 1 {
                Err(drkit_core::ActionError::new(
                    ErrorKind::InvalidInput,
                    "The private key is not supported",
                )
                .with_code("ValidationException"))
            } else {
                Ok(ARN.to_owned())
            }
        });
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&events);
    let ctx = Context::new()
        .with_events(move |e: ProgressEvent| sink.lock().unwrap().push(format!("{e:?}")));
    let params = serde_json::from_value(
        json!({"certificate": CERT_PEM, "private_key": key_ref.to_string()}),
    )
    .unwrap();
    let step = ImportCertificate::new("import-cert", params, Arc::new(api), None);
    let mut seen = vec![format!("{step:?}")];
    seen.push(format!("{:?}", step.check(&Context::new()).await.unwrap()));
    let err = step.execute(&ctx).await.unwrap_err();
    seen.push(format!("{err} {err:?}"));
    let out = step.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("certificate_arn"), Some(ARN));
    seen.push(format!("{out:?}"));
    seen.push(format!("{:?}", step.check(&Context::new()).await.unwrap()));
    seen.extend(events.lock().unwrap().iter().cloned());
    assert!(seen.len() > 5);
    for text in &seen {
        assert!(!text.contains(KEY_MARKER), "the key leaked: {text}");
    }
    assert_eq!(
        *received.lock().unwrap(),
        [KEY_MARKER, KEY_MARKER],
        "the port got the key"
    );
    // The SDK request marks the key as sensitive: its Debug is redacted too.
    let input = aws_sdk_acm::operation::import_certificate::ImportCertificateInput::builder()
        .private_key(aws_sdk_acm::primitives::Blob::new(KEY_MARKER.as_bytes()))
        .build()
        .unwrap();
    assert!(!format!("{input:?}").contains(KEY_MARKER));
    // A missing key: blocked, naming the reference only.
    let params = serde_json::from_value(
        json!({"certificate": CERT_PEM, "private_key": "env:DRKIT_ACM_TEST_NO_SUCH_VAR"}),
    )
    .unwrap();
    let step = ImportCertificate::new("import-cert", params, Arc::new(MockAcmApi::new()), None);
    let check = step.check(&Context::new()).await.unwrap();
    assert!(
        matches!(check, Check::Blocked { ref reason } if reason.contains("DRKIT_ACM_TEST_NO_SUCH_VAR")),
        "{check:?}"
    );
    let err = step
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn re_import_needs_an_existing_imported_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key.pem");
    std::fs::write(&key_path, KEY_MARKER).unwrap();
    let cert_path = dir.path().join("cert.pem");
    std::fs::write(&cert_path, CERT_PEM).unwrap();
    let imported = CertificateInfo {
        cert_type: "IMPORTED".into(),
        ..cert(ARN, &["a.example.com"], "ISSUED", 50)
    };
    let amazon = cert(
        "arn:aws:acm:us-east-1:1:certificate/amazon",
        &["a.example.com"],
        "ISSUED",
        50,
    );
    let build = |arn: &str, api: MockAcmApi| {
        let params = serde_json::from_value(json!({
            "certificate": cert_path.display().to_string(),
            "private_key": format!("file:{}", key_path.display()),
            "certificate_arn": arn,
        }))
        .unwrap();
        ImportCertificate::new("reimport", params, Arc::new(api), Some("us-east-1"))
    };
    let step = build(ARN, acm_with(vec![imported.clone(), amazon.clone()]));
    let check = step.check(&Context::new()).await.unwrap();
    assert!(
        matches!(check, Check::Ready { ref change } if change.contains(ARN)),
        "{check:?}"
    );
    let step = build(&amazon.arn, acm_with(vec![imported, amazon.clone()]));
    let check = step.check(&Context::new()).await.unwrap();
    assert!(
        matches!(check, Check::Blocked { ref reason } if reason.contains("not IMPORTED")),
        "{check:?}"
    );
    let step = build(
        "arn:aws:acm:us-east-1:1:certificate/gone",
        acm_with(Vec::new()),
    );
    let check = step.check(&Context::new()).await.unwrap();
    assert!(
        matches!(check, Check::Blocked { ref reason } if reason.contains("does not exist")),
        "{check:?}"
    );
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    let ports = AcmPorts {
        acm: PortFactory::new(|_| Arc::new(MockAcmApi::new()) as Arc<dyn crate::AcmApi>),
        dns: PortFactory::fixed(
            Arc::new(MockRoute53Api::new()) as Arc<dyn drkit_route53::Route53Api>
        ),
    };
    register_with(&mut registry, &ports).unwrap();
    registry
}

#[test]
fn parameters_are_validated_before_any_call() {
    let registry = registry();
    let build = |kind: &str, params: serde_json::Value| {
        registry.build(&ActionSpec::new("s", kind, params).in_region("eu-west-1"))
    };
    assert!(
        build(
            "acm.request_certificate",
            json!({"domain": "api.example.com", "hosted_zone": "example.com"})
        )
        .is_ok()
    );
    let bad = [
        (
            "acm.request_certificate",
            json!({"domain": "api example", "hosted_zone": "example.com"}),
            "domain",
        ),
        (
            "acm.request_certificate",
            json!({"domain": "a.example.com", "hosted_zone": " "}),
            "hosted_zone",
        ),
        (
            "acm.request_certificate",
            json!({"domain": "a.example.com", "hosted_zone": "z", "sans": []}),
            "sans",
        ),
        (
            "acm.request_certificate",
            json!({"domain": "a.example.com", "hosted_zone": "z", "subject_alternative_names": ["x..y"]}),
            "subject_alternative_names",
        ),
        (
            "acm.check_certificate",
            json!({"certificate_arn": ARN, "domain": "a.example.com"}),
            "exactly one",
        ),
        ("acm.check_certificate", json!({}), "exactly one"),
        (
            "acm.check_certificate",
            json!({"certificate_arn": "c1"}),
            "ARN",
        ),
        (
            "acm.check_certificate",
            json!({"domain": "a.example.com", "min_days_valid": -1}),
            "negative",
        ),
        (
            "acm.import_certificate",
            json!({"certificate": CERT_PEM, "private_key": "hunter2"}),
            "secret",
        ),
        (
            "acm.import_certificate",
            json!({"certificate": CERT_PEM, "private_key": "env:K", "certificate_arn": "x"}),
            "ARN",
        ),
        (
            "acm.request_certificate",
            json!({"domain": "a.example.com", "hosted_zone": "z", "for_cloudfront": true}),
            "parameter `for_cloudfront`: CloudFront uses certificates from ACM in us-east-1 only, not eu-west-1",
        ),
        (
            "acm.check_certificate",
            json!({"domain": "a.example.com", "for_cloudfront": true, "region": "us-west-2"}),
            "not us-west-2",
        ),
        (
            "acm.import_certificate",
            json!({"certificate": CERT_PEM, "private_key": "env:K", "for_cloudfront": true}),
            "for_cloudfront",
        ),
    ];
    for (kind, params, expected) in bad {
        let err = build(kind, params.clone())
            .err()
            .unwrap_or_else(|| panic!("{kind} {params} was accepted"));
        assert!(err.to_string().contains(expected), "{kind} {params}: {err}");
        assert!(!err.to_string().contains("hunter2"));
    }
    // For CloudFront: us-east-1 (the parameter or the step's region) passes; no region at all
    // is refused (the default region is not known before the run).
    for kind_params in [
        (
            "acm.check_certificate",
            json!({"domain": "a.example.com", "for_cloudfront": true, "region": "us-east-1"}),
        ),
        (
            "acm.import_certificate",
            json!({"certificate": CERT_PEM, "private_key": "env:K", "for_cloudfront": true, "region": "us-east-1"}),
        ),
    ] {
        assert!(build(kind_params.0, kind_params.1).is_ok());
    }
    let east = registry.build(
        &ActionSpec::new(
            "s",
            "acm.request_certificate",
            json!({"domain": "a.example.com", "hosted_zone": "z", "for_cloudfront": true}),
        )
        .in_region("us-east-1"),
    );
    assert!(east.is_ok());
    let nowhere = registry
        .build(&ActionSpec::new(
            "s",
            "acm.check_certificate",
            json!({"domain": "a.example.com", "for_cloudfront": true}),
        ))
        .err()
        .unwrap()
        .to_string();
    assert!(nowhere.contains("has no region"), "{nowhere}");
    let step = build("acm.check_certificate", json!({"domain": "a.example.com"})).unwrap();
    assert!(!step.mutates());
    assert!(step.target().to_string().contains("eu-west-1"));
    let step = build(
        "acm.request_certificate",
        json!({"domain": "a.example.com", "hosted_zone": "z", "region": "us-east-1"}),
    )
    .unwrap();
    assert!(step.mutates() && step.supports_rollback());
    assert!(
        step.iam_actions()
            .contains(&"route53:ChangeResourceRecordSets")
    );
    assert!(
        step.target().to_string().contains("us-east-1"),
        "{}",
        step.target()
    );
}

/// docs/actions/acm.md names every registered kind, each parameter, output and IAM action.
#[test]
fn the_actions_page_documents_every_action() {
    drkit_testkit::docs::documented(
        "docs/actions/acm.md",
        include_str!("../../../docs/actions/acm.md"),
        DESCRIPTORS,
    )
    .unwrap();
}
