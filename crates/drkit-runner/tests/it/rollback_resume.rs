//! A rollback that started is what the run does from then on: a resume continues it (the steps
//! not yet compensated, in the recorded order) and never applies a compensated step again.
//! Rollbacks are bounded: the run's cancellation (Ctrl-C) stops them, a deadline cuts them off.
//!
//! Each "process" gets new action instances and a new log: what a resume does is counted on its
//! own.

use std::path::Path;
use std::time::Duration;

use drkit_core::{CancellationToken, ErrorKind};
use drkit_runner::{
    Event, FileJournalStore, JournalStore, OnFailure, Outcome, Plan, Record, RunError, Runner,
    Step, StepState,
};
use tokio::time::Instant;

use crate::common::{Fake, Log, action, failed_report};

/// `a -> b -> c -> bad`: `bad` fails and asks for a rollback, so `c`, `b`, `a` are compensated
/// in that order. `slow` names a step whose compensation takes an hour (stopping on a
/// cancellation).
fn plan(log: &Log, slow: Option<&str>) -> Plan {
    let fake = |id: &str| {
        let f = Fake::new(id, log);
        if slow == Some(id) {
            f.rollback_latency(3600)
        } else {
            f
        }
    };
    let bad = Fake::new("bad", log).fails(1, ErrorKind::Conflict);
    Plan::new(
        "p",
        vec![
            Step::new(action(&fake("a").arc())),
            Step::new(action(&fake("b").arc())).depends_on(["a"]),
            Step::new(action(&fake("c").arc())).depends_on(["b"]),
            Step::new(action(&bad.arc()))
                .depends_on(["c"])
                .on_failure(OnFailure::Rollback),
        ],
    )
    .unwrap()
}

fn runner(dir: &Path) -> Runner {
    Runner::new().with_journal(FileJournalStore::new(dir).unwrap())
}

async fn journal(dir: &Path) -> Vec<Record> {
    FileJournalStore::new(dir).unwrap().load("p").await.unwrap()
}

fn rollbacks(log: &Log) -> Vec<String> {
    log.entries()
        .into_iter()
        .filter(|e| e.starts_with("rollback:"))
        .collect()
}

fn rollback_failures(records: &[Record]) -> Vec<(String, String)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::StepRollbackFailed { step, error } => Some((step.clone(), error.clone())),
            _ => None,
        })
        .collect()
}

/// (a) A finished rollback: a resume has nothing to do. It says so, executes nothing,
/// compensates nothing, and leaves the journal as it is.
#[tokio::test(start_paused = true)]
async fn a_resume_after_a_finished_rollback_executes_and_rolls_back_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let first = failed_report(runner(dir.path()).run(&plan(&log, None)).await);
    assert_eq!(first.outcome, Some(Outcome::RolledBack));
    assert_eq!(rollbacks(&log), ["rollback:c", "rollback:b", "rollback:a"]);
    let before = journal(dir.path()).await;

    let log2 = Log::default();
    let err = runner(dir.path())
        .resume(&plan(&log2, None))
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::RolledBack { .. }), "{err}");
    assert!(
        err.to_string().starts_with("nothing to resume: run `")
            && err.to_string().contains("was rolled back"),
        "{err}"
    );
    assert_eq!(log2.count("execute:"), 0, "{:?}", log2.entries());
    assert_eq!(log2.count("rollback:"), 0, "{:?}", log2.entries());
    assert_eq!(log2.count("check:"), 0, "{:?}", log2.entries());
    assert_eq!(journal(dir.path()).await, before, "the journal changed");
}

