//! What every Route 53 writer shares: validation of records against a zone, splitting a change
//! list at AWS's limits, submitting with back-off on throttling, waiting until `INSYNC` — and
//! [`upsert_records`], the helper other providers (ACM validation records) call.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use drkit_core::{ActionError, Context, ErrorKind, Poll, WaitPolicy, wait_until};

use crate::port::{
    AliasTarget, ChangeAction, ChangeInfo, GeoLocation, RecordChange, RecordSet, Route53Api,
    normalize_name,
};

/// AWS's limit on changes in one `ChangeResourceRecordSets` request.
pub const MAX_CHANGES_PER_BATCH: usize = 1_000;
/// AWS's limit on `ResourceRecord` elements in one request (an UPSERT counts twice).
pub const MAX_RECORDS_PER_BATCH: usize = 1_000;
/// AWS's limit on characters of `Value` elements in one request (an UPSERT counts twice).
pub const MAX_VALUE_CHARS_PER_BATCH: usize = 32_000;

/// How many attempts a throttled `ChangeResourceRecordSets` gets before the error is returned.
const SUBMIT_ATTEMPTS: u32 = 6;

const TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "TXT",
];

/// Why `record` is not a valid record of the zone named `zone` (normalised), if it is not.
pub fn record_problem(record: &RecordSet, zone: &str) -> Option<String> {
    let name = &record.name;
    if name != zone && !name.ends_with(&format!(".{zone}")) {
        return Some(format!("{name} is not in zone {zone}"));
    }
    if name.len() > 255 || name.split('.').any(|l| l.len() > 63) {
        return Some(format!("{name} is too long (255 characters, 63 per label)"));
    }
    let label_ok = |l: &str| {
        l == "*"
            || (!l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    };
    let labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
    if labels.iter().any(|l| !label_ok(l)) || labels.iter().skip(1).any(|l| *l == "*") {
        return Some(format!(
            "{name} is not a valid DNS name (letters, digits, hyphens, underscores; `*` only first)"
        ));
    }
    if !TYPES.contains(&record.rtype.as_str()) {
        return Some(format!(
            "type {} is not supported (one of {})",
            record.rtype,
            TYPES.join(", ")
        ));
    }
    if let Some(problem) = routing_problem(record) {
        return Some(format!("{}: {problem}", record.label()));
    }
    if record.rtype == "CNAME" && name == zone {
        return Some(format!(
            "a CNAME cannot be at the zone apex {zone} (use an alias)"
        ));
    }
    match (&record.alias, record.values.is_empty(), record.ttl) {
        (Some(alias), true, None) => {
            return alias_problem(record, alias, zone)
                .map(|problem| format!("{}: {problem}", record.label()));
        }
        (Some(_), _, _) => {
            return Some(format!(
                "{}: an alias has no `values` and no `ttl`",
                record.label()
            ));
        }
        (None, true, _) => return Some(format!("{}: give `values` or `alias`", record.label())),
        (None, false, None) => return Some(format!("{}: `ttl` is required", record.label())),
        (None, false, Some(ttl)) if !(0..=2_147_483_647).contains(&ttl) => {
            return Some(format!("{}: ttl {ttl} is out of range", record.label()));
        }
        _ => {}
    }
    for value in &record.values {
        let bad = match record.rtype.as_str() {
            "A" => value.parse::<Ipv4Addr>().is_err(),
            "AAAA" => value.parse::<Ipv6Addr>().is_err(),
            "CNAME" | "NS" | "PTR" => value.is_empty() || value.contains(' '),
            "MX" => {
                let mut parts = value.split_whitespace();
                !(parts.next().is_some_and(|p| p.parse::<u16>().is_ok())
                    && parts.next().is_some()
                    && parts.next().is_none())
            }
            "TXT" | "SPF" => !(value.len() >= 2 && value.starts_with('"') && value.ends_with('"')),
            _ => value.is_empty(),
        };
        if bad {
            return Some(format!(
                "{}: `{value}` is not a valid {} value",
                record.label(),
                record.rtype
            ));
        }
    }
    if record.rtype == "CNAME" && record.values.len() > 1 {
        return Some(format!("{}: a CNAME has exactly one value", record.label()));
    }
    None
}

/// Types a record with a routing policy other than simple may have (Route 53's
/// `ResourceRecordSet.Type`): not `NS`, `SOA` or `DS`.
const ROUTED_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "MX", "NAPTR", "PTR", "SPF", "SRV", "TXT",
];
/// Types a multivalue answer record may have: the routed ones but `CNAME`.
const MULTIVALUE_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "MX", "NAPTR", "PTR", "SPF", "SRV", "TXT",
];
/// Route 53's continent codes.
const CONTINENTS: &[&str] = &["AF", "AN", "AS", "EU", "OC", "NA", "SA"];

