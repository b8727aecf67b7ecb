//! The PostgreSQL checks: `checks.pg_row_counts`, `checks.pg_data_loss` and
//! `checks.pg_compare_counts`.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    ActionError, ActionKind, Base, Context, Finding, HasBase, Outputs, Params, PortFactory, Probe,
    StepSpec,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::pg::{ColumnName, PgApi, PgConnection, RowCounts, TableName};
use crate::verdict::labelled;

/// The RPO class `checks.pg_data_loss` reports its measurement under.
pub const RPO_CLASS_DATABASE: &str = "database";

/// A connection parameter that cannot be used: `param.field`, why.
fn connection(param: &str, db: &PgConnection) -> Result<(), ParamError> {
    match db.problem() {
        Some((field, why)) => Err(ParamError::new(format!("{param}.{field}"), why)),
        None => Ok(()),
    }
}

fn count_map<'a>(counts: impl Iterator<Item = (&'a String, &'a i64)>) -> Value {
    Value::Object(
        counts
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<Map<_, _>>(),
    )
}

// ---------------------------------------------------------------------------------------------
// checks.pg_row_counts

/// The parameters of `checks.pg_row_counts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PgRowCountsParams {
    /// connection table {host, port (5432), dbname, user, password (secret reference, e.g.
    /// "env:DB_PASSWORD"), sslmode ("disable" only, for now), connect_timeout ("10s"),
    /// statement_timeout ("30s")}
    #[param(ty = "table")]
    pub database: PgConnection,
    /// tables to count exactly, `table` or `schema.table` (quoted, case-sensitive)
    #[serde(default)]
    #[param(ty = "list of strings")]
    pub tables: Vec<TableName>,
}

impl PgRowCountsParams {
    /// Counts `tables` in `database`.
    pub fn new(database: PgConnection, tables: Vec<TableName>) -> Self {
        Self { database, tables }
    }
}

/// Counts rows (the seed's "row count" integrity check): exact `COUNT(*)` of the named tables,
/// and `n_live_tup` of every user table from `pg_stat_user_tables`.
///
/// Passes when every named table exists and could be counted; a missing table or database
/// makes `check` blocked. Outputs: `counts` (`{table: rows}`), `live_tuples`
/// (`{schema.table: n_live_tup}`), `user_tables` (how many), `database`.
#[derive(Debug, HasBase)]
pub struct PgRowCounts {
    base: Base<Self>,
}

impl ActionKind for PgRowCounts {
    const KIND: &'static str = "checks.pg_row_counts";
    const SUMMARY: &'static str =
        "Count rows: exact COUNT(*) of named tables and n_live_tup of all user tables";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("counts", "{table: exact row count} of the named tables"),
        OutputDoc::new(
            "live_tuples",
            "{schema.table: n_live_tup} of every user table (pg_stat_user_tables)",
        ),
        OutputDoc::new("user_tables", "how many user tables there are"),
        OutputDoc::new(
            "database",
            "postgresql://user@host:port/dbname (no password)",
        ),
    ];
    type Params = PgRowCountsParams;
    type Port = dyn PgApi;
    type Ports = PortFactory<dyn PgApi>;

    fn validate(p: &PgRowCountsParams) -> Result<(), ParamError> {
        connection("database", &p.database)
    }

    fn build(step: StepSpec<PgRowCountsParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = step.params.database.resource();
        Ok(Self {
            base: step.into_base(target, ports),
        })
    }
}

#[async_trait]
impl Probe for PgRowCounts {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let db = &self.base.params.database;
        let counts = ctx
            .bounded(self.base.port.row_counts(db, &self.base.params.tables))
            .await?;
        let outputs = Outputs::new()
            .with("counts", count_map(counts.exact.iter()))
            .with("live_tuples", count_map(counts.live_tuples.iter()))
            .with("user_tables", counts.live_tuples.len())
            .with("database", db.to_string());
        let exact: Vec<String> = counts
            .exact
            .iter()
            .map(|(t, n)| format!("{t}={n}"))
            .collect();
        let detail = format!(
            "{db}: {}{} user tables in pg_stat_user_tables",
            if exact.is_empty() {
                String::new()
            } else {
                format!("{}; ", exact.join(", "))
            },
            counts.live_tuples.len()
        );
        Ok(Finding::pass(detail, outputs))
    }
}

// ---------------------------------------------------------------------------------------------
// checks.pg_data_loss

