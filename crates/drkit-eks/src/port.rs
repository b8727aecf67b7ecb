//! The port: the narrow set of EKS operations drkit uses, in drkit's own types.
//!
//! Actions are written against [`EksApi`], never against the SDK, so they can be unit-tested
//! with `MockEksApi` (feature `mock`) for what an emulator cannot show: `UPDATING` node groups,
//! `InProgress` updates, throttling, failures, long waits.

use std::fmt;

use async_trait::async_trait;
use drkit_core::ActionError;

/// A health issue EKS reports on a cluster or a node group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthIssue {
    /// The issue code, e.g. `AsgInstanceLaunchFailures`.
    pub code: String,
    /// EKS's description of it.
    pub message: String,
    /// The resources concerned (instance ids, subnet ids, ...).
    pub resource_ids: Vec<String>,
}

impl HealthIssue {
    /// An issue with a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            resource_ids: Vec::new(),
        }
    }
}

impl fmt::Display for HealthIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if !self.resource_ids.is_empty() {
            write!(f, " ({})", self.resource_ids.join(", "))?;
        }
        Ok(())
    }
}

/// An EKS cluster, as drkit needs to see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EksCluster {
    /// The cluster name.
    pub name: String,
    /// The status (`ACTIVE`, `CREATING`, `UPDATING`, `FAILED`, ...).
    pub status: String,
    /// The Kubernetes version, e.g. `1.31`.
    pub version: Option<String>,
    /// The API server endpoint.
    pub endpoint: Option<String>,
    /// The cluster's certificate authority: the base64-encoded PEM certificate the API server's
    /// TLS certificate is verified with (`certificateAuthority.data`).
    pub certificate_authority: Option<String>,
    /// The EKS platform version, e.g. `eks.12`.
    pub platform_version: Option<String>,
    /// The health issues EKS reports.
    pub health_issues: Vec<HealthIssue>,
}

impl EksCluster {
    /// A cluster with a name and a status (handy in tests).
    pub fn new(name: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: status.into(),
            ..Self::default()
        }
    }

    /// Whether the status is `ACTIVE`.
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

/// A node group's scaling configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Scaling {
    /// The fewest nodes the group scales in to.
    pub min_size: u32,
    /// The most nodes the group scales out to.
    pub max_size: u32,
    /// The number of nodes the group should have now.
    pub desired_size: u32,
}

impl Scaling {
    /// A scaling configuration.
    pub fn new(min_size: u32, max_size: u32, desired_size: u32) -> Self {
        Self {
            min_size,
            max_size,
            desired_size,
        }
    }

    /// Whether `min_size <= desired_size <= max_size` and `max_size >= 1`, as EKS requires.
    pub fn is_valid(&self) -> bool {
        self.min_size <= self.desired_size
            && self.desired_size <= self.max_size
            && self.max_size >= 1
    }
}

impl fmt::Display for Scaling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "min={} max={} desired={}",
            self.min_size, self.max_size, self.desired_size
        )
    }
}

/// A managed node group, as drkit needs to see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Nodegroup {
    /// The cluster it belongs to.
    pub cluster: String,
    /// The node group name.
    pub name: String,
    /// The status (`ACTIVE`, `UPDATING`, `DEGRADED`, ...).
    pub status: String,
    /// The scaling configuration.
    pub scaling: Scaling,
    /// The health issues EKS reports.
    pub health_issues: Vec<HealthIssue>,
    /// The instance types.
    pub instance_types: Vec<String>,
    /// `ON_DEMAND`, `SPOT` or `CAPACITY_BLOCK`, when known.
    pub capacity_type: Option<String>,
}

impl Nodegroup {
    /// A node group with a status and a scaling configuration (handy in tests).
    pub fn new(
        cluster: impl Into<String>,
        name: impl Into<String>,
        status: impl Into<String>,
        scaling: Scaling,
    ) -> Self {
        Self {
            cluster: cluster.into(),
            name: name.into(),
            status: status.into(),
            scaling,
            ..Self::default()
        }
    }

    /// Whether the status is `ACTIVE`.
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }

    /// `status=..., min=... max=... desired=...`, for progress events and errors.
    pub fn summary(&self) -> String {
        format!("status={}, {}", self.status, self.scaling)
    }
}

/// An update EKS made or is making to a node group (`UpdateNodegroupConfig`, `DescribeUpdate`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodegroupUpdate {
    /// The update id.
    pub id: String,
    /// `InProgress`, `Successful`, `Failed` or `Cancelled`.
    pub status: String,
    /// The errors EKS reports for a failed update, as `code: message`.
    pub errors: Vec<String>,
}

impl NodegroupUpdate {
    /// An update with an id and a status (handy in tests).
    pub fn new(id: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            status: status.into(),
            errors: Vec::new(),
        }
    }

    /// Whether the update completed successfully.
    pub fn is_successful(&self) -> bool {
        self.status == "Successful"
    }

    /// Whether the update ended without success (`Failed` or `Cancelled`).
    pub fn has_failed(&self) -> bool {
        self.status == "Failed" || self.status == "Cancelled"
    }
}

/// The EKS operations drkit uses. Implemented by [`crate::SdkEks`] over `aws-sdk-eks`, and by
/// `MockEksApi` (feature `mock`) in tests.
///
/// Errors are [`ActionError`]s already classified (not found, throttled, ...): a missing
/// resource is an error of kind `NotFound`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait EksApi: fmt::Debug + Send + Sync {
    /// `DescribeCluster`.
    async fn describe_cluster(&self, cluster: &str) -> Result<EksCluster, ActionError>;

    /// `DescribeNodegroup`.
    async fn describe_nodegroup(
        &self,
        cluster: &str,
        nodegroup: &str,
    ) -> Result<Nodegroup, ActionError>;

    /// `UpdateNodegroupConfig` with a new scaling configuration; returns the update EKS started.
    async fn update_nodegroup_scaling(
        &self,
        cluster: &str,
        nodegroup: &str,
        scaling: Scaling,
    ) -> Result<NodegroupUpdate, ActionError>;

    /// `DescribeUpdate` of a node group update.
    async fn describe_nodegroup_update(
        &self,
        cluster: &str,
        nodegroup: &str,
        update_id: &str,
    ) -> Result<NodegroupUpdate, ActionError>;
}
