//! The port: the narrow set of EC2 operations drkit uses, in drkit's own types.
//!
//! Actions are written against [`Ec2Api`], never against the SDK, so they can be unit-tested
//! with `MockEc2Api` (feature `mock`) for what an emulator cannot show: throttling, access
//! denied, the duplicate-permission race.

use std::fmt;

use async_trait::async_trait;
use drkit_core::ActionError;

use crate::rule::{IngressRule, is_group_id};

/// A security group named by id (`sg-...`) or by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupRef {
    /// By id, e.g. `sg-0123456789abcdef0`.
    Id(String),
    /// By name (must be unique in the region: one VPC).
    Name(String),
}

impl GroupRef {
    /// An id when `group` looks like one (`sg-` and hex digits), else a name.
    pub fn parse(group: &str) -> Self {
        if is_group_id(group) {
            Self::Id(group.to_owned())
        } else {
            Self::Name(group.to_owned())
        }
    }

    /// The id or name as given.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Id(s) | Self::Name(s) => s,
        }
    }
}

impl fmt::Display for GroupRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A security group, as drkit needs to see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecurityGroup {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its VPC, if any.
    pub vpc_id: Option<String>,
    /// Its ingress rules, one per (protocol, ports, source).
    pub ingress: Vec<IngressRule>,
}

impl SecurityGroup {
    /// A group with an id, a name and ingress rules (handy in tests).
    pub fn new(id: impl Into<String>, name: impl Into<String>, ingress: Vec<IngressRule>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            vpc_id: None,
            ingress,
        }
    }

    /// The rules of `wanted` that the group does not have yet (compared normalized, without
    /// descriptions).
    pub fn missing<'a>(&self, wanted: &'a [IngressRule]) -> Vec<&'a IngressRule> {
        wanted
            .iter()
            .filter(|w| !self.ingress.iter().any(|r| r.same_as(w)))
            .collect()
    }
}

/// The EC2 operations the security-group actions use. A missing group is an error of kind
/// `NotFound` (`InvalidGroup.NotFound`), never a silent `None`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Ec2Api: fmt::Debug + Send + Sync {
    /// `DescribeSecurityGroups` for one group, by id or (filter `group-name`) by name; a name
    /// that matches groups in several VPCs is refused as ambiguous.
    async fn describe_security_group(&self, group: &GroupRef)
    -> Result<SecurityGroup, ActionError>;

    /// `AuthorizeSecurityGroupIngress` of `rules` in one call (EC2 rejects the whole call with
    /// `InvalidPermission.Duplicate` if one of them exists). Returns the new rule ids when the
    /// endpoint reports them.
    async fn authorize_ingress(
        &self,
        group_id: &str,
        rules: &[IngressRule],
    ) -> Result<Vec<String>, ActionError>;

    /// `RevokeSecurityGroupIngress` of `rules` (by their permissions, not ids).
    async fn revoke_ingress(
        &self,
        group_id: &str,
        rules: &[IngressRule],
    ) -> Result<(), ActionError>;
}
