use std::sync::atomic::Ordering;
use std::time::Duration;

use drkit_core::ErrorKind;
use drkit_runner::{
    Event, FileJournalStore, JournalStore, OnFailure, Outcome, Plan, RunError, Runner, Step,
    StepState,
};

use crate::common::{Fake, Log, action, failed_report};

#[tokio::test(start_paused = true)]
async fn a_resumed_run_skips_succeeded_steps_and_reruns_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let a = Fake::new("a", &log).output("arn", "x").arc();
    let b = Fake::new("b", &log).fails(1, ErrorKind::Conflict).arc();
    let c = Fake::new("c", &log).arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&a)),
            Step::new(action(&b)).depends_on(["a"]),
            Step::new(action(&c)).depends_on(["b"]),
        ],
    )
    .unwrap();
    let runner = Runner::new().with_journal(FileJournalStore::new(dir.path()).unwrap());
    let first = failed_report(runner.run(&plan).await);
    assert_eq!(first.step("c").unwrap().state, StepState::NotRun);
    // b's cause is fixed (it fails only once); resume.
    let report = runner.resume(&plan).await.unwrap();
    assert_eq!(report.run, first.run);
    assert_eq!(report.segments, 2);
    assert_eq!(report.outcome, Some(Outcome::Succeeded));
    assert_eq!(
        log.count("execute:a"),
        1,
        "a completed mutating step ran twice"
    );
    assert_eq!(
        log.count("check:a"),
        1,
        "a succeeded step is not even re-checked"
    );
    assert_eq!(log.count("execute:b"), 2);
    assert_eq!(log.count("execute:c"), 1);
    assert_eq!(report.step("a").unwrap().launches, 1);
    assert_eq!(report.step("b").unwrap().launches, 2);
    assert_eq!(report.step("b").unwrap().state, StepState::Succeeded);
    // The journal goes on counting.
    assert!(report.timeline.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
}

/// Steps and compensations are given the run's id and start (what an action names and dates
/// its resources by); a resume gives the original run's, not its own.
#[tokio::test(start_paused = true)]
async fn steps_and_compensations_see_the_run_and_a_resume_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let a = Fake::new("a", &log).arc();
    let b = Fake::new("b", &log).fails(1, ErrorKind::Conflict).arc();
    let c = Fake::new("c", &log).fails(1, ErrorKind::Conflict).arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&a)),
            Step::new(action(&b)).depends_on(["a"]),
            Step::new(action(&c))
                .depends_on(["b"])
                .on_failure(OnFailure::Rollback),
        ],
    )
    .unwrap();
    let runner = Runner::new().with_journal(FileJournalStore::new(dir.path()).unwrap());
    let first = failed_report(runner.run(&plan).await);
    // b succeeds now, c fails and the steps done are compensated, in the resume.
    let resumed = failed_report(runner.resume(&plan).await);
    assert_eq!(resumed.outcome, Some(Outcome::RolledBack));
    let records = FileJournalStore::new(dir.path())
        .unwrap()
        .load("p")
        .await
        .unwrap();
    let run_started: Vec<_> = records
        .iter()
        .filter(|r| matches!(r.event, Event::RunStarted { .. }))
        .map(|r| r.at)
        .collect();
    assert_eq!(run_started.len(), 2);
    assert!(
        run_started[1] > run_started[0],
        "the resume's own record is later"
    );
    let seen: Vec<_> = [&a, &b, &c]
        .iter()
        .flat_map(|f| f.runs.lock().unwrap().clone())
        .collect();
    for phase in [
        "execute:a",
        "execute:b",
        "execute:c",
        "rollback:a",
        "rollback:b",
    ] {
        assert!(seen.iter().any(|(p, ..)| p == phase), "{phase}: {seen:?}");
    }
    for (phase, run, started) in &seen {
        assert_eq!(run.as_deref(), Some(first.run.as_str()), "{phase}");
        assert_eq!(
            *started,
            Some(run_started[0]),
            "{phase}: the original run's start"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn in_flight_steps_are_checked_again_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    // Both in flight when the runner dies; `landed`'s change took effect, `lost`'s did not.
    let landed = Fake::new("landed", &log)
        .latency(60)
        .output("writer", "b")
        .arc();
    let lost = Fake::new("lost", &log).latency(60).arc();
    let after = Fake::new("after", &log).arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&landed)),
            Step::new(action(&lost)),
            Step::new(action(&after)).depends_on(["landed", "lost"]),
        ],
    )
    .unwrap();
    let runner = Runner::new().with_journal(FileJournalStore::new(dir.path()).unwrap());
    // The process "dies" 10 s in: the run's future is dropped mid-step.
    let died = tokio::time::timeout(Duration::from_secs(10), runner.run(&plan)).await;
    assert!(died.is_err());
    // What the journal says about the dead run: no end, both steps in flight.
    let records = FileJournalStore::new(dir.path())
        .unwrap()
        .load("p")
        .await
        .unwrap();
    let dead = drkit_runner::Report::from_records(&records).unwrap();
    assert_eq!(dead.outcome, None);
    assert_eq!(dead.step("landed").unwrap().state, StepState::Running);
    assert_eq!(dead.step("after").unwrap().state, StepState::Pending);
    assert!(
        dead.to_markdown()
            .contains("- Outcome: **has not finished**")
    );
    landed.executed.fetch_add(1, Ordering::SeqCst);
    let report = runner.resume(&plan).await.unwrap();
    assert_eq!(report.outcome, Some(Outcome::Succeeded));
    assert_eq!(report.step("landed").unwrap().state, StepState::Skipped);
    assert_eq!(
        log.count("execute:landed"),
        1,
        "the landed change was executed again"
    );
    assert_eq!(log.count("execute:lost"), 2);
    assert_eq!(log.count("end:lost"), 1);
    assert_eq!(
        report.step("landed").unwrap().outputs.get_str("writer"),
        Some("b")
    );
}

