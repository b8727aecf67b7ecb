//! Unit tests of `eks.check_cluster` and `eks.check_nodegroup` against the mocked port: the
//! states moto never shows (it creates clusters and node groups straight into `ACTIVE` and never
//! reports health issues).

use drkit_core::{ActionExt, ActionRef, RecoveryAction, RetryPolicy};
use mockall::predicate::eq;

use super::*;
use crate::port::{HealthIssue, MockEksApi, Scaling};
use drkit_core::{Check, ErrorKind};

fn cluster(status: &str) -> EksCluster {
    let mut c = EksCluster::new("mint-dr", status);
    c.version = Some("1.31".into());
    c.endpoint = Some("https://ABC.gr7.us-west-2.eks.amazonaws.com".into());
    c.platform_version = Some("eks.12".into());
    c
}

fn check_cluster(api: MockEksApi) -> CheckCluster {
    CheckCluster::new(
        "check-eks",
        CheckClusterParams::new("mint-dr"),
        Arc::new(api),
        Some("us-west-2"),
    )
}

fn nodegroup(status: &str, desired: u32, issues: Vec<HealthIssue>) -> Nodegroup {
    let mut ng = Nodegroup::new("mint-dr", "standby", status, Scaling::new(0, 10, desired));
    ng.health_issues = issues;
    ng.instance_types = vec!["m6i.large".into()];
    ng.capacity_type = Some("ON_DEMAND".into());
    ng
}

fn check_nodegroup(api: MockEksApi, min_ready: Option<u32>) -> CheckNodegroup {
    let mut params = CheckNodegroupParams::new("mint-dr", "standby");
    params.min_ready = min_ready;
    CheckNodegroup::new("check-ng", params, Arc::new(api), Some("us-west-2"))
}

#[tokio::test]
async fn an_active_cluster_is_done_with_its_version_and_endpoint() {
    let mut api = MockEksApi::new();
    let mut c = cluster("ACTIVE");
    c.health_issues = vec![HealthIssue::new("Ec2SubnetNotFound", "subnet-1 is gone")];
    api.expect_describe_cluster()
        .with(eq("mint-dr"))
        .returning(move |_| Ok(c.clone()));
    let action = check_cluster(api);
    let Check::Done { detail, outputs } = action.check(&Context::new()).await.unwrap() else {
        panic!("expected done");
    };
    assert_eq!(
        detail,
        "EKS cluster mint-dr is ACTIVE (Kubernetes 1.31, endpoint \
         https://ABC.gr7.us-west-2.eks.amazonaws.com); health issues: Ec2SubnetNotFound: subnet-1 is gone"
    );
    assert_eq!(outputs.get_str("version"), Some("1.31"));
    assert_eq!(outputs.get_str("platform_version"), Some("eks.12"));
    assert_eq!(
        outputs.get("health_issues"),
        Some(&serde_json::json!(["Ec2SubnetNotFound: subnet-1 is gone"]))
    );
    assert_eq!(action.execute(&Context::new()).await.unwrap(), outputs);
    assert!(action.verify(&Context::new()).await.is_ok());
}

#[tokio::test]
async fn a_cluster_that_is_not_active_or_missing_is_blocked() {
    let mut api = MockEksApi::new();
    api.expect_describe_cluster()
        .returning(|_| Ok(cluster("UPDATING")));
    let action = check_cluster(api);
    assert_eq!(
        action.check(&Context::new()).await.unwrap(),
        Check::blocked(
            "EKS cluster mint-dr is UPDATING (Kubernetes 1.31, endpoint \
             https://ABC.gr7.us-west-2.eks.amazonaws.com), not ACTIVE"
        )
    );
    // execute only reads; verify says the condition fails.
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("status"), Some("UPDATING"));
    let err = action.verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);

    let mut api = MockEksApi::new();
    api.expect_describe_cluster().returning(|_| {
        Err(ActionError::new(ErrorKind::NotFound, "No cluster found")
            .with_code("ResourceNotFoundException"))
    });
    assert_eq!(
        check_cluster(api).check(&Context::new()).await.unwrap(),
        Check::blocked("EKS cluster mint-dr does not exist")
    );
}

