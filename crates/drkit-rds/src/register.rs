//! Registration of the RDS actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::AwsContext;
use drkit_core::ActionRef;
use drkit_core::registry::{
    ActionDescriptor, ActionSpec, BuildError, DuplicateKind, OutputDoc, ParamDoc, Registry,
    decode_params,
};

use crate::failover::{self, FailoverDbCluster, FailoverDbClusterParams};
use crate::port::{MetricsApi, RdsApi};
use crate::probe::{
    self, ClusterStatusParams, InstanceStatusParams, Probe, RdsProbe, ReplicaLagParams,
};
use crate::promote::{self, PromoteReadReplica, Replica};
use crate::restore::{
    self, ClusterPitrParams, PitrParams, RestoreClusterToPointInTime, RestoreInstanceFromSnapshot,
    RestoreInstanceToPointInTime, SnapshotRestoreParams,
};
use crate::sdk::{SdkCloudWatch, SdkRds};
use crate::snapshot::{self, CreateSnapshot, SnapshotParams};

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

const fn p(name: &'static str, ty: &'static str, doc: &'static str) -> ParamDoc {
    ParamDoc::required(name, ty, doc)
}

const fn o(name: &'static str, ty: &'static str, doc: &'static str) -> ParamDoc {
    ParamDoc::optional(name, ty, doc)
}

const fn out(name: &'static str, doc: &'static str) -> OutputDoc {
    OutputDoc { name, doc }
}

const RESTORE_OUTPUTS: &[OutputDoc] = &[
    out("instance", "the new instance"),
    out("status", "its status"),
    out("endpoint", "address:port of the new instance"),
    out("address", "the DNS name"),
    out("port", "the port"),
    out("source", "the instance restored from"),
    out("restored_to", "the point in time restored (RFC 3339)"),
    out(
        "data_loss_seconds",
        "data lost: from the restore point to the restore",
    ),
    out(
        "rpo_seconds",
        "data lost: from the restore point to the restore (class database)",
    ),
    out("rpo_class", "`database`"),
];

/// `rds.promote_read_replica`.
pub const PROMOTE_READ_REPLICA: ActionDescriptor = ActionDescriptor {
    kind: promote::INSTANCE_KIND,
    summary: "Promote a (cross-region) read replica instance to a standalone database",
    mutates: true,
    iam_actions: promote::INSTANCE_IAM,
    params: &[p("instance", "string", "the read replica")],
    outputs: &[
        out("promoted_from", "its former source"),
        out("instance", "the instance identifier"),
        out("status", "its status"),
        out("endpoint", "address:port"),
        out("address", "the DNS name"),
        out("port", "the port"),
    ],
};

/// `rds.promote_read_replica_db_cluster`.
pub const PROMOTE_READ_REPLICA_DB_CLUSTER: ActionDescriptor = ActionDescriptor {
    kind: promote::CLUSTER_KIND,
    summary: "Promote an Aurora cross-region replica cluster to a standalone cluster",
    mutates: true,
    iam_actions: promote::CLUSTER_IAM,
    params: &[p("cluster", "string", "the replica cluster")],
    outputs: &[
        out("promoted_from", "its former source"),
        out("cluster", "the cluster identifier"),
        out("endpoint", "the writer endpoint"),
    ],
};

/// `rds.restore_instance_to_point_in_time`.
pub const RESTORE_INSTANCE_TO_POINT_IN_TIME: ActionDescriptor = ActionDescriptor {
    kind: restore::PITR_KIND,
    summary: "Restore an instance to a point in time into a new instance (window checked first)",
    mutates: true,
    iam_actions: restore::PITR_IAM,
    params: &[
        p("source", "string", "the instance to restore from"),
        p("target", "string", "the new instance"),
        o(
            "restore_time",
            "RFC 3339 time",
            "the time to restore to; inside the source's restorable window",
        ),
        o(
            "use_latest_restorable_time",
            "bool",
            "restore to the latest restorable time instead",
        ),
        o(
            "instance_class",
            "string",
            "the new instance's class (default: the source's)",
        ),
    ],
    outputs: RESTORE_OUTPUTS,
};