#[tokio::test(start_paused = true)]
async fn resume_refuses_a_changed_plan_and_an_empty_journal() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let runner = Runner::new().with_journal(FileJournalStore::new(dir.path()).unwrap());
    let plan = Plan::new("p", vec![Step::new(action(&Fake::new("a", &log).arc()))]).unwrap();
    let err = runner.resume(&plan).await.unwrap_err();
    assert!(matches!(err, RunError::NothingToResume { .. }), "{err}");
    runner.run(&plan).await.unwrap();
    let changed = Plan::new(
        "p",
        vec![
            Step::new(action(&Fake::new("a", &log).arc())),
            Step::new(action(&Fake::new("b", &log).arc())).depends_on(["a"]),
        ],
    )
    .unwrap();
    let err = runner.resume(&changed).await.unwrap_err();
    assert!(matches!(err, RunError::PlanChanged { .. }), "{err}");
    assert!(
        err.to_string().contains("the plan `p` changed since"),
        "{err}"
    );
    // Resuming the finished run changes nothing.
    let again = runner.resume(&plan).await.unwrap();
    assert_eq!(log.count("execute:a"), 1);
    assert_eq!(again.segments, 2);
}

/// A step completed in the first process is rolled back in the second, after a resume: the
/// new action instance remembers nothing, so the runner hands it the outputs it recorded.
#[tokio::test(start_paused = true)]
async fn a_rollback_after_a_resume_gets_the_steps_recorded_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    let plan_with = |bad_failures: u32, bad_latency: u64, log: &Log| {
        let a = Fake::new("a", log)
            .output("previous", "v1")
            .rollback(Some(true))
            .arc();
        let bad = Fake::new("bad", log)
            .latency(bad_latency)
            .fails(bad_failures, ErrorKind::Conflict)
            .arc();
        Plan::new(
            "p",
            vec![
                Step::new(action(&a)),
                Step::new(action(&bad))
                    .depends_on(["a"])
                    .on_failure(drkit_runner::OnFailure::Rollback),
            ],
        )
        .unwrap()
    };
    let runner = Runner::new().with_journal(FileJournalStore::new(dir.path()).unwrap());
    // First process: `a` succeeds, then the process dies while `bad` runs.
    let first = plan_with(0, 60, &log);
    let died = tokio::time::timeout(Duration::from_secs(10), runner.run(&first)).await;
    assert!(died.is_err());
    assert_eq!(log.count("end:a"), 1);
    // Second process: new action instances; `bad` fails, `a` is rolled back from its record.
    let log2 = Log::default();
    let second = plan_with(1, 0, &log2);
    let report = failed_report(runner.resume(&second).await);
    assert_eq!(report.outcome, Some(Outcome::RolledBack));
    assert_eq!(log2.count("execute:a"), 0);
    assert_eq!(log2.count("rollback:a"), 1);
    assert_eq!(
        log2.count(r#"undo-from:a:{"previous":"v1"}"#),
        1,
        "{:?}",
        log2.entries()
    );
}
