//! Tests of `simulate.rs`, with IAM's and STS's documented answers.

use super::*;

fn actions(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn access_denied(operation: &str) -> ActionError {
    ActionError::new(
        ErrorKind::AccessDenied,
        format!("User is not authorized to perform: {operation}"),
    )
    .with_code("AccessDenied")
}

/// An assumed role is simulated as its role, whose ARN (with its path) comes from GetRole.
#[tokio::test]
async fn an_assumed_role_is_simulated_as_its_role_with_its_path() {
    let mut api = MockPolicySimulator::new();
    api.expect_caller_arn()
        .returning(|| Ok("arn:aws:sts::123456789012:assumed-role/dr-operator/drkit-check".into()));
    api.expect_role_arn()
        .withf(|r| r == "dr-operator")
        .returning(|_| Ok("arn:aws:iam::123456789012:role/ops/dr-operator".into()));
    api.expect_simulate()
        .withf(|p, a| p == "arn:aws:iam::123456789012:role/ops/dr-operator" && a.len() == 2)
        .returning(|_, a| {
            Ok(vec![
                (a[0].clone(), "allowed".into()),
                (a[1].clone(), "implicitDeny".into()),
            ])
        });
    let got = simulate_caller(
        &api,
        &actions(&[
            "rds:SwitchoverGlobalCluster",
            "route53:ChangeResourceRecordSets",
        ]),
    )
    .await
    .unwrap();
    assert_eq!(
        got.principal,
        "arn:aws:iam::123456789012:role/ops/dr-operator"
    );
    assert_eq!(
        got.denied(),
        BTreeMap::from([(
            "route53:ChangeResourceRecordSets".to_owned(),
            "implicitDeny".to_owned()
        )])
    );
}

/// Without iam:GetRole, the role's path-less ARN is simulated.
#[tokio::test]
async fn without_get_role_the_pathless_role_arn_is_used() {
    let mut api = MockPolicySimulator::new();
    api.expect_caller_arn()
        .returning(|| Ok("arn:aws-us-gov:sts::123456789012:assumed-role/dr-operator/s".into()));
    api.expect_role_arn()
        .returning(|_| Err(access_denied("iam:GetRole")));
    api.expect_simulate()
        .withf(|p, _| p == "arn:aws-us-gov:iam::123456789012:role/dr-operator")
        .returning(|_, a| Ok(a.iter().map(|x| (x.clone(), "allowed".into())).collect()));
    let got = simulate_caller(&api, &actions(&["rds:FailoverDBCluster"]))
        .await
        .unwrap();
    assert!(got.denied().is_empty());
}

/// A user is simulated as itself; root and federated users are not simulated, and say why.
#[tokio::test]
async fn users_are_simulated_root_and_federated_callers_are_not() {
    let mut api = MockPolicySimulator::new();
    api.expect_caller_arn()
        .returning(|| Ok("arn:aws:iam::123456789012:user/ops/alice".into()));
    api.expect_simulate()
        .withf(|p, _| p == "arn:aws:iam::123456789012:user/ops/alice")
        .returning(|_, a| {
            Ok(a.iter()
                .map(|x| (x.clone(), "explicitDeny".into()))
                .collect())
        });
    let got = simulate_caller(&api, &actions(&["s3:PutBucketReplication"]))
        .await
        .unwrap();
    assert_eq!(got.denied().len(), 1);

    for (caller, says) in [
        ("arn:aws:iam::123456789012:root", "root user"),
        (
            "arn:aws:sts::123456789012:federated-user/bob",
            "neither an IAM user nor an assumed role",
        ),
    ] {
        let mut api = MockPolicySimulator::new();
        api.expect_caller_arn().returning(move || Ok(caller.into()));
        let e = simulate_caller(&api, &actions(&["rds:FailoverDBCluster"]))
            .await
            .unwrap_err();
        assert!(e.0.contains(says), "{e}");
    }
}

/// A caller who may not simulate gets "not checked", naming the permission to add; a caller
/// STS does not answer for, the error.
#[tokio::test]
async fn a_caller_who_may_not_simulate_is_told_what_to_allow() {
    let mut api = MockPolicySimulator::new();
    api.expect_caller_arn()
        .returning(|| Ok("arn:aws:iam::123456789012:user/alice".into()));
    api.expect_simulate()
        .returning(|_, _| Err(access_denied("iam:SimulatePrincipalPolicy")));
    let e = simulate_caller(&api, &actions(&["rds:FailoverDBCluster"]))
        .await
        .unwrap_err();
    assert!(
        e.0.contains("may not call iam:SimulatePrincipalPolicy")
            && e.0.contains("(AccessDenied)")
            && e.0.contains("allow `iam:SimulatePrincipalPolicy`"),
        "{e}"
    );

    let mut api = MockPolicySimulator::new();
    api.expect_caller_arn().returning(|| {
        Err(ActionError::new(
            ErrorKind::Unavailable,
            "dispatch failure: connection refused",
        ))
    });
    let e = simulate_caller(&api, &actions(&["rds:FailoverDBCluster"]))
        .await
        .unwrap_err();
    assert!(
        e.0.starts_with("sts:GetCallerIdentity failed") && e.0.contains("connection refused"),
        "{e}"
    );
}

/// Many actions are sent in requests of at most ACTIONS_PER_REQUEST; an action missing from
/// the answers is an error, not an allowance.
#[tokio::test]
async fn actions_are_sent_in_chunks_and_every_one_must_be_decided() {
    let many: BTreeSet<String> = (0..(ACTIONS_PER_REQUEST + 5))
        .map(|i| format!("rds:Action{i:03}"))
        .collect();
    let mut api = MockPolicySimulator::new();
    api.expect_caller_arn()
        .returning(|| Ok("arn:aws:iam::123456789012:user/alice".into()));
    api.expect_simulate()
        .times(2)
        .withf(|_, a| a.len() <= ACTIONS_PER_REQUEST)
        .returning(|_, a| Ok(a.iter().map(|x| (x.clone(), "allowed".into())).collect()));
    let got = simulate_caller(&api, &many).await.unwrap();
    assert_eq!(got.decisions.len(), ACTIONS_PER_REQUEST + 5);

    let mut api = MockPolicySimulator::new();
    api.expect_caller_arn()
        .returning(|| Ok("arn:aws:iam::123456789012:user/alice".into()));
    api.expect_simulate().returning(|_, _| Ok(vec![]));
    let e = simulate_caller(&api, &actions(&["rds:FailoverDBCluster"]))
        .await
        .unwrap_err();
    assert!(
        e.0.contains("gave no decision for rds:FailoverDBCluster"),
        "{e}"
    );
}

/// A principal given (the role the run will use) is simulated without asking STS who calls;
/// only role and user ARNs are principals.
#[tokio::test]
async fn a_given_principal_is_simulated_as_it_is() {
    let mut api = MockPolicySimulator::new();
    api.expect_caller_arn().never();
    api.expect_simulate()
        .withf(|p, _| p == "arn:aws:iam::123456789012:role/dr/mint-dr-operator")
        .returning(|_, a| Ok(a.iter().map(|x| (x.clone(), "allowed".into())).collect()));
    let got = simulate_for(
        &api,
        "arn:aws:iam::123456789012:role/dr/mint-dr-operator",
        &actions(&["rds:FailoverDBCluster"]),
    )
    .await
    .unwrap();
    assert_eq!(got.caller, got.principal);
    assert!(got.denied().is_empty());

    for good in [
        "arn:aws:iam::123456789012:role/dr/mint-dr-operator",
        "arn:aws-cn:iam::123456789012:user/alice",
    ] {
        assert!(is_principal_arn(good), "{good}");
    }
    for bad in [
        "arn:aws:sts::123456789012:assumed-role/op/s",
        "arn:aws:iam::123456789012:root",
        "arn:aws:iam::12345:role/x",
        "arn:aws:iam::123456789012:role/",
        "mint-dr-operator",
    ] {
        assert!(!is_principal_arn(bad), "{bad}");
    }
}
