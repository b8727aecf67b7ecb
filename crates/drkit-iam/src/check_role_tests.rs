//! Unit tests of `iam.check_role` against the mocked port.

use std::sync::Arc;

use drkit_core::RecoveryAction;
use mockall::predicate::eq;
use serde_json::json;

use super::*;
use crate::port::{AttachedPolicy, MockIamApi};
use drkit_core::Check;

const ROLE: &str = "mint-replica-dr-role";
const MANAGED: &str = "arn:aws:iam::123456789012:policy/mint-dr-read";

fn api(inline: &'static str, managed: &'static str) -> MockIamApi {
    let mut api = MockIamApi::new();
    api.expect_get_role()
        .with(eq(ROLE))
        .returning(|r| Ok(Role::new(r, format!("arn:aws:iam::123456789012:role/{r}"))));
    api.expect_list_role_policies()
        .returning(|_| Ok(vec!["dr-access".to_owned()]));
    api.expect_get_role_policy()
        .with(eq(ROLE), eq("dr-access"))
        .returning(move |_, _| Ok(inline.to_owned()));
    api.expect_list_attached_role_policies()
        .returning(|_| Ok(vec![AttachedPolicy::new("mint-dr-read", MANAGED)]));
    api.expect_get_managed_policy_document()
        .with(eq(MANAGED))
        .returning(move |_| Ok(managed.to_owned()));
    api
}

const INLINE: &str = r#"{"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["rds:FailoverDBCluster", "ec2:*SecurityGroup*"], "Resource": "*"},
    {"Effect": "Deny", "Action": "rds:Delete*", "Resource": "*"}]}"#;
const MANAGED_DOC: &str = r#"{"Version": "2012-10-17", "Statement":
    {"Effect": "Allow", "Action": ["rds:Describe*", "rds:DeleteDBCluster"], "Resource": "*"}}"#;

fn check_role(api: MockIamApi, actions: &[&str]) -> CheckRole {
    CheckRole::new(
        "dr-role",
        CheckRoleParams::new(ROLE, actions.iter().map(|a| (*a).to_owned()).collect()),
        Arc::new(api),
    )
}

#[tokio::test]
async fn actions_allowed_by_inline_or_managed_policies_hold() {
    let a = check_role(
        api(INLINE, MANAGED_DOC),
        &[
            "rds:FailoverDBCluster",
            "rds:DescribeDBClusters",
            "ec2:AuthorizeSecurityGroupIngress",
        ],
    );
    let check = a.check(&Context::new()).await.unwrap();
    let Check::Done { outputs, .. } = check else {
        panic!("{check:?}")
    };
    assert_eq!(
        outputs.get("policies"),
        Some(&json!(["inline:dr-access", "managed:mint-dr-read"]))
    );
    assert_eq!(outputs.get("missing"), Some(&json!([])));
    assert_eq!(
        outputs.get_str("role_arn"),
        Some("arn:aws:iam::123456789012:role/mint-replica-dr-role")
    );
    a.verify(&Context::new()).await.unwrap();
}

#[tokio::test]
async fn missing_and_denied_actions_block_and_fail_verify() {
    let a = check_role(
        api(INLINE, MANAGED_DOC),
        &[
            "rds:FailoverDBCluster",
            "rds:DeleteDBCluster",
            "s3:GetObject",
        ],
    );
    let check = a.check(&Context::new()).await.unwrap();
    let Check::Blocked { reason } = check else {
        panic!("{check:?}")
    };
    assert!(
        reason.starts_with(
            "role mint-replica-dr-role is not allowed rds:DeleteDBCluster, s3:GetObject"
        ),
        "{reason}"
    );
    let out = a.execute(&Context::new()).await.unwrap();
    assert_eq!(
        out.get("missing"),
        Some(&json!(["rds:DeleteDBCluster", "s3:GetObject"]))
    );
    let err = a.verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    assert!(err.to_string().contains("s3:GetObject"), "{err}");
}

#[tokio::test]
async fn a_missing_role_is_blocked_not_an_error() {
    let mut api = MockIamApi::new();
    api.expect_get_role().returning(|_| {
        Err(
            ActionError::new(ErrorKind::NotFound, "The role with name x cannot be found.")
                .with_operation("GetRole")
                .with_code("NoSuchEntity"),
        )
    });
    let a = check_role(api, &["rds:*"]);
    assert_eq!(
        a.check(&Context::new()).await.unwrap(),
        Check::blocked("role mint-replica-dr-role does not exist")
    );
    let err = a.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    // As every read-only check: a missing resource is NotFound, with the operation.
    let err = a.verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.operation(), Some("GetRole"));
}

#[tokio::test]
async fn access_denied_on_a_managed_policy_names_it_and_the_operation() {
    let mut api = MockIamApi::new();
    api.expect_get_role().returning(|r| Ok(Role::new(r, "arn")));
    api.expect_list_role_policies().returning(|_| Ok(vec![]));
    api.expect_list_attached_role_policies()
        .returning(|_| Ok(vec![AttachedPolicy::new("mint-dr-read", MANAGED)]));
    api.expect_get_managed_policy_document().returning(|_| {
        Err(ActionError::new(
            ErrorKind::AccessDenied,
            "not authorized to perform: iam:GetPolicy",
        )
        .with_operation("GetPolicy")
        .with_code("AccessDenied"))
    });
    let err = check_role(api, &["rds:*"])
        .check(&Context::new())
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    let text = err.to_string();
    for part in [
        "iam.check_role [dr-role]",
        MANAGED,
        "GetPolicy",
        "AccessDenied",
    ] {
        assert!(text.contains(part), "{text} lacks {part}");
    }
}

#[tokio::test]
async fn without_expected_actions_only_the_role_is_read() {
    let mut api = MockIamApi::new();
    api.expect_get_role()
        .times(2)
        .returning(|r| Ok(Role::new(r, "arn:aws:iam::1:role/r")));
    let a = check_role(api, &[]);
    assert!(a.check(&Context::new()).await.unwrap().is_done());
    assert!(a.verify(&Context::new()).await.unwrap().contains("exists"));
}
