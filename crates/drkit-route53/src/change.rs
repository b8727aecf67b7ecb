//! `route53.change_records`: one batched `ChangeResourceRecordSets`, waited until `INSYNC`, with
//! what was there before captured for rollback.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, StepSpec,
};
use serde::Deserialize;

use crate::port::{
    AliasTarget, ChangeAction, GeoLocation, HostedZone, RecordChange, RecordSet, Route53Api,
    normalize_name, normalize_zone_id,
};
use crate::records::{AliasKind, batches, record_problem, submit, wait_insync};
use crate::sdk::is_zone_id;

/// The alias target of a wanted change.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AliasParams {
    /// The target's hosted zone. Optional for CloudFront (`Z2FDTNDATAQYW2`), Global
    /// Accelerator (`Z2BJ6XQ5FK7U4H`) and another record of the same zone (the zone's id);
    /// required for a load balancer (its `CanonicalHostedZoneId`), an S3 website endpoint, API
    /// Gateway, a VPC endpoint or Elastic Beanstalk (their region's zone).
    #[serde(default)]
    pub hosted_zone_id: Option<String>,
    /// The target's DNS name (`d111111abcdef8.cloudfront.net`,
    /// `dualstack.my-lb-1234.us-east-1.elb.amazonaws.com`, `s3-website-us-east-1.amazonaws.com`,
    /// `api.example.com` for a record of the zone, ...).
    pub dns_name: String,
    /// Whether Route 53 evaluates the target's health (never for CloudFront).
    #[serde(default)]
    pub evaluate_target_health: bool,
}

impl AliasParams {
    /// The target, its zone id filled in where AWS documents a fixed one; empty for "the
    /// record's own zone" (filled in once the zone is known).
    fn to_target(&self) -> AliasTarget {
        let zone_id = self
            .hosted_zone_id
            .as_deref()
            .map(normalize_zone_id)
            .or_else(|| {
                AliasKind::of(&self.dns_name)
                    .fixed_zone_id()
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        let mut target = AliasTarget::new(zone_id, &self.dns_name);
        target.evaluate_target_health = self.evaluate_target_health;
        target
    }
}

/// One wanted change of `route53.change_records`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ChangeParams {
    /// `UPSERT`, `CREATE` or `DELETE`.
    pub action: ChangeAction,
    /// The record name, e.g. `api-dr.example.com` (inside the zone).
    pub name: String,
    /// The record type, e.g. `A`, `CNAME`.
    #[serde(rename = "type")]
    pub rtype: String,
    /// The TTL in seconds (not for an alias).
    #[serde(default)]
    pub ttl: Option<i64>,
    /// The values (or give `alias`).
    #[serde(default)]
    pub values: Vec<String>,
    /// An alias target (or give `values`).
    #[serde(default)]
    pub alias: Option<AliasParams>,
    /// The set identifier of a weighted, latency, failover, geolocation or multivalue answer
    /// record.
    #[serde(default)]
    pub set_identifier: Option<String>,
    /// The weight (0-255) of a weighted record.
    #[serde(default)]
    pub weight: Option<i64>,
    /// The AWS region of a latency record (e.g. `us-west-2`).
    #[serde(default)]
    pub region: Option<String>,
    /// `PRIMARY` or `SECONDARY` for a failover record.
    #[serde(default)]
    pub failover: Option<String>,
    /// The location of a geolocation record: `{continent_code}`, `{country_code}` (`*`: the
    /// default) or `{country_code = "US", subdivision_code}`.
    #[serde(default)]
    pub geo_location: Option<GeoLocation>,
    /// `true` for a multivalue answer record.
    #[serde(default)]
    pub multi_value_answer: bool,
    /// The health check id the record is tied to.
    #[serde(default)]
    pub health_check: Option<String>,
}

impl ChangeParams {
    /// The change, with names normalised. An alias to another record of the zone given
    /// without `hosted_zone_id` has an empty one until the zone is known.
    pub fn to_change(&self) -> RecordChange {
        RecordChange {
            action: self.action,
            record: RecordSet {
                name: normalize_name(&self.name),
                rtype: self.rtype.to_ascii_uppercase(),
                ttl: self.ttl,
                values: self.values.clone(),
                alias: self.alias.as_ref().map(AliasParams::to_target),
                set_identifier: self.set_identifier.clone(),
                weight: self.weight,
                region: self.region.as_ref().map(|r| r.trim().to_ascii_lowercase()),
                failover: self.failover.as_ref().map(|f| f.to_ascii_uppercase()),
                geo_location: self.geo_location.as_ref().map(GeoLocation::normalized),
                multi_value_answer: self.multi_value_answer,
                health_check_id: self.health_check.clone(),
            },
        }
    }
}

/// The parameters of `route53.change_records`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ChangeRecordsParams {
    /// The hosted zone id (`Z...`) or name.
    pub zone: String,
    /// {action = UPSERT|CREATE|DELETE, name, type, ttl, values | alias = {hosted_zone_id?,
    /// dns_name, evaluate_target_health?}, set_identifier, weight | region | failover |
    /// geo_location = {continent_code | country_code, subdivision_code?} |
    /// multi_value_answer, health_check}
    #[param(ty = "list of tables")]
    pub changes: Vec<ChangeParams>,
    /// The batch comment (default `drkit <step>`).
    #[serde(default)]
    pub comment: Option<String>,
}

