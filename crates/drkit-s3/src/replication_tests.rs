//! Unit tests of `s3.verify_replication`: the configuration's blockers with the mocked port
//! (errors of either side), the data at risk with the in-memory S3 (moto does not replicate
//! objects, so replication statuses are shown here: `PENDING`, `FAILED`, `REPLICA`, none).

use std::sync::Arc;
use std::time::Duration;

use drkit_core::{ActionError, Check, Context, ErrorKind, Outputs, PortFactory, RecoveryAction};

use crate::fake::{FakeS3, ago};
use crate::port::{MockS3Api, ObjectInfo, ObjectPage, ReplicationConfig, ReplicationRule, S3Api};
use crate::replication::{VerifyReplication, VerifyReplicationParams};

struct Setup {
    source_versioning: &'static str,
    dest_versioning: Result<&'static str, ErrorKind>,
    rules: Option<Vec<ReplicationRule>>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            source_versioning: "Enabled",
            dest_versioning: Ok("Enabled"),
            rules: Some(vec![ReplicationRule::new("all", true, "mint-assets-dr")]),
        }
    }
}

fn factory(s: Setup) -> PortFactory<dyn S3Api> {
    let Setup {
        source_versioning,
        dest_versioning,
        rules,
    } = s;
    let mut source = MockS3Api::new();
    source.expect_versioning().returning(move |b| {
        if b == "mint-assets" {
            Ok(source_versioning.to_owned())
        } else {
            Err(ActionError::new(ErrorKind::NotFound, "NoSuchBucket"))
        }
    });
    source.expect_replication().returning(move |_| {
        Ok(rules.clone().map(|rules| ReplicationConfig {
            role: "arn:aws:iam::123456789012:role/replication".into(),
            rules,
        }))
    });
    source.expect_bucket_region().returning(|b| {
        if b == "mint-assets-dr" {
            Ok("us-west-2".into())
        } else {
            Err(ActionError::new(ErrorKind::NotFound, "NoSuchBucket"))
        }
    });
    source
        .expect_list_objects()
        .returning(|_, _, _| Ok(ObjectPage::default()));
    let mut dest = MockS3Api::new();
    dest.expect_versioning().returning(move |_| {
        dest_versioning
            .map(str::to_owned)
            .map_err(|k| ActionError::new(k, "destination error"))
    });
    let (source, dest): (Arc<dyn S3Api>, Arc<dyn S3Api>) = (Arc::new(source), Arc::new(dest));
    PortFactory::new(move |region| match region {
        Some("us-west-2") => Arc::clone(&dest),
        _ => Arc::clone(&source),
    })
}

fn params(sample: Option<usize>) -> VerifyReplicationParams {
    VerifyReplicationParams {
        bucket: "mint-assets".into(),
        sample,
        prefix: None,
        max_unreplicated_age: Duration::from_secs(900),
        max_requests: 1_000,
    }
}

fn action(s: Setup, sample: Option<usize>) -> VerifyReplication {
    VerifyReplication::new("verify-s3", params(sample), factory(s), Some("us-east-1"))
}

async fn blocked(a: &VerifyReplication) -> String {
    match a.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => reason,
        other => panic!("{other:?}"),
    }
}

/// The check of a measurement that fails: an error carrying the outputs (the report's RPO).
async fn failed(a: &VerifyReplication) -> (String, Outputs) {
    let e = a.check(&Context::new()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PostconditionFailed, "{e}");
    (e.message().to_owned(), e.outputs().cloned().unwrap())
}

