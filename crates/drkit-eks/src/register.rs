//! Registration of the EKS actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::AwsContext;
use drkit_core::ActionRef;
use drkit_core::registry::{
    ActionDescriptor, ActionSpec, BuildError, DuplicateKind, OutputDoc, ParamDoc, Registry,
    decode_params,
};

use crate::check::{self, CheckCluster, CheckClusterParams, CheckNodegroup, CheckNodegroupParams};
use crate::port::EksApi;
use crate::scale::{self, ScaleNodegroup, ScaleNodegroupParams};
use crate::sdk::SdkEks;

const HEALTH_ISSUES: OutputDoc = OutputDoc {
    name: "health_issues",
    doc: "the health issues EKS reports, as a list of `CODE: message`",
};

const NODEGROUP_OUTPUTS: [OutputDoc; 6] = [
    OutputDoc {
        name: "status",
        doc: "the node group status (ACTIVE, UPDATING, DEGRADED, ...)",
    },
    OutputDoc {
        name: "min_size",
        doc: "the minimum size",
    },
    OutputDoc {
        name: "max_size",
        doc: "the maximum size",
    },
    OutputDoc {
        name: "desired_size",
        doc: "the desired size",
    },
    OutputDoc {
        name: "instance_types",
        doc: "the instance types, as a list",
    },
    OutputDoc {
        name: "capacity_type",
        doc: "ON_DEMAND, SPOT or CAPACITY_BLOCK",
    },
];

/// `eks.check_cluster`.
pub const CHECK_CLUSTER: ActionDescriptor = ActionDescriptor {
    kind: check::CHECK_CLUSTER_KIND,
    summary: "Check that an EKS cluster is ACTIVE; report its Kubernetes version, endpoint and \
              health issues",
    mutates: false,
    iam_actions: check::CHECK_CLUSTER_IAM,
    params: &[ParamDoc::required(
        "cluster",
        "string",
        "the EKS cluster name",
    )],
    outputs: &[
        OutputDoc {
            name: "status",
            doc: "the cluster status (ACTIVE, CREATING, UPDATING, ...)",
        },
        OutputDoc {
            name: "version",
            doc: "the Kubernetes version",
        },
        OutputDoc {
            name: "endpoint",
            doc: "the Kubernetes API server endpoint",
        },
        OutputDoc {
            name: "platform_version",
            doc: "the EKS platform version",
        },
        HEALTH_ISSUES,
    ],
};

/// `eks.check_nodegroup`.
pub const CHECK_NODEGROUP: ActionDescriptor = ActionDescriptor {
    kind: check::CHECK_NODEGROUP_KIND,
    summary: "Check that an EKS managed node group is ACTIVE without health issues (and runs at \
              least min_ready nodes)",
    mutates: false,
    iam_actions: check::CHECK_NODEGROUP_IAM,
    params: &[
        ParamDoc::required("cluster", "string", "the EKS cluster name"),
        ParamDoc::required("nodegroup", "string", "the managed node group name"),
        ParamDoc::optional(
            "min_ready",
            "integer",
            "the fewest nodes the group must run (compared with its desired size)",
        ),
    ],
    outputs: &[
        NODEGROUP_OUTPUTS[0],
        NODEGROUP_OUTPUTS[1],
        NODEGROUP_OUTPUTS[2],
        NODEGROUP_OUTPUTS[3],
        NODEGROUP_OUTPUTS[4],
        NODEGROUP_OUTPUTS[5],
        HEALTH_ISSUES,
    ],
};

/// `eks.scale_nodegroup`.
pub const SCALE_NODEGROUP: ActionDescriptor = ActionDescriptor {
    kind: scale::KIND,
    summary: "Scale an EKS managed node group and wait until it is ACTIVE at the new size",
    mutates: true,
    iam_actions: scale::IAM_ACTIONS,
    params: &[
        ParamDoc::required("cluster", "string", "the EKS cluster name"),
        ParamDoc::required("nodegroup", "string", "the managed node group name"),
        ParamDoc::optional(
            "min_size",
            "integer",
            "the new minimum size; the current one is kept when absent",
        ),
        ParamDoc::optional(
            "max_size",
            "integer",
            "the new maximum size; the current one is kept when absent",
        ),
        ParamDoc::required("desired_size", "integer", "the number of nodes to run"),
    ],
    outputs: &[
        OutputDoc {
            name: "previous_min_size",
            doc: "the minimum size before the change",
        },
        OutputDoc {
            name: "previous_max_size",
            doc: "the maximum size before the change",
        },
        OutputDoc {
            name: "previous_desired_size",
            doc: "the desired size before the change",
        },
        NODEGROUP_OUTPUTS[0],
        NODEGROUP_OUTPUTS[1],
        NODEGROUP_OUTPUTS[2],
        NODEGROUP_OUTPUTS[3],
        NODEGROUP_OUTPUTS[4],
        NODEGROUP_OUTPUTS[5],
        HEALTH_ISSUES,
        OutputDoc {
            name: "update_id",
            doc: "the EKS update id (empty when the group was already at that size)",
        },
    ],
};

