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

fn routed(set: &str) -> RecordSet {
    let mut r = a("api.example.com", &["192.0.2.1"]);
    r.set_identifier = Some(set.to_owned());
    r
}

/// Route 53's rules for latency, geolocation and multivalue answer records (the
/// `ResourceRecordSet` and `GeoLocation` API reference): one routing policy with a set
/// identifier, a region name, a continent or a country (`*` the default; a subdivision for US
/// states only), multivalue answers neither CNAME nor alias.
#[test]
fn routing_policies_follow_the_api_reference() {
    let zone = "example.com.";
    let problem = |r: &RecordSet| record_problem(r, zone).unwrap_or_default();
    let mut latency = routed("us-west-2");
    latency.region = Some("us-west-2".into());
    assert_eq!(record_problem(&latency, zone), None);
    latency.region = Some("Oregon".into());
    assert!(
        problem(&latency).contains("not an AWS region"),
        "{}",
        problem(&latency)
    );
    latency.region = Some("us-west-2".into());
    latency.weight = Some(10);
    assert!(
        problem(&latency).contains("one routing policy"),
        "{}",
        problem(&latency)
    );
    latency.weight = None;
    latency.set_identifier = None;
    assert!(problem(&latency).contains("needs a `set_identifier`"));

    let geo = |g: GeoLocation| {
        let mut r = routed("geo");
        r.geo_location = Some(g);
        r
    };
    for ok in [
        GeoLocation::continent("EU"),
        GeoLocation::country("DE"),
        GeoLocation::country("*"),
        GeoLocation::us_state("WA"),
    ] {
        assert_eq!(record_problem(&geo(ok.clone()), zone), None, "{ok:?}");
    }
    let both = GeoLocation {
        continent_code: Some("EU".into()),
        country_code: Some("DE".into()),
        subdivision_code: None,
    };
    let cases = [
        (GeoLocation::continent("XX"), "not one of"),
        (both, "not both"),
        (
            GeoLocation {
                subdivision_code: Some("BY".into()),
                ..GeoLocation::country("DE")
            },
            "US states only",
        ),
        (GeoLocation::country("DEU"), "ISO 3166-1"),
        (
            GeoLocation::default(),
            "needs `continent_code` or `country_code`",
        ),
    ];
    for (g, expected) in cases {
        let p = problem(&geo(g));
        assert!(p.contains(expected), "{p} lacks {expected}");
    }

    let mut multi = routed("m1");
    multi.multi_value_answer = true;
    assert_eq!(record_problem(&multi, zone), None);
    multi.rtype = "CNAME".into();
    multi.values = vec!["x.example.net".into()];
    assert!(
        problem(&multi).contains("cannot be of type CNAME"),
        "{}",
        problem(&multi)
    );
    let mut ns = routed("n");
    ns.rtype = "NS".into();
    ns.values = vec!["ns1.example.net".into()];
    ns.weight = Some(1);
    assert!(
        problem(&ns).contains("cannot be of type NS"),
        "{}",
        problem(&ns)
    );
    let mut bare = routed("lonely");
    assert!(problem(&bare).contains("goes with a routing policy"));
    bare.set_identifier = None;
    assert_eq!(record_problem(&bare, zone), None);
}

fn alias(name: &str, rtype: &str, target: AliasTarget) -> RecordSet {
    RecordSet {
        name: normalize_name(name),
        rtype: rtype.to_owned(),
        alias: Some(target),
        ..RecordSet::default()
    }
}

/// Alias targets as the `AliasTarget` API reference documents them: CloudFront's fixed zone
/// `Z2FDTNDATAQYW2` and no target health, A/AAAA for AWS resources (A only for S3 websites),
/// the zone's own id for another record of it, never NS/SOA or multivalue.
#[test]
fn alias_targets_follow_the_api_reference() {
    let zone = "example.com.";
    let problem = |r: &RecordSet| record_problem(r, zone).unwrap_or_default();
    let cdn = AliasTarget::new(CLOUDFRONT_ZONE_ID, "d111111abcdef8.cloudfront.net");
    assert_eq!(
        record_problem(&alias("www.example.com", "AAAA", cdn.clone()), zone),
        None
    );
    let p = problem(&alias(
        "www.example.com",
        "A",
        cdn.clone().evaluating_health(true),
    ));
    assert!(p.contains("cannot evaluate target health"), "{p}");
    let p = problem(&alias(
        "www.example.com",
        "A",
        AliasTarget::new("Z1", "d1.cloudfront.net"),
    ));
    assert!(p.contains("Z2FDTNDATAQYW2"), "{p}");
    let p = problem(&alias("www.example.com", "CNAME", cdn));
    assert!(p.contains("must be of type A or AAAA"), "{p}");

    let elb = AliasTarget::new(
        "Z35SXDOTRQ7X7K",
        "dualstack.mint-123.us-east-1.elb.amazonaws.com",
    )
    .evaluating_health(true);
    assert_eq!(
        record_problem(&alias("api.example.com", "AAAA", elb), zone),
        None
    );
    let nlb = AliasTarget::new("Z18D5FSROUN65G", "mint-net-1.elb.us-west-2.amazonaws.com");
    assert_eq!(
        record_problem(&alias("api.example.com", "A", nlb), zone),
        None
    );
    let site = AliasTarget::new("Z3AQBSTGFYJSTF", "s3-website-us-east-1.amazonaws.com");
    assert_eq!(
        record_problem(&alias("example.com", "A", site.clone()), zone),
        None
    );
    let p = problem(&alias("example.com", "AAAA", site));
    assert!(p.contains("must be of type A"), "{p}");
    let gateway = AliasTarget::new(
        "Z1UJRXOUMOOFQ8",
        "d-abc123.execute-api.us-east-1.amazonaws.com",
    );
    assert_eq!(
        record_problem(&alias("api.example.com", "A", gateway), zone),
        None
    );

    // Another record of the zone: its id may be left empty (filled in once known).
    let inside = AliasTarget::new("", "api-dr.example.com");
    assert_eq!(
        record_problem(&alias("api.example.com", "CNAME", inside.clone()), zone),
        None
    );
    let p = problem(&alias("api.example.com", "NS", inside.clone()));
    assert!(p.contains("cannot be of type NS"), "{p}");
    let p = problem(&alias("api-dr.example.com", "A", inside));
    assert!(p.contains("its own name"), "{p}");
    let p = problem(&alias(
        "api.example.com",
        "A",
        AliasTarget::new("", "lb.example.net"),
    ));
    assert!(p.contains("give `alias.hosted_zone_id`"), "{p}");
    let mut multi = alias(
        "api.example.com",
        "A",
        AliasTarget::new("Z35SXDOTRQ7X7K", "mint-123.us-east-1.elb.amazonaws.com"),
    );
    multi.set_identifier = Some("m".into());
    multi.multi_value_answer = true;
    assert!(
        problem(&multi).contains("cannot be an alias"),
        "{}",
        problem(&multi)
    );
    assert_eq!(
        AliasKind::of("vpce-1-x.elasticloadbalancing.us-east-1.vpce.amazonaws.com"),
        AliasKind::VpcEndpoint
    );
    assert_eq!(
        AliasKind::of("a1b2.awsglobalaccelerator.com"),
        AliasKind::GlobalAccelerator
    );
    assert_eq!(
        AliasKind::of("mint.us-west-2.elasticbeanstalk.com"),
        AliasKind::ElasticBeanstalk
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
