//! The PostgreSQL checks against a real PostgreSQL server (password authentication,
//! scram-sha-256, TLS only as RDS with `rds.force_ssl`), with tables seeded here: exact counts,
//! the exact measured data-loss window, SQLSTATE classification, injection-proof table names,
//! a password that never shows, and every `sslmode` against the TLS-only server.

use std::time::Duration;

use drkit_checks::{PgConnection, SslMode, TokioPg};
use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionRef, Check, Context, ErrorKind, SecretRef};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{peer, unique_ident};

const PASSWORD_VAR: &str = "DRKIT_TEST_PG_PASSWORD";

/// The server announced in `DRKIT_TEST_PG_URL` (`postgresql://user@host:port/dbname`), its
/// certificate signed by the CA in `DRKIT_TEST_TLS_CA`.
struct Pg {
    host: String,
    port: u16,
    user: String,
    dbname: String,
    password: String,
    ca: String,
}

impl Pg {
    fn find() -> Option<Self> {
        let url = peer("DRKIT_TEST_PG_URL", "the test PostgreSQL server")?;
        let password = peer(PASSWORD_VAR, "the test PostgreSQL server's password")?;
        let ca = peer("DRKIT_TEST_TLS_CA", "the test peers' CA")?;
        let rest = url
            .strip_prefix("postgresql://")
            .or_else(|| url.strip_prefix("postgres://"))
            .expect("a postgresql:// URL");
        let (user, rest) = rest.split_once('@').expect("user@host");
        let (hostport, dbname) = rest.split_once('/').expect("host:port/dbname");
        let (host, port) = hostport.rsplit_once(':').expect("host:port");
        Some(Self {
            host: host.to_owned(),
            port: port.parse().unwrap(),
            user: user.to_owned(),
            dbname: dbname.to_owned(),
            password,
            ca,
        })
    }

    /// The connection table of `dbname`, password by reference to the environment, TLS
    /// verified (`verify-full`, the default) against the test CA.
    fn params(&self, dbname: &str) -> Value {
        json!({
            "host": self.host, "port": self.port, "dbname": dbname, "user": self.user,
            "password": format!("env:{PASSWORD_VAR}"), "sslrootcert": self.ca,
        })
    }

    async fn client(&self, dbname: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::Config::new()
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .password(&self.password)
            .dbname(dbname)
            .ssl_mode(tokio_postgres::config::SslMode::Require)
            .connect(self.tls())
            .await
            .unwrap();
        tokio::spawn(connection);
        client
    }

    /// The test's own TLS (for seeding), trusting the test CA.
    fn tls(&self) -> MakeRustlsConnect {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&self.ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        MakeRustlsConnect::new(config)
    }

    /// A fresh schema with `transactions(id, amount, created_at timestamptz, booked timestamp)`
    /// holding `rows` (created_at), and `accounts` with `accounts` rows.
    async fn seed(&self, dbname: &str, schema: &str, rows: &[&str], accounts: usize) {
        let client = self.client(dbname).await;
        client
            .batch_execute(&format!(
                "CREATE SCHEMA {schema};
                 CREATE TABLE {schema}.transactions (
                     id bigserial PRIMARY KEY, amount numeric NOT NULL,
                     created_at timestamptz NOT NULL, booked timestamp NOT NULL);
                 CREATE TABLE {schema}.accounts (id bigserial PRIMARY KEY, name text);"
            ))
            .await
            .unwrap();
        for (i, at) in rows.iter().enumerate() {
            client
                .execute(
                    &format!(
                        "INSERT INTO {schema}.transactions (amount, created_at, booked) \
                         VALUES ($1::int4::numeric, $2::text::timestamptz, \
                                 ($2::text::timestamptz AT TIME ZONE 'UTC'))"
                    ),
                    &[&(i32::try_from(i).unwrap() + 10), at],
                )
                .await
                .unwrap();
        }
        for i in 0..accounts {
            client
                .execute(
                    &format!("INSERT INTO {schema}.accounts (name) VALUES ($1)"),
                    &[&format!("account-{i}")],
                )
                .await
                .unwrap();
        }
    }
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    drkit_checks::register(&mut registry).unwrap();
    registry
}

fn build(kind: &str, params: Value) -> ActionRef {
    registry()
        .build(&ActionSpec::new("validate", kind, params))
        .unwrap()
}

