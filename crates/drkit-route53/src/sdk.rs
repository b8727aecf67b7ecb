//! The adapter: [`Route53Api`] over `aws-sdk-route53`.

use async_trait::async_trait;
use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    self as r53, Change, ChangeBatch, ResourceRecord, ResourceRecordSet, ResourceRecordSetFailover,
    ResourceRecordSetRegion, RrType,
};
use drkit_aws::SdkResultExt;
use drkit_core::{ActionError, ErrorKind};

use crate::port::{
    AliasTarget, ChangeAction, ChangeInfo, CheckerReport, GeoLocation, HostedZone, RecordChange,
    RecordSet, Route53Api, normalize_name,
};

drkit_aws::sdk_adapter! {
    /// [`Route53Api`] over an `aws-sdk-route53` client. Route 53 is global: the client's region
    /// does not matter.
    pub struct SdkRoute53(Client);
}

fn strip(id: &str, prefix: &str) -> String {
    id.trim_start_matches('/')
        .trim_start_matches(prefix.trim_start_matches('/'))
        .to_owned()
}

fn zone_from_sdk(z: &r53::HostedZone) -> HostedZone {
    HostedZone {
        id: strip(z.id(), "/hostedzone/"),
        name: normalize_name(z.name()),
        private: z.config().is_some_and(r53::HostedZoneConfig::private_zone),
    }
}

fn record_from_sdk(r: &ResourceRecordSet) -> RecordSet {
    RecordSet {
        name: normalize_name(r.name()),
        rtype: r.r#type().as_str().to_owned(),
        ttl: r.ttl(),
        values: r
            .resource_records()
            .iter()
            .map(|v| v.value().to_owned())
            .collect(),
        alias: r.alias_target().map(|a| {
            AliasTarget::new(a.hosted_zone_id(), a.dns_name())
                .evaluating_health(a.evaluate_target_health())
        }),
        set_identifier: r.set_identifier().map(str::to_owned),
        weight: r.weight(),
        region: r.region().map(|region| region.as_str().to_owned()),
        failover: r.failover().map(|f| f.as_str().to_owned()),
        geo_location: r.geo_location().map(|g| {
            GeoLocation {
                continent_code: g.continent_code().map(str::to_owned),
                country_code: g.country_code().map(str::to_owned),
                subdivision_code: g.subdivision_code().map(str::to_owned),
            }
            .normalized()
        }),
        multi_value_answer: r.multi_value_answer().unwrap_or(false),
        health_check_id: r.health_check_id().map(str::to_owned),
    }
}

fn invalid(what: &str, e: impl std::fmt::Display) -> ActionError {
    ActionError::invalid_input(format!("cannot build {what}: {e}"))
}

fn record_to_sdk(r: &RecordSet) -> Result<ResourceRecordSet, ActionError> {
    let mut b = ResourceRecordSet::builder()
        .name(&r.name)
        .r#type(RrType::from(r.rtype.as_str()));
    if let Some(ttl) = r.ttl {
        b = b.ttl(ttl);
    }
    for v in &r.values {
        b = b.resource_records(
            ResourceRecord::builder()
                .value(v)
                .build()
                .map_err(|e| invalid("a resource record", e))?,
        );
    }
    if let Some(a) = &r.alias {
        b = b.alias_target(
            r53::AliasTarget::builder()
                .hosted_zone_id(&a.hosted_zone_id)
                .dns_name(&a.dns_name)
                .evaluate_target_health(a.evaluate_target_health)
                .build()
                .map_err(|e| invalid("an alias target", e))?,
        );
    }
    if let Some(id) = &r.set_identifier {
        b = b.set_identifier(id);
    }
    if let Some(w) = r.weight {
        b = b.weight(w);
    }
    if let Some(region) = &r.region {
        b = b.region(ResourceRecordSetRegion::from(region.as_str()));
    }
    if let Some(f) = &r.failover {
        b = b.failover(ResourceRecordSetFailover::from(f.as_str()));
    }
    if let Some(g) = &r.geo_location {
        b = b.geo_location(
            r53::GeoLocation::builder()
                .set_continent_code(g.continent_code.clone())
                .set_country_code(g.country_code.clone())
                .set_subdivision_code(g.subdivision_code.clone())
                .build(),
        );
    }
    if r.multi_value_answer {
        b = b.multi_value_answer(true);
    }
    if let Some(h) = &r.health_check_id {
        b = b.health_check_id(h);
    }
    b.build().map_err(|e| invalid("a record set", e))
}

fn change_info(info: Option<&r53::ChangeInfo>, operation: &str) -> Result<ChangeInfo, ActionError> {
    let info = info.ok_or_else(|| {
        ActionError::new(ErrorKind::Other, "the answer has no ChangeInfo").with_operation(operation)
    })?;
    Ok(ChangeInfo {
        id: strip(info.id(), "/change/"),
        status: info.status().as_str().to_owned(),
    })
}

