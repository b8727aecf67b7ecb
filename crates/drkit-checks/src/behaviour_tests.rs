//! The behaviour suite (`drkit_testkit::behaviour::read_only`) for every check, against
//! in-memory fakes of the four ports: PostgreSQL databases (tables with row counts and newest
//! timestamps), a Redis primary, HTTP endpoints and a TLS server (a certificate made by rcgen).
//!
//! The ports have no mutating operation at all, so the world counts none; the suite still
//! asserts that a bad parameter is refused naming it, that `check` says done with declared
//! outputs, that `execute` and `verify` agree with it, and that the data is unchanged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, PortFactory};
use drkit_testkit::behaviour::{Case, World, read_only};
use serde_json::{Value, json};

use crate::pg::{ColumnName, Newest, PgApi, PgConnection, RowCounts, TableName};
use crate::redis_port::{RedisApi, RedisProbe, RedisTarget, RoleInfo};
use crate::web_port::{HttpAnswer, HttpApi, TlsApi, TlsEndpoint, TlsHandshake};
use crate::{ChecksPorts, register_with};

/// 2026-11-28T23:00:00Z in µs since the epoch.
const INCIDENT: i64 = 1_795_906_800_000_000;

/// PostgreSQL databases by name, a Redis primary, HTTP endpoints by URL and one TLS server.
#[derive(Debug)]
struct Fakes {
    /// Row counts by database, then table.
    databases: BTreeMap<String, BTreeMap<String, i64>>,
    /// The newest `created_at` of `transactions` (µs since the epoch).
    newest: i64,
    /// Status and body by URL.
    endpoints: BTreeMap<String, (u16, String)>,
    /// The TLS server's certificate (DER), for `api-dr.drkit.test`, 90 days left.
    certificate: Vec<u8>,
}

fn not_found(what: &str) -> ActionError {
    ActionError::new(ErrorKind::NotFound, format!("{what} does not exist")).with_code("42P01")
}

fn certificate(names: &[&str], days: u64) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap();
    params.not_before = (SystemTime::now() - Duration::from_secs(86_400)).into();
    params.not_after = (SystemTime::now() + Duration::from_secs(days * 86_400 + 3_600)).into();
    params.self_signed(&key).unwrap().der().to_vec()
}

impl Fakes {
    fn new() -> Arc<Self> {
        let tables = BTreeMap::from([
            ("transactions".to_owned(), 1_000),
            ("accounts".to_owned(), 20),
        ]);
        let mut restored = tables.clone();
        restored.insert("transactions".to_owned(), 998);
        Arc::new(Self {
            databases: BTreeMap::from([
                ("mint".to_owned(), tables),
                ("restored".to_owned(), restored),
            ]),
            newest: INCIDENT - 60_000_000,
            endpoints: BTreeMap::from([(
                "https://api-dr.drkit.test/health".to_owned(),
                (200, "status: healthy".to_owned()),
            )]),
            certificate: certificate(&["api-dr.drkit.test", "*.drkit.test"], 90),
        })
    }

    fn registry(self: &Arc<Self>) -> Registry {
        let pg: Arc<dyn PgApi> = Arc::clone(self) as _;
        let redis: Arc<dyn RedisApi> = Arc::clone(self) as _;
        let http: Arc<dyn HttpApi> = Arc::clone(self) as _;
        let tls: Arc<dyn TlsApi> = Arc::clone(self) as _;
        let mut registry = Registry::new();
        let ports = ChecksPorts {
            pg: PortFactory::fixed(pg),
            redis: PortFactory::fixed(redis),
            http: PortFactory::fixed(http),
            tls: PortFactory::fixed(tls),
        };
        register_with(&mut registry, &ports).unwrap();
        registry
    }

    fn database(&self, db: &PgConnection) -> Result<&BTreeMap<String, i64>, ActionError> {
        self.databases
            .get(&db.dbname)
            .ok_or_else(|| not_found(&format!("database {}", db.dbname)))
    }
}

#[async_trait]
impl World for Fakes {
    async fn state(&self) -> Value {
        json!({
            "databases": self.databases,
            "newest": self.newest,
            "endpoints": self.endpoints,
            "certificate": self.certificate.len(),
        })
    }

    fn mutations(&self) -> usize {
        0
    }
}

#[async_trait]
impl PgApi for Fakes {
    async fn row_counts(
        &self,
        db: &PgConnection,
        tables: &[TableName],
    ) -> Result<RowCounts, ActionError> {
        let all = self.database(db)?;
        let mut counts = RowCounts::default();
        for table in tables {
            let name = table.to_string();
            let unqualified = name.strip_prefix("public.").unwrap_or(&name);
            let n = all.get(unqualified).ok_or_else(|| not_found(&name))?;
            counts.exact.insert(name, *n);
        }
        for (table, n) in all {
            counts.live_tuples.insert(format!("public.{table}"), *n);
        }
        Ok(counts)
    }

    async fn newest(
        &self,
        db: &PgConnection,
        table: &TableName,
        column: &ColumnName,
    ) -> Result<Option<Newest>, ActionError> {
        let all = self.database(db)?;
        if !all.contains_key(&table.to_string()) {
            return Err(not_found(&table.to_string()));
        }
        if column.name() != "created_at" {
            return Err(not_found(column.name()).with_code("42703"));
        }
        Ok(Some(Newest::new(self.newest, "2026-11-28 22:59:00+00")))
    }
}

