//! Tests of `redis_port.rs`.

use super::*;

#[test]
fn urls_with_a_password_or_an_unverified_tls_are_refused_without_being_repeated() {
    for (url, expected) in [
        ("redis://:hunter2@10.0.0.1:6379", "holds a password"),
        ("rediss://default:hunter2@10.0.0.1", "holds a password"),
        ("rediss://10.0.0.1:6379/#insecure", "always verifies"),
        ("http://hunter2@x", "must start with redis:// or rediss://"),
        ("redis://", "no host"),
    ] {
        let err = RedisTarget::new(url, None).unwrap_err();
        assert!(err.contains(expected), "{url}: {err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    let t = RedisTarget::new("redis://ops@10.0.0.1:6380/2", None).unwrap();
    assert_eq!(t.address(), "10.0.0.1:6380/2");
    assert_eq!(t.resource().to_string(), "redis:server/10.0.0.1:6380/2");
    assert!(!t.is_tls());
    assert!(
        t.with_tls_ca("/ca.pem")
            .unwrap_err()
            .contains("write rediss://")
    );
    let t = RedisTarget::new("rediss://master.mint.use1.cache.amazonaws.com:6379", None)
        .unwrap()
        .with_tls_ca("/ca.pem")
        .unwrap();
    assert!(t.is_tls());
    assert_eq!(t.address(), "master.mint.use1.cache.amazonaws.com:6379");
    assert_eq!(t.tls_ca.as_deref(), Some("/ca.pem"));
}

#[test]
fn roles_accept_redis_words() {
    let r: Role = serde_json::from_value(serde_json::json!("master")).unwrap();
    assert_eq!(r, Role::Primary);
    let r: Role = serde_json::from_value(serde_json::json!("slave")).unwrap();
    assert_eq!(r, Role::Replica);
    assert_eq!(
        serde_json::to_value(Role::Replica).unwrap(),
        serde_json::json!("replica")
    );
}
