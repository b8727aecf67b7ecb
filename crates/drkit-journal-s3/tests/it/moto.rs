use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use drkit_aws::AwsContext;
use drkit_core::{ActionError, ActionRef, Check, ErrorKind, MockRecoveryAction, Outputs, Resource};
use drkit_journal_s3::S3JournalStore;
use drkit_runner::{Batch, JournalError, JournalStore, LockHolder, Plan, RunError, Runner, Step};
use drkit_testkit::unique;

pub(crate) struct World {
    pub(crate) aws: AwsContext,
    pub(crate) client: aws_sdk_s3::Client,
    pub(crate) bucket: String,
}

pub(crate) async fn world() -> Option<World> {
    let moto = drkit_testkit::moto()?;
    let aws = AwsContext::from_sdk_config(moto.sdk_config("us-west-2").await);
    let config = aws_sdk_s3::config::Builder::from(aws.sdk_config())
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    let bucket = unique("mint-dr-journal");
    client
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest2)
                .build(),
        )
        .send()
        .await
        .unwrap();
    Some(World {
        aws,
        client,
        bucket,
    })
}

impl World {
    /// A store as a second machine would open it: from the URL alone.
    pub(crate) fn store(&self) -> S3JournalStore {
        S3JournalStore::from_url(&format!("s3://{}/drills", self.bucket), &self.aws).unwrap()
    }
}

