//! Registration of the ElastiCache actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::AwsContext;
use drkit_core::ActionRef;
use drkit_core::registry::{
    ActionDescriptor, ActionSpec, BuildError, DuplicateKind, OutputDoc, ParamDoc, Registry,
    decode_params,
};

use crate::check::{self, CheckReplicationGroup, CheckReplicationGroupParams};
use crate::failover::{self, TestFailover, TestFailoverParams};
use crate::port::ElastiCacheApi;
use crate::sdk::SdkElastiCache;
use crate::set_primary::{self, SetPrimary, SetPrimaryParams};

const GROUP_PARAM: ParamDoc =
    ParamDoc::required("replication_group", "string", "the replication group id");

/// `elasticache.check_replication_group`.
pub const CHECK_REPLICATION_GROUP: ActionDescriptor = ActionDescriptor {
    kind: check::KIND,
    summary: "Check an ElastiCache replication group: status, primary, replicas and their state, \
              automatic failover and Multi-AZ",
    mutates: false,
    iam_actions: check::IAM_ACTIONS,
    params: &[GROUP_PARAM],
    outputs: &[
        OutputDoc {
            name: "status",
            doc: "the group status (available, modifying, ...)",
        },
        OutputDoc {
            name: "primary",
            doc: "the primary member of the first node group",
        },
        OutputDoc {
            name: "primaries",
            doc: "node group id -> primary member",
        },
        OutputDoc {
            name: "replicas",
            doc: "a list of {cache_cluster_id, node_group, status}",
        },
        OutputDoc {
            name: "automatic_failover",
            doc: "enabled, disabled, enabling or disabling",
        },
        OutputDoc {
            name: "multi_az",
            doc: "enabled or disabled",
        },
        OutputDoc {
            name: "cluster_enabled",
            doc: "whether cluster mode is enabled",
        },
    ],
};

/// `elasticache.set_primary`.
pub const SET_PRIMARY: ActionDescriptor = ActionDescriptor {
    kind: set_primary::KIND,
    summary: "Promote a replica of a cluster-mode-disabled replication group to primary and wait \
              until it serves",
    mutates: true,
    iam_actions: set_primary::IAM_ACTIONS,
    params: &[
        GROUP_PARAM,
        ParamDoc::required(
            "primary_cluster",
            "string",
            "the member (cache cluster id) to promote",
        ),
    ],
    outputs: &[
        OutputDoc {
            name: "primary",
            doc: "the primary at the end",
        },
        OutputDoc {
            name: "previous_primary",
            doc: "the primary before the promotion (empty when nothing had to change)",
        },
        OutputDoc {
            name: "status",
            doc: "the group status at the end",
        },
    ],
};

/// `elasticache.test_failover`.
pub const TEST_FAILOVER: ActionDescriptor = ActionDescriptor {
    kind: failover::KIND,
    summary: "Run ElastiCache's managed failover (TestFailover) of a node group and wait until a \
              new primary serves; AWS allows only a few such calls per rolling 24 hours",
    mutates: true,
    iam_actions: failover::IAM_ACTIONS,
    params: &[
        GROUP_PARAM,
        ParamDoc::required(
            "node_group",
            "string",
            "the node group (shard) id, e.g. 0001",
        ),
    ],
    outputs: &[
        OutputDoc {
            name: "primary",
            doc: "the node group's new primary",
        },
        OutputDoc {
            name: "previous_primary",
            doc: "the primary it failed over from",
        },
        OutputDoc {
            name: "node_group",
            doc: "the node group id",
        },
        OutputDoc {
            name: "status",
            doc: "the group status at the end",
        },
    ],
};

/// Builds the ElastiCache port for a step's region (`None`: the default region).
pub type ElastiCacheApiFactory = Arc<dyn Fn(Option<&str>) -> Arc<dyn ElastiCacheApi> + Send + Sync>;

