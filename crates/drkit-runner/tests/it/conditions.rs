//! Run conditions (issue "Region loss"): a step not run in the run's mode, or whose region is
//! impaired, is journalled as skipped with the reason and never called (not even its check);
//! a step using an output of such a step is skipped too; skips satisfy dependents; a resume
//! evaluates them again under its own conditions.

use std::sync::Arc;

use drkit_core::{ActionRef, ErrorKind};
use drkit_runner::{
    Conditions, DryRunState, Event, FileJournalStore, JournalStore, Mode, Outcome, OutputRef, Plan,
    Runner, Step, StepState,
};

use crate::common::{Fake, Log, action, failed_report};

/// `switch` (graceful only) and `detach` (ungraceful only) -> `dns`; `primary-check` in
/// us-east-1 -> `scale` in us-west-2; `use-primary` uses an output of `primary-check`.
fn plan(log: &Log, switch_fails: bool) -> (Plan, Vec<Arc<Fake>>) {
    let mut switch = Fake::new("switch", log);
    if switch_fails {
        switch = switch.fails(1, ErrorKind::Timeout);
    }
    let switch = switch.arc();
    let detach = Fake::new("detach", log).arc();
    let primary = Fake::new("primary-check", log).output("writer", "w1").arc();
    let scale = Fake::new("scale", log).arc();
    let used = Fake::new("use-primary", log).arc();
    let dns = Fake::new("dns", log).arc();
    let used_action = action(&used);
    let plan = Plan::new(
        "region-loss",
        vec![
            Step::new(action(&switch))
                .only_in_modes([Mode::Graceful])
                .in_region("us-west-2"),
            Step::new(action(&detach)).only_in_modes([Mode::Ungraceful]),
            Step::new(action(&primary)).in_region("us-east-1"),
            Step::new(action(&scale))
                .in_region("us-west-2")
                .depends_on(["primary-check"]),
            Step::deferred(
                "use-primary",
                "demo",
                [OutputRef::new("primary-check", "writer")],
                move |_| -> Result<ActionRef, _> { Ok(Arc::clone(&used_action)) },
            )
            .depends_on(["primary-check"]),
            Step::new(action(&dns)).depends_on(["switch", "detach", "scale", "use-primary"]),
        ],
    )
    .unwrap();
    (plan, vec![switch, detach, primary, scale, used, dns])
}

fn called(log: &Log, step: &str) -> bool {
    log.entries()
        .iter()
        .any(|e| e.split_once(':').is_some_and(|(_, s)| s == step))
}

#[tokio::test(start_paused = true)]
async fn skipped_for_the_mode_or_an_impaired_region_with_the_reason_and_never_called() {
    let log = Log::default();
    let (plan, _fakes) = plan(&log, false);
    let conditions = Conditions::new(Mode::Ungraceful).impaired(["us-east-1"]);
    let report = Runner::new()
        .with_conditions(conditions.clone())
        .run(&plan)
        .await
        .unwrap();
    assert_eq!(report.outcome, Some(Outcome::Succeeded));
    assert_eq!(report.mode, Mode::Ungraceful);
    for (step, why) in [
        (
            "switch",
            "not run in ungraceful mode (the step runs in: graceful)",
        ),
        ("primary-check", "region us-east-1 impaired"),
        (
            "use-primary",
            "uses output `writer` of step `primary-check`, which was skipped (region us-east-1 \
             impaired)",
        ),
    ] {
        let s = report.step(step).unwrap();
        assert_eq!(s.state, StepState::Excluded, "{step}");
        assert_eq!(s.detail.as_deref(), Some(why), "{step}");
        assert!(
            !called(&log, step),
            "{step} was called: {:?}",
            log.entries()
        );
    }
    for step in ["detach", "scale", "dns"] {
        assert!(log.entries().contains(&format!("execute:{step}")), "{step}");
        assert_eq!(report.step(step).unwrap().state, StepState::Succeeded);
    }
    assert!(
        report
            .to_markdown()
            .contains("- Mode: ungraceful; impaired regions: us-east-1")
    );

    // `plan` and the dry run say the same before anything runs.
    let skipped: Vec<String> = plan
        .skipped_under(&conditions)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(skipped, ["switch", "primary-check", "use-primary"]);
    let log = Log::default();
    let (plan, _fakes) = self::plan(&log, false);
    let dry = Runner::new()
        .with_conditions(conditions)
        .dry_run(&plan)
        .await;
    for step in &dry.steps {
        let skip = matches!(step.state, DryRunState::Skipped { .. });
        assert_eq!(
            skip,
            skipped.contains(&step.id),
            "{}: {:?}",
            step.id,
            step.state
        );
    }
    assert!(!called(&log, "primary-check"));
}

#[tokio::test(start_paused = true)]
async fn a_stuck_graceful_run_resumed_in_ungraceful_mode_runs_what_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::default();
    // The graceful switchover times out: the primary region went dark during the drill.
    let (plan, _fakes) = plan(&log, true);
    let runner = Runner::new().with_journal(FileJournalStore::new(dir.path()).unwrap());
    let first = failed_report(runner.run(&plan).await);
    assert_eq!(first.mode, Mode::Graceful);
    assert_eq!(first.step("switch").unwrap().state, StepState::Failed);
    // A step that got no answer from its region says how to go on without it.
    let error = first.step("switch").unwrap().error.clone().unwrap();
    assert!(
        error.contains(
            "no answer from us-west-2; if us-west-2 is down, go on without it: \
             `drkit resume JOURNAL --mode ungraceful --impaired-region us-west-2`"
        ),
        "{error}"
    );
    assert_eq!(first.step("detach").unwrap().state, StepState::Excluded);
    assert!(!called(&log, "detach"));

    let report = Runner::new()
        .with_journal(FileJournalStore::new(dir.path()).unwrap())
        .with_conditions(Conditions::new(Mode::Ungraceful).impaired(["us-east-1"]))
        .resume(&plan)
        .await
        .unwrap();
    assert_eq!(report.outcome, Some(Outcome::Succeeded));
    assert_eq!(report.mode, Mode::Ungraceful);
    assert_eq!(log.count("execute:detach"), 1, "{:?}", log.entries());
    assert_eq!(log.count("execute:switch"), 1, "switch was run again");
    assert_eq!(
        report.step("switch").unwrap().detail.as_deref(),
        Some("not run in ungraceful mode (the step runs in: graceful)")
    );
    assert_eq!(log.count("execute:dns"), 1);
    // Whatever ran in the graceful part is not run again.
    assert!(log.count("execute:primary-check") <= 1);

    // A later resume without conditions keeps the journal's last ones.
    let records = FileJournalStore::new(dir.path())
        .unwrap()
        .load("region-loss")
        .await
        .unwrap();
    let last = records
        .iter()
        .rev()
        .find_map(|r| match &r.event {
            Event::RunStarted {
                mode,
                impaired_regions,
                ..
            } => Some((*mode, impaired_regions.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(last.0, Mode::Ungraceful);
    assert!(last.1.contains("us-east-1"));
}
