//! Registration of the RDS actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::AwsContext;
use drkit_core::ActionRef;
use drkit_core::registry::{
    ActionDescriptor, ActionSpec, BuildError, DuplicateKind, OutputDoc, ParamDoc, Registry,
    decode_params,
};

use crate::failover::{self, FailoverDbCluster, FailoverDbClusterParams};
use crate::port::RdsApi;
use crate::sdk::SdkRds;

/// `rds.failover_db_cluster`.
pub const FAILOVER_DB_CLUSTER: ActionDescriptor = ActionDescriptor {
    kind: failover::KIND,
    summary: "Fail an Aurora DB cluster over to a reader and wait until the new writer serves",
    mutates: true,
    iam_actions: failover::IAM_ACTIONS,
    params: &[
        ParamDoc::required("cluster", "string", "the DB cluster identifier"),
        ParamDoc::optional(
            "target_instance",
            "string",
            "the reader to promote; RDS chooses by promotion tier when absent",
        ),
    ],
    outputs: &[
        OutputDoc {
            name: "writer",
            doc: "the writer instance after the failover",
        },
        OutputDoc {
            name: "previous_writer",
            doc: "the writer instance before the failover",
        },
        OutputDoc {
            name: "cluster_status",
            doc: "the cluster status at the end",
        },
    ],
};

/// Builds the RDS port for a step's region (`None`: the default region).
pub type RdsApiFactory = Arc<dyn Fn(Option<&str>) -> Arc<dyn RdsApi> + Send + Sync>;

/// Registers every RDS action, talking to AWS as configured in `aws`.
pub fn register(registry: &mut Registry, aws: &AwsContext) -> Result<(), DuplicateKind> {
    let aws = aws.clone();
    register_with(
        registry,
        Arc::new(move |region| {
            Arc::new(SdkRds::from_config(&aws.for_region(region))) as Arc<dyn RdsApi>
        }),
    )
}

/// Registers every RDS action with ports made by `api` (e.g. mocks in the embedder's tests).
pub fn register_with(registry: &mut Registry, api: RdsApiFactory) -> Result<(), DuplicateKind> {
    registry.register_fn(FAILOVER_DB_CLUSTER, move |spec| {
        let params: FailoverDbClusterParams = decode_params(spec)?;
        validate_identifier(spec, "cluster", &params.cluster)?;
        if let Some(target) = &params.target_instance {
            validate_identifier(spec, "target_instance", target)?;
        }
        let region = spec.region.as_deref();
        Ok(Arc::new(FailoverDbCluster::new(
            spec.id.clone(),
            params,
            api(region),
            region,
        )) as ActionRef)
    })
}

/// RDS identifiers: 1-63 letters, digits or hyphens; first a letter; no trailing hyphen and no
/// two hyphens in a row. Checked before any call so a typo fails at plan time, not mid-drill.
fn validate_identifier(spec: &ActionSpec, param: &str, value: &str) -> Result<(), BuildError> {
    let bad = |why: &str| {
        Err(BuildError::invalid(
            spec,
            Some(param),
            format!("`{value}` is not a valid RDS identifier: {why}"),
        ))
    };
    if value.is_empty() || value.len() > 63 {
        return bad("it must have 1 to 63 characters");
    }
    if !value.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return bad("it must start with a letter");
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return bad("only letters, digits and hyphens are allowed");
    }
    if value.ends_with('-') || value.contains("--") {
        return bad("it cannot end with a hyphen or contain two hyphens in a row");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::port::MockRdsApi;

    fn registry() -> Registry {
        let mut registry = Registry::new();
        register_with(
            &mut registry,
            Arc::new(|_| Arc::new(MockRdsApi::new()) as Arc<dyn RdsApi>),
        )
        .unwrap();
        registry
    }

    fn build(params: serde_json::Value) -> Result<ActionRef, BuildError> {
        registry().build(
            &ActionSpec::new("failover-db", "rds.failover_db_cluster", params)
                .in_region("us-west-2"),
        )
    }

    #[test]
    fn builds_with_the_step_region_on_the_resource() {
        let action =
            build(json!({"cluster": "mint-replica-cluster", "target_instance": "mint-2"})).unwrap();
        assert_eq!(action.kind(), "rds.failover_db_cluster");
        assert_eq!(action.id(), "failover-db");
        assert_eq!(
            action.target().to_string(),
            "rds:db-cluster/mint-replica-cluster@us-west-2"
        );
        assert!(action.mutates());
        assert!(action.iam_actions().contains(&"rds:FailoverDBCluster"));
    }

    #[test]
    fn bad_parameters_are_refused_before_any_call() {
        let cases = [
            (json!({}), "missing field `cluster`"),
            (
                json!({"cluster": 7}),
                "parameter `cluster`: invalid type: integer `7`, expected a string",
            ),
            (
                json!({"cluster": "c", "target": "x"}),
                "unknown field `target`, expected `cluster` or `target_instance`",
            ),
            (
                json!({"cluster": "1abc"}),
                "parameter `cluster`: `1abc` is not a valid RDS identifier: it must start with a letter",
            ),
            (
                json!({"cluster": "a_b"}),
                "only letters, digits and hyphens",
            ),
            (
                json!({"cluster": "ok", "target_instance": "bad-"}),
                "parameter `target_instance`",
            ),
        ];
        for (params, expected) in cases {
            let err = build(params).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} lacks {expected}");
            assert!(
                err.starts_with("step `failover-db` (rds.failover_db_cluster): "),
                "{err}"
            );
        }
    }

    #[test]
    fn the_descriptor_documents_the_action() {
        let reg = registry();
        let d = reg.descriptor("rds.failover_db_cluster").unwrap();
        assert!(d.mutates);
        let names: Vec<_> = d.params.iter().map(|p| p.name).collect();
        assert_eq!(names, ["cluster", "target_instance"]);
        assert_eq!(d.iam_actions, failover::IAM_ACTIONS);
    }
}