/// Builds the EKS port for a step's region (`None`: the default region).
pub type EksApiFactory = Arc<dyn Fn(Option<&str>) -> Arc<dyn EksApi> + Send + Sync>;

/// Registers every EKS action, talking to AWS as configured in `aws`.
pub fn register(registry: &mut Registry, aws: &AwsContext) -> Result<(), DuplicateKind> {
    let aws = aws.clone();
    register_with(
        registry,
        Arc::new(move |region| {
            Arc::new(SdkEks::from_config(&aws.for_region(region))) as Arc<dyn EksApi>
        }),
    )
}

/// Registers every EKS action with ports made by `api` (e.g. mocks in the embedder's tests).
pub fn register_with(registry: &mut Registry, api: EksApiFactory) -> Result<(), DuplicateKind> {
    let factory = Arc::clone(&api);
    registry.register_fn(CHECK_CLUSTER, move |spec| {
        let params: CheckClusterParams = decode_params(spec)?;
        validate_cluster(spec, &params.cluster)?;
        let region = spec.region.as_deref();
        Ok(Arc::new(CheckCluster::new(
            spec.id.clone(),
            params,
            factory(region),
            region,
        )) as ActionRef)
    })?;
    let factory = Arc::clone(&api);
    registry.register_fn(CHECK_NODEGROUP, move |spec| {
        let params: CheckNodegroupParams = decode_params(spec)?;
        validate_cluster(spec, &params.cluster)?;
        validate_nodegroup(spec, &params.nodegroup)?;
        let region = spec.region.as_deref();
        Ok(Arc::new(CheckNodegroup::new(
            spec.id.clone(),
            params,
            factory(region),
            region,
        )) as ActionRef)
    })?;
    registry.register_fn(SCALE_NODEGROUP, move |spec| {
        let params: ScaleNodegroupParams = decode_params(spec)?;
        validate_cluster(spec, &params.cluster)?;
        validate_nodegroup(spec, &params.nodegroup)?;
        validate_sizes(spec, &params)?;
        let region = spec.region.as_deref();
        Ok(Arc::new(ScaleNodegroup::new(
            spec.id.clone(),
            params,
            api(region),
            region,
        )) as ActionRef)
    })
}

/// EKS names: letters, digits, hyphens and underscores, starting with a letter or digit.
fn validate_name(
    spec: &ActionSpec,
    param: &str,
    value: &str,
    what: &str,
    max: usize,
) -> Result<(), BuildError> {
    let bad = |why: String| {
        Err(BuildError::invalid(
            spec,
            Some(param),
            format!("`{value}` is not a valid {what}: {why}"),
        ))
    };
    if value.is_empty() || value.len() > max {
        return bad(format!("it must have 1 to {max} characters"));
    }
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad("it must start with a letter or a digit".to_owned());
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return bad("only letters, digits, hyphens and underscores are allowed".to_owned());
    }
    Ok(())
}

fn validate_cluster(spec: &ActionSpec, value: &str) -> Result<(), BuildError> {
    validate_name(spec, "cluster", value, "EKS cluster name", 100)
}

fn validate_nodegroup(spec: &ActionSpec, value: &str) -> Result<(), BuildError> {
    validate_name(spec, "nodegroup", value, "EKS node group name", 63)
}