/// The seed's three transactions, the newest 2 min 30.25 s before the incident.
const ROWS: [&str; 3] = [
    "2026-11-28T22:40:00Z",
    "2026-11-28T22:57:29.75Z",
    "2026-11-28T22:51:13.5Z",
];
const INCIDENT: &str = "2026-11-28T23:00:00Z";

#[tokio::test]
async fn the_data_loss_window_is_measured_exactly() {
    let Some(pg) = Pg::find() else { return };
    let schema = unique_ident("loss");
    pg.seed(&pg.dbname, &schema, &ROWS, 0).await;
    let params = |column: &str, max_loss: &str| {
        json!({
            "database": pg.params(&pg.dbname), "table": format!("{schema}.transactions"),
            "column": column, "incident_time": INCIDENT, "max_loss": max_loss,
        })
    };
    let ctx = Context::new().with_timeout(Duration::from_secs(30));

    // timestamptz, and timestamp (read as UTC): the same window, to the microsecond.
    for column in ["created_at", "booked"] {
        let action = build("checks.pg_data_loss", params(column, "5m"));
        let Check::Done { detail, outputs } = action.check(&ctx).await.unwrap() else {
            panic!("not done");
        };
        assert_eq!(
            outputs.get("data_loss_seconds"),
            Some(&json!(150.25)),
            "{column}"
        );
        assert_eq!(outputs.get("rpo_seconds"), Some(&json!(150.25)));
        assert_eq!(outputs.get_str("rpo_class"), Some("database"));
        assert_eq!(
            outputs.get_str("newest"),
            Some("2026-11-28T22:57:29.750000Z")
        );
        assert!(detail.contains("within 5m"), "{detail}");
        assert_eq!(action.execute(&ctx).await.unwrap(), outputs);
        action.verify(&ctx).await.unwrap();
    }

    // Over the limit: check and execute fail as a postcondition, carrying the measurement.
    let action = build("checks.pg_data_loss", params("created_at", "2m"));
    let err = action.check(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    assert_eq!(
        err.outputs().unwrap().get("rpo_seconds"),
        Some(&json!(150.25))
    );
    assert!(
        err.message().contains("150.25 s before the incident"),
        "{err}"
    );
    let err = action.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);

    // Not a time column: an input error with the SQLSTATE; a missing column: blocked.
    let err = build("checks.pg_data_loss", params("amount", "5m"))
        .check(&ctx)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(err.code(), Some("42883"));
    let check = build("checks.pg_data_loss", params("updated_at", "5m"))
        .check(&ctx)
        .await
        .unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("does not exist")),
        "{check:?}"
    );
}

#[tokio::test]
async fn rows_are_counted_exactly_and_from_the_statistics() {
    let Some(pg) = Pg::find() else { return };
    let schema = unique_ident("counts");
    pg.seed(&pg.dbname, &schema, &ROWS, 5).await;
    let action = build(
        "checks.pg_row_counts",
        json!({
            "database": pg.params(&pg.dbname),
            "tables": [format!("{schema}.transactions"), format!("{schema}.accounts")],
        }),
    );
    let ctx = Context::new().with_timeout(Duration::from_secs(30));
    let Check::Done { outputs, .. } = action.check(&ctx).await.unwrap() else {
        panic!("not done");
    };
    // Exact counts: at once.
    assert_eq!(
        outputs.get("counts"),
        Some(&json!({
            format!("{schema}.transactions"): 3,
            format!("{schema}.accounts"): 5,
        }))
    );
    assert!(outputs.get("user_tables").unwrap().as_u64().unwrap() >= 2);
    // n_live_tup: once the inserting session's statistics are flushed (PostgreSQL flushes
    // them at most once a second while idle), so poll for up to 15 s.
    let want = json!([3, 5]);
    let mut seen = Value::Null;
    for _ in 0..150 {
        let outputs = action.execute(&ctx).await.unwrap();
        let live = outputs.get("live_tuples").unwrap();
        seen = json!([
            live[format!("{schema}.transactions")],
            live[format!("{schema}.accounts")]
        ]);
        if seen == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, want, "n_live_tup of transactions and accounts");
}

