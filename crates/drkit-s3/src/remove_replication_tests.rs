//! Unit tests of `s3.remove_replication` with the mocked port: nothing to remove, a
//! configuration drkit could not restore, a lost answer and a resume that keep the
//! configuration removed, rollback putting it back exactly.

use std::sync::{Arc, Mutex};

use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionError, ActionRef, Check, Context, ErrorKind, PortFactory};
use serde_json::json;

use crate::port::{MockS3Api, ReplicationSetting, RuleSetting, S3Api};
use crate::register_with;

/// The reverse replication reprotect set up: the DR bucket back to the primary.
fn reverse() -> ReplicationSetting {
    ReplicationSetting {
        role: "arn:aws:iam::123456789012:role/s3-replication-back".into(),
        rules: vec![RuleSetting {
            id: Some("failback".into()),
            priority: Some(1),
            enabled: true,
            filter_prefix: Some(String::new()),
            destination_arn: "arn:aws:s3:::mint-assets".into(),
            delete_marker_replication: Some(false),
            ..RuleSetting::default()
        }],
        unmodelled: Vec::new(),
    }
}

/// A port whose bucket's configuration is `config`, changed by its puts and deletes; a
/// delete fails with a lost answer (after taking effect) when `lose`.
fn mock(config: &Arc<Mutex<Option<ReplicationSetting>>>, lose: bool) -> MockS3Api {
    let mut api = MockS3Api::new();
    let c = Arc::clone(config);
    api.expect_replication_setting()
        .returning(move |_| Ok(c.lock().unwrap().clone()));
    let c = Arc::clone(config);
    api.expect_delete_replication().returning(move |_| {
        *c.lock().unwrap() = None;
        if lose {
            Err(ActionError::new(ErrorKind::Unavailable, "connection reset"))
        } else {
            Ok(())
        }
    });
    let c = Arc::clone(config);
    api.expect_put_replication().returning(move |_, s| {
        *c.lock().unwrap() = Some(s.clone());
        Ok(())
    });
    api
}

fn build(api: MockS3Api) -> ActionRef {
    let api: Arc<dyn S3Api> = Arc::new(api);
    let mut registry = Registry::new();
    register_with(&mut registry, &PortFactory::new(move |_| Arc::clone(&api))).unwrap();
    registry
        .build(
            &ActionSpec::new(
                "s3-forward-only",
                "s3.remove_replication",
                json!({"bucket": "mint-assets-dr"}),
            )
            .in_region("us-west-2"),
        )
        .unwrap()
}

#[tokio::test]
async fn a_bucket_without_replication_is_done_at_check() {
    let config = Arc::new(Mutex::new(None));
    let mut api = MockS3Api::new();
    let c = Arc::clone(&config);
    api.expect_replication_setting()
        .returning(move |_| Ok(c.lock().unwrap().clone()));
    api.expect_delete_replication().never();
    let action = build(api);
    match action.check(&Context::new()).await.unwrap() {
        Check::Done { detail, outputs } => {
            assert!(detail.contains("no replication configuration"), "{detail}");
            assert_eq!(
                outputs.get("previous_replication"),
                None,
                "not this step's change"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_configuration_drkit_could_not_restore_is_not_removed() {
    let mut current = reverse();
    current.unmodelled = vec!["ReplicationTime / Metrics of rule failback".into()];
    let config = Arc::new(Mutex::new(Some(current)));
    let mut api = MockS3Api::new();
    let c = Arc::clone(&config);
    api.expect_replication_setting()
        .returning(move |_| Ok(c.lock().unwrap().clone()));
    api.expect_delete_replication().never();
    let action = build(api);
    match action.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => assert!(reason.contains("ReplicationTime"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let e = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PreconditionFailed);
}

/// The delete took effect but its answer was lost; the run resumes in another process (a new
/// action, the journalled intent): the configuration removed is the one recorded before the
/// call, verify finds none, and rollback puts it back exactly.
#[tokio::test]
async fn a_lost_answer_and_a_resume_keep_what_was_removed_for_rollback() {
    let config = Arc::new(Mutex::new(Some(reverse())));
    let ctx = Context::new();
    let first = build(mock(&config, true));
    match first.check(&ctx).await.unwrap() {
        Check::Ready { change } => {
            assert!(change.contains("removes role arn:aws:iam::123456789012:role/s3-replication-back, rule failback (Enabled) -> mint-assets"), "{change}");
        }
        other => panic!("{other:?}"),
    }
    assert!(first.execute(&ctx).await.is_err());
    assert_eq!(*config.lock().unwrap(), None, "the delete took effect");

    let resumed = build(mock(&config, false));
    let out = resumed.execute(&ctx).await.unwrap();
    assert_eq!(
        out.get("previous_replication"),
        Some(&serde_json::to_value(reverse()).unwrap())
    );
    assert!(
        resumed
            .verify(&ctx)
            .await
            .unwrap()
            .contains("finds no configuration")
    );
    resumed.rollback(&ctx).await.unwrap();
    assert_eq!(*config.lock().unwrap(), Some(reverse()), "restored exactly");
}

/// A configuration that is still there after the delete (another writer put one back) fails
/// verify, naming it.
#[tokio::test]
async fn a_configuration_still_there_fails_verify() {
    let config = Arc::new(Mutex::new(Some(reverse())));
    let action = build(mock(&config, false));
    let e = action.verify(&Context::new()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PostconditionFailed);
    assert!(e.to_string().contains("still replicates"), "{e}");
}