/// The parameters of `checks.pg_data_loss`.
///
/// `database` is the restored or promoted database; `column` may be a `timestamptz`, a
/// `timestamp` (read as UTC) or a `date`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PgDataLossParams {
    /// connection table {host, port (5432), dbname, user, password (secret reference, e.g.
    /// "env:DB_PASSWORD"), sslmode ("disable" only, for now), connect_timeout ("10s"),
    /// statement_timeout ("30s")}
    #[param(ty = "table")]
    pub database: PgConnection,
    /// the table, e.g. `transactions`
    #[param(ty = "string")]
    pub table: TableName,
    /// its timestamp column, e.g. `created_at` (timestamptz; timestamp is read as UTC)
    #[param(ty = "string")]
    pub column: ColumnName,
    /// when the incident happened, e.g. 2026-11-28T23:00:00Z; default: now
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(ty = "RFC 3339 time (UTC)")]
    pub incident_time: Option<String>,
    /// the largest acceptable window, e.g. "5m"; more fails the check
    #[serde(with = "humantime_serde")]
    pub max_loss: Duration,
}

impl PgDataLossParams {
    /// Measures the newest `column` of `table` in `database`, failing above `max_loss`.
    pub fn new(
        database: PgConnection,
        table: TableName,
        column: ColumnName,
        max_loss: Duration,
    ) -> Self {
        Self {
            database,
            table,
            column,
            incident_time: None,
            max_loss,
        }
    }

    /// Measures against `incident_time` (RFC 3339, UTC) instead of now.
    #[must_use]
    pub fn incident_time(mut self, incident_time: impl Into<String>) -> Self {
        self.incident_time = Some(incident_time.into());
        self
    }
}

/// Parses an RFC 3339 UTC time (`2026-11-28T23:00:00Z`, fractions allowed).
pub(crate) fn parse_time(text: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339(text).map_err(|e| {
        format!("`{text}` is not an RFC 3339 time in UTC such as 2026-11-28T23:00:00Z: {e}")
    })
}

fn micros_since_epoch(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_micros()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_micros()).unwrap_or(i128::MAX),
    }
}

fn rfc3339_micros(micros: i128) -> String {
    let at = u64::try_from(micros)
        .ok()
        .and_then(|m| UNIX_EPOCH.checked_add(Duration::from_micros(m)));
    match at {
        Some(at) => humantime::format_rfc3339_micros(at).to_string(),
        None => format!("{micros} µs since the Unix epoch"),
    }
}

#[allow(clippy::cast_precision_loss)] // seconds with µs precision: f64 is exact well past 100 years
fn seconds(micros: i128) -> f64 {
    micros as f64 / 1_000_000.0
}

/// Measures the data-loss window (the seed's `MAX(created_at)` on `transactions`): the time
/// between the newest row of a table and the incident (default: now). That window is the
/// **measured RPO** of the database, reported to the runner as `rpo_seconds` with
/// `rpo_class = "database"`.
///
/// Passes when the window is at most `max_loss`; a newest row after the incident counts as no
/// loss (window 0). Fails (blocked / `PostconditionFailed`) when the window is larger, or when
/// the column has no value at all.
///
/// Outputs: `data_loss_seconds`, `rpo_seconds` (the same number), `rpo_class`, `newest`
/// (RFC 3339), `incident_time` (RFC 3339), `max_loss_seconds`, `table`, `column`.
#[derive(Debug, HasBase)]
pub struct PgDataLoss {
    base: Base<Self>,
    incident: Option<SystemTime>,
}

/// The incident time of `p`, if given (a [`ParamError`] when it is not RFC 3339).
fn incident_of(p: &PgDataLossParams) -> Result<Option<SystemTime>, ParamError> {
    p.incident_time
        .as_deref()
        .map(parse_time)
        .transpose()
        .map_err(|why| ParamError::new("incident_time", why))
}

impl ActionKind for PgDataLoss {
    const KIND: &'static str = "checks.pg_data_loss";
    const SUMMARY: &'static str =
        "Measure the data-loss window (RPO): newest timestamp of a table vs the incident time";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new(
            "data_loss_seconds",
            "incident time minus the newest value, in seconds (0 if newer)",
        ),
        OutputDoc::new(
            "rpo_seconds",
            "the same measured window, for the run's RPO verdict",
        ),
        OutputDoc::new("rpo_class", "\"database\""),
        OutputDoc::new("newest", "the newest value, RFC 3339 UTC"),
        OutputDoc::new("incident_time", "the incident time used, RFC 3339 UTC"),
        OutputDoc::new("max_loss_seconds", "max_loss in seconds"),
        OutputDoc::new("table", "the table"),
        OutputDoc::new("column", "the column"),
    ];
    type Params = PgDataLossParams;
    type Port = dyn PgApi;
    type Ports = PortFactory<dyn PgApi>;

    fn validate(p: &PgDataLossParams) -> Result<(), ParamError> {
        connection("database", &p.database)?;
        if p.max_loss.is_zero() {
            return Err(ParamError::new(
                "max_loss",
                "must be more than 0 (e.g. \"5m\")",
            ));
        }
        incident_of(p).map(drop)
    }

    fn build(step: StepSpec<PgDataLossParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let incident = incident_of(&step.params)?;
        let target = step.params.database.resource();
        Ok(Self {
            base: step.into_base(target, ports),
            incident,
        })
    }
}

