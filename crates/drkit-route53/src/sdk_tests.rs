//! Tests of `sdk.rs`.

use super::*;

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
