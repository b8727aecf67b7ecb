use std::time::Duration;

use drkit_core::{CancellationToken, ErrorKind, RetryPolicy};
use drkit_runner::{OnFailure, Outcome, Plan, Runner, Step, StepState};
use tokio::time::Instant;

use crate::common::{Fake, Log, action, events_of, failed_report};

#[tokio::test(start_paused = true)]
async fn independent_steps_run_concurrently_and_dependents_wait() {
    let log = Log::default();
    // a(10s), b(10s) independent; c(5s) after both.
    let a = Fake::new("a", &log).latency(10).arc();
    let b = Fake::new("b", &log).latency(10).arc();
    let c = Fake::new("c", &log).latency(5).arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&a)),
            Step::new(action(&b)),
            Step::new(action(&c)).depends_on(["a", "b"]),
        ],
    )
    .unwrap();
    let start = Instant::now();
    let report = Runner::new().run(&plan).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(15));
    assert_eq!(report.outcome, Some(Outcome::Succeeded));
    assert!(log.position("execute:c") > log.position("end:a"));
    assert!(log.position("execute:c") > log.position("end:b"));
    // Check before and verify after every step.
    for s in ["a", "b", "c"] {
        assert!(log.position(&format!("check:{s}")) < log.position(&format!("execute:{s}")));
        assert!(log.position(&format!("verify:{s}")) > log.position(&format!("end:{s}")));
        assert_eq!(
            events_of(&report, s),
            ["step_started", "step_ready", "step_succeeded"]
        );
        assert_eq!(report.step(s).unwrap().state, StepState::Succeeded);
    }
}

#[tokio::test(start_paused = true)]
async fn the_plan_wide_limit_bounds_concurrency() {
    let log = Log::default();
    let steps: Vec<Step> = (0..4)
        .map(|i| Step::new(action(&Fake::new(&format!("s{i}"), &log).latency(10).arc())))
        .collect();
    let plan = Plan::new("p", steps).unwrap();
    let start = Instant::now();
    Runner::new()
        .with_max_concurrency(2)
        .run(&plan)
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(20));
}

#[tokio::test(start_paused = true)]
async fn a_per_service_limit_bounds_that_service_only() {
    let log = Log::default();
    let mut steps: Vec<Step> = (0..3)
        .map(|i| {
            Step::new(action(
                &Fake::new(&format!("dns{i}"), &log)
                    .service("route53")
                    .latency(10)
                    .arc(),
            ))
        })
        .collect();
    steps.extend((0..3).map(|i| {
        Step::new(action(
            &Fake::new(&format!("db{i}"), &log)
                .service("rds")
                .latency(10)
                .arc(),
        ))
    }));
    let plan = Plan::new("p", steps).unwrap();
    let start = Instant::now();
    let report = Runner::new()
        .with_service_limit("route53", 1)
        .run(&plan)
        .await
        .unwrap();
    // Route 53 steps one after another (30 s); RDS steps all at once alongside.
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    let db_end = report.step("db2").unwrap().finished.unwrap();
    let dns_end = report.step("dns2").unwrap().finished.unwrap();
    assert_eq!(
        dns_end.duration_since(db_end).unwrap(),
        Duration::from_secs(20)
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_already_done_is_skipped_and_its_outputs_flow_on() {
    let log = Log::default();
    let a = Fake::new("a", &log).done().output("writer", "b").arc();
    let b = Fake::new("b", &log).arc();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen2 = std::sync::Arc::clone(&seen);
    let b_action = action(&b);
    let use_a = Step::deferred(
        "b",
        "demo",
        [drkit_runner::OutputRef::new("a", "writer")],
        move |inputs| {
            *seen2.lock().unwrap() = Some(
                inputs
                    .get(&drkit_runner::OutputRef::new("a", "writer"))?
                    .clone(),
            );
            Ok(std::sync::Arc::clone(&b_action))
        },
    )
    .depends_on(["a"]);
    let plan = Plan::new("p", vec![Step::new(action(&a)), use_a]).unwrap();
    let report = Runner::new().run(&plan).await.unwrap();
    assert_eq!(report.step("a").unwrap().state, StepState::Skipped);
    assert_eq!(events_of(&report, "a"), ["step_started", "step_skipped"]);
    assert_eq!(log.count("execute:a"), 0);
    assert_eq!(*seen.lock().unwrap(), Some(serde_json::Value::from("b")));
    assert_eq!(
        report.step("a").unwrap().outputs.get_str("writer"),
        Some("b")
    );
}

#[tokio::test(start_paused = true)]
async fn re_running_a_finished_plan_changes_nothing() {
    let log = Log::default();
    let a = Fake::new("a", &log).arc();
    let b = Fake::new("b", &log).arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&a)),
            Step::new(action(&b)).depends_on(["a"]),
        ],
    )
    .unwrap();
    Runner::new().run(&plan).await.unwrap();
    let again = Runner::new().run(&plan).await.unwrap();
    assert_eq!(log.count("execute:"), 2);
    assert!(again.steps.iter().all(|s| s.state == StepState::Skipped));
}

