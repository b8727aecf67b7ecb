//! Registration of the checks in a [`Registry`].

use std::sync::Arc;

use drkit_core::ActionRef;
use drkit_core::registry::{
    ActionDescriptor, ActionSpec, BuildError, DuplicateKind, OutputDoc, ParamDoc, Registry,
    decode_params,
};

use crate::pg::{PgApi, PgConnection};
use crate::pg_checks::{
    self, PgCompareCounts, PgCompareCountsParams, PgDataLoss, PgDataLossParams, PgRowCounts,
    PgRowCountsParams,
};
use crate::pg_client::TokioPg;
use crate::redis_client::RedisClient;
use crate::redis_port::{RedisApi, RedisTarget};
use crate::redis_role::{self, RedisRoleCheck, RedisRoleParams};

const DATABASE_DOC: &str = "connection table {host, port (5432), dbname, user, password (secret \
                            reference, e.g. \"env:DB_PASSWORD\"), sslmode (\"disable\" only, for \
                            now), connect_timeout (\"10s\")}";

/// `checks.pg_row_counts`.
pub const PG_ROW_COUNTS: ActionDescriptor = ActionDescriptor {
    kind: pg_checks::ROW_COUNTS_KIND,
    summary: "Count rows: exact COUNT(*) of named tables and n_live_tup of all user tables",
    mutates: false,
    iam_actions: &[],
    params: &[
        ParamDoc::required("database", "table", DATABASE_DOC),
        ParamDoc::optional(
            "tables",
            "list of strings",
            "tables to count exactly, `table` or `schema.table` (quoted, case-sensitive)",
        ),
    ],
    outputs: &[
        OutputDoc {
            name: "counts",
            doc: "{table: exact row count} of the named tables",
        },
        OutputDoc {
            name: "live_tuples",
            doc: "{schema.table: n_live_tup} of every user table (pg_stat_user_tables)",
        },
        OutputDoc {
            name: "user_tables",
            doc: "how many user tables there are",
        },
        OutputDoc {
            name: "database",
            doc: "postgresql://user@host:port/dbname (no password)",
        },
    ],
};

/// `checks.pg_data_loss`.
pub const PG_DATA_LOSS: ActionDescriptor = ActionDescriptor {
    kind: pg_checks::DATA_LOSS_KIND,
    summary: "Measure the data-loss window (RPO): newest timestamp of a table vs the incident time",
    mutates: false,
    iam_actions: &[],
    params: &[
        ParamDoc::required("database", "table", DATABASE_DOC),
        ParamDoc::required("table", "string", "the table, e.g. `transactions`"),
        ParamDoc::required(
            "column",
            "string",
            "its timestamp column, e.g. `created_at` (timestamptz; timestamp is read as UTC)",
        ),
        ParamDoc::optional(
            "incident_time",
            "RFC 3339 time (UTC)",
            "when the incident happened, e.g. 2026-11-28T23:00:00Z; default: now",
        ),
        ParamDoc::required(
            "max_loss",
            "duration",
            "the largest acceptable window, e.g. \"5m\"; more fails the check",
        ),
    ],
    outputs: &[
        OutputDoc {
            name: "data_loss_seconds",
            doc: "incident time minus the newest value, in seconds (0 if newer)",
        },
        OutputDoc {
            name: "rpo_seconds",
            doc: "the same measured window, for the run's RPO verdict",
        },
        OutputDoc {
            name: "rpo_class",
            doc: "\"database\"",
        },
        OutputDoc {
            name: "newest",
            doc: "the newest value, RFC 3339 UTC",
        },
        OutputDoc {
            name: "incident_time",
            doc: "the incident time used, RFC 3339 UTC",
        },
        OutputDoc {
            name: "max_loss_seconds",
            doc: "max_loss in seconds",
        },
        OutputDoc {
            name: "table",
            doc: "the table",
        },
        OutputDoc {
            name: "column",
            doc: "the column",
        },
    ],
};

