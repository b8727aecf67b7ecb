//! Unit tests of `ec2.check_security_group` against the mocked port.

use std::sync::Arc;

use drkit_core::RecoveryAction;
use serde_json::json;

use super::*;
use crate::port::MockEc2Api;
use drkit_core::Check;

fn check(api: MockEc2Api) -> CheckSecurityGroup {
    CheckSecurityGroup::new(
        "check-api-sg",
        GroupRef::Name("mint-replica-api".into()),
        vec![
            IngressRule::tcp(443, "10.0.0.0/8"),
            IngressRule::tcp(80, "10.0.0.0/8"),
        ],
        Arc::new(api),
        None,
    )
}

#[tokio::test]
async fn done_when_every_rule_is_there_blocked_listing_the_missing_ones() {
    let mut api = MockEc2Api::new();
    api.expect_describe_security_group()
        .withf(|g| *g == GroupRef::Name("mint-replica-api".into()))
        .returning(|_| {
            Ok(SecurityGroup::new(
                "sg-1",
                "mint-replica-api",
                vec![
                    IngressRule::tcp(443, "10.0.0.0/8"),
                    IngressRule::tcp(80, "10.0.0.0/8"),
                    IngressRule::tcp(22, "10.0.0.0/8"),
                ],
            ))
        });
    let c = check(api);
    let result = c.check(&Context::new()).await.unwrap();
    let Check::Done { outputs, .. } = result else {
        panic!("{result:?}")
    };
    assert_eq!(outputs.get("ingress_rules"), Some(&json!(3)));
    assert_eq!(outputs.get("missing"), Some(&json!([])));
    c.verify(&Context::new()).await.unwrap();

    let mut api = MockEc2Api::new();
    api.expect_describe_security_group().returning(|_| {
        Ok(SecurityGroup::new(
            "sg-1",
            "mint-replica-api",
            vec![IngressRule::tcp(443, "10.0.0.0/8")],
        ))
    });
    let c = check(api);
    assert_eq!(
        c.check(&Context::new()).await.unwrap(),
        Check::blocked(
            "security group sg-1 (mint-replica-api) lacks 1 of the expected rules: tcp 80 from 10.0.0.0/8"
        )
    );
    let out = c.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("missing"), Some(&json!(["tcp 80 from 10.0.0.0/8"])));
    let err = c.verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
}

#[tokio::test]
async fn a_missing_group_is_blocked_and_other_errors_keep_their_code() {
    let mut api = MockEc2Api::new();
    api.expect_describe_security_group().returning(|_| {
        Err(ActionError::new(ErrorKind::NotFound, "not found").with_code("InvalidGroup.NotFound"))
    });
    assert_eq!(
        check(api).check(&Context::new()).await.unwrap(),
        Check::blocked("security group mint-replica-api does not exist")
    );

    let mut api = MockEc2Api::new();
    api.expect_describe_security_group().returning(|_| {
        Err(ActionError::new(ErrorKind::AccessDenied, "not authorized")
            .with_operation("DescribeSecurityGroups")
            .with_code("UnauthorizedOperation"))
    });
    let err = check(api).check(&Context::new()).await.unwrap_err();
    assert!(!err.is_retryable());
    assert!(
        err.to_string().contains(
            "ec2.check_security_group [check-api-sg] on ec2:security-group/mint-replica-api: DescribeSecurityGroups"
        ),
        "{err}"
    );
}