#[async_trait]
impl Probe for PgDataLoss {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let p = &self.base.params;
        let newest = ctx
            .bounded(self.base.port.newest(&p.database, &p.table, &p.column))
            .await?;
        let incident = self.incident.unwrap_or_else(SystemTime::now);
        let incident_micros = micros_since_epoch(incident);
        let max_micros = i128::try_from(p.max_loss.as_micros()).unwrap_or(i128::MAX);
        let base = Outputs::new()
            .with("table", p.table.to_string())
            .with("column", p.column.to_string())
            .with("incident_time", rfc3339_micros(incident_micros))
            .with("max_loss_seconds", seconds(max_micros));
        let Some(newest) = newest else {
            return Ok(Finding::fail(
                format!(
                    "{}: {}.{} has no value: the data loss cannot be measured (is the table empty?)",
                    p.database, p.table, p.column
                ),
                base,
            ));
        };
        let newest_micros = i128::from(newest.epoch_micros);
        let window = (incident_micros - newest_micros).max(0);
        let loss = seconds(window);
        let outputs = base
            .with("newest", rfc3339_micros(newest_micros))
            .with("data_loss_seconds", loss)
            .with("rpo_class", RPO_CLASS_DATABASE)
            .with("rpo_seconds", loss);
        let what = format!(
            "newest {}.{} is {} ({}), {} s before the incident at {}",
            p.table,
            p.column,
            rfc3339_micros(newest_micros),
            newest.text,
            loss,
            rfc3339_micros(incident_micros)
        );
        if window > max_micros {
            Ok(Finding::fail(
                format!(
                    "data loss over the limit: {what}; max_loss is {} ({} s)",
                    humantime::format_duration(p.max_loss),
                    seconds(max_micros)
                ),
                outputs,
            ))
        } else {
            Ok(Finding::pass(
                format!(
                    "data loss {loss} s within {}: {what}",
                    humantime::format_duration(p.max_loss)
                ),
                outputs,
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// checks.pg_compare_counts

/// How far two counts may differ: a number of rows (`5`, `"5"`) or a percentage of the larger
/// count (`"0.5%"`). Default: 0 (equal).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tolerance {
    /// At most this many rows.
    Rows(u64),
    /// At most this percentage of the larger of the two counts.
    Percent(f64),
}

impl Default for Tolerance {
    fn default() -> Self {
        Self::Rows(0)
    }
}

impl Tolerance {
    /// The largest allowed difference between `left` and `right`.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    pub fn allowed(self, left: i64, right: i64) -> u64 {
        match self {
            Self::Rows(n) => n,
            // floor: "0.5% of 999 rows" allows 4, not 5.
            Self::Percent(p) => (left.max(right).max(0) as f64 * p / 100.0).floor().max(0.0) as u64,
        }
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rows(n) => write!(f, "{n} rows"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl std::str::FromStr for Tolerance {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || {
            format!(
                "`{s}` is not a tolerance: write a number of rows (5) or a percentage (\"0.5%\")"
            )
        };
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&p) {
                return Err(format!("the tolerance {p}% is not between 0% and 100%"));
            }
            return Ok(Self::Percent(p));
        }
        s.parse().map(Self::Rows).map_err(|_| bad())
    }
}

impl Serialize for Tolerance {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Rows(n) => s.serialize_u64(*n),
            Self::Percent(_) => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Tolerance {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Rows(u64),
            Text(String),
        }
        match Form::deserialize(d) {
            Ok(Form::Rows(n)) => Ok(Self::Rows(n)),
            Ok(Form::Text(s)) => s.parse().map_err(serde::de::Error::custom),
            Err(_) => Err(serde::de::Error::custom(
                "expected a tolerance: a number of rows (5) or a percentage (\"0.5%\")",
            )),
        }
    }
}

/// The parameters of `checks.pg_compare_counts`.
///
/// `left` is e.g. the primary (or its last backup's source), `right` the restored copy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PgCompareCountsParams {
    /// connection table {host, port (5432), dbname, user, password (secret reference, e.g.
    /// "env:DB_PASSWORD"), sslmode ("disable" only, for now), connect_timeout ("10s"),
    /// statement_timeout ("30s")}
    #[param(ty = "table")]
    pub left: PgConnection,
    /// the other database, same form as `left`
    #[param(ty = "table")]
    pub right: PgConnection,
    /// the tables to compare (at least one)
    #[param(ty = "list of strings")]
    pub tables: Vec<TableName>,
    /// allowed difference: rows (5) or a percentage of the larger count ("0.5%"); default 0
    #[serde(default)]
    #[param(ty = "integer or string")]
    pub tolerance: Tolerance,
}

