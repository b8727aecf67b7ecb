//! Registration of the Route 53 actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::AwsContext;
use drkit_core::ActionRef;
use drkit_core::registry::{
    ActionDescriptor, ActionSpec, BuildError, DuplicateKind, OutputDoc, ParamDoc, Registry,
    decode_params,
};

use crate::change::{self, ChangeRecords, ChangeRecordsParams};
use crate::health::{self, CheckHealth, CheckHealthParams};
use crate::port::{Route53Api, normalize_name};
use crate::records::record_problem;
use crate::sdk::{SdkRoute53, is_zone_id};

const fn out(name: &'static str, doc: &'static str) -> OutputDoc {
    OutputDoc { name, doc }
}

/// `route53.change_records`.
pub const CHANGE_RECORDS: ActionDescriptor = ActionDescriptor {
    kind: change::KIND,
    summary: "Change record sets in one batch (split only at AWS limits), wait until INSYNC; \
              rollback restores the previous records",
    mutates: true,
    iam_actions: change::IAM_ACTIONS,
    params: &[
        ParamDoc::required("zone", "string", "the hosted zone id (`Z...`) or name"),
        ParamDoc::required(
            "changes",
            "list of tables",
            "{action = UPSERT|CREATE|DELETE, name, type, ttl, values | alias = {hosted_zone_id, \
             dns_name, evaluate_target_health}, set_identifier, weight, failover, health_check}",
        ),
        ParamDoc::optional(
            "comment",
            "string",
            "the batch comment (default `drkit <step>`)",
        ),
    ],
    outputs: &[
        out("zone_id", "the hosted zone id"),
        out("zone_name", "the zone name"),
        out(
            "change_ids",
            "the Route 53 change ids submitted by this step",
        ),
        out("changes_submitted", "how many changes this step submitted"),
        out(
            "records",
            "`ACTION name type [set id]` of every wanted change",
        ),
        out(
            "undo",
            "each change this step submitted with the record before it (null: absent); what a \
             rollback restores",
        ),
    ],
};

/// `route53.check_health`.
pub const CHECK_HEALTH: ActionDescriptor = ActionDescriptor {
    kind: health::KIND,
    summary: "Read a Route 53 health check's checkers; blocked unless more than 18 % report success",
    mutates: false,
    iam_actions: health::IAM_ACTIONS,
    params: &[ParamDoc::required(
        "health_check_id",
        "string",
        "the health check id",
    )],
    outputs: &[
        out("status", "`healthy`"),
        out("healthy_checkers", "how many checkers report success"),
        out("checkers", "how many checkers reported"),
        out("failures", "`region: status` of the checkers that did not"),
    ],
};

/// Every Route 53 action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[CHANGE_RECORDS, CHECK_HEALTH];

/// Registers every Route 53 action, talking to AWS as configured in `aws` (Route 53 is global:
/// the step's region is ignored).
pub fn register(registry: &mut Registry, aws: &AwsContext) -> Result<(), DuplicateKind> {
    register_with(
        registry,
        Arc::new(SdkRoute53::from_config(aws.sdk_config())),
    )
}

/// Registers every Route 53 action over `api` (e.g. a mock in the embedder's tests).
pub fn register_with(
    registry: &mut Registry,
    api: Arc<dyn Route53Api>,
) -> Result<(), DuplicateKind> {
    let a = Arc::clone(&api);
    registry.register_fn(CHANGE_RECORDS, move |spec| {
        let params: ChangeRecordsParams = decode_params(spec)?;
        validate_changes(spec, &params)?;
        Ok(Arc::new(ChangeRecords::new(spec.id.clone(), params, Arc::clone(&a))) as ActionRef)
    })?;
    registry.register_fn(CHECK_HEALTH, move |spec| {
        let params: CheckHealthParams = decode_params(spec)?;
        if params.health_check_id.trim().is_empty() {
            return Err(BuildError::invalid(
                spec,
                Some("health_check_id"),
                "must not be empty",
            ));
        }
        Ok(Arc::new(CheckHealth::new(spec.id.clone(), params, Arc::clone(&api))) as ActionRef)
    })
}

