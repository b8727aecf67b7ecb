//! The ACM actions against a real AWS API emulator (moto server, started by scripts/test.sh
//! with `MOTO_ACM_VALIDATION_WAIT=1`): DNS-validated requests whose validation records really
//! land in a Route 53 zone, and imports. Needs `DRKIT_TEST_AWS_ENDPOINT`; under CI=true a
//! missing emulator fails these tests.

use std::time::Duration;

use aws_sdk_acm::Client as Acm;
use aws_sdk_route53::Client as Route53;
use aws_sdk_route53::types::RrType;
use drkit_aws::AwsContext;
use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionRef, Check, Context};
use drkit_testkit::{Moto, unique};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";

async fn setup() -> Option<(Moto, Acm, Route53, Registry)> {
    let moto = drkit_testkit::moto()?;
    let config = moto.sdk_config(REGION).await;
    let mut registry = Registry::new();
    drkit_acm::register(&mut registry, &AwsContext::from_sdk_config(config.clone())).unwrap();
    Some((moto, Acm::new(&config), Route53::new(&config), registry))
}

async fn create_zone(r53: &Route53) -> String {
    let name = format!("{}.example.com", unique("acm"));
    r53.create_hosted_zone()
        .name(&name)
        .caller_reference(unique("ref"))
        .send()
        .await
        .unwrap();
    name
}

fn step(registry: &Registry, id: &str, kind: &str, params: Value) -> ActionRef {
    registry
        .build(&ActionSpec::new(id, kind, params).in_region(REGION))
        .unwrap()
}

fn ctx() -> Context {
    Context::new().with_timeout(Duration::from_secs(120))
}

/// The CNAME values in `zone` named `name` (read back with the Route 53 SDK, not the port).
async fn cname_in_zone(r53: &Route53, zone: &str, name: &str) -> Option<String> {
    let zones = r53
        .list_hosted_zones_by_name()
        .dns_name(zone)
        .send()
        .await
        .unwrap();
    let zone_id = zones.hosted_zones()[0].id().to_owned();
    let out = r53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .send()
        .await
        .unwrap();
    let want = name.trim_end_matches('.').to_ascii_lowercase();
    out.resource_record_sets()
        .iter()
        .find(|r| {
            r.r#type() == &RrType::Cname
                && r.name().trim_end_matches('.').to_ascii_lowercase() == want
        })
        .and_then(|r| r.resource_records().first().map(|v| v.value().to_owned()))
}

#[tokio::test]
async fn request_writes_the_validation_records_into_the_zone_and_waits_until_issued() {
    let Some((_moto, acm, r53, registry)) = setup().await else {
        return;
    };
    let zone = create_zone(&r53).await;
    let domain = format!("api.{zone}");
    let params = json!({
        "domain": domain,
        "subject_alternative_names": [format!("www.{zone}")],
        "hosted_zone": zone,
    });
    let request = step(
        &registry,
        "request-cert",
        "acm.request_certificate",
        params.clone(),
    );
    let check = request.check(&ctx()).await.unwrap();
    assert!(matches!(check, Check::Ready { .. }), "{check:?}");
    let out = request.execute(&ctx()).await.unwrap();
    let arn = out.get_str("certificate_arn").unwrap().to_owned();
    assert_eq!(out.get_str("status"), Some("ISSUED"));

    // ACM's validation records are really in the zone.
    let described = acm
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .unwrap();
    let cert = described.certificate().unwrap();
    assert_eq!(cert.status().unwrap().as_str(), "ISSUED");
    let options = cert.domain_validation_options();
    assert_eq!(options.len(), 2);
    for option in options {
        let record = option.resource_record().unwrap();
        let value = cname_in_zone(&r53, &zone, record.name()).await;
        assert_eq!(
            value.as_deref().map(|v| v.trim_end_matches('.')),
            Some(record.value().trim_end_matches('.')),
            "validation record of {}",
            option.domain_name()
        );
    }
    request.verify(&ctx()).await.unwrap();

    // A re-run (a new step, as after a restart) finds it: done, same ARN, no new request.
    let again = step(&registry, "request-cert", "acm.request_certificate", params);
    match again.check(&ctx()).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("certificate_arn"), Some(arn.as_str()));
        }
        other => panic!("expected done, got {other:?}"),
    }
    let out = again.execute(&ctx()).await.unwrap();
    assert_eq!(out.get_str("certificate_arn"), Some(arn.as_str()));
    let listed = acm.list_certificates().send().await.unwrap();
    let same: Vec<_> = listed
        .certificate_summary_list()
        .iter()
        .filter(|c| c.domain_name() == Some(domain.as_str()))
        .collect();
    assert_eq!(same.len(), 1, "no second request: {same:?}");

    // check_certificate by ARN sees it.
    let check = step(
        &registry,
        "check-cert",
        "acm.check_certificate",
        json!({"certificate_arn": arn, "min_days_valid": 0}),
    );
    match check.check(&ctx()).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("status"), Some("ISSUED"));
            assert_eq!(outputs.get("names").unwrap().as_array().unwrap().len(), 2);
        }
        other => panic!("expected done, got {other:?}"),
    }

    // Rollback deletes the certificate this run requested (nothing uses it).
    request.rollback(&ctx()).await.unwrap();
    let gone = acm
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await;
    assert!(gone.is_err(), "deleted");
}