/// `rds.restore_instance_from_snapshot`.
pub const RESTORE_INSTANCE_FROM_SNAPSHOT: ActionDescriptor = ActionDescriptor {
    kind: restore::SNAPSHOT_KIND,
    summary: "Restore a DB snapshot (or an instance's newest one) into a new instance",
    mutates: true,
    iam_actions: restore::SNAPSHOT_IAM,
    params: &[
        p("target", "string", "the new instance"),
        o("snapshot", "string", "the snapshot to restore"),
        o(
            "latest_snapshot_of",
            "string",
            "restore the newest available snapshot of this instance",
        ),
        o("instance_class", "string", "the new instance's class"),
    ],
    outputs: &[
        out("snapshot", "the snapshot used"),
        out(
            "snapshot_age_seconds",
            "its age when restored: the data lost",
        ),
        out("instance", "the new instance"),
        out("status", "its status"),
        out("endpoint", "address:port of the new instance"),
        out("address", "the DNS name"),
        out("port", "the port"),
        out("restored_to", "the snapshot's creation time (RFC 3339)"),
        out("data_loss_seconds", "data lost: the snapshot's age"),
        out("rpo_seconds", "data lost (class database)"),
        out("rpo_class", "`database`"),
    ],
};

/// `rds.restore_cluster_to_point_in_time`.
pub const RESTORE_CLUSTER_TO_POINT_IN_TIME: ActionDescriptor = ActionDescriptor {
    kind: restore::CLUSTER_PITR_KIND,
    summary: "Restore an Aurora cluster to a point in time into a new cluster, with an instance",
    mutates: true,
    iam_actions: restore::CLUSTER_PITR_IAM,
    params: &[
        p("source", "string", "the cluster to restore from"),
        p("target", "string", "the new cluster"),
        o("restore_time", "RFC 3339 time", "the time to restore to"),
        o(
            "use_latest_restorable_time",
            "bool",
            "restore to the latest restorable time instead",
        ),
        p(
            "instance_class",
            "string",
            "the class of the instance created in the new cluster",
        ),
    ],
    outputs: &[
        out("cluster", "the new cluster"),
        out("instance", "its instance (`<target>-instance-1`)"),
        out("endpoint", "the writer endpoint"),
        out("reader_endpoint", "the reader endpoint"),
        out("restored_to", "the point in time restored"),
        out(
            "data_loss_seconds",
            "data lost: from the restore point to the restore",
        ),
        out("rpo_seconds", "data lost (class database)"),
        out("rpo_class", "`database`"),
    ],
};

/// `rds.create_snapshot`.
pub const CREATE_SNAPSHOT: ActionDescriptor = ActionDescriptor {
    kind: snapshot::KIND,
    summary: "Take a safety snapshot of an instance or a cluster and wait until it is available",
    mutates: true,
    iam_actions: snapshot::IAM,
    params: &[
        o("instance", "string", "the instance (or give `cluster`)"),
        o(
            "cluster",
            "string",
            "the Aurora cluster (or give `instance`)",
        ),
        o(
            "snapshot_id",
            "string",
            "the snapshot's id (default `<source>-drkit-<step>`)",
        ),
    ],
    outputs: &[
        out("snapshot", "its id"),
        out("source", "what it is of"),
        out("taken_at", "when"),
    ],
};

/// `rds.check_replica_lag`.
pub const CHECK_REPLICA_LAG: ActionDescriptor = ActionDescriptor {
    kind: probe::LAG_KIND,
    summary: "Read CloudWatch ReplicaLag; blocked above the limit or without a recent datapoint",
    mutates: false,
    iam_actions: probe::LAG_IAM,
    params: &[
        p("instance", "string", "the read replica"),
        p(
            "max_lag",
            "duration",
            "the largest acceptable lag, e.g. \"5m\"",
        ),
        o(
            "max_age",
            "duration",
            "how recent the newest datapoint must be (default \"5m\")",
        ),
    ],
    outputs: &[
        out("lag_seconds", "the newest lag"),
        out("measured_at", "its time"),
        out(
            "datapoint_age_seconds",
            "how old the newest datapoint was when read",
        ),
        out("rpo_class", "`database`"),
        out(
            "rpo_seconds",
            "the lag, as data that would be lost (class database)",
        ),
    ],
};

