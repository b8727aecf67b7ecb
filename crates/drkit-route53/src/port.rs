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

/// An alias target: a CloudFront distribution, an ELB (classic, application, network) load
/// balancer, an S3 website endpoint, an API Gateway domain, a VPC interface endpoint, a Global
/// Accelerator, an Elastic Beanstalk environment, or another record of the same zone.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AliasTarget {
    /// The hosted zone of the target (e.g. `Z2FDTNDATAQYW2` for CloudFront, the record's own
    /// zone for another record of the zone).
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
            hosted_zone_id: normalize_zone_id(&hosted_zone_id.into()),
            dns_name: normalize_name(dns_name),
            evaluate_target_health: false,
        }
    }

    /// Also evaluating the target's health (or not).
    #[must_use]
    pub fn evaluating_health(mut self, evaluate: bool) -> Self {
        self.evaluate_target_health = evaluate;
        self
    }
}

/// The location of a geolocation record: a continent, a country (`*`: every location no other
/// record of the name and type covers), or a US state (`country_code = "US"` and
/// `subdivision_code`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GeoLocation {
    /// `AF`, `AN`, `AS`, `EU`, `OC`, `NA` or `SA` (not with a country).
    #[serde(default)]
    pub continent_code: Option<String>,
    /// An ISO 3166-1 alpha-2 country code, or `*` (the default location).
    #[serde(default)]
    pub country_code: Option<String>,
    /// A US state code, with `country_code = "US"`.
    #[serde(default)]
    pub subdivision_code: Option<String>,
}

impl GeoLocation {
    /// A continent (`EU`, ...).
    pub fn continent(code: &str) -> Self {
        Self {
            continent_code: Some(code.to_ascii_uppercase()),
            ..Self::default()
        }
    }

    /// A country (`DE`, ...; `*`: the default location).
    pub fn country(code: &str) -> Self {
        Self {
            country_code: Some(code.to_ascii_uppercase()),
            ..Self::default()
        }
    }

    /// A US state (`WA`, ...).
    pub fn us_state(code: &str) -> Self {
        Self {
            country_code: Some("US".to_owned()),
            subdivision_code: Some(code.to_ascii_uppercase()),
            ..Self::default()
        }
    }

    /// Codes upper-cased, as Route 53 returns them.
    #[must_use]
    pub fn normalized(&self) -> Self {
        let up = |c: &Option<String>| c.as_ref().map(|c| c.trim().to_ascii_uppercase());
        Self {
            continent_code: up(&self.continent_code),
            country_code: up(&self.country_code),
            subdivision_code: up(&self.subdivision_code),
        }
    }

    /// `continent EU`, `country DE`, `country US, subdivision WA`, for messages.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("continent", &self.continent_code),
            ("country", &self.country_code),
            ("subdivision", &self.subdivision_code),
        ]
        .iter()
        .filter_map(|(what, code)| code.as_ref().map(|c| format!("{what} {c}")))
        .collect();
        parts.join(", ")
    }
}

/// A resource record set, as drkit needs to see it. Names are normalised by
/// [`normalize_name`]; two sets are the same record when name, type and set identifier match.
/// Serialised in a change step's `undo` output (what a rollback after a resume restores; fields
/// added later default when an older output is read).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
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
    /// The set identifier of a record with a routing policy other than simple (weighted,
    /// latency, failover, geolocation, multivalue answer).
    pub set_identifier: Option<String>,
    /// The weight of a weighted record.
    pub weight: Option<i64>,
    /// The AWS region of a latency record.
    pub region: Option<String>,
    /// `PRIMARY` or `SECONDARY` for a failover record.
    pub failover: Option<String>,
    /// The location of a geolocation record.
    pub geo_location: Option<GeoLocation>,
    /// Whether it is a multivalue answer record.
    pub multi_value_answer: bool,
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
            && self.region == other.region
            && self.failover == other.failover
            && self.geo_location == other.geo_location
            && self.multi_value_answer == other.multi_value_answer
            && self.health_check_id == other.health_check_id
    }

    /// The routing policy: `simple`, `weighted`, `latency`, `failover`, `geolocation` or
    /// `multivalue` (the first given, when a record wrongly gives several).
    pub fn routing_policy(&self) -> &'static str {
        self.routing_policies().first().copied().unwrap_or("simple")
    }

    /// Every routing policy the record gives (valid records give at most one).
    pub(crate) fn routing_policies(&self) -> Vec<&'static str> {
        [
            (self.weight.is_some(), "weighted"),
            (self.region.is_some(), "latency"),
            (self.failover.is_some(), "failover"),
            (self.geo_location.is_some(), "geolocation"),
            (self.multi_value_answer, "multivalue"),
        ]
        .into_iter()
        .filter_map(|(given, policy)| given.then_some(policy))
        .collect()
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
            Some(a) => format!(
                "alias to {} in {}{}",
                a.dns_name,
                a.hosted_zone_id,
                if a.evaluate_target_health {
                    ", evaluating its health"
                } else {
                    ""
                }
            ),
            None => format!("ttl {}: {}", self.ttl.unwrap_or(0), self.values.join(", ")),
        };
        if let Some(w) = self.weight {
            out.push_str(&format!(", weight {w}"));
        }
        if let Some(r) = &self.region {
            out.push_str(&format!(", latency region {r}"));
        }
        if let Some(f) = &self.failover {
            out.push_str(&format!(", failover {f}"));
        }
        if let Some(g) = &self.geo_location {
            out.push_str(&format!(", location {}", g.describe()));
        }
        if self.multi_value_answer {
            out.push_str(", multivalue answer");
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

/// A hosted zone id without its `/hostedzone/` prefix, upper-cased: `Z2FDTNDATAQYW2`.
pub fn normalize_zone_id(id: &str) -> String {
    id.trim()
        .trim_start_matches("/hostedzone/")
        .to_ascii_uppercase()
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

    /// Every record set of `zone_id` with exactly this name, of every type and set identifier:
    /// `ListResourceRecordSets` from `StartRecordName = name`, following pages
    /// (`NextRecordName`/`NextRecordType`/`NextRecordIdentifier`) while they still list this
    /// name (Route 53 sorts by name, labels reversed, then by type: the sets of one name are
    /// listed together).
    async fn list_records(&self, zone_id: &str, name: &str) -> Result<Vec<RecordSet>, ActionError>;

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
