//! Tests of `rule.rs`.

use super::*;

fn param(protocol: &str) -> RuleParam {
    RuleParam {
        protocol: protocol.into(),
        ..RuleParam::default()
    }
}

#[test]
fn parameters_normalize_to_what_ec2_describes() {
    let mut p = param("TCP");
    p.port = Some(443);
    p.cidr = Some("10.0.0.0/8".into());
    let r = IngressRule::from_param(&p).unwrap();
    let described = IngressRule::described(
        "tcp",
        Some(443),
        Some(443),
        Source::Ipv4("10.0.0.0/8".into()),
        Some("from EKS".into()),
    );
    assert!(r.same_as(&described));
    assert_eq!(r.to_string(), "tcp 443 from 10.0.0.0/8");

    let mut all = param("all");
    all.cidr = Some("192.168.1.5".into());
    let all = IngressRule::from_param(&all).unwrap();
    assert!(all.same_as(&IngressRule::described(
        "-1",
        None,
        None,
        Source::Ipv4("192.168.1.5/32".into()),
        None
    )));
    assert_eq!(all.to_string(), "all traffic from 192.168.1.5/32");

    let mut v6 = param("6");
    v6.from_port = Some(8000);
    v6.to_port = Some(8080);
    v6.cidr = Some("2001:DB8:0::/32".into());
    let v6 = IngressRule::from_param(&v6).unwrap();
    assert_eq!(v6.source, Source::Ipv6("2001:db8::/32".into()));
    assert_eq!(v6.to_string(), "tcp 8000-8080 from 2001:db8::/32");
    // Round trip through outputs.
    assert_eq!(IngressRule::from_param(&v6.to_param()).unwrap(), v6);
    assert_eq!(IngressRule::from_param(&all.to_param()).unwrap(), all);
}

#[test]
fn bad_rules_name_the_field() {
    let cases = [
        (param("tcpp"), "protocol", "`tcpp` is not a protocol"),
        (
            RuleParam {
                cidr: Some("10.0.0.0/8".into()),
                ..param("tcp")
            },
            "port",
            "tcp needs `port`",
        ),
        (
            RuleParam {
                port: Some(70000),
                cidr: Some("10.0.0.0/8".into()),
                ..param("tcp")
            },
            "port",
            "70000 is not a port",
        ),
        (
            RuleParam {
                from_port: Some(9),
                to_port: Some(8),
                cidr: Some("10.0.0.0/8".into()),
                ..param("udp")
            },
            "from_port",
            "9 is after to_port 8",
        ),
        (
            RuleParam {
                port: Some(443),
                cidr: Some("10.1.2.3/8".into()),
                ..param("tcp")
            },
            "cidr",
            "did you mean `10.0.0.0/8`?",
        ),
        (
            RuleParam {
                port: Some(443),
                cidr: Some("10.0.0.0/33".into()),
                ..param("tcp")
            },
            "cidr",
            "prefix length must be 0 to 32",
        ),
        (
            RuleParam {
                port: Some(443),
                ..param("tcp")
            },
            "cidr",
            "exactly one of `cidr` and `source_group`",
        ),
        (
            RuleParam {
                port: Some(443),
                source_group: Some("web".into()),
                ..param("tcp")
            },
            "source_group",
            "not a security group id",
        ),
        (
            RuleParam {
                port: Some(443),
                cidr: Some("0.0.0.0/0".into()),
                ..param("-1")
            },
            "port",
            "allows all ports",
        ),
    ];
    for (p, field, expected) in cases {
        let (f, m) = IngressRule::from_param(&p).unwrap_err();
        assert_eq!(f, field, "{m}");
        assert!(m.contains(expected), "{m} lacks {expected}");
    }
}
