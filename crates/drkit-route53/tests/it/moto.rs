//! `route53.change_records` and `route53.check_health` against moto, where record sets really
//! change. Moto answers `GetChange` with INSYNC at once, reports every health check healthy,
//! and appends on a CREATE of an existing record: those paths are covered by the unit tests.
//! The behaviour suite runs here too, on a world read back with the SDK.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, ResourceRecord,
    ResourceRecordSet, RrType,
};
use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionError, ActionRef, Check, Context, PortFactory, async_trait};
use drkit_route53::{
    ChangeInfo, CheckerReport, HostedZone, RecordChange, RecordSet, Route53Api, SdkRoute53,
    upsert_records,
};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use drkit_testkit::unique;
use serde_json::{Value, json};

async fn setup() -> Option<(Client, Registry)> {
    let moto = drkit_testkit::moto()?;
    let config = moto.sdk_config("us-east-1").await;
    let client = Client::new(&config);
    let mut registry = Registry::new();
    drkit_route53::register_with(
        &mut registry,
        &PortFactory::fixed(Arc::new(SdkRoute53::new(client.clone())) as Arc<dyn Route53Api>),
    )
    .unwrap();
    Some((client, registry))
}

/// A new public zone `<unique>.example.com.`; returns (id, name without the dot).
async fn zone(client: &Client) -> (String, String) {
    let name = format!("{}.example.com", unique("dr"));
    let out = client
        .create_hosted_zone()
        .name(&name)
        .caller_reference(unique("ref"))
        .send()
        .await
        .unwrap();
    let id = out
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned();
    (id, name)
}

/// The live record sets named `name` (with the trailing dot), sorted by set identifier.
async fn live(client: &Client, zone_id: &str, name: &str) -> Vec<ResourceRecordSet> {
    let mut out = Vec::new();
    let mut start: Option<(String, RrType, Option<String>)> = None;
    loop {
        let mut req = client.list_resource_record_sets().hosted_zone_id(zone_id);
        if let Some((n, t, id)) = &start {
            req = req
                .start_record_name(n)
                .start_record_type(t.clone())
                .set_start_record_identifier(id.clone());
        }
        let page = req.send().await.unwrap();
        out.extend(
            page.resource_record_sets()
                .iter()
                .filter(|r| r.name() == name)
                .cloned(),
        );
        if !page.is_truncated() {
            break;
        }
        start = Some((
            page.next_record_name().unwrap().to_owned(),
            page.next_record_type().unwrap().clone(),
            page.next_record_identifier().map(str::to_owned),
        ));
    }
    out.sort_by(|a, b| a.set_identifier().cmp(&b.set_identifier()));
    out
}

fn values(r: &ResourceRecordSet) -> Vec<&str> {
    r.resource_records()
        .iter()
        .map(ResourceRecord::value)
        .collect()
}

fn build(registry: &Registry, id: &str, params: serde_json::Value) -> ActionRef {
    registry
        .build(&ActionSpec::new(id, "route53.change_records", params))
        .unwrap()
}

