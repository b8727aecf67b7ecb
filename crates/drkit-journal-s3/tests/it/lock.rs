//! The lock's fencing, time source, release and renewal, against moto; what moto cannot do on
//! its own (an answer lost after the write landed, a 409, failing renewals) through the
//! [`Proxy`](crate::proxy::Proxy) in front of it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use axum::http::Method;
use drkit_core::{ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource};
use drkit_journal_s3::S3JournalStore;
use drkit_runner::{
    Batch, Event, JournalError, JournalStore, LockHolder, Plan, Record, RunError, Runner, Step,
};
use tokio::sync::Notify;

use crate::moto::{World, action, world};
use crate::proxy::{Fault, Proxy, Rule};

fn line(run: &str, seq: u64) -> String {
    format!(
        "{{\"seq\":{seq},\"at\":\"2026-11-28T00:00:0{seq}Z\",\"run\":\"{run}\",\"event\":\"step_rolled_back\",\"step\":\"s{seq}\"}}\n"
    )
}

fn batch(run: &str, seq: u64) -> Batch {
    Batch::new(run, seq, 1, line(run, seq).into_bytes())
}

impl World {
    fn key(&self, key: &str) -> String {
        format!("drills/{key}")
    }

    /// The lock object's etag and JSON body, if there is one.
    async fn lock(&self, plan: &str) -> Option<(String, serde_json::Value)> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(&format!("{plan}.lock")))
            .send()
            .await
            .ok()?;
        let etag = out.e_tag().unwrap().to_owned();
        let bytes = out.body.collect().await.unwrap().into_bytes();
        Some((etag, serde_json::from_slice(&bytes).unwrap()))
    }

    /// Writes the lock object as another holder would: unconditionally, or on `etag`.
    async fn put_lock(&self, plan: &str, body: &serde_json::Value, etag: Option<&str>) {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(&format!("{plan}.lock")))
            .body(ByteStream::from(serde_json::to_vec(body).unwrap()));
        let request = match etag {
            Some(etag) => request.if_match(etag),
            None => request,
        };
        request.send().await.unwrap();
    }

    /// Bob takes `plan`'s lock over, as a machine would whose idea of the holder's lease
    /// differs from the holder's own (e.g. the holder's VM was paused: its clock did not run).
    async fn take_over(&self, plan: &str) {
        let (etag, _) = self.lock(plan).await.unwrap();
        let bob = serde_json::json!({
            "who": "bob@dr-bastion (pid 9)",
            "since": "2026-11-28T00:00:00Z",
            "expires_at": "2026-11-28T00:02:00Z",
            "lease_ms": 120_000,
            "generation": 2,
            "holder_id": "bob",
            "write_id": "bob-1",
        });
        self.put_lock(plan, &bob, Some(&etag)).await;
    }

    async fn exists(&self, key: &str) -> bool {
        self.client
            .head_object()
            .bucket(&self.bucket)
            .key(self.key(key))
            .send()
            .await
            .is_ok()
    }
}

fn lost(err: &JournalError) -> String {
    match err {
        JournalError::Store { source, .. } => {
            assert_eq!(source.kind(), ErrorKind::Conflict, "{err}");
            err.to_string()
        }
        other => panic!("expected the lost lock's refusal, got {other:?}"),
    }
}