/// `rds.instance_status`.
pub const INSTANCE_STATUS: ActionDescriptor = ActionDescriptor {
    kind: probe::INSTANCE_KIND,
    summary: "Probe an instance's status (and replication source)",
    mutates: false,
    iam_actions: probe::INSTANCE_IAM,
    params: &[
        p("instance", "string", "the instance"),
        o(
            "expect_status",
            "string",
            "the status it must have (default `available`)",
        ),
    ],
    outputs: &[
        out("instance", "the instance identifier"),
        out("status", "its status"),
        out("endpoint", "address:port"),
        out("address", "the DNS name"),
        out("port", "the port"),
        out(
            "replication_source",
            "the instance it replicates from (empty when standalone)",
        ),
    ],
};

/// `rds.cluster_status`.
pub const CLUSTER_STATUS: ActionDescriptor = ActionDescriptor {
    kind: probe::CLUSTER_KIND,
    summary: "Probe a cluster's status and members (writer, readers)",
    mutates: false,
    iam_actions: probe::CLUSTER_IAM,
    params: &[
        p("cluster", "string", "the cluster"),
        o(
            "expect_status",
            "string",
            "the status it must have (default `available`)",
        ),
        o(
            "min_members",
            "integer",
            "the fewest members it must have (default 1)",
        ),
    ],
    outputs: &[
        out("status", "its status"),
        out("writer", "the writer instance"),
        out("readers", "the reader instances"),
        out("endpoint", "the writer endpoint"),
    ],
};

/// Builds the RDS port for a step's region (`None`: the default region).
pub type RdsApiFactory = Arc<dyn Fn(Option<&str>) -> Arc<dyn RdsApi> + Send + Sync>;

/// Builds the CloudWatch port for a step's region.
pub type MetricsApiFactory = Arc<dyn Fn(Option<&str>) -> Arc<dyn MetricsApi> + Send + Sync>;

/// The ports the RDS actions are built with: the real AWS clients ([`register`]) or the
/// embedder's own, e.g. mocks ([`register_with`]).
#[derive(Clone)]
pub struct RdsPorts {
    /// The RDS port.
    pub rds: RdsApiFactory,
    /// The CloudWatch port (replica lag).
    pub metrics: MetricsApiFactory,
}

impl std::fmt::Debug for RdsPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdsPorts").finish_non_exhaustive()
    }
}

impl RdsPorts {
    /// Ports over the AWS SDK, configured by `aws`.
    pub fn aws(aws: &AwsContext) -> Self {
        let (a, b) = (aws.clone(), aws.clone());
        Self {
            rds: Arc::new(move |region| {
                Arc::new(SdkRds::from_config(&a.for_region(region))) as Arc<dyn RdsApi>
            }),
            metrics: Arc::new(move |region| {
                Arc::new(SdkCloudWatch::from_config(&b.for_region(region))) as Arc<dyn MetricsApi>
            }),
        }
    }
}

/// Every RDS action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[
    FAILOVER_DB_CLUSTER,
    PROMOTE_READ_REPLICA,
    PROMOTE_READ_REPLICA_DB_CLUSTER,
    RESTORE_INSTANCE_TO_POINT_IN_TIME,
    RESTORE_INSTANCE_FROM_SNAPSHOT,
    RESTORE_CLUSTER_TO_POINT_IN_TIME,
    CREATE_SNAPSHOT,
    CHECK_REPLICA_LAG,
    INSTANCE_STATUS,
    CLUSTER_STATUS,
];

/// Registers every RDS action, talking to AWS as configured in `aws`.
pub fn register(registry: &mut Registry, aws: &AwsContext) -> Result<(), DuplicateKind> {
    register_with(registry, &RdsPorts::aws(aws))
}

