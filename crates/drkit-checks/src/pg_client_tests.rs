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
