//! Tests of `register.rs`.

use drkit_core::ActionRef;
use drkit_core::registry::{ActionSpec, BuildError};
use serde_json::json;

use super::*;
use crate::pg::MockPgApi;
use crate::redis_port::MockRedisApi;
use crate::web_port::{MockHttpApi, MockTlsApi};

fn registry() -> Registry {
    let mut registry = Registry::new();
    let ports = ChecksPorts {
        pg: PortFactory::new(|_| Arc::new(MockPgApi::new()) as Arc<dyn PgApi>),
        redis: PortFactory::new(|_| Arc::new(MockRedisApi::new()) as Arc<dyn RedisApi>),
        http: PortFactory::new(|_| Arc::new(MockHttpApi::new()) as Arc<dyn HttpApi>),
        tls: PortFactory::new(|_| Arc::new(MockTlsApi::new()) as Arc<dyn TlsApi>),
    };
    register_with(&mut registry, &ports).unwrap();
    registry
}

fn build(kind: &str, params: serde_json::Value) -> Result<ActionRef, BuildError> {
    registry().build(&ActionSpec::new("validate", kind, params))
}

fn db() -> serde_json::Value {
    json!({"host": "127.0.0.1", "dbname": "mint", "user": "ro", "password": "env:MINT_PW"})
}

#[test]
fn all_six_are_registered_as_read_only() {
    let reg = registry();
    let kinds: Vec<_> = reg.descriptors().map(|d| d.kind).collect();
    assert_eq!(
        kinds,
        [
            "checks.http",
            "checks.pg_compare_counts",
            "checks.pg_data_loss",
            "checks.pg_row_counts",
            "checks.redis_role",
            "checks.tls"
        ]
    );
    assert!(
        reg.descriptors()
            .all(|d| !d.mutates && d.iam_actions.is_empty())
    );
    let action = build(
        "checks.pg_row_counts",
        json!({"database": db(), "tables": ["transactions", "ledger.accounts"]}),
    )
    .unwrap();
    assert!(!action.mutates());
    assert_eq!(
        action.target().to_string(),
        "postgres:database/127.0.0.1:5432/mint"
    );
    let action = build(
        "checks.redis_role",
        json!({"url": "redis://10.0.0.5:6379", "password": "env:REDIS_PW", "expect_role": "master"}),
    )
    .unwrap();
    assert_eq!(action.target().to_string(), "redis:server/10.0.0.5:6379");
}

#[test]
fn bad_parameters_are_refused_before_any_call() {
    let cases = [
        (
            "checks.pg_row_counts",
            json!({"database": {"host": "h", "dbname": "d", "user": "u", "password": "hunter2"}}),
            "parameter `database.password`: expected a secret reference",
        ),
        (
            "checks.pg_row_counts",
            json!({"database": db(), "tables": ["a.b.c"]}),
            "parameter `tables[0]`: `a.b.c` has more than one dot",
        ),
        (
            "checks.pg_row_counts",
            json!({"database": {"host": "h", "dbname": "d", "user": "u", "sslmode": "prefer"}}),
            "parameter `database.sslmode`: `prefer` falls back to plaintext",
        ),
        (
            "checks.pg_row_counts",
            json!({"database": {"host": "h", "dbname": "d", "user": "u", "pasword": "env:X"}}),
            "unknown field `pasword`",
        ),
        (
            "checks.pg_data_loss",
            json!({"database": db(), "table": "transactions", "column": "created_at"}),
            "missing field `max_loss`",
        ),
        (
            "checks.pg_data_loss",
            json!({"database": db(), "table": "transactions", "column": "created_at", "max_loss": "5 parsecs"}),
            "parameter `max_loss`",
        ),
        (
            "checks.pg_data_loss",
            json!({"database": db(), "table": "t", "column": "c", "max_loss": "5m", "incident_time": "yesterday"}),
            "parameter `incident_time`: `yesterday` is not an RFC 3339 time",
        ),
        (
            "checks.pg_data_loss",
            json!({"database": db(), "table": "t", "column": "c", "max_loss": "0s"}),
            "parameter `max_loss`: must be more than 0",
        ),
        (
            "checks.pg_compare_counts",
            json!({"left": db(), "right": db(), "tables": []}),
            "parameter `tables`: name at least one table",
        ),
        (
            "checks.pg_compare_counts",
            json!({"left": db(), "right": db(), "tables": ["t"], "tolerance": "lots"}),
            "parameter `tolerance`: `lots` is not a tolerance",
        ),
        (
            "checks.pg_compare_counts",
            json!({"left": db(), "right": db(), "tables": ["t"], "tolerance": "150%"}),
            "not between 0% and 100%",
        ),
        (
            "checks.redis_role",
            json!({"url": "redis://:hunter2@10.0.0.5:6379"}),
            "parameter `url`: the url holds a password",
        ),
        (
            "checks.redis_role",
            json!({"url": "redis://10.0.0.5", "expect_role": "leader"}),
            "parameter `expect_role`: unknown variant `leader`",
        ),
    ];
    for (kind, params, expected) in cases {
        let err = build(kind, params).unwrap_err().to_string();
        assert!(err.contains(expected), "{err} lacks {expected}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