/// Whether `value` looks like an AWS region name (`us-east-1`, `ap-southeast-2`,
/// `us-gov-west-1`).
fn is_region_name(value: &str) -> bool {
    let Some((words, number)) = value.rsplit_once('-') else {
        return false;
    };
    let words: Vec<&str> = words.split('-').collect();
    words.len() >= 2
        && words.first().is_some_and(|w| w.len() == 2)
        && words
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
        && (1..=2).contains(&number.len())
        && number.chars().all(|c| c.is_ascii_digit())
}

/// What is wrong with the routing policy of `record`: at most one of weight, region, failover,
/// geolocation and multivalue answer, given with a set identifier (and a set identifier only
/// with one of them), on a type that allows it, with valid values.
fn routing_problem(record: &RecordSet) -> Option<String> {
    let policies = record.routing_policies();
    if policies.len() > 1 {
        return Some(format!(
            "give one routing policy, not {} (`weight`, `region`, `failover`, `geo_location`,              `multi_value_answer`)",
            policies.join(" and ")
        ));
    }
    match (&record.set_identifier, policies.first()) {
        (None, Some(policy)) => {
            return Some(format!("a {policy} record needs a `set_identifier`"));
        }
        (Some(_), None) => {
            return Some(
                "`set_identifier` goes with a routing policy: `weight`, `region`, `failover`,                  `geo_location` or `multi_value_answer = true`"
                    .to_owned(),
            );
        }
        (Some(id), Some(_)) if id.is_empty() || id.len() > 128 => {
            return Some("`set_identifier` must have 1 to 128 characters".to_owned());
        }
        (Some(_), Some(policy)) if !ROUTED_TYPES.contains(&record.rtype.as_str()) => {
            return Some(format!(
                "a {policy} record cannot be of type {} (one of {})",
                record.rtype,
                ROUTED_TYPES.join(", ")
            ));
        }
        _ => {}
    }
    if let Some(w) = record.weight
        && !(0..=255).contains(&w)
    {
        return Some(format!("weight {w} is not in 0..=255"));
    }
    if let Some(region) = &record.region
        && !is_region_name(region)
    {
        return Some(format!(
            "`region` {region} is not an AWS region name (e.g. us-east-1)"
        ));
    }
    if let Some(f) = &record.failover
        && f != "PRIMARY"
        && f != "SECONDARY"
    {
        return Some(format!("failover must be PRIMARY or SECONDARY, not {f}"));
    }
    if let Some(geo) = &record.geo_location {
        return geo_problem(geo);
    }
    if record.multi_value_answer {
        if record.alias.is_some() {
            return Some("a multivalue answer record cannot be an alias".to_owned());
        }
        if !MULTIVALUE_TYPES.contains(&record.rtype.as_str()) {
            return Some(format!(
                "a multivalue answer record cannot be of type {} (one of {})",
                record.rtype,
                MULTIVALUE_TYPES.join(", ")
            ));
        }
    }
    None
}

/// What is wrong with a location: a continent alone, or a country (`*`: the default location)
/// with, for the United States only, a state.
fn geo_problem(geo: &GeoLocation) -> Option<String> {
    let two_letters = |c: &str| c.len() == 2 && c.chars().all(|c| c.is_ascii_uppercase());
    match (&geo.continent_code, &geo.country_code, &geo.subdivision_code) {
        (Some(continent), None, None) if CONTINENTS.contains(&continent.as_str()) => None,
        (Some(continent), None, None) => Some(format!(
            "continent_code {continent} is not one of {}",
            CONTINENTS.join(", ")
        )),
        (Some(_), _, _) => Some(
            "`geo_location`: give `continent_code` or `country_code`, not both (Route 53 answers              InvalidInput)"
                .to_owned(),
        ),
        (None, Some(country), None) if country == "*" || two_letters(country) => None,
        (None, Some(country), Some(state)) if country == "US" && two_letters(state) => None,
        (None, Some(country), Some(_)) if country != "US" => Some(format!(
            "`subdivision_code` is for US states only (country_code US), not {country}"
        )),
        (None, Some(country), _) if country != "*" && !two_letters(country) => Some(format!(
            "country_code {country} is not an ISO 3166-1 alpha-2 code or `*`"
        )),
        (None, Some(_), Some(state)) => {
            Some(format!("subdivision_code {state} is not a two-letter US state code"))
        }
        (None, None, _) => Some(
            "`geo_location` needs `continent_code` or `country_code` (`*`: every other location)"
                .to_owned(),
        ),
        (None, Some(_), None) => None,
    }
}

