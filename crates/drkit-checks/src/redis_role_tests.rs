//! Unit tests of `checks.redis_role` against the mocked port (roles a single test server does
//! not take on demand, errors). `tests/it/redis.rs` probes a real primary and replica.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use drkit_core::kind::with_port;
use drkit_core::{Check, ErrorKind, RecoveryAction, SecretRef};

use super::*;
use crate::redis_client::RedisClient;
use crate::redis_port::{MockRedisApi, RedisProbe};

fn probe(role: RoleInfo) -> RedisProbe {
    let mut info = BTreeMap::new();
    info.insert(
        "role".to_owned(),
        match role.role() {
            Role::Primary => "master".to_owned(),
            _ => "slave".to_owned(),
        },
    );
    RedisProbe::new(role, info, Duration::from_micros(1250))
}

fn check_of(answer: Result<RedisProbe, ActionError>, expect: Option<Role>) -> RedisRoleCheck {
    let answer = std::sync::Mutex::new(Some(answer));
    let mut api = MockRedisApi::new();
    api.expect_probe()
        .withf(|t| t.url == "redis://10.0.3.7:6379")
        .returning(move |_| answer.lock().unwrap().take().unwrap());
    let mut params =
        RedisRoleParams::new("redis://10.0.3.7:6379").password(SecretRef::Env("REDIS_PW".into()));
    params.expect_role = expect;
    with_port::<RedisRoleCheck>(StepSpec::new("redis-role", params), Arc::new(api)).unwrap()
}

fn primary() -> RoleInfo {
    RoleInfo::Primary {
        offset: 4242,
        replicas: vec!["10.0.3.8:6379".into()],
    }
}

fn replica(link: &str) -> RoleInfo {
    RoleInfo::Replica {
        primary: "10.0.3.7:6379".into(),
        link_state: link.into(),
        offset: 4200,
    }
}

#[tokio::test]
async fn the_expected_primary_is_done_with_its_replication_state() {
    let action = check_of(Ok(probe(primary())), Some(Role::Primary));
    let Check::Done { detail, outputs } = action.check(&Context::new()).await.unwrap() else {
        panic!("not done");
    };
    assert_eq!(
        detail,
        "10.0.3.7:6379 is a primary with 1 connected replica(s); PING 1.250 ms"
    );
    assert_eq!(outputs.get_str("role"), Some("primary"));
    assert_eq!(outputs.get("ping_ms"), Some(&json!(1.25)));
    assert_eq!(outputs.get("connected_replicas"), Some(&json!(1)));
    assert_eq!(outputs.get("replicas"), Some(&json!(["10.0.3.8:6379"])));
    assert_eq!(outputs.get("replication_offset"), Some(&json!(4242)));
    assert_eq!(outputs.get("replication"), Some(&json!({"role": "master"})));
}

#[tokio::test]
async fn a_replica_where_a_primary_is_expected_is_blocked_and_fails_execute() {
    let action = check_of(Ok(probe(replica("connected"))), Some(Role::Primary));
    assert_eq!(
        action.check(&Context::new()).await.unwrap(),
        Check::blocked(
            "10.0.3.7:6379 is a replica of 10.0.3.7:6379 (link connected); PING 1.250 ms; \
             expected a primary"
        )
    );
    let action = check_of(Ok(probe(replica("connect"))), Some(Role::Primary));
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    assert!(err.message().contains("(link connect)"), "{err}");
}

#[tokio::test]
async fn without_an_expected_role_any_role_is_reported() {
    let action = check_of(Ok(probe(replica("sync"))), None);
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("role"), Some("replica"));
    assert_eq!(out.get_str("primary"), Some("10.0.3.7:6379"));
    assert_eq!(out.get_str("link_state"), Some("sync"));
    let action = check_of(
        Ok(probe(RoleInfo::Sentinel {
            masters: vec!["mymaster".into()],
        })),
        Some(Role::Sentinel),
    );
    assert_eq!(
        action.verify(&Context::new()).await.unwrap(),
        "10.0.3.7:6379 is a sentinel watching mymaster; PING 1.250 ms"
    );
}

#[tokio::test]
async fn errors_keep_their_kind() {
    let action = check_of(
        Err(ActionError::new(
            ErrorKind::Unavailable,
            "connecting: Connection refused",
        )),
        Some(Role::Primary),
    );
    let err = action.check(&Context::new()).await.unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.resource(), Some("redis:server/10.0.3.7:6379"));
    let action = check_of(
        Err(ActionError::new(ErrorKind::AccessDenied, "WRONGPASS").with_code("WRONGPASS")),
        None,
    );
    let err = action.check(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
}

/// The real adapter, a known password, nothing listening: the error is retryable and the
/// password shows nowhere. (The wrong-password answer of a real server is tested in
/// `tests/it/redis.rs`.)
#[tokio::test]
async fn a_known_password_never_shows() {
    const PASSWORD: &str = "s3cr3t-Redis-pa55word";
    let dir = std::env::temp_dir().join(format!("drkit-checks-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pw");
    std::fs::write(&file, PASSWORD).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let params = RedisRoleParams::new(format!("redis://127.0.0.1:{port}"))
        .password(SecretRef::File(file.clone()))
        .expect_role(Role::Primary);
    let action = with_port::<RedisRoleCheck>(
        StepSpec::new("redis-role", params.clone()),
        Arc::new(RedisClient::new()),
    )
    .unwrap();
    let err = action.check(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let texts = [
        err.to_string(),
        format!("{err:?}"),
        format!("{action:?}"),
        serde_json::to_string(&params).unwrap(),
    ];
    for text in &texts {
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
