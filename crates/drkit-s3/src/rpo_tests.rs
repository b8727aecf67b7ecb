//! Tests of `rpo.rs`: what is listed for which rules, paging with continuation tokens, the
//! budget, and several destinations.

use std::sync::Arc;

use drkit_core::Context;

use super::{Measurement, Risk, Scope, listing_prefixes, measure};
use crate::fake::{FakeS3, ago};
use crate::port::{ObjectInfo, ReplicationRule, S3Api};

fn rule(prefix: &str) -> ReplicationRule {
    ReplicationRule::new(prefix, true, "dr").with_prefix(prefix)
}

#[test]
fn the_listing_covers_each_rule_once_within_the_asked_prefix() {
    let (all, img, img_png, docs) = (rule(""), rule("img/"), rule("img/png/"), rule("docs/"));
    let list = |rules: &[&ReplicationRule], within: Option<&str>| listing_prefixes(rules, within);
    // A rule for everything: the whole bucket, once.
    assert_eq!(list(&[&all, &img], None), [""]);
    // Prefixes, the longer one covered by the shorter.
    assert_eq!(list(&[&img_png, &docs, &img], None), ["docs/", "img/"]);
    // Within a prefix: the longer of the two, or nothing when they do not meet.
    assert_eq!(list(&[&img, &docs], Some("img/png/")), ["img/png/"]);
    assert_eq!(list(&[&all], Some("img/")), ["img/"]);
    assert_eq!(list(&[&img_png, &docs], Some("img/")), ["img/png/"]);
    assert!(list(&[&img, &docs], Some("tmp/")).is_empty());
}

/// `n` replicated objects `o00`.. (the higher the number, the older).
fn objects(n: u64) -> Vec<ObjectInfo> {
    (0..n)
        .map(|i| ObjectInfo::new(&format!("o{i:02}"), ago(10 + i), Some("COMPLETED")))
        .collect()
}

#[tokio::test]
async fn every_page_is_followed_and_counted() {
    let s3 = FakeS3 {
        page_size: 3,
        ..FakeS3::mint(objects(8), None)
    };
    let all = ReplicationRule::new("all", true, "mint-assets-dr");
    let scope = Scope {
        bucket: "mint-assets",
        api: &s3,
        rules: &[&all],
        within: None,
        destinations: &[],
    };
    let m = measure(&Context::new(), &scope, 0, 1_000).await.unwrap();
    assert!(m.complete);
    assert_eq!(s3.count("ListObjectsV2"), 3);
    assert_eq!((m.examined, m.replicated, m.requests), (8, 8, 3 + 8));

    // A budget that ends within the listing: nothing read, incomplete.
    let m = measure(&Context::new(), &scope, 0, 2).await.unwrap();
    assert!(!m.complete);
    assert_eq!((m.examined, m.requests), (0, 2));
    // ...and one that ends within the reading: the newest first.
    s3.calls.lock().unwrap().clear();
    let m = measure(&Context::new(), &scope, 0, 5).await.unwrap();
    assert!(!m.complete);
    assert_eq!((m.examined, m.requests), (2, 5));
    let read: Vec<String> = s3
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.starts_with("HeadObject"))
        .cloned()
        .collect();
    assert_eq!(
        read,
        ["HeadObject mint-assets/o00", "HeadObject mint-assets/o01"]
    );
}

/// The measurement of `mint-assets` with a sample of 1.
async fn sample_one(
    s3: &FakeS3,
    rules: &[&ReplicationRule],
    destinations: &[(String, Arc<dyn S3Api>)],
) -> Measurement {
    let scope = Scope {
        bucket: "mint-assets",
        api: s3,
        rules,
        within: None,
        destinations,
    };
    measure(&Context::new(), &scope, 1, 100).await.unwrap()
}

#[tokio::test]
async fn a_sample_looks_in_the_destinations_of_the_rules_that_cover_the_object() {
    let s3 = Arc::new(FakeS3::mint(
        vec![ObjectInfo::new("img/a.png", ago(10), Some("COMPLETED"))],
        None,
    ));
    // In the eu destination only.
    s3.edit("mint-assets-dr", |b| b.objects.clear());
    let mut eu = s3.buckets.lock().unwrap()["mint-assets-dr"].clone();
    eu.objects
        .push(ObjectInfo::new("img/a.png", ago(9), Some("REPLICA")));
    s3.buckets
        .lock()
        .unwrap()
        .insert("mint-assets-eu".into(), eu);
    let port: Arc<dyn S3Api> = Arc::clone(&s3) as _;
    let destinations = [
        ("mint-assets-dr".to_owned(), Arc::clone(&port)),
        ("mint-assets-eu".to_owned(), port),
    ];
    let to_dr = ReplicationRule::new("dr", true, "mint-assets-dr");
    let to_eu = ReplicationRule::new("eu", true, "mint-assets-eu").with_prefix("img/");
    // A rule for img/ sends it to eu: present.
    let m = sample_one(&s3, &[&to_dr, &to_eu], &destinations).await;
    assert_eq!((m.sampled, m.replicated), (1, 1), "{m:?}");
    // Without that rule, dr alone should have it: absent.
    let m = sample_one(&s3, &[&to_dr], &destinations).await;
    assert_eq!(m.at_risk.len(), 1);
    assert_eq!(m.at_risk[0].1, Risk::Absent);
}
