//! The port: the narrow set of Route 53 operations drkit uses, in drkit's own types.
//!
//! Other providers reuse it: ACM writes its DNS validation records through [`Route53Api`] and
//! [`crate::upsert_records`], never through `aws-sdk-route53` itself.

use async_trait::async_trait;
use drkit_core::ActionError;
use serde::{Deserialize, Serialize};

/// A hosted zone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostedZone {
    /// Its id without the `/hostedzone/` prefix, e.g. `Z0123456789ABC`.
    pub id: String,
    /// Its name, normalised (lowercase, trailing dot), e.g. `example.com.`.
    pub name: String,
    /// Whether it is a private zone.
    pub private: bool,
}

impl HostedZone {
    /// A zone (handy in tests).
    pub fn new(id: impl Into<String>, name: &str) -> Self {
        Self {
            id: id.into(),
            name: normalize_name(name),
            private: false,
        }
    }
}

/// What a change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeAction {
    /// Creates the record; fails if it exists.
    Create,
    /// Creates or replaces the record.
    Upsert,
    /// Deletes the record; it must match exactly.
    Delete,
}

impl ChangeAction {
    /// `CREATE`, `UPSERT` or `DELETE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Upsert => "UPSERT",
            Self::Delete => "DELETE",
        }
    }
}

/// An alias target (an ELB, a CloudFront distribution, another record of the zone, ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AliasTarget {
    /// The hosted zone of the target (e.g. `Z2FDTNDATAQYW2` for CloudFront).
    pub hosted_zone_id: String,
    /// The target's DNS name.
    pub dns_name: String,
    /// Whether Route 53 evaluates the target's health.
    #[serde(default)]
    pub evaluate_target_health: bool,
}

impl AliasTarget {
    /// An alias to `dns_name` in `hosted_zone_id`.
    pub fn new(hosted_zone_id: impl Into<String>, dns_name: &str) -> Self {
        Self {
            hosted_zone_id: hosted_zone_id.into(),
            dns_name: normalize_name(dns_name),
            evaluate_target_health: false,
        }
    }
}

/// A resource record set, as drkit needs to see it. Names are normalised by
/// [`normalize_name`]; two sets are the same record when name, type and set identifier match.
/// Serialised in a change step's `undo` output (what a rollback after a resume restores).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecordSet {
    /// The name, normalised (`api-dr.example.com.`).
    pub name: String,
    /// The type (`A`, `CNAME`, ...).
    pub rtype: String,
    /// The TTL in seconds (absent for an alias).
    pub ttl: Option<i64>,
    /// The values (empty for an alias), in the order given.
    pub values: Vec<String>,
    /// The alias target, for an alias record.
    pub alias: Option<AliasTarget>,
    /// The set identifier of a weighted or failover record.
    pub set_identifier: Option<String>,
    /// The weight of a weighted record.
    pub weight: Option<i64>,
    /// `PRIMARY` or `SECONDARY` for a failover record.
    pub failover: Option<String>,
    /// The health check the record is tied to.
    pub health_check_id: Option<String>,
}

impl RecordSet {
    /// A simple record (handy in tests and for callers such as ACM validation).
    pub fn simple(name: &str, rtype: &str, ttl: i64, values: Vec<String>) -> Self {
        Self {
            name: normalize_name(name),
            rtype: rtype.to_ascii_uppercase(),
            ttl: Some(ttl),
            values,
            ..Self::default()
        }
    }

    /// Whether `other` is the same record (name, type, set identifier), whatever its content.
    pub fn same_record(&self, other: &Self) -> bool {
        self.name == other.name
            && self.rtype == other.rtype
            && self.set_identifier == other.set_identifier
    }

    /// Whether the content is equal, values compared as a set (Route 53 does not keep order).
    pub fn same_content(&self, other: &Self) -> bool {
        let mut a = self.values.clone();
        let mut b = other.values.clone();
        a.sort();
        b.sort();
        self.same_record(other)
            && a == b
            && self.ttl == other.ttl
            && self.alias == other.alias
            && self.weight == other.weight
            && self.failover == other.failover
            && self.health_check_id == other.health_check_id
    }

