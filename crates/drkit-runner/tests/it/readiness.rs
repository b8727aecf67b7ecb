//! `Runner::readiness` (`drkit check`): which steps are evaluated, how, and that nothing is
//! executed.

use drkit_runner::{Mode, Plan, Readiness, Runner, Step};

use crate::common::{Fake, Log, action};

#[tokio::test(start_paused = true)]
async fn steps_before_any_change_are_checked_and_the_rest_wait_for_it() {
    let log = Log::default();
    let cluster = Fake::new("cluster", &log).read_only().done().arc();
    let replication = Fake::new("replication", &log)
        .read_only()
        .blocked("replication is off")
        .arc();
    let scale = Fake::new("scale", &log).arc();
    let role = Fake::new("role", &log).done().arc();
    let switch = Fake::new("switch", &log).blocked("no secondary").arc();
    let health = Fake::new("health", &log).read_only().done().arc();
    let dns = Fake::new("dns", &log).arc();
    let detach = Fake::new("detach", &log).arc();
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&cluster)),
            Step::new(action(&replication)),
            Step::new(action(&scale)).depends_on(["cluster"]),
            Step::new(action(&role)),
            Step::new(action(&switch)).only_in_modes([Mode::Graceful]),
            Step::new(action(&health)).depends_on(["scale"]),
            Step::new(action(&dns)).depends_on(["health"]),
            Step::new(action(&detach)).only_in_modes([Mode::Ungraceful]),
        ],
    )
    .unwrap();
    let report = Runner::new().readiness(&plan).await;
    let state = |id: &str| report.step(id).unwrap().readiness.clone();
    assert!(matches!(state("cluster"), Readiness::Ready { .. }));
    assert_eq!(
        state("replication"),
        Readiness::NotReady {
            reason: "replication is off".into()
        }
    );
    assert!(matches!(state("scale"), Readiness::Ready { detail } if detail.starts_with("can ")));
    assert!(
        matches!(state("role"), Readiness::Ready { detail } if detail.starts_with("already done"))
    );
    assert_eq!(
        state("switch"),
        Readiness::NotReady {
            reason: "no secondary".into()
        }
    );
    // After the scale-up, transitively: not evaluated.
    assert_eq!(
        state("health"),
        Readiness::After {
            step: "scale".into()
        }
    );
    assert_eq!(
        state("dns"),
        Readiness::After {
            step: "scale".into()
        }
    );
    assert!(matches!(state("detach"), Readiness::Skipped { .. }));
    assert!(!report.is_ready());
    assert_eq!(
        report
            .not_ready()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        ["replication", "switch"]
    );
    assert_eq!(log.count("execute:"), 0, "readiness executed something");
    assert_eq!(
        log.count("check:health"),
        0,
        "a step after a change was checked"
    );

    // Ungraceful: the switch is skipped, the detach evaluated.
    let report = Runner::new()
        .with_mode(Mode::Ungraceful)
        .readiness(&plan)
        .await;
    assert!(matches!(
        report.step("switch").unwrap().readiness,
        Readiness::Skipped { .. }
    ));
    assert!(matches!(
        report.step("detach").unwrap().readiness,
        Readiness::Ready { .. }
    ));
}
