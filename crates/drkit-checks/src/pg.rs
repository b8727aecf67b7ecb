//! The PostgreSQL side: connection parameters, safely quoted names, and the port.
//!
//! Actions are written against [`PgApi`], never against the client library, so intermediate and
//! failure cases can be unit-tested with `MockPgApi` (feature `mock`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::{ActionError, Resource, SecretRef};
use serde::{Deserialize, Serialize};

/// How to reach one PostgreSQL database. The password is a [`SecretRef`] (`env:NAME`,
/// `file:/path`, or `{ secret = "env:NAME" }`), read only when connecting; neither `Debug`,
/// `Display`, errors nor outputs ever show its value.
///
/// ```
/// let db: drkit_checks::PgConnection = serde_json::from_value(serde_json::json!({
///     "host": "mint-restored.cluster-x.us-west-2.rds.amazonaws.com",
///     "dbname": "mint", "user": "mint_ro", "password": "env:MINT_DB_PASSWORD",
/// })).unwrap();
/// assert_eq!(db.to_string(), "postgresql://mint_ro@mint-restored.cluster-x.us-west-2.rds.amazonaws.com:5432/mint");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PgConnection {
    /// Host name or IP address.
    pub host: String,
    /// TCP port (default 5432).
    #[serde(default = "default_port")]
    pub port: u16,
    /// The database name.
    pub dbname: String,
    /// The user to connect as (a read-only user is enough: every check only reads).
    pub user: String,
    /// Where the password is read from; absent for trust or peer authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// TLS, as libpq's `sslmode`: `verify-full` (the default: the certificate must be signed by
    /// a CA of `sslrootcert` and name the host), `verify-ca` (signed, any name), `require`
    /// (encrypted; verified as `verify-ca` when `sslrootcert` is given, not verified otherwise)
    /// or `disable` (plaintext, password included: only on a trusted network). drkit never falls
    /// back to plaintext, so `prefer` is refused.
    #[serde(default)]
    pub sslmode: SslMode,
    /// The PEM bundle of the CAs trusted for the server's certificate, as libpq's
    /// `sslrootcert`, e.g. AWS's RDS bundle (`global-bundle.pem`, which Amazon RDS's
    /// certificates need: no public root store holds RDS's CAs). Absent, the Mozilla root set
    /// built into drkit is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sslrootcert: Option<String>,
    /// How long connecting may take, TCP connection, start-up and authentication together
    /// (default 10 s), e.g. `"5s"`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_timeout: Option<Duration>,
    /// How long one query may run (default 30 s), e.g. `"5m"` for exact counts of very large
    /// tables: the server's `statement_timeout` for the session (the server cancels the query,
    /// SQLSTATE 57014), and drkit gives up waiting 5 s after it (a server or network that
    /// stops answering).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub statement_timeout: Option<Duration>,
}

fn default_port() -> u16 {
    5432
}

impl PgConnection {
    /// A connection to `dbname` on `host:5432` as `user`, without a password, over TLS with the
    /// certificate verified (`verify-full`) against the built-in roots.
    pub fn new(
        host: impl Into<String>,
        dbname: impl Into<String>,
        user: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            port: default_port(),
            dbname: dbname.into(),
            user: user.into(),
            password: None,
            sslmode: SslMode::VerifyFull,
            sslrootcert: None,
            connect_timeout: None,
            statement_timeout: None,
        }
    }

    /// The same connection on `port`.
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The same connection with a password read from `password`.
    #[must_use]
    pub fn password(mut self, password: SecretRef) -> Self {
        self.password = Some(password);
        self
    }

    /// The same connection with `sslmode`.
    #[must_use]
    pub fn sslmode(mut self, sslmode: SslMode) -> Self {
        self.sslmode = sslmode;
        self
    }

    /// The same connection trusting the CAs of the PEM bundle at `path` (libpq's
    /// `sslrootcert`).
    #[must_use]
    pub fn sslrootcert(mut self, path: impl Into<String>) -> Self {
        self.sslrootcert = Some(path.into());
        self
    }

    /// The resource a check on this database concerns: `postgres:database/host:port/dbname`.
    pub fn resource(&self) -> Resource {
        Resource::new(
            "postgres",
            "database",
            format!("{}:{}/{}", self.host, self.port, self.dbname),
        )
    }

    /// Why these parameters cannot be used, if they cannot.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        if self.host.trim().is_empty() {
            return Some(("host", "the host is empty".to_owned()));
        }
        if self.port == 0 {
            return Some(("port", "the port cannot be 0".to_owned()));
        }
        if self.dbname.is_empty() {
            return Some(("dbname", "the database name is empty".to_owned()));
        }
        if self.user.is_empty() {
            return Some(("user", "the user is empty".to_owned()));
        }
        if self.connect_timeout.is_some_and(|t| t.is_zero()) {
            return Some(("connect_timeout", "must be more than 0".to_owned()));
        }
        if self
            .statement_timeout
            .is_some_and(|t| t.as_millis() == 0 || t.as_millis() > i32::MAX as u128)
        {
            return Some((
                "statement_timeout",
                "must be at least 1ms and at most 24 days (PostgreSQL's limit)".to_owned(),
            ));
        }
        if self.sslmode == SslMode::Prefer {
            return Some((
                "sslmode",
                "`prefer` falls back to plaintext when the server refuses TLS, and drkit never \
                 does: use `verify-full` (the default), `verify-ca` or `require`, or `disable` \
                 on a trusted network"
                    .to_owned(),
            ));
        }
        if self.sslmode == SslMode::Disable && self.sslrootcert.is_some() {
            return Some((
                "sslrootcert",
                "is given but `sslmode` is `disable`, so no certificate would be checked: remove \
                 one of the two"
                    .to_owned(),
            ));
        }
        if self
            .sslrootcert
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            return Some(("sslrootcert", "the path is empty".to_owned()));
        }
        None
    }
}

