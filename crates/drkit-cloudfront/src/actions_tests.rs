//! Unit tests with the mocked port: what moto cannot show (an invalidation that stays
//! `InProgress`, a distribution still deploying, errors, re-execute after a failed wait).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{Check, Context, ErrorKind, RecoveryAction, WaitPolicy};

use super::*;
use crate::port::MockCloudFrontApi;

fn params(paths: &[&str]) -> InvalidateParams {
    InvalidateParams {
        distribution: "E2QWRUHAPOMQZL".into(),
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// A mock whose invalidation goes through `statuses` (the last one repeats).
fn mock(
    statuses: Vec<Result<&'static str, ErrorKind>>,
    created: Arc<Mutex<Vec<String>>>,
) -> MockCloudFrontApi {
    let mut api = MockCloudFrontApi::new();
    api.expect_get_distribution()
        .returning(|id| Ok(Distribution::new(id, "Deployed", true)));
    api.expect_create_invalidation()
        .returning(move |_, _, reference| {
            created.lock().unwrap().push(reference.to_owned());
            Ok(Invalidation::new("I1", "InProgress"))
        });
    let queue = Mutex::new(VecDeque::from(statuses));
    api.expect_get_invalidation().returning(move |_, id| {
        let mut q = queue.lock().unwrap();
        let s = if q.len() > 1 {
            q.pop_front().unwrap()
        } else {
            *q.front().unwrap()
        };
        s.map(|s| Invalidation::new(id, s))
            .map_err(|k| ActionError::new(k, "GetInvalidation failed"))
    });
    api
}

#[tokio::test(start_paused = true)]
async fn invalidate_waits_until_completed_and_never_creates_twice() {
    let created = Arc::new(Mutex::new(Vec::new()));
    let api = mock(
        vec![
            Ok("InProgress"),
            Err(ErrorKind::AccessDenied),
            Ok("InProgress"),
            Ok("Completed"),
        ],
        Arc::clone(&created),
    );
    let action = Invalidate::new("purge", params(&["/*"]), Arc::new(api))
        .with_wait_policy(WaitPolicy::without_jitter());
    let ctx = Context::new();
    assert!(matches!(
        action.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    // The first wait ends on a permanent error; executing again waits for the same one.
    assert_eq!(
        action.execute(&ctx).await.unwrap_err().kind(),
        ErrorKind::AccessDenied
    );
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("invalidation_id"), Some("I1"));
    assert_eq!(out.get_str("status"), Some("Completed"));
    let created = created.lock().unwrap().clone();
    assert_eq!(created.len(), 1, "one CreateInvalidation");
    assert!(created[0].starts_with("drkit-purge-"), "{}", created[0]);
    assert_eq!(out.get_str("caller_reference"), Some(created[0].as_str()));
    assert!(action.check(&ctx).await.unwrap().is_done());
    action.verify(&ctx).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn invalidate_honours_the_deadline_and_dry_run() {
    let created = Arc::new(Mutex::new(Vec::new()));
    let action = Invalidate::new(
        "purge",
        params(&["/index.html"]),
        Arc::new(mock(vec![Ok("InProgress")], Arc::clone(&created))),
    );
    let err = action
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(created.lock().unwrap().is_empty());
    let err = action
        .execute(&Context::new().with_timeout(Duration::from_secs(60)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert!(err.message().contains("I1"), "{}", err.message());
    assert_eq!(
        action.verify(&Context::new()).await.unwrap_err().kind(),
        ErrorKind::PostconditionFailed
    );
}

#[tokio::test(start_paused = true)]
async fn a_missing_distribution_is_blocked() {
    let mut api = MockCloudFrontApi::new();
    api.expect_get_distribution()
        .returning(|_| Err(ActionError::new(ErrorKind::NotFound, "NoSuchDistribution")));
    let api: Arc<dyn CloudFrontApi> = Arc::new(api);
    let ctx = Context::new();
    let inv = Invalidate::new("purge", params(&["/*"]), Arc::clone(&api));
    assert!(matches!(
        inv.check(&ctx).await.unwrap(),
        Check::Blocked { .. }
    ));
    let probe = CheckDistribution::new(
        "cdn",
        DistributionParams {
            distribution: "E1".into(),
        },
        api,
    );
    match probe.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => assert!(reason.contains("does not exist"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn check_distribution_wants_deployed_and_enabled() {
    let ctx = Context::new();
    for (status, enabled, ok) in [
        ("Deployed", true, true),
        ("InProgress", true, false),
        ("Deployed", false, false),
    ] {
        let mut api = MockCloudFrontApi::new();
        api.expect_get_distribution()
            .returning(move |id| Ok(Distribution::new(id, status, enabled)));
        let probe = CheckDistribution::new(
            "cdn",
            DistributionParams {
                distribution: "E1".into(),
            },
            Arc::new(api),
        );
        assert_eq!(
            probe.check(&ctx).await.unwrap().is_done(),
            ok,
            "{status} {enabled}"
        );
        assert_eq!(probe.execute(&ctx).await.is_ok(), ok);
        if !ok {
            assert_eq!(
                probe.verify(&ctx).await.unwrap_err().kind(),
                ErrorKind::PostconditionFailed
            );
        }
    }
}

#[test]
fn paths_are_validated() {
    let p = |v: &[&str]| paths_problem(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    assert_eq!(p(&["/*", "/images/*", "/index.html"]), None);
    assert!(p(&[]).unwrap().contains("at least one"));
    assert!(p(&["index.html"]).unwrap().contains("start with `/`"));
    assert!(p(&["/a*b"]).unwrap().contains("only allowed at the end"));
    let many: Vec<String> = (0..16).map(|i| format!("/d{i}/*")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(p(&refs).unwrap().contains("at most 15"));
}