/// Whether `zone` is an id (`Z...`, `/hostedzone/Z...`) rather than a name.
pub(crate) fn is_zone_id(zone: &str) -> bool {
    zone.starts_with("/hostedzone/")
        || (!zone.contains('.') && zone.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[async_trait]
impl Route53Api for SdkRoute53 {
    async fn find_zone(&self, zone: &str) -> Result<HostedZone, ActionError> {
        if is_zone_id(zone) {
            let out = self
                .client()
                .await
                .get_hosted_zone()
                .id(strip(zone, "/hostedzone/"))
                .send()
                .await
                .or_action_error("GetHostedZone")?;
            return out.hosted_zone().map(zone_from_sdk).ok_or_else(|| {
                ActionError::new(ErrorKind::NotFound, format!("hosted zone {zone} not found"))
                    .with_operation("GetHostedZone")
            });
        }
        let name = normalize_name(zone);
        let out = self
            .client()
            .await
            .list_hosted_zones_by_name()
            .dns_name(&name)
            .max_items(10)
            .send()
            .await
            .or_action_error("ListHostedZonesByName")?;
        let found: Vec<HostedZone> = out
            .hosted_zones()
            .iter()
            .map(zone_from_sdk)
            .filter(|z| z.name == name)
            .collect();
        match found.as_slice() {
            [] => Err(ActionError::new(
                ErrorKind::NotFound,
                format!("hosted zone {name} not found"),
            )
            .with_operation("ListHostedZonesByName")),
            [one] => Ok(one.clone()),
            many => Err(ActionError::invalid_input(format!(
                "{} hosted zones are named {name} ({}): give the zone id",
                many.len(),
                many.iter()
                    .map(|z| format!("{}{}", z.id, if z.private { " private" } else { "" }))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .with_operation("ListHostedZonesByName")),
        }
    }

    async fn list_records(&self, zone_id: &str, name: &str) -> Result<Vec<RecordSet>, ActionError> {
        let name = normalize_name(name);
        let mut out = Vec::new();
        // From the first set whose name is >= `name` (no type: every type of the name); Route
        // 53 sorts by name with the labels reversed, then by type, so the sets of this name are
        // listed together and the first other name ends them.
        let mut next: (String, Option<RrType>, Option<String>) = (name.clone(), None, None);
        loop {
            let start = next.clone();
            let page = self
                .client()
                .await
                .list_resource_record_sets()
                .hosted_zone_id(zone_id)
                .start_record_name(&next.0)
                .set_start_record_type(next.1.take())
                .set_start_record_identifier(next.2.take())
                .send()
                .await
                .or_action_error("ListResourceRecordSets")?;
            for r in page.resource_record_sets() {
                let record = record_from_sdk(r);
                if record.name != name {
                    return Ok(out);
                }
                out.push(record);
            }
            match (page.is_truncated(), page.next_record_name()) {
                (true, Some(n)) if normalize_name(n) == name => {
                    let after = (
                        n.to_owned(),
                        page.next_record_type().cloned(),
                        page.next_record_identifier().map(str::to_owned),
                    );
                    // Route 53 always advances (a set with an identifier gets
                    // NextRecordIdentifier); an endpoint that does not would loop forever.
                    if after.1.is_some() && after == start {
                        return Err(ActionError::new(
                            ErrorKind::Other,
                            format!(
                                "ListResourceRecordSets of {name} does not advance past {}",
                                after.0
                            ),
                        )
                        .with_operation("ListResourceRecordSets"));
                    }
                    next = after;
                }
                _ => return Ok(out),
            }
        }
    }

    async fn change_records(
        &self,
        zone_id: &str,
        changes: Vec<RecordChange>,
        comment: &str,
    ) -> Result<ChangeInfo, ActionError> {
        let mut batch = ChangeBatch::builder().comment(comment);
        for c in &changes {
            let action = match c.action {
                ChangeAction::Create => r53::ChangeAction::Create,
                ChangeAction::Upsert => r53::ChangeAction::Upsert,
                ChangeAction::Delete => r53::ChangeAction::Delete,
            };
            batch = batch.changes(
                Change::builder()
                    .action(action)
                    .resource_record_set(record_to_sdk(&c.record)?)
                    .build()
                    .map_err(|e| invalid("a change", e))?,
            );
        }
        let out = self
            .client()
            .await
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(batch.build().map_err(|e| invalid("a change batch", e))?)
            .send()
            .await
            .or_action_error("ChangeResourceRecordSets")?;
        change_info(out.change_info(), "ChangeResourceRecordSets")
    }

    async fn get_change(&self, change_id: &str) -> Result<ChangeInfo, ActionError> {
        let out = self
            .client()
            .await
            .get_change()
            .id(change_id)
            .send()
            .await
            .or_action_error("GetChange")?;
        change_info(out.change_info(), "GetChange")
    }

    async fn health_check_status(
        &self,
        health_check_id: &str,
    ) -> Result<Vec<CheckerReport>, ActionError> {
        let out = self
            .client()
            .await
            .get_health_check_status()
            .health_check_id(health_check_id)
            .send()
            .await
            .or_action_error("GetHealthCheckStatus")?;
        Ok(out
            .health_check_observations()
            .iter()
            .map(|o| CheckerReport {
                region: o
                    .region()
                    .map(|r| r.as_str().to_owned())
                    .or_else(|| o.ip_address().map(str::to_owned))
                    .unwrap_or_default(),
                status: o
                    .status_report()
                    .and_then(|s| s.status())
                    .unwrap_or_default()
                    .to_owned(),
            })
            .collect())
    }
}

#[cfg(test)]
#[path = "sdk_tests.rs"]
mod tests;
