//! `route53.change_records`: one batched `ChangeResourceRecordSets`, waited until `INSYNC`, with
//! what was there before captured for rollback.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, StepSpec,
};
use serde::Deserialize;

use crate::port::{
    AliasTarget, ChangeAction, HostedZone, RecordChange, RecordSet, Route53Api, normalize_name,
};
use crate::records::{batches, record_problem, submit, wait_insync};
use crate::sdk::is_zone_id;

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
    pub alias: Option<AliasTarget>,
    /// The set identifier of a weighted or failover record.
    #[serde(default)]
    pub set_identifier: Option<String>,
    /// The weight (0-255) of a weighted record.
    #[serde(default)]
    pub weight: Option<i64>,
    /// `PRIMARY` or `SECONDARY` for a failover record.
    #[serde(default)]
    pub failover: Option<String>,
    /// The health check id the record is tied to.
    #[serde(default)]
    pub health_check: Option<String>,
}

impl ChangeParams {
    /// The change, with names normalised.
    pub fn to_change(&self) -> RecordChange {
        RecordChange {
            action: self.action,
            record: RecordSet {
                name: normalize_name(&self.name),
                rtype: self.rtype.to_ascii_uppercase(),
                ttl: self.ttl,
                values: self.values.clone(),
                alias: self.alias.clone().map(|mut a| {
                    a.dns_name = normalize_name(&a.dns_name);
                    a
                }),
                set_identifier: self.set_identifier.clone(),
                weight: self.weight,
                failover: self.failover.as_ref().map(|f| f.to_ascii_uppercase()),
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
    /// {action = UPSERT|CREATE|DELETE, name, type, ttl, values | alias = {hosted_zone_id,
    /// dns_name, evaluate_target_health}, set_identifier, weight, failover, health_check}
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
///   (and every deleted one absent) -> done; a CREATE of a record that exists with other
///   content, or a DELETE that does not match the live record exactly -> blocked.
/// - `execute`: captures the live records, submits only the changes not already in effect
///   (throttling backed off), waits until `INSYNC`. Executed again after a failure, it does
///   not resubmit what is already in effect and resumes waiting.
/// - `rollback`: puts back what was there before each change it submitted (UPSERT of the old
///   record, or DELETE of a record it created).
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
            .map(|c| c.to_change().record)
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
        Ok(())
    }

    fn build(step: StepSpec<ChangeRecordsParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        // Route 53 is global: the resource has no region.
        let port = ports.get(step.region());
        Ok(Self::new(step.id, step.params, port))
    }
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
        match self
            .changes
            .iter()
            .find_map(|c| record_problem(&c.record, &zone.name))
        {
            Some(problem) => Ok(Err(problem)),
            None => Ok(Ok(zone)),
        }
    }

    async fn live(
        &self,
        ctx: &Context,
        zone_id: &str,
        record: &RecordSet,
    ) -> Result<Option<RecordSet>, ActionError> {
        let found = ctx
            .bounded(
                self.base
                    .port
                    .list_records(zone_id, &record.name, &record.rtype),
            )
            .await?;
        Ok(found.into_iter().find(|r| r.same_record(record)))
    }

    async fn observe(&self, ctx: &Context, zone_id: &str) -> Result<Vec<Observed>, ActionError> {
        let mut out = Vec::with_capacity(self.changes.len());
        for change in &self.changes {
            let live = self.live(ctx, zone_id, &change.record).await?;
            out.push(Observed {
                change: change.clone(),
                live,
            });
        }
        Ok(out)
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

    async fn submit_all(
        &self,
        ctx: &Context,
        zone: &HostedZone,
        changes: Vec<(RecordChange, Option<RecordSet>)>,
        record_as_applied: bool,
    ) -> Result<Vec<String>, ActionError> {
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
        let observed = self.observe(ctx, &zone.id).await?;
        if observed.iter().all(Observed::in_effect) {
            return Ok(Check::Done {
                detail: format!(
                    "all {} record change(s) are in effect in {}",
                    observed.len(),
                    zone.name
                ),
                outputs: self.outputs(&zone),
            });
        }
        let blockers: Vec<String> = observed.iter().filter_map(Observed::blocker).collect();
        if !blockers.is_empty() {
            return Ok(Check::blocked(blockers.join("; ")));
        }
        let todo: Vec<String> = observed
            .iter()
            .filter(|o| !o.in_effect())
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
        let observed = self.observe(ctx, &zone.id).await?;
        let blockers: Vec<String> = observed.iter().filter_map(Observed::blocker).collect();
        if !blockers.is_empty() {
            return Err(ActionError::precondition(blockers.join("; ")));
        }
        // Only what is not in effect yet: a re-execute after a failure does not resubmit what
        // an earlier attempt already changed (and `before` stays the one captured then).
        let pending: Vec<(RecordChange, Option<RecordSet>)> = observed
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
        let observed = self.observe(ctx, &zone.id).await?;
        let missing: Vec<String> = observed
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
                observed.len(),
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