#[tokio::test]
async fn a_table_name_cannot_inject_sql() {
    let Some(pg) = Pg::find() else { return };
    let schema = unique_ident("inject");
    pg.seed(&pg.dbname, &schema, &ROWS, 2).await;
    // Quoting without doubling the quote would run the DROP.
    let evil = format!("{schema}.accounts\"; DROP SCHEMA {schema} CASCADE; --");
    let action = build(
        "checks.pg_row_counts",
        json!({"database": pg.params(&pg.dbname), "tables": [evil]}),
    );
    let ctx = Context::new();
    let check = action.check(&ctx).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("does not exist")),
        "{check:?}"
    );
    let err = action.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.code(), Some("42P01"));
    // The table is still there.
    let client = pg.client(&pg.dbname).await;
    let n: i64 = client
        .query_one(&format!("SELECT count(*) FROM {schema}.accounts"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}

#[tokio::test]
async fn counts_are_compared_between_two_databases() {
    let Some(pg) = Pg::find() else { return };
    let restored = unique_ident("restored");
    let admin = pg.client(&pg.dbname).await;
    admin
        .batch_execute(&format!("CREATE DATABASE {restored}"))
        .await
        .unwrap();
    let schema = unique_ident("cmp");
    pg.seed(&pg.dbname, &schema, &ROWS, 10).await;
    pg.seed(&restored, &schema, &ROWS[..2], 10).await;
    let params = |tolerance: Value| {
        json!({
            "left": pg.params(&pg.dbname), "right": pg.params(&restored),
            "tables": [format!("{schema}.transactions"), format!("{schema}.accounts")],
            "tolerance": tolerance,
        })
    };
    let ctx = Context::new().with_timeout(Duration::from_secs(30));

    let exact = build("checks.pg_compare_counts", params(json!(0)));
    let Check::Blocked { reason } = exact.check(&ctx).await.unwrap() else {
        panic!("not blocked");
    };
    assert!(
        reason.contains(&format!(
            "{schema}.transactions: left 3, right 2 (difference 1, allowed 0)"
        )),
        "{reason}"
    );
    assert!(!reason.contains("accounts:"), "{reason}");

    let tolerant = build("checks.pg_compare_counts", params(json!("50%")));
    let outputs = tolerant.execute(&ctx).await.unwrap();
    assert_eq!(
        outputs.get("tables").unwrap()[format!("{schema}.transactions")],
        json!({"left": 3, "right": 2, "difference": 1, "allowed": 1})
    );
    assert_eq!(outputs.get("mismatched"), Some(&json!([])));

    drop(admin);
    let admin = pg.client("postgres").await;
    admin
        .batch_execute(&format!("DROP DATABASE {restored} WITH (FORCE)"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_missing_database_blocks_the_check() {
    let Some(pg) = Pg::find() else { return };
    let action = build(
        "checks.pg_row_counts",
        json!({"database": pg.params("drkit_no_such_database")}),
    );
    let check = action.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("does not exist")),
        "{check:?}"
    );
}

/// A wrong password (known to the test) and the right one (from the environment): the server
/// refuses the first with SQLSTATE 28P01 (`AccessDenied`, not retryable), and neither password
/// appears in any error, Debug output, check answer or outputs.
#[tokio::test]
async fn passwords_never_show_and_a_wrong_one_is_access_denied() {
    let Some(pg) = Pg::find() else { return };
    const WRONG: &str = "wr0ng-Known-pa55word";
    let dir = std::env::temp_dir().join(unique_ident("drkit_checks_pw"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pw");
    std::fs::write(&file, WRONG).unwrap();
    let mut database = pg.params(&pg.dbname);
    database["password"] = json!({"secret": format!("file:{}", file.display())});
    let wrong = build(
        "checks.pg_data_loss",
        json!({"database": database, "table": "transactions", "column": "created_at",
               "max_loss": "5m"}),
    );
    let err = wrong.check(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied, "{err}");
    assert_eq!(err.code(), Some("28P01"));
    assert!(!err.is_retryable());

    let right = build(
        "checks.pg_row_counts",
        json!({"database": pg.params(&pg.dbname), "tables": []}),
    );
    let check = right.check(&Context::new()).await.unwrap();
    let outputs = right.execute(&Context::new()).await.unwrap();
    let mut texts = vec![
        err.to_string(),
        format!("{err:?}"),
        format!("{wrong:?}"),
        format!("{right:?}"),
        format!("{check:?}"),
        serde_json::to_string(&outputs).unwrap(),
    ];
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        texts.push(format!("{s} {s:?}"));
        source = s.source();
    }
    for text in &texts {
        assert!(!text.contains(WRONG), "the wrong password leaked: {text}");
        assert!(!text.contains(&pg.password), "the password leaked: {text}");
    }
    std::fs::remove_dir_all(&dir).ok();

    // The port directly, with the SecretRef type.
    let db = PgConnection::new(&pg.host, &pg.dbname, &pg.user)
        .port(pg.port)
        .sslrootcert(&pg.ca)
        .password(SecretRef::Env(PASSWORD_VAR.into()));
    let counts = drkit_checks::PgApi::row_counts(&TokioPg::new(), &db, &[])
        .await
        .unwrap();
    assert!(counts.exact.is_empty());
}

/// Nothing listening: the real adapter's error is `Unavailable` (retryable).
#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let action = build(
        "checks.pg_row_counts",
        json!({"database": {"host": "127.0.0.1", "port": port, "dbname": "x", "user": "x"}}),
    );
    let err = action.check(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
}

/// A server that accepts the connection and never answers the start-up message: connecting
/// fails with `Timeout` within the connection's `connect_timeout` (tokio-postgres's own covers
/// the TCP connection only, so without drkit's bound this would wait for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_fails_the_connection_with_a_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let action = build(
        "checks.pg_row_counts",
        json!({"database": {"host": "127.0.0.1", "port": port, "dbname": "x", "user": "x",
                            "connect_timeout": "800ms"}}),
    );
    let started = std::time::Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(10), action.check(&Context::new()))
        .await
        .expect("bounded by connect_timeout, not by this test")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("connect_timeout"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// A query running past the connection's `statement_timeout` is cancelled by the server
/// (SQLSTATE 57014) and fails with `Timeout` soon after the bound: a view whose column sleeps
/// 5 s (`pg_sleep`), read with a 1 s statement time-out.
#[tokio::test]
async fn a_query_past_the_statement_timeout_is_cancelled_by_the_server() {
    let Some(pg) = Pg::find() else { return };
    let schema = unique_ident("slow");
    pg.client(&pg.dbname)
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA {schema};
             CREATE FUNCTION {schema}.slow_now() RETURNS timestamptz VOLATILE LANGUAGE sql
                 AS $$ SELECT pg_sleep(5); SELECT now(); $$;
             CREATE VIEW {schema}.slow AS SELECT {schema}.slow_now() AS created_at;"
        ))
        .await
        .unwrap();
    let mut database = pg.params(&pg.dbname);
    database["statement_timeout"] = json!("1s");
    let db: PgConnection = serde_json::from_value(database.clone()).unwrap();
    let started = std::time::Instant::now();
    let err = drkit_checks::PgApi::newest(
        &TokioPg::new(),
        &db,
        &format!("{schema}.slow").parse().unwrap(),
        &drkit_checks::ColumnName::new("created_at").unwrap(),
    )
    .await
    .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(err.code(), Some("57014"), "{err}");
    assert!(err.is_retryable());
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
    // The same query with the default (30 s) bound completes.
    database
        .as_object_mut()
        .unwrap()
        .remove("statement_timeout");
    let db: PgConnection = serde_json::from_value(database).unwrap();
    let newest = drkit_checks::PgApi::newest(
        &TokioPg::new(),
        &db,
        &format!("{schema}.slow").parse().unwrap(),
        &drkit_checks::ColumnName::new("created_at").unwrap(),
    )
    .await
    .unwrap();
    assert!(newest.is_some());
}

