//! Unit tests of `s3.verify_replication` with the mocked port: moto does not replicate
//! objects, so the sampled part (replication statuses, presence in the destination, the data
//! at risk) is shown here.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use drkit_core::{ActionError, Check, Context, ErrorKind, PortFactory, RecoveryAction};

use crate::port::{MockS3Api, ObjectInfo, ReplicationConfig, ReplicationRule, S3Api};
use crate::replication::{VerifyReplication, VerifyReplicationParams};

fn ago(secs: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(secs)
}

struct Setup {
    source_versioning: &'static str,
    dest_versioning: Result<&'static str, ErrorKind>,
    rules: Option<Vec<ReplicationRule>>,
    objects: Vec<ObjectInfo>,
    in_destination: Vec<&'static str>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            source_versioning: "Enabled",
            dest_versioning: Ok("Enabled"),
            rules: Some(vec![ReplicationRule::new("all", true, "mint-assets-dr")]),
            objects: Vec::new(),
            in_destination: Vec::new(),
        }
    }
}

fn factory(s: Setup) -> PortFactory<dyn S3Api> {
    let Setup {
        source_versioning,
        dest_versioning,
        rules,
        objects,
        in_destination,
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
        .expect_newest_objects()
        .returning(move |_, _, n| Ok(objects.iter().take(n).cloned().collect()));
    let mut dest = MockS3Api::new();
    dest.expect_versioning().returning(move |_| {
        dest_versioning
            .map(str::to_owned)
            .map_err(|k| ActionError::new(k, "destination error"))
    });
    dest.expect_head_object().returning(move |_, key, _| {
        Ok(in_destination
            .contains(&key)
            .then(|| ObjectInfo::new(key, ago(1), Some("REPLICA"))))
    });
    let (source, dest): (Arc<dyn S3Api>, Arc<dyn S3Api>) = (Arc::new(source), Arc::new(dest));
    PortFactory::new(move |region| match region {
        Some("us-west-2") => Arc::clone(&dest),
        _ => Arc::clone(&source),
    })
}

fn action(s: Setup, sample: Option<usize>) -> VerifyReplication {
    VerifyReplication::new(
        "verify-s3",
        VerifyReplicationParams {
            bucket: "mint-assets".into(),
            sample,
            prefix: None,
            max_unreplicated_age: Duration::from_secs(900),
        },
        factory(s),
        Some("us-east-1"),
    )
}

async fn blocked(a: &VerifyReplication) -> String {
    match a.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => reason,
        other => panic!("{other:?}"),
    }
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

#[tokio::test]
async fn a_replicated_sample_reports_zero_data_at_risk() {
    let s = Setup {
        objects: vec![
            ObjectInfo::new("a.png", ago(10), Some("COMPLETED")),
            ObjectInfo::new("b.png", ago(20), Some("COMPLETED")),
        ],
        in_destination: vec!["a.png", "b.png"],
        ..Setup::default()
    };
    let out = action(s, Some(2)).execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("rpo_seconds").unwrap(), 0);
    assert_eq!(out.get_str("rpo_class"), Some("files"));
    assert_eq!(out.get("replicated").unwrap(), 2);
}

#[tokio::test]
async fn pending_objects_within_the_rpo_pass_and_report_the_oldest_age() {
    let s = Setup {
        objects: vec![
            ObjectInfo::new("new.png", ago(30), Some("PENDING")),
            ObjectInfo::new("older.png", ago(300), Some("PENDING")),
            ObjectInfo::new("old.png", ago(4000), Some("COMPLETED")),
        ],
        in_destination: vec!["old.png"],
        ..Setup::default()
    };
    let out = action(s, Some(3)).execute(&Context::new()).await.unwrap();
    let rpo = out.get("rpo_seconds").unwrap().as_u64().unwrap();
    assert!((300..=302).contains(&rpo), "{rpo}");
    assert_eq!(out.get_str("oldest_unreplicated"), Some("older.png"));
    assert_eq!(out.get("unreplicated").unwrap(), 2);
}

#[tokio::test]
async fn data_at_risk_beyond_the_rpo_failed_or_missing_objects_block() {
    let late = Setup {
        objects: vec![ObjectInfo::new("stuck.png", ago(1200), Some("PENDING"))],
        ..Setup::default()
    };
    let r = blocked(&action(late, Some(5))).await;
    assert!(
        r.contains("more than 15m") && r.contains("stuck.png (PENDING)"),
        "{r}"
    );
    let failed = Setup {
        objects: vec![ObjectInfo::new("bad.png", ago(5), Some("FAILED"))],
        ..Setup::default()
    };
    let r = blocked(&action(failed, Some(5))).await;
    assert!(r.contains("bad.png: FAILED"), "{r}");
    let missing = Setup {
        objects: vec![ObjectInfo::new("lost.png", ago(5), Some("COMPLETED"))],
        in_destination: vec![],
        ..Setup::default()
    };
    let r = blocked(&action(missing, Some(5))).await;
    assert!(r.contains("lost.png: COMPLETED but absent"), "{r}");
    let unreplicated = Setup {
        objects: vec![ObjectInfo::new("before-rule.png", ago(100_000), None)],
        ..Setup::default()
    };
    let r = blocked(&action(unreplicated, Some(5))).await;
    assert!(r.contains("before-rule.png (none)"), "{r}");
}
