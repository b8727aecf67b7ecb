//! Tests of `sdk.rs`.

use super::*;
use crate::port::GeoLocation;

#[test]
fn zone_ids_and_names_are_told_apart() {
    assert!(is_zone_id("Z0123456789ABCDEFGHIJ"));
    assert!(is_zone_id("/hostedzone/Z0123"));
    assert!(!is_zone_id("example.com"));
    assert!(!is_zone_id("example.com."));
    assert_eq!(strip("/hostedzone/Z1", "/hostedzone/"), "Z1");
    assert_eq!(strip("Z1", "/hostedzone/"), "Z1");
    assert_eq!(strip("/change/C1", "/change/"), "C1");
}

#[test]
fn records_round_trip_through_the_sdk_types() {
    let mut r = RecordSet::simple("api.example.com", "A", 60, vec!["192.0.2.1".into()]);
    r.set_identifier = Some("blue".into());
    r.weight = Some(10);
    assert_eq!(record_from_sdk(&record_to_sdk(&r).unwrap()), r);
    let alias = RecordSet {
        name: "example.com.".into(),
        rtype: "A".into(),
        alias: Some(AliasTarget::new("Z2FDTNDATAQYW2", "d1.cloudfront.net")),
        failover: Some("PRIMARY".into()),
        set_identifier: Some("p".into()),
        ..RecordSet::default()
    };
    assert_eq!(record_from_sdk(&record_to_sdk(&alias).unwrap()), alias);
}

#[test]
fn latency_geolocation_and_multivalue_records_round_trip_through_the_sdk_types() {
    let mut latency = RecordSet::simple("api.example.com", "A", 60, vec!["192.0.2.1".into()]);
    latency.set_identifier = Some("use1".into());
    latency.region = Some("us-east-1".into());
    assert_eq!(record_from_sdk(&record_to_sdk(&latency).unwrap()), latency);
    let mut geo = RecordSet::simple("www.example.com", "AAAA", 60, vec!["2001:db8::1".into()]);
    geo.set_identifier = Some("wa".into());
    geo.geo_location = Some(GeoLocation::us_state("WA"));
    assert_eq!(record_from_sdk(&record_to_sdk(&geo).unwrap()), geo);
    let mut multi = RecordSet::simple("m.example.com", "A", 60, vec!["192.0.2.9".into()]);
    multi.set_identifier = Some("m1".into());
    multi.multi_value_answer = true;
    multi.health_check_id = Some("hc-1".into());
    assert_eq!(record_from_sdk(&record_to_sdk(&multi).unwrap()), multi);
}

/// Route 53's documented wire shapes, answered by a canned endpoint through the real SDK
/// client (moto answers these too, but orders and pages record sets its own way).
mod wire {
    use std::sync::{Arc, Mutex};

    use drkit_core::registry::{ActionSpec, Registry};
    use drkit_core::{ActionKind, Check, Context, PortFactory, RecoveryAction, WaitPolicy};
    use drkit_testkit::canned::{Answer, CannedAws, Received};
    use serde_json::json;

    use super::*;

    const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

    fn set(name: &str, rtype: &str, extra: &str) -> String {
        format!(
            "<ResourceRecordSet><Name>{name}</Name><Type>{rtype}</Type>{extra}</ResourceRecordSet>"
        )
    }

    fn values(ttl: i64, values: &[&str]) -> String {
        let records: String = values
            .iter()
            .map(|v| format!("<ResourceRecord><Value>{v}</Value></ResourceRecord>"))
            .collect();
        format!("<TTL>{ttl}</TTL><ResourceRecords>{records}</ResourceRecords>")
    }