impl ChangeRecordsParams {
    /// `changes` in the hosted zone `zone` (its id or its name).
    pub fn new(zone: impl Into<String>, changes: Vec<ChangeParams>) -> Self {
        Self {
            zone: zone.into(),
            changes,
            comment: None,
        }
    }
}

/// One applied change and the record before it, as recorded in the `undo` output.
#[derive(serde::Serialize, serde::Deserialize)]
struct Undo {
    change: RecordChange,
    before: Option<RecordSet>,
}

/// What this action did, so a re-execute does not repeat it and a rollback can undo it.
#[derive(Debug, Default)]
struct State {
    /// Changes submitted, with the record as it was before (None: absent).
    applied: Vec<(RecordChange, Option<RecordSet>)>,
    /// The change ids of the submitted batches.
    change_ids: Vec<String>,
}

/// Changes record sets of a hosted zone (the seed's DNS failover: point `api` at the DR
/// region), in one `ChangeResourceRecordSets` request unless AWS's limits force more, and
/// waits until the change is `INSYNC`.
///
/// - `check`: the zone exists, the records are valid in it; every wanted record already live
///   (and every deleted one absent) -> done; blocked, naming the record sets in the way, when
///   Route 53 would refuse the batch (`InvalidChangeBatch`): a CREATE of a record that exists
///   with other content, a DELETE that does not match the live record exactly, a CNAME beside
///   other records of its name (or a record beside a CNAME), record sets of one name and type
///   with different routing policies, two latency records for one region or two geolocation
///   records for one location, an alias to a record of the zone that does not exist. The
///   record sets of each name are read with `ListResourceRecordSets` (every page).
/// - `execute`: captures the live records, submits only the changes not already in effect,
///   DELETEs first (Route 53 applies a batch as one transaction, in order: a type change is a
///   DELETE and a CREATE), throttling backed off, waits until `INSYNC`. Executed again after a
///   failure, it does not resubmit what is already in effect and resumes waiting.
/// - `rollback`: puts back what was there before each change it submitted (UPSERT of the old
///   record with all its fields, region and location included, or DELETE of a record it
///   created), DELETEs first.
#[derive(Debug, HasBase)]
pub struct ChangeRecords {
    base: Base<Self>,
    /// The wanted changes, names normalised.
    changes: Vec<RecordChange>,
    state: Mutex<State>,
}

