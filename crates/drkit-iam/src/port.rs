//! The port: the narrow set of IAM operations drkit uses, in drkit's own types.
//!
//! Actions are written against [`IamApi`], never against the SDK, so they can be unit-tested
//! with `MockIamApi` (feature `mock`) for what an emulator cannot show: throttling, access
//! denied, races.

use async_trait::async_trait;
use drkit_core::ActionError;

/// An IAM role, as drkit needs to see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Role {
    /// The role name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
}

impl Role {
    /// A role with a name and an ARN.
    pub fn new(name: impl Into<String>, arn: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            arn: arn.into(),
        }
    }
}

/// A managed policy attached to a role.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttachedPolicy {
    /// The policy name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
}

impl AttachedPolicy {
    /// An attached policy with a name and an ARN.
    pub fn new(name: impl Into<String>, arn: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            arn: arn.into(),
        }
    }
}

/// The IAM operations the IAM actions use. Every "does not exist" answer is an error of kind
/// `NotFound` (IAM's `NoSuchEntity`), never a silent `None`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait IamApi: std::fmt::Debug + Send + Sync {
    /// `GetRole`.
    async fn get_role(&self, role: &str) -> Result<Role, ActionError>;

    /// `GetRolePolicy`: the inline policy's document as JSON text, already URL-decoded (IAM
    /// returns it URL-encoded; the adapter decodes it in one place).
    async fn get_role_policy(&self, role: &str, policy_name: &str) -> Result<String, ActionError>;

    /// `PutRolePolicy`: creates or replaces the inline policy.
    async fn put_role_policy(
        &self,
        role: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<(), ActionError>;

    /// `DeleteRolePolicy`.
    async fn delete_role_policy(&self, role: &str, policy_name: &str) -> Result<(), ActionError>;

    /// `ListRolePolicies`: the names of the role's inline policies (all pages).
    async fn list_role_policies(&self, role: &str) -> Result<Vec<String>, ActionError>;

    /// `ListAttachedRolePolicies`: the managed policies attached to the role (all pages).
    async fn list_attached_role_policies(
        &self,
        role: &str,
    ) -> Result<Vec<AttachedPolicy>, ActionError>;

    /// `GetPolicy` + `GetPolicyVersion`: the default version's document of a managed policy,
    /// URL-decoded.
    async fn get_managed_policy_document(&self, arn: &str) -> Result<String, ActionError>;
}
