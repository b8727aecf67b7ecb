use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::registry::{ActionDescriptor, ActionSpec, Registry};
use drkit_core::{ActionRef, async_trait};
use drkit_runner::{
    Batch, FileJournalStore, JournalError, JournalLock, JournalStore, LockHolder, OutputRef, Plan,
    Record, RunError, Runner, Step,
};

use crate::common::{Fake, Log, action};

/// A file store that counts appends (and can be told to fail them): also shows that the trait
/// can be implemented outside the crate.
#[derive(Debug)]
struct Counting {
    inner: FileJournalStore,
    appends: AtomicU32,
    batches: Mutex<Vec<(u64, usize)>>,
    fail_after: Option<u32>,
}

impl Counting {
    fn new(dir: &std::path::Path, fail_after: Option<u32>) -> Self {
        Self {
            inner: FileJournalStore::new(dir).unwrap(),
            appends: AtomicU32::new(0),
            batches: Mutex::default(),
            fail_after,
        }
    }
}

#[async_trait]
impl JournalStore for Counting {
    async fn acquire(
        &self,
        plan: &str,
        holder: &LockHolder,
    ) -> Result<Box<dyn JournalLock>, JournalError> {
        self.inner.acquire(plan, holder).await
    }
    async fn append(&self, plan: &str, batch: Batch) -> Result<(), JournalError> {
        let n = self.appends.fetch_add(1, Ordering::SeqCst);
        if self.fail_after.is_some_and(|limit| n >= limit) {
            return Err(JournalError::Io {
                path: "test".into(),
                source: std::io::Error::other("disk full"),
            });
        }
        self.batches
            .lock()
            .unwrap()
            .push((batch.first_seq, batch.records));
        self.inner.append(plan, batch).await
    }
    async fn load(&self, plan: &str) -> Result<Vec<Record>, JournalError> {
        self.inner.load(plan).await
    }
}

fn read_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_state_change_is_a_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let a = Fake::new("a", &log).output("writer", "b").arc();
    let b = Fake::new("b", &log).done().arc();
    let plan = Plan::new(
        "failover",
        vec![
            Step::new(action(&a)),
            Step::new(action(&b)).depends_on(["a"]),
        ],
    )
    .unwrap();
    let store = FileJournalStore::new(dir.path()).unwrap();
    let path = store.journal_path("failover");
    let report = Runner::new()
        .with_journal(store)
        .with_holder("alice@bastion")
        .run(&plan)
        .await
        .unwrap();
    let lines = read_lines(&path);
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "run_started",
            "step_started",
            "step_ready",
            "step_succeeded",
            "step_started",
            "step_skipped",
            "run_finished"
        ]
    );
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["seq"], i as u64);
        assert_eq!(l["run"], report.run.as_str());
    }
    assert_eq!(
        lines[0]["holder"].as_str().unwrap().split(" since ").next(),
        Some("alice@bastion")
    );
    assert_eq!(lines[0]["steps"][1]["depends_on"], serde_json::json!(["a"]));
    assert_eq!(lines[3]["outputs"]["writer"], "b");
    assert_eq!(lines[6]["outcome"], "succeeded");
    assert_eq!(report.timeline.len(), lines.len());
}

#[tokio::test(start_paused = true)]
async fn a_step_end_is_durable_before_a_dependent_starts() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let store = FileJournalStore::new(dir.path()).unwrap();
    let path = store.journal_path("p");
    let a = Fake::new("a", &log).output("arn", "x").arc();
    let b = Fake::new("b", &log).arc();
    let seen = Arc::new(Mutex::new(String::new()));
    let seen2 = Arc::clone(&seen);
    let b_action = action(&b);
    let dependent = Step::deferred("b", "demo", [OutputRef::new("a", "arn")], move |_| {
        // Built just before b starts: what is on disk now?
        *seen2.lock().unwrap() = std::fs::read_to_string(&path).unwrap();
        Ok(Arc::clone(&b_action))
    })
    .depends_on(["a"]);
    let plan = Plan::new("p", vec![Step::new(action(&a)), dependent]).unwrap();
    Runner::new().with_journal(store).run(&plan).await.unwrap();
    let on_disk = seen.lock().unwrap().clone();
    assert!(
        on_disk.contains(r#""event":"step_succeeded","step":"a""#),
        "{on_disk}"
    );
}

