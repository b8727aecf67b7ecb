//! Integration tests of drkit-checks against real servers that `scripts/test.sh` starts: a
//! PostgreSQL server (`DRKIT_TEST_PG_URL`, `DRKIT_TEST_PG_PASSWORD`) and a Redis primary with a
//! replica (`DRKIT_TEST_REDIS_URL`, `DRKIT_TEST_REDIS_REPLICA_URL`, `DRKIT_TEST_REDIS_PASSWORD`).
//! Under CI=true a missing server fails these tests; elsewhere they are skipped with a note.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod postgres;
mod redis;

pub(crate) use drkit_testkit::peer;

/// A name unique to this test, usable unquoted in SQL: `prefix_1a2b3c_4`.
pub(crate) fn unique_ident(prefix: &str) -> String {
    drkit_testkit::unique(prefix).replace('-', "_")
}