#[tokio::test(start_paused = true)]
async fn a_failure_fails_the_run_and_abort_launches_nothing_new() {
    let log = Log::default();
    let bad = Fake::new("bad", &log)
        .latency(1)
        .fails(1, ErrorKind::Conflict)
        .arc();
    let slow = Fake::new("slow", &log).latency(10).arc();
    let after_slow = Fake::new("after-slow", &log).arc();
    let after_bad = Fake::new("after-bad", &log).arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&bad)),
            Step::new(action(&slow)),
            Step::new(action(&after_slow)).depends_on(["slow"]),
            Step::new(action(&after_bad)).depends_on(["bad"]),
        ],
    )
    .unwrap();
    let err = Runner::new().run(&plan).await.unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("plan `p` failed"), "{text}");
    assert!(
        text.contains("`bad`: demo.fake [bad] on demo:thing/bad: bad broke"),
        "{text}"
    );
    let report = failed_report(Err(err));
    assert_eq!(report.outcome, Some(Outcome::Failed));
    // The running step finished; nothing new was launched.
    assert_eq!(report.step("slow").unwrap().state, StepState::Succeeded);
    assert_eq!(report.step("after-slow").unwrap().state, StepState::NotRun);
    assert_eq!(report.step("after-bad").unwrap().state, StepState::NotRun);
    assert_eq!(
        report.step("after-slow").unwrap().detail.as_deref(),
        Some("the run stopped after `bad` failed")
    );
    assert_eq!(log.count("execute:after"), 0);
}

#[tokio::test(start_paused = true)]
async fn continue_goes_on_with_independent_steps_but_the_run_still_fails() {
    let log = Log::default();
    let bad = Fake::new("bad", &log).fails(1, ErrorKind::Conflict).arc();
    let other = Fake::new("other", &log).latency(5).arc();
    let after_other = Fake::new("after-other", &log).arc();
    let after_bad = Fake::new("after-bad", &log).arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&bad)).on_failure(OnFailure::Continue),
            Step::new(action(&other)),
            Step::new(action(&after_other)).depends_on(["other"]),
            Step::new(action(&after_bad)).depends_on(["bad"]),
        ],
    )
    .unwrap();
    let report = failed_report(Runner::new().run(&plan).await);
    assert_eq!(report.outcome, Some(Outcome::Failed));
    assert_eq!(
        report.step("after-other").unwrap().state,
        StepState::Succeeded
    );
    assert_eq!(report.step("after-bad").unwrap().state, StepState::NotRun);
    assert_eq!(
        report.step("after-bad").unwrap().detail.as_deref(),
        Some("dependency `bad` did not succeed")
    );
}

#[tokio::test(start_paused = true)]
async fn retries_follow_the_step_policy_and_are_journalled() {
    let log = Log::default();
    let flaky = Fake::new("flaky", &log)
        .fails(2, ErrorKind::Throttled)
        .arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&flaky)).retry(
                RetryPolicy::attempts(5)
                    .initial_backoff(Duration::from_secs(1))
                    .jitter(false),
            ),
        ],
    )
    .unwrap();
    let report = Runner::new().run(&plan).await.unwrap();
    assert_eq!(log.count("execute:flaky"), 3);
    let step = report.step("flaky").unwrap();
    assert_eq!(step.attempts, 3);
    assert_eq!(
        events_of(&report, "flaky"),
        [
            "step_started",
            "step_ready",
            "step_retried",
            "step_retried",
            "step_succeeded"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_step_timeout_fails_the_step() {
    let log = Log::default();
    let slow = Fake::new("slow", &log).latency(3600).arc();
    let plan = Plan::new(
        "p",
        vec![Step::new(action(&slow)).attempt_timeout(Duration::from_secs(60))],
    )
    .unwrap();
    let start = Instant::now();
    let report = failed_report(Runner::new().run(&plan).await);
    assert_eq!(start.elapsed(), Duration::from_secs(60));
    let err = report.step("slow").unwrap().error.clone().unwrap();
    assert!(
        err.contains("did not finish within its time-out of 60s"),
        "{err}"
    );
    let whole = Plan::new(
        "p2",
        vec![
            Step::new(action(&Fake::new("slow2", &log).latency(3600).arc()))
                .timeout(Duration::from_secs(30)),
        ],
    )
    .unwrap();
    let start = Instant::now();
    let report = failed_report(Runner::new().run(&whole).await);
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    assert_eq!(report.step("slow2").unwrap().state, StepState::Failed);
}

#[tokio::test(start_paused = true)]
async fn blocked_checks_and_failed_verifies_fail_the_step() {
    let log = Log::default();
    let blocked = Fake::new("blocked", &log)
        .blocked("cluster has no reader")
        .arc();
    let unverified = Fake::new("unverified", &log).verify_fails().arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&blocked)).on_failure(OnFailure::Continue),
            Step::new(action(&unverified)).on_failure(OnFailure::Continue),
        ],
    )
    .unwrap();
    let report = failed_report(Runner::new().run(&plan).await);
    let e = report.step("blocked").unwrap().error.clone().unwrap();
    assert!(
        e.contains("check says blocked: cluster has no reader"),
        "{e}"
    );
    assert!(e.contains("precondition_failed"), "{e}");
    assert_eq!(log.count("execute:blocked"), 0);
    let e = report.step("unverified").unwrap().error.clone().unwrap();
    assert!(e.contains("unverified is not right"), "{e}");
    assert!(e.contains("postcondition_failed"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn cancellation_launches_nothing_new_and_the_journal_says_interrupted() {
    let log = Log::default();
    let first = Fake::new("first", &log).latency(10).arc();
    let second = Fake::new("second", &log).latency(10).arc();
    let long = Fake::new("long", &log).latency(3600).arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&first)),
            Step::new(action(&second)).depends_on(["first"]),
            Step::new(action(&long)),
        ],
    )
    .unwrap();
    let token = CancellationToken::new();
    let runner = Runner::new().with_cancellation(token.clone());
    let cancel = async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        token.cancel();
    };
    let ((), result) = tokio::join!(cancel, runner.run(&plan));
    let report = failed_report(result);
    assert_eq!(report.outcome, Some(Outcome::Interrupted));
    // Both running steps stopped at their safe point (the cancellable sleep).
    assert_eq!(report.step("first").unwrap().state, StepState::Interrupted);
    assert_eq!(report.step("long").unwrap().state, StepState::Interrupted);
    assert_eq!(report.step("second").unwrap().state, StepState::NotRun);
    assert_eq!(log.count("execute:second"), 0);
    let names: Vec<&str> = report.timeline.iter().map(|r| r.event.name()).collect();
    assert!(names.contains(&"run_interrupted"), "{names:?}");
    assert_eq!(names.last(), Some(&"run_finished"));
}