/// Shows `postgresql://user@host:port/dbname` — never a password.
impl fmt::Display for PgConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "postgresql://{}@{}:{}/{}",
            self.user, self.host, self.port, self.dbname
        )
    }
}

/// The libpq `sslmode` values drkit knows. `verify-full` is the default; `prefer` is parsed
/// only so that its refusal can say why (it may fall back to plaintext).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SslMode {
    /// No TLS: the password and the data cross the network in clear.
    Disable,
    /// TLS if the server offers it, plaintext otherwise: refused.
    Prefer,
    /// TLS; the certificate is verified only when `sslrootcert` is given (then as `verify-ca`).
    Require,
    /// TLS; the certificate must be signed by a trusted CA, whatever name it holds.
    VerifyCa,
    /// TLS; the certificate must be signed by a trusted CA and name the host (the default).
    #[default]
    VerifyFull,
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        })
    }
}

/// A table name, `table` or `schema.table`, matched exactly (case-sensitive, as in
/// `pg_stat_user_tables`). It is always sent quoted ([`TableName::quoted`]), so a name cannot
/// inject SQL; a name that contains a dot cannot be written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName {
    schema: Option<String>,
    name: String,
}

/// Why a table or column name was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameError(String);

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NameError {}

/// PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

fn check_identifier(part: &str, what: &str) -> Result<(), NameError> {
    if part.is_empty() {
        return Err(NameError(format!("the {what} name is empty")));
    }
    if part.len() > MAX_IDENTIFIER_BYTES {
        return Err(NameError(format!(
            "the {what} name `{part}` is longer than {MAX_IDENTIFIER_BYTES} bytes"
        )));
    }
    if part.chars().any(char::is_control) {
        return Err(NameError(format!(
            "the {what} name contains a control character"
        )));
    }
    Ok(())
}

/// `"name"` with any `"` doubled: a quoted identifier, whatever the name holds.
pub(crate) fn quote_identifier(part: &str) -> String {
    format!("\"{}\"", part.replace('"', "\"\""))
}

impl TableName {
    /// A table in the search path (usually `public`).
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        check_identifier(&name, "table")?;
        Ok(Self { schema: None, name })
    }

    /// A table in `schema`.
    pub fn in_schema(
        schema: impl Into<String>,
        name: impl Into<String>,
    ) -> Result<Self, NameError> {
        let schema = schema.into();
        check_identifier(&schema, "schema")?;
        let mut table = Self::new(name)?;
        table.schema = Some(schema);
        Ok(table)
    }

    /// The schema, when given.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The table name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name as SQL: `"schema"."table"`, each part quoted.
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(schema) => format!(
                "{}.{}",
                quote_identifier(schema),
                quote_identifier(&self.name)
            ),
            None => quote_identifier(&self.name),
        }
    }
}

impl FromStr for TableName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('.') {
            None => Self::new(s),
            Some((schema, name)) if !name.contains('.') => Self::in_schema(schema, name),
            Some(_) => Err(NameError(format!(
                "`{s}` has more than one dot: write `table` or `schema.table`"
            ))),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl Serialize for TableName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TableName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A column name, matched exactly and always sent quoted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ColumnName(String);

impl ColumnName {
    /// A column name.
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        check_identifier(&name, "column")?;
        Ok(Self(name))
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.0
    }

    /// The name as SQL, quoted.
    pub fn quoted(&self) -> String {
        quote_identifier(&self.0)
    }
}

impl fmt::Display for ColumnName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ColumnName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ColumnName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Row counts of one database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RowCounts {
    /// Exact `COUNT(*)` of each table asked for, keyed by the name as given.
    pub exact: BTreeMap<String, i64>,
    /// `n_live_tup` of every user table (`pg_stat_user_tables`), keyed by `schema.table`. An
    /// estimate, maintained by the statistics system (exact right after `ANALYZE`).
    pub live_tuples: BTreeMap<String, i64>,
}

/// The newest value of a timestamp column.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Newest {
    /// Microseconds since the Unix epoch (a `timestamp without time zone` is read as UTC).
    pub epoch_micros: i64,
    /// The value as PostgreSQL prints it.
    pub text: String,
}

impl Newest {
    /// A newest value at `epoch_micros`, printed as `text`.
    pub fn new(epoch_micros: i64, text: impl Into<String>) -> Self {
        Self {
            epoch_micros,
            text: text.into(),
        }
    }
}

/// The PostgreSQL operations the checks use. Implemented by [`crate::TokioPg`] over
/// `tokio-postgres`, and by `MockPgApi` (feature `mock`) in tests.
///
/// Each call opens its own read-only session and closes it. Errors are classified
/// [`ActionError`]s: connection refused or reset -> `Unavailable` (retryable), bad password ->
/// `AccessDenied`, unknown database, table or column -> `NotFound`, a column of the wrong type
/// -> `InvalidInput`; the SQLSTATE is the error's code.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PgApi: fmt::Debug + Send + Sync {
    /// Exact counts of `tables`, and `n_live_tup` of every user table.
    async fn row_counts(
        &self,
        db: &PgConnection,
        tables: &[TableName],
    ) -> Result<RowCounts, ActionError>;

    /// The newest (`max`) value of `column` in `table`; `None` when it has no non-null value.
    async fn newest(
        &self,
        db: &PgConnection,
        table: &TableName,
        column: &ColumnName,
    ) -> Result<Option<Newest>, ActionError>;
}

#[cfg(test)]
#[path = "pg_tests.rs"]
mod tests;