/// Polls `acquire` until it succeeds (bounded), returning the lock and how long it took.
async fn acquire_when_free(
    store: &S3JournalStore,
    plan: &str,
    who: &str,
) -> (Box<dyn drkit_runner::JournalLock>, Duration) {
    let started = Instant::now();
    loop {
        match store.acquire(plan, &LockHolder::new(who)).await {
            Ok(lock) => return (lock, started.elapsed()),
            Err(JournalError::Locked { .. }) if started.elapsed() < Duration::from_secs(15) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn expiry_is_judged_by_s3s_clock_not_the_writers() {
    let Some(w) = world().await else { return };
    // The writer's clock says the lease ended an hour ago; S3 says the lock was written just
    // now with a 60 s lease: not taken over.
    w.put_lock(
        "fast-clock",
        &serde_json::json!({
            "who": "alice (clock an hour fast)", "since": "2026-01-01T00:00:00Z",
            "expires_at": "2001-01-01T00:00:00Z", "lease_ms": 60_000, "generation": 1,
            "holder_id": "a", "write_id": "a-1",
        }),
        None,
    )
    .await;
    let err = w
        .store()
        .acquire("fast-clock", &LockHolder::new("bob"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, JournalError::Locked { ref holder, .. } if holder.who.starts_with("alice")),
        "{err}"
    );
    // The writer's clock says the lease ends in a thousand years; S3 says it was written with a
    // 300 ms lease: taken over once S3's clock has passed it (and the 2 s slack).
    w.put_lock(
        "slow-clock",
        &serde_json::json!({
            "who": "alice (clock slow)", "since": "2026-01-01T00:00:00Z",
            "expires_at": "2999-01-01T00:00:00Z", "lease_ms": 300, "generation": 4,
            "holder_id": "a", "write_id": "a-2",
        }),
        None,
    )
    .await;
    let (lock, waited) = acquire_when_free(&w.store(), "slow-clock", "bob").await;
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    assert!(waited < Duration::from_secs(6), "{waited:?}");
    let (_, body) = w.lock("slow-clock").await.unwrap();
    assert_eq!(body["who"], "bob");
    assert_eq!(body["generation"], 5);
    lock.release().await.unwrap();
}

/// A holder whose lock was taken over writes nothing more: its commit is refused by S3
/// (`If-Match` on its last write), it learns it lost the lock, and its release leaves the new
/// holder's lock alone.
#[tokio::test]
async fn a_takeover_fences_the_old_holders_writes_and_release() {
    let Some(w) = world().await else { return };
    let alice = w.store();
    let lock = alice
        .acquire("fence", &LockHolder::new("alice"))
        .await
        .unwrap();
    let loss = lock.loss().unwrap();
    alice.append("fence", batch("fence-1", 0)).await.unwrap();
    assert_eq!(loss.reason(), None);

    w.take_over("fence").await;
    let err = alice
        .append("fence", batch("fence-1", 1))
        .await
        .unwrap_err();
    let text = lost(&err);
    assert!(
        text.contains(
            "lost the journal lock: it was taken over by bob@dr-bastion (pid 9) (generation 2)"
        ),
        "{text}"
    );
    assert!(loss.reason().unwrap().contains("taken over by bob"));
    // Nothing of alice's after the takeover, and nothing more sent: the next append is refused
    // without a request.
    assert!(!w.exists("fence/fence-1/00000000000000000001.jsonl").await);
    let err = alice
        .append("fence", batch("fence-1", 2))
        .await
        .unwrap_err();
    lost(&err);
    let seqs: Vec<u64> = w
        .store()
        .load("fence")
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, [0]);
    // Release is conditional: bob's lock stays.
    lock.release().await.unwrap();
    let (_, body) = w.lock("fence").await.expect("bob's lock was deleted");
    assert_eq!(body["who"], "bob@dr-bastion (pid 9)");
}

/// The lock renews itself while held, and a dropped lock does not: no task renews for ever.
#[tokio::test]
async fn dropping_the_lock_stops_its_renewer() {
    let Some(w) = world().await else { return };
    let store = w.store().with_lease(Duration::from_millis(600));
    let lock = store
        .acquire("dropped", &LockHolder::new("alice"))
        .await
        .unwrap();
    let (first, _) = w.lock("dropped").await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (renewed, _) = w.lock("dropped").await.unwrap();
    assert_ne!(first, renewed, "not renewed while held");
    drop(lock);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (at_drop, _) = w.lock("dropped").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (later, _) = w.lock("dropped").await.unwrap();
    assert_eq!(at_drop, later, "renewed after the lock was dropped");
    // And the store writes nothing more under it.
    let err = store
        .append("dropped", batch("dropped-1", 0))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only under its lock"), "{err}");
}

/// A run dropped mid-step (its future aborted): its lock's renewer stops with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_run_stops_its_renewer() {
    let Some(w) = world().await else { return };
    let wait = Arc::new(Waits::new());
    let after = Arc::new(AtomicU32::new(0));
    let runner = Runner::new()
        .with_journal(w.store().with_lease(Duration::from_millis(600)))
        .with_holder("alice");
    let plan = plan("dropped-run", Arc::clone(&wait), &after);
    let started = Arc::clone(&wait.started);
    let run = tokio::spawn(async move { runner.run(&plan).await });
    started.notified().await;
    let (first, _) = w.lock("dropped-run").await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (renewed, _) = w.lock("dropped-run").await.unwrap();
    assert_ne!(first, renewed, "not renewed while the run lived");
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (at_drop, _) = w.lock("dropped-run").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (later, _) = w.lock("dropped-run").await.unwrap();
    assert_eq!(at_drop, later, "renewed after the run was dropped");
}

/// The holder died between committing a batch into the lock and archiving it: the machine
/// that takes over archives it, so nothing committed is lost.
#[tokio::test]
async fn a_takeover_archives_the_batch_the_dead_holder_committed() {
    let Some(w) = world().await else { return };
    let key = w.key("dead/dead-1/00000000000000000000.jsonl");
    w.put_lock(
        "dead",
        &serde_json::json!({
            "who": "alice@lost-machine", "since": "2026-01-01T00:00:00Z",
            "expires_at": "2026-01-01T00:00:00Z", "lease_ms": 300, "generation": 1,
            "holder_id": "a", "write_id": "a-7",
            "pending": { "key": key, "lines": line("dead-1", 0) },
        }),
        None,
    )
    .await;
    assert!(w.store().load("dead").await.unwrap().is_empty());
    let (lock, _) = acquire_when_free(&w.store(), "dead", "bob").await;
    let records = w.store().load("dead").await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].run, "dead-1");
    lock.release().await.unwrap();
    assert!(w.lock("dead").await.is_none(), "not released");
}

