//! The behaviour suite (`drkit_testkit::behaviour`) for every Route 53 kind, against an
//! in-memory Route 53: a fake of the port that keeps one zone's record sets and the health
//! checks, and counts the mutating calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, PortFactory};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use serde_json::{Value, json};

use crate::port::{
    ChangeAction, ChangeInfo, CheckerReport, HostedZone, RecordChange, RecordSet, Route53Api,
    normalize_name,
};
use crate::register_with;

const ZONE_ID: &str = "Z0000000000000000001";

/// An in-memory Route 53 with the zone `example.com` (`ZONE_ID`).
#[derive(Debug, Default)]
struct FakeRoute53 {
    records: Mutex<Vec<RecordSet>>,
    health: Mutex<BTreeMap<String, Vec<CheckerReport>>>,
    changes: AtomicUsize,
    mutations: AtomicUsize,
}

impl FakeRoute53 {
    /// `api` -> 192.0.2.1 and `old` -> 192.0.2.9 in the zone; health check `hc-1` seen healthy
    /// by two checkers of three.
    fn example() -> Arc<Self> {
        let fake = Self::default();
        *fake.records.lock().unwrap() = vec![
            RecordSet::simple("api.example.com", "A", 60, vec!["192.0.2.1".into()]),
            RecordSet::simple("old.example.com", "A", 60, vec!["192.0.2.9".into()]),
        ];
        fake.health.lock().unwrap().insert(
            "hc-1".into(),
            vec![
                CheckerReport::new("us-east-1", "Success: HTTP Status Code 200, OK"),
                CheckerReport::new("eu-west-1", "Success: HTTP Status Code 200, OK"),
                CheckerReport::new("ap-southeast-1", "Failure: Connection timed out"),
            ],
        );
        Arc::new(fake)
    }

    fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::new();
        let api: Arc<dyn Route53Api> = Arc::clone(self) as _;
        register_with(&mut registry, &PortFactory::fixed(api)).unwrap();
        registry
    }
}

#[async_trait]
impl World for FakeRoute53 {
    async fn state(&self) -> Value {
        let mut records: Vec<String> = self
            .records
            .lock()
            .unwrap()
            .iter()
            .map(|r| format!("{} {}", r.label(), r.describe()))
            .collect();
        records.sort();
        json!(records)
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Route53Api for FakeRoute53 {
    async fn find_zone(&self, zone: &str) -> Result<HostedZone, ActionError> {
        if zone == ZONE_ID || normalize_name(zone) == "example.com." {
            Ok(HostedZone::new(ZONE_ID, "example.com"))
        } else {
            Err(ActionError::new(ErrorKind::NotFound, "no such zone"))
        }
    }

    async fn list_records(
        &self,
        _zone_id: &str,
        name: &str,
    ) -> Result<Vec<RecordSet>, ActionError> {
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
        _zone_id: &str,
        changes: Vec<RecordChange>,
        _comment: &str,
    ) -> Result<ChangeInfo, ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        let mut live = self.records.lock().unwrap();
        // All or nothing, as Route 53 does.
        for c in &changes {
            let found = live.iter().find(|r| r.same_record(&c.record));
            let refused = match c.action {
                ChangeAction::Create => found.is_some(),
                ChangeAction::Delete => !found.is_some_and(|r| r.same_content(&c.record)),
                ChangeAction::Upsert => false,
            };
            if refused {
                return Err(ActionError::invalid_input(format!(
                    "{} {} refused",
                    c.action.as_str(),
                    c.record.label()
                ))
                .with_code("InvalidChangeBatch"));
            }
        }
        for c in changes {
            live.retain(|r| !r.same_record(&c.record));
            if c.action != ChangeAction::Delete {
                live.push(c.record);
            }
        }
        let n = self.changes.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(ChangeInfo::new(format!("C{n}"), "PENDING"))
    }

    async fn get_change(&self, change_id: &str) -> Result<ChangeInfo, ActionError> {
        Ok(ChangeInfo::new(change_id, "INSYNC"))
    }

    async fn health_check_status(
        &self,
        health_check_id: &str,
    ) -> Result<Vec<CheckerReport>, ActionError> {
        self.health
            .lock()
            .unwrap()
            .get(health_check_id)
            .cloned()
            .ok_or_else(|| ActionError::new(ErrorKind::NotFound, "no such health check"))
    }
}

#[tokio::test]
async fn change_records() {
    let dns = FakeRoute53::example();
    let case = Case::new(
        dns.registry(),
        "route53.change_records",
        json!({"zone": "example.com", "changes": [
            {"action": "UPSERT", "name": "api.example.com", "type": "A", "ttl": 30,
             "values": ["198.51.100.7", "198.51.100.8"]},
            {"action": "CREATE", "name": "api-dr.example.com", "type": "CNAME", "ttl": 60,
             "values": ["api.example.com"]},
            {"action": "DELETE", "name": "old.example.com", "type": "A", "ttl": 60,
             "values": ["192.0.2.9"]},
        ]}),
    )
    .refuses(
        json!({"zone": " ", "changes": [{"action": "UPSERT", "name": "api.example.com",
               "type": "A", "ttl": 60, "values": ["192.0.2.1"]}]}),
        "zone",
    )
    .refuses(json!({"zone": "example.com", "changes": []}), "changes")
    .refuses(
        json!({"zone": "example.com", "changes": [{"action": "UPSERT", "name": "api.example.org",
               "type": "A", "ttl": 60, "values": ["192.0.2.1"]}]}),
        "changes[0]",
    )
    .refuses(
        json!({"zone": "example.com", "changes": [{"action": "UPSERT", "name": "api.example.com",
               "type": "A", "ttl": 60, "values": ["192.0.2.1"], "set_identifier": "eu",
               "geo_location": {"continent_code": "EU", "country_code": "DE"}}]}),
        "changes[0]",
    )
    .refuses(
        json!({"zone": "example.com", "changes": [
            {"action": "CREATE", "name": "x.example.com", "type": "CNAME", "ttl": 60, "values": ["y.example.net"]},
            {"action": "CREATE", "name": "x.example.com", "type": "TXT", "ttl": 60, "values": ["\"t\""]}]}),
        "changes",
    );
    mutating(&case, dns.as_ref()).await;
}

#[tokio::test]
async fn check_health() {
    let dns = FakeRoute53::example();
    let case = Case::new(
        dns.registry(),
        "route53.check_health",
        json!({"health_check_id": "hc-1"}),
    )
    .refuses(json!({"health_check_id": ""}), "health_check_id");
    read_only(&case, dns.as_ref()).await;
}
