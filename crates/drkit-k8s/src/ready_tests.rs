//! Tests of `ready.rs`.

use super::*;

#[test]
fn readiness_needs_complete_rollouts_ready_pods_and_the_minimum() {
    let mut r = Readiness {
        complete: vec!["Deployment api: 2/2 available".into()],
        ready_pods: vec!["api-1".into(), "api-2".into()],
        min_ready: 2,
        ..Readiness::default()
    };
    assert!(r.is_ready());
    r.min_ready = 3;
    assert!(!r.is_ready());
    assert!(r.state().contains("2 pods ready (want at least 3)"));
    r.min_ready = 1;
    r.not_ready
        .push("api-3: container api CrashLoopBackOff".into());
    assert!(!r.is_ready());
    assert!(
        r.state()
            .contains("not ready: api-3: container api CrashLoopBackOff")
    );
    let empty = Readiness {
        min_ready: 1,
        ..Readiness::default()
    };
    assert!(!empty.is_ready());
    assert!(empty.state().starts_with("no workload matches"));
}

#[test]
fn many_bad_pods_are_counted_not_all_named() {
    let r = Readiness {
        not_ready: (0..15).map(|i| format!("p{i:02}: x")).collect(),
        min_ready: 1,
        ..Readiness::default()
    };
    assert!(r.state().ends_with("and 5 more"));
}