/// What can be checked without knowing the current scaling (the rest is checked against it
/// before the call).
fn validate_sizes(spec: &ActionSpec, p: &ScaleNodegroupParams) -> Result<(), BuildError> {
    if let Some(max) = p.max_size {
        if max == 0 {
            return Err(BuildError::invalid(
                spec,
                Some("max_size"),
                "EKS needs max_size >= 1",
            ));
        }
        if p.desired_size > max {
            return Err(BuildError::invalid(
                spec,
                Some("desired_size"),
                format!("desired_size {} is above max_size {max}", p.desired_size),
            ));
        }
    }
    if let Some(min) = p.min_size
        && p.desired_size < min
    {
        return Err(BuildError::invalid(
            spec,
            Some("desired_size"),
            format!("desired_size {} is below min_size {min}", p.desired_size),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::port::MockEksApi;

    fn registry() -> Registry {
        let mut registry = Registry::new();
        register_with(
            &mut registry,
            Arc::new(|_| Arc::new(MockEksApi::new()) as Arc<dyn EksApi>),
        )
        .unwrap();
        registry
    }

    fn build(kind: &str, params: serde_json::Value) -> Result<ActionRef, BuildError> {
        registry().build(&ActionSpec::new("step", kind, params).in_region("us-west-2"))
    }

    #[test]
    fn builds_each_kind_with_the_step_region_on_the_resource() {
        let a = build("eks.check_cluster", json!({"cluster": "mint-dr"})).unwrap();
        assert_eq!(a.target().to_string(), "eks:cluster/mint-dr@us-west-2");
        assert!(!a.mutates());
        assert_eq!(a.iam_actions(), ["eks:DescribeCluster"]);

        let a = build(
            "eks.check_nodegroup",
            json!({"cluster": "mint-dr", "nodegroup": "standby", "min_ready": 3}),
        )
        .unwrap();
        assert_eq!(
            a.target().to_string(),
            "eks:nodegroup/mint-dr/standby@us-west-2"
        );
        assert!(!a.mutates());

        let a = build(
            "eks.scale_nodegroup",
            json!({"cluster": "mint-dr", "nodegroup": "standby", "min_size": 2, "max_size": 6, "desired_size": 3}),
        )
        .unwrap();
        assert_eq!(a.kind(), "eks.scale_nodegroup");
        assert!(a.mutates());
        assert!(a.supports_rollback());
        assert!(a.iam_actions().contains(&"eks:UpdateNodegroupConfig"));
    }

    #[test]
    fn bad_parameters_are_refused_before_any_call() {
        let cases = [
            ("eks.check_cluster", json!({}), "missing field `cluster`"),
            (
                "eks.check_cluster",
                json!({"cluster": "c", "region": "x"}),
                "unknown field `region`, expected `cluster`",
            ),
            (
                "eks.check_cluster",
                json!({"cluster": "-c"}),
                "parameter `cluster`: `-c` is not a valid EKS cluster name: it must start with a letter or a digit",
            ),
            (
                "eks.check_nodegroup",
                json!({"cluster": "c", "nodegroup": "a b"}),
                "parameter `nodegroup`: `a b` is not a valid EKS node group name: only letters",
            ),
            (
                "eks.check_nodegroup",
                json!({"cluster": "c", "nodegroup": "n", "min_ready": -1}),
                "parameter `min_ready`: invalid value: integer `-1`, expected u32",
            ),
            (
                "eks.scale_nodegroup",
                json!({"cluster": "c", "nodegroup": "n"}),
                "missing field `desired_size`",
            ),
            (
                "eks.scale_nodegroup",
                json!({"cluster": "c", "nodegroup": "n", "desired_size": "3"}),
                "parameter `desired_size`: invalid type: string \"3\", expected u32",
            ),
            (
                "eks.scale_nodegroup",
                json!({"cluster": "c", "nodegroup": "n", "desired_size": 5, "max_size": 4}),
                "parameter `desired_size`: desired_size 5 is above max_size 4",
            ),
            (
                "eks.scale_nodegroup",
                json!({"cluster": "c", "nodegroup": "n", "desired_size": 1, "min_size": 2}),
                "parameter `desired_size`: desired_size 1 is below min_size 2",
            ),
            (
                "eks.scale_nodegroup",
                json!({"cluster": "c", "nodegroup": "n", "desired_size": 0, "max_size": 0}),
                "parameter `max_size`: EKS needs max_size >= 1",
            ),
            (
                "eks.scale_nodegroup",
                json!({"cluster": "c", "nodegroup": "n", "desired": 3}),
                "unknown field `desired`",
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
                "eks.check_cluster",
                "eks.check_nodegroup",
                "eks.scale_nodegroup"
            ]
        );
        let d = reg.descriptor("eks.scale_nodegroup").unwrap();
        let names: Vec<_> = d.params.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "cluster",
                "nodegroup",
                "min_size",
                "max_size",
                "desired_size"
            ]
        );
        assert_eq!(d.iam_actions, scale::IAM_ACTIONS);
        assert!(d.outputs.iter().any(|o| o.name == "previous_desired_size"));
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
                super::CHECK_CLUSTER,
                super::CHECK_NODEGROUP,
                super::SCALE_NODEGROUP,
            ],
        )
        .unwrap();
    }
}
