//! Ingress rules: the parameter form, validation before any call, and the normalized form that
//! rules are compared in (what the runbook says vs what EC2 describes).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// One ingress rule as written in a runbook (and as recorded in outputs):
/// `{ protocol = "tcp", port = 443, cidr = "10.0.0.0/8", description = "..." }`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RuleParam {
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `-1`/`all`, or a protocol number.
    pub protocol: String,
    /// One port (tcp/udp): the same as `from_port = to_port = port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// The first port of a range (tcp/udp), or the ICMP type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    /// The last port of a range (tcp/udp), or the ICMP code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    /// The source IPv4 or IPv6 CIDR block (a bare address means /32 or /128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    /// The source security group id (`sg-...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_group: Option<String>,
    /// A description of the rule (not compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Where traffic comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// An IPv4 CIDR block, canonical (`10.0.0.0/8`).
    Ipv4(String),
    /// An IPv6 CIDR block, canonical (`2001:db8::/32`).
    Ipv6(String),
    /// Another security group, by id.
    Group(String),
}

/// A normalized ingress rule. Two rules are the same rule ([`IngressRule::same_as`]) when
/// protocol, ports and source are equal; the description does not count (EC2 itself refuses a
/// second rule that differs only in its description).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngressRule {
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `-1` (all traffic) or a protocol number.
    pub protocol: String,
    /// The first port (or ICMP type); -1 when not applicable.
    pub from_port: i32,
    /// The last port (or ICMP code); -1 when not applicable.
    pub to_port: i32,
    /// The source.
    pub source: Source,
    /// The description, if any.
    pub description: Option<String>,
}

impl IngressRule {
    /// A TCP rule for one port from a CIDR block (handy in tests).
    pub fn tcp(port: i32, cidr: &str) -> Self {
        Self {
            protocol: "tcp".into(),
            from_port: port,
            to_port: port,
            source: normalize_cidr(cidr).unwrap_or_else(|_| Source::Ipv4(cidr.to_owned())),
            description: None,
        }
    }

    /// A rule as EC2 describes it: protocol and ports normalized the same way as parameters,
    /// missing ports as -1.
    pub fn described(
        protocol: &str,
        from_port: Option<i32>,
        to_port: Option<i32>,
        source: Source,
        description: Option<String>,
    ) -> Self {
        let protocol = normalize_protocol(protocol).unwrap_or_else(|_| protocol.to_owned());
        let (from_port, to_port) = if has_ports(&protocol) || is_icmp(&protocol) {
            (from_port.unwrap_or(-1), to_port.unwrap_or(-1))
        } else {
            (-1, -1)
        };
        let source = match source {
            Source::Ipv4(c) | Source::Ipv6(c) => normalize_cidr(&c).unwrap_or(Source::Ipv4(c)),
            group => group,
        };
        Self {
            protocol,
            from_port,
            to_port,
            source,
            description,
        }
    }

    /// Validates and normalizes a parameter. The error names the field (`port`, `cidr`, ...).
    pub fn from_param(p: &RuleParam) -> Result<Self, (&'static str, String)> {
        let protocol = normalize_protocol(&p.protocol).map_err(|m| ("protocol", m))?;
        let (from_port, to_port) = ports(&protocol, p)?;
        let source = match (&p.cidr, &p.source_group) {
            (Some(cidr), None) => normalize_cidr(cidr).map_err(|m| ("cidr", m))?,
            (None, Some(group)) => {
                if !is_group_id(group) {
                    return Err((
                        "source_group",
                        format!("`{group}` is not a security group id (`sg-` and hex digits)"),
                    ));
                }
                Source::Group(group.clone())
            }
            _ => {
                return Err((
                    "cidr",
                    "give exactly one of `cidr` and `source_group`".to_owned(),
                ));
            }
        };
        Ok(Self {
            protocol,
            from_port,
            to_port,
            source,
            description: p.description.clone().filter(|d| !d.is_empty()),
        })
    }

    /// The parameter form (for outputs, and for rollback to read them back).
    pub fn to_param(&self) -> RuleParam {
        let ports = has_ports(&self.protocol) || is_icmp(&self.protocol);
        let (cidr, source_group) = match &self.source {
            Source::Ipv4(c) | Source::Ipv6(c) => (Some(c.clone()), None),
            Source::Group(g) => (None, Some(g.clone())),
        };
        RuleParam {
            protocol: self.protocol.clone(),
            port: None,
            from_port: ports.then_some(self.from_port),
            to_port: ports.then_some(self.to_port),
            cidr,
            source_group,
            description: self.description.clone(),
        }
    }

    /// Whether `other` is the same rule (protocol, ports and source; not the description).
    pub fn same_as(&self, other: &Self) -> bool {
        self.protocol == other.protocol
            && self.from_port == other.from_port
            && self.to_port == other.to_port
            && self.source == other.source
    }
}