/// Registers every RDS action with the given ports (e.g. mocks in the embedder's tests).
pub fn register_with(registry: &mut Registry, ports: &RdsPorts) -> Result<(), DuplicateKind> {
    let rds = &ports.rds;
    with_rds(
        registry,
        FAILOVER_DB_CLUSTER,
        rds,
        |spec, p: &FailoverDbClusterParams| {
            validate_identifier(spec, "cluster", &p.cluster)?;
            validate_optional(spec, "target_instance", p.target_instance.as_deref())
        },
        |id, p, api, region| Arc::new(FailoverDbCluster::new(id, p, api, region)),
    )?;

    with_rds(
        registry,
        PROMOTE_READ_REPLICA,
        rds,
        |spec, p: &InstanceParam| validate_identifier(spec, "instance", &p.instance),
        |id, p, api, region| {
            Arc::new(PromoteReadReplica::new(
                id,
                Replica::Instance(p.instance),
                api,
                region,
            ))
        },
    )?;

    with_rds(
        registry,
        PROMOTE_READ_REPLICA_DB_CLUSTER,
        rds,
        |spec, p: &ClusterParam| validate_identifier(spec, "cluster", &p.cluster),
        |id, p, api, region| {
            Arc::new(PromoteReadReplica::new(
                id,
                Replica::Cluster(p.cluster),
                api,
                region,
            ))
        },
    )?;

    with_rds(
        registry,
        RESTORE_INSTANCE_TO_POINT_IN_TIME,
        rds,
        |spec, p: &PitrParams| {
            validate_identifier(spec, "source", &p.source)?;
            validate_identifier(spec, "target", &p.target)?;
            one_restore_time(spec, p.restore_time.is_some(), p.use_latest_restorable_time)
        },
        |id, p, api, region| Arc::new(RestoreInstanceToPointInTime::new(id, p, api, region)),
    )?;

    with_rds(
        registry,
        RESTORE_INSTANCE_FROM_SNAPSHOT,
        rds,
        |spec, p: &SnapshotRestoreParams| {
            validate_identifier(spec, "target", &p.target)?;
            match (p.snapshot.as_deref(), p.latest_snapshot_of.as_deref()) {
                // Snapshot names are freer than instance names (`rds:db-2026-11-28-08-00`).
                (Some(snapshot), None) if !snapshot.trim().is_empty() => Ok(()),
                (None, Some(instance)) => validate_identifier(spec, "latest_snapshot_of", instance),
                _ => Err(BuildError::invalid(
                    spec,
                    None,
                    "give exactly one of `snapshot` and `latest_snapshot_of`",
                )),
            }
        },
        |id, p, api, region| Arc::new(RestoreInstanceFromSnapshot::new(id, p, api, region)),
    )?;

    with_rds(
        registry,
        RESTORE_CLUSTER_TO_POINT_IN_TIME,
        rds,
        |spec, p: &ClusterPitrParams| {
            validate_identifier(spec, "source", &p.source)?;
            validate_identifier(spec, "target", &p.target)?;
            one_restore_time(spec, p.restore_time.is_some(), p.use_latest_restorable_time)
        },
        |id, p, api, region| Arc::new(RestoreClusterToPointInTime::new(id, p, api, region)),
    )?;

    with_rds(
        registry,
        CREATE_SNAPSHOT,
        rds,
        |spec, p: &SnapshotParams| {
            exactly_one(
                spec,
                ("instance", p.instance.as_deref()),
                ("cluster", p.cluster.as_deref()),
            )?;
            validate_optional(spec, "snapshot_id", p.snapshot_id.as_deref())
        },
        |id, p, api, region| Arc::new(CreateSnapshot::new(id, p, api, region)),
    )?;

    for (descriptor, decode) in [
        (INSTANCE_STATUS, decode_instance_probe as ProbeDecoder),
        (CLUSTER_STATUS, decode_cluster_probe),
        (CHECK_REPLICA_LAG, decode_lag_probe),
    ] {
        let ports = ports.clone();
        registry.register_fn(descriptor, move |spec| {
            let probe = decode(spec)?;
            let region = spec.region.as_deref();
            Ok(Arc::new(RdsProbe::new(
                spec.id.clone(),
                probe,
                (ports.rds)(region),
                (ports.metrics)(region),
                region,
            )) as ActionRef)
        })?;
    }
    Ok(())
}

type ProbeDecoder = fn(&ActionSpec) -> Result<Probe, BuildError>;

/// Registers `descriptor`: decode the parameters as `P`, `validate` them (before any call),
/// then `build` the action with the RDS port of the step's region.
fn with_rds<P: serde::de::DeserializeOwned + 'static>(
    registry: &mut Registry,
    descriptor: ActionDescriptor,
    rds: &RdsApiFactory,
    validate: fn(&ActionSpec, &P) -> Result<(), BuildError>,
    build: fn(String, P, Arc<dyn RdsApi>, Option<&str>) -> ActionRef,
) -> Result<(), DuplicateKind> {
    let rds = Arc::clone(rds);
    registry.register_fn(descriptor, move |spec| {
        let params: P = decode_params(spec)?;
        validate(spec, &params)?;
        let region = spec.region.as_deref();
        Ok(build(spec.id.clone(), params, rds(region), region))
    })
}