/// Every text an error can show: its message, its Debug, and its sources'.
fn texts_of(err: &drkit_core::ActionError) -> Vec<String> {
    let mut texts = vec![err.to_string(), format!("{err:?}")];
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        texts.push(format!("{s} {s:?}"));
        source = s.source();
    }
    texts
}

/// The connection to the test server with `sslmode` and `sslrootcert` as given.
fn tls_db(pg: &Pg, sslmode: SslMode, sslrootcert: Option<&str>) -> PgConnection {
    let db = PgConnection::new(&pg.host, &pg.dbname, &pg.user)
        .port(pg.port)
        .password(SecretRef::Env(PASSWORD_VAR.into()))
        .sslmode(sslmode);
    match sslrootcert {
        Some(ca) => db.sslrootcert(ca),
        None => db,
    }
}

/// `verify-full` with the CA that signed the server's certificate connects (the server takes
/// TLS connections only, so this one was encrypted); `verify-ca`, and `require` with or without
/// the CA, connect too.
#[tokio::test]
async fn every_tls_mode_connects_to_a_tls_only_server_with_the_right_ca() {
    let Some(pg) = Pg::find() else { return };
    for (mode, ca) in [
        (SslMode::VerifyFull, Some(pg.ca.as_str())),
        (SslMode::VerifyCa, Some(pg.ca.as_str())),
        (SslMode::Require, Some(pg.ca.as_str())),
        (SslMode::Require, None),
    ] {
        let db = tls_db(&pg, mode, ca);
        drkit_checks::PgApi::row_counts(&TokioPg::new(), &db, &[])
            .await
            .unwrap_or_else(|e| panic!("{mode} with CA {ca:?}: {e}"));
    }
    // And through a runbook-shaped step: sslmode absent means verify-full.
    let action = build(
        "checks.pg_row_counts",
        json!({"database": pg.params(&pg.dbname), "tables": []}),
    );
    assert!(matches!(
        action.check(&Context::new()).await.unwrap(),
        Check::Done { .. }
    ));
}