/// The SDK sends a write again when its answer is lost; the first attempt had landed, so the
/// retry is answered 412. The store recognises its own write (its `write_id` in the lock, the
/// same bytes in the batch) instead of taking it as a conflict or a takeover. A lost answer to
/// the release's conditional delete is answered 404 on the retry: released.
#[tokio::test]
async fn our_own_write_answered_412_on_a_retry_is_recognised() {
    let Some(w) = world().await else { return };
    let proxy = Proxy::start(w.aws.sdk_config().endpoint_url().unwrap()).await;
    let url = format!("s3://{}/drills", w.bucket);
    let alice = S3JournalStore::from_url(&url, &proxy.aws().await).unwrap();

    proxy.add(Rule::new(Method::PUT, "/own.lock", Fault::LoseAnswer, 1));
    let lock = alice
        .acquire("own", &LockHolder::new("alice"))
        .await
        .unwrap();
    let statuses: Vec<u16> = proxy.seen("/own.lock").iter().map(|s| s.1).collect();
    assert_eq!(statuses, [500, 412, 200], "PUT lost, PUT again (412), GET");
    let err = w
        .store()
        .acquire("own", &LockHolder::new("bob"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, JournalError::Locked { ref holder, .. } if holder.who == "alice"),
        "{err}"
    );

    // A commit and an archive whose answers are lost.
    proxy.add(Rule::new(Method::PUT, "/own.lock", Fault::LoseAnswer, 1));
    proxy.add(Rule::new(
        Method::PUT,
        "00000000000000000000.jsonl",
        Fault::LoseAnswer,
        1,
    ));
    alice.append("own", batch("own-1", 0)).await.unwrap();
    assert_eq!(
        proxy
            .seen("00000000000000000000.jsonl")
            .iter()
            .map(|s| s.1)
            .collect::<Vec<_>>(),
        [500, 412, 200],
        "PUT lost, PUT again (412), GET"
    );
    alice.append("own", batch("own-1", 1)).await.unwrap();
    let seqs: Vec<u64> = w
        .store()
        .load("own")
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seqs, [0, 1]);
    assert_eq!(lock.loss().unwrap().reason(), None);

    proxy.add(Rule::new(Method::DELETE, "/own.lock", Fault::LoseAnswer, 1));
    lock.release().await.unwrap();
    let deletes: Vec<u16> = proxy
        .seen("/own.lock")
        .iter()
        .filter(|s| s.0 == Method::DELETE)
        .map(|s| s.1)
        .collect();
    assert_eq!(deletes, [500, 404]);
    assert!(w.lock("own").await.is_none());
}

/// A 409 `ConditionalRequestConflict` (another request on the object in flight) is retried: on
/// the lock, on a batch, on the release.
#[tokio::test]
async fn a_409_is_retried() {
    let Some(w) = world().await else { return };
    let proxy = Proxy::start(w.aws.sdk_config().endpoint_url().unwrap()).await;
    let url = format!("s3://{}/drills", w.bucket);
    let alice = S3JournalStore::from_url(&url, &proxy.aws().await).unwrap();
    proxy.add(Rule::new(Method::PUT, "/busy.lock", Fault::Conflict, 2));
    let lock = alice
        .acquire("busy", &LockHolder::new("alice"))
        .await
        .unwrap();
    let puts: Vec<u16> = proxy.seen("/busy.lock").iter().map(|s| s.1).collect();
    assert_eq!(puts, [409, 409, 200]);
    proxy.add(Rule::new(Method::PUT, ".jsonl", Fault::Conflict, 1));
    alice.append("busy", batch("busy-1", 0)).await.unwrap();
    assert_eq!(w.store().load("busy").await.unwrap().len(), 1);
    proxy.add(Rule::new(Method::DELETE, "/busy.lock", Fault::Conflict, 1));
    lock.release().await.unwrap();
    assert!(w.lock("busy").await.is_none());
}