#[tokio::test]
async fn events_that_happen_together_share_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let steps: Vec<Step> = (0..200)
        .map(|i| Step::new(action(&Fake::new(&format!("s{i}"), &log).latency(0).arc())))
        .collect();
    let plan = Plan::new("wide", steps).unwrap();
    let store = Arc::new(Counting::new(dir.path(), None));
    let report = Runner::new()
        .with_max_concurrency(1000)
        .with_shared_journal(Arc::clone(&store) as Arc<dyn JournalStore>)
        .run(&plan)
        .await
        .unwrap();
    let records = report.timeline.len() as u32;
    let appends = store.appends.load(Ordering::SeqCst);
    assert_eq!(records, 2 + 200 * 3);
    assert!(
        appends * 10 < records,
        "{appends} appends for {records} records"
    );
    // Every record made it to disk, in order.
    let on_disk = store.load("wide").await.unwrap();
    assert_eq!(on_disk.len() as u32, records);
    assert!(on_disk.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
    // Batches are consecutive and cover every record.
    let batches = store.batches.lock().unwrap().clone();
    let mut next = 0;
    for (first, count) in batches {
        assert_eq!(first, next);
        next += count as u64;
    }
    assert_eq!(next, u64::from(records));
}

#[tokio::test(start_paused = true)]
async fn a_second_concurrent_run_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let plan = Plan::new(
        "failover",
        vec![Step::new(action(
            &Fake::new("slow", &log).latency(60).arc(),
        ))],
    )
    .unwrap();
    let first = Runner::new()
        .with_journal(FileJournalStore::new(dir.path()).unwrap())
        .with_holder("alice@bastion-1 (pid 42)");
    let second = Runner::new()
        .with_journal(FileJournalStore::new(dir.path()).unwrap())
        .with_holder("bob@laptop");
    let late = async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        second.run(&plan).await
    };
    let (one, two) = tokio::join!(first.run(&plan), late);
    assert!(one.is_ok());
    let err = two.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "plan `failover` is already being run: the lock is held by alice@bastion-1 (pid 42) since "
        ),
        "{text}"
    );
    assert!(matches!(
        err,
        RunError::Journal(JournalError::Locked { ref holder, .. }) if holder.who == "alice@bastion-1 (pid 42)"
    ));
    assert_eq!(log.count("execute:slow"), 1);
    // Once the first run is over, the plan can be run again.
    second.run(&plan).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn parameters_are_not_journalled_only_ids_states_outputs_and_errors() {
    const DESC: ActionDescriptor = ActionDescriptor {
        kind: "vault.unseal",
        summary: "unseal",
        mutates: true,
        iam_actions: &[],
        params: &[],
        outputs: &[],
    };
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let log2 = log.clone();
    let mut reg = Registry::new();
    reg.register_fn(DESC, move |spec| {
        Ok(action(&Fake::new(&spec.id, &log2).output("sealed", false).arc()) as ActionRef)
    })
    .unwrap();
    let spec = ActionSpec::new(
        "unseal",
        "vault.unseal",
        serde_json::json!({"key_share": "s3cr3t-share-hunter2"}),
    );
    let plan = Plan::new("vault", vec![Step::from_spec(Arc::new(reg), spec)]).unwrap();
    let store = FileJournalStore::new(dir.path()).unwrap();
    let path = store.journal_path("vault");
    Runner::new().with_journal(store).run(&plan).await.unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("\"sealed\":false"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_journal_that_cannot_be_written_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&Fake::new("a", &log).arc())),
            Step::new(action(&Fake::new("b", &log).arc())).depends_on(["a"]),
        ],
    )
    .unwrap();
    // The first append (run started) works; the next fails.
    let err = Runner::new()
        .with_journal(Counting::new(dir.path(), Some(1)))
        .run(&plan)
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Journal(_)), "{err}");
    assert!(err.to_string().contains("disk full"), "{err}");
    assert_eq!(log.count("execute:b"), 0);
}
