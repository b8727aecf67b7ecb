//! The ACM actions against a real AWS API emulator (moto server, started by scripts/test.sh
//! with `MOTO_ACM_VALIDATION_WAIT=1`): DNS-validated requests whose validation records really
//! land in a Route 53 zone, and imports. Needs `DRKIT_TEST_AWS_ENDPOINT`; under CI=true a
//! missing emulator fails these tests. The behaviour suite runs here too, on a world read back
//! with the SDK.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_acm::Client as Acm;
use aws_sdk_route53::Client as Route53;
use aws_sdk_route53::types::RrType;
use drkit_acm::{AcmApi, AcmPorts, CertificateInfo, CertificateSummary, SdkAcm};
use drkit_aws::AwsContext;
use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionError, ActionRef, Check, Context, PortFactory, SecretString, async_trait};
use drkit_route53::{
    ChangeInfo, CheckerReport, HostedZone, RecordChange, RecordSet, Route53Api, SdkRoute53,
};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use drkit_testkit::{Moto, unique};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";

async fn setup() -> Option<(Moto, Acm, Route53, Registry)> {
    let moto = drkit_testkit::moto()?;
    let config = moto.sdk_config(REGION).await;
    let mut registry = Registry::new();
    drkit_acm::register(&mut registry, AwsContext::from_sdk_config(config.clone())).unwrap();
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

/// Import, check by domain (an rcgen certificate is ECDSA P-256: moto lists it only because
/// `Includes.keyTypes` names EC_prime256v1), a second import of the same certificate (found by
/// its leaf: no copy), a re-import of the same certificate into its ARN (nothing to do) and of
/// a renewed one (re-imported).
#[tokio::test]
async fn import_and_re_import_a_generated_certificate_with_the_key_from_a_secret_file() {
    let Some((_moto, acm, _r53, registry)) = setup().await else {
        return;
    };
    let name = format!("{}.example.com", unique("import"));
    let dir = tempfile::tempdir().unwrap();
    let (pem, cert_file, key_ref) = generated(&name, dir.path());

    let import = step(
        &registry,
        "import-cert",
        "acm.import_certificate",
        json!({"certificate": pem, "private_key": key_ref}),
    );
    assert!(matches!(
        import.check(&ctx()).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = import.execute(&ctx()).await.unwrap();
    let arn = out.get_str("certificate_arn").unwrap().to_owned();
    assert_eq!(out.get("imported"), Some(&json!(true)));
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
    assert_eq!(cert.key_algorithm().unwrap().as_str(), "EC_prime256v1");

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

    // A re-run (a new step, the same certificate from its file): found by its leaf, no copy.
    let rerun = step(
        &registry,
        "import-cert-again",
        "acm.import_certificate",
        json!({"certificate": cert_file.display().to_string(), "private_key": key_ref}),
    );
    match rerun.check(&ctx()).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("certificate_arn"), Some(arn.as_str()));
            assert_eq!(outputs.get("imported"), Some(&json!(false)));
        }
        other => panic!("expected done, got {other:?}"),
    }
    rerun.execute(&ctx()).await.unwrap();
    let copies = acm
        .list_certificates()
        .send()
        .await
        .unwrap()
        .certificate_summary_list()
        .iter()
        .filter(|c| c.domain_name() == Some(name.as_str()))
        .count();
    assert_eq!(copies, 1, "ACM holds one copy");

    // Re-import into the ARN: the same certificate is already there; a renewed one goes in.
    let same = step(
        &registry,
        "reimport-same",
        "acm.import_certificate",
        json!({
            "certificate": cert_file.display().to_string(),
            "private_key": {"secret": key_ref},
            "certificate_arn": arn,
        }),
    );
    assert!(same.check(&ctx()).await.unwrap().is_done());
    let renewal_dir = tempfile::tempdir().unwrap();
    let (renewed, _, renewed_key) = generated(&name, renewal_dir.path());
    let reimport = step(
        &registry,
        "reimport-renewed",
        "acm.import_certificate",
        json!({"certificate": renewed, "private_key": renewed_key, "certificate_arn": arn}),
    );
    assert!(matches!(
        reimport.check(&ctx()).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = reimport.execute(&ctx()).await.unwrap();
    assert_eq!(out.get_str("certificate_arn"), Some(arn.as_str()));
    assert_eq!(out.get("imported"), Some(&json!(true)));
    let body = acm
        .get_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(body.certificate().map(str::trim), Some(renewed.trim()));
}

/// A certificate for `name` generated in the test (rcgen), the key in a file under `dir`:
/// (certificate PEM, certificate file, `file:` reference of the key).
fn generated(name: &str, dir: &std::path::Path) -> (String, std::path::PathBuf, String) {
    // moto takes the domain name from the subject's CN: set it to the name.
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name.to_owned());
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key_pair).unwrap();
    let key = dir.join("key.pem");
    std::fs::write(&key, key_pair.serialize_pem()).unwrap();
    let cert_file = dir.join("cert.pem");
    std::fs::write(&cert_file, cert.pem()).unwrap();
    (cert.pem(), cert_file, format!("file:{}", key.display()))
}

/// The ports over moto, counting the mutating calls (what a behaviour-suite world reports).
#[derive(Debug)]
struct Counted<P> {
    inner: P,
    mutations: Arc<AtomicUsize>,
}