/// (b) The process dies after `c` and `b` were compensated, during `a`'s compensation. The
/// resume compensates `a` only, and executes nothing (before, it re-ran every step).
#[tokio::test(start_paused = true)]
async fn a_rollback_killed_midway_is_continued_by_a_resume_and_nothing_is_executed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    // `a`'s compensation takes an hour; the process "dies" 10 s into the run.
    let died = tokio::time::timeout(
        Duration::from_secs(10),
        runner(dir.path()).run(&plan(&log, Some("a"))),
    )
    .await;
    assert!(died.is_err());
    assert_eq!(rollbacks(&log), ["rollback:c", "rollback:b", "rollback:a"]);
    let dead = drkit_runner::Report::from_records(&journal(dir.path()).await).unwrap();
    assert_eq!(dead.outcome, None);
    assert_eq!(dead.step("c").unwrap().state, StepState::RolledBack);
    assert_eq!(dead.step("b").unwrap().state, StepState::RolledBack);
    assert_eq!(dead.step("a").unwrap().state, StepState::Succeeded);

    let log2 = Log::default();
    let report = failed_report(runner(dir.path()).resume(&plan(&log2, None)).await);
    assert_eq!(report.outcome, Some(Outcome::RolledBack));
    assert_eq!(report.segments, 2);
    assert_eq!(log2.count("execute:"), 0, "{:?}", log2.entries());
    assert_eq!(log2.count("check:"), 0, "{:?}", log2.entries());
    assert_eq!(rollbacks(&log2), ["rollback:a"]);
    for step in ["a", "b", "c"] {
        assert_eq!(
            report.step(step).unwrap().state,
            StepState::RolledBack,
            "{step}"
        );
    }
    // The resumed part says what it continues.
    let started: Vec<Vec<String>> = report
        .timeline
        .iter()
        .filter_map(|r| match &r.event {
            Event::RollbackStarted { steps, .. } => Some(steps.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(started, [vec!["c", "b", "a"], vec!["a"]]);
    // And a third resume has nothing left to do.
    let log3 = Log::default();
    let err = runner(dir.path())
        .resume(&plan(&log3, None))
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::RolledBack { .. }), "{err}");
    assert!(log3.entries().is_empty(), "{:?}", log3.entries());
}

/// Ctrl-C during a rollback: the compensation in flight (`b`, waiting) stops at once, the next
/// one (`a`) never starts; both are journalled as interrupted and the run ends interrupted.
/// A resume then compensates `b` and `a`, in that order, and executes nothing.
#[tokio::test(start_paused = true)]
async fn ctrl_c_stops_a_rollback_and_a_resume_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    // a, b, c take 1 s each, `bad` fails at 4 s, `c` is compensated at once, `b` from 4 s.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        ctrl_c.cancel();
    });
    let start = Instant::now();
    let report = failed_report(
        runner(dir.path())
            .with_cancellation(cancel)
            .run(&plan(&log, Some("b")))
            .await,
    );
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(10),
        "the rollback went on after Ctrl-C"
    );
    assert_eq!(report.outcome, Some(Outcome::Interrupted));
    assert_eq!(rollbacks(&log), ["rollback:c", "rollback:b"]);
    assert_eq!(report.step("c").unwrap().state, StepState::RolledBack);
    let records = journal(dir.path()).await;
    let failed = rollback_failures(&records);
    assert_eq!(
        failed.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        ["b", "a"]
    );
    for (step, error) in &failed {
        assert!(
            error.starts_with("interrupted: ")
                && error.ends_with("a resume continues the rollback"),
            "{step}: {error}"
        );
    }
    assert!(
        records
            .iter()
            .any(|r| matches!(&r.event, Event::RunInterrupted { reason } if reason.contains("during the rollback"))),
        "no run_interrupted"
    );

    let log2 = Log::default();
    let report = failed_report(runner(dir.path()).resume(&plan(&log2, None)).await);
    assert_eq!(report.outcome, Some(Outcome::RolledBack));
    assert_eq!(rollbacks(&log2), ["rollback:b", "rollback:a"]);
    assert_eq!(log2.count("execute:"), 0, "{:?}", log2.entries());
    for step in ["a", "b", "c"] {
        assert_eq!(
            report.step(step).unwrap().state,
            StepState::RolledBack,
            "{step}"
        );
    }
    assert_eq!(report.failures().count(), 1, "only `bad` failed");
    assert_eq!(
        report.step("b").unwrap().error,
        None,
        "the interruption is over"
    );
}

