//! The adapter: [`PgApi`] over `tokio-postgres`. It only translates (connection settings,
//! queries, rows, error classification); all decisions are in the actions.

use std::future::Future;
use std::io;
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::{ActionError, ErrorKind, ExposeSecret};
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::pg::{ColumnName, Newest, PgApi, PgConnection, RowCounts, TableName};
use crate::tls;

/// How long connecting (TCP, start-up, authentication) may take when the connection does not
/// say.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one query may run when the connection does not say.
pub(crate) const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How much longer than the statement time-out drkit waits for an answer: the server's own
/// cancellation (SQLSTATE 57014) normally comes first, this bounds a server or a network that
/// stops answering altogether.
pub(crate) const STATEMENT_GRACE: Duration = Duration::from_secs(5);

/// [`PgApi`] over `tokio-postgres`, over TLS (rustls, through `tokio-postgres-rustls`) as the
/// connection's `sslmode` says, never falling back to plaintext. Every session is read-only
/// (`default_transaction_read_only=on`), has a `statement_timeout` and is named `drkit-checks`
/// in `pg_stat_activity`. Connecting is bounded as a whole (tokio-postgres's own
/// `connect_timeout` covers the TCP connection only, not the start-up and authentication that
/// follow), and so is waiting for each answer.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioPg;

impl TokioPg {
    /// The adapter.
    pub fn new() -> Self {
        Self
    }

    async fn connect(db: &PgConnection) -> Result<tokio_postgres::Client, ActionError> {
        if let Some((param, why)) = db.problem() {
            return Err(ActionError::invalid_input(format!("{param}: {why}")));
        }
        let connect_timeout = db.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let mut config = tokio_postgres::Config::new();
        config
            .host(&db.host)
            .port(db.port)
            .dbname(&db.dbname)
            .user(&db.user)
            .application_name("drkit-checks")
            .options(session_options(db))
            .connect_timeout(connect_timeout);
        let tls = tls::pg_client_config(db)?;
        // `Require` makes tokio-postgres refuse a server that will not speak TLS (no fallback);
        // which certificate is accepted is the verifier's business (`tls::pg_client_config`).
        config.ssl_mode(if tls.is_some() {
            PgSslMode::Require
        } else {
            PgSslMode::Disable
        });
        if let Some(password) = &db.password {
            let secret = password.resolve()?;
            config.password(secret.expose_secret());
        }
        let doing = format!("connecting to {db} (sslmode {})", db.sslmode);
        // The connection tasks end when `client` is dropped.
        let client = match tls {
            Some(tls) => {
                let tls = MakeRustlsConnect::new(tls);
                let (client, connection) =
                    bounded_connect(connect_timeout, &doing, config.connect(tls)).await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                client
            }
            None => {
                let (client, connection) =
                    bounded_connect(connect_timeout, &doing, config.connect(NoTls)).await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                client
            }
        };
        Ok(client)
    }
}