#[tokio::test(start_paused = true)]
async fn a_throttled_read_is_retried_by_the_retry_layer() {
    let mut api = MockEksApi::new();
    let mut seq = mockall::Sequence::new();
    api.expect_describe_cluster()
        .times(2)
        .in_sequence(&mut seq)
        .returning(|_| Err(ActionError::new(ErrorKind::Throttled, "Rate exceeded")));
    api.expect_describe_cluster()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(cluster("ACTIVE")));
    let action: ActionRef = Arc::new(check_cluster(api));
    let action = action.with_retry(RetryPolicy::attempts(3).jitter(false));
    assert!(action.check(&Context::new()).await.unwrap().is_done());
}

#[tokio::test]
async fn an_access_error_is_an_error_not_a_blocked_check() {
    let mut api = MockEksApi::new();
    api.expect_describe_nodegroup().returning(|_, _| {
        Err(ActionError::new(ErrorKind::AccessDenied, "not authorized")
            .with_code("AccessDeniedException")
            .with_operation("DescribeNodegroup"))
    });
    let err = check_nodegroup(api, None)
        .check(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
    assert_eq!(
        err.to_string(),
        "eks.check_nodegroup [check-ng] on eks:nodegroup/mint-dr/standby@us-west-2: \
         DescribeNodegroup: not authorized (code AccessDeniedException; access_denied, a retry \
         will not help)"
    );
}

#[tokio::test]
async fn check_nodegroup_reports_done_and_every_blocking_condition() {
    let check = |ng: Result<Nodegroup, ActionError>, min_ready: Option<u32>| async move {
        let mut api = MockEksApi::new();
        let ng = std::sync::Mutex::new(Some(ng));
        api.expect_describe_nodegroup()
            .with(eq("mint-dr"), eq("standby"))
            .returning(move |_, _| ng.lock().unwrap().take().unwrap());
        check_nodegroup(api, min_ready)
            .check(&Context::new())
            .await
            .unwrap()
    };

    let done = check(Ok(nodegroup("ACTIVE", 3, vec![])), Some(3)).await;
    let Check::Done { detail, outputs } = done else {
        panic!("expected done, got {done:?}");
    };
    assert_eq!(
        detail,
        "node group standby of EKS cluster mint-dr is healthy: status=ACTIVE, min=0 max=10 desired=3"
    );
    assert_eq!(outputs.get("desired_size"), Some(&3.into()));
    assert_eq!(outputs.get_str("capacity_type"), Some("ON_DEMAND"));
    assert_eq!(
        outputs.get("instance_types"),
        Some(&serde_json::json!(["m6i.large"]))
    );

    assert_eq!(
        check(Ok(nodegroup("ACTIVE", 2, vec![])), Some(3)).await,
        Check::blocked(
            "node group standby of EKS cluster mint-dr: desired size 2 is below min_ready 3"
        )
    );
    assert_eq!(
        check(
            Ok(nodegroup(
                "DEGRADED",
                3,
                vec![HealthIssue::new(
                    "AsgInstanceLaunchFailures",
                    "Could not launch On-Demand Instances"
                )]
            )),
            None
        )
        .await,
        Check::blocked(
            "node group standby of EKS cluster mint-dr: status is DEGRADED, not ACTIVE; health \
             issues: AsgInstanceLaunchFailures: Could not launch On-Demand Instances"
        )
    );
    assert_eq!(
        check(Ok(nodegroup("UPDATING", 3, vec![])), None).await,
        Check::blocked("node group standby of EKS cluster mint-dr: status is UPDATING, not ACTIVE")
    );
    assert_eq!(
        check(
            Err(ActionError::new(ErrorKind::NotFound, "No node group found")),
            None
        )
        .await,
        Check::blocked("node group standby of EKS cluster mint-dr does not exist")
    );
}

#[tokio::test]
async fn check_nodegroup_execute_reads_and_verify_judges() {
    let mut api = MockEksApi::new();
    api.expect_describe_nodegroup()
        .returning(|_, _| Ok(nodegroup("ACTIVE", 1, vec![])));
    let action = check_nodegroup(api, Some(2));
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("desired_size"), Some(&1.into()));
    let err = action.verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    assert!(err.message().contains("below min_ready 2"), "{err}");
}
