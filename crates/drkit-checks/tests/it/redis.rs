//! `checks.redis_role` against a real Redis primary and its replica (Debian's redis-server,
//! started by scripts/test.sh with a password, TLS only as ElastiCache with in-transit
//! encryption): both roles are seen, a wrong role is blocked, a wrong or missing password is
//! `AccessDenied`, the password never shows, a foreign CA and plaintext are refused.

use std::time::Duration;

use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionRef, Check, Context, ErrorKind};
use serde_json::{Value, json};

use crate::{peer, unique_ident};

const PASSWORD_VAR: &str = "DRKIT_TEST_REDIS_PASSWORD";

struct Servers {
    primary: String,
    replica: String,
    password: String,
    ca: String,
}

fn servers() -> Option<Servers> {
    Some(Servers {
        primary: peer("DRKIT_TEST_REDIS_URL", "the test Redis primary")?,
        replica: peer("DRKIT_TEST_REDIS_REPLICA_URL", "the test Redis replica")?,
        password: peer(PASSWORD_VAR, "the test Redis password")?,
        ca: peer("DRKIT_TEST_TLS_CA", "the test peers' CA")?,
    })
}

/// The step; for a `rediss://` URL, trusting the test CA unless the parameters say otherwise.
fn build(s: &Servers, mut params: Value) -> ActionRef {
    let tls = params["url"]
        .as_str()
        .is_some_and(|u| u.starts_with("rediss://"));
    if tls && params.get("tls_ca").is_none() {
        params["tls_ca"] = json!(s.ca);
    }
    build_as_given(params)
}

fn build_as_given(params: Value) -> ActionRef {
    let mut registry = Registry::new();
    drkit_checks::register(&mut registry).unwrap();
    registry
        .build(&ActionSpec::new("redis-role", "checks.redis_role", params))
        .unwrap()
}

fn address(url: &str) -> &str {
    url.strip_prefix("rediss://").unwrap()
}

#[tokio::test]
async fn the_primary_is_seen_as_primary_with_its_replica() {
    let Some(s) = servers() else { return };
    let action = build(
        &s,
        json!({
            "url": s.primary, "password": format!("env:{PASSWORD_VAR}"), "expect_role": "primary",
        }),
    );
    let ctx = Context::new().with_timeout(Duration::from_secs(30));
    let Check::Done { detail, outputs } = action.check(&ctx).await.unwrap() else {
        panic!("not done");
    };
    assert_eq!(outputs.get_str("role"), Some("primary"));
    assert!(outputs.get("connected_replicas").unwrap().as_u64().unwrap() >= 1);
    let replica_port = address(&s.replica).rsplit_once(':').unwrap().1;
    let replicas = outputs.get("replicas").unwrap().as_array().unwrap();
    assert!(
        replicas
            .iter()
            .any(|r| r.as_str().unwrap().ends_with(&format!(":{replica_port}"))),
        "{replicas:?}"
    );
    assert_eq!(outputs.get("replication").unwrap()["role"], json!("master"));
    let ping = outputs.get("ping_ms").unwrap().as_f64().unwrap();
    assert!(ping > 0.0 && ping < 5000.0, "{ping}");
    assert!(detail.contains("is a primary with"), "{detail}");
    action.verify(&ctx).await.unwrap();
}