/// A CA that did not sign the server's certificate (a foreign bundle, or the built-in public
/// roots when `sslrootcert` is absent): the connection is refused, the error names the
/// certificate problem and the parameter that fixes it, a retry cannot help, and the password
/// never shows.
#[tokio::test]
async fn a_foreign_ca_is_refused_naming_the_certificate_problem() {
    let Some(pg) = Pg::find() else { return };
    let foreign = peer("DRKIT_TEST_TLS_FOREIGN_CA", "a CA that signed nothing").unwrap();
    for (mode, ca) in [
        (SslMode::VerifyFull, Some(foreign.as_str())),
        (SslMode::VerifyCa, Some(foreign.as_str())),
        (SslMode::Require, Some(foreign.as_str())),
        (SslMode::VerifyFull, None),
    ] {
        let db = tls_db(&pg, mode, ca);
        let err = drkit_checks::PgApi::row_counts(&TokioPg::new(), &db, &[])
            .await
            .unwrap_err();
        let text = err.to_string();
        assert_eq!(err.code(), Some("TlsHandshake"), "{mode} {ca:?}: {text}");
        assert!(!err.is_retryable(), "{text}");
        assert!(text.contains("UnknownIssuer"), "{text}");
        assert!(text.contains("not signed by a trusted CA"), "{text}");
        assert!(text.contains("`sslrootcert`"), "{text}");
        for t in texts_of(&err) {
            assert!(!t.contains(&pg.password), "the password leaked: {t}");
        }
    }
}

/// `sslmode = "disable"` against the TLS-only server: refused by the server (no `hostssl`-less
/// line in pg_hba.conf, SQLSTATE 28000), with the fix in the message; the password was never
/// sent, since the server refuses before authentication, and never shows.
#[tokio::test]
async fn plaintext_is_refused_by_a_tls_only_server() {
    let Some(pg) = Pg::find() else { return };
    let db = tls_db(&pg, SslMode::Disable, None);
    let err = drkit_checks::PgApi::row_counts(&TokioPg::new(), &db, &[])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert_eq!(err.code(), Some("28000"), "{text}");
    assert_eq!(err.kind(), ErrorKind::AccessDenied, "{text}");
    assert!(text.contains("no encryption"), "{text}");
    assert!(text.contains("accepts only TLS connections"), "{text}");
    for t in texts_of(&err) {
        assert!(!t.contains(&pg.password), "the password leaked: {t}");
    }
}

/// A server that answers the TLS request with `N` (no TLS), as a PostgreSQL without `ssl = on`
/// does: every TLS mode fails, and nothing is sent in plaintext after the refusal (the test
/// server reads what follows and sees nothing).
#[tokio::test]
async fn a_server_without_tls_is_refused_with_no_fallback_to_plaintext() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut after = Vec::new();
        for _ in 0..3 {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 8];
            stream.read_exact(&mut request).await.unwrap();
            // SSLRequest: length 8, code 80877103.
            assert_eq!(request, [0, 0, 0, 8, 4, 210, 22, 47]);
            stream.write_all(b"N").await.unwrap();
            let mut rest = Vec::new();
            let _ = tokio::time::timeout(Duration::from_millis(300), stream.read_to_end(&mut rest))
                .await;
            after.push(rest);
        }
        after
    });
    for mode in [SslMode::VerifyFull, SslMode::VerifyCa, SslMode::Require] {
        let db = PgConnection::new("127.0.0.1", "x", "x")
            .port(port)
            .password(SecretRef::Env(PASSWORD_VAR.into()))
            .sslmode(mode);
        let err = drkit_checks::PgApi::row_counts(&TokioPg::new(), &db, &[])
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("TlsNotOffered"), "{mode}: {err}");
        assert!(
            err.to_string().contains("does not fall back to plaintext"),
            "{err}"
        );
    }
    let after = server.await.unwrap();
    assert!(
        after.iter().all(Vec::is_empty),
        "sent after the refusal: {after:?}"
    );
}