/// CloudFront's hosted zone id for every alias to a distribution (a documented constant).
pub const CLOUDFRONT_ZONE_ID: &str = "Z2FDTNDATAQYW2";
/// Global Accelerator's hosted zone id for every alias to an accelerator.
pub const GLOBAL_ACCELERATOR_ZONE_ID: &str = "Z2BJ6XQ5FK7U4H";

/// What an alias points at, told by its DNS name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AliasKind {
    CloudFront,
    GlobalAccelerator,
    S3Website,
    LoadBalancer,
    ApiGateway,
    VpcEndpoint,
    ElasticBeanstalk,
    /// Another record of the zone, or a target drkit knows no rules for.
    Other,
}

impl AliasKind {
    pub(crate) fn of(dns_name: &str) -> Self {
        let n = normalize_name(dns_name);
        let aws = n.ends_with(".amazonaws.com.");
        if n.ends_with(".cloudfront.net.") {
            Self::CloudFront
        } else if n.ends_with(".awsglobalaccelerator.com.") {
            Self::GlobalAccelerator
        } else if aws && n.contains("s3-website") {
            Self::S3Website
        } else if n.ends_with(".vpce.amazonaws.com.") {
            Self::VpcEndpoint
        } else if aws && n.contains(".execute-api.") {
            Self::ApiGateway
        } else if aws && n.contains(".elb.") {
            Self::LoadBalancer
        } else if n.ends_with(".elasticbeanstalk.com.") {
            Self::ElasticBeanstalk
        } else {
            Self::Other
        }
    }

    /// The hosted zone id every alias to such a target has, where AWS documents one.
    pub(crate) fn fixed_zone_id(self) -> Option<&'static str> {
        match self {
            Self::CloudFront => Some(CLOUDFRONT_ZONE_ID),
            Self::GlobalAccelerator => Some(GLOBAL_ACCELERATOR_ZONE_ID),
            _ => None,
        }
    }

    /// The record types an alias to such a target may have (None: any but NS and SOA, for
    /// another record of the zone: the target's type).
    fn types(self) -> Option<&'static [&'static str]> {
        match self {
            // S3 website endpoints answer IPv4 only.
            Self::S3Website => Some(&["A"]),
            Self::Other => None,
            _ => Some(&["A", "AAAA"]),
        }
    }
}

/// What is wrong with the alias of `record` in the zone named `zone`. An empty
/// `hosted_zone_id` stands for the record's own zone (an alias to another record of it).
fn alias_problem(record: &RecordSet, alias: &AliasTarget, zone: &str) -> Option<String> {
    let kind = AliasKind::of(&alias.dns_name);
    if record.rtype == "NS" || record.rtype == "SOA" {
        return Some(format!("an alias cannot be of type {}", record.rtype));
    }
    if let Some(types) = kind.types()
        && !types.contains(&record.rtype.as_str())
    {
        return Some(format!(
            "an alias to {} must be of type {}",
            alias.dns_name,
            types.join(" or ")
        ));
    }
    if let Some(fixed) = kind.fixed_zone_id()
        && alias.hosted_zone_id != fixed
    {
        return Some(format!(
            "an alias to {} has hosted_zone_id {fixed}, not {}",
            alias.dns_name, alias.hosted_zone_id
        ));
    }
    if kind == AliasKind::CloudFront && alias.evaluate_target_health {
        return Some(
            "an alias to a CloudFront distribution cannot evaluate target health (Route 53              refuses `evaluate_target_health = true`)"
                .to_owned(),
        );
    }
    let in_zone = alias.dns_name == zone || alias.dns_name.ends_with(&format!(".{zone}"));
    if alias.hosted_zone_id.is_empty() && !in_zone {
        return Some(format!(
            "give `alias.hosted_zone_id`: {} is not in zone {zone} (the target's zone: a load \
             balancer's CanonicalHostedZoneId, the S3 website endpoint's or API Gateway's zone of \
             its region, ...)",
            alias.dns_name
        ));
    }
    if in_zone && alias.dns_name == record.name && kind == AliasKind::Other {
        return Some("an alias cannot point at its own name".to_owned());
    }
    None
}