#[tokio::test]
async fn dns_failover_changes_the_records_and_rollback_restores_them() {
    let Some((client, registry)) = setup().await else {
        return;
    };
    let (zone_id, zone_name) = zone(&client).await;
    let api_name = format!("api.{zone_name}");
    // Before: api -> primary region.
    let before = build(
        &registry,
        "seed",
        json!({"zone": zone_name, "changes": [
            {"action": "UPSERT", "name": api_name, "type": "A", "ttl": 60, "values": ["192.0.2.1"]},
            {"action": "UPSERT", "name": format!("old.{zone_name}"), "type": "TXT", "ttl": 300, "values": ["\"v=1\""]},
        ]}),
    );
    let ctx = Context::new().with_timeout(std::time::Duration::from_secs(60));
    before.execute(&ctx).await.unwrap();

    let failover = build(
        &registry,
        "dns-failover",
        json!({"zone": zone_id, "changes": [
            {"action": "UPSERT", "name": api_name, "type": "A", "ttl": 30, "values": ["198.51.100.7", "198.51.100.8"]},
            {"action": "CREATE", "name": format!("api-dr.{zone_name}"), "type": "CNAME", "ttl": 60, "values": [format!("api.{zone_name}")]},
            {"action": "DELETE", "name": format!("old.{zone_name}"), "type": "TXT", "ttl": 300, "values": ["\"v=1\""]},
        ]}),
    );
    assert!(matches!(
        failover.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = failover.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("zone_id"), Some(zone_id.as_str()));
    assert_eq!(
        out.get("change_ids").unwrap().as_array().unwrap().len(),
        1,
        "one batch"
    );

    // Read back with the SDK.
    let api = live(&client, &zone_id, &format!("{api_name}.")).await;
    assert_eq!(api.len(), 1);
    let mut v = values(&api[0]);
    v.sort_unstable();
    assert_eq!(v, ["198.51.100.7", "198.51.100.8"]);
    assert_eq!(api[0].ttl(), Some(30));
    assert_eq!(
        live(&client, &zone_id, &format!("api-dr.{zone_name}."))
            .await
            .len(),
        1
    );
    assert!(
        live(&client, &zone_id, &format!("old.{zone_name}."))
            .await
            .is_empty()
    );
    assert!(failover.check(&ctx).await.unwrap().is_done());
    failover.verify(&ctx).await.unwrap();
    // Re-executing changes nothing (moto would append a second CREATE).
    failover.execute(&ctx).await.unwrap();
    assert_eq!(
        live(&client, &zone_id, &format!("api-dr.{zone_name}."))
            .await
            .len(),
        1
    );

    failover.rollback(&ctx).await.unwrap();
    let api = live(&client, &zone_id, &format!("{api_name}.")).await;
    assert_eq!(values(&api[0]), ["192.0.2.1"]);
    assert_eq!(api[0].ttl(), Some(60));
    assert!(
        live(&client, &zone_id, &format!("api-dr.{zone_name}."))
            .await
            .is_empty()
    );
    assert_eq!(
        live(&client, &zone_id, &format!("old.{zone_name}."))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn weighted_and_failover_records_with_a_health_check() {
    let Some((client, registry)) = setup().await else {
        return;
    };
    let (zone_id, zone_name) = zone(&client).await;
    let hc = client
        .create_health_check()
        .caller_reference(unique("hc"))
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Https)
                .fully_qualified_domain_name("api-dr.example.com")
                .port(443)
                .resource_path("/health")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let hc_id = hc.health_check().unwrap().id().to_owned();
    let name = format!("api.{zone_name}");
    let ctx = Context::new().with_timeout(std::time::Duration::from_secs(60));
    let weighted = build(
        &registry,
        "weights",
        json!({"zone": zone_name, "changes": [
            {"action": "UPSERT", "name": name, "type": "A", "ttl": 60, "values": ["192.0.2.1"], "set_identifier": "primary", "weight": 0},
            {"action": "UPSERT", "name": name, "type": "A", "ttl": 60, "values": ["198.51.100.7"], "set_identifier": "dr", "weight": 100, "health_check": hc_id},
        ]}),
    );
    weighted.execute(&ctx).await.unwrap();
    let records = live(&client, &zone_id, &format!("{name}.")).await;
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].set_identifier(), Some("dr"));
    assert_eq!(records[0].weight(), Some(100));
    assert_eq!(records[0].health_check_id(), Some(hc_id.as_str()));
    assert_eq!(records[1].weight(), Some(0));
    assert!(weighted.check(&ctx).await.unwrap().is_done());

    let fo_name = format!("www.{zone_name}");
    let failover = build(
        &registry,
        "failover",
        json!({"zone": zone_name, "changes": [
            {"action": "CREATE", "name": fo_name, "type": "A", "ttl": 60, "values": ["192.0.2.1"], "set_identifier": "p", "failover": "PRIMARY", "health_check": hc_id},
            {"action": "CREATE", "name": fo_name, "type": "A", "ttl": 60, "values": ["198.51.100.7"], "set_identifier": "s", "failover": "SECONDARY"},
        ]}),
    );
    failover.execute(&ctx).await.unwrap();
    let records = live(&client, &zone_id, &format!("{fo_name}.")).await;
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].failover().map(|f| f.as_str()), Some("PRIMARY"));
    assert!(failover.check(&ctx).await.unwrap().is_done());

    let health = registry
        .build(&ActionSpec::new(
            "health",
            "route53.check_health",
            json!({"health_check_id": hc_id}),
        ))
        .unwrap();
    match health.check(&ctx).await.unwrap() {
        Check::Done { outputs, .. } => assert_eq!(outputs.get_str("status"), Some("healthy")),
        other => panic!("{other:?}"),
    }
    let missing = registry
        .build(&ActionSpec::new(
            "health",
            "route53.check_health",
            json!({"health_check_id": "00000000-0000-0000-0000-000000000000"}),
        ))
        .unwrap();
    assert!(matches!(
        missing.check(&ctx).await.unwrap(),
        Check::Blocked { .. }
    ));
}