impl ActionKind for ChangeRecords {
    const KIND: &'static str = "route53.change_records";
    const SUMMARY: &'static str = "Change record sets in one batch (split only at AWS limits), \
                                   wait until INSYNC; rollback restores the previous records";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "route53:GetHostedZone",
        "route53:ListHostedZonesByName",
        "route53:ListResourceRecordSets",
        "route53:ChangeResourceRecordSets",
        "route53:GetChange",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("zone_id", "the hosted zone id"),
        OutputDoc::new("zone_name", "the zone name"),
        OutputDoc::new(
            "change_ids",
            "the Route 53 change ids submitted by this step",
        ),
        OutputDoc::new("changes_submitted", "how many changes this step submitted"),
        OutputDoc::new(
            "records",
            "`ACTION name type [set id]` of every wanted change",
        ),
        OutputDoc::new(
            "undo",
            "each change this step submitted with the record before it (null: absent); what a \
             rollback restores",
        ),
    ];
    type Params = ChangeRecordsParams;
    type Port = dyn Route53Api;
    type Ports = PortFactory<dyn Route53Api>;

    /// Types and values always; names against the zone when the zone is given by name (given
    /// by id, `check` validates them once the zone's name is known).
    fn validate(params: &ChangeRecordsParams) -> Result<(), ParamError> {
        if params.zone.trim().is_empty() {
            return Err(ParamError::new("zone", "must not be empty"));
        }
        if params.changes.is_empty() {
            return Err(ParamError::new("changes", "give at least one change"));
        }
        let zone = (!is_zone_id(&params.zone)).then(|| normalize_name(&params.zone));
        let records: Vec<RecordSet> = params
            .changes
            .iter()
            .map(|c| {
                let mut record = c.to_change().record;
                // Given by id, the zone is the one an alias without `hosted_zone_id` targets
                // (whether its target lies in the zone, `check` sees once the name is known).
                if zone.is_none()
                    && let Some(alias) = &mut record.alias
                    && alias.hosted_zone_id.is_empty()
                {
                    alias.hosted_zone_id = normalize_zone_id(&params.zone);
                }
                record
            })
            .collect();
        for (i, record) in records.iter().enumerate() {
            // Without the zone's name, check the record against its parent domain (so not as
            // an apex); `check` validates it against the zone once the zone's name is known.
            let against = zone.clone().unwrap_or_else(|| {
                let name = &record.name;
                name.split_once('.')
                    .map_or(name.as_str(), |(_, parent)| parent)
                    .to_owned()
            });
            if let Some(problem) = record_problem(record, &against) {
                return Err(ParamError::new(format!("changes[{i}]"), problem));
            }
        }
        for (i, record) in records.iter().enumerate() {
            if records[..i].iter().any(|r| r.same_record(record)) {
                return Err(ParamError::new(
                    format!("changes[{i}]"),
                    format!("{} is changed twice", record.label()),
                ));
            }
        }
        // The wanted records among themselves (the live ones are seen by `check`).
        let changes: Vec<RecordChange> =
            params.changes.iter().map(ChangeParams::to_change).collect();
        match conflicts(&after(&Live::new(), &changes), &changes).first() {
            Some(conflict) => Err(ParamError::new("changes", conflict.clone())),
            None => Ok(()),
        }
    }

    fn build(step: StepSpec<ChangeRecordsParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        // Route 53 is global: the resource has no region.
        let port = ports.get(step.region());
        Ok(Self::new(step.id, step.params, port))
    }
}

/// The record sets of each name a step concerns, by name.
type Live = BTreeMap<String, Vec<RecordSet>>;

/// `changes` in the order they are submitted: DELETEs first (stable otherwise). Route 53
/// applies a batch as one transaction, in order: replacing an A record by a CNAME (or rolling
/// that back) goes through only with the DELETE before the CREATE.
fn deletes_first<T>(mut changes: Vec<T>, change: impl Fn(&T) -> &RecordChange) -> Vec<T> {
    changes.sort_by_key(|c| change(c).action != ChangeAction::Delete);
    changes
}

/// `live` once `changes` are applied.
fn after(live: &Live, changes: &[RecordChange]) -> Live {
    let mut out = live.clone();
    for c in deletes_first(changes.iter().collect(), |c| c) {
        let at = out.entry(c.record.name.clone()).or_default();
        at.retain(|r| !r.same_record(&c.record));
        if c.action != ChangeAction::Delete {
            at.push(c.record.clone());
        }
    }
    out
}