impl<P> Counted<P> {
    fn mutated(&self) {
        self.mutations.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl AcmApi for Counted<SdkAcm> {
    async fn request_certificate(
        &self,
        domain: &str,
        sans: Vec<String>,
        idempotency_token: &str,
    ) -> Result<String, ActionError> {
        self.mutated();
        self.inner
            .request_certificate(domain, sans, idempotency_token)
            .await
    }

    async fn describe_certificate(&self, arn: &str) -> Result<CertificateInfo, ActionError> {
        self.inner.describe_certificate(arn).await
    }

    async fn list_certificates(
        &self,
        statuses: Vec<String>,
    ) -> Result<Vec<CertificateSummary>, ActionError> {
        self.inner.list_certificates(statuses).await
    }

    async fn get_certificate(&self, arn: &str) -> Result<String, ActionError> {
        self.inner.get_certificate(arn).await
    }

    async fn delete_certificate(&self, arn: &str) -> Result<(), ActionError> {
        self.mutated();
        self.inner.delete_certificate(arn).await
    }

    async fn import_certificate(
        &self,
        arn: Option<String>,
        certificate: String,
        private_key: SecretString,
        chain: Option<String>,
    ) -> Result<String, ActionError> {
        self.mutated();
        self.inner
            .import_certificate(arn, certificate, private_key, chain)
            .await
    }
}

#[async_trait]
impl Route53Api for Counted<SdkRoute53> {
    async fn find_zone(&self, zone: &str) -> Result<HostedZone, ActionError> {
        self.inner.find_zone(zone).await
    }

    async fn list_records(&self, zone_id: &str, name: &str) -> Result<Vec<RecordSet>, ActionError> {
        self.inner.list_records(zone_id, name).await
    }

    async fn change_records(
        &self,
        zone_id: &str,
        changes: Vec<RecordChange>,
        comment: &str,
    ) -> Result<ChangeInfo, ActionError> {
        self.mutated();
        self.inner.change_records(zone_id, changes, comment).await
    }

    async fn get_change(&self, change_id: &str) -> Result<ChangeInfo, ActionError> {
        self.inner.get_change(change_id).await
    }

    async fn health_check_status(&self, id: &str) -> Result<Vec<CheckerReport>, ActionError> {
        self.inner.health_check_status(id).await
    }
}

/// The certificates of one test's names in moto (the domain ends with `suffix`), seen through
/// the SDK.
struct MotoCertificates {
    acm: Acm,
    suffix: String,
    mutations: Arc<AtomicUsize>,
    registry: Registry,
}

impl MotoCertificates {
    async fn new(moto: &Moto, suffix: &str) -> Self {
        let config = moto.sdk_config(REGION).await;
        let mutations = Arc::new(AtomicUsize::new(0));
        let acm: Arc<dyn AcmApi> = Arc::new(Counted {
            inner: SdkAcm::from_config(&config),
            mutations: Arc::clone(&mutations),
        });
        let dns: Arc<dyn Route53Api> = Arc::new(Counted {
            inner: SdkRoute53::from_config(&config),
            mutations: Arc::clone(&mutations),
        });
        let mut registry = Registry::new();
        drkit_acm::register_with(
            &mut registry,
            &AcmPorts {
                acm: PortFactory::fixed(acm),
                dns: PortFactory::fixed(dns),
            },
        )
        .unwrap();
        Self {
            acm: Acm::new(&config),
            suffix: suffix.to_owned(),
            mutations,
            registry,
        }
    }
}

#[async_trait]
impl World for MotoCertificates {
    async fn state(&self) -> Value {
        let listed = self.acm.list_certificates().send().await.unwrap();
        let mut certs: Vec<Value> = listed
            .certificate_summary_list()
            .iter()
            .filter(|c| c.domain_name().is_some_and(|d| d.ends_with(&self.suffix)))
            .map(|c| {
                json!([
                    c.certificate_arn(),
                    c.status().map(|s| s.as_str().to_owned())
                ])
            })
            .collect();
        certs.sort_by_key(ToString::to_string);
        json!(certs)
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn behaviour_of_request_certificate_on_moto() {
    let Some((moto, _acm, r53, _registry)) = setup().await else {
        return;
    };
    let zone = create_zone(&r53).await;
    let world = MotoCertificates::new(&moto, &zone).await;
    let case = Case::new(
        world.registry.clone(),
        "acm.request_certificate",
        json!({
            "domain": format!("api.{zone}"),
            "subject_alternative_names": [format!("www.{zone}")],
            "hosted_zone": zone,
        }),
    )
    .in_region(REGION)
    .refuses(
        json!({"domain": format!("api.{zone}"), "hosted_zone": ""}),
        "hosted_zone",
    );
    mutating(&case, &world).await;
}

#[tokio::test]
async fn behaviour_of_import_and_check_certificate_on_moto() {
    let Some((moto, _acm, _r53, _registry)) = setup().await else {
        return;
    };
    let name = format!("{}.example.com", unique("suite"));
    let world = MotoCertificates::new(&moto, &name).await;
    let dir = tempfile::tempdir().unwrap();
    let (pem, _, key_ref) = generated(&name, dir.path());
    let import = Case::new(
        world.registry.clone(),
        "acm.import_certificate",
        json!({"certificate": pem, "private_key": key_ref}),
    )
    .in_region(REGION)
    .refuses(
        json!({"certificate": pem, "private_key": key_ref, "certificate_arn": "c1"}),
        "certificate_arn",
    );
    mutating(&import, &world).await;

    // The imported certificate is there to check.
    let check = Case::new(
        world.registry.clone(),
        "acm.check_certificate",
        json!({"domain": name, "min_days_valid": 30}),
    )
    .in_region(REGION)
    .refuses(
        json!({"domain": name, "min_days_valid": -1}),
        "min_days_valid",
    );
    read_only(&check, &world).await;
}
