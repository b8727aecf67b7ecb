//! Unit tests of `s3.configure_website` with the mocked port: eventual consistency (the
//! configuration reads back late), routing rules, rollback to none or to the previous one.

use std::sync::{Arc, Mutex};

use drkit_core::{ActionError, ActionKind, Check, Context, ErrorKind, RecoveryAction, WaitPolicy};

use crate::port::{MockS3Api, WebsiteConfig};
use crate::website::{ConfigureWebsite, ConfigureWebsiteParams, website_endpoint};

/// A bucket whose configuration is `state`; a put shows after `lag` reads.
#[allow(clippy::needless_pass_by_value)] // test helper: callers build the value inline
fn api(state: Arc<Mutex<Option<WebsiteConfig>>>, lag: usize) -> MockS3Api {
    let mut api = MockS3Api::new();
    let pending: Arc<Mutex<(Option<Option<WebsiteConfig>>, usize)>> =
        Arc::new(Mutex::new((None, 0)));
    let (s, p) = (Arc::clone(&state), Arc::clone(&pending));
    api.expect_website().returning(move |bucket| {
        if bucket == "missing-bucket" {
            return Err(ActionError::new(ErrorKind::NotFound, "NoSuchBucket"));
        }
        let mut p = p.lock().unwrap();
        if let Some(next) = p.0.clone() {
            if p.1 == 0 {
                *s.lock().unwrap() = next;
                p.0 = None;
            } else {
                p.1 -= 1;
            }
        }
        Ok(s.lock().unwrap().clone())
    });
    let p = Arc::clone(&pending);
    api.expect_put_website().returning(move |_, c| {
        *p.lock().unwrap() = (Some(Some(c)), lag);
        Ok(())
    });
    let p = Arc::clone(&pending);
    api.expect_delete_website().returning(move |_| {
        *p.lock().unwrap() = (Some(None), lag);
        Ok(())
    });
    api
}

fn action(api: MockS3Api, bucket: &str) -> ConfigureWebsite {
    ConfigureWebsite::new(
        "serve-replica",
        ConfigureWebsiteParams {
            bucket: bucket.into(),
            index_document: "index.html".into(),
            error_document: Some("error.html".into()),
        },
        Arc::new(api),
        Some("eu-central-1"),
    )
    .with_wait_policy(WaitPolicy::without_jitter())
}

#[tokio::test(start_paused = true)]
async fn sets_waits_until_it_reads_back_and_rolls_back_to_none() {
    let state = Arc::new(Mutex::new(None));
    let a = action(api(Arc::clone(&state), 2), "mint-assets-dr");
    let ctx = Context::new();
    match a.check(&ctx).await.unwrap() {
        Check::Ready { change } => assert!(change.contains("(was none)"), "{change}"),
        other => panic!("{other:?}"),
    }
    let out = a.execute(&ctx).await.unwrap();
    assert_eq!(
        out.get_str("website_endpoint"),
        Some("mint-assets-dr.s3-website.eu-central-1.amazonaws.com")
    );
    assert_eq!(
        *state.lock().unwrap(),
        Some(WebsiteConfig::documents("index.html", Some("error.html")))
    );
    assert!(a.check(&ctx).await.unwrap().is_done());
    a.verify(&ctx).await.unwrap();
    a.rollback(&ctx).await.unwrap();
    assert_eq!(*state.lock().unwrap(), None);
    assert_eq!(
        a.rollback(&ctx).await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}

#[tokio::test(start_paused = true)]
async fn rollback_restores_the_previous_configuration() {
    let before = WebsiteConfig::documents("home.html", None);
    let state = Arc::new(Mutex::new(Some(before.clone())));
    let a = action(api(Arc::clone(&state), 0), "mint-assets-dr");
    let ctx = Context::new();
    a.execute(&ctx).await.unwrap();
    // Executed again: still one remembered "before", the original.
    a.execute(&ctx).await.unwrap();
    a.rollback(&ctx).await.unwrap();
    assert_eq!(*state.lock().unwrap(), Some(before));
}

#[tokio::test(start_paused = true)]
async fn missing_bucket_routing_rules_and_dry_run() {
    let ctx = Context::new();
    let missing = action(api(Arc::new(Mutex::new(None)), 0), "missing-bucket");
    assert!(matches!(
        missing.check(&ctx).await.unwrap(),
        Check::Blocked { .. }
    ));
    let rules = WebsiteConfig {
        has_routing_rules: true,
        ..WebsiteConfig::documents("index.html", None)
    };
    let state = Arc::new(Mutex::new(Some(rules)));
    let a = action(api(Arc::clone(&state), 0), "mint-assets-dr");
    match a.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => assert!(reason.contains("routing rules"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        a.execute(&ctx).await.unwrap_err().kind(),
        ErrorKind::PreconditionFailed
    );
    let dry = action(api(Arc::new(Mutex::new(None)), 0), "mint-assets-dr");
    assert_eq!(
        dry.execute(&Context::new().with_dry_run(true))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn website_endpoints_use_the_region_form() {
    assert_eq!(
        website_endpoint("b", "us-east-1"),
        "b.s3-website-us-east-1.amazonaws.com"
    );
    assert_eq!(
        website_endpoint("b", "eu-central-1"),
        "b.s3-website.eu-central-1.amazonaws.com"
    );
}

/// After a resume the instance is new: execute records `previous_website`, and a fresh
/// instance rolls back from it alone (a configuration, or none: then it deletes).
#[tokio::test(start_paused = true)]
async fn rollback_after_a_resume_uses_the_recorded_previous_website() {
    for before in [Some(WebsiteConfig::documents("home.html", None)), None] {
        let state = Arc::new(Mutex::new(before.clone()));
        let ran = action(api(Arc::clone(&state), 0), "mint-assets-dr");
        let out = ran.execute(&Context::new()).await.unwrap();
        assert!(out.get("previous_website").is_some(), "{out:?}");
        let fresh = action(api(Arc::clone(&state), 0), "mint-assets-dr");
        let ctx = Context::new().with_outputs(std::collections::BTreeMap::from([(
            fresh.id().to_owned(),
            out,
        )]));
        fresh.rollback(&ctx).await.unwrap();
        assert_eq!(*state.lock().unwrap(), before);
    }
    // Nothing recorded, nothing remembered: nothing to roll back.
    let fresh = action(api(Arc::new(Mutex::new(None)), 0), "mint-assets-dr");
    assert_eq!(
        fresh.rollback(&Context::new()).await.unwrap_err().kind(),
        ErrorKind::Unsupported
    );
}