#[tokio::test]
async fn configuration_versioning_and_destination_must_all_hold() {
    let ok = action(Setup::default(), None);
    match ok.check(&Context::new()).await.unwrap() {
        Check::Done { outputs, detail } => {
            assert_eq!(
                outputs.get("destinations").unwrap(),
                &serde_json::json!(["mint-assets-dr (us-west-2)"])
            );
            assert!(detail.contains("versioning on both sides"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    let r = blocked(&action(
        Setup {
            source_versioning: "Suspended",
            ..Setup::default()
        },
        None,
    ))
    .await;
    assert!(
        r.contains("source bucket mint-assets is not enabled (Suspended)"),
        "{r}"
    );
    let r = blocked(&action(
        Setup {
            rules: None,
            ..Setup::default()
        },
        None,
    ))
    .await;
    assert!(r.contains("no replication configuration"), "{r}");
    let r = blocked(&action(
        Setup {
            rules: Some(vec![ReplicationRule::new("all", false, "mint-assets-dr")]),
            ..Setup::default()
        },
        None,
    ))
    .await;
    assert!(r.contains("none enabled"), "{r}");
    let r = blocked(&action(
        Setup {
            dest_versioning: Ok(""),
            ..Setup::default()
        },
        None,
    ))
    .await;
    assert!(
        r.contains("destination bucket mint-assets-dr (us-west-2) is not enabled"),
        "{r}"
    );
    let r = blocked(&action(
        Setup {
            dest_versioning: Err(ErrorKind::AccessDenied),
            ..Setup::default()
        },
        None,
    ))
    .await;
    assert!(r.contains("not reachable"), "{r}");
    let r = blocked(&action(
        Setup {
            rules: Some(vec![ReplicationRule::new("all", true, "gone-bucket")]),
            ..Setup::default()
        },
        None,
    ))
    .await;
    assert!(r.contains("gone-bucket is not reachable"), "{r}");
    // A retryable error is an error, not a verdict.
    let err = action(
        Setup {
            dest_versioning: Err(ErrorKind::Throttled),
            ..Setup::default()
        },
        None,
    )
    .check(&Context::new())
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled);
    let e = action(
        Setup {
            source_versioning: "",
            ..Setup::default()
        },
        None,
    )
    .execute(&Context::new())
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PostconditionFailed);
}

/// The step on the in-memory S3 with `objects` in the source.
fn on_fake(
    objects: Vec<ObjectInfo>,
    params: VerifyReplicationParams,
) -> (Arc<FakeS3>, VerifyReplication) {
    let s3 = Arc::new(FakeS3::mint(objects, None));
    let a = VerifyReplication::new("verify-s3", params, s3.ports(), Some("us-east-1"));
    (s3, a)
}

fn secs(out: &Outputs, name: &str) -> u64 {
    out.get(name).and_then(serde_json::Value::as_u64).unwrap()
}

#[tokio::test]
async fn the_data_at_risk_is_measured_by_default_and_zero_when_all_is_replicated() {
    let (_, a) = on_fake(FakeS3::mint_objects(), params(None));
    let out = a.execute(&Context::new()).await.unwrap();
    assert_eq!(secs(&out, "rpo_seconds"), 0);
    assert_eq!(out.get_str("rpo_class"), Some("files"));
    assert_eq!(out.get("rpo_complete").unwrap(), true);
    assert_eq!(secs(&out, "rpo_measured_objects"), 2);
    assert_eq!(secs(&out, "replicated"), 2);
    assert_eq!(secs(&out, "unreplicated"), 0);
    assert!(out.get("oldest_unreplicated").is_none() && out.get("sampled").is_none());
}

#[tokio::test]
async fn pending_objects_within_the_rpo_pass_and_report_the_oldest_age() {
    let objects = vec![
        ObjectInfo::new("new.png", ago(30), Some("PENDING")),
        ObjectInfo::new("older.png", ago(300), Some("PENDING")),
        ObjectInfo::new("old.png", ago(4000), Some("COMPLETED")),
        // A replica in the source (two-way replication) came from the other bucket.
        ObjectInfo::new("from-dr.png", ago(5000), Some("REPLICA")),
    ];
    let (_, a) = on_fake(objects, params(None));
    let out = a.execute(&Context::new()).await.unwrap();
    let rpo = secs(&out, "rpo_seconds");
    assert!((300..=302).contains(&rpo), "{rpo}");
    assert_eq!(out.get_str("oldest_unreplicated"), Some("older.png"));
    assert_eq!(secs(&out, "unreplicated"), 2);
    assert_eq!(secs(&out, "replicated"), 2);
}

#[tokio::test]
async fn beyond_the_rpo_failed_and_never_replicated_objects_fail_with_their_numbers() {
    let late = vec![ObjectInfo::new("stuck.png", ago(1200), Some("PENDING"))];
    let (_, a) = on_fake(late, params(None));
    let (r, out) = failed(&a).await;
    assert!(
        r.contains("more than 15m") && r.contains("stuck.png (PENDING)"),
        "{r}"
    );
    assert!(secs(&out, "rpo_seconds") >= 1200);
    assert_eq!(out.get_str("rpo_class"), Some("files"));

    // FAILED is final: the check fails however young, naming the count and the keys.
    let bad = vec![
        ObjectInfo::new("bad-1.png", ago(5), Some("FAILED")),
        ObjectInfo::new("bad-2.png", ago(6), Some("FAILED")),
        ObjectInfo::new("ok.png", ago(7), Some("COMPLETED")),
    ];
    let (_, a) = on_fake(bad, params(None));
    let (r, out) = failed(&a).await;
    assert!(
        r.contains("2 object(s) FAILED replication") && r.contains("bad-1.png, bad-2.png"),
        "{r}"
    );
    assert_eq!(secs(&out, "failed"), 2);
    assert!(secs(&out, "rpo_seconds") < 60);
    // execute and verify fail the same way, carrying the outputs.
    let e = a.execute(&Context::new()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PostconditionFailed);
    assert_eq!(e.outputs().unwrap().get("failed").unwrap(), 2);

    // No status, though the rule covers it: never replicated (e.g. written before the rule).
    let never = vec![ObjectInfo::new("before-rule.png", ago(100_000), None)];
    let (_, a) = on_fake(never, params(None));
    let (r, out) = failed(&a).await;
    assert!(r.contains("before-rule.png (never replicated"), "{r}");
    assert!(secs(&out, "rpo_seconds") >= 100_000);
}

#[tokio::test]
async fn a_sample_looks_for_the_newest_completed_objects_in_the_destination() {
    let (s3, a) = on_fake(FakeS3::mint_objects(), params(Some(1)));
    let out = a.execute(&Context::new()).await.unwrap();
    assert_eq!(secs(&out, "sampled"), 1);
    // The newest one only: img/logo.png, in the destination.
    assert_eq!(s3.count("HeadObject"), 3, "{:?}", s3.calls.lock().unwrap());
    assert!(
        s3.calls
            .lock()
            .unwrap()
            .contains(&"HeadObject mint-assets-dr/img/logo.png".to_owned())
    );
    // Deleted from the destination: COMPLETED but absent fails, with the data at risk.
    s3.edit("mint-assets-dr", |b| b.objects.clear());
    let (r, out) = failed(&a).await;
    assert!(
        r.contains("1 object(s) COMPLETED but absent from the destination: img/logo.png"),
        "{r}"
    );
    assert!(secs(&out, "rpo_seconds") >= 30);
}

#[tokio::test]
async fn a_measurement_cut_short_by_max_requests_says_so_and_never_claims_the_rpo_met() {
    let objects: Vec<ObjectInfo> = (0..10)
        .map(|i| ObjectInfo::new(&format!("o{i}.png"), ago(60 + i), Some("COMPLETED")))
        .collect();
    let (s3, a) = on_fake(
        objects,
        VerifyReplicationParams {
            max_requests: 4,
            ..params(None)
        },
    );
    let out = a.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("rpo_complete").unwrap(), false);
    assert_eq!(secs(&out, "rpo_measured_objects"), 3);
    assert_eq!(secs(&out, "requests"), 4);
    assert_eq!(s3.count("ListObjectsV2") + s3.count("HeadObject"), 4);
    match a.check(&Context::new()).await.unwrap() {
        Check::Done { detail, .. } => assert!(
            detail.contains("data at risk at least 0 s")
                && detail.contains("measurement incomplete: max_requests = 4"),
            "{detail}"
        ),
        other => panic!("{other:?}"),
    }
    // The newest were read first: a stuck old object beyond the budget is not seen, but a
    // breach already seen is a breach, complete or not.
    s3.edit("mint-assets", |b| {
        b.objects = (1..10)
            .map(|i| ObjectInfo::new(&format!("o{i}.png"), ago(2000 + i), Some("COMPLETED")))
            .collect();
        b.objects
            .push(ObjectInfo::new("o0.png", ago(950), Some("PENDING")));
        b.objects
            .push(ObjectInfo::new("stuck.png", ago(5000), Some("PENDING")));
    });
    let (r, out) = failed(&a).await;
    assert!(
        r.contains("more than 15m") && r.contains("oldest unreplicated o0.png"),
        "{r}"
    );
    assert!((950..=952).contains(&secs(&out, "rpo_seconds")));
    assert_eq!(out.get("rpo_complete").unwrap(), false);
}

#[tokio::test]
async fn objects_outside_every_rule_are_counted_apart() {
    let objects = vec![
        ObjectInfo::new("img/a.png", ago(10), Some("COMPLETED")),
        ObjectInfo::new("tmp/scratch", ago(100_000), None),
        ObjectInfo::new("docs/tagged.pdf", ago(20), Some("PENDING")),
        ObjectInfo::new("docs/untagged.pdf", ago(50_000), None),
        ObjectInfo::new("docs/other-tag.pdf", ago(50_000), None),
    ];
    let (s3, a) = on_fake(objects, params(None));
    s3.edit("mint-assets", |b| {
        b.replication.as_mut().unwrap().rules = vec![
            ReplicationRule::new("img", true, "mint-assets-dr").with_prefix("img/"),
            ReplicationRule::new("docs", true, "mint-assets-dr")
                .with_prefix("docs/")
                .with_tag("dr", "yes"),
            // Disabled: replicates nothing.
            ReplicationRule::new("tmp", false, "mint-assets-dr").with_prefix("tmp/"),
        ];
        b.tags
            .insert("docs/tagged.pdf".into(), vec![("dr".into(), "yes".into())]);
        b.tags.insert(
            "docs/other-tag.pdf".into(),
            vec![("dr".into(), "no".into())],
        );
    });
    let out = a.execute(&Context::new()).await.unwrap();
    // Only the rules' prefixes are listed; tmp/ never is.
    assert_eq!(
        s3.count("ListObjectsV2"),
        2,
        "{:?}",
        s3.calls.lock().unwrap()
    );
    assert_eq!(secs(&out, "rpo_measured_objects"), 2);
    assert_eq!(secs(&out, "out_of_scope"), 2);
    assert!(secs(&out, "rpo_seconds") < 60);
    // The tagged object had a status (S3 deemed it eligible), the untagged one no tags: only
    // the one with other tags needed GetObjectTagging.
    assert_eq!(s3.count("GetObjectTagging"), 1);

    // A prefix the step asks for and no rule replicates: refused.
    let a = VerifyReplication::new(
        "verify-s3",
        VerifyReplicationParams {
            prefix: Some("tmp/".into()),
            ..params(None)
        },
        s3.ports(),
        Some("us-east-1"),
    );
    let r = blocked(&a).await;
    assert!(r.contains("no enabled replication rule"), "{r}");
}
