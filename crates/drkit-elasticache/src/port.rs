//! The port: the narrow set of ElastiCache operations drkit uses, in drkit's own types.
//!
//! Actions are written against [`ElastiCacheApi`], never against the SDK, so they can be
//! unit-tested with `MockElastiCacheApi` (feature `mock`) for what an emulator cannot show:
//! `modifying` groups, a primary that really changes, `TestFailover`, throttling, long waits.

use async_trait::async_trait;
use drkit_core::ActionError;

/// One member (a cache cluster) of a node group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeGroupMember {
    /// The cache cluster id, e.g. `mint-cache-002`.
    pub cache_cluster_id: String,
    /// `primary` or `replica`; ElastiCache reports roles for cluster-mode-disabled groups only.
    pub role: Option<String>,
    /// The availability zone, when known.
    pub availability_zone: Option<String>,
}

impl NodeGroupMember {
    /// A primary member.
    pub fn primary(cache_cluster_id: impl Into<String>) -> Self {
        Self {
            cache_cluster_id: cache_cluster_id.into(),
            role: Some("primary".to_owned()),
            availability_zone: None,
        }
    }

    /// A replica member.
    pub fn replica(cache_cluster_id: impl Into<String>) -> Self {
        Self {
            cache_cluster_id: cache_cluster_id.into(),
            role: Some("replica".to_owned()),
            availability_zone: None,
        }
    }

    /// Whether it is the primary.
    pub fn is_primary(&self) -> bool {
        self.role.as_deref() == Some("primary")
    }
}

/// A node group (a shard) of a replication group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeGroup {
    /// The node group id, e.g. `0001`.
    pub id: String,
    /// Its status (`available`, `modifying`, ...).
    pub status: String,
    /// The primary endpoint address (cluster-mode-disabled groups).
    pub primary_endpoint: Option<String>,
    /// Its members.
    pub members: Vec<NodeGroupMember>,
}

impl NodeGroup {
    /// A node group with an id, a status and members (handy in tests).
    pub fn new(
        id: impl Into<String>,
        status: impl Into<String>,
        members: Vec<NodeGroupMember>,
    ) -> Self {
        Self {
            id: id.into(),
            status: status.into(),
            primary_endpoint: None,
            members,
        }
    }

    /// The primary member, when ElastiCache reports it.
    pub fn primary(&self) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.is_primary())
            .map(|m| m.cache_cluster_id.as_str())
    }

    /// The members that are not the primary.
    pub fn replicas(&self) -> impl Iterator<Item = &NodeGroupMember> {
        self.members.iter().filter(|m| !m.is_primary())
    }

    /// Whether the status is `available`.
    pub fn is_available(&self) -> bool {
        self.status == "available"
    }
}

/// A replication group, as drkit needs to see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicationGroup {
    /// The replication group id.
    pub id: String,
    /// Its status (`available`, `modifying`, `snapshotting`, ...).
    pub status: String,
    /// `enabled`, `disabled`, `enabling` or `disabling`.
    pub automatic_failover: String,
    /// `enabled` or `disabled`.
    pub multi_az: String,
    /// Whether cluster mode is enabled (several shards; roles are not reported per member).
    pub cluster_enabled: bool,
    /// Its node groups (one for cluster mode disabled).
    pub node_groups: Vec<NodeGroup>,
}

impl ReplicationGroup {
    /// A group with an id, a status and node groups; automatic failover and Multi-AZ disabled
    /// (handy in tests).
    pub fn new(
        id: impl Into<String>,
        status: impl Into<String>,
        node_groups: Vec<NodeGroup>,
    ) -> Self {
        Self {
            id: id.into(),
            status: status.into(),
            automatic_failover: "disabled".to_owned(),
            multi_az: "disabled".to_owned(),
            cluster_enabled: false,
            node_groups,
        }
    }

    /// Whether the status is `available`.
    pub fn is_available(&self) -> bool {
        self.status == "available"
    }

    /// A node group by id.
    pub fn node_group(&self, id: &str) -> Option<&NodeGroup> {
        self.node_groups.iter().find(|n| n.id == id)
    }

    /// The node group `cache_cluster` belongs to.
    pub fn node_group_of(&self, cache_cluster: &str) -> Option<&NodeGroup> {
        self.node_groups.iter().find(|n| {
            n.members
                .iter()
                .any(|m| m.cache_cluster_id == cache_cluster)
        })
    }

    /// The primary of the first node group (the only one with cluster mode disabled).
    pub fn primary(&self) -> Option<&str> {
        self.node_groups.first().and_then(NodeGroup::primary)
    }

    /// Every member's cache cluster id.
    pub fn member_ids(&self) -> Vec<&str> {
        self.node_groups
            .iter()
            .flat_map(|n| n.members.iter().map(|m| m.cache_cluster_id.as_str()))
            .collect()
    }

    /// `status=..., primary=...`, for progress events and errors.
    pub fn summary(&self) -> String {
        format!(
            "status={}, primary={}",
            self.status,
            self.primary().unwrap_or("unknown")
        )
    }
}

/// The status of one cache cluster (`DescribeCacheClusters`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheClusterState {
    /// The cache cluster id.
    pub cache_cluster_id: String,
    /// Its status (`available`, `modifying`, `rebooting cluster nodes`, ...).
    pub status: String,
}

impl CacheClusterState {
    /// A state (handy in tests).
    pub fn new(cache_cluster_id: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            cache_cluster_id: cache_cluster_id.into(),
            status: status.into(),
        }
    }
}