fn validate_optional(
    spec: &ActionSpec,
    param: &str,
    value: Option<&str>,
) -> Result<(), BuildError> {
    value.map_or(Ok(()), |v| validate_identifier(spec, param, v))
}

/// Exactly one of two identifier parameters, and a valid one.
fn exactly_one(
    spec: &ActionSpec,
    (a, a_value): (&str, Option<&str>),
    (b, b_value): (&str, Option<&str>),
) -> Result<(), BuildError> {
    match (a_value, b_value) {
        (Some(v), None) => validate_identifier(spec, a, v),
        (None, Some(v)) => validate_identifier(spec, b, v),
        _ => Err(BuildError::invalid(
            spec,
            None,
            format!("give exactly one of `{a}` and `{b}`"),
        )),
    }
}

fn decode_instance_probe(spec: &ActionSpec) -> Result<Probe, BuildError> {
    let p: InstanceStatusParams = decode_params(spec)?;
    validate_identifier(spec, "instance", &p.instance)?;
    Ok(Probe::Instance(p))
}

fn decode_cluster_probe(spec: &ActionSpec) -> Result<Probe, BuildError> {
    let p: ClusterStatusParams = decode_params(spec)?;
    validate_identifier(spec, "cluster", &p.cluster)?;
    Ok(Probe::Cluster(p))
}

fn decode_lag_probe(spec: &ActionSpec) -> Result<Probe, BuildError> {
    let p: ReplicaLagParams = decode_params(spec)?;
    validate_identifier(spec, "instance", &p.instance)?;
    if p.max_age.is_zero() {
        return Err(BuildError::invalid(
            spec,
            Some("max_age"),
            "must be longer than zero",
        ));
    }
    Ok(Probe::ReplicaLag(p))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceParam {
    instance: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterParam {
    cluster: String,
}

fn one_restore_time(spec: &ActionSpec, has_time: bool, latest: bool) -> Result<(), BuildError> {
    if has_time == latest {
        return Err(BuildError::invalid(
            spec,
            None,
            "give exactly one of `restore_time` (RFC 3339) and `use_latest_restorable_time = true`",
        ));
    }
    Ok(())
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
    use crate::port::{MockMetricsApi, MockRdsApi};

    fn registry() -> Registry {
        let mut registry = Registry::new();
        register_with(
            &mut registry,
            &RdsPorts {
                rds: Arc::new(|_| Arc::new(MockRdsApi::new()) as Arc<dyn RdsApi>),
                metrics: Arc::new(|_| Arc::new(MockMetricsApi::new()) as Arc<dyn MetricsApi>),
            },
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
    fn either_or_parameters_are_checked_before_any_call() {
        let reg = registry();
        let build = |kind: &str, params| reg.build(&ActionSpec::new("s", kind, params));
        // An automated snapshot's name is accepted as it is.
        assert!(
            build(
                "rds.restore_instance_from_snapshot",
                json!({"target": "mint-restored", "snapshot": "rds:mint-2026-11-28-08-00"})
            )
            .is_ok()
        );
        let err = build(
            "rds.restore_instance_from_snapshot",
            json!({"target": "mint-restored", "snapshot": "s", "latest_snapshot_of": "mint"}),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("exactly one of `snapshot` and `latest_snapshot_of`"),
            "{err}"
        );
        let err = build("rds.create_snapshot", json!({})).unwrap_err();
        assert!(
            err.to_string()
                .contains("exactly one of `instance` and `cluster`"),
            "{err}"
        );
        let err = build(
            "rds.restore_instance_to_point_in_time",
            json!({"source": "a", "target": "b"}),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("exactly one of `restore_time`"),
            "{err}"
        );
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

#[cfg(test)]
mod docs_tests {
    use super::DESCRIPTORS;

    /// docs/actions/rds.md names every registered kind and each of its parameters.
    #[test]
    fn the_actions_page_documents_every_action() {
        drkit_core::registry::documented(
            "docs/actions/rds.md",
            include_str!("../../../docs/actions/rds.md"),
            DESCRIPTORS,
        )
        .unwrap();
    }
}