/// `connect`, bounded as a whole by `limit` (tokio-postgres's own `connect_timeout` covers the
/// TCP connection only).
async fn bounded_connect<T>(
    limit: Duration,
    doing: &str,
    connect: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, ActionError> {
    tokio::time::timeout(limit, connect)
        .await
        .map_err(|_| no_answer(doing, limit, "connect_timeout"))?
        .map_err(|e| classify(e, doing))
}

/// The session's options: read-only, and the statement time-out in milliseconds.
pub(crate) fn session_options(db: &PgConnection) -> String {
    let statement = db.statement_timeout.unwrap_or(DEFAULT_STATEMENT_TIMEOUT);
    format!(
        "-c default_transaction_read_only=on -c statement_timeout={}",
        statement.as_millis().max(1)
    )
}

/// Nothing came back within `limit` (set by the connection's `param`): a `Timeout`, which a
/// retry may cure.
fn no_answer(doing: &str, limit: Duration, param: &str) -> ActionError {
    ActionError::new(
        ErrorKind::Timeout,
        format!(
            "{doing}: no answer within {} (the connection's `{param}`)",
            humantime::format_duration(limit)
        ),
    )
}

/// `query`, waited for at most the statement time-out plus [`STATEMENT_GRACE`].
async fn bounded<T>(
    db: &PgConnection,
    doing: &str,
    query: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, ActionError> {
    let statement = db.statement_timeout.unwrap_or(DEFAULT_STATEMENT_TIMEOUT);
    let limit = statement + STATEMENT_GRACE;
    match tokio::time::timeout(limit, query).await {
        Ok(result) => result.map_err(|e| classify(e, doing)),
        Err(_) => Err(no_answer(doing, limit, "statement_timeout")),
    }
}

#[async_trait]
impl PgApi for TokioPg {
    async fn row_counts(
        &self,
        db: &PgConnection,
        tables: &[TableName],
    ) -> Result<RowCounts, ActionError> {
        let client = Self::connect(db).await?;
        let mut counts = RowCounts::default();
        for table in tables {
            // The name is quoted (`TableName::quoted`): it cannot inject SQL.
            let sql = format!("SELECT count(*) FROM {}", table.quoted());
            let doing = format!("counting the rows of {table}");
            let row = bounded(db, &doing, client.query_one(&sql, &[])).await?;
            let n: i64 = row.try_get(0).map_err(|e| classify(e, "reading a count"))?;
            counts.exact.insert(table.to_string(), n);
        }
        let rows = bounded(
            db,
            "reading pg_stat_user_tables",
            client.query(
                "SELECT schemaname::text, relname::text, n_live_tup \
                 FROM pg_stat_user_tables ORDER BY 1, 2",
                &[],
            ),
        )
        .await?;
        for row in rows {
            let schema: String = row.try_get(0).map_err(|e| classify(e, "reading a row"))?;
            let table: String = row.try_get(1).map_err(|e| classify(e, "reading a row"))?;
            let live: i64 = row.try_get(2).map_err(|e| classify(e, "reading a row"))?;
            counts.live_tuples.insert(format!("{schema}.{table}"), live);
        }
        Ok(counts)
    }

    async fn newest(
        &self,
        db: &PgConnection,
        table: &TableName,
        column: &ColumnName,
    ) -> Result<Option<Newest>, ActionError> {
        let client = Self::connect(db).await?;
        // Exact to the microsecond: epoch * 1e6 is computed as numeric, then rounded to int8.
        let sql = format!(
            "SELECT (EXTRACT(EPOCH FROM max({c})) * 1000000)::int8, max({c})::text FROM {t}",
            c = column.quoted(),
            t = table.quoted()
        );
        let doing = format!("reading max({column}) of {table}");
        let row = bounded(db, &doing, client.query_one(&sql, &[])).await?;
        let micros: Option<i64> = row.try_get(0).map_err(|e| classify(e, "reading a row"))?;
        let text: Option<String> = row.try_get(1).map_err(|e| classify(e, "reading a row"))?;
        Ok(micros.map(|m| Newest::new(m, text.unwrap_or_default())))
    }
}

/// Classifies a `tokio-postgres` error: by SQLSTATE when the server answered, by the I/O error
/// otherwise. The message says what was being done; it never holds a password (the server's
/// messages do not, and the connection string is never printed).
pub(crate) fn classify(err: tokio_postgres::Error, doing: &str) -> ActionError {
    if let Some(db) = err.as_db_error() {
        let code = db.code().code().to_owned();
        let kind = sqlstate_kind(&code);
        let mut message = format!("{doing}: {}", db.message());
        // pg_hba.conf has no line for a plaintext connection (`hostssl` only, as RDS with
        // `rds.force_ssl`): "no pg_hba.conf entry for host ..., no encryption".
        if code == "28000" && db.message().ends_with("no encryption") {
            message.push_str(
                "; the server accepts only TLS connections: remove `sslmode = \"disable\"` \
                 (the default, `verify-full`, encrypts and verifies the server)",
            );
        }
        return ActionError::new(kind, message)
            .with_code(code)
            .with_source(err);
    }
    if let Some(tls) = tls::rustls_error(&err) {
        // A certificate the client refuses: a retry meets the same certificate.
        let message = format!(
            "{doing}: {err}: {tls}; {}",
            tls::tls_advice(tls, "sslrootcert")
        );
        return ActionError::new(ErrorKind::Other, message)
            .with_code("TlsHandshake")
            .with_source(err);
    }
    if source_says(&err, "server does not support TLS") {
        return ActionError::new(
            ErrorKind::Other,
            format!(
                "{doing}: the server does not accept TLS, and drkit does not fall back to \
                 plaintext; `sslmode = \"disable\"` sends the password in clear (only on a \
                 trusted network)"
            ),
        )
        .with_code("TlsNotOffered")
        .with_source(err);
    }
    let io_kind = find_io_kind(&err);
    let kind = match io_kind {
        Some(io::ErrorKind::TimedOut) => ErrorKind::Timeout,
        Some(_) => ErrorKind::Unavailable,
        None if err.is_closed() => ErrorKind::Unavailable,
        None => {
            let text = err.to_string();
            if text.contains("timeout") || text.contains("timed out") {
                ErrorKind::Timeout
            } else if text.starts_with("invalid configuration") {
                ErrorKind::InvalidInput
            } else if text.starts_with("error connecting") || text.contains("connection") {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Other
            }
        }
    };
    let message = format!("{doing}: {err}");
    ActionError::new(kind, message).with_source(err)
}

/// Whether `err` or one of its sources says `text` (tokio-postgres puts the reason of a failed
/// TLS negotiation in the source, not in its own message).
fn source_says(err: &(dyn std::error::Error + 'static), text: &str) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.to_string().contains(text) {
            return true;
        }
        current = e.source();
    }
    false
}

fn find_io_kind(err: &(dyn std::error::Error + 'static)) -> Option<io::ErrorKind> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        current = e.source();
    }
    None
}

/// The drkit error kind of a SQLSTATE.
pub(crate) fn sqlstate_kind(code: &str) -> ErrorKind {
    match code {
        // invalid_password, invalid_authorization_specification, insufficient_privilege
        "28P01" | "28000" | "42501" => ErrorKind::AccessDenied,
        // invalid_catalog_name (no such database), undefined_table, undefined_column,
        // invalid_schema_name
        "3D000" | "42P01" | "42703" | "3F000" => ErrorKind::NotFound,
        // query_canceled (statement_timeout)
        "57014" => ErrorKind::Timeout,
        // admin_shutdown, crash_shutdown, cannot_connect_now (starting up, recovering),
        // too_many_connections, serialization_failure, deadlock_detected
        "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01" => ErrorKind::Unavailable,
        // connection_exception class, insufficient_resources class
        c if c.starts_with("08") || c.starts_with("53") => ErrorKind::Unavailable,
        // syntax/access rule class (e.g. EXTRACT on a non-time column), data exceptions
        c if c.starts_with("42") || c.starts_with("22") => ErrorKind::InvalidInput,
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
#[path = "pg_client_tests.rs"]
mod tests;