/// One member (a replication group in one region) of a global datastore
/// (`DescribeGlobalReplicationGroups` with `ShowMemberInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GlobalDatastoreMember {
    /// The replication group id, e.g. `mint-cache-west`.
    pub replication_group: String,
    /// Its region, e.g. `us-west-2`.
    pub region: String,
    /// `PRIMARY` or `SECONDARY` (compared without regard to case).
    pub role: String,
    /// The status of its membership: `associating`, `associated`, `disassociating`,
    /// `disassociated` (empty when ElastiCache does not say).
    pub status: String,
}

impl GlobalDatastoreMember {
    /// A member with a role (`PRIMARY` / `SECONDARY`), `associated` (handy in tests).
    pub fn new(
        region: impl Into<String>,
        replication_group: impl Into<String>,
        role: impl Into<String>,
    ) -> Self {
        Self {
            replication_group: replication_group.into(),
            region: region.into(),
            role: role.into(),
            status: "associated".to_owned(),
        }
    }

    /// Whether it is the primary (the member that takes writes).
    pub fn is_primary(&self) -> bool {
        self.role.eq_ignore_ascii_case("primary")
    }

    /// `region/replication-group`, for messages.
    pub fn name(&self) -> String {
        format!("{}/{}", self.region, self.replication_group)
    }
}

/// A global datastore (global replication group), as drkit needs to see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GlobalDatastore {
    /// The global replication group id, e.g. `ldgnf-mint-global`.
    pub id: String,
    /// Its status: `creating`, `modifying`, `available`, `primary-only`, `deleting`, ...
    pub status: String,
    /// Its members (one primary, up to two secondaries).
    pub members: Vec<GlobalDatastoreMember>,
}

impl GlobalDatastore {
    /// A global datastore with an id, a status and members (handy in tests).
    pub fn new(
        id: impl Into<String>,
        status: impl Into<String>,
        members: Vec<GlobalDatastoreMember>,
    ) -> Self {
        Self {
            id: id.into(),
            status: status.into(),
            members,
        }
    }

    /// Whether the status is `available`.
    pub fn is_available(&self) -> bool {
        self.status.eq_ignore_ascii_case("available")
    }

    /// The primary member, when there is one.
    pub fn primary(&self) -> Option<&GlobalDatastoreMember> {
        self.members.iter().find(|m| m.is_primary())
    }

    /// The member `replication_group` in `region`.
    pub fn member(&self, region: &str, replication_group: &str) -> Option<&GlobalDatastoreMember> {
        self.members
            .iter()
            .find(|m| m.region == region && m.replication_group == replication_group)
    }

    /// Every member as `region/group (primary|secondary, status)`.
    pub fn members_text(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let role = if m.is_primary() {
                    "primary"
                } else {
                    "secondary"
                };
                if m.status.is_empty() {
                    format!("{} ({role})", m.name())
                } else {
                    format!("{} ({role}, {})", m.name(), m.status)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `status=..., primary=region/group`, for progress events and errors.
    pub fn summary(&self) -> String {
        format!(
            "status={}, primary={}",
            self.status,
            self.primary()
                .map_or_else(|| "none".to_owned(), GlobalDatastoreMember::name)
        )
    }
}

/// The ElastiCache operations drkit uses. Implemented by [`crate::SdkElastiCache`] over
/// `aws-sdk-elasticache`, and by `MockElastiCacheApi` (feature `mock`) in tests.
///
/// Errors are [`ActionError`]s already classified (not found, throttled, ...): a missing
/// resource is an error of kind `NotFound`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ElastiCacheApi: std::fmt::Debug + Send + Sync {
    /// `DescribeReplicationGroups` for one group.
    async fn describe_replication_group(
        &self,
        group: &str,
    ) -> Result<ReplicationGroup, ActionError>;

    /// The status of the group's member cache clusters (`DescribeCacheClusters`, paginated,
    /// keeping the group's members). Members ElastiCache does not list are left out.
    async fn member_states(&self, group: &str) -> Result<Vec<CacheClusterState>, ActionError>;

    /// `ModifyReplicationGroup` with `PrimaryClusterId` and `ApplyImmediately`, in one SDK
    /// attempt (the action reconciles a lost answer by reading, never by sending again).
    async fn set_primary_cluster(
        &self,
        group: &str,
        cache_cluster: &str,
    ) -> Result<(), ActionError>;

    /// `ModifyReplicationGroup` with `AutomaticFailoverEnabled`, `MultiAZEnabled` and
    /// `ApplyImmediately`, in one SDK attempt. ElastiCache needs automatic failover for Multi-AZ:
    /// both are sent together.
    async fn set_failover_settings(
        &self,
        group: &str,
        automatic_failover: bool,
        multi_az: bool,
    ) -> Result<(), ActionError>;

    /// `TestFailover` of one node group.
    async fn test_failover(&self, group: &str, node_group: &str) -> Result<(), ActionError>;

    /// `DescribeGlobalReplicationGroups` for one global datastore, with `ShowMemberInfo` (the
    /// members, their regions and roles). A missing one is an error of kind `NotFound`.
    async fn describe_global_datastore(&self, global: &str)
    -> Result<GlobalDatastore, ActionError>;

    /// `FailoverGlobalReplicationGroup`: makes `primary_replication_group` in `primary_region`
    /// the primary of `global`, in one SDK attempt.
    async fn failover_global_datastore(
        &self,
        global: &str,
        primary_region: &str,
        primary_replication_group: &str,
    ) -> Result<(), ActionError>;
}
