//! Unit tests of `eks.scale_nodegroup` against the mocked port: what moto cannot show. moto
//! applies `UpdateNodegroupConfig` at once and answers `Successful`, never shows an `UPDATING`
//! node group or an `InProgress` update, does not implement `DescribeUpdate`, and never throttles.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{
    ActionExt, ActionRef, CancellationToken, ProgressEvent, ProgressKind, RetryPolicy,
};
use mockall::predicate::eq;

use super::*;
use crate::port::MockEksApi;

const CLUSTER: &str = "mint-dr";
const NODEGROUP: &str = "standby";

fn ng(status: &str, min: u32, max: u32, desired: u32) -> Nodegroup {
    Nodegroup::new(CLUSTER, NODEGROUP, status, Scaling::new(min, max, desired))
}

fn update(status: &str) -> NodegroupUpdate {
    NodegroupUpdate::new("u-1", status)
}

/// Pops `states` in order, repeating the last one.
fn queue<T: Clone + Send + 'static>(
    states: Vec<Result<T, ActionError>>,
) -> impl FnMut() -> Result<T, ActionError> + Send + 'static {
    let queue = Mutex::new(VecDeque::from(states));
    move || {
        let mut queue = queue.lock().unwrap();
        if queue.len() > 1 {
            queue.pop_front().unwrap()
        } else {
            match queue.front().unwrap() {
                Ok(v) => Ok(v.clone()),
                Err(e) => Err(ActionError::new(e.kind(), e.message())),
            }
        }
    }
}

fn nodegroups(api: &mut MockEksApi, states: Vec<Result<Nodegroup, ActionError>>) {
    let mut next = queue(states);
    api.expect_describe_nodegroup()
        .with(eq(CLUSTER), eq(NODEGROUP))
        .returning(move |_, _| next());
}

fn updates(api: &mut MockEksApi, states: Vec<Result<NodegroupUpdate, ActionError>>) {
    let mut next = queue(states);
    api.expect_describe_nodegroup_update()
        .with(eq(CLUSTER), eq(NODEGROUP), eq("u-1"))
        .returning(move |_, _, _| next());
}

fn action(api: MockEksApi, params: ScaleNodegroupParams) -> ScaleNodegroup {
    ScaleNodegroup::new("scale-standby", params, Arc::new(api), Some("us-west-2"))
}

fn to(desired: u32) -> ScaleNodegroupParams {
    ScaleNodegroupParams::new(CLUSTER, NODEGROUP, desired)
}

fn throttled() -> ActionError {
    ActionError::new(ErrorKind::Throttled, "Rate exceeded").with_code("ThrottlingException")
}