/// Ctrl-C after a failure asked for a rollback, while another step still runs: the rollback is
/// still journalled as started — the run is committed to it — but no compensation starts; a
/// resume compensates and executes nothing.
#[tokio::test(start_paused = true)]
async fn ctrl_c_before_the_rollback_starts_commits_the_run_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let ctrl_c = cancel.clone();
    // `a` done at 1 s; `bad` fails at 2 s; `long` runs until Ctrl-C at 5 s.
    let plan = |log: &Log| {
        Plan::new(
            "p",
            vec![
                Step::new(action(&Fake::new("a", log).arc())),
                Step::new(action(
                    &Fake::new("bad", log).fails(1, ErrorKind::Conflict).arc(),
                ))
                .depends_on(["a"])
                .on_failure(OnFailure::Rollback),
                Step::new(action(&Fake::new("long", log).latency(60).arc())).depends_on(["a"]),
            ],
        )
        .unwrap()
    };
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        ctrl_c.cancel();
    });
    let log = Log::default();
    let report = failed_report(
        runner(dir.path())
            .with_cancellation(cancel)
            .run(&plan(&log))
            .await,
    );
    assert_eq!(report.outcome, Some(Outcome::Interrupted));
    assert_eq!(report.step("long").unwrap().state, StepState::Interrupted);
    assert_eq!(log.count("rollback:"), 0, "{:?}", log.entries());
    let failed = rollback_failures(&journal(dir.path()).await);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "a");
    assert!(
        failed[0]
            .1
            .contains("cancelled before this step was compensated"),
        "{failed:?}"
    );

    let log2 = Log::default();
    let report = failed_report(runner(dir.path()).resume(&plan(&log2)).await);
    assert_eq!(report.outcome, Some(Outcome::RolledBack));
    assert_eq!(rollbacks(&log2), ["rollback:a"]);
    assert_eq!(
        log2.count("execute:"),
        0,
        "`long` was run again: {:?}",
        log2.entries()
    );
    assert_eq!(log2.count("check:"), 0, "{:?}", log2.entries());
    assert_eq!(report.step("a").unwrap().state, StepState::RolledBack);
}

/// A compensation that never ends is cut off at its deadline — the runner's rollback time-out
/// when the step has none — and the rollback goes on with the next step.
#[tokio::test(start_paused = true)]
async fn a_hung_compensation_is_cut_off_at_the_rollback_timeout() {
    let log = Log::default();
    let start = Instant::now();
    let report = failed_report(
        Runner::new()
            .with_rollback_timeout(Duration::from_secs(300))
            .run(&plan(&log, Some("b")))
            .await,
    );
    // 4 s of steps, then `b`'s compensation cut off after 5 min.
    assert_eq!(start.elapsed(), Duration::from_secs(4 + 300));
    assert_eq!(report.outcome, Some(Outcome::RollbackFailed));
    assert_eq!(rollbacks(&log), ["rollback:c", "rollback:b", "rollback:a"]);
    let b = report.step("b").unwrap();
    assert_eq!(b.state, StepState::RollbackFailed);
    assert!(
        b.error
            .as_deref()
            .unwrap()
            .contains("the rollback did not finish within 5m"),
        "{:?}",
        b.error
    );
    assert_eq!(report.step("a").unwrap().state, StepState::RolledBack);

    // Without a setting: 30 min.
    let log = Log::default();
    let start = Instant::now();
    let report = failed_report(Runner::new().run(&plan(&log, Some("b"))).await);
    assert_eq!(start.elapsed(), Duration::from_secs(4 + 1800));
    assert_eq!(report.outcome, Some(Outcome::RollbackFailed));
}
