//! The behaviour suite (`drkit_testkit::behaviour`) for every ACM kind, against an in-memory
//! ACM and Route 53: fakes of the two ports that keep certificates and DNS records, and count
//! the mutating calls. The fake ACM issues a certificate once its validation CNAMEs are in the
//! zone, and keeps an idempotency token's ARN for good, as ACM does for an hour — also once
//! the certificate is deleted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, PortFactory, SecretString};
use drkit_route53::{
    ChangeAction, ChangeInfo, CheckerReport, HostedZone, RecordChange, RecordSet, Route53Api,
    normalize_name,
};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use serde_json::{Value, json};

use crate::port::{AcmApi, CertificateInfo, CertificateSummary, ValidationRecord};
use crate::{AcmPorts, register_with};

const ZONE_ID: &str = "Z0000000000000000001";
const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

fn not_found(what: &str) -> ActionError {
    ActionError::new(ErrorKind::NotFound, format!("{what} not found"))
}

fn in_a_year() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(now).unwrap() + 365 * 86_400
}

/// An in-memory Route 53 with the zone `example.com`.
#[derive(Debug, Default)]
struct FakeDns {
    records: Mutex<Vec<RecordSet>>,
    mutations: Arc<AtomicUsize>,
}

#[async_trait]
impl Route53Api for FakeDns {
    async fn find_zone(&self, zone: &str) -> Result<HostedZone, ActionError> {
        if zone == ZONE_ID || normalize_name(zone) == "example.com." {
            Ok(HostedZone::new(ZONE_ID, "example.com"))
        } else {
            Err(not_found(zone))
        }
    }

    async fn list_records(&self, _: &str, name: &str) -> Result<Vec<RecordSet>, ActionError> {
        let name = normalize_name(name);
        Ok(self
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.name == name)
            .cloned()
            .collect())
    }

    async fn change_records(
        &self,
        _: &str,
        changes: Vec<RecordChange>,
        _: &str,
    ) -> Result<ChangeInfo, ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        let mut live = self.records.lock().unwrap();
        for c in changes {
            live.retain(|r| !r.same_record(&c.record));
            if c.action != ChangeAction::Delete {
                live.push(c.record);
            }
        }
        Ok(ChangeInfo::new("C1", "PENDING"))
    }

    async fn get_change(&self, id: &str) -> Result<ChangeInfo, ActionError> {
        Ok(ChangeInfo::new(id, "INSYNC"))
    }

    async fn health_check_status(&self, id: &str) -> Result<Vec<CheckerReport>, ActionError> {
        Err(not_found(id))
    }
}

/// An in-memory ACM, its DNS validation done in `dns`.
#[derive(Debug)]
struct FakeAcm {
    certs: Mutex<BTreeMap<String, CertificateInfo>>,
    /// The PEM bodies of the imported certificates.
    bodies: Mutex<BTreeMap<String, String>>,
    tokens: Mutex<BTreeMap<String, String>>,
    created: AtomicUsize,
    dns: Arc<FakeDns>,
    mutations: Arc<AtomicUsize>,
}

impl FakeAcm {
    fn new() -> Arc<Self> {
        let mutations = Arc::new(AtomicUsize::new(0));
        Arc::new(Self {
            certs: Mutex::default(),
            bodies: Mutex::default(),
            tokens: Mutex::default(),
            created: AtomicUsize::new(0),
            dns: Arc::new(FakeDns {
                records: Mutex::default(),
                mutations: Arc::clone(&mutations),
            }),
            mutations,
        })
    }

    fn mutated(&self) {
        self.mutations.fetch_add(1, Ordering::SeqCst);
    }

    fn new_arn(&self) -> String {
        let n = self.created.fetch_add(1, Ordering::SeqCst) + 1;
        format!("arn:aws:acm:us-east-1:123456789012:certificate/c{n}")
    }

    /// An `ISSUED` Amazon certificate for `www.example.com`, valid for a year.
    fn with_issued(self: Arc<Self>) -> Arc<Self> {
        let arn = self.new_arn();
        let cert = CertificateInfo {
            arn: arn.clone(),
            domain: "www.example.com".into(),
            names: vec!["www.example.com".into()],
            status: "ISSUED".into(),
            cert_type: "AMAZON_ISSUED".into(),
            not_after: Some(in_a_year()),
            ..CertificateInfo::default()
        };
        self.certs.lock().unwrap().insert(arn, cert);
        self
    }

    fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::new();
        let acm: Arc<dyn AcmApi> = Arc::clone(self) as _;
        let dns: Arc<dyn Route53Api> = Arc::clone(&self.dns) as _;
        register_with(
            &mut registry,
            &AcmPorts {
                acm: PortFactory::fixed(acm),
                dns: PortFactory::fixed(dns),
            },
        )
        .unwrap();
        registry
    }
}