#[tokio::test]
async fn only_one_runner_holds_the_lock_and_the_other_is_told_who() {
    let Some(w) = world().await else { return };
    let (first, second) = (w.store(), w.store());
    let lock = first
        .acquire("mint", &LockHolder::new("alice@bastion-1 (pid 1)"))
        .await
        .unwrap();
    let err = second
        .acquire("mint", &LockHolder::new("bob@laptop (pid 2)"))
        .await
        .unwrap_err();
    match &err {
        JournalError::Locked { holder, .. } => assert_eq!(holder.who, "alice@bastion-1 (pid 1)"),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(err.to_string().contains("alice@bastion-1"), "{err}");
    lock.release().await.unwrap();
    let lock = second
        .acquire("mint", &LockHolder::new("bob@laptop (pid 2)"))
        .await
        .unwrap();
    lock.release().await.unwrap();
}

/// The operator's machine died holding the lock (a lock of the older format, with no lease of
/// its own: the reader's lease counts): once its lease has run out by S3's clock, a runner on
/// another machine takes the lock over.
#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let Some(w) = world().await else { return };
    let expired = serde_json::json!({
        "who": "alice@lost-machine (pid 7)",
        "since": "2026-01-01T00:00:00Z",
        "expires_at": humantime::format_rfc3339(SystemTime::now() - Duration::from_secs(1)).to_string(),
    });
    w.client
        .put_object()
        .bucket(&w.bucket)
        .key("drills/mint.lock")
        .body(ByteStream::from(serde_json::to_vec(&expired).unwrap()))
        .send()
        .await
        .unwrap();
    let store = w.store().with_lease(Duration::from_secs(1));
    let bob = LockHolder::new("bob@dr-bastion (pid 9)");
    let started = std::time::Instant::now();
    let lock = loop {
        match store.acquire("mint", &bob).await {
            Ok(lock) => break lock,
            Err(JournalError::Locked { holder, .. }) => {
                assert_eq!(holder.who, "alice@lost-machine (pid 7)");
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "never taken over"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    // Not before the lease (1 s) and the 2 s slack by S3's clock, which counts whole seconds.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(lock.holder().who, "bob@dr-bastion (pid 9)");
    // ...and now it is bob's, with a live lease: a third runner is refused.
    let err = w
        .store()
        .acquire("mint", &LockHolder::new("carol"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, JournalError::Locked { ref holder, .. } if holder.who.starts_with("bob@")),
        "{err}"
    );
    lock.release().await.unwrap();
}

#[tokio::test]
async fn the_lease_is_renewed_while_held() {
    let Some(w) = world().await else { return };
    let store = w.store().with_lease(Duration::from_millis(900));
    let lock = store
        .acquire("mint", &LockHolder::new("alice"))
        .await
        .unwrap();
    // Three lease lengths later the lock is still alice's: renewed every 300 ms.
    tokio::time::sleep(Duration::from_millis(2700)).await;
    let err = w
        .store()
        .acquire("mint", &LockHolder::new("bob"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, JournalError::Locked { ref holder, .. } if holder.who == "alice"),
        "{err}"
    );
    lock.release().await.unwrap();
}

#[tokio::test]
async fn a_batch_is_written_once_and_read_back_in_order() {
    let Some(w) = world().await else { return };
    let store = w.store();
    // Written only under the lock.
    let err = store
        .append("mint", Batch::new("mint-1", 0, 0, Vec::new()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only under its lock"), "{err}");
    let lock = store
        .acquire("mint", &LockHolder::new("alice"))
        .await
        .unwrap();
    let line = |seq: u64| {
        format!(
            "{{\"seq\":{seq},\"at\":\"2026-11-28T00:00:0{seq}Z\",\"run\":\"mint-1\",\"event\":\"step_rolled_back\",\"step\":\"s{seq}\"}}\n"
        )
    };
    store
        .append("mint", Batch::new("mint-1", 2, 1, line(2).into_bytes()))
        .await
        .unwrap();
    store
        .append(
            "mint",
            Batch::new(
                "mint-1",
                0,
                2,
                format!("{}{}", line(0), line(1)).into_bytes(),
            ),
        )
        .await
        .unwrap();
    // Other records at the same position: refused by `If-None-Match: *`. The same records
    // again (a write whose answer was lost, sent again) are taken as written.
    let other = line(2).replace("s2", "another");
    let err = store
        .append("mint", Batch::new("mint-1", 2, 1, other.into_bytes()))
        .await
        .unwrap_err();
    match &err {
        JournalError::Store { source, .. } => assert_eq!(source.kind(), ErrorKind::Conflict),
        other => panic!("expected a conflict, got {other:?}"),
    }
    store
        .append("mint", Batch::new("mint-1", 2, 1, line(2).into_bytes()))
        .await
        .unwrap();
    let records = w.store().load("mint").await.unwrap();
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [0, 1, 2]);
    assert!(w.store().load("another-plan").await.unwrap().is_empty());
    lock.release().await.unwrap();
}

pub(crate) fn action(id: &'static str, executions: Arc<AtomicU32>, fail_first: bool) -> ActionRef {
    let mut m = MockRecoveryAction::new();
    m.expect_id().return_const(id.to_owned());
    m.expect_kind().return_const("demo.touch");
    m.expect_target()
        .return_const(Resource::new("demo", "thing", id));
    m.expect_mutates().return_const(true);
    m.expect_iam_actions().return_const(&[][..]);
    m.expect_supports_rollback().return_const(false);
    m.expect_check().returning(|_| Ok(Check::ready("touch it")));
    m.expect_execute().returning(move |_| {
        let n = executions.fetch_add(1, Ordering::SeqCst);
        if fail_first && n == 0 {
            Err(ActionError::new(
                ErrorKind::Conflict,
                "the standby is not ready yet",
            ))
        } else {
            Ok(Outputs::new().with("done", true))
        }
    });
    m.expect_verify().returning(|_| Ok("touched".into()));
    Arc::new(m)
}

/// The drill fails on machine A; machine B, with only the bucket URL, resumes it: the step
/// that succeeded on A is not executed again.
#[tokio::test]
async fn a_run_is_resumed_from_a_second_machine() {
    let Some(w) = world().await else { return };
    let scaled = Arc::new(AtomicU32::new(0));
    let promoted = Arc::new(AtomicU32::new(0));
    let plan = |scaled: &Arc<AtomicU32>, promoted: &Arc<AtomicU32>| {
        Plan::new(
            "mint-failover",
            vec![
                Step::new(action("scale", Arc::clone(scaled), false)),
                Step::new(action("promote", Arc::clone(promoted), true)).depends_on(["scale"]),
            ],
        )
        .unwrap()
    };
    let machine_a = Runner::new().with_journal(w.store());
    let first = machine_a.run(&plan(&scaled, &promoted)).await;
    assert!(matches!(first, Err(RunError::Unsuccessful(_))), "{first:?}");

    let machine_b = Runner::new().with_journal(w.store());
    let report = machine_b.resume(&plan(&scaled, &promoted)).await.unwrap();
    assert!(report.is_success());
    assert_eq!(
        scaled.load(Ordering::SeqCst),
        1,
        "a completed step ran twice"
    );
    assert_eq!(promoted.load(Ordering::SeqCst), 2);
    // Everything is in the bucket, in order.
    let records = w.store().load("mint-failover").await.unwrap();
    assert!(records.len() > 6, "{}", records.len());
}
