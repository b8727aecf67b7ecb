//! The port: the narrow set of RDS operations drkit uses, in drkit's own types.
//!
//! Actions are written against [`RdsApi`], never against the SDK, so they can be unit-tested
//! with `MockRdsApi` (feature `mock`) for what an emulator cannot show: intermediate states,
//! throttling, failures, long waits.

use async_trait::async_trait;
use drkit_core::ActionError;

/// An Aurora DB cluster, as drkit needs to see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DbCluster {
    /// The cluster identifier.
    pub id: String,
    /// The status (`available`, `failing-over`, `modifying`, ...).
    pub status: String,
    /// The engine (`aurora-postgresql`, ...).
    pub engine: Option<String>,
    /// The writer endpoint.
    pub endpoint: Option<String>,
    /// The reader endpoint.
    pub reader_endpoint: Option<String>,
    /// The member instances.
    pub members: Vec<ClusterMember>,
}

impl DbCluster {
    /// A cluster with an id, a status and members (handy in tests).
    pub fn new(
        id: impl Into<String>,
        status: impl Into<String>,
        members: Vec<ClusterMember>,
    ) -> Self {
        Self {
            id: id.into(),
            status: status.into(),
            members,
            ..Self::default()
        }
    }

    /// The writer instance, if any.
    pub fn writer(&self) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.is_writer)
            .map(|m| m.instance_id.as_str())
    }

    /// The reader instances.
    pub fn readers(&self) -> impl Iterator<Item = &ClusterMember> {
        self.members.iter().filter(|m| !m.is_writer)
    }

    /// Whether `instance` is a member.
    pub fn has_member(&self, instance: &str) -> bool {
        self.members.iter().any(|m| m.instance_id == instance)
    }

    /// Whether the status is `available`.
    pub fn is_available(&self) -> bool {
        self.status == "available"
    }

    /// `status=..., writer=...`, for progress events and errors.
    pub fn summary(&self) -> String {
        format!(
            "status={}, writer={}",
            self.status,
            self.writer().unwrap_or("none")
        )
    }
}

/// One member instance of a cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterMember {
    /// The instance identifier.
    pub instance_id: String,
    /// Whether it is the writer.
    pub is_writer: bool,
    /// Its failover priority (0 first).
    pub promotion_tier: Option<i32>,
}

impl ClusterMember {
    /// A writer member.
    pub fn writer(instance_id: impl Into<String>) -> Self {
        Self {
            instance_id: instance_id.into(),
            is_writer: true,
            promotion_tier: None,
        }
    }

    /// A reader member.
    pub fn reader(instance_id: impl Into<String>) -> Self {
        Self {
            instance_id: instance_id.into(),
            is_writer: false,
            promotion_tier: None,
        }
    }
}

/// A DB instance, as drkit needs to see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DbInstance {
    /// The instance identifier.
    pub id: String,
    /// The status (`available`, `rebooting`, ...).
    pub status: String,
    /// The cluster it belongs to, if any.
    pub cluster: Option<String>,
}

impl DbInstance {
    /// An instance with an id and a status (handy in tests).
    pub fn new(id: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            status: status.into(),
            cluster: None,
        }
    }
}

/// The RDS operations drkit uses. Implemented by [`crate::SdkRds`] over `aws-sdk-rds`, and by
/// `MockRdsApi` (feature `mock`) in tests.
///
/// Errors are [`ActionError`]s already classified (not found, throttled, ...): a missing
/// resource is an error of kind `NotFound`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RdsApi: Send + Sync {
    /// `DescribeDBClusters` for one cluster.
    async fn describe_db_cluster(&self, cluster: &str) -> Result<DbCluster, ActionError>;

    /// `DescribeDBInstances` for one instance.
    async fn describe_db_instance(&self, instance: &str) -> Result<DbInstance, ActionError>;

    /// `FailoverDBCluster`, optionally to `target` (a reader of the cluster).
    async fn failover_db_cluster<'a>(
        &self,
        cluster: &str,
        target: Option<&'a str>,
    ) -> Result<(), ActionError>;
}