    /// A `ListResourceRecordSets` answer: the sets, and where the next page starts.
    fn page(sets: &[String], next: Option<(&str, &str, Option<&str>)>) -> Answer {
        let more = match next {
            Some((name, rtype, id)) => format!(
                "<IsTruncated>true</IsTruncated><NextRecordName>{name}</NextRecordName>\
                 <NextRecordType>{rtype}</NextRecordType>{}",
                id.map(|i| format!("<NextRecordIdentifier>{i}</NextRecordIdentifier>"))
                    .unwrap_or_default()
            ),
            None => "<IsTruncated>false</IsTruncated>".to_owned(),
        };
        Answer::xml(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListResourceRecordSetsResponse \
             xmlns=\"{NS}\"><ResourceRecordSets>{}</ResourceRecordSets>{more}<MaxItems>300\
             </MaxItems></ListResourceRecordSetsResponse>",
            sets.concat()
        ))
    }

    fn zone() -> Answer {
        Answer::xml(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetHostedZoneResponse xmlns=\"{NS}\">\
             <HostedZone><Id>/hostedzone/Z1EXAMPLE</Id><Name>example.com.</Name>\
             <CallerReference>ref</CallerReference><Config><PrivateZone>false</PrivateZone>\
             </Config><ResourceRecordSetCount>5</ResourceRecordSetCount></HostedZone>\
             <DelegationSet><NameServers><NameServer>ns-1.awsdns-01.org</NameServer>\
             </NameServers></DelegationSet></GetHostedZoneResponse>"
        ))
    }

    fn change_info(operation: &str, status: &str) -> Answer {
        Answer::xml(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{operation}Response xmlns=\"{NS}\">\
             <ChangeInfo><Id>/change/C2EXAMPLE</Id><Status>{status}</Status>\
             <SubmittedAt>2025-01-01T00:00:00.000Z</SubmittedAt></ChangeInfo>\
             </{operation}Response>"
        ))
    }

    fn lists(received: &[Received]) -> Vec<&Received> {
        received
            .iter()
            .filter(|r| r.path.ends_with("/rrset"))
            .collect()
    }

    /// Route 53 lists record sets sorted by name with the labels reversed, then by type: the
    /// sets of `api.example.com.` come together, then its subdomains (`_x.api...`). The adapter
    /// starts at the name (no type: every type), follows `NextRecordName`/`Type`/`Identifier`
    /// while they name it, and stops at the first other name without asking for more.
    #[tokio::test]
    async fn list_records_reads_every_set_of_a_name_across_pages_and_stops_at_the_next_name() {
        let aws = CannedAws::start(|r| match r.param("identifier") {
            None => page(
                &[set(
                    "api.example.com.",
                    "A",
                    &format!(
                        "<SetIdentifier>use1</SetIdentifier><Region>us-east-1</Region>{}",
                        values(60, &["192.0.2.1"])
                    ),
                )],
                Some(("api.example.com.", "A", Some("usw2"))),
            ),
            Some(_) => page(
                &[
                    set(
                        "api.example.com.",
                        "A",
                        &format!(
                            "<SetIdentifier>usw2</SetIdentifier><Region>us-west-2</Region>{}",
                            values(60, &["198.51.100.7"])
                        ),
                    ),
                    set("api.example.com.", "TXT", &values(300, &["\"v=1\""])),
                    set(
                        "_x.api.example.com.",
                        "CNAME",
                        &values(300, &["_y.acm-validations.aws."]),
                    ),
                ],
                Some(("z.api.example.com.", "A", None)),
            ),
        })
        .await;
        let api = SdkRoute53::new(Client::new(&aws.sdk_config("us-east-1").await));
        let found = api
            .list_records("Z1EXAMPLE", "API.example.com")
            .await
            .unwrap();
        let labels: Vec<String> = found.iter().map(RecordSet::label).collect();
        assert_eq!(
            labels,
            [
                "api.example.com. A [use1]",
                "api.example.com. A [usw2]",
                "api.example.com. TXT"
            ]
        );
        assert_eq!(found[1].region.as_deref(), Some("us-west-2"));
        let received = aws.received();
        let lists = lists(&received);
        assert_eq!(lists.len(), 2, "no third page once another name shows");
        assert_eq!(lists[0].param("name"), Some("api.example.com."));
        assert_eq!(lists[0].param("type"), None, "every type of the name");
        assert_eq!(lists[1].param("type"), Some("A"));
        assert_eq!(lists[1].param("identifier"), Some("usw2"));
    }

    /// The whole step against the documented answers: a CNAME where an A record and an alias
    /// live is blocked at `check`, naming them, and nothing is submitted.
    #[tokio::test]
    async fn a_cname_upsert_over_an_a_record_is_blocked_before_change_resource_record_sets() {
        let aws = CannedAws::start(|r| {
            if r.path.ends_with("/rrset") {
                page(
                    &[
                        set("api.example.com.", "A", &values(60, &["192.0.2.1"])),
                        set("api.example.com.", "AAAA", "<AliasTarget><HostedZoneId>Z2FDTNDATAQYW2</HostedZoneId><DNSName>d1.cloudfront.net.</DNSName><EvaluateTargetHealth>false</EvaluateTargetHealth></AliasTarget>"),
                    ],
                    None,
                )
            } else if r.path.starts_with("/2013-04-01/hostedzone/") {
                zone()
            } else {
                Answer::xml_error(400, "InvalidInput", "unexpected request")
            }
        })
        .await;
        let client = Client::new(&aws.sdk_config("us-east-1").await);
        let mut registry = Registry::new();
        crate::register_with(
            &mut registry,
            &PortFactory::fixed(Arc::new(SdkRoute53::new(client)) as Arc<dyn Route53Api>),
        )
        .unwrap();
        let step = registry
            .build(&ActionSpec::new(
                "dns",
                "route53.change_records",
                json!({"zone": "Z1EXAMPLE", "changes": [{"action": "UPSERT", "name": "api.example.com",
                    "type": "CNAME", "ttl": 60, "values": ["api-dr.example.com"]}]}),
            ))
            .unwrap();
        match step.check(&Context::new()).await.unwrap() {
            Check::Blocked { reason } => {
                assert!(
                    reason.contains("api.example.com. A (ttl 60: 192.0.2.1) is there"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            aws.received().iter().all(|r| r.method == "GET"),
            "nothing but reads: {:?}",
            aws.received()
        );
    }

    /// A latency record's UPSERT and its rollback carry `Region`, a geolocation record's its
    /// `GeoLocation`, in the XML Route 53 receives; the wait reads `GetChange` until INSYNC.
    #[tokio::test]
    async fn latency_and_geolocation_changes_carry_region_and_location_on_the_wire() {
        let live = Arc::new(Mutex::new(vec![set(
            "api.example.com.",
            "A",
            &format!(
                "<SetIdentifier>use1</SetIdentifier><Region>us-east-1</Region>{}",
                values(60, &["192.0.2.1"])
            ),
        )]));
        let polls = Arc::new(Mutex::new(0));
        let (l, p) = (Arc::clone(&live), Arc::clone(&polls));
        let aws = CannedAws::start(move |r| {
            if r.path.ends_with("/rrset") && r.method == "GET" {
                page(&l.lock().unwrap(), None)
            } else if r.path.ends_with("/rrset") || r.path.ends_with("/rrset/") {
                // Keep what was written: the UPSERT's record replaces the live one.
                if r.body.contains("198.51.100.7") {
                    *l.lock().unwrap() = vec![set(
                        "api.example.com.",
                        "A",
                        &format!(
                            "<SetIdentifier>use1</SetIdentifier><Region>us-east-1</Region>{}",
                            values(60, &["198.51.100.7"])
                        ),
                    )];
                }
                change_info("ChangeResourceRecordSets", "PENDING")
            } else if r.path.starts_with("/2013-04-01/change/") {
                let mut n = p.lock().unwrap();
                *n += 1;
                change_info("GetChange", if *n > 1 { "INSYNC" } else { "PENDING" })
            } else {
                zone()
            }
        })
        .await;
        let api: Arc<dyn Route53Api> = Arc::new(SdkRoute53::new(Client::new(
            &aws.sdk_config("us-east-1").await,
        )));
        let step = crate::ChangeRecords::new(
            "dns",
            serde_json::from_value(json!({"zone": "Z1EXAMPLE", "changes": [
                {"action": "UPSERT", "name": "api.example.com", "type": "A", "ttl": 60,
                 "values": ["198.51.100.7"], "set_identifier": "use1", "region": "us-east-1"},
                {"action": "CREATE", "name": "www.example.com", "type": "A", "ttl": 60,
                 "values": ["198.51.100.8"], "set_identifier": "wa", "geo_location": {"country_code": "US", "subdivision_code": "WA"}},
            ]}))
            .unwrap(),
            api,
        )
        .with_wait_policy(WaitPolicy::without_jitter().first_delay(std::time::Duration::from_millis(10)));
        let ctx = Context::new();
        step.execute(&ctx).await.unwrap();
        let posts: Vec<Received> = aws
            .received()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect();
        assert_eq!(posts.len(), 1);
        let body = &posts[0].body;
        assert!(body.contains("<Region>us-east-1</Region>"), "{body}");
        assert!(
            body.contains("<GeoLocation><CountryCode>US</CountryCode><SubdivisionCode>WA</SubdivisionCode></GeoLocation>"),
            "{body}"
        );
        assert!(*polls.lock().unwrap() >= 2, "waited through PENDING");

        step.rollback(&ctx).await.unwrap();
        let posts: Vec<Received> = aws
            .received()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect();
        let undo = &posts[1].body;
        assert!(
            undo.contains("<Value>192.0.2.1</Value>")
                && undo.contains("<Region>us-east-1</Region>"),
            "the old latency record is put back with its region: {undo}"
        );
        assert!(
            undo.find("<Action>DELETE</Action>") < undo.find("<Action>UPSERT</Action>"),
            "DELETE first: {undo}"
        );
    }
}
