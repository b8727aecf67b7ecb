//! Unit tests of `vault.unseal` against the mocked port: what a single OpenBao cannot show on
//! demand (a standby that never becomes active, a threshold mismatch, errors) and the exact
//! number of shares submitted. `tests/it/openbao.rs` unseals a real sealed server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::kind::with_port;
use drkit_core::{ErrorKind, ProgressEvent, RecoveryAction, StepSpec};

use super::*;
use crate::port::{Health, MockVaultApi};

const ADDR: &str = "http://10.0.0.9:8200";
/// Known share values: they must never show anywhere.
const SHARES: [&str; 3] = [
    "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3",
    "f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3",
    "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c",
];

/// Writes the shares to files and returns references to them (env vars cannot be set safely in
/// a multi-threaded test binary).
fn share_files(dir: &tempfile::TempDir, values: &[&str]) -> Vec<SecretRef> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let path = dir.path().join(format!("share-{i}"));
            std::fs::write(&path, format!("{v}\n")).unwrap();
            SecretRef::File(path)
        })
        .collect()
}

fn sealed(progress: u32) -> SealStatus {
    SealStatus::new(true, true, 2, 3, progress).version("2.7.2")
}

fn unsealed() -> SealStatus {
    SealStatus::new(true, false, 2, 3, 0).version("2.7.2")
}

fn active() -> Health {
    Health::new(true, false, false, "2.7.2")
}

fn standby() -> Health {
    Health::new(true, false, true, "2.7.2")
}

fn unseal(api: MockVaultApi, mut params: UnsealParams) -> Unseal {
    params.address = Some(ADDR.to_owned());
    with_port::<Unseal>(StepSpec::new("unseal", params), Arc::new(api)).unwrap()
}

fn action(api: MockVaultApi, keys: Vec<SecretRef>, threshold: Option<u32>) -> Unseal {
    let mut params = UnsealParams::new(keys);
    params.threshold = threshold;
    unseal(api, params)
}

/// Everything an operator or a journal could see, as text.
fn seen_text(events: &Mutex<Vec<ProgressEvent>>, extra: &[String]) -> String {
    let mut text = format!("{:?}", events.lock().unwrap());
    for e in events.lock().unwrap().iter() {
        text.push_str(&serde_json::to_string(e).unwrap());
    }
    for x in extra {
        text.push_str(x);
    }
    text
}

fn assert_no_share(text: &str) {
    for share in SHARES {
        assert!(!text.contains(share), "a share leaked into: {text}");
        assert!(
            !text.contains(&share[..16]),
            "part of a share leaked into: {text}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn submits_exactly_the_threshold_then_waits_through_standby() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status()
        .times(1)
        .returning(|_| Ok(sealed(0)));
    let submitted = Arc::new(Mutex::new(Vec::new()));
    {
        let submitted = Arc::clone(&submitted);
        api.expect_submit_unseal_share()
            .times(2)
            .returning(move |conn, share| {
                assert_eq!(conn.address(), ADDR);
                let mut s = submitted.lock().unwrap();
                s.push(share.expose_secret().to_owned());
                Ok(if s.len() == 1 { sealed(1) } else { unsealed() })
            });
    }
    let mut health = vec![active(), standby(), standby()];
    api.expect_health()
        .times(3)
        .returning(move |_| Ok(health.pop().unwrap()));
    let events = Arc::new(Mutex::new(Vec::new()));
    let ctx = {
        let events = Arc::clone(&events);
        Context::new()
            .with_timeout(Duration::from_secs(60))
            .with_events(move |e| events.lock().unwrap().push(e))
    };
    let action = action(api, share_files(&dir, &SHARES), Some(2));
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get("shares_submitted"), Some(&serde_json::json!(2)));
    assert_eq!(out.get_str("state"), Some("active"));
    assert_eq!(out.get("sealed"), Some(&serde_json::json!(false)));
    // The first two shares, trimmed of the file's newline; the third was never sent.
    assert_eq!(*submitted.lock().unwrap(), [SHARES[0], SHARES[1]]);
    assert_no_share(&seen_text(
        &events,
        &[
            format!("{out:?} {action:?}"),
            serde_json::to_string(&out).unwrap(),
        ],
    ));
}

#[tokio::test(start_paused = true)]
async fn a_wrong_share_is_a_clear_error_without_the_share() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    let mut n = 0;
    api.expect_submit_unseal_share()
        .times(2)
        .returning(move |_, share| {
            n += 1;
            if n == 1 {
                Ok(sealed(1))
            } else {
                // Even if a server echoed the share, it must not get through.
                Err(ActionError::new(
                    ErrorKind::InvalidInput,
                    format!("unseal failed, invalid key {}", share.expose_secret()),
                )
                .with_code("400")
                .with_operation("sys/unseal"))
            }
        });
    api.expect_health().never();
    let events = Arc::new(Mutex::new(Vec::new()));
    let ctx = {
        let events = Arc::clone(&events);
        Context::new().with_events(move |e| events.lock().unwrap().push(e))
    };
    let action = action(api, share_files(&dir, &SHARES), None);
    let err = action.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("a key share is wrong"), "{text}");
    assert!(text.contains("reset its unseal progress"), "{text}");
    assert!(text.contains("2 share(s) submitted"), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
    assert!(
        text.starts_with("vault.unseal [unseal] on vault:server/"),
        "{text}"
    );
    assert_no_share(&seen_text(&events, &[text, format!("{err:?} {action:?}")]));
}