/// `checks.pg_compare_counts`.
pub const PG_COMPARE_COUNTS: ActionDescriptor = ActionDescriptor {
    kind: pg_checks::COMPARE_COUNTS_KIND,
    summary: "Compare exact row counts of tables between two databases (primary vs restored)",
    mutates: false,
    iam_actions: &[],
    params: &[
        ParamDoc::required("left", "table", DATABASE_DOC),
        ParamDoc::required("right", "table", "the other database, same form as `left`"),
        ParamDoc::required(
            "tables",
            "list of strings",
            "the tables to compare (at least one)",
        ),
        ParamDoc::optional(
            "tolerance",
            "integer or string",
            "allowed difference: rows (5) or a percentage of the larger count (\"0.5%\"); default 0",
        ),
    ],
    outputs: &[
        OutputDoc {
            name: "tables",
            doc: "{table: {left, right, difference, allowed}}",
        },
        OutputDoc {
            name: "mismatched",
            doc: "the tables whose counts differ beyond the tolerance",
        },
        OutputDoc {
            name: "left",
            doc: "the left database (no password)",
        },
        OutputDoc {
            name: "right",
            doc: "the right database (no password)",
        },
    ],
};

/// `checks.redis_role`.
pub const REDIS_ROLE: ActionDescriptor = ActionDescriptor {
    kind: redis_role::REDIS_ROLE_KIND,
    summary: "Probe a Redis server: ROLE, INFO replication, PING round-trip; optionally require a role",
    mutates: false,
    iam_actions: &[],
    params: &[
        ParamDoc::required(
            "url",
            "string",
            "redis://[user@]host[:port][/db], without a password",
        ),
        ParamDoc::optional(
            "password",
            "secret reference",
            "where the password is read from, e.g. \"env:REDIS_PASSWORD\"",
        ),
        ParamDoc::optional(
            "expect_role",
            "string",
            "primary (master), replica (slave) or sentinel; another role fails the check",
        ),
    ],
    outputs: &[
        OutputDoc {
            name: "role",
            doc: "primary, replica or sentinel",
        },
        OutputDoc {
            name: "ping_ms",
            doc: "PING round-trip time in milliseconds",
        },
        OutputDoc {
            name: "replication",
            doc: "the INFO replication fields",
        },
        OutputDoc {
            name: "connected_replicas",
            doc: "(primary) how many replicas are connected",
        },
        OutputDoc {
            name: "replicas",
            doc: "(primary) the connected replicas, host:port",
        },
        OutputDoc {
            name: "primary",
            doc: "(replica) the primary it replicates, host:port",
        },
        OutputDoc {
            name: "link_state",
            doc: "(replica) the state of the link to the primary",
        },
        OutputDoc {
            name: "replication_offset",
            doc: "the replication offset (primary or replica)",
        },
        OutputDoc {
            name: "masters",
            doc: "(sentinel) the primaries it watches",
        },
    ],
};

/// Registers every check, over `tokio-postgres` and the `redis` crate, and `checks.http` /
/// `checks.tls` ([`crate::register_http_tls`]).
pub fn register(registry: &mut Registry) -> Result<(), DuplicateKind> {
    register_with(
        registry,
        Arc::new(TokioPg::new()),
        Arc::new(RedisClient::new()),
    )?;
    crate::web_register::register_http_tls(registry)
}

