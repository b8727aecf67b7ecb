//! # drkit-elasticache
//!
//! ElastiCache (Redis OSS / Valkey) recovery actions for drkit, in the provider pattern of
//! `drkit-rds`:
//!
//! 1. a **port** ([`ElastiCacheApi`]): the ElastiCache operations drkit uses, in drkit's own
//!    types, mockable with `MockElastiCacheApi` (feature `mock`);
//! 2. an **adapter** ([`SdkElastiCache`]): the port over `aws-sdk-elasticache`, errors mapped by
//!    `drkit-aws`;
//! 3. **actions** written against the port: [`CheckReplicationGroup`]
//!    (`elasticache.check_replication_group`), [`SetPrimary`] (`elasticache.set_primary`, the
//!    seed's "promote read replica", with the Multi-AZ sequence), [`TestFailover`]
//!    (`elasticache.test_failover`, the managed failover, a few calls per account per rolling
//!    24 hours) and [`FailoverGlobalDatastore`] (`elasticache.failover_global_datastore`, a global
//!    datastore's secondary region made primary);
//! 4. **registration** ([`register`], or [`register_with`] and your own ports).
//!
//! ```no_run
//! use std::sync::Arc;
//! use drkit_aws::{AwsContext, AwsSettings};
//! use drkit_core::{Context, RecoveryAction};
//! use drkit_elasticache::{SdkElastiCache, SetPrimary, SetPrimaryParams};
//!
//! # async fn demo() -> Result<(), drkit_core::ActionError> {
//! let aws = AwsContext::load(&AwsSettings::default().region("us-west-2")).await;
//! let promote = SetPrimary::new(
//!     "promote-cache",
//!     SetPrimaryParams::new("mint-cache", "mint-cache-002"),
//!     Arc::new(SdkElastiCache::from_config(aws.sdk_config())),
//!     aws.region(),
//! );
//! let outputs = promote.execute(&Context::new()).await?;
//! assert_eq!(outputs.get_str("primary"), Some("mint-cache-002"));
//! # Ok(()) }
//! ```

#[cfg(test)]
mod behaviour_tests;
mod check;
mod common;
mod failover;
mod global;
mod port;
mod register;
mod sdk;
mod set_primary;
#[cfg(test)]
mod test_support;

pub use check::{CheckReplicationGroup, CheckReplicationGroupParams};
pub use failover::{TestFailover, TestFailoverParams};
pub use global::{FailoverGlobalDatastore, FailoverGlobalDatastoreParams};
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use port::MockElastiCacheApi;
pub use port::{
    CacheClusterState, ElastiCacheApi, GlobalDatastore, GlobalDatastoreMember, NodeGroup,
    NodeGroupMember, ReplicationGroup,
};
pub use register::{DESCRIPTORS, aws_ports, register, register_with};
pub use sdk::SdkElastiCache;
pub use set_primary::{SetPrimary, SetPrimaryParams};