#[tokio::test]
async fn the_replica_is_seen_as_replica_of_the_primary() {
    let Some(s) = servers() else { return };
    let action = build(
        &s,
        json!({
            "url": s.replica, "password": format!("env:{PASSWORD_VAR}"), "expect_role": "slave",
        }),
    );
    let ctx = Context::new().with_timeout(Duration::from_secs(30));
    let outputs = action.execute(&ctx).await.unwrap();
    assert_eq!(outputs.get_str("role"), Some("replica"));
    assert_eq!(outputs.get_str("primary"), Some(address(&s.primary)));
    assert_eq!(outputs.get_str("link_state"), Some("connected"));
    assert_eq!(outputs.get("replication").unwrap()["role"], json!("slave"));
    assert_eq!(
        outputs.get("replication").unwrap()["master_link_status"],
        json!("up")
    );

    // The replica where a primary is expected (e.g. a promotion that did not happen).
    let wrong = build(
        &s,
        json!({
            "url": s.replica, "password": format!("env:{PASSWORD_VAR}"), "expect_role": "primary",
        }),
    );
    let Check::Blocked { reason } = wrong.check(&ctx).await.unwrap() else {
        panic!("not blocked");
    };
    assert!(reason.ends_with("expected a primary"), "{reason}");
    assert_eq!(
        wrong.execute(&ctx).await.unwrap_err().kind(),
        ErrorKind::PostconditionFailed
    );
}

#[tokio::test]
async fn a_wrong_or_missing_password_is_access_denied_and_never_shows() {
    let Some(s) = servers() else { return };
    const WRONG: &str = "wr0ng-Redis-pa55word";
    let dir = std::env::temp_dir().join(unique_ident("drkit_checks_redis_pw"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pw");
    std::fs::write(&file, WRONG).unwrap();
    let wrong = build(
        &s,
        json!({"url": s.primary, "password": format!("file:{}", file.display())}),
    );
    let err = wrong.check(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied, "{err}");
    let missing = build(&s, json!({"url": s.primary}));
    let err2 = missing.check(&Context::new()).await.unwrap_err();
    assert_eq!(err2.kind(), ErrorKind::AccessDenied, "{err2}");
    let right = build(
        &s,
        json!({"url": s.primary, "password": format!("env:{PASSWORD_VAR}")}),
    );
    let outputs = right.execute(&Context::new()).await.unwrap();
    let texts = [
        format!("{err} {err:?}"),
        format!("{err2} {err2:?}"),
        format!("{wrong:?} {right:?}"),
        serde_json::to_string(&outputs).unwrap(),
    ];
    for text in &texts {
        assert!(!text.contains(WRONG), "the wrong password leaked: {text}");
        assert!(!text.contains(&s.password), "the password leaked: {text}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A CA that did not sign the server's certificate (a foreign bundle, or the built-in public
/// roots when `tls_ca` is absent) is refused, naming the problem and the parameter that fixes
/// it; a plaintext `redis://` to the TLS-only server fails (the server resets it) with a hint,
/// and nothing falls back; the password never shows.
#[tokio::test]
async fn a_foreign_ca_and_plaintext_are_refused() {
    let Some(s) = servers() else { return };
    let foreign = peer("DRKIT_TEST_TLS_FOREIGN_CA", "a CA that signed nothing").unwrap();
    let password = format!("env:{PASSWORD_VAR}");
    let ctx = Context::new().with_timeout(Duration::from_secs(30));
    let mut texts = Vec::new();
    for (action, names_the_fix) in [
        (
            build(
                &s,
                json!({"url": s.primary, "password": password, "tls_ca": foreign}),
            ),
            true,
        ),
        // Absent: the built-in public roots, which did not sign the test certificate either.
        (
            build_as_given(json!({"url": s.primary, "password": password})),
            false,
        ),
    ] {
        let err = action.check(&ctx).await.unwrap_err();
        let text = err.to_string();
        assert_eq!(err.code(), Some("TlsHandshake"), "{text}");
        assert!(!err.is_retryable(), "{text}");
        assert!(text.contains("UnknownIssuer"), "{text}");
        assert!(!names_the_fix || text.contains("`tls_ca`"), "{text}");
        texts.push(format!("{err} {err:?}"));
    }
    let plain = s.primary.replacen("rediss://", "redis://", 1);
    let err = build(&s, json!({"url": plain, "password": password}))
        .check(&ctx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rediss://"), "{err}");
    texts.push(format!("{err} {err:?}"));
    for text in &texts {
        assert!(!text.contains(&s.password), "the password leaked: {text}");
    }
}
