use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{ActionError, async_trait};
use drkit_runner::{
    ApprovalPolicy, ApprovalRequest, Approver, Decision, Event, Plan, Runner, Step, StepState,
};

use crate::common::{Fake, Log, action, failed_report};

#[derive(Debug, Default)]
struct Recording {
    seen: Mutex<Vec<ApprovalRequest>>,
    deny: bool,
    delay: Duration,
}

#[async_trait]
impl Approver for Recording {
    async fn decide(&self, request: &ApprovalRequest) -> Result<Decision, ActionError> {
        self.seen.lock().unwrap().push(request.clone());
        tokio::time::sleep(self.delay).await;
        Ok(if self.deny {
            Decision::Denied {
                by: "bob@ops".into(),
                reason: "not during the board meeting".into(),
            }
        } else {
            Decision::Approved {
                by: "alice@ops".into(),
            }
        })
    }
}

#[derive(Debug, Clone)]
struct Shared(Arc<Recording>);

#[async_trait]
impl Approver for Shared {
    async fn decide(&self, request: &ApprovalRequest) -> Result<Decision, ActionError> {
        self.0.decide(request).await
    }
}

#[tokio::test(start_paused = true)]
async fn the_approvers_identity_is_journalled() {
    let log = Log::default();
    let promote = Fake::new("promote", &log).arc();
    let plan = Plan::new(
        "p",
        vec![Step::new(action(&promote)).require_approval(ApprovalPolicy::default())],
    )
    .unwrap();
    let approver = Arc::new(Recording::default());
    let report = Runner::new()
        .with_approver(Shared(Arc::clone(&approver)))
        .run(&plan)
        .await
        .unwrap();
    let seen = approver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].step, "promote");
    assert_eq!(seen[0].change, "would change promote");
    assert_eq!(seen[0].target, "demo:thing/promote");
    assert_eq!(
        report.step("promote").unwrap().approved_by.as_deref(),
        Some("alice@ops")
    );
    let decided = report
        .timeline
        .iter()
        .position(|r| {
            matches!(&r.event, Event::ApprovalDecided { decision: Decision::Approved { by }, .. } if by == "alice@ops")
        })
        .unwrap();
    let executed = report
        .timeline
        .iter()
        .position(|r| r.event.name() == "step_succeeded")
        .unwrap();
    assert!(decided < executed);
}

#[tokio::test(start_paused = true)]
async fn a_denial_or_no_decision_in_time_fails_the_step_without_executing() {
    let log = Log::default();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&Fake::new("promote", &log).arc()))
                .require_approval(ApprovalPolicy::within(Duration::from_secs(600))),
        ],
    )
    .unwrap();
    let deny = Recording {
        deny: true,
        ..Recording::default()
    };
    let report = failed_report(Runner::new().with_approver(deny).run(&plan).await);
    let step = report.step("promote").unwrap();
    assert_eq!(step.state, StepState::Failed);
    assert!(
        step.error
            .as_deref()
            .unwrap()
            .contains("denied by bob@ops: not during the board meeting"),
        "{:?}",
        step.error
    );
    let slow = Recording {
        delay: Duration::from_secs(3600),
        ..Recording::default()
    };
    let start = tokio::time::Instant::now();
    let report = failed_report(Runner::new().with_approver(slow).run(&plan).await);
    assert_eq!(start.elapsed(), Duration::from_secs(600));
    assert!(
        report
            .step("promote")
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("no approval decision within 10m"),
        "{:?}",
        report.step("promote").unwrap().error
    );
    assert_eq!(log.count("execute:promote"), 0);
}

/// A step whose check cannot tell whether an earlier attempt made its change asks a person,
/// even without an approval policy; an automatic approval refuses and nothing is executed.
#[tokio::test(start_paused = true)]
async fn an_unknown_earlier_outcome_asks_a_person_and_auto_approval_refuses() {
    let unknown = || {
        let mut m = crate::common::mock("drain");
        m.expect_check()
            .returning(|_| Ok(drkit_core::Check::unknown("it may have run; run it again?")));
        m
    };
    let mut never = unknown();
    never.expect_execute().never();
    let plan = Plan::new("p", vec![Step::new(Arc::new(never))]).unwrap();
    let report = failed_report(Runner::new().run(&plan).await);
    let step = report.step("drain").unwrap();
    assert_eq!(step.state, StepState::Failed);
    assert!(
        step.error
            .as_deref()
            .unwrap()
            .contains("never repeats a change"),
        "{:?}",
        step.error
    );

    let mut once = unknown();
    once.expect_execute()
        .times(1)
        .returning(|_| Ok(drkit_core::Outputs::new()));
    once.expect_verify().returning(|_| Ok("ok".into()));
    let plan = Plan::new("p", vec![Step::new(Arc::new(once))]).unwrap();
    let approver = Arc::new(Recording::default());
    let report = Runner::new()
        .with_approver(Shared(Arc::clone(&approver)))
        .run(&plan)
        .await
        .unwrap();
    let seen = approver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].unknown_outcome);
    assert_eq!(seen[0].change, "it may have run; run it again?");
    assert_eq!(
        report.step("drain").unwrap().approved_by.as_deref(),
        Some("alice@ops")
    );
}
