//! drkit-runner's scheduling and journal overhead.
//!
//! - **P1** — a 1,000-step random DAG (each step depends on up to 3 earlier ones) with
//!   simulated latencies of 1-60 s, run under tokio's paused clock with no concurrency limit:
//!   makespan / critical-path length (the physical limit is 1.00; target <= 1.02). Also with a
//!   plan-wide limit of 16, against the lower bound max(critical path, total work / 16); and
//!   with real time (1-20 ms latencies) and the file journal fsynced, where the runner's own
//!   overhead shows.
//! - **P3** — 10,000 trivial steps (check/execute/verify return at once) with the file journal
//!   fsync on: runner overhead per step (target < 50 us) and peak memory (target < 100 MiB),
//!   for a wide plan (all independent) and a long chain (each step depends on the one before:
//!   every step end must be durable before the next starts, so at least one fsync per step).
//!
//! Run: `cargo bench -p drkit-benches --bench runner`
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    missing_docs
)]

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use drkit_core::{
    ActionError, ActionRef, Check, Context, Outputs, RecoveryAction, Resource, async_trait,
};
use drkit_runner::{
    Batch, FileJournalStore, JournalError, JournalLock, JournalStore, LockHolder, Plan, Record,
    Runner, Step,
};

/// The file store, counting its appends (= fsyncs).
#[derive(Debug)]
struct Counting {
    inner: FileJournalStore,
    appends: AtomicU64,
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
        self.appends.fetch_add(1, Ordering::Relaxed);
        self.inner.append(plan, batch).await
    }
    async fn load(&self, plan: &str) -> Result<Vec<Record>, JournalError> {
        self.inner.load(plan).await
    }
}

#[derive(Debug)]
struct Sim {
    id: String,
    target: Resource,
    latency: Duration,
}

#[async_trait]
impl RecoveryAction for Sim {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        "bench.sim"
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
    async fn check(&self, _: &Context) -> Result<Check, ActionError> {
        Ok(Check::ready("simulate"))
    }
    async fn execute(&self, _: &Context) -> Result<Outputs, ActionError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        Ok(Outputs::new())
    }
    async fn verify(&self, _: &Context) -> Result<String, ActionError> {
        Ok(String::new())
    }
}

fn sim(id: String, latency: Duration) -> ActionRef {
    Arc::new(Sim {
        target: Resource::new("bench", "thing", id.clone()),
        id,
        latency,
    })
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random DAG: latencies and dependencies (indices of earlier steps).
fn random_dag(n: usize, seed: u64, unit: Duration, max_units: u64) -> Vec<(Duration, Vec<usize>)> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let latency = unit * (1 + rng.below(max_units)) as u32;
            let mut deps = Vec::new();
            if i > 0 {
                for _ in 0..rng.below(4) {
                    // Mostly recent steps, so the DAG has depth.
                    let back = 1 + rng.below((i as u64).min(50));
                    let d = i - back as usize;
                    if !deps.contains(&d) {
                        deps.push(d);
                    }
                }
            }
            (latency, deps)
        })
        .collect()
}

fn critical_path(dag: &[(Duration, Vec<usize>)]) -> Duration {
    let mut finish = vec![Duration::ZERO; dag.len()];
    for (i, (latency, deps)) in dag.iter().enumerate() {
        let start = deps.iter().map(|&d| finish[d]).max().unwrap_or_default();
        finish[i] = start + *latency;
    }
    finish.into_iter().max().unwrap_or_default()
}

