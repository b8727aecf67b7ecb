use std::sync::Arc;

use drkit_core::{ActionRef, Check, Outputs};
use drkit_runner::{ApprovalPolicy, DryRunState, OutputRef, Plan, Runner, Step};

use crate::common::mock;

/// A mock whose every mutating call fails the test.
fn read_only_mock(id: &str, check: Check) -> ActionRef {
    let mut m = mock(id);
    m.expect_check().times(1).returning(move |ctx| {
        assert!(
            ctx.is_dry_run(),
            "a dry-run check must see the dry-run flag"
        );
        Ok(check.clone())
    });
    m.expect_execute().never();
    m.expect_rollback().never();
    m.expect_verify().never();
    Arc::new(m)
}

#[tokio::test]
async fn a_dry_run_only_checks_and_lists_what_would_change() {
    let plan = Plan::new(
        "p",
        vec![
            Step::new(read_only_mock(
                "fence",
                Check::Done {
                    detail: "old primary already fenced".into(),
                    outputs: Outputs::new().with("writer", "b"),
                },
            )),
            Step::new(read_only_mock("promote", Check::ready("promote replica b")))
                .depends_on(["fence"])
                .require_approval(ApprovalPolicy::default()),
            Step::new(read_only_mock(
                "dns",
                Check::blocked("health check not green"),
            ))
            .depends_on(["promote"]),
            // Built from an output known from a check that says done.
            Step::deferred(
                "use-writer",
                "demo",
                [OutputRef::new("fence", "writer")],
                |inputs| {
                    let writer = inputs.get(&OutputRef::new("fence", "writer"))?;
                    Ok(read_only_mock(
                        "use-writer",
                        Check::ready(format!("point at {writer}")),
                    ))
                },
            )
            .depends_on(["fence"]),
            // Built from an output of a step that would change: unknown in a dry run.
            Step::deferred(
                "use-promoted",
                "demo",
                [OutputRef::new("promote", "arn")],
                |_| panic!("must not be built in a dry run"),
            )
            .depends_on(["promote"]),
        ],
    )
    .unwrap();
    let report = Runner::new().dry_run(&plan).await;
    let changes: Vec<&str> = report.changes().map(|s| s.id.as_str()).collect();
    assert_eq!(changes, ["promote", "use-writer"]);
    assert_eq!(
        report.step("fence").unwrap().state,
        DryRunState::AlreadyDone {
            detail: "old primary already fenced".into()
        }
    );
    assert_eq!(
        report.step("use-writer").unwrap().state,
        DryRunState::WouldChange {
            change: "point at \"b\"".into()
        }
    );
    assert_eq!(
        report.step("use-promoted").unwrap().state,
        DryRunState::Unresolved {
            waiting_on: vec!["promote".into()]
        }
    );
    let problems: Vec<&str> = report.problems().map(|s| s.id.as_str()).collect();
    assert_eq!(problems, ["dns"]);
    assert!(report.step("promote").unwrap().needs_approval);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["steps"][1]["state"]["state"], "would_change");
    let md = report.to_markdown();
    assert!(
        md.contains("2 step(s) would change something, 1 cannot run now."),
        "{md}"
    );
    assert!(
        md.contains("| promote | demo:thing/promote | fence | **promote replica b** | required |"),
        "{md}"
    );
    assert!(
        md.contains("| dns | demo:thing/dns | promote | BLOCKED: health check not green | - |"),
        "{md}"
    );
    // The mocks verify on drop that execute, verify and rollback were never called.
}
