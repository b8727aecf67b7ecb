//! The port: the CloudFront operations drkit uses, in drkit's own types.

use async_trait::async_trait;
use drkit_core::ActionError;

/// A distribution, as drkit needs to see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Distribution {
    /// Its id, e.g. `E2QWRUHAPOMQZL`.
    pub id: String,
    /// `Deployed` or `InProgress`.
    pub status: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Its domain name, e.g. `d111111abcdef8.cloudfront.net`.
    pub domain_name: String,
}

impl Distribution {
    /// A distribution (handy in tests).
    pub fn new(id: impl Into<String>, status: impl Into<String>, enabled: bool) -> Self {
        Self {
            id: id.into(),
            status: status.into(),
            enabled,
            domain_name: String::new(),
        }
    }
}

/// An invalidation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Invalidation {
    /// Its id.
    pub id: String,
    /// `InProgress` or `Completed`.
    pub status: String,
}

impl Invalidation {
    /// An invalidation (handy in tests).
    pub fn new(id: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            status: status.into(),
        }
    }

    /// Whether it is `Completed` (any case: moto answers `COMPLETED`).
    pub fn is_completed(&self) -> bool {
        self.status.eq_ignore_ascii_case("Completed")
    }
}

/// The CloudFront operations drkit uses. Implemented by [`crate::SdkCloudFront`] and by
/// `MockCloudFrontApi` (feature `mock`). A missing distribution is `NotFound`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait CloudFrontApi: std::fmt::Debug + Send + Sync {
    /// `GetDistribution`.
    async fn get_distribution(&self, id: &str) -> Result<Distribution, ActionError>;

    /// `CreateInvalidation` of `paths` with `caller_reference` (AWS returns the existing
    /// invalidation when the same reference and paths are sent again).
    async fn create_invalidation(
        &self,
        distribution: &str,
        paths: Vec<String>,
        caller_reference: &str,
    ) -> Result<Invalidation, ActionError>;

    /// `GetInvalidation`.
    async fn get_invalidation(
        &self,
        distribution: &str,
        id: &str,
    ) -> Result<Invalidation, ActionError>;
}