fn plan_of(name: &str, dag: &[(Duration, Vec<usize>)]) -> Plan {
    let steps = dag
        .iter()
        .enumerate()
        .map(|(i, (latency, deps))| {
            Step::new(sim(format!("s{i}"), *latency))
                .depends_on(deps.iter().map(|d| format!("s{d}")))
        })
        .collect();
    Plan::new(name, steps).unwrap()
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn p1_paused(limit: usize) -> (Duration, Duration, Duration) {
    let dag = random_dag(1000, 0x5eed, Duration::from_secs(1), 60);
    let cp = critical_path(&dag);
    let work: Duration = dag.iter().map(|(l, _)| *l).sum();
    let plan = plan_of("p1", &dag);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let makespan = rt.block_on(async {
        let start = tokio::time::Instant::now();
        Runner::new()
            .with_max_concurrency(limit)
            .run(&plan)
            .await
            .unwrap();
        start.elapsed()
    });
    (makespan, cp, work)
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn p1_real(journal: bool) -> (Duration, Duration) {
    let dag = random_dag(1000, 0x5eed, Duration::from_millis(1), 20);
    let cp = critical_path(&dag);
    let plan = plan_of("p1-real", &dag);
    let dir = tempfile::tempdir().unwrap();
    let makespan = multi_thread().block_on(async {
        let mut runner = Runner::new().with_max_concurrency(10_000);
        if journal {
            runner = runner.with_journal(FileJournalStore::new(dir.path()).unwrap());
        }
        let start = Instant::now();
        runner.run(&plan).await.unwrap();
        start.elapsed()
    });
    (makespan, cp)
}

fn p3(name: &str, chain: bool) -> (Duration, usize, u64) {
    let n = 10_000;
    let dag: Vec<(Duration, Vec<usize>)> = (0..n)
        .map(|i| {
            let deps = if chain && i > 0 { vec![i - 1] } else { vec![] };
            (Duration::ZERO, deps)
        })
        .collect();
    let plan = plan_of(name, &dag);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Counting {
        inner: FileJournalStore::new(dir.path()).unwrap(),
        appends: AtomicU64::new(0),
    });
    let elapsed = multi_thread().block_on(async {
        let start = Instant::now();
        let report = Runner::new()
            .with_max_concurrency(10_000)
            .with_shared_journal(Arc::clone(&store) as Arc<dyn JournalStore>)
            .run(&plan)
            .await
            .unwrap();
        assert_eq!(report.steps.len(), n);
        start.elapsed()
    });
    (elapsed, n, store.appends.load(Ordering::Relaxed))
}

fn fsync_cost() -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let mut f = std::fs::File::create(dir.path().join("f")).unwrap();
    let line = [b'x'; 200];
    // Warm up: the first syncs of a new file also write its metadata.
    for _ in 0..50 {
        f.write_all(&line).unwrap();
        f.sync_data().unwrap();
    }
    let rounds = 500;
    let start = Instant::now();
    for _ in 0..rounds {
        f.write_all(&line).unwrap();
        f.sync_data().unwrap();
    }
    start.elapsed() / rounds
}

fn main() {
    println!("drkit-runner benchmarks\n");
    println!(
        "append + fsync of one line on this machine: {:?}\n",
        fsync_cost()
    );

    println!("P1: 1,000-step random DAG, latencies 1-60 s, paused clock");
    let (makespan, cp, _) = p1_paused(100_000);
    println!(
        "  no limit:  makespan {:>8.0} s, critical path {:>8.0} s, makespan/critical path = {:.4} (target <= 1.02)",
        makespan.as_secs_f64(),
        cp.as_secs_f64(),
        makespan.as_secs_f64() / cp.as_secs_f64()
    );
    let (makespan, cp, work) = p1_paused(16);
    let bound = cp.max(work / 16);
    println!(
        "  limit 16:  makespan {:>8.0} s, lower bound max(cp, work/16) {:>8.0} s, ratio = {:.4}",
        makespan.as_secs_f64(),
        bound.as_secs_f64(),
        makespan.as_secs_f64() / bound.as_secs_f64()
    );
    for (journal, what) in [
        (false, "journal in memory"),
        (true, "file journal, fsync on"),
    ] {
        let (makespan, cp) = p1_real(journal);
        println!(
            "P1 real time, latencies 1-20 ms, {what}: makespan {:.1} ms, critical path {:.1} ms, ratio = {:.3}",
            makespan.as_secs_f64() * 1e3,
            cp.as_secs_f64() * 1e3,
            makespan.as_secs_f64() / cp.as_secs_f64()
        );
    }

    println!("\nP3: 10,000 trivial steps, file journal with fsync");
    for (name, chain) in [("wide", false), ("chain", true)] {
        let (elapsed, n, fsyncs) = p3(name, chain);
        let per_step = elapsed.as_secs_f64() * 1e6 / n as f64;
        println!(
            "  {name:<5}: {:.0} ms in all, {per_step:.1} us per step (target < 50 us: {:.2}x of target), {fsyncs} fsyncs ({:.2} per step), peak RSS so far {:.1} MiB (target < 100 MiB)",
            elapsed.as_secs_f64() * 1e3,
            per_step / 50.0,
            fsyncs as f64 / n as f64,
            peak_rss_mib()
        );
    }
}
