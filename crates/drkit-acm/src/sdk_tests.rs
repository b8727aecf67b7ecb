//! The adapter against ACM's documented JSON answers, served by a canned endpoint through the
//! real SDK client: `ListCertificates` lists RSA certificates only unless `Includes.keyTypes`
//! names the others (the endpoint does as ACM documents), and pages with `NextToken`.

use std::sync::Arc;

use drkit_core::{Check, Context, RecoveryAction};
use drkit_testkit::canned::{Answer, CannedAws, Received};
use serde_json::{Value, json};

use super::*;
use crate::CheckCertificate;

const EC_ARN: &str = "arn:aws:acm:us-east-1:123456789012:certificate/ec-1";
const RSA_ARN: &str = "arn:aws:acm:us-east-1:123456789012:certificate/rsa-1";

fn summary(arn: &str, key: &str) -> Value {
    json!({"CertificateArn": arn, "DomainName": "api.mintreplica.com", "Status": "ISSUED",
           "Type": "AMAZON_ISSUED", "KeyAlgorithm": key, "InUse": false})
}

/// ACM as documented: without `Includes.keyTypes` only RSA_1024 and RSA_2048 certificates;
/// one certificate per page, `NextToken` to the next.
fn acm(request: &Received) -> Answer {
    let body = request.json();
    match request.target() {
        Some("CertificateManager.ListCertificates") => {
            let key_types: Vec<&str> = body["Includes"]["keyTypes"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_else(|| vec!["RSA_1024", "RSA_2048"]);
            let all = [(RSA_ARN, "RSA_2048"), (EC_ARN, "EC_prime256v1")];
            let listed: Vec<Value> = all
                .iter()
                .filter(|(_, key)| key_types.contains(key))
                .map(|(arn, key)| summary(arn, key))
                .collect();
            let page: usize = body["NextToken"]
                .as_str()
                .and_then(|t| t.strip_prefix("page-"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let mut answer =
                json!({"CertificateSummaryList": listed.get(page).into_iter().collect::<Vec<_>>()});
            if page + 1 < listed.len() {
                answer["NextToken"] = json!(format!("page-{}", page + 1));
            }
            Answer::json(answer)
        }
        Some("CertificateManager.DescribeCertificate") => {
            let arn = body["CertificateArn"].as_str().unwrap_or_default();
            let (names, key) = if arn == EC_ARN {
                (
                    json!(["api.mintreplica.com", "api-dr.mintreplica.com"]),
                    "EC_prime256v1",
                )
            } else {
                (json!(["api.mintreplica.com"]), "RSA_2048")
            };
            // The RSA one expires sooner: by domain, the ECDSA one is the best.
            let not_after = if arn == EC_ARN {
                4_102_444_800_i64
            } else {
                1_893_456_000
            };
            Answer::json(json!({"Certificate": {
                "CertificateArn": arn, "DomainName": "api.mintreplica.com",
                "SubjectAlternativeNames": names, "Status": "ISSUED", "Type": "AMAZON_ISSUED",
                "KeyAlgorithm": key, "NotAfter": not_after, "InUseBy": []}}))
        }
        _ => Answer::json_error(400, "ValidationException", "unexpected operation"),
    }
}

fn lists(received: &[Received]) -> Vec<Value> {
    received
        .iter()
        .filter(|r| r.target() == Some("CertificateManager.ListCertificates"))
        .map(Received::json)
        .collect()
}

#[tokio::test]
async fn list_certificates_sends_every_key_type_and_reads_every_page() {
    let aws = CannedAws::start(acm).await;
    let api = SdkAcm::new(Client::new(&aws.sdk_config("us-east-1").await));
    let found = api.list_certificates(vec!["ISSUED".into()]).await.unwrap();
    let arns: Vec<&str> = found.iter().map(|c| c.arn.as_str()).collect();
    assert_eq!(
        arns,
        [RSA_ARN, EC_ARN],
        "the ECDSA certificate on the second page"
    );
    assert_eq!(found[1].key_algorithm, "EC_prime256v1");
    assert_eq!(found[1].cert_type, "AMAZON_ISSUED");
    let lists = lists(&aws.received());
    assert_eq!(lists.len(), 2, "both pages");
    for request in &lists {
        assert_eq!(request["Includes"]["keyTypes"], json!(KEY_TYPES));
        assert_eq!(request["CertificateStatuses"], json!(["ISSUED"]));
    }
    assert_eq!(lists[0].get("NextToken"), None);
    assert_eq!(lists[1]["NextToken"], json!("page-1"));
}

/// `acm.check_certificate` by domain finds the ECDSA certificate (on the second page), which a
/// request without `keyTypes` would never see.
#[tokio::test]
async fn check_certificate_by_domain_sees_an_ecdsa_certificate() {
    let aws = CannedAws::start(acm).await;
    let api: Arc<dyn AcmApi> =
        Arc::new(SdkAcm::new(Client::new(&aws.sdk_config("us-east-1").await)));
    let check = CheckCertificate::new(
        "cert",
        serde_json::from_value(json!({"domain": "api-dr.mintreplica.com"})).unwrap(),
        api,
        Some("us-east-1"),
    );
    match check.check(&Context::new()).await.unwrap() {
        Check::Done { outputs, .. } => assert_eq!(outputs.get_str("certificate_arn"), Some(EC_ARN)),
        other => panic!("{other:?}"),
    }
    assert_eq!(lists(&aws.received()).len(), 2);
}

/// `acm.request_certificate`'s re-run lookup sees the ECDSA certificate for the same names on
/// the second page: done, no new request.
#[tokio::test]
async fn the_request_re_run_lookup_finds_an_ecdsa_certificate() {
    let aws = CannedAws::start(acm).await;
    let api: Arc<dyn AcmApi> =
        Arc::new(SdkAcm::new(Client::new(&aws.sdk_config("us-east-1").await)));
    let mut dns = drkit_route53::MockRoute53Api::new();
    dns.expect_find_zone()
        .returning(|_| Ok(drkit_route53::HostedZone::new("Z1", "mintreplica.com")));
    let request = crate::RequestCertificate::new(
        "cert",
        crate::RequestCertificateParams::new("api.mintreplica.com", "mintreplica.com")
            .with_names(["api-dr.mintreplica.com"]),
        api,
        Arc::new(dns),
        Some("us-east-1"),
    );
    match request.check(&Context::new()).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("certificate_arn"), Some(EC_ARN));
        }
        other => panic!("{other:?}"),
    }
    let lists = lists(&aws.received());
    assert_eq!(lists.len(), 2);
    assert_eq!(
        lists[0]["CertificateStatuses"],
        json!(["ISSUED", "PENDING_VALIDATION"])
    );
    assert!(
        aws.received()
            .iter()
            .all(|r| r.target() != Some("CertificateManager.RequestCertificate"))
    );
}