/// Registers every ElastiCache action, talking to AWS as configured in `aws`.
pub fn register(registry: &mut Registry, aws: &AwsContext) -> Result<(), DuplicateKind> {
    let aws = aws.clone();
    register_with(
        registry,
        Arc::new(move |region| {
            Arc::new(SdkElastiCache::from_config(&aws.for_region(region)))
                as Arc<dyn ElastiCacheApi>
        }),
    )
}

/// Registers every ElastiCache action with ports made by `api` (e.g. mocks in the embedder's
/// tests).
pub fn register_with(
    registry: &mut Registry,
    api: ElastiCacheApiFactory,
) -> Result<(), DuplicateKind> {
    let factory = Arc::clone(&api);
    registry.register_fn(CHECK_REPLICATION_GROUP, move |spec| {
        let params: CheckReplicationGroupParams = decode_params(spec)?;
        validate_id(spec, "replication_group", &params.replication_group, 40)?;
        let region = spec.region.as_deref();
        Ok(Arc::new(CheckReplicationGroup::new(
            spec.id.clone(),
            params,
            factory(region),
            region,
        )) as ActionRef)
    })?;
    let factory = Arc::clone(&api);
    registry.register_fn(SET_PRIMARY, move |spec| {
        let params: SetPrimaryParams = decode_params(spec)?;
        validate_id(spec, "replication_group", &params.replication_group, 40)?;
        validate_id(spec, "primary_cluster", &params.primary_cluster, 50)?;
        let region = spec.region.as_deref();
        Ok(Arc::new(SetPrimary::new(
            spec.id.clone(),
            params,
            factory(region),
            region,
        )) as ActionRef)
    })?;
    registry.register_fn(TEST_FAILOVER, move |spec| {
        let params: TestFailoverParams = decode_params(spec)?;
        validate_id(spec, "replication_group", &params.replication_group, 40)?;
        validate_node_group(spec, &params.node_group)?;
        let region = spec.region.as_deref();
        Ok(Arc::new(TestFailover::new(
            spec.id.clone(),
            params,
            api(region),
            region,
        )) as ActionRef)
    })
}

/// ElastiCache identifiers: 1 to `max` letters, digits or hyphens; first a letter; no trailing
/// hyphen and no two hyphens in a row. Checked before any call so a typo fails at plan time.
fn validate_id(spec: &ActionSpec, param: &str, value: &str, max: usize) -> Result<(), BuildError> {
    let bad = |why: String| {
        Err(BuildError::invalid(
            spec,
            Some(param),
            format!("`{value}` is not a valid ElastiCache identifier: {why}"),
        ))
    };
    if value.is_empty() || value.len() > max {
        return bad(format!("it must have 1 to {max} characters"));
    }
    if !value.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return bad("it must start with a letter".to_owned());
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return bad("only letters, digits and hyphens are allowed".to_owned());
    }
    if value.ends_with('-') || value.contains("--") {
        return bad("it cannot end with a hyphen or contain two hyphens in a row".to_owned());
    }
    Ok(())
}