#[tokio::test]
async fn import_and_re_import_a_generated_certificate_with_the_key_from_a_secret_file() {
    let Some((_moto, acm, _r53, registry)) = setup().await else {
        return;
    };
    let name = format!("{}.example.com", unique("import"));
    // moto takes the domain name from the subject's CN: set it to the name.
    let mut cert_params = rcgen::CertificateParams::new(vec![name.clone()]).unwrap();
    cert_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name.clone());
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let generated = rcgen::CertifiedKey {
        cert: cert_params.self_signed(&key_pair).unwrap(),
        key_pair,
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    let cert_file = dir.path().join("cert.pem");
    std::fs::write(&cert_file, generated.cert.pem()).unwrap();
    let key_ref = format!("file:{}", key.display());

    let import = step(
        &registry,
        "import-cert",
        "acm.import_certificate",
        json!({"certificate": generated.cert.pem(), "private_key": key_ref}),
    );
    assert!(matches!(
        import.check(&ctx()).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = import.execute(&ctx()).await.unwrap();
    let arn = out.get_str("certificate_arn").unwrap().to_owned();
    // Executed again: the same ARN, no second import.
    let again = import.execute(&ctx()).await.unwrap();
    assert_eq!(again.get_str("certificate_arn"), Some(arn.as_str()));
    import.verify(&ctx()).await.unwrap();
    let described = acm
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .unwrap();
    let cert = described.certificate().unwrap();
    assert_eq!(cert.r#type().unwrap().as_str(), "IMPORTED");
    assert_eq!(cert.domain_name(), Some(name.as_str()));

    // check_certificate by domain finds it.
    let check = step(
        &registry,
        "check-cert",
        "acm.check_certificate",
        json!({"domain": name, "min_days_valid": 30}),
    );
    match check.check(&ctx()).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("certificate_arn"), Some(arn.as_str()));
            assert!(outputs.get("days_to_expiry").unwrap().as_i64().unwrap() > 30);
        }
        other => panic!("expected done, got {other:?}"),
    }

    // Re-import (from a file path) into the same ARN.
    let reimport = step(
        &registry,
        "reimport-cert",
        "acm.import_certificate",
        json!({
            "certificate": cert_file.display().to_string(),
            "private_key": {"secret": format!("file:{}", key.display())},
            "certificate_arn": arn,
        }),
    );
    assert!(matches!(
        reimport.check(&ctx()).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = reimport.execute(&ctx()).await.unwrap();
    assert_eq!(out.get_str("certificate_arn"), Some(arn.as_str()));
}