/// Why Route 53 would refuse the records `changes` write beside the other record sets of their
/// names (`after`: the sets once the batch is applied), naming the record set in the way.
fn conflicts(after: &Live, changes: &[RecordChange]) -> Vec<String> {
    let mut out = Vec::new();
    for c in changes.iter().filter(|c| c.action != ChangeAction::Delete) {
        let r = &c.record;
        let what = format!("{} {}", c.action.as_str(), r.label());
        let others: Vec<&RecordSet> = after
            .get(&r.name)
            .into_iter()
            .flatten()
            .filter(|o| !o.same_record(r))
            .collect();
        if let Some(o) = others
            .iter()
            .find(|o| (o.rtype == "CNAME") != (r.rtype == "CNAME"))
        {
            out.push(if r.rtype == "CNAME" {
                format!(
                    "{what}: a CNAME allows no other record of its name, and {} ({}) is there; \
                     DELETE it in the same change (Route 53 refuses with InvalidChangeBatch)",
                    o.label(),
                    o.describe()
                )
            } else {
                format!(
                    "{what}: {} ({}) is a CNAME, which allows no other record of its name; DELETE \
                     it in the same change (Route 53 refuses with InvalidChangeBatch)",
                    o.label(),
                    o.describe()
                )
            });
            continue;
        }
        let same_type = || others.iter().filter(|o| o.rtype == r.rtype);
        if let Some(o) = same_type().find(|o| o.routing_policy() != r.routing_policy()) {
            out.push(format!(
                "{what}: {} is a {} record ({}); the record sets of one name and type share one \
                 routing policy, not {} and {} (Route 53 refuses with InvalidChangeBatch)",
                o.label(),
                o.routing_policy(),
                o.describe(),
                o.routing_policy(),
                r.routing_policy()
            ));
        } else if let Some(o) = same_type().find(|o| r.region.is_some() && o.region == r.region) {
            out.push(format!(
                "{what}: {} already answers for region {} (one latency record per region)",
                o.label(),
                o.region.as_deref().unwrap_or_default()
            ));
        } else if let Some(o) =
            same_type().find(|o| r.geo_location.is_some() && o.geo_location == r.geo_location)
        {
            out.push(format!(
                "{what}: {} already answers for {} (one geolocation record per location)",
                o.label(),
                o.geo_location
                    .as_ref()
                    .map(GeoLocation::describe)
                    .unwrap_or_default()
            ));
        }
    }
    out
}

/// Why an alias among `changes` to another record of `zone` would be refused: its target does
/// not exist (with the alias's type) once the batch is applied.
fn missing_alias_targets(after: &Live, changes: &[RecordChange], zone: &HostedZone) -> Vec<String> {
    changes
        .iter()
        .filter(|c| c.action != ChangeAction::Delete)
        .filter_map(|c| {
            let alias = c.record.alias.as_ref()?;
            if alias.hosted_zone_id != normalize_zone_id(&zone.id) {
                return None;
            }
            let found = after
                .get(&alias.dns_name)
                .into_iter()
                .flatten()
                .any(|t| t.rtype == c.record.rtype);
            (!found).then(|| {
                format!(
                    "{} {}: its alias target {} {} does not exist in {} (Route 53 refuses an alias \
                     to a missing record)",
                    c.action.as_str(),
                    c.record.label(),
                    alias.dns_name,
                    c.record.rtype,
                    zone.name
                )
            })
        })
        .collect()
}

/// What is wrong with `record` in `zone` beyond its names: an alias naming this zone's id must
/// point inside it; no alias to CloudFront in a private zone.
fn zone_problem(record: &RecordSet, zone: &HostedZone) -> Option<String> {
    let alias = record.alias.as_ref()?;
    let zone_id = normalize_zone_id(&zone.id);
    if alias.hosted_zone_id == zone_id
        && alias.dns_name != zone.name
        && !alias.dns_name.ends_with(&format!(".{}", zone.name))
    {
        return Some(format!(
            "{}: its alias target {} does not lie within zone {} ({zone_id}); an alias to another \
             record must stay in its zone",
            record.label(),
            alias.dns_name,
            zone.name
        ));
    }
    if zone.private && AliasKind::of(&alias.dns_name) == AliasKind::CloudFront {
        return Some(format!(
            "{}: an alias to a CloudFront distribution cannot be made in private zone {}",
            record.label(),
            zone.name
        ));
    }
    None
}