#[tokio::test]
async fn records_past_the_first_page_of_100_are_found() {
    let Some((client, registry)) = setup().await else {
        return;
    };
    let (zone_id, zone_name) = zone(&client).await;
    let name = format!("api.{zone_name}");
    let mut batch = ChangeBatch::builder();
    for i in 0..130 {
        batch = batch.changes(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(
                    ResourceRecordSet::builder()
                        .name(&name)
                        .r#type(RrType::A)
                        .ttl(60)
                        .set_identifier(format!("w{i:03}"))
                        .weight(1)
                        .resource_records(
                            ResourceRecord::builder()
                                .value(format!("192.0.2.{}", i % 250 + 1))
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        );
    }
    client
        .change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(batch.build().unwrap())
        .send()
        .await
        .unwrap();
    let api = SdkRoute53::new(client.clone());
    let listed = api.list_records(&zone_id, &name).await.unwrap();
    assert_eq!(listed.len(), 130, "every page followed");

    let ctx = Context::new().with_timeout(std::time::Duration::from_secs(60));
    let change = build(
        &registry,
        "reweight",
        json!({"zone": zone_name, "changes": [
            {"action": "UPSERT", "name": name, "type": "A", "ttl": 60, "values": ["192.0.2.126"], "set_identifier": "w125", "weight": 50},
        ]}),
    );
    assert!(matches!(
        change.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    change.execute(&ctx).await.unwrap();
    assert!(change.check(&ctx).await.unwrap().is_done());
    let records = live(&client, &zone_id, &format!("{name}.")).await;
    assert_eq!(records.len(), 130);
    assert_eq!(records[125].weight(), Some(50));
    assert_eq!(records[124].weight(), Some(1));
}

#[tokio::test]
async fn upsert_records_writes_validation_records_for_another_provider() {
    let Some((client, _)) = setup().await else {
        return;
    };
    let (zone_id, zone_name) = zone(&client).await;
    let api = SdkRoute53::new(client.clone());
    let name = format!("_abc123.{zone_name}");
    let ids = upsert_records(
        &Context::new(),
        &api,
        &zone_id,
        vec![RecordSet::simple(
            &name,
            "CNAME",
            300,
            vec!["_def456.acm-validations.aws.".into()],
        )],
        &drkit_core::WaitPolicy::default(),
    )
    .await
    .unwrap();
    assert_eq!(ids.len(), 1);
    let records = live(&client, &zone_id, &format!("{name}.")).await;
    assert_eq!(values(&records[0]), ["_def456.acm-validations.aws."]);
}

/// The port over moto, counting the mutating calls (what a behaviour-suite world reports).
#[derive(Debug)]
struct Counted {
    inner: SdkRoute53,
    changes: AtomicUsize,
}

#[async_trait]
impl Route53Api for Counted {
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
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.inner.change_records(zone_id, changes, comment).await
    }

    async fn get_change(&self, change_id: &str) -> Result<ChangeInfo, ActionError> {
        self.inner.get_change(change_id).await
    }

    async fn health_check_status(&self, id: &str) -> Result<Vec<CheckerReport>, ActionError> {
        self.inner.health_check_status(id).await
    }
}

/// A zone in moto, seen through the SDK: its record sets.
struct MotoZone {
    client: Client,
    zone_id: String,
    port: Arc<Counted>,
}

impl MotoZone {
    fn registry(&self) -> Registry {
        let mut registry = Registry::new();
        let port: Arc<dyn Route53Api> = Arc::clone(&self.port) as _;
        drkit_route53::register_with(&mut registry, &PortFactory::fixed(port)).unwrap();
        registry
    }
}

#[async_trait]
impl World for MotoZone {
    async fn state(&self) -> Value {
        let out = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .send()
            .await
            .unwrap();
        let mut records: Vec<String> = out
            .resource_record_sets()
            .iter()
            .map(|r| {
                let mut v = values(r);
                v.sort_unstable();
                format!("{} {} {:?} {}", r.name(), r.r#type(), r.ttl(), v.join(","))
            })
            .collect();
        records.sort();
        json!(records)
    }

    fn mutations(&self) -> usize {
        self.port.changes.load(Ordering::SeqCst)
    }
}

async fn moto_zone(client: &Client) -> (MotoZone, String) {
    let (zone_id, zone_name) = zone(client).await;
    let port = Arc::new(Counted {
        inner: SdkRoute53::new(client.clone()),
        changes: AtomicUsize::new(0),
    });
    let world = MotoZone {
        client: client.clone(),
        zone_id,
        port,
    };
    (world, zone_name)
}

#[tokio::test]
async fn behaviour_of_change_records_on_moto() {
    let Some((client, registry)) = setup().await else {
        return;
    };
    let (world, zone_name) = moto_zone(&client).await;
    let seed = build(
        &registry,
        "seed",
        json!({"zone": zone_name, "changes": [
            {"action": "UPSERT", "name": format!("api.{zone_name}"), "type": "A", "ttl": 60, "values": ["192.0.2.1"]},
            {"action": "UPSERT", "name": format!("old.{zone_name}"), "type": "TXT", "ttl": 300, "values": ["\"v=1\""]},
        ]}),
    );
    seed.execute(&Context::new()).await.unwrap();
    // The suite executes the step again after its rollback. Moto then refuses a CREATE it has
    // seen before (it is in its change journal) whenever any record sorts after the name, even
    // though the record is gone: the new record is UPSERTed here (CREATE is covered above and
    // by the in-memory suite).
    let case = Case::new(
        world.registry(),
        "route53.change_records",
        json!({"zone": world.zone_id, "changes": [
            {"action": "UPSERT", "name": format!("api.{zone_name}"), "type": "A", "ttl": 30, "values": ["198.51.100.7", "198.51.100.8"]},
            {"action": "UPSERT", "name": format!("api-dr.{zone_name}"), "type": "CNAME", "ttl": 60, "values": [format!("api.{zone_name}")]},
            {"action": "DELETE", "name": format!("old.{zone_name}"), "type": "TXT", "ttl": 300, "values": ["\"v=1\""]},
        ]}),
    )
    .refuses(json!({"zone": world.zone_id, "changes": []}), "changes");
    mutating(&case, &world).await;
}

#[tokio::test]
async fn behaviour_of_check_health_on_moto() {
    let Some((client, _)) = setup().await else {
        return;
    };
    let hc = client
        .create_health_check()
        .caller_reference(unique("hc"))
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Https)
                .fully_qualified_domain_name("api-dr.example.com")
                .port(443)
                .resource_path("/health")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let hc_id = hc.health_check().unwrap().id().to_owned();
    let (world, _) = moto_zone(&client).await;
    let case = Case::new(
        world.registry(),
        "route53.check_health",
        json!({"health_check_id": hc_id}),
    )
    .refuses(json!({"health_check_id": " "}), "health_check_id");
    read_only(&case, &world).await;
}

/// Route 53 refuses a CNAME where another record of the name lives (`InvalidChangeBatch`);
/// moto accepts it. The step reads the name's record sets from moto (every type) and blocks at
/// `check`, naming the A record; the type change written as DELETE + CREATE goes through
/// (DELETE submitted first) and rolls back.
#[tokio::test]
async fn a_cname_over_an_a_record_is_blocked_and_a_type_change_goes_through() {
    let Some((client, registry)) = setup().await else {
        return;
    };
    let (zone_id, zone_name) = zone(&client).await;
    let api = format!("api.{zone_name}");
    let ctx = Context::new().with_timeout(std::time::Duration::from_secs(60));
    build(
        &registry,
        "seed",
        json!({"zone": zone_name, "changes": [
            {"action": "UPSERT", "name": api, "type": "A", "ttl": 60, "values": ["192.0.2.1"]},
            {"action": "UPSERT", "name": api, "type": "TXT", "ttl": 60, "values": ["\"owner=mint\""]},
            {"action": "UPSERT", "name": format!("_x.{api}"), "type": "TXT", "ttl": 60, "values": ["\"sub\""]},
        ]}),
    )
    .execute(&ctx)
    .await
    .unwrap();
    let cname = build(
        &registry,
        "cname",
        json!({"zone": zone_name, "changes": [
            {"action": "UPSERT", "name": api, "type": "CNAME", "ttl": 60, "values": [format!("api-dr.{zone_name}")]},
        ]}),
    );
    match cname.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => {
            assert!(
                reason.contains(&format!("{api}. A (ttl 60: 192.0.2.1)")),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    let switch = build(
        &registry,
        "switch",
        json!({"zone": zone_name, "changes": [
            {"action": "CREATE", "name": api, "type": "CNAME", "ttl": 60, "values": [format!("api-dr.{zone_name}")]},
            {"action": "DELETE", "name": api, "type": "A", "ttl": 60, "values": ["192.0.2.1"]},
            {"action": "DELETE", "name": api, "type": "TXT", "ttl": 60, "values": ["\"owner=mint\""]},
        ]}),
    );
    assert!(matches!(
        switch.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    switch.execute(&ctx).await.unwrap();
    let now = live(&client, &zone_id, &format!("{api}.")).await;
    assert_eq!(now.len(), 1);
    assert_eq!(now[0].r#type(), &RrType::Cname);
    assert_eq!(
        live(&client, &zone_id, &format!("_x.{api}.")).await.len(),
        1,
        "a subdomain stays"
    );
    switch.rollback(&ctx).await.unwrap();
    let mut types: Vec<String> = live(&client, &zone_id, &format!("{api}."))
        .await
        .iter()
        .map(|r| r.r#type().as_str().to_owned())
        .collect();
    types.sort();
    assert_eq!(types, ["A", "TXT"]);
}

/// Latency, geolocation and multivalue answer records and aliases (to CloudFront, to another
/// record of the zone with the zone id filled in) are written, read back with the SDK, seen
/// as in effect through the adapter; a rollback restores a latency record with its region.
#[tokio::test]
async fn latency_geolocation_multivalue_and_alias_records_round_trip_on_moto() {
    let Some((client, registry)) = setup().await else {
        return;
    };
    let (zone_id, zone_name) = zone(&client).await;
    let ctx = Context::new().with_timeout(std::time::Duration::from_secs(60));
    let api = format!("api.{zone_name}");
    let www = format!("www.{zone_name}");
    let pool = format!("pool.{zone_name}");
    let records = build(
        &registry,
        "routing",
        json!({"zone": zone_name, "changes": [
            {"action": "UPSERT", "name": api, "type": "A", "ttl": 60, "values": ["192.0.2.1"], "set_identifier": "use1", "region": "us-east-1"},
            {"action": "UPSERT", "name": api, "type": "A", "ttl": 60, "values": ["198.51.100.7"], "set_identifier": "usw2", "region": "us-west-2"},
            {"action": "UPSERT", "name": www, "type": "A", "set_identifier": "europe", "geo_location": {"continent_code": "EU"},
             "alias": {"dns_name": "d111111abcdef8.cloudfront.net"}},
            {"action": "UPSERT", "name": www, "type": "A", "set_identifier": "default", "geo_location": {"country_code": "*"},
             "alias": {"dns_name": api, "evaluate_target_health": true}},
            {"action": "UPSERT", "name": pool, "type": "A", "ttl": 60, "values": ["192.0.2.10"], "set_identifier": "p1", "multi_value_answer": true},
            {"action": "UPSERT", "name": pool, "type": "A", "ttl": 60, "values": ["192.0.2.11"], "set_identifier": "p2", "multi_value_answer": true},
        ]}),
    );
    records.execute(&ctx).await.unwrap();
    let latency = live(&client, &zone_id, &format!("{api}.")).await;
    let regions: Vec<&str> = latency
        .iter()
        .map(|r| r.region().unwrap().as_str())
        .collect();
    assert_eq!(regions, ["us-east-1", "us-west-2"]);
    let geo = live(&client, &zone_id, &format!("{www}.")).await;
    assert_eq!(geo[0].geo_location().unwrap().country_code(), Some("*"));
    let to_api = geo[0].alias_target().unwrap();
    assert_eq!(to_api.hosted_zone_id(), zone_id, "the zone's own id");
    assert!(to_api.evaluate_target_health());
    assert_eq!(geo[1].geo_location().unwrap().continent_code(), Some("EU"));
    assert_eq!(
        geo[1].alias_target().unwrap().hosted_zone_id(),
        "Z2FDTNDATAQYW2"
    );
    let multi = live(&client, &zone_id, &format!("{pool}.")).await;
    assert!(multi.iter().all(|r| r.multi_value_answer() == Some(true)));
    assert!(
        records.check(&ctx).await.unwrap().is_done(),
        "read back as written"
    );

    let shift = build(
        &registry,
        "shift",
        json!({"zone": zone_id, "changes": [
            {"action": "UPSERT", "name": api, "type": "A", "ttl": 60, "values": ["198.51.100.7"], "set_identifier": "use1", "region": "us-east-1"},
        ]}),
    );
    shift.execute(&ctx).await.unwrap();
    assert_eq!(
        values(&live(&client, &zone_id, &format!("{api}.")).await[0]),
        ["198.51.100.7"]
    );
    shift.rollback(&ctx).await.unwrap();
    let back = live(&client, &zone_id, &format!("{api}.")).await;
    assert_eq!(values(&back[0]), ["192.0.2.1"]);
    assert_eq!(back[0].region().map(|r| r.as_str()), Some("us-east-1"));
}