#[tokio::test(start_paused = true)]
async fn a_share_that_does_not_advance_is_skipped_and_the_next_one_used() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(1)));
    let mut answers = vec![unsealed(), sealed(1)];
    api.expect_submit_unseal_share()
        .times(2)
        .returning(move |_, _| Ok(answers.pop().unwrap()));
    api.expect_health().returning(|_| Ok(active()));
    // The same share twice in the list is submitted once (deduplicated locally).
    let keys = share_files(&dir, &[SHARES[0], SHARES[0], SHARES[1]]);
    let out = action(api, keys, None)
        .execute(&Context::new())
        .await
        .unwrap();
    assert_eq!(out.get("shares_submitted"), Some(&serde_json::json!(2)));
}

#[tokio::test(start_paused = true)]
async fn check_answers_done_ready_and_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let keys = share_files(&dir, &SHARES);

    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(unsealed()));
    api.expect_health().returning(|_| Ok(active()));
    let check = action(api, keys.clone(), None)
        .check(&Context::new())
        .await
        .unwrap();
    assert!(check.is_done(), "{check:?}");

    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    let check = action(api, keys.clone(), Some(2))
        .check(&Context::new())
        .await
        .unwrap();
    assert_eq!(
        check,
        Check::ready(format!(
            "unseal {ADDR} with 2 of the 3 given share(s) (threshold 2, progress 0)"
        ))
    );

    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    let check = action(api, keys[..1].to_vec(), None)
        .check(&Context::new())
        .await
        .unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("needs 2 more share(s)")),
        "{check:?}"
    );

    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    let check = action(api, keys.clone(), Some(3))
        .check(&Context::new())
        .await
        .unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("wrong cluster or wrong keys")),
        "{check:?}"
    );

    let mut api = MockVaultApi::new();
    api.expect_seal_status()
        .returning(|_| Ok(SealStatus::new(false, true, 0, 0, 0)));
    let check = action(api, keys.clone(), None)
        .check(&Context::new())
        .await
        .unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("not initialised")),
        "{check:?}"
    );

    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    let missing = vec![SecretRef::Env("DRKIT_SURELY_UNSET_UNSEAL_KEY".into())];
    let check = action(api, missing, None)
        .check(&Context::new())
        .await
        .unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("DRKIT_SURELY_UNSET_UNSEAL_KEY")),
        "{check:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_standby_that_never_becomes_active_ends_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(unsealed()));
    api.expect_submit_unseal_share().never();
    api.expect_health().returning(|_| Ok(standby()));
    let ctx = Context::new().with_timeout(Duration::from_secs(120));
    let err = action(api, share_files(&dir, &SHARES), None)
        .execute(&ctx)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert!(err.message().contains("to be active"), "{err}");
    assert!(err.message().contains("standby"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn allow_standby_accepts_an_unsealed_standby() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(unsealed()));
    api.expect_health().returning(|_| Ok(standby()));
    let mut params = UnsealParams::new(share_files(&dir, &SHARES));
    params.allow_standby = true;
    let action = unseal(api, params);
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("state"), Some("standby"));
    assert_eq!(
        action.verify(&Context::new()).await.unwrap(),
        format!("{ADDR} is unsealed (standby)")
    );
}

#[tokio::test(start_paused = true)]
async fn not_enough_valid_shares_and_other_errors() {
    let dir = tempfile::tempdir().unwrap();
    // The server never advances: after both shares it is still sealed.
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    api.expect_submit_unseal_share()
        .times(2)
        .returning(|_, _| Ok(sealed(0)));
    let err = action(api, share_files(&dir, &SHARES[..2]), None)
        .execute(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    assert!(
        err.message().contains("still sealed after 2 share(s)"),
        "{err}"
    );

    // A 503 while submitting keeps its kind (retryable) and its context.
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    api.expect_submit_unseal_share().returning(|_, _| {
        Err(ActionError::new(ErrorKind::Unavailable, "HTTP 503").with_code("503"))
    });
    let err = action(api, share_files(&dir, &SHARES), None)
        .execute(&Context::new())
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.code(), Some("503"));
    assert_eq!(err.action(), Some("vault.unseal"));
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_submits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status().never();
    api.expect_submit_unseal_share().never();
    let err = action(api, share_files(&dir, &SHARES), None)
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    // Refused by drkit-core before the kind's code runs.
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.message().contains("dry run"), "{err}");
}
