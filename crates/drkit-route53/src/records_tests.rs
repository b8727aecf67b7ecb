//! Tests of `records.rs`.

use super::*;

fn a(name: &str, values: &[&str]) -> RecordSet {
    RecordSet::simple(
        name,
        "A",
        60,
        values.iter().map(|v| (*v).to_owned()).collect(),
    )
}

#[test]
fn records_are_validated_against_the_zone() {
    let zone = "example.com.";
    assert_eq!(
        record_problem(&a("api.example.com", &["192.0.2.1"]), zone),
        None
    );
    assert_eq!(
        record_problem(&a("example.com", &["192.0.2.1"]), zone),
        None
    );
    let cases = [
        (a("api.example.org", &["192.0.2.1"]), "not in zone"),
        (a("api.notexample.com", &["192.0.2.1"]), "not in zone"),
        (a("api.example.com", &["300.0.2.1"]), "not a valid A value"),
        (a("api.example.com", &[]), "give `values` or `alias`"),
        (a("a b.example.com", &["192.0.2.1"]), "not a valid DNS name"),
        (a("x.*.example.com", &["192.0.2.1"]), "not a valid DNS name"),
    ];
    for (record, expected) in cases {
        let problem = record_problem(&record, zone).unwrap_or_default();
        assert!(problem.contains(expected), "{problem} lacks {expected}");
    }
    let mut cname = RecordSet::simple("example.com", "CNAME", 60, vec!["x.example.net".into()]);
    assert!(record_problem(&cname, zone).unwrap().contains("apex"));
    cname.name = "www.example.com.".into();
    assert_eq!(record_problem(&cname, zone), None);
    cname.values.push("y.example.net".into());
    assert!(
        record_problem(&cname, zone)
            .unwrap()
            .contains("exactly one")
    );
    let mut weighted = a("api.example.com", &["192.0.2.1"]);
    weighted.weight = Some(10);
    assert!(
        record_problem(&weighted, zone)
            .unwrap()
            .contains("set_identifier")
    );
    weighted.set_identifier = Some("blue".into());
    assert_eq!(record_problem(&weighted, zone), None);
    weighted.weight = Some(300);
    assert!(record_problem(&weighted, zone).unwrap().contains("0..=255"));
    let mut failover = a("api.example.com", &["192.0.2.1"]);
    failover.set_identifier = Some("p".into());
    failover.failover = Some("MAIN".into());
    assert!(record_problem(&failover, zone).unwrap().contains("PRIMARY"));
    let txt = RecordSet::simple("t.example.com", "TXT", 60, vec!["unquoted".into()]);
    assert!(record_problem(&txt, zone).unwrap().contains("TXT"));
    let mx = RecordSet::simple("example.com", "MX", 60, vec!["10 mx.example.com".into()]);
    assert_eq!(record_problem(&mx, zone), None);
    let bad_type = RecordSet::simple("x.example.com", "AXFR", 60, vec!["x".into()]);
    assert!(
        record_problem(&bad_type, zone)
            .unwrap()
            .contains("not supported")
    );
    let mut alias = RecordSet {
        name: "example.com.".into(),
        rtype: "A".into(),
        alias: Some(crate::AliasTarget::new(
            "Z2FDTNDATAQYW2",
            "d1.cloudfront.net",
        )),
        ..RecordSet::default()
    };
    assert_eq!(record_problem(&alias, zone), None);
    alias.ttl = Some(60);
    assert!(
        record_problem(&alias, zone)
            .unwrap()
            .contains("alias has no")
    );
}

fn change(action: ChangeAction, i: usize, value_len: usize) -> RecordChange {
    RecordChange {
        action,
        record: RecordSet::simple(
            &format!("r{i}.example.com"),
            "TXT",
            60,
            vec![format!("\"{}\"", "x".repeat(value_len.saturating_sub(2)))],
        ),
    }
}

#[test]
fn batches_split_only_at_the_aws_limits() {
    let small: Vec<_> = (0..1_000)
        .map(|i| change(ChangeAction::Create, i, 10))
        .collect();
    assert_eq!(
        batches(small).len(),
        1,
        "1,000 small CREATEs fit in one request"
    );
    let more: Vec<_> = (0..1_001)
        .map(|i| change(ChangeAction::Create, i, 10))
        .collect();
    let split = batches(more);
    assert_eq!(split.iter().map(Vec::len).collect::<Vec<_>>(), [1_000, 1]);
    // UPSERTs count twice: 500 per request.
    let upserts: Vec<_> = (0..501)
        .map(|i| change(ChangeAction::Upsert, i, 10))
        .collect();
    assert_eq!(
        batches(upserts).iter().map(Vec::len).collect::<Vec<_>>(),
        [500, 1]
    );
    // 32,000 characters: 100 CREATEs of 320 characters fit, the 101st does not.
    let long: Vec<_> = (0..101)
        .map(|i| change(ChangeAction::Create, i, 320))
        .collect();
    let split = batches(long);
    assert_eq!(split.iter().map(Vec::len).collect::<Vec<_>>(), [100, 1]);
    // Order is kept.
    assert_eq!(split[1][0].record.name, "r100.example.com.");
    assert!(batches(Vec::new()).is_empty());
}