/// Types and values always; names against the zone when the zone is given by name (given by
/// id, `check` validates them once the zone's name is known).
fn validate_changes(spec: &ActionSpec, params: &ChangeRecordsParams) -> Result<(), BuildError> {
    if params.zone.trim().is_empty() {
        return Err(BuildError::invalid(spec, Some("zone"), "must not be empty"));
    }
    if params.changes.is_empty() {
        return Err(BuildError::invalid(
            spec,
            Some("changes"),
            "give at least one change",
        ));
    }
    let zone = if is_zone_id(&params.zone) {
        None
    } else {
        Some(normalize_name(&params.zone))
    };
    for (i, c) in params.changes.iter().enumerate() {
        let change = c.to_change();
        // Without the zone's name, check the record against its parent domain (so not as an
        // apex); `check` validates it against the zone once the zone's name is known.
        let against = zone.clone().unwrap_or_else(|| {
            let name = &change.record.name;
            name.split_once('.')
                .map_or(name.as_str(), |(_, parent)| parent)
                .to_owned()
        });
        if let Some(problem) = record_problem(&change.record, &against) {
            return Err(BuildError::invalid(
                spec,
                Some(&format!("changes[{i}]")),
                problem,
            ));
        }
    }
    let mut seen = Vec::new();
    for (i, c) in params.changes.iter().enumerate() {
        let record = c.to_change().record;
        if seen
            .iter()
            .any(|r: &crate::RecordSet| r.same_record(&record))
        {
            return Err(BuildError::invalid(
                spec,
                Some(&format!("changes[{i}]")),
                format!("{} is changed twice", record.label()),
            ));
        }
        seen.push(record);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::port::MockRoute53Api;

    fn build(params: serde_json::Value) -> Result<ActionRef, BuildError> {
        let mut registry = Registry::new();
        register_with(&mut registry, Arc::new(MockRoute53Api::new())).unwrap();
        registry.build(&ActionSpec::new("dns", "route53.change_records", params))
    }

    #[test]
    fn builds_a_valid_change() {
        let action = build(json!({"zone": "example.com", "changes": [
            {"action": "UPSERT", "name": "api.example.com", "type": "A", "ttl": 60,
             "values": ["192.0.2.10"], "set_identifier": "dr", "weight": 100},
            {"action": "DELETE", "name": "old.example.com", "type": "CNAME", "ttl": 300,
             "values": ["x.example.net"]},
        ]}))
        .unwrap();
        assert_eq!(action.kind(), "route53.change_records");
        assert!(action.mutates());
        assert!(action.supports_rollback());
        assert_eq!(
            action.target().to_string(),
            "route53:hostedzone/example.com"
        );
    }

    #[test]
    fn bad_parameters_are_refused_before_any_call() {
        let cases = [
            (
                json!({"zone": "example.com", "changes": []}),
                "at least one change",
            ),
            (
                json!({"zone": "example.com", "changes": [{"action": "UPSERT", "name": "api.example.org", "type": "A", "ttl": 60, "values": ["192.0.2.1"]}]}),
                "parameter `changes[0]`: api.example.org. is not in zone example.com.",
            ),
            (
                json!({"zone": "example.com", "changes": [{"action": "MOVE", "name": "a.example.com", "type": "A", "ttl": 60, "values": ["192.0.2.1"]}]}),
                "unknown variant `MOVE`",
            ),
            (
                json!({"zone": "example.com", "changes": [{"action": "UPSERT", "name": "a.example.com", "type": "A", "ttl": 60, "values": ["192.0.2.1"], "weigth": 1}]}),
                "unknown field `weigth`",
            ),
            (
                json!({"zone": "Z123", "changes": [{"action": "UPSERT", "name": "a.example.com", "type": "A", "values": ["192.0.2.1"]}]}),
                "`ttl` is required",
            ),
            (
                json!({"zone": "example.com", "changes": [
                    {"action": "UPSERT", "name": "a.example.com", "type": "A", "ttl": 60, "values": ["192.0.2.1"]},
                    {"action": "DELETE", "name": "A.example.com.", "type": "a", "ttl": 60, "values": ["192.0.2.1"]}]}),
                "changed twice",
            ),
        ];
        for (params, expected) in cases {
            let err = build(params).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} lacks {expected}");
        }
    }

    #[test]
    fn the_health_check_is_read_only() {
        let mut registry = Registry::new();
        register_with(&mut registry, Arc::new(MockRoute53Api::new())).unwrap();
        let action = registry
            .build(&ActionSpec::new(
                "h",
                "route53.check_health",
                json!({"health_check_id": "abc"}),
            ))
            .unwrap();
        assert!(!action.mutates());
        assert_eq!(action.iam_actions(), ["route53:GetHealthCheckStatus"]);
    }
}

#[cfg(test)]
mod docs_tests {
    use super::DESCRIPTORS;

    /// docs/actions/storage-dns-cdn.md names every registered kind and each of its parameters.
    #[test]
    fn the_actions_page_documents_every_action() {
        drkit_core::registry::documented(
            "docs/actions/storage-dns-cdn.md",
            include_str!("../../../docs/actions/storage-dns-cdn.md"),
            DESCRIPTORS,
        )
        .unwrap();
    }
}