impl fmt::Display for IngressRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.protocol.as_str() {
            "-1" => f.write_str("all traffic")?,
            p if has_ports(p) && self.from_port == self.to_port => {
                write!(f, "{p} {}", self.from_port)?;
            }
            p if has_ports(p) => write!(f, "{p} {}-{}", self.from_port, self.to_port)?,
            p if is_icmp(p) => write!(f, "{p} type {} code {}", self.from_port, self.to_port)?,
            p => write!(f, "protocol {p}")?,
        }
        match &self.source {
            Source::Ipv4(c) | Source::Ipv6(c) => write!(f, " from {c}"),
            Source::Group(g) => write!(f, " from {g}"),
        }
    }
}

/// `sg-` followed by 8 or 17 hex digits (moto and AWS both use these forms).
pub(crate) fn is_group_id(s: &str) -> bool {
    s.strip_prefix("sg-")
        .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

fn has_ports(protocol: &str) -> bool {
    protocol == "tcp" || protocol == "udp"
}

fn is_icmp(protocol: &str) -> bool {
    protocol == "icmp" || protocol == "icmpv6"
}

fn normalize_protocol(protocol: &str) -> Result<String, String> {
    let p = protocol.trim().to_ascii_lowercase();
    Ok(match p.as_str() {
        "tcp" | "6" => "tcp".into(),
        "udp" | "17" => "udp".into(),
        "icmp" | "1" => "icmp".into(),
        "icmpv6" | "58" => "icmpv6".into(),
        "-1" | "all" => "-1".into(),
        n => match n.parse::<u8>() {
            Ok(number) => number.to_string(),
            Err(_) => {
                return Err(format!(
                    "`{protocol}` is not a protocol: use tcp, udp, icmp, icmpv6, -1 (all) or a \
                     protocol number"
                ));
            }
        },
    })
}

fn ports(protocol: &str, p: &RuleParam) -> Result<(i32, i32), (&'static str, String)> {
    let given = (p.port, p.from_port, p.to_port);
    if has_ports(protocol) {
        let (from, to) = match given {
            (Some(port), None, None) => (port, port),
            (None, Some(from), Some(to)) => (from, to),
            (Some(_), _, _) => {
                return Err((
                    "port",
                    "give `port`, or `from_port` and `to_port`, not both".into(),
                ));
            }
            _ => {
                return Err((
                    "port",
                    format!("{protocol} needs `port`, or `from_port` and `to_port`"),
                ));
            }
        };
        for (name, value) in [("from_port", from), ("to_port", to)] {
            if !(0..=65535).contains(&value) {
                let name = if p.port.is_some() { "port" } else { name };
                return Err((name, format!("{value} is not a port (0 to 65535)")));
            }
        }
        if from > to {
            return Err(("from_port", format!("{from} is after to_port {to}")));
        }
        Ok((from, to))
    } else if is_icmp(protocol) {
        if p.port.is_some() {
            return Err((
                "port",
                format!("{protocol} has no port: give `from_port` (type) and `to_port` (code)"),
            ));
        }
        let from = p.from_port.unwrap_or(-1);
        let to = p.to_port.unwrap_or(-1);
        for (name, value) in [("from_port", from), ("to_port", to)] {
            if !(-1..=255).contains(&value) {
                return Err((
                    name,
                    format!("{value} is not an ICMP type or code (-1 to 255)"),
                ));
            }
        }
        Ok((from, to))
    } else if given != (None, None, None) {
        Err((
            "port",
            format!("protocol {protocol} allows all ports: give no port"),
        ))
    } else {
        Ok((-1, -1))
    }
}

/// `10.0.0.0/8`; a bare address is a /32 (/128). Host bits must be zero: `10.1.2.3/8` is
/// refused with the network it probably means.
pub(crate) fn normalize_cidr(cidr: &str) -> Result<Source, String> {
    let cidr = cidr.trim();
    let (addr, len) = match cidr.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (cidr, None),
    };
    if let Ok(v4) = addr.parse::<Ipv4Addr>() {
        let len = parse_len(cidr, len, 32)?;
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        let network = Ipv4Addr::from(u32::from(v4) & mask);
        if network != v4 {
            return Err(format!(
                "`{cidr}` has host bits set: did you mean `{network}/{len}`?"
            ));
        }
        return Ok(Source::Ipv4(format!("{network}/{len}")));
    }
    if let Ok(v6) = addr.parse::<Ipv6Addr>() {
        let len = parse_len(cidr, len, 128)?;
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        };
        let network = Ipv6Addr::from(u128::from(v6) & mask);
        if network != v6 {
            return Err(format!(
                "`{cidr}` has host bits set: did you mean `{network}/{len}`?"
            ));
        }
        return Ok(Source::Ipv6(format!("{network}/{len}")));
    }
    Err(format!("`{cidr}` is not an IPv4 or IPv6 CIDR block"))
}

fn parse_len(cidr: &str, len: Option<&str>, max: u32) -> Result<u32, String> {
    match len {
        None => Ok(max),
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("`{cidr}`: the prefix length must be 0 to {max}")),
    }
}

#[cfg(test)]
#[path = "rule_tests.rs"]
mod tests;
