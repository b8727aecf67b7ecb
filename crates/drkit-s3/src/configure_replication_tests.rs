//! Unit tests of `s3.configure_replication` with the mocked port: versioning refused on either
//! bucket, a configuration drkit could not restore, a lost answer and a resume that keep the
//! configuration from before the change, and S3's refusals.

use std::sync::{Arc, Mutex};

use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionRef, Check, Context, ErrorKind};
use serde_json::json;

use super::*;
use crate::port::MockS3Api;
use crate::register_with;

const ROLE: &str = "arn:aws:iam::123456789012:role/s3-replication-back";

fn params() -> serde_json::Value {
    json!({"bucket": "mint-assets-dr", "role": ROLE, "destination_bucket": "mint-assets"})
}

fn wanted() -> ReplicationSetting {
    serde_json::from_value::<ConfigureReplicationParams>(params())
        .unwrap()
        .wanted()
}

/// The configuration before: the old direction's rule, V1 schema.
fn before() -> ReplicationSetting {
    ReplicationSetting {
        role: "arn:aws:iam::123456789012:role/old".into(),
        rules: vec![RuleSetting {
            id: Some("all".into()),
            legacy_prefix: Some(String::new()),
            enabled: true,
            destination_arn: "arn:aws:s3:::mint-assets-old".into(),
            ..RuleSetting::default()
        }],
        unmodelled: Vec::new(),
    }
}

/// A port where both buckets are versioned (`versioning` for `mint-assets`, the destination)
/// and the source's configuration is `config`, changed by the puts and deletes.
fn mock(
    dest_versioning: &'static str,
    config: &Arc<Mutex<Option<ReplicationSetting>>>,
) -> MockS3Api {
    let mut api = MockS3Api::new();
    api.expect_versioning().returning(move |b| {
        Ok(if b == "mint-assets" {
            dest_versioning
        } else {
            "Enabled"
        }
        .to_owned())
    });
    api.expect_bucket_region()
        .returning(|_| Ok("us-east-1".to_owned()));
    let c = Arc::clone(config);
    api.expect_replication_setting()
        .returning(move |_| Ok(c.lock().unwrap().clone()));
    api
}

fn registry(api: MockS3Api) -> Registry {
    let api: Arc<dyn S3Api> = Arc::new(api);
    let mut registry = Registry::new();
    register_with(&mut registry, &PortFactory::new(move |_| Arc::clone(&api))).unwrap();
    registry
}

fn build(registry: &Registry) -> ActionRef {
    registry
        .build(
            &ActionSpec::new("s3-back", "s3.configure_replication", params())
                .in_region("us-west-2"),
        )
        .unwrap()
}

#[tokio::test]
async fn versioning_off_on_either_bucket_blocks_naming_it() {
    let config = Arc::new(Mutex::new(None));
    let mut api = mock("Suspended", &config);
    api.expect_put_replication().never();
    let action = build(&registry(api));
    match action.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => {
            assert!(
                reason.contains("destination bucket mint-assets (Suspended)"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    let e = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PreconditionFailed);

    let mut api = MockS3Api::new();
    api.expect_replication_setting().returning(|_| Ok(None));
    api.expect_versioning().returning(|_| Ok(String::new()));
    let action = build(&registry(api));
    match action.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => {
            assert!(
                reason.contains("source bucket mint-assets-dr (never enabled)"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_configuration_drkit_could_not_restore_is_not_replaced() {
    let mut current = before();
    current.unmodelled = vec!["ReplicationTime / Metrics of rule all".into()];
    let config = Arc::new(Mutex::new(Some(current)));
    let mut api = mock("Enabled", &config);
    api.expect_put_replication().never();
    let action = build(&registry(api));
    match action.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => assert!(reason.contains("ReplicationTime"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(action.execute(&Context::new()).await.is_err());
}

#[tokio::test]
async fn the_same_configuration_is_done_at_check() {
    let config = Arc::new(Mutex::new(Some(wanted())));
    let mut api = mock("Enabled", &config);
    api.expect_put_replication().never();
    let action = build(&registry(api));
    match action.check(&Context::new()).await.unwrap() {
        Check::Done { outputs, .. } => {
            assert_eq!(outputs.get_str("destination_region"), Some("us-east-1"));
            assert_eq!(
                outputs.get("previous_replication"),
                None,
                "not this step's change"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// The put took effect but its answer was lost; the run resumes in another process (a new
/// action, the journalled intent): the configuration from before is the one recorded before
/// the first call, not the one now there, and rollback restores it exactly.
#[tokio::test]
async fn a_lost_answer_and_a_resume_keep_the_configuration_from_before() {
    let config = Arc::new(Mutex::new(Some(before())));
    let puts = Arc::new(Mutex::new(Vec::<ReplicationSetting>::new()));
    let port = {
        let (config, puts) = (Arc::clone(&config), Arc::clone(&puts));
        move |lose: bool| {
            let mut api = mock("Enabled", &config);
            let (c, p) = (Arc::clone(&config), Arc::clone(&puts));
            api.expect_put_replication().returning(move |_, s| {
                *c.lock().unwrap() = Some(s.clone());
                p.lock().unwrap().push(s.clone());
                if lose {
                    Err(ActionError::new(ErrorKind::Unavailable, "connection reset"))
                } else {
                    Ok(())
                }
            });
            api
        }
    };
    let ctx = Context::new();
    let first = build(&registry(port(true)));
    assert!(first.execute(&ctx).await.is_err());
    assert_eq!(
        *config.lock().unwrap(),
        Some(wanted()),
        "the put took effect"
    );

    let resumed = build(&registry(port(false)));
    let out = resumed.execute(&ctx).await.unwrap();
    assert_eq!(
        out.get("previous_replication"),
        Some(&serde_json::to_value(before()).unwrap())
    );
    resumed.rollback(&ctx).await.unwrap();
    assert_eq!(*config.lock().unwrap(), Some(before()), "restored exactly");
    assert_eq!(puts.lock().unwrap().last(), Some(&before()));
}

/// S3 refuses a role it cannot assume or a malformed configuration (`InvalidRequest`,
/// `InvalidArgument`): no retry helps.
#[tokio::test]
async fn an_s3_refusal_is_permanent_with_its_code() {
    let config = Arc::new(Mutex::new(None));
    let mut api = mock("Enabled", &config);
    api.expect_put_replication().times(1).returning(|_, _| {
        Err(
            ActionError::new(ErrorKind::InvalidInput, "Role is not valid")
                .with_code("InvalidRequest"),
        )
    });
    let action = build(&registry(api));
    let e = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidRequest"));
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("PutBucketReplication"), "{e}");
}

#[test]
fn the_configuration_put_is_schema_v2_with_delete_markers_and_priority() {
    let mut p: ConfigureReplicationParams = serde_json::from_value(json!({
        "bucket": "mint-assets-dr", "role": ROLE,
        "destination_bucket": "arn:aws:s3:::mint-assets", "prefix": "img/",
        "storage_class": "STANDARD_IA", "delete_marker_replication": true,
    }))
    .unwrap();
    let w = p.wanted();
    let rule = &w.rules[0];
    assert_eq!(rule.destination_arn, "arn:aws:s3:::mint-assets");
    assert_eq!(rule.filter_prefix.as_deref(), Some("img/"));
    assert_eq!(rule.legacy_prefix, None);
    assert_eq!(rule.priority, Some(1));
    assert_eq!(rule.delete_marker_replication, Some(true));
    p.prefix = None;
    assert_eq!(p.wanted().rules[0].filter_prefix.as_deref(), Some(""));
}
