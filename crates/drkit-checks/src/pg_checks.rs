//! The PostgreSQL checks: `checks.pg_row_counts`, `checks.pg_data_loss` and
//! `checks.pg_compare_counts`.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use drkit_core::{ActionError, Check, Context, Outputs, RecoveryAction, Resource};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::pg::{ColumnName, PgApi, PgConnection, RowCounts, TableName};
use crate::verdict::{Measurement, as_check, as_outputs, as_verified, labelled};

/// Kind name of [`PgRowCounts`].
pub(crate) const ROW_COUNTS_KIND: &str = "checks.pg_row_counts";
/// Kind name of [`PgDataLoss`].
pub(crate) const DATA_LOSS_KIND: &str = "checks.pg_data_loss";
/// Kind name of [`PgCompareCounts`].
pub(crate) const COMPARE_COUNTS_KIND: &str = "checks.pg_compare_counts";

/// The RPO class `checks.pg_data_loss` reports its measurement under.
pub const RPO_CLASS_DATABASE: &str = "database";

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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PgRowCountsParams {
    /// The database.
    pub database: PgConnection,
    /// Tables to count exactly (`COUNT(*)`); `table` or `schema.table`.
    #[serde(default)]
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
pub struct PgRowCounts {
    id: String,
    params: PgRowCountsParams,
    target: Resource,
    api: Arc<dyn PgApi>,
}

impl fmt::Debug for PgRowCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgRowCounts")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PgRowCounts {
    /// A row-count step `id`, reading through `api`.
    pub fn new(id: impl Into<String>, params: PgRowCountsParams, api: Arc<dyn PgApi>) -> Self {
        let target = params.database.resource();
        Self {
            id: id.into(),
            params,
            target,
            api,
        }
    }

    async fn measure(&self, ctx: &Context) -> Result<Measurement, ActionError> {
        let db = &self.params.database;
        let counts = ctx
            .bounded(self.api.row_counts(db, &self.params.tables))
            .await
            .map_err(|e| e.in_action(self))?;
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
        Ok(Measurement::pass(outputs, detail))
    }
}

#[async_trait]
impl RecoveryAction for PgRowCounts {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        ROW_COUNTS_KIND
    }
    fn target(&self) -> &Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        false
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }
    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        as_check(self.measure(ctx).await)
    }
    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        as_outputs(self.measure(ctx).await, self)
    }
    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        as_verified(self.measure(ctx).await, self)
    }
}

// ---------------------------------------------------------------------------------------------
// checks.pg_data_loss

/// The parameters of `checks.pg_data_loss`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PgDataLossParams {
    /// The (restored or promoted) database.
    pub database: PgConnection,
    /// The table whose newest row is looked for, e.g. `transactions`.
    pub table: TableName,
    /// Its timestamp column, e.g. `created_at` (`timestamptz`, `timestamp` read as UTC, or
    /// `date`).
    pub column: ColumnName,
    /// When the incident happened, RFC 3339 in UTC (`2026-11-28T23:00:00Z`); default: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_time: Option<String>,
    /// The largest acceptable data-loss window, e.g. `"5m"`.
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
pub struct PgDataLoss {
    id: String,
    params: PgDataLossParams,
    incident: Option<SystemTime>,
    target: Resource,
    api: Arc<dyn PgApi>,
}