/// A change and the live record it concerns.
struct Observed {
    change: RecordChange,
    live: Option<RecordSet>,
}

impl Observed {
    fn in_effect(&self) -> bool {
        match self.change.action {
            ChangeAction::Delete => self.live.is_none(),
            ChangeAction::Create | ChangeAction::Upsert => self
                .live
                .as_ref()
                .is_some_and(|l| l.same_content(&self.change.record)),
        }
    }

    fn blocker(&self) -> Option<String> {
        let live = self.live.as_ref()?;
        if self.in_effect() {
            return None;
        }
        match self.change.action {
            ChangeAction::Create => Some(format!(
                "CREATE {}: the record exists with other content ({}); use UPSERT",
                self.change.record.label(),
                live.describe()
            )),
            ChangeAction::Delete if !live.same_content(&self.change.record) => Some(format!(
                "DELETE {}: must match the live record exactly ({}), not ({})",
                self.change.record.label(),
                live.describe(),
                self.change.record.describe()
            )),
            ChangeAction::Delete | ChangeAction::Upsert => None,
        }
    }

    fn text(&self) -> String {
        match self.change.action {
            ChangeAction::Delete => format!("DELETE {}", self.change.record.label()),
            action => format!(
                "{} {} ({}{})",
                action.as_str(),
                self.change.record.label(),
                self.change.record.describe(),
                match &self.live {
                    Some(l) => format!("; was {}", l.describe()),
                    None => String::new(),
                }
            ),
        }
    }
}

/// The wanted changes against the live record sets.
struct Seen {
    observed: Vec<Observed>,
    /// Why Route 53 would refuse the batch: conflicts with the record sets of the names.
    conflicts: Vec<String>,
}

impl Seen {
    fn in_effect(&self) -> bool {
        self.observed.iter().all(Observed::in_effect)
    }

    fn blockers(&self) -> Vec<String> {
        self.observed
            .iter()
            .filter_map(Observed::blocker)
            .chain(self.conflicts.iter().cloned())
            .collect()
    }
}

impl ChangeRecords {
    /// A step `id` with `params` (validated by the registry), talking to Route 53 through `api`.
    pub fn new(
        id: impl Into<String>,
        params: ChangeRecordsParams,
        api: Arc<dyn Route53Api>,
    ) -> Self {
        let changes = params.changes.iter().map(ChangeParams::to_change).collect();
        let target = Resource::new("route53", "hostedzone", params.zone.clone());
        Self {
            base: Base::new(id, params, target, api),
            changes,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn comment(&self) -> String {
        self.base
            .params
            .comment
            .clone()
            .unwrap_or_else(|| format!("drkit {}", self.base.id))
    }

    /// The wanted changes in `zone`: an alias to another record of the zone gets its id.
    fn changes_in(&self, zone: &HostedZone) -> Vec<RecordChange> {
        let mut changes = self.changes.clone();
        for c in &mut changes {
            if let Some(alias) = &mut c.record.alias
                && alias.hosted_zone_id.is_empty()
            {
                alias.hosted_zone_id = normalize_zone_id(&zone.id);
            }
        }
        changes
    }

    /// The zone, or why the step cannot run (missing zone, a record outside it).
    async fn zone(&self, ctx: &Context) -> Result<Result<HostedZone, String>, ActionError> {
        let zone = match ctx
            .bounded(self.base.port.find_zone(&self.base.params.zone))
            .await
        {
            Ok(zone) => zone,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Err(format!(
                    "hosted zone {} does not exist",
                    self.base.params.zone
                )));
            }
            Err(e) => return Err(e),
        };
        match self.changes_in(&zone).iter().find_map(|c| {
            record_problem(&c.record, &zone.name).or_else(|| zone_problem(&c.record, &zone))
        }) {
            Some(problem) => Ok(Err(problem)),
            None => Ok(Ok(zone)),
        }
    }

    /// The live record set `record` is (same name, type and set identifier), if any.
    async fn live(
        &self,
        ctx: &Context,
        zone_id: &str,
        record: &RecordSet,
    ) -> Result<Option<RecordSet>, ActionError> {
        let found = ctx
            .bounded(self.base.port.list_records(zone_id, &record.name))
            .await?;
        Ok(found.into_iter().find(|r| r.same_record(record)))
    }

