#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use drkit_core::{ActionError, ErrorKind};
use drkit_runner::LockHolder;

use super::{Current, LockBody, condition_failed, conflicting, nonce};

fn current(body: LockBody, written: Option<SystemTime>, now: Option<SystemTime>) -> Current {
    Current {
        body,
        etag: "\"e\"".to_owned(),
        last_modified: written,
        date: now,
    }
}

#[test]
fn expiry_is_judged_with_s3s_times_not_the_writers_clock() {
    let lease = Duration::from_secs(120);
    let mut body = LockBody::new(&LockHolder::new("alice"), lease, 1);
    // The writer's clock says it expired long ago; S3's times say it was written 10 s ago.
    body.expires_at = "2001-01-01T00:00:00Z".to_owned();
    let written = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    let lock = current(
        body.clone(),
        Some(written),
        Some(written + Duration::from_secs(10)),
    );
    assert!(!lock.expired(Duration::from_secs(5)));
    // The writer's clock says far future; S3's times say lease + 2 s have passed.
    body.expires_at = "2999-01-01T00:00:00Z".to_owned();
    let at = |secs| {
        current(
            body.clone(),
            Some(written),
            Some(written + Duration::from_secs(secs)),
        )
    };
    assert!(
        !at(121).expired(lease),
        "within the lease plus the 2 s slack"
    );
    assert!(at(122).expired(lease));
    // The lock's own lease counts, not the reader's.
    assert!(!at(10).expired(Duration::from_secs(1)));
}

#[test]
fn a_lock_of_an_older_version_parses_and_uses_the_readers_lease() {
    let old = r#"{"who":"alice@bastion (pid 1)","since":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T00:02:00Z"}"#;
    let body: LockBody = serde_json::from_str(old).unwrap();
    assert_eq!(body.generation, 0);
    assert_eq!(body.pending, None);
    assert_eq!(body.lease(Duration::from_secs(7)), Duration::from_secs(7));
    assert_eq!(body.holder().who, "alice@bastion (pid 1)");
    let written = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    let lock = current(body, Some(written), Some(written + Duration::from_secs(9)));
    assert!(lock.expired(Duration::from_secs(7)));
    assert!(!lock.expired(Duration::from_secs(8)));
}

#[test]
fn every_write_has_a_new_write_id_and_keeps_the_holder_and_generation() {
    let body = LockBody::new(&LockHolder::new("alice"), Duration::from_secs(60), 3);
    let next = body.next_write(Duration::from_secs(60));
    assert_ne!(next.write_id, body.write_id);
    assert_eq!(next.holder_id, body.holder_id);
    assert_eq!(next.generation, 3);
    assert_eq!(next.lease_ms, Some(60_000));
    let ids: HashSet<String> = (0..10_000).map(|_| nonce()).collect();
    assert_eq!(ids.len(), 10_000);
    assert!(ids.iter().all(|id| id.len() == 32));
}

#[test]
fn a_412_is_a_failed_condition_and_a_409_a_conflict_to_retry() {
    let with = |code: &str| ActionError::new(ErrorKind::Other, "x").with_code(code);
    assert!(condition_failed(&with("PreconditionFailed")));
    assert!(condition_failed(&with("HTTP 412")));
    assert!(!conflicting(&with("PreconditionFailed")));
    assert!(conflicting(&with("ConditionalRequestConflict")));
    assert!(conflicting(&with("HTTP 409")));
    assert!(!condition_failed(&with("ConditionalRequestConflict")));
}