impl fmt::Debug for PgDataLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgDataLoss")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PgDataLoss {
    /// A data-loss step `id`, reading through `api`. Fails when `incident_time` is not an
    /// RFC 3339 UTC time.
    pub fn new(
        id: impl Into<String>,
        params: PgDataLossParams,
        api: Arc<dyn PgApi>,
    ) -> Result<Self, ActionError> {
        let incident = params
            .incident_time
            .as_deref()
            .map(parse_time)
            .transpose()
            .map_err(ActionError::invalid_input)?;
        let target = params.database.resource();
        Ok(Self {
            id: id.into(),
            params,
            incident,
            target,
            api,
        })
    }

    async fn measure(&self, ctx: &Context) -> Result<Measurement, ActionError> {
        let p = &self.params;
        let newest = ctx
            .bounded(self.api.newest(&p.database, &p.table, &p.column))
            .await
            .map_err(|e| e.in_action(self))?;
        let incident = self.incident.unwrap_or_else(SystemTime::now);
        let incident_micros = micros_since_epoch(incident);
        let max_micros = i128::try_from(p.max_loss.as_micros()).unwrap_or(i128::MAX);
        let base = Outputs::new()
            .with("table", p.table.to_string())
            .with("column", p.column.to_string())
            .with("incident_time", rfc3339_micros(incident_micros))
            .with("max_loss_seconds", seconds(max_micros));
        let Some(newest) = newest else {
            return Ok(Measurement::fail(
                base,
                format!(
                    "{}: {}.{} has no value: the data loss cannot be measured (is the table empty?)",
                    p.database, p.table, p.column
                ),
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
            Ok(Measurement::fail(
                outputs,
                format!(
                    "data loss over the limit: {what}; max_loss is {} ({} s)",
                    humantime::format_duration(p.max_loss),
                    seconds(max_micros)
                ),
            ))
        } else {
            Ok(Measurement::pass(
                outputs,
                format!(
                    "data loss {loss} s within {}: {what}",
                    humantime::format_duration(p.max_loss)
                ),
            ))
        }
    }
}

#[async_trait]
impl RecoveryAction for PgDataLoss {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        DATA_LOSS_KIND
    }
    fn target(&self) -> &Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        false
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }
    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        as_check(self.measure(ctx).await)
    }
    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        as_outputs(self.measure(ctx).await, self)
    }
    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        as_verified(self.measure(ctx).await, self)
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PgCompareCountsParams {
    /// One database (e.g. the primary, or its last backup's source).
    pub left: PgConnection,
    /// The other (e.g. the restored copy).
    pub right: PgConnection,
    /// The tables to compare (at least one).
    pub tables: Vec<TableName>,
    /// How far the counts may differ (default 0).
    #[serde(default)]
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
pub struct PgCompareCounts {
    id: String,
    params: PgCompareCountsParams,
    target: Resource,
    api: Arc<dyn PgApi>,
}

impl fmt::Debug for PgCompareCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgCompareCounts")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PgCompareCounts {
    /// A comparison step `id`, reading both databases through `api`. The target resource is
    /// the right-hand database (the one being validated).
    pub fn new(id: impl Into<String>, params: PgCompareCountsParams, api: Arc<dyn PgApi>) -> Self {
        let target = params.right.resource();
        Self {
            id: id.into(),
            params,
            target,
            api,
        }
    }

    async fn counts(
        &self,
        ctx: &Context,
        side: &str,
        db: &PgConnection,
    ) -> Result<RowCounts, ActionError> {
        ctx.bounded(self.api.row_counts(db, &self.params.tables))
            .await
            .map_err(|e| labelled(e, &format!("{side} database {db}")).in_action(self))
    }

    async fn measure(&self, ctx: &Context) -> Result<Measurement, ActionError> {
        let p = &self.params;
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
            Ok(Measurement::pass(
                outputs,
                format!(
                    "{} tables match within {} between {} and {}",
                    seen.len(),
                    p.tolerance,
                    p.left,
                    p.right
                ),
            ))
        } else {
            Ok(Measurement::fail(
                outputs,
                format!(
                    "row counts differ beyond {} between {} and {}: {}",
                    p.tolerance,
                    p.left,
                    p.right,
                    mismatched.join("; ")
                ),
            ))
        }
    }
}

#[async_trait]
impl RecoveryAction for PgCompareCounts {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        COMPARE_COUNTS_KIND
    }
    fn target(&self) -> &Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        false
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }
    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        as_check(self.measure(ctx).await)
    }
    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        as_outputs(self.measure(ctx).await, self)
    }
    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        as_verified(self.measure(ctx).await, self)
    }
}

#[cfg(test)]
#[path = "pg_checks_tests.rs"]
mod tests;