#[tokio::test(start_paused = true)]
async fn guards_are_evaluated_just_before_executing() {
    use drkit_runner::ProbeGuard;
    let log = Log::default();
    let fenced = Fake::new("fenced", &log).done().read_only().arc();
    let not_fenced = Fake::new("not-fenced", &log).read_only().arc();
    let promote = Fake::new("promote", &log).arc();
    let promote2 = Fake::new("promote2", &log).arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&promote))
                .guard(ProbeGuard::new("old-primary-fenced", action(&fenced)))
                .on_failure(OnFailure::Continue),
            Step::new(action(&promote2))
                .guard(ProbeGuard::new("old-primary-fenced", action(&not_fenced))),
        ],
    )
    .unwrap();
    let report = failed_report(Runner::new().run(&plan).await);
    assert_eq!(report.step("promote").unwrap().state, StepState::Succeeded);
    assert!(log.position("check:fenced") < log.position("execute:promote"));
    assert!(log.position("check:promote") < log.position("check:fenced"));
    let e = report.step("promote2").unwrap().error.clone().unwrap();
    assert!(
        e.contains("guard `old-primary-fenced` does not hold: not yet: would change not-fenced"),
        "{e}"
    );
    assert_eq!(log.count("execute:promote2"), 0);
    assert_eq!(
        log.count("execute:fenced") + log.count("execute:not-fenced"),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn critical_steps_are_launched_first_when_slots_are_scarce() {
    use drkit_runner::Tier;
    let log = Log::default();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&Fake::new("full", &log).arc())),
            Step::new(action(&Fake::new("noncrit", &log).arc())).tier(Tier::NonCritical),
            Step::new(action(&Fake::new("crit", &log).arc())).tier(Tier::Critical),
        ],
    )
    .unwrap();
    Runner::new()
        .with_max_concurrency(1)
        .run(&plan)
        .await
        .unwrap();
    assert!(log.position("execute:crit") < log.position("execute:noncrit"));
    assert!(log.position("execute:noncrit") < log.position("execute:full"));
}

#[tokio::test(start_paused = true)]
async fn a_run_cancelled_before_it_starts_launches_nothing() {
    let log = Log::default();
    let plan = Plan::new("p", vec![Step::new(action(&Fake::new("a", &log).arc()))]).unwrap();
    let token = CancellationToken::new();
    token.cancel();
    let report = failed_report(Runner::new().with_cancellation(token).run(&plan).await);
    assert_eq!(report.outcome, Some(Outcome::Interrupted));
    assert_eq!(report.step("a").unwrap().state, StepState::NotRun);
    assert_eq!(log.count("check:a"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_action_fails_its_step_not_the_runner() {
    let log = Log::default();
    let mut boom = crate::common::mock("boom");
    boom.expect_check()
        .returning(|_| Ok(drkit_core::Check::ready("explode")));
    boom.expect_execute().returning(|_| panic!("boom"));
    let other = Fake::new("other", &log).latency(5).arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(std::sync::Arc::new(boom)).on_failure(OnFailure::Continue),
            Step::new(action(&other)),
        ],
    )
    .unwrap();
    let report = failed_report(Runner::new().run(&plan).await);
    let step = report.step("boom").unwrap();
    assert_eq!(step.state, StepState::Failed);
    assert!(
        step.error
            .as_deref()
            .unwrap()
            .contains("the step's task ended abnormally"),
        "{:?}",
        step.error
    );
    assert_eq!(report.step("other").unwrap().state, StepState::Succeeded);
}