/// Nothing is sent past the lease, not even the next attempt of a write already under way: a
/// commit that meets 409s (each pause twice the last: 0.1, 0.2, 0.4, 0.8 s) until its 1 s
/// lease is over is not sent again (the check is made as each attempt leaves, `SendBefore`),
/// and the append fails as a lost lock. Before, the 409 loop (and the SDK's own retries) sent
/// on past the lease, as did a process stopped between deciding a write and sending it (the
/// CLI's SIGSTOP test found it). S3 refused those (the fence); now they are not sent.
#[tokio::test]
async fn nothing_is_sent_past_the_lease_not_even_the_next_attempt_of_a_write() {
    let Some(w) = world().await else { return };
    let proxy = Proxy::start(w.aws.sdk_config().endpoint_url().unwrap()).await;
    let url = format!("s3://{}/drills", w.bucket);
    let lease = Duration::from_secs(1);
    let alice = S3JournalStore::from_url(&url, &proxy.aws().await)
        .unwrap()
        .with_lease(lease);
    let lock = alice
        .acquire("stalled", &LockHolder::new("alice"))
        .await
        .unwrap();
    proxy.add(Rule::new(Method::PUT, "/stalled.lock", Fault::Conflict, 10).body("pending"));
    let err = alice
        .append("stalled", batch("stalled-1", 0))
        .await
        .unwrap_err();
    let why = lost(&err);
    assert!(why.contains("lease"), "{why}");

    let log = proxy.log();
    // The lease counts from when the acquiring write was sent, before the proxy saw it.
    let acquired = log.first().unwrap().at;
    let late: Vec<_> = log
        .iter()
        .filter(|s| s.at > acquired + lease + Duration::from_millis(100))
        .collect();
    assert!(late.is_empty(), "sent past the lease: {late:#?}");
    let commits = proxy.seen("/stalled.lock");
    assert!(
        (3..=5).contains(&commits.len()),
        "the acquire and the commit's attempts within the lease: {commits:?}"
    );
    lock.release().await.unwrap();
    assert_eq!(
        proxy.log().len(),
        log.len(),
        "the release sent nothing either"
    );
    assert!(
        !w.exists("stalled/stalled-1/00000000000000000000.jsonl")
            .await
    );
}

/// A step that runs until cancelled; it says when it started and when it saw the cancellation.
#[derive(Debug)]
struct Waits {
    target: Resource,
    started: Arc<Notify>,
    cancelled_at: Arc<Mutex<Option<Instant>>>,
}

impl Waits {
    fn new() -> Self {
        Self {
            target: Resource::new("demo", "thing", "wait"),
            started: Arc::new(Notify::new()),
            cancelled_at: Arc::new(Mutex::new(None)),
        }
    }
}

#[async_trait]
impl RecoveryAction for Waits {
    fn id(&self) -> &str {
        "wait"
    }
    fn kind(&self) -> &'static str {
        "demo.wait"
    }
    fn target(&self) -> &Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        true
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }
    async fn check(&self, _ctx: &Context) -> Result<Check, ActionError> {
        Ok(Check::ready("wait"))
    }
    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        self.started.notify_one();
        tokio::select! {
            () = ctx.cancellation().cancelled() => {
                *self.cancelled_at.lock().unwrap() = Some(Instant::now());
                Err(ActionError::cancelled("stopped waiting"))
            }
            () = tokio::time::sleep(Duration::from_secs(60)) => Ok(Outputs::new()),
        }
    }
    async fn verify(&self, _ctx: &Context) -> Result<String, ActionError> {
        Ok("waited".into())
    }
}

fn plan(name: &str, wait: Arc<Waits>, after: &Arc<AtomicU32>) -> Plan {
    Plan::new(
        name,
        vec![
            Step::new(wait),
            Step::new(action("after", Arc::clone(after), false)).depends_on(["wait"]),
        ],
    )
    .unwrap()
}

fn names(records: &[Record]) -> Vec<&'static str> {
    records.iter().map(|r| r.event.name()).collect()
}