impl PgCompareCountsParams {
    /// Compares `tables` between `left` and `right`, exactly.
    pub fn new(left: PgConnection, right: PgConnection, tables: Vec<TableName>) -> Self {
        Self {
            left,
            right,
            tables,
            tolerance: Tolerance::default(),
        }
    }

    /// Allows the counts to differ by `tolerance`.
    #[must_use]
    pub fn tolerance(mut self, tolerance: Tolerance) -> Self {
        self.tolerance = tolerance;
        self
    }
}

/// Compares exact row counts of the same tables in two databases (primary vs restored), both
/// counted at the same time.
///
/// Passes when every table's counts differ by at most `tolerance`; a missing table on either
/// side makes `check` blocked. Outputs: `tables` (`{table: {left, right, difference,
/// allowed}}`), `mismatched` (the tables over the tolerance), `left`, `right`.
#[derive(Debug, HasBase)]
pub struct PgCompareCounts {
    base: Base<Self>,
}

impl ActionKind for PgCompareCounts {
    const KIND: &'static str = "checks.pg_compare_counts";
    const SUMMARY: &'static str =
        "Compare exact row counts of tables between two databases (primary vs restored)";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("tables", "{table: {left, right, difference, allowed}}"),
        OutputDoc::new(
            "mismatched",
            "the tables whose counts differ beyond the tolerance",
        ),
        OutputDoc::new("left", "the left database (no password)"),
        OutputDoc::new("right", "the right database (no password)"),
    ];
    type Params = PgCompareCountsParams;
    type Port = dyn PgApi;
    type Ports = PortFactory<dyn PgApi>;

    fn validate(p: &PgCompareCountsParams) -> Result<(), ParamError> {
        connection("left", &p.left)?;
        connection("right", &p.right)?;
        if p.tables.is_empty() {
            return Err(ParamError::new(
                "tables",
                "name at least one table to compare",
            ));
        }
        Ok(())
    }

    /// The target resource is the right-hand database (the one being validated).
    fn build(
        step: StepSpec<PgCompareCountsParams>,
        ports: &Self::Ports,
    ) -> Result<Self, ParamError> {
        let target = step.params.right.resource();
        Ok(Self {
            base: step.into_base(target, ports),
        })
    }
}

impl PgCompareCounts {
    async fn counts(
        &self,
        ctx: &Context,
        side: &str,
        db: &PgConnection,
    ) -> Result<RowCounts, ActionError> {
        ctx.bounded(self.base.port.row_counts(db, &self.base.params.tables))
            .await
            .map_err(|e| labelled(e, &format!("{side} database {db}")))
    }
}

#[async_trait]
impl Probe for PgCompareCounts {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let p = &self.base.params;
        let (left, right) = tokio::join!(
            self.counts(ctx, "left", &p.left),
            self.counts(ctx, "right", &p.right)
        );
        let (left, right) = (left?, right?);
        let mut tables = Map::new();
        let mut mismatched = Vec::new();
        let mut mismatched_names = Vec::new();
        let mut seen = BTreeSet::new();
        for table in &p.tables {
            let name = table.to_string();
            if !seen.insert(name.clone()) {
                continue;
            }
            let l = left.exact.get(&name).copied().unwrap_or_default();
            let r = right.exact.get(&name).copied().unwrap_or_default();
            let difference = l.abs_diff(r);
            let allowed = p.tolerance.allowed(l, r);
            tables.insert(
                name.clone(),
                json!({"left": l, "right": r, "difference": difference, "allowed": allowed}),
            );
            if difference > allowed {
                mismatched_names.push(json!(name));
                mismatched.push(format!(
                    "{name}: left {l}, right {r} (difference {difference}, allowed {allowed})"
                ));
            }
        }
        let outputs = Outputs::new()
            .with("tables", Value::Object(tables))
            .with("mismatched", Value::Array(mismatched_names))
            .with("left", p.left.to_string())
            .with("right", p.right.to_string());
        if mismatched.is_empty() {
            Ok(Finding::pass(
                format!(
                    "{} tables match within {} between {} and {}",
                    seen.len(),
                    p.tolerance,
                    p.left,
                    p.right
                ),
                outputs,
            ))
        } else {
            Ok(Finding::fail(
                format!(
                    "row counts differ beyond {} between {} and {}: {}",
                    p.tolerance,
                    p.left,
                    p.right,
                    mismatched.join("; ")
                ),
                outputs,
            ))
        }
    }
}

#[cfg(test)]
#[path = "pg_checks_tests.rs"]
mod tests;