    /// Reads the record sets of every name the changes concern (and of the targets of aliases
    /// to records of the zone), once each.
    async fn observe(&self, ctx: &Context, zone: &HostedZone) -> Result<Seen, ActionError> {
        let changes = self.changes_in(zone);
        let zone_id = normalize_zone_id(&zone.id);
        let mut names: Vec<&str> = changes.iter().map(|c| c.record.name.as_str()).collect();
        names.extend(changes.iter().filter_map(|c| {
            c.record
                .alias
                .as_ref()
                .filter(|a| a.hosted_zone_id == zone_id)
                .map(|a| a.dns_name.as_str())
        }));
        names.sort_unstable();
        names.dedup();
        let mut live = Live::new();
        for name in names {
            let sets = ctx
                .bounded(self.base.port.list_records(&zone.id, name))
                .await?;
            live.insert(name.to_owned(), sets);
        }
        let after = after(&live, &changes);
        let mut conflicts = conflicts(&after, &changes);
        conflicts.extend(missing_alias_targets(&after, &changes, zone));
        let observed = changes
            .into_iter()
            .map(|change| {
                let now = live
                    .get(&change.record.name)
                    .and_then(|sets| sets.iter().find(|r| r.same_record(&change.record)))
                    .cloned();
                Observed { change, live: now }
            })
            .collect();
        Ok(Seen {
            observed,
            conflicts,
        })
    }

    fn outputs(&self, zone: &HostedZone) -> Outputs {
        let state = self.state();
        Outputs::new()
            .with("zone_id", zone.id.clone())
            .with("zone_name", zone.name.clone())
            .with("change_ids", state.change_ids.clone())
            .with("changes_submitted", state.applied.len())
            // What a rollback needs when the instance that made the changes is gone (a resume
            // in another process): each change with the record as it was before.
            .with(
                "undo",
                serde_json::to_value(
                    state
                        .applied
                        .iter()
                        .map(|(change, before)| Undo {
                            change: change.clone(),
                            before: before.clone(),
                        })
                        .collect::<Vec<_>>(),
                )
                .unwrap_or_default(),
            )
            .with(
                "records",
                self.changes
                    .iter()
                    .map(|c| format!("{} {}", c.action.as_str(), c.record.label()))
                    .collect::<Vec<_>>(),
            )
    }

    async fn wait_all(&self, ctx: &Context) -> Result<(), ActionError> {
        let ids = self.state().change_ids.clone();
        for id in ids {
            wait_insync(ctx, self.base.port.as_ref(), &self.base.wait, &id).await?;
        }
        Ok(())
    }

    /// Submits `changes` (each with the record before it), DELETEs first, in as few batches as
    /// AWS's limits allow; remembers them as applied when `record_as_applied`.
    async fn submit_all(
        &self,
        ctx: &Context,
        zone: &HostedZone,
        changes: Vec<(RecordChange, Option<RecordSet>)>,
        record_as_applied: bool,
    ) -> Result<Vec<String>, ActionError> {
        let changes = deletes_first(changes, |(c, _)| c);
        let befores: Vec<_> = changes.iter().map(|(_, b)| b.clone()).collect();
        let mut befores = befores.into_iter();
        let mut ids = Vec::new();
        let comment = self.comment();
        for batch in batches(changes.into_iter().map(|(c, _)| c).collect()) {
            let n = batch.len();
            let info = submit(
                ctx,
                self.base.port.as_ref(),
                &zone.id,
                batch.clone(),
                &comment,
            )
            .await?;
            ctx.progress(format!(
                "ChangeResourceRecordSets accepted {n} change(s) in {}: change {} ({})",
                zone.name, info.id, info.status
            ));
            if record_as_applied {
                let mut state = self.state();
                for change in batch {
                    let before = befores.next().flatten();
                    state.applied.push((change, before));
                }
                state.change_ids.push(info.id.clone());
            }
            ids.push(info.id);
        }
        Ok(ids)
    }
}