fn polls(events: &Mutex<Vec<ProgressEvent>>) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            ProgressKind::Poll { state, .. } => Some(state.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn waits_through_in_progress_and_updating_until_active_at_the_new_size() {
    let mut api = MockEksApi::new();
    nodegroups(
        &mut api,
        vec![
            Ok(ng("ACTIVE", 0, 4, 0)),
            Ok(ng("UPDATING", 2, 6, 0)),
            Ok(ng("ACTIVE", 2, 6, 3)),
        ],
    );
    updates(
        &mut api,
        vec![Ok(update("InProgress")), Ok(update("Successful"))],
    );
    api.expect_update_nodegroup_scaling()
        .withf(|c, n, s| c == CLUSTER && n == NODEGROUP && *s == Scaling::new(2, 6, 3))
        .times(1)
        .returning(|_, _, _| Ok(update("InProgress")));
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let events = Arc::clone(&events);
        move |e| events.lock().unwrap().push(e)
    };
    let ctx = Context::new().with_step("scale-standby").with_events(sink);

    let out = action(api, to(3).min_size(2).max_size(6))
        .execute(&ctx)
        .await
        .unwrap();

    assert_eq!(out.get("previous_min_size"), Some(&0.into()));
    assert_eq!(out.get("previous_max_size"), Some(&4.into()));
    assert_eq!(out.get("previous_desired_size"), Some(&0.into()));
    assert_eq!(out.get("min_size"), Some(&2.into()));
    assert_eq!(out.get("max_size"), Some(&6.into()));
    assert_eq!(out.get("desired_size"), Some(&3.into()));
    assert_eq!(out.get_str("status"), Some("ACTIVE"));
    assert_eq!(out.get_str("update_id"), Some("u-1"));
    assert_eq!(
        polls(&events),
        [
            "update u-1 is InProgress",
            "update u-1 is Successful; status=UPDATING, min=2 max=6 desired=0",
            "done"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_group_already_at_that_size_is_done_and_not_updated() {
    let mut api = MockEksApi::new();
    nodegroups(&mut api, vec![Ok(ng("ACTIVE", 1, 6, 3))]);
    api.expect_update_nodegroup_scaling().never();
    let scale = action(api, to(3));
    let check = scale.check(&Context::new()).await.unwrap();
    let Check::Done { outputs, .. } = &check else {
        panic!("expected done, got {check:?}");
    };
    assert_eq!(outputs.get("previous_desired_size"), Some(&3.into()));
    assert_eq!(outputs.get_str("update_id"), Some(""));
    let out = scale.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("desired_size"), Some(&3.into()));
    assert!(
        scale.rollback(&Context::new()).await.is_err(),
        "nothing to roll back"
    );
}

#[tokio::test(start_paused = true)]
async fn a_size_outside_the_current_min_and_max_is_refused_before_any_update() {
    let mut api = MockEksApi::new();
    nodegroups(&mut api, vec![Ok(ng("ACTIVE", 2, 4, 2))]);
    api.expect_update_nodegroup_scaling().never();
    let scale = action(api, to(6));
    assert_eq!(
        scale.check(&Context::new()).await.unwrap(),
        Check::blocked(
            "cannot scale node group standby of EKS cluster mint-dr to min=2 max=4 desired=6 (it \
             is now min=2 max=4 desired=2): EKS needs min_size <= desired_size <= max_size and \
             max_size >= 1; give min_size or max_size too"
        )
    );
    let err = scale.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);

    // With max_size given, the same size is fine.
    let mut api = MockEksApi::new();
    nodegroups(&mut api, vec![Ok(ng("ACTIVE", 2, 4, 2))]);
    assert_eq!(
        action(api, to(6).max_size(8))
            .check(&Context::new())
            .await
            .unwrap(),
        Check::ready(
            "scale node group standby of EKS cluster mint-dr: min=2 max=4 desired=2 -> min=2 \
             max=8 desired=6"
        )
    );
}

#[tokio::test]
async fn check_is_blocked_for_a_missing_or_busy_group() {
    let mut api = MockEksApi::new();
    nodegroups(
        &mut api,
        vec![Err(ActionError::new(
            ErrorKind::NotFound,
            "No node group found",
        ))],
    );
    assert_eq!(
        action(api, to(3)).check(&Context::new()).await.unwrap(),
        Check::blocked("node group standby of EKS cluster mint-dr does not exist")
    );
    let mut api = MockEksApi::new();
    nodegroups(&mut api, vec![Ok(ng("UPDATING", 0, 4, 1))]);
    assert_eq!(
        action(api, to(3)).check(&Context::new()).await.unwrap(),
        Check::blocked("node group standby of EKS cluster mint-dr is UPDATING, not ACTIVE")
    );
}

#[tokio::test(start_paused = true)]
async fn a_throttled_update_call_is_retried_by_the_retry_layer() {
    let mut api = MockEksApi::new();
    nodegroups(
        &mut api,
        vec![
            Ok(ng("ACTIVE", 0, 4, 0)), // execute #1 reads the scaling
            Ok(ng("ACTIVE", 0, 4, 0)), // the retry layer re-checks: ready
            Ok(ng("ACTIVE", 0, 4, 0)), // execute #2 reads the scaling
            Ok(ng("ACTIVE", 0, 4, 3)), // the wait sees the new size
        ],
    );
    let calls = Arc::new(Mutex::new(0));
    let c = Arc::clone(&calls);
    api.expect_update_nodegroup_scaling()
        .times(2)
        .returning(move |_, _, _| {
            let mut n = c.lock().unwrap();
            *n += 1;
            if *n == 1 {
                Err(throttled())
            } else {
                Ok(update("Successful"))
            }
        });
    api.expect_describe_nodegroup_update().never();
    let scale: ActionRef = Arc::new(action(api, to(3)));
    let scale = scale.with_retry(RetryPolicy::attempts(3).jitter(false));
    let out = scale.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("desired_size"), Some(&3.into()));
    assert_eq!(*calls.lock().unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn throttling_while_waiting_does_not_end_the_wait() {
    let mut api = MockEksApi::new();
    nodegroups(
        &mut api,
        vec![
            Ok(ng("ACTIVE", 0, 4, 0)),
            Err(throttled()),
            Ok(ng("ACTIVE", 0, 4, 3)),
        ],
    );
    updates(&mut api, vec![Err(throttled()), Ok(update("Successful"))]);
    api.expect_update_nodegroup_scaling()
        .times(1)
        .returning(|_, _, _| Ok(update("InProgress")));
    let out = action(api, to(3)).execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("desired_size"), Some(&3.into()));
}

#[tokio::test(start_paused = true)]
async fn a_non_retryable_error_fails_at_once_with_context() {
    let mut api = MockEksApi::new();
    nodegroups(&mut api, vec![Ok(ng("ACTIVE", 0, 4, 0))]);
    api.expect_update_nodegroup_scaling()
        .times(1)
        .returning(|_, _, _| {
            Err(ActionError::new(
                ErrorKind::Conflict,
                "Nodegroup cannot be updated as it is currently in UPDATING state",
            )
            .with_code("ResourceInUseException")
            .with_operation("UpdateNodegroupConfig"))
        });
    let scale: ActionRef = Arc::new(action(api, to(3)));
    let scale = scale.with_retry(RetryPolicy::attempts(5));
    let err = scale.execute(&Context::new()).await.unwrap_err();
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "eks.scale_nodegroup [scale-standby] on eks:nodegroup/mint-dr/standby@us-west-2: \
         UpdateNodegroupConfig: Nodegroup cannot be updated as it is currently in UPDATING state \
         (code ResourceInUseException; conflict, a retry will not help)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_update_ends_the_wait_with_eks_errors() {
    let mut api = MockEksApi::new();
    nodegroups(&mut api, vec![Ok(ng("ACTIVE", 0, 4, 0))]);
    let mut failed = update("Failed");
    failed.errors =
        vec!["NodeCreationFailure: Instances failed to join the kubernetes cluster".into()];
    updates(&mut api, vec![Ok(update("InProgress")), Ok(failed)]);
    api.expect_update_nodegroup_scaling()
        .times(1)
        .returning(|_, _, _| Ok(update("InProgress")));
    let err = action(api, to(3))
        .execute(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    assert_eq!(err.operation(), Some("DescribeUpdate"));
    assert_eq!(
        err.message(),
        "EKS update u-1 of node group standby of EKS cluster mint-dr ended Failed: \
         NodeCreationFailure: Instances failed to join the kubernetes cluster"
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_ends_an_update_that_never_completes() {
    let mut api = MockEksApi::new();
    nodegroups(
        &mut api,
        vec![Ok(ng("ACTIVE", 0, 4, 0)), Ok(ng("UPDATING", 0, 4, 0))],
    );
    updates(&mut api, vec![Ok(update("InProgress"))]);
    api.expect_update_nodegroup_scaling()
        .times(1)
        .returning(|_, _, _| Ok(update("InProgress")));
    let ctx = Context::new().with_timeout(Duration::from_secs(20 * 60));
    let started = tokio::time::Instant::now();
    let err = action(api, to(3)).execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert!(err.message().contains("update u-1 is InProgress"), "{err}");
    assert_eq!(started.elapsed(), Duration::from_secs(20 * 60));
}

#[tokio::test(start_paused = true)]
async fn cancellation_mid_wait_stops_promptly() {
    let mut api = MockEksApi::new();
    nodegroups(&mut api, vec![Ok(ng("ACTIVE", 0, 4, 0))]);
    updates(&mut api, vec![Ok(update("InProgress"))]);
    api.expect_update_nodegroup_scaling()
        .times(1)
        .returning(|_, _, _| Ok(update("InProgress")));
    let token = CancellationToken::new();
    let ctx = Context::new().with_cancellation(token.clone());
    let scale = action(api, to(3));
    let cancel = async {
        tokio::time::sleep(Duration::from_secs(75)).await;
        token.cancel();
    };
    let started = tokio::time::Instant::now();
    let ((), result) = tokio::join!(cancel, scale.execute(&ctx));
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Cancelled);
    assert_eq!(started.elapsed(), Duration::from_secs(75));
}

#[tokio::test(start_paused = true)]
async fn executing_again_after_a_failed_wait_does_not_update_twice() {
    let mut api = MockEksApi::new();
    nodegroups(
        &mut api,
        vec![
            Ok(ng("ACTIVE", 0, 4, 0)),   // execute #1 reads
            Ok(ng("UPDATING", 0, 4, 0)), // check between the attempts: ready (own update)
            Ok(ng("ACTIVE", 0, 4, 3)),   // execute #2's wait
        ],
    );
    updates(
        &mut api,
        vec![
            Ok(update("InProgress")), // polls of execute #1 at 0 s, 1 s, 1.5 s
            Ok(update("InProgress")),
            Ok(update("InProgress")),
            Ok(update("Successful")),
        ],
    );
    api.expect_update_nodegroup_scaling()
        .times(1)
        .returning(|_, _, _| Ok(update("InProgress")));
    let scale = action(api, to(3));
    let short = Context::new().with_timeout(Duration::from_millis(1500));
    let err = scale.execute(&short).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);

    // check knows the update is this action's own: ready to wait for it, not blocked.
    let check = scale.check(&Context::new()).await.unwrap();
    assert_eq!(
        check,
        Check::ready(
            "wait for update u-1 of node group standby of EKS cluster mint-dr (min=0 max=4 \
             desired=0 -> min=0 max=4 desired=3), already requested; now status=UPDATING, min=0 \
             max=4 desired=0"
        )
    );
    let out = scale.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("desired_size"), Some(&3.into()));
    assert_eq!(out.get("previous_desired_size"), Some(&0.into()));
    assert_eq!(out.get_str("update_id"), Some("u-1"));
}

#[tokio::test]
async fn execute_refuses_to_run_in_a_dry_run() {
    let mut api = MockEksApi::new();
    api.expect_describe_nodegroup().never();
    api.expect_update_nodegroup_scaling().never();
    let err = action(api, to(3))
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test(start_paused = true)]
async fn rollback_restores_the_scaling_it_found() {
    let mut api = MockEksApi::new();
    nodegroups(
        &mut api,
        vec![
            Ok(ng("ACTIVE", 0, 2, 0)), // execute reads
            Ok(ng("ACTIVE", 3, 6, 3)), // the wait
            Ok(ng("ACTIVE", 3, 6, 3)), // verify
            Ok(ng("ACTIVE", 3, 6, 3)), // rollback reads
            Ok(ng("ACTIVE", 0, 2, 0)), // the rollback's wait
        ],
    );
    let mut seq = mockall::Sequence::new();
    api.expect_update_nodegroup_scaling()
        .withf(|_, _, s| *s == Scaling::new(3, 6, 3))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(update("Successful")));
    api.expect_update_nodegroup_scaling()
        .withf(|_, _, s| *s == Scaling::new(0, 2, 0))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Ok(NodegroupUpdate::new("u-2", "Successful")));
    let scale = action(api, to(3).min_size(3).max_size(6));
    scale.execute(&Context::new()).await.unwrap();
    assert_eq!(
        scale.verify(&Context::new()).await.unwrap(),
        "node group standby of EKS cluster mint-dr is ACTIVE at min=3 max=6 desired=3"
    );
    scale.rollback(&Context::new()).await.unwrap();
}

/// After a resume the action instance is new: it restores the scaling the step recorded.
#[tokio::test(start_paused = true)]
async fn rollback_after_a_resume_uses_the_recorded_previous_scaling() {
    let mut api = MockEksApi::new();
    nodegroups(
        &mut api,
        vec![
            Ok(ng("ACTIVE", 3, 6, 3)), // the rollback reads
            Ok(ng("ACTIVE", 0, 2, 0)), // the rollback's wait
        ],
    );
    api.expect_update_nodegroup_scaling()
        .withf(|_, _, s| *s == Scaling::new(0, 2, 0))
        .times(1)
        .returning(|_, _, _| Ok(NodegroupUpdate::new("u-2", "Successful")));
    let scale = action(api, to(3).min_size(3).max_size(6));
    let ctx = Context::new().with_outputs(std::collections::BTreeMap::from([(
        scale.id().to_owned(),
        drkit_core::Outputs::new()
            .with("previous_min_size", 0)
            .with("previous_max_size", 2)
            .with("previous_desired_size", 0),
    )]));
    scale.rollback(&ctx).await.unwrap();
}
