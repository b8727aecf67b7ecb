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

    /// `GetDistributionConfig`: where the distribution's cache behaviours send requests, with
    /// the config's ETag.
    async fn get_routing(&self, distribution: &str) -> Result<Routing, ActionError>;

    /// `GetDistributionConfig` then `UpdateDistribution` with `If-Match: etag`, changing only
    /// the target origin of the default behaviour (when `default_target` is given) and of the
    /// behaviours with the given path patterns. A config changed since `etag` was read is
    /// refused with code `PreconditionFailed` (read again, then decide).
    async fn set_routing(
        &self,
        distribution: &str,
        etag: &str,
        default_target: Option<String>,
        behaviours: Vec<(String, String)>,
    ) -> Result<(), ActionError>;
}

/// Where a distribution sends requests: its origins and the target of each cache behaviour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Routing {
    /// The ETag of the config this was read from (`If-Match` of an update).
    pub etag: String,
    /// The ids of its origins and origin groups.
    pub origins: Vec<String>,
    /// The default behaviour's target origin (or origin group) id.
    pub default_target: String,
    /// Each other behaviour's path pattern and target.
    pub behaviours: Vec<(String, String)>,
}

impl Routing {
    /// Routing with an ETag, origins and a default target (handy in tests).
    pub fn new(
        etag: impl Into<String>,
        origins: &[&str],
        default_target: impl Into<String>,
    ) -> Self {
        Self {
            etag: etag.into(),
            origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            default_target: default_target.into(),
            behaviours: Vec::new(),
        }
    }

    /// The target of the behaviour with `pattern`.
    pub fn target_of(&self, pattern: &str) -> Option<&str> {
        self.behaviours
            .iter()
            .find(|(p, _)| p == pattern)
            .map(|(_, t)| t.as_str())
    }
}