#[async_trait]
impl RedisApi for Fakes {
    async fn probe(&self, target: &RedisTarget) -> Result<RedisProbe, ActionError> {
        if target.address() != "10.0.3.7:6379" {
            return Err(ActionError::new(
                ErrorKind::Unavailable,
                "connection refused",
            ));
        }
        let role = RoleInfo::Primary {
            offset: 4242,
            replicas: vec!["10.0.3.8:6379".into()],
        };
        let info = BTreeMap::from([("role".to_owned(), "master".to_owned())]);
        Ok(RedisProbe::new(role, info, Duration::from_micros(900)))
    }
}

#[async_trait]
impl HttpApi for Fakes {
    async fn get(&self, url: &str, _: Duration) -> Result<HttpAnswer, ActionError> {
        let (status, body) = self
            .endpoints
            .get(url)
            .cloned()
            .unwrap_or((404, "no".to_owned()));
        Ok(HttpAnswer::Answered { status, body })
    }
}

#[async_trait]
impl TlsApi for Fakes {
    async fn handshake(&self, endpoint: &TlsEndpoint) -> Result<TlsHandshake, ActionError> {
        if endpoint.host != "api-dr.drkit.test" || endpoint.port != 443 {
            return Err(ActionError::new(
                ErrorKind::Unavailable,
                format!("cannot connect to {}", endpoint.address()),
            ));
        }
        Ok(TlsHandshake::new(
            vec![self.certificate.clone()],
            Ok(()),
            "TLSv1_3",
        ))
    }
}

fn db(name: &str) -> Value {
    json!({"host": "10.0.2.5", "dbname": name, "user": "mint_ro", "password": "env:MINT_PW"})
}

#[tokio::test]
async fn pg_row_counts() {
    let fakes = Fakes::new();
    let case = Case::new(
        fakes.registry(),
        "checks.pg_row_counts",
        json!({"database": db("mint"), "tables": ["transactions", "public.accounts"]}),
    )
    .refuses(
        json!({"database": {"host": "h", "dbname": "d", "user": "u", "password": "hunter2"}}),
        "database.password",
    )
    .refuses(
        json!({"database": {"host": "h", "dbname": "d", "user": "u", "sslmode": "prefer"}}),
        "database.sslmode",
    )
    .refuses(
        json!({"database": db("mint"), "tables": ["a.b.c"]}),
        "tables[0]",
    );
    read_only(&case, fakes.as_ref()).await;
}

#[tokio::test]
async fn pg_data_loss() {
    let fakes = Fakes::new();
    let params = |extra: Value| {
        let mut p = json!({"database": db("mint"), "table": "transactions", "column": "created_at",
                           "incident_time": "2026-11-28T23:00:00Z", "max_loss": "5m"});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    };
    let case = Case::new(fakes.registry(), "checks.pg_data_loss", params(json!({})))
        .refuses(params(json!({"max_loss": "0s"})), "max_loss")
        .refuses(
            params(json!({"incident_time": "yesterday"})),
            "incident_time",
        )
        .refuses(params(json!({"column": ""})), "column");
    read_only(&case, fakes.as_ref()).await;
}

#[tokio::test]
async fn pg_compare_counts() {
    let fakes = Fakes::new();
    let params = |extra: Value| {
        let mut p = json!({"left": db("mint"), "right": db("restored"),
                           "tables": ["transactions", "accounts"], "tolerance": "0.5%"});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    };
    let case = Case::new(
        fakes.registry(),
        "checks.pg_compare_counts",
        params(json!({})),
    )
    .refuses(params(json!({"tables": []})), "tables")
    .refuses(params(json!({"tolerance": "lots"})), "tolerance")
    .refuses(
        params(json!({"right": {"host": "", "dbname": "d", "user": "u"}})),
        "right.host",
    );
    read_only(&case, fakes.as_ref()).await;
}

#[tokio::test]
async fn redis_role() {
    let fakes = Fakes::new();
    let case = Case::new(
        fakes.registry(),
        "checks.redis_role",
        json!({"url": "redis://10.0.3.7:6379", "password": "env:REDIS_PW", "expect_role": "master"}),
    )
    .refuses(json!({"url": "redis://:hunter2@10.0.3.7:6379"}), "url")
    .refuses(
        json!({"url": "redis://10.0.3.7:6379", "expect_role": "leader"}),
        "expect_role",
    )
    .refuses(
        json!({"url": "redis://10.0.3.7:6379", "tls_ca": "/etc/ssl/ca.pem"}),
        "tls_ca",
    );
    read_only(&case, fakes.as_ref()).await;
}

#[tokio::test]
async fn http() {
    let fakes = Fakes::new();
    let case = Case::new(
        fakes.registry(),
        "checks.http",
        json!({"url": "https://api-dr.drkit.test/health", "body_contains": "healthy", "attempts": 2}),
    )
    .refuses(json!({"url": "ftp://api-dr.drkit.test/"}), "url")
    .refuses(json!({"url": "http://x/", "attempts": 0}), "attempts")
    .refuses(json!({"url": "http://x/", "expect_status": 42}), "expect_status")
    .refuses(json!({"url": "http://x/", "timeout": "0s"}), "timeout");
    read_only(&case, fakes.as_ref()).await;
}

#[tokio::test]
async fn tls() {
    let fakes = Fakes::new();
    let case = Case::new(
        fakes.registry(),
        "checks.tls",
        json!({"host": "api-dr.drkit.test", "min_days_valid": 30,
               "expect_names": ["api-dr.drkit.test", "www.drkit.test"]}),
    )
    .refuses(json!({"host": "x:443", "min_days_valid": 1}), "host")
    .refuses(json!({"host": "x", "port": 0, "min_days_valid": 1}), "port")
    .refuses(json!({"host": "x", "min_days_valid": -1}), "min_days_valid");
    read_only(&case, fakes.as_ref()).await;
}