#[async_trait]
impl World for FakeAcm {
    async fn state(&self) -> Value {
        let certs: Vec<Value> = self
            .certs
            .lock()
            .unwrap()
            .values()
            .map(|c| json!([c.arn, c.status, c.cert_type, c.names]))
            .collect();
        json!(certs)
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl AcmApi for FakeAcm {
    async fn request_certificate(
        &self,
        domain: &str,
        sans: Vec<String>,
        idempotency_token: &str,
    ) -> Result<String, ActionError> {
        self.mutated();
        // The same token: the same certificate, even a deleted one.
        if let Some(arn) = self.tokens.lock().unwrap().get(idempotency_token) {
            return Ok(arn.clone());
        }
        let arn = self.new_arn();
        let mut names = vec![domain.to_owned()];
        names.extend(sans);
        let validation = names
            .iter()
            .map(|n| ValidationRecord {
                domain: n.clone(),
                name: format!("_v.{n}."),
                rtype: "CNAME".into(),
                value: "_x.acm-validations.aws.".into(),
            })
            .collect();
        let cert = CertificateInfo {
            arn: arn.clone(),
            domain: domain.to_owned(),
            names,
            status: "PENDING_VALIDATION".into(),
            cert_type: "AMAZON_ISSUED".into(),
            not_after: Some(in_a_year()),
            validation,
            ..CertificateInfo::default()
        };
        self.certs.lock().unwrap().insert(arn.clone(), cert);
        self.tokens
            .lock()
            .unwrap()
            .insert(idempotency_token.to_owned(), arn.clone());
        Ok(arn)
    }

    async fn describe_certificate(&self, arn: &str) -> Result<CertificateInfo, ActionError> {
        let mut certs = self.certs.lock().unwrap();
        let cert = certs.get_mut(arn).ok_or_else(|| not_found(arn))?;
        let records = self.dns.records.lock().unwrap();
        let validated = cert.validation.iter().all(|v| {
            records
                .iter()
                .any(|r| r.name == normalize_name(&v.name) && r.values == [v.value.clone()])
        });
        if cert.status == "PENDING_VALIDATION" && validated {
            cert.status = "ISSUED".into();
        }
        Ok(cert.clone())
    }

    async fn list_certificates(
        &self,
        statuses: Vec<String>,
    ) -> Result<Vec<CertificateSummary>, ActionError> {
        Ok(self
            .certs
            .lock()
            .unwrap()
            .values()
            .filter(|c| statuses.is_empty() || statuses.contains(&c.status))
            .map(|c| CertificateSummary::new(&c.arn, &c.domain, &c.status).of_type(&c.cert_type))
            .collect())
    }

    async fn get_certificate(&self, arn: &str) -> Result<String, ActionError> {
        self.bodies
            .lock()
            .unwrap()
            .get(arn)
            .cloned()
            .ok_or_else(|| not_found(arn))
    }

    async fn delete_certificate(&self, arn: &str) -> Result<(), ActionError> {
        self.mutated();
        self.certs
            .lock()
            .unwrap()
            .remove(arn)
            .map(|_| ())
            .ok_or_else(|| not_found(arn))
    }

    async fn import_certificate(
        &self,
        arn: Option<String>,
        certificate: String,
        _private_key: SecretString,
        _chain: Option<String>,
    ) -> Result<String, ActionError> {
        self.mutated();
        let arn = arn.unwrap_or_else(|| self.new_arn());
        self.bodies.lock().unwrap().insert(arn.clone(), certificate);
        let cert = CertificateInfo {
            arn: arn.clone(),
            domain: "cdn.example.com".into(),
            names: vec!["cdn.example.com".into()],
            status: "ISSUED".into(),
            cert_type: "IMPORTED".into(),
            not_after: Some(in_a_year()),
            ..CertificateInfo::default()
        };
        self.certs.lock().unwrap().insert(arn.clone(), cert);
        Ok(arn)
    }
}

#[tokio::test]
async fn request_certificate() {
    let acm = FakeAcm::new();
    let case = Case::new(
        acm.registry(),
        "acm.request_certificate",
        json!({"domain": "api.example.com", "subject_alternative_names": ["api-dr.example.com"],
               "hosted_zone": "example.com"}),
    )
    .refuses(
        json!({"domain": "api example", "hosted_zone": "example.com"}),
        "domain",
    )
    .refuses(
        json!({"domain": "api.example.com", "subject_alternative_names": ["a..b"],
               "hosted_zone": "example.com"}),
        "subject_alternative_names",
    )
    .refuses(
        json!({"domain": "api.example.com", "hosted_zone": " "}),
        "hosted_zone",
    );
    mutating(&case, acm.as_ref()).await;
}

#[tokio::test]
async fn check_certificate() {
    let acm = FakeAcm::new().with_issued();
    let registry = acm.registry();
    for params in [
        json!({"domain": "www.example.com", "min_days_valid": 30}),
        json!({"certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/c1"}),
    ] {
        let case = Case::new(registry.clone(), "acm.check_certificate", params)
            .refuses(json!({"certificate_arn": "c1"}), "certificate_arn")
            .refuses(
                json!({"domain": "www.example.com", "min_days_valid": -1}),
                "min_days_valid",
            );
        read_only(&case, acm.as_ref()).await;
    }
}

#[tokio::test]
async fn import_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let acm = FakeAcm::new();
    let case = Case::new(
        acm.registry(),
        "acm.import_certificate",
        json!({"certificate": CERT_PEM, "private_key": format!("file:{}", key.display())}),
    )
    .refuses(
        json!({"certificate": " ", "private_key": "env:KEY"}),
        "certificate",
    )
    .refuses(
        json!({"certificate": CERT_PEM, "private_key": "env:KEY", "certificate_arn": "c1"}),
        "certificate_arn",
    );
    mutating(&case, acm.as_ref()).await;
}
