//! The `drkit` process on a bad day: killed with SIGKILL at several points and resumed (with
//! the file journal, and with the S3 journal from a second working directory), interrupted
//! with SIGINT, and started twice at once. Against moto and a local HTTP health endpoint that
//! the test turns healthy when it wants the run to go on.
//!
//! The plan: `dr-website` (S3, changes) -> `wait-healthy` (HTTP, waits up to 20 attempts) ->
//! `dns-failover` (Route 53, changes). The promise checked after every resume: the run
//! completes, and no completed change is made twice — each changing step has at most one
//! `step_succeeded` in the whole journal, a step that succeeded before the kill is not started
//! again, and the emulator holds the wanted state.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use drkit::runner::{Event, FileJournalStore, JournalStore, Outcome, Record};

use crate::cli::{World, command, drkit, text, write};

/// An HTTP endpoint answering 503 until made healthy, counting the requests it gets. Its path
/// `/released` answers 503 until `set_healthy` even when it starts healthy: the runbook's last
/// step waits on it, so a run is still alive (to be killed) after its DNS change.
pub(crate) struct Health {
    port: u16,
    healthy: Arc<AtomicBool>,
    released: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
}

impl Health {
    pub(crate) fn start(healthy: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let healthy = Arc::new(AtomicBool::new(healthy));
        let released = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let (ok, seen) = (Arc::clone(&healthy), Arc::clone(&hits));
        let free = Arc::clone(&released);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                seen.fetch_add(1, Ordering::SeqCst);
                let up = if buf[..n].starts_with(b"GET /released") {
                    free.load(Ordering::SeqCst)
                } else {
                    ok.load(Ordering::SeqCst)
                };
                let answer: &[u8] = if up {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                } else {
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndown"
                };
                let _ = stream.write_all(answer);
            }
        });
        Self {
            port,
            healthy,
            released,
            hits,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/healthz", self.port)
    }

    pub(crate) fn set_down(&self) {
        self.healthy.store(false, Ordering::SeqCst);
    }

    pub(crate) fn set_healthy(&self) {
        self.healthy.store(true, Ordering::SeqCst);
        self.released.store(true, Ordering::SeqCst);
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

pub(crate) fn runbook(plan: &str, world: &World, health: &Health) -> String {
    format!(
        r#"
version = 1
name = "{plan}"
[defaults]
region = "us-east-1"
timeout = "2m"
[[steps]]
id = "dr-website"
action = "s3.configure_website"
tier = "critical"
[steps.params]
bucket = "{bucket}"
index_document = "index.html"
[[steps]]
id = "wait-healthy"
action = "checks.http"
tier = "critical"
depends_on = ["dr-website"]
[steps.params]
url = "{url}"
attempts = 20
timeout = "2s"
[[steps]]
id = "dns-failover"
action = "route53.change_records"
tier = "critical"
depends_on = ["wait-healthy"]
[steps.params]
zone = "{zone}"
changes = [{{ action = "UPSERT", name = "api.{zone}", type = "CNAME", ttl = 60, values = ["api-dr.{zone}"] }}]
[[steps]]
id = "released"
action = "checks.http"
tier = "critical"
depends_on = ["dns-failover"]
[steps.params]
url = "http://127.0.0.1:{port}/released"
attempts = 20
timeout = "2s"
"#,
        bucket = world.bucket,
        zone = world.zone,
        url = health.url(),
        port = health.port,
    )
}

const CHANGING_STEPS: [&str; 2] = ["dr-website", "dns-failover"];

/// Starts `drkit ARGS` in `cwd`, output captured.
pub(crate) fn spawn(args: &[&str], cwd: &Path, endpoint: &str) -> Child {
    let mut args = args.to_vec();
    args.extend(["--auto-approve", "--endpoint-url", endpoint]);
    command(&args, &[])
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Polls `ready` every 10 ms for up to 60 s.
pub(crate) async fn until(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn kill9(child: &mut Child) {
    // SIGKILL: no handler runs, nothing is flushed; as if the machine died.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
}

pub(crate) fn signal(child: &Child, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the child with a bound: a run that hangs fails the test.
pub(crate) async fn finish(child: Child, bound: Duration) -> std::process::Output {
    let waited = tokio::time::timeout(
        bound,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    match waited {
        Ok(out) => out.unwrap().unwrap(),
        Err(_) => panic!("drkit did not finish within {bound:?}"),
    }
}

fn file_journal(dir: &Path) -> FileJournalStore {
    FileJournalStore::new(dir).unwrap()
}

fn count(records: &[Record], name: &str, step: &str) -> usize {
    records
        .iter()
        .filter(|r| r.event.name() == name && r.event.step() == Some(step))
        .count()
}

/// The promise: the last run finished successfully, no changing step succeeded twice, and a
/// step that succeeded before a resume was not started again after it.
pub(crate) fn assert_completed_once(records: &[Record], label: &str) {
    let finished = records.iter().rev().find_map(|r| match &r.event {
        Event::RunFinished { outcome } => Some(*outcome),
        _ => None,
    });
    assert_eq!(finished, Some(Outcome::Succeeded), "{label}: {records:#?}");
    for step in CHANGING_STEPS {
        let succeeded = count(records, "step_succeeded", step);
        let skipped = count(records, "step_skipped", step);
        assert!(
            succeeded <= 1,
            "{label}: {step} succeeded {succeeded} times"
        );
        assert!(succeeded + skipped >= 1, "{label}: {step} never completed");
        // After its success, the step is never started again.
        if let Some(at) = records
            .iter()
            .position(|r| r.event.name() == "step_succeeded" && r.event.step() == Some(step))
        {
            let again = records[at..]
                .iter()
                .any(|r| r.event.name() == "step_started" && r.event.step() == Some(step));
            assert!(!again, "{label}: {step} started again after it succeeded");
        }
    }
    let resumed = records
        .iter()
        .filter(|r| matches!(r.event, Event::RunStarted { resumed: true, .. }))
        .count();
    assert!(resumed >= 1, "{label}: no resume recorded");
}

pub(crate) async fn assert_world_recovered(world: &World, label: &str) {
    assert!(world.website().await, "{label}: no website");
    assert_eq!(
        world.api_record().await.as_deref(),
        Some(format!("api-dr.{}", world.zone).as_str()),
        "{label}: DNS not failed over"
    );
}

#[derive(Clone, Copy, Debug)]
enum KillPoint {
    /// As soon as the run's start is journalled.
    AtStart,
    /// In the middle of the health wait (the website change done).
    MidWait,
    /// Right after the DNS change landed in the emulator, before or after its end is
    /// journalled (whichever the race gives).
    AfterChange,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_each_point_then_resume_completes_without_redoing_a_change() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let endpoint = moto.endpoint().to_owned();
    for point in [
        KillPoint::AtStart,
        KillPoint::MidWait,
        KillPoint::AfterChange,
    ] {
        let label = format!("{point:?}");
        let world = World::create(&moto).await;
        let health = Health::start(matches!(point, KillPoint::AfterChange));
        let dir = tempfile::tempdir().unwrap();
        let plan = "kill-file";
        let file = write(dir.path(), "kill.toml", &runbook(plan, &world, &health));
        let journal = dir.path().join("journal");
        let journal_file = journal.join(format!("{plan}.journal.jsonl"));
        let mut child = spawn(
            &[
                "run",
                file.to_str().unwrap(),
                "--journal",
                journal.to_str().unwrap(),
            ],
            dir.path(),
            &endpoint,
        );
        match point {
            KillPoint::AtStart => {
                until("the run's start in the journal", async || {
                    std::fs::read_to_string(&journal_file)
                        .is_ok_and(|t| t.contains("\"run_started\""))
                })
                .await;
            }
            KillPoint::MidWait => until("two health probes", async || health.hits() >= 2).await,
            KillPoint::AfterChange => {
                until("the DNS change in moto", async || {
                    world.api_record().await.is_some()
                })
                .await;
            }
        }
        kill9(&mut child);
        health.set_healthy();

        // The journal names the runbook: resume needs nothing else.
        let resume = spawn(
            &["resume", journal_file.to_str().unwrap()],
            dir.path(),
            &endpoint,
        );
        let out = finish(resume, Duration::from_secs(90)).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{label}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let records = file_journal(&journal).load(plan).await.unwrap();
        assert_completed_once(&records, &label);
        assert_world_recovered(&world, &label).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_then_resume_from_the_s3_journal_in_another_directory() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let endpoint = moto.endpoint().to_owned();
    let world = World::create(&moto).await;
    let journals = drkit_testkit::unique("journals");
    world
        .s3
        .create_bucket()
        .bucket(&journals)
        .send()
        .await
        .unwrap();
    let health = Health::start(false);
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plan = "kill-s3";
    let file = write(first.path(), "kill.toml", &runbook(plan, &world, &health));
    let store_url = format!("s3://{journals}/drills");
    let mut child = spawn(
        &[
            "run",
            file.to_str().unwrap(),
            "--journal",
            &store_url,
            "--journal-lease",
            "3s",
        ],
        first.path(),
        &endpoint,
    );
    until("two health probes", async || health.hits() >= 2).await;
    kill9(&mut child);
    health.set_healthy();

    // Another machine: another directory, no runbook file, the dead run's lock still there
    // until its lease runs out.
    let journal = format!("{store_url}/{plan}");
    let started = Instant::now();
    let out = loop {
        let resume = spawn(
            &["resume", &journal, "--journal-lease", "3s"],
            second.path(),
            &endpoint,
        );
        let out = finish(resume, Duration::from_secs(90)).await;
        let locked = text(&out.stderr).contains("already being run");
        if !locked || started.elapsed() > Duration::from_secs(30) {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let store = drkit::journal_s3::S3JournalStore::new(world.s3.clone(), &journals, "drills");
    let records = store.load(plan).await.unwrap();
    assert_completed_once(&records, "s3");
    assert_world_recovered(&world, "s3").await;
    // The report reads the S3 journal too.
    let out = drkit(&["report", &journal, "--endpoint-url", &endpoint], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("- Outcome: **succeeded**"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_exits_3_with_a_consistent_journal_and_resume_completes() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let endpoint = moto.endpoint().to_owned();
    let world = World::create(&moto).await;
    let health = Health::start(false);
    let dir = tempfile::tempdir().unwrap();
    let plan = "sigint";
    let file = write(dir.path(), "int.toml", &runbook(plan, &world, &health));
    let journal = dir.path().join("journal");
    let journal_file = journal.join(format!("{plan}.journal.jsonl"));
    let child = spawn(
        &[
            "run",
            file.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ],
        dir.path(),
        &endpoint,
    );
    until("two health probes", async || health.hits() >= 2).await;
    let sent = Instant::now();
    signal(&child, "INT");
    // The wait stops at its next pause (1 s) at most; give it a generous bound.
    let out = finish(child, Duration::from_secs(20)).await;
    let stopped_in = sent.elapsed();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("drkit resume"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        stopped_in < Duration::from_secs(10),
        "stopped in {stopped_in:?}"
    );

    // Consistent: every line whole, the interruption recorded, the wait step not counted as
    // done, the DNS step never started.
    let records = file_journal(&journal).load(plan).await.unwrap();
    let raw = std::fs::read_to_string(&journal_file).unwrap();
    assert_eq!(raw.lines().count(), records.len(), "a torn journal line");
    assert!(
        records
            .iter()
            .any(|r| matches!(r.event, Event::RunInterrupted { .. }))
    );
    assert!(records.iter().any(|r| matches!(
        r.event,
        Event::RunFinished {
            outcome: Outcome::Interrupted
        }
    )));
    assert_eq!(count(&records, "step_succeeded", "dr-website"), 1);
    assert_eq!(count(&records, "step_succeeded", "wait-healthy"), 0);
    assert_eq!(count(&records, "step_started", "dns-failover"), 0);
    assert_eq!(world.api_record().await, None);

    health.set_healthy();
    let resume = spawn(
        &["resume", journal_file.to_str().unwrap()],
        dir.path(),
        &endpoint,
    );
    let out = finish(resume, Duration::from_secs(90)).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let records = file_journal(&journal).load(plan).await.unwrap();
    assert_completed_once(&records, "sigint");
    assert_world_recovered(&world, "sigint").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_of_one_plan_at_once_only_one_proceeds() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let endpoint = moto.endpoint().to_owned();
    let world = World::create(&moto).await;
    let journals = drkit_testkit::unique("journals");
    world
        .s3
        .create_bucket()
        .bucket(&journals)
        .send()
        .await
        .unwrap();
    for store in ["file", "s3"] {
        let health = Health::start(false);
        let dir = tempfile::tempdir().unwrap();
        let plan = format!("twice-{store}");
        let file = write(dir.path(), "twice.toml", &runbook(&plan, &world, &health));
        let journal = if store == "s3" {
            format!("s3://{journals}/drills")
        } else {
            dir.path().join("journal").display().to_string()
        };
        let args = ["run", file.to_str().unwrap(), "--journal", &journal];
        let first = spawn(&args, dir.path(), &endpoint);
        until("the first run's health probe", async || health.hits() >= 1).await;
        let second = spawn(&args, dir.path(), &endpoint);
        let out = finish(second, Duration::from_secs(30)).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{store}: {err}");
        assert!(
            err.contains(&format!("plan `{plan}` is already being run")),
            "{store}: {err}"
        );
        health.set_healthy();
        let out = finish(first, Duration::from_secs(90)).await;
        assert_eq!(out.status.code(), Some(0), "{store}: {}", text(&out.stderr));
    }
}
