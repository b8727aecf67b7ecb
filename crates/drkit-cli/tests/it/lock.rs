//! The S3 journal lock's fencing, with the real binary: a `drkit run` stopped with SIGSTOP
//! while it holds the lock, its lease taken over by a `drkit resume` on "another machine",
//! then woken with SIGCONT, makes no further call to AWS — no journal write, no change. (A
//! request already leaving when SIGSTOP came may still go out on waking: at most one write of
//! the lock object, which S3 refuses. Once the lease is over nothing new is sent, checked as
//! each request leaves; drkit-journal-s3's `nothing_is_sent_past_the_lease_...` shows it.)
//!
//! The stopped holder reaches moto only through a counting proxy (drkit-testkit's fault proxy,
//! faults off); the second holder goes to moto directly. Plan: S3 website (changes) -> HTTP
//! wait -> Route 53 failover (changes) -> HTTP wait (see `hardening`).

use std::time::{Duration, Instant};

use drkit::runner::{Event, JournalStore};
use drkit_testkit::faults::{FaultConfig, FaultProxy};

use crate::cli::{World, text, write};
use crate::hardening::{
    Health, assert_completed_once, assert_world_recovered, finish, runbook, signal, spawn, until,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigstopped_holder_whose_lease_is_taken_over_makes_no_further_call_after_sigcont() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let endpoint = moto.endpoint().to_owned();
    let proxy = FaultProxy::start_local(FaultConfig::new(&endpoint))
        .await
        .unwrap();
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
    let plan = "sigstop-s3";
    let file = write(first.path(), "stop.toml", &runbook(plan, &world, &health));
    let store_url = format!("s3://{journals}/drills");
    let lease = "3s";

    // Machine A, through the counting proxy.
    let holder = spawn(
        &[
            "run",
            file.to_str().unwrap(),
            "--journal",
            &store_url,
            "--journal-lease",
            lease,
        ],
        first.path(),
        &proxy.url(),
    );
    until("two health probes", async || health.hits() >= 2).await;
    signal(&holder, "STOP");
    // A request on the wire when it stopped has reached the proxy by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_stop = proxy.stats();
    assert!(
        at_stop.by_service.get("s3").is_some_and(|s| s.requests > 0),
        "A's calls do not go through the proxy: {at_stop:?}"
    );
    health.set_healthy();

    // Machine B: resumes once A's lease has run out by S3's clock, and completes the run.
    let journal = format!("{store_url}/{plan}");
    let started = Instant::now();
    let out = loop {
        let resume = spawn(
            &["resume", &journal, "--journal-lease", lease],
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
    let before_wake = store.load(plan).await.unwrap();
    assert_completed_once(&before_wake, "sigstop");
    assert_world_recovered(&world, "sigstop").await;

    // A wakes up: it must see that its lease is over and stop, sending nothing.
    signal(&holder, "CONT");
    let out = finish(holder, Duration::from_secs(60)).await;
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("lost the journal lock"), "{stderr}");
    // Nothing is sent once the lease is over: drkit checks it as each request leaves. Only a
    // request already leaving when the process stopped can still go out on waking: at most
    // one write of the lock object, which S3 refuses (If-Match on a taken-over lock; the
    // journal and the lock are checked untouched below).
    let after_wake = proxy.stats();
    let lock_put = format!("PUT /{journals}/drills/{plan}.lock");
    let sent_after: Vec<(&String, u64)> = after_wake
        .by_operation
        .iter()
        .map(|(op, n)| (op, n - at_stop.by_operation.get(op).copied().unwrap_or(0)))
        .filter(|&(op, n)| n > 0 && !(*op == lock_put && n == 1))
        .collect();
    assert!(
        sent_after.is_empty(),
        "A called AWS after SIGCONT: {sent_after:?}; A's stderr: {stderr}"
    );
    // The journal is B's run, untouched by A: no record after B's end.
    let records = store.load(plan).await.unwrap();
    assert_eq!(records, before_wake, "A wrote to the journal after SIGCONT");
    assert!(
        !records
            .iter()
            .any(|r| matches!(&r.event, Event::RunInterrupted { reason } if reason.contains("lost the journal lock"))),
        "{records:#?}"
    );
    // B released its lock; A did not touch it either.
    assert!(
        world
            .s3
            .head_object()
            .bucket(&journals)
            .key(format!("drills/{plan}.lock"))
            .send()
            .await
            .is_err(),
        "a lock is left"
    );
    proxy.shutdown().await;
}