#[async_trait]
impl Act for ChangeRecords {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let zone = match self.zone(ctx).await? {
            Ok(zone) => zone,
            Err(reason) => return Ok(Check::blocked(reason)),
        };
        let seen = self.observe(ctx, &zone).await?;
        if seen.in_effect() {
            return Ok(Check::Done {
                detail: format!(
                    "all {} record change(s) are in effect in {}",
                    seen.observed.len(),
                    zone.name
                ),
                outputs: self.outputs(&zone),
            });
        }
        let blockers = seen.blockers();
        if !blockers.is_empty() {
            return Ok(Check::blocked(blockers.join("; ")));
        }
        let todo: Vec<String> = deletes_first(
            seen.observed.iter().filter(|o| !o.in_effect()).collect(),
            |o| &o.change,
        )
        .into_iter()
        .map(Observed::text)
        .collect();
        Ok(Check::ready(format!(
            "in {}: {}",
            zone.name,
            todo.join("; ")
        )))
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let zone = self.zone(ctx).await?.map_err(ActionError::precondition)?;
        let seen = self.observe(ctx, &zone).await?;
        if !seen.in_effect() {
            let blockers = seen.blockers();
            if !blockers.is_empty() {
                return Err(ActionError::precondition(blockers.join("; ")));
            }
        }
        // Only what is not in effect yet: a re-execute after a failure does not resubmit what
        // an earlier attempt already changed (and `before` stays the one captured then).
        let pending: Vec<(RecordChange, Option<RecordSet>)> = seen
            .observed
            .into_iter()
            .filter(|o| !o.in_effect())
            .map(|o| (o.change, o.live))
            .collect();
        if pending.is_empty() {
            ctx.progress("every record change is already in effect");
        } else {
            self.submit_all(ctx, &zone, pending, true).await?;
        }
        self.wait_all(ctx).await?;
        Ok(self.outputs(&zone))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let zone = self.zone(ctx).await?.map_err(ActionError::postcondition)?;
        let seen = self.observe(ctx, &zone).await?;
        let missing: Vec<String> = seen
            .observed
            .iter()
            .filter(|o| !o.in_effect())
            .map(|o| match &o.live {
                Some(l) => format!("{} is {}", o.change.record.label(), l.describe()),
                None => format!("{} is absent", o.change.record.label()),
            })
            .collect();
        if missing.is_empty() {
            Ok(format!(
                "all {} record change(s) are in effect in {}",
                seen.observed.len(),
                zone.name
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "record changes not in effect: {}",
                missing.join("; ")
            )))
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let mut applied = self.state().applied.clone();
        if applied.is_empty() {
            // After a resume: what the step recorded.
            applied = ctx
                .outputs_of(&self.base.id)
                .and_then(|o| o.get("undo"))
                .and_then(|v| serde_json::from_value::<Vec<Undo>>(v.clone()).ok())
                .unwrap_or_default()
                .into_iter()
                .map(|u| (u.change, u.before))
                .collect();
        }
        if applied.is_empty() {
            return Err(ActionError::unsupported(
                "nothing to roll back: this action changed no record",
            ));
        }
        let zone = self.zone(ctx).await?.map_err(ActionError::precondition)?;
        let mut inverse = Vec::new();
        for (change, before) in applied.iter().rev() {
            let live = self.live(ctx, &zone.id, &change.record).await?;
            match (before, live) {
                (Some(before), Some(live)) if live.same_content(before) => {}
                (Some(before), _) => inverse.push((
                    RecordChange {
                        action: ChangeAction::Upsert,
                        record: before.clone(),
                    },
                    None,
                )),
                (None, Some(live)) => inverse.push((
                    RecordChange {
                        action: ChangeAction::Delete,
                        record: live,
                    },
                    None,
                )),
                (None, None) => {}
            }
        }
        if !inverse.is_empty() {
            let ids = self.submit_all(ctx, &zone, inverse, false).await?;
            for id in ids {
                wait_insync(ctx, self.base.port.as_ref(), &self.base.wait, &id).await?;
            }
        }
        *self.state() = State::default();
        ctx.progress(format!("record changes in {} rolled back", zone.name));
        Ok(())
    }
}

#[cfg(test)]
#[path = "change_tests.rs"]
mod tests;