/// Node group ids are 1 to 4 letters or digits (`0001`).
fn validate_node_group(spec: &ActionSpec, value: &str) -> Result<(), BuildError> {
    if value.is_empty() || value.len() > 4 || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(BuildError::invalid(
            spec,
            Some("node_group"),
            format!("`{value}` is not a valid node group id: 1 to 4 letters or digits, e.g. 0001"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::port::MockElastiCacheApi;

    fn registry() -> Registry {
        let mut registry = Registry::new();
        register_with(
            &mut registry,
            Arc::new(|_| Arc::new(MockElastiCacheApi::new()) as Arc<dyn ElastiCacheApi>),
        )
        .unwrap();
        registry
    }

    fn build(kind: &str, params: serde_json::Value) -> Result<ActionRef, BuildError> {
        registry().build(&ActionSpec::new("step", kind, params).in_region("us-west-2"))
    }

    #[test]
    fn builds_each_kind_with_the_step_region_on_the_resource() {
        let a = build(
            "elasticache.check_replication_group",
            json!({"replication_group": "mint-cache"}),
        )
        .unwrap();
        assert_eq!(
            a.target().to_string(),
            "elasticache:replication-group/mint-cache@us-west-2"
        );
        assert!(!a.mutates());

        let a = build(
            "elasticache.set_primary",
            json!({"replication_group": "mint-cache", "primary_cluster": "mint-cache-002"}),
        )
        .unwrap();
        assert!(a.mutates());
        assert!(a.supports_rollback());
        assert!(
            a.iam_actions()
                .contains(&"elasticache:ModifyReplicationGroup")
        );

        let a = build(
            "elasticache.test_failover",
            json!({"replication_group": "mint-cache", "node_group": "0001"}),
        )
        .unwrap();
        assert!(a.mutates());
        assert!(!a.supports_rollback());
        assert!(a.iam_actions().contains(&"elasticache:TestFailover"));
    }

    #[test]
    fn bad_parameters_are_refused_before_any_call() {
        let cases = [
            (
                "elasticache.check_replication_group",
                json!({}),
                "missing field `replication_group`",
            ),
            (
                "elasticache.check_replication_group",
                json!({"replication_group": "1cache"}),
                "parameter `replication_group`: `1cache` is not a valid ElastiCache identifier: it must start with a letter",
            ),
            (
                "elasticache.check_replication_group",
                json!({"replication_group": "a".repeat(41)}),
                "it must have 1 to 40 characters",
            ),
            (
                "elasticache.set_primary",
                json!({"replication_group": "mint-cache"}),
                "missing field `primary_cluster`",
            ),
            (
                "elasticache.set_primary",
                json!({"replication_group": "mint-cache", "primary_cluster": "mint--002"}),
                "parameter `primary_cluster`: `mint--002` is not a valid ElastiCache identifier: it cannot end with a hyphen or contain two hyphens in a row",
            ),
            (
                "elasticache.set_primary",
                json!({"replication_group": "mint-cache", "primary": "x"}),
                "unknown field `primary`, expected `replication_group` or `primary_cluster`",
            ),
            (
                "elasticache.test_failover",
                json!({"replication_group": "mint-cache", "node_group": "00001"}),
                "parameter `node_group`: `00001` is not a valid node group id",
            ),
            (
                "elasticache.test_failover",
                json!({"replication_group": "mint-cache", "node_group": 1}),
                "parameter `node_group`: invalid type: integer `1`, expected a string",
            ),
        ];
        for (kind, params, expected) in cases {
            let err = build(kind, params).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} lacks {expected}");
            assert!(err.starts_with(&format!("step `step` ({kind}): ")), "{err}");
        }
    }

    #[test]
    fn the_descriptors_document_the_actions() {
        let reg = registry();
        let kinds: Vec<_> = reg.descriptors().map(|d| d.kind).collect();
        assert_eq!(
            kinds,
            [
                "elasticache.check_replication_group",
                "elasticache.set_primary",
                "elasticache.test_failover"
            ]
        );
        let d = reg.descriptor("elasticache.test_failover").unwrap();
        assert!(d.summary.contains("a few such calls per rolling 24 hours"));
        assert_eq!(d.iam_actions, failover::IAM_ACTIONS);
    }
}

#[cfg(test)]
mod docs_tests {
    /// docs/actions/eks-elasticache.md documents every action of this crate: row, parameters, outputs,
    /// IAM actions and a runbook example.
    #[test]
    fn the_actions_page_documents_every_action() {
        drkit_core::registry::documented(
            "docs/actions/eks-elasticache.md",
            include_str!("../../../docs/actions/eks-elasticache.md"),
            &[
                super::CHECK_REPLICATION_GROUP,
                super::SET_PRIMARY,
                super::TEST_FAILOVER,
            ],
        )
        .unwrap();
    }
}
