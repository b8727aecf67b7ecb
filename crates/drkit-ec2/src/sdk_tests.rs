//! Tests of `sdk.rs`.

use super::*;

#[test]
fn permissions_round_trip_through_the_sdk_types() {
    let rules = [
        IngressRule::tcp(443, "10.0.0.0/8"),
        IngressRule::described("-1", None, None, Source::Group("sg-12345678".into()), None),
        IngressRule::described(
            "udp",
            Some(53),
            Some(53),
            Source::Ipv6("2001:db8::/32".into()),
            Some("dns".into()),
        ),
    ];
    for rule in &rules {
        let back = rules_from_permission(&permission(rule));
        assert_eq!(back.len(), 1);
        assert!(back[0].same_as(rule), "{rule} came back as {}", back[0]);
        assert_eq!(back[0].description, rule.description);
    }
    // EC2 describes all-traffic rules without ports, and groups sources under one permission.
    let p = IpPermission::builder()
        .ip_protocol("-1")
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
        .build();
    let rules = rules_from_permission(&p);
    assert_eq!(rules.len(), 2);
    assert_eq!((rules[0].from_port, rules[0].to_port), (-1, -1));
}
