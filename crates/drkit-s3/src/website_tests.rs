//! Unit tests of `s3.configure_website` with the mocked port: eventual consistency (the
//! configuration reads back late), routing rules, rollback to none or to the previous one;
//! whether the website could serve (Block Public Access, bucket policy, host name) with the
//! in-memory S3.

use std::sync::{Arc, Mutex};

use drkit_core::{ActionError, ActionKind, Check, Context, ErrorKind, RecoveryAction, WaitPolicy};

use crate::fake::{FakeS3, public_read};
use crate::port::{MockS3Api, PublicAccessBlock, WebsiteConfig};
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
    // A public bucket in eu-central-1 (the step's region is another).
    api.expect_bucket_region()
        .returning(|_| Ok("eu-central-1".into()));
    api.expect_public_access_block().returning(|_| Ok(None));
    api.expect_bucket_policy()
        .returning(|b| Ok(Some(public_read(b))));
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

fn params(bucket: &str) -> ConfigureWebsiteParams {
    ConfigureWebsiteParams {
        bucket: bucket.into(),
        index_document: "index.html".into(),
        error_document: Some("error.html".into()),
        host_name: None,
        behind_cloudfront: false,
    }
}

fn action(api: MockS3Api, bucket: &str) -> ConfigureWebsite {
    ConfigureWebsite::new(
        "serve-replica",
        params(bucket),
        Arc::new(api),
        Some("us-east-1"),
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
    // The bucket's region (eu-central-1), not the step's (us-east-1).
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
    assert_eq!(
        website_endpoint("b", "us-east-2"),
        "b.s3-website.us-east-2.amazonaws.com"
    );
    assert_eq!(
        website_endpoint("b", "ap-southeast-2"),
        "b.s3-website-ap-southeast-2.amazonaws.com"
    );
    assert_eq!(
        website_endpoint("b", "us-gov-west-1"),
        "b.s3-website-us-gov-west-1.amazonaws.com"
    );
    assert_eq!(
        website_endpoint("b", "cn-north-1"),
        "b.s3-website.cn-north-1.amazonaws.com.cn"
    );
}

/// The Mint DR bucket on the in-memory S3 (us-west-2, public, no website yet), a step on it.
fn on_fake(params: ConfigureWebsiteParams) -> (Arc<FakeS3>, ConfigureWebsite) {
    let s3 = Arc::new(FakeS3::mint(FakeS3::mint_objects(), None));
    let a = ConfigureWebsite::new(
        "serve-replica",
        params,
        s3.ports().get(Some("us-west-2")),
        Some("us-west-2"),
    )
    .with_wait_policy(WaitPolicy::without_jitter());
    (s3, a)
}

async fn blocked(a: &ConfigureWebsite) -> String {
    match a.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => reason,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_website_that_could_not_serve_is_blocked_and_says_why() {
    let (s3, a) = on_fake(params("mint-assets-dr"));
    assert!(matches!(
        a.check(&Context::new()).await.unwrap(),
        Check::Ready { .. }
    ));

    // New buckets get every Block Public Access setting on: RestrictPublicBuckets refuses
    // anonymous readers even with the public policy.
    s3.edit("mint-assets-dr", |b| {
        b.block = Some(PublicAccessBlock::all(true));
    });
    let r = blocked(&a).await;
    assert!(
        r.contains("could not serve") && r.contains("RestrictPublicBuckets"),
        "{r}"
    );
    let e = a.execute(&Context::new()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PreconditionFailed, "{e}");
    assert_eq!(s3.count("PutBucketWebsite"), 0);

    // Off, but no policy.
    s3.edit("mint-assets-dr", |b| {
        b.block = None;
        b.policy = None;
    });
    let r = blocked(&a).await;
    assert!(r.contains("has no bucket policy"), "{r}");

    // A policy for the account only.
    s3.edit("mint-assets-dr", |b| {
        b.policy = Some(public_read("mint-assets-dr").replace(
            r#""Principal":"*""#,
            r#""Principal":{"AWS":"arn:aws:iam::123456789012:root"}"#,
        ));
    });
    let r = blocked(&a).await;
    assert!(r.contains("to no anonymous reader"), "{r}");

    // Public again: served; verify fails when it stops being public.
    s3.edit("mint-assets-dr", |b| {
        b.policy = Some(public_read("mint-assets-dr"));
    });
    a.execute(&Context::new()).await.unwrap();
    a.verify(&Context::new()).await.unwrap();
    s3.edit("mint-assets-dr", |b| b.policy = None);
    let e = a.verify(&Context::new()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PostconditionFailed, "{e}");
    // ...and a configuration already in place no longer counts as done.
    let r = blocked(&a).await;
    assert!(r.contains("has no bucket policy"), "{r}");
}

#[tokio::test(start_paused = true)]
async fn the_endpoint_is_the_bucket_regions_and_the_url_the_clients() {
    // The step says us-east-1, the bucket is in us-west-2 (GetBucketLocation).
    let s3 = Arc::new(FakeS3::mint(FakeS3::mint_objects(), None));
    let a = ConfigureWebsite::new(
        "serve-replica",
        params("mint-assets-dr"),
        s3.ports().get(Some("us-east-1")),
        Some("us-east-1"),
    )
    .with_wait_policy(WaitPolicy::without_jitter());
    let out = a.execute(&Context::new()).await.unwrap();
    assert_eq!(
        out.get_str("website_endpoint"),
        Some("mint-assets-dr.s3-website-us-west-2.amazonaws.com")
    );
    assert_eq!(
        out.get_str("website_url"),
        Some("http://mint-assets-dr.s3-website-us-west-2.amazonaws.com/")
    );
    // Behind CloudFront: any name; the URL is the origin's.
    let (_, a) = on_fake(ConfigureWebsiteParams {
        host_name: Some("www.mint.example".into()),
        behind_cloudfront: true,
        ..params("mint-assets-dr")
    });
    match a.check(&Context::new()).await.unwrap() {
        Check::Ready { change } => assert!(
            change.contains("www.mint.example through CloudFront")
                && change.contains("http://mint-assets-dr.s3-website-us-west-2.amazonaws.com"),
            "{change}"
        ),
        other => panic!("{other:?}"),
    }
    // A bucket named for the host: a direct CNAME works, over HTTP.
    let (s3, _) = on_fake(params("mint-assets-dr"));
    let dr = s3.buckets.lock().unwrap()["mint-assets-dr"].clone();
    s3.buckets.lock().unwrap().insert(
        "www.mint.example".into(),
        crate::fake::Bucket {
            policy: Some(public_read("www.mint.example")),
            ..dr
        },
    );
    let a = ConfigureWebsite::new(
        "serve-replica",
        ConfigureWebsiteParams {
            host_name: Some("WWW.Mint.Example.".into()),
            ..params("www.mint.example")
        },
        s3.ports().get(Some("us-west-2")),
        Some("us-west-2"),
    )
    .with_wait_policy(WaitPolicy::without_jitter());
    let out = a.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("website_url"), Some("http://www.mint.example/"));
}

#[test]
fn a_host_name_the_bucket_does_not_have_is_refused_without_cloudfront() {
    let refused =
        |p: ConfigureWebsiteParams| ConfigureWebsite::validate(&p).unwrap_err().to_string();
    let e = refused(ConfigureWebsiteParams {
        host_name: Some("www.mint.example".into()),
        ..params("mint-replica-dr")
    });
    assert!(
        e.contains("host_name") && e.contains("NoSuchBucket") && e.contains("behind_cloudfront"),
        "{e}"
    );
    let e = refused(ConfigureWebsiteParams {
        host_name: Some("not a host".into()),
        behind_cloudfront: true,
        ..params("mint-replica-dr")
    });
    assert!(e.contains("not a host name"), "{e}");
    for ok in [
        ConfigureWebsiteParams {
            host_name: Some("www.mint.example".into()),
            behind_cloudfront: true,
            ..params("mint-replica-dr")
        },
        ConfigureWebsiteParams {
            host_name: Some("www.mint.example".into()),
            ..params("www.mint.example")
        },
    ] {
        ConfigureWebsite::validate(&ok).unwrap();
    }
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
