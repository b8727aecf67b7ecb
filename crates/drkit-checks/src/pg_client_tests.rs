//! Tests of `pg_client.rs`.

use super::*;

#[test]
fn sqlstates_are_classified() {
    assert_eq!(sqlstate_kind("28P01"), ErrorKind::AccessDenied);
    assert_eq!(sqlstate_kind("3D000"), ErrorKind::NotFound);
    assert_eq!(sqlstate_kind("42P01"), ErrorKind::NotFound);
    assert_eq!(sqlstate_kind("42703"), ErrorKind::NotFound);
    assert_eq!(sqlstate_kind("42883"), ErrorKind::InvalidInput);
    assert_eq!(sqlstate_kind("57P03"), ErrorKind::Unavailable);
    assert_eq!(sqlstate_kind("08006"), ErrorKind::Unavailable);
    assert_eq!(sqlstate_kind("57014"), ErrorKind::Timeout);
    assert_eq!(sqlstate_kind("XX000"), ErrorKind::Other);
    assert!(sqlstate_kind("53300").is_retryable());
}

#[test]
fn every_session_is_read_only_with_a_statement_timeout() {
    let db = PgConnection::new("db", "mint", "ro");
    assert_eq!(
        session_options(&db),
        "-c default_transaction_read_only=on -c statement_timeout=30000"
    );
    let mut slow = db;
    slow.statement_timeout = Some(Duration::from_secs(300));
    assert_eq!(
        session_options(&slow),
        "-c default_transaction_read_only=on -c statement_timeout=300000"
    );
    assert_eq!(DEFAULT_STATEMENT_TIMEOUT, Duration::from_secs(30));
    assert_eq!(DEFAULT_CONNECT_TIMEOUT, Duration::from_secs(10));
}