/// The lock is taken over while a step runs: the runner cancels the step and launches nothing
/// more, and not one record of the old holder reaches the journal after the takeover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_lock_is_taken_over_stops_and_writes_nothing_more() {
    let Some(w) = world().await else { return };
    let lease = Duration::from_millis(1500);
    let wait = Arc::new(Waits::new());
    let after = Arc::new(AtomicU32::new(0));
    let runner = Runner::new()
        .with_journal(w.store().with_lease(lease))
        .with_holder("alice");
    let plan = plan("taken", Arc::clone(&wait), &after);
    let started = Arc::clone(&wait.started);
    let run = tokio::spawn(async move { runner.run(&plan).await });
    started.notified().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = w.store().load("taken").await.unwrap();
    w.take_over("taken").await;
    let took_over = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run did not stop")
        .unwrap();
    let err = result.unwrap_err();
    assert!(
        err.to_string()
            .contains("lost the journal lock: it was taken over by bob"),
        "{err}"
    );
    // Noticed at the next renewal (every 500 ms).
    let cancelled_at = wait
        .cancelled_at
        .lock()
        .unwrap()
        .expect("the step was not cancelled");
    assert!(
        cancelled_at - took_over < lease,
        "{:?}",
        cancelled_at - took_over
    );
    assert_eq!(
        after.load(Ordering::SeqCst),
        0,
        "a step was launched after the loss"
    );
    let records = w.store().load("taken").await.unwrap();
    assert_eq!(
        names(&records),
        names(&before),
        "the old holder wrote after the takeover"
    );
    let (_, body) = w.lock("taken").await.unwrap();
    assert_eq!(
        body["who"], "bob@dr-bastion (pid 9)",
        "bob's lock was released by alice"
    );
}

/// S3 does not answer the renewals (503), but still takes the journal's commits: the holder
/// stops its run before its lease ends — the running step cancelled, no step launched — and
/// journals why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_renewals_stop_the_run_before_the_lease_ends() {
    let Some(w) = world().await else { return };
    let proxy = Proxy::start(w.aws.sdk_config().endpoint_url().unwrap()).await;
    let url = format!("s3://{}/drills", w.bucket);
    let lease = Duration::from_millis(1500);
    let store = S3JournalStore::from_url(&url, &proxy.aws().await)
        .unwrap()
        .with_lease(lease);
    let wait = Arc::new(Waits::new());
    let after = Arc::new(AtomicU32::new(0));
    let runner = Runner::new().with_journal(store).with_holder("alice");
    let plan = plan("unrenewed", Arc::clone(&wait), &after);
    let started = Arc::clone(&wait.started);
    let run = tokio::spawn(async move { runner.run(&plan).await });
    started.notified().await;
    // Renewals carry no batch ("pending"); commits do.
    proxy.add(
        Rule::new(
            Method::PUT,
            "/unrenewed.lock",
            Fault::Unavailable,
            usize::MAX,
        )
        .body("!pending"),
    );
    let result = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run did not stop")
        .unwrap();
    let report = match result {
        Err(RunError::Unsuccessful(report)) => report,
        other => panic!("expected an interrupted run, got {other:?}"),
    };
    assert_eq!(report.outcome, Some(drkit_runner::Outcome::Interrupted));
    assert_eq!(
        after.load(Ordering::SeqCst),
        0,
        "a step was launched after the loss"
    );
    // Cancelled before the lease ran out, counted from the last renewal S3 accepted.
    let log = proxy.log();
    let last_renewal = log
        .iter()
        .filter(|s| {
            s.method == Method::PUT && s.path.ends_with("/unrenewed.lock") && s.status == 200
        })
        .map(|s| s.at)
        .filter(|at| *at < log.iter().find(|s| s.status == 503).unwrap().at)
        .max()
        .unwrap();
    let cancelled_at = wait
        .cancelled_at
        .lock()
        .unwrap()
        .expect("the step was not cancelled");
    assert!(cancelled_at > last_renewal);
    assert!(
        cancelled_at - last_renewal < lease,
        "cancelled {:?} after the last renewal",
        cancelled_at - last_renewal
    );
    let records = w.store().load("unrenewed").await.unwrap();
    let reason = records
        .iter()
        .find_map(|r| match &r.event {
            Event::RunInterrupted { reason } => Some(reason.clone()),
            _ => None,
        })
        .expect("no run_interrupted");
    assert!(
        reason.starts_with(
            "lost the journal lock: its lease could not be renewed in time (last attempt: "
        ),
        "{reason}"
    );
}