/// Registers every check with the given ports (e.g. mocks in the embedder's tests).
pub fn register_with(
    registry: &mut Registry,
    pg: Arc<dyn PgApi>,
    redis: Arc<dyn RedisApi>,
) -> Result<(), DuplicateKind> {
    {
        let pg = Arc::clone(&pg);
        registry.register_fn(PG_ROW_COUNTS, move |spec| {
            let params: PgRowCountsParams = decode_params(spec)?;
            validate_connection(spec, "database", &params.database)?;
            Ok(Arc::new(PgRowCounts::new(spec.id.clone(), params, Arc::clone(&pg))) as ActionRef)
        })?;
    }
    {
        let pg = Arc::clone(&pg);
        registry.register_fn(PG_DATA_LOSS, move |spec| {
            let params: PgDataLossParams = decode_params(spec)?;
            validate_connection(spec, "database", &params.database)?;
            if params.max_loss.is_zero() {
                return Err(BuildError::invalid(
                    spec,
                    Some("max_loss"),
                    "must be more than 0 (e.g. \"5m\")",
                ));
            }
            let action = PgDataLoss::new(spec.id.clone(), params, Arc::clone(&pg))
                .map_err(|e| BuildError::invalid(spec, Some("incident_time"), e.message()))?;
            Ok(Arc::new(action) as ActionRef)
        })?;
    }
    registry.register_fn(PG_COMPARE_COUNTS, move |spec| {
        let params: PgCompareCountsParams = decode_params(spec)?;
        validate_connection(spec, "left", &params.left)?;
        validate_connection(spec, "right", &params.right)?;
        if params.tables.is_empty() {
            return Err(BuildError::invalid(
                spec,
                Some("tables"),
                "name at least one table to compare",
            ));
        }
        Ok(Arc::new(PgCompareCounts::new(
            spec.id.clone(),
            params,
            Arc::clone(&pg),
        )) as ActionRef)
    })?;
    registry.register_fn(REDIS_ROLE, move |spec| {
        let params: RedisRoleParams = decode_params(spec)?;
        // Refuses a password in the URL without repeating the URL.
        RedisTarget::new(params.url.clone(), None)
            .map_err(|why| BuildError::invalid(spec, Some("url"), why))?;
        let action = RedisRoleCheck::new(spec.id.clone(), params, Arc::clone(&redis))
            .map_err(|e| BuildError::invalid(spec, Some("url"), e.message()))?;
        Ok(Arc::new(action) as ActionRef)
    })
}

fn validate_connection(
    spec: &ActionSpec,
    param: &str,
    db: &PgConnection,
) -> Result<(), BuildError> {
    match db.problem() {
        Some((field, why)) => Err(BuildError::invalid(
            spec,
            Some(&format!("{param}.{field}")),
            why,
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::pg::MockPgApi;
    use crate::redis_port::MockRedisApi;

    fn registry() -> Registry {
        let mut registry = Registry::new();
        register_with(
            &mut registry,
            Arc::new(MockPgApi::new()),
            Arc::new(MockRedisApi::new()),
        )
        .unwrap();
        registry
    }

    fn build(kind: &str, params: serde_json::Value) -> Result<ActionRef, BuildError> {
        registry().build(&ActionSpec::new("validate", kind, params))
    }

    fn db() -> serde_json::Value {
        json!({"host": "127.0.0.1", "dbname": "mint", "user": "ro", "password": "env:MINT_PW"})
    }

    #[test]
    fn all_four_are_registered_as_read_only() {
        let reg = registry();
        let kinds: Vec<_> = reg.descriptors().map(|d| d.kind).collect();
        assert_eq!(
            kinds,
            [
                "checks.pg_compare_counts",
                "checks.pg_data_loss",
                "checks.pg_row_counts",
                "checks.redis_role"
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
                json!({"database": {"host": "h", "dbname": "d", "user": "u", "sslmode": "require"}}),
                "parameter `database.sslmode`: sslmode `require` is not supported yet",
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
}

#[cfg(test)]
mod docs_tests {
    /// docs/actions/checks.md documents every action of this crate: row, parameters, outputs,
    /// IAM actions and a runbook example.
    #[test]
    fn the_actions_page_documents_every_action() {
        drkit_core::registry::documented(
            "docs/actions/checks.md",
            include_str!("../../../docs/actions/checks.md"),
            &[
                super::PG_ROW_COUNTS,
                super::PG_DATA_LOSS,
                super::PG_COMPARE_COUNTS,
                super::REDIS_ROLE,
            ],
        )
        .unwrap();
    }
}
