//! # drkit-checks
//!
//! Data-validation actions for drkit, registered like any action (no AWS dependency):
//!
//! | kind | what it measures |
//! |---|---|
//! | `checks.pg_row_counts` | exact `COUNT(*)` of named tables, `n_live_tup` of all user tables |
//! | `checks.pg_data_loss` | newest timestamp of a table vs the incident time: the **measured RPO** |
//! | `checks.pg_compare_counts` | row counts of the same tables in two databases, with a tolerance |
//! | `checks.redis_role` | `ROLE`, `INFO replication` and `PING` round-trip of a Redis server |
//! | `checks.http` | an HTTP(S) endpoint answers the expected status (and body) within a time-out |
//! | `checks.tls` | a TLS server's certificate: trusted chain, names, days to expiry |
//!
//! ## The convention every check follows
//!
//! A check is read-only (`mutates() == false`, no IAM actions), a
//! [`Probe`](drkit_core::Probe), and **measures in all three of its methods**:
//!
//! - `check` measures and answers `Done { detail, outputs }` when the data passes — so a runner
//!   records the measurement as the step's outputs without calling `execute`, a dry run shows
//!   it, and the check can serve as a guard's probe — and `Blocked { reason }` when the data
//!   fails (the reason holds the measured values) or when the database, table or column does
//!   not exist;
//! - `execute` measures and returns the outputs, or fails with `PostconditionFailed` when the
//!   data fails (a missing table is a `NotFound` error);
//! - `verify` measures again and returns what it saw, or fails with `PostconditionFailed`.
//!
//! Connection and query failures are errors, never a verdict: a refused or dropped connection
//! is `Unavailable` (retryable by the retry layer), a time-out `Timeout`, a wrong password
//! `AccessDenied`, a column of the wrong type `InvalidInput`; PostgreSQL's SQLSTATE and Redis's
//! error code become the error's code. Every remote call is bounded by the step's deadline and
//! cancellation (`Context::bounded`).
//!
//! ## Secrets
//!
//! Passwords are [`SecretRef`](drkit_core::SecretRef)s (`env:NAME`, `file:/path`,
//! `{ secret = "env:NAME" }`); a literal is refused. The value is read only when connecting and
//! never appears in `Debug`, `Display`, errors or outputs. A Redis URL with a password in it is
//! refused (without being repeated): give the password as `password`.
//!
//! ## TLS
//!
//! PostgreSQL connections follow libpq's `sslmode`, **`verify-full` by default** (the server's
//! certificate must be signed by a CA of `sslrootcert`, or of the Mozilla root set built into
//! drkit, and name the host); `verify-ca`, `require` and `disable` are available, `prefer` is
//! refused because drkit never falls back to plaintext. Amazon RDS's certificates are signed
//! by RDS's own CAs: give AWS's bundle as `sslrootcert`. Redis URLs may be `rediss://` (TLS,
//! as ElastiCache with in-transit encryption requires), the certificate verified against
//! `tls_ca` or the built-in roots. TLS is rustls with *ring*; a refused certificate is an
//! error that names the problem and the parameter that fixes it.
//!
//! ## Parts
//!
//! Like the provider crates: ports ([`PgApi`], [`RedisApi`], [`HttpApi`], [`TlsApi`];
//! `MockPgApi`, `MockRedisApi`, `MockHttpApi` and `MockTlsApi` with the `mock` feature),
//! adapters ([`TokioPg`] over `tokio-postgres`, [`RedisClient`] over `redis`, [`ReqwestHttp`]
//! over `reqwest`, [`RustlsTls`] over `tokio-rustls`), one type per check written against its
//! port ([`drkit_core::ActionKind`]), and [`register`] / [`register_with`] (with
//! [`ChecksPorts`]).
//!
//! ```no_run
//! use drkit_core::registry::{ActionSpec, Registry};
//! use drkit_core::Context;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut registry = Registry::new();
//! drkit_checks::register(&mut registry)?;
//! let loss = registry.build(&ActionSpec::new("measure-rpo", "checks.pg_data_loss", serde_json::json!({
//!     "database": {"host": "mint-restored.example", "dbname": "mint", "user": "mint_ro",
//!                  "password": "env:MINT_DB_PASSWORD"},
//!     "table": "transactions", "column": "created_at",
//!     "incident_time": "2026-11-28T23:00:00Z", "max_loss": "5m",
//! })))?;
//! let outputs = loss.execute(&Context::new()).await?;
//! println!("data lost: {} s", outputs.get("data_loss_seconds").unwrap());
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod http_check;
mod pg;
mod pg_checks;
mod pg_client;
mod redis_client;
mod redis_port;
mod redis_role;
mod register;
mod tls;
mod tls_check;
mod verdict;
mod web_client;
mod web_port;

#[cfg(test)]
mod behaviour_tests;

pub use http_check::{HttpCheck, HttpCheckParams};
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use pg::MockPgApi;
pub use pg::{ColumnName, NameError, Newest, PgApi, PgConnection, RowCounts, SslMode, TableName};
pub use pg_checks::{
    PgCompareCounts, PgCompareCountsParams, PgDataLoss, PgDataLossParams, PgRowCounts,
    PgRowCountsParams, RPO_CLASS_DATABASE, Tolerance,
};
pub use pg_client::TokioPg;
pub use redis_client::RedisClient;
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use redis_port::MockRedisApi;
pub use redis_port::{RedisApi, RedisProbe, RedisTarget, Role, RoleInfo};
pub use redis_role::{RedisRoleCheck, RedisRoleParams};
pub use register::{ChecksPorts, DESCRIPTORS, register, register_with};
pub use tls_check::{TlsCheck, TlsCheckParams};
pub use web_client::{ReqwestHttp, RustlsTls};
pub use web_port::{HttpAnswer, HttpApi, TlsApi, TlsEndpoint, TlsHandshake};
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use web_port::{MockHttpApi, MockTlsApi};