    /// `name type [set id]`, for messages.
    pub fn label(&self) -> String {
        match &self.set_identifier {
            Some(id) => format!("{} {} [{id}]", self.name, self.rtype),
            None => format!("{} {}", self.name, self.rtype),
        }
    }

    /// The content, for messages: `ttl 60: 192.0.2.1, 192.0.2.2` or `alias to x.`.
    pub fn describe(&self) -> String {
        let mut out = match &self.alias {
            Some(a) => format!("alias to {}", a.dns_name),
            None => format!("ttl {}: {}", self.ttl.unwrap_or(0), self.values.join(", ")),
        };
        if let Some(w) = self.weight {
            out.push_str(&format!(", weight {w}"));
        }
        if let Some(f) = &self.failover {
            out.push_str(&format!(", failover {f}"));
        }
        if let Some(h) = &self.health_check_id {
            out.push_str(&format!(", health check {h}"));
        }
        out
    }
}

/// One change of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordChange {
    /// What to do.
    pub action: ChangeAction,
    /// The record.
    pub record: RecordSet,
}

/// The state of a submitted change batch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChangeInfo {
    /// The change id without the `/change/` prefix.
    pub id: String,
    /// `PENDING` or `INSYNC`.
    pub status: String,
}

impl ChangeInfo {
    /// A change (handy in tests).
    pub fn new(id: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            status: status.into(),
        }
    }

    /// Whether every Route 53 server has the change.
    pub fn is_insync(&self) -> bool {
        self.status.eq_ignore_ascii_case("INSYNC")
    }
}

/// What one health checker reported.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckerReport {
    /// The checker's region.
    pub region: String,
    /// Its status text, e.g. `Success: HTTP Status Code 200, OK`.
    pub status: String,
}

impl CheckerReport {
    /// A report (handy in tests).
    pub fn new(region: impl Into<String>, status: impl Into<String>) -> Self {
        Self {
            region: region.into(),
            status: status.into(),
        }
    }

    /// Whether the checker saw the endpoint healthy.
    pub fn is_healthy(&self) -> bool {
        self.status.starts_with("Success")
    }
}

/// Lowercase, with a trailing dot, `\052` read as `*`: how names are compared.
pub fn normalize_name(name: &str) -> String {
    let mut n = name.trim().to_ascii_lowercase().replace("\\052", "*");
    if !n.ends_with('.') {
        n.push('.');
    }
    n
}

/// The Route 53 operations drkit uses. Implemented by [`crate::SdkRoute53`] over
/// `aws-sdk-route53`, and by `MockRoute53Api` (feature `mock`) in tests.
///
/// Errors are [`ActionError`]s already classified; a missing zone or health check is
/// `NotFound`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Route53Api: std::fmt::Debug + Send + Sync {
    /// The zone with this id (`Z...` or `/hostedzone/Z...`) or name (`example.com`):
    /// `GetHostedZone` or `ListHostedZonesByName`. A name matching a public and a private zone
    /// is refused (give the id).
    async fn find_zone(&self, zone: &str) -> Result<HostedZone, ActionError>;

    /// Every record set of `zone_id` with exactly this name and type (all set identifiers):
    /// `ListResourceRecordSets`, following pages.
    async fn list_records(
        &self,
        zone_id: &str,
        name: &str,
        rtype: &str,
    ) -> Result<Vec<RecordSet>, ActionError>;

    /// `ChangeResourceRecordSets` with one batch.
    async fn change_records(
        &self,
        zone_id: &str,
        changes: Vec<RecordChange>,
        comment: &str,
    ) -> Result<ChangeInfo, ActionError>;

    /// `GetChange`.
    async fn get_change(&self, change_id: &str) -> Result<ChangeInfo, ActionError>;

    /// `GetHealthCheckStatus`: the last report of each checker.
    async fn health_check_status(
        &self,
        health_check_id: &str,
    ) -> Result<Vec<CheckerReport>, ActionError>;
}