/// Splits `changes` into as few batches as AWS's limits allow (1,000 changes, 1,000 records and
/// 32,000 value characters per request; an UPSERT counts twice), in order.
pub fn batches(changes: Vec<RecordChange>) -> Vec<Vec<RecordChange>> {
    let mut out: Vec<Vec<RecordChange>> = Vec::new();
    let (mut records, mut chars) = (0usize, 0usize);
    for change in changes {
        let factor = if change.action == ChangeAction::Upsert {
            2
        } else {
            1
        };
        let r = change.record.values.len().max(1) * factor;
        let c = change.record.values.iter().map(String::len).sum::<usize>() * factor;
        let fits = out.last().is_some_and(|b| {
            b.len() < MAX_CHANGES_PER_BATCH
                && records + r <= MAX_RECORDS_PER_BATCH
                && chars + c <= MAX_VALUE_CHARS_PER_BATCH
        });
        if fits {
            records += r;
            chars += c;
            if let Some(b) = out.last_mut() {
                b.push(change);
            }
        } else {
            records = r;
            chars = c;
            out.push(vec![change]);
        }
    }
    out
}

/// `ChangeResourceRecordSets`, retried with exponential back-off (1 s, 2 s, ... capped at 16 s,
/// or the provider's `Retry-After`) while Route 53 answers `Throttling` or
/// `PriorRequestNotComplete`. Any other error is returned at once. Bounded by the context.
pub async fn submit(
    ctx: &Context,
    api: &dyn Route53Api,
    zone_id: &str,
    changes: Vec<RecordChange>,
    comment: &str,
) -> Result<ChangeInfo, ActionError> {
    let mut delay = Duration::from_secs(1);
    let mut attempt = 1;
    loop {
        match ctx
            .bounded(api.change_records(zone_id, changes.clone(), comment))
            .await
        {
            Err(e) if e.kind() == ErrorKind::Throttled && attempt < SUBMIT_ATTEMPTS => {
                let pause = e.retry_after().unwrap_or(delay);
                ctx.progress(format!(
                    "ChangeResourceRecordSets throttled ({}); retrying in {} s",
                    e.code().unwrap_or("throttled"),
                    pause.as_secs()
                ));
                ctx.sleep(pause).await?;
                ctx.ensure_live()?;
                delay = (delay * 2).min(Duration::from_secs(16));
                attempt += 1;
            }
            other => return other.map_err(|e| e.with_operation("ChangeResourceRecordSets")),
        }
    }
}

/// Waits until change `change_id` is `INSYNC`.
pub async fn wait_insync(
    ctx: &Context,
    api: &dyn Route53Api,
    policy: &WaitPolicy,
    change_id: &str,
) -> Result<ChangeInfo, ActionError> {
    let what = format!("Route 53 change {change_id} to be INSYNC");
    wait_until(ctx, &what, policy, || async {
        let info = ctx.bounded(api.get_change(change_id)).await?;
        Ok(if info.is_insync() {
            Poll::Ready(info)
        } else {
            Poll::Pending(format!("status={}", info.status))
        })
    })
    .await
}

/// UPSERTs `records` into zone `zone_id` (batched at AWS's limits, throttling backed off) and
/// waits until every batch is `INSYNC`. For other providers' DNS needs, e.g. ACM validation
/// records. Returns the change ids. Records are validated against the zone first
/// (`InvalidInput`, before any write).
pub async fn upsert_records(
    ctx: &Context,
    api: &dyn Route53Api,
    zone_id: &str,
    records: Vec<RecordSet>,
    policy: &WaitPolicy,
) -> Result<Vec<String>, ActionError> {
    if ctx.is_dry_run() {
        return Err(ActionError::invalid_input(
            "upsert_records was called during a dry run",
        ));
    }
    let zone = ctx.bounded(api.find_zone(zone_id)).await?;
    if let Some(problem) = records.iter().find_map(|r| record_problem(r, &zone.name)) {
        return Err(ActionError::invalid_input(problem));
    }
    let changes = records
        .into_iter()
        .map(|record| RecordChange {
            action: ChangeAction::Upsert,
            record,
        })
        .collect();
    let mut ids = Vec::new();
    for batch in batches(changes) {
        let info = submit(ctx, api, &zone.id, batch, "drkit upsert_records").await?;
        ids.push(info.id);
    }
    for id in &ids {
        wait_insync(ctx, api, policy, id).await?;
    }
    Ok(ids)
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
