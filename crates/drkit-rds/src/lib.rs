//! # drkit-rds
//!
//! RDS and Aurora recovery actions for drkit. This crate is the pattern every provider copies:
//!
//! 1. a **port** ([`RdsApi`]): the narrow set of RDS operations drkit uses, in drkit's own
//!    types, mockable with `MockRdsApi` (feature `mock`);
//! 2. an **adapter** ([`SdkRds`]): the port over `aws-sdk-rds`, errors mapped by `drkit-aws`;
//! 3. **actions** written against the port ([`FailoverDbCluster`]);
//! 4. **registration** ([`register`]) under kind names such as `rds.failover_db_cluster`;
//!
//! and tests at both levels: mocked port for states the emulator cannot show, moto server for
//! the real protocol (`tests/it`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use drkit_aws::{AwsContext, AwsSettings};
//! use drkit_core::{Context, RecoveryAction};
//! use drkit_rds::{FailoverDbCluster, FailoverDbClusterParams, SdkRds};
//!
//! # async fn demo() -> Result<(), drkit_core::ActionError> {
//! let aws = AwsContext::load(&AwsSettings::default().region("us-east-1")).await;
//! let failover = FailoverDbCluster::new(
//!     "failover-db",
//!     FailoverDbClusterParams::new("mint-replica-cluster").to_instance("mint-replica-2"),
//!     Arc::new(SdkRds::from_config(aws.sdk_config())),
//!     aws.region(),
//! );
//! let ctx = Context::new();
//! println!("{:?}", failover.check(&ctx).await?);
//! let outputs = failover.execute(&ctx).await?;
//! println!("new writer: {:?}", outputs.get_str("writer"));
//! # Ok(()) }
//! ```

#[cfg(test)]
mod behaviour_tests;
mod common;
mod failover;
mod global;
mod port;
mod probe;
mod promote;
mod register;
mod reprotect;
mod restore;
#[cfg(test)]
mod restore_tests;
mod sdk;
mod snapshot;

pub use drkit_core::once::{MAX_UNANSWERED_SENDS, UNSTARTED_GRACE};
pub use failover::{FailoverDbCluster, FailoverDbClusterParams};
pub use global::{
    CheckGlobalCluster, CheckGlobalClusterParams, DetachGlobalSecondary,
    DetachGlobalSecondaryParams, FailoverGlobalCluster, GlobalSwitchParams,
    SwitchoverGlobalCluster,
};
pub use port::{
    ClusterMember, Datapoint, DbCluster, DbInstance, DbSnapshot, Endpoint, GlobalCluster,
    GlobalFailover, GlobalMember, MetricsApi, RdsApi, RestoreSettings, RestoreTime,
    SecondaryCluster, ServerlessV2Scaling, SnapshotOf,
};
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use port::{MockMetricsApi, MockRdsApi};
pub use probe::{
    CheckReplicaLag, ClusterStatus, ClusterStatusParams, InstanceStatus, InstanceStatusParams,
    LagMetric, ReplicaLagParams,
};
pub use promote::{
    PromoteReadReplica, PromoteReadReplicaDbCluster, PromoteReadReplicaDbClusterParams,
    PromoteReadReplicaParams,
};
pub use register::{DESCRIPTORS, RdsPorts, register, register_with};
pub use reprotect::{
    AddGlobalSecondary, AddGlobalSecondaryParams, CreateGlobalCluster, CreateGlobalClusterParams,
    RetireGlobalCluster, RetireGlobalClusterParams, ScalingParams, SecondaryInstance,
};
pub use restore::{
    ClusterPitrParams, PitrParams, RestoreClusterToPointInTime, RestoreInstanceFromSnapshot,
    RestoreInstanceToPointInTime, SnapshotRestoreParams,
};
pub use sdk::{SdkCloudWatch, SdkRds};
pub use snapshot::{CreateSnapshot, SnapshotParams};

/// The README's code compiles (checked by `cargo test --doc`).
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
