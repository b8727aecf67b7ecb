//! Unit tests of `ec2.authorize_ingress` against the mocked port: what moto cannot show
//! (throttling, access denied, the `InvalidPermission.Duplicate` race, eventual consistency).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use drkit_core::{ActionExt, ActionRef, RecoveryAction, RetryPolicy, WaitPolicy};
use serde_json::json;

use super::*;
use crate::port::MockEc2Api;
use crate::rule::Source;

const GROUP: &str = "sg-0a1b2c3d";

fn https() -> IngressRule {
    IngressRule::tcp(443, "10.0.0.0/8")
}

fn postgres() -> IngressRule {
    IngressRule::described(
        "tcp",
        Some(5432),
        Some(5432),
        Source::Group("sg-0eeeeeee".into()),
        None,
    )
}

fn group(rules: Vec<IngressRule>) -> SecurityGroup {
    SecurityGroup::new(GROUP, "mint-replica-api", rules)
}

/// `describe_security_group` answers these in order, repeating the last one.
fn reads(api: &mut MockEc2Api, answers: Vec<Result<SecurityGroup, ActionError>>) {
    let queue = Mutex::new(answers);
    api.expect_describe_security_group().returning(move |_| {
        let mut q = queue.lock().unwrap();
        if q.len() > 1 {
            q.remove(0)
        } else {
            match &q[0] {
                Ok(sg) => Ok(sg.clone()),
                Err(e) => Err(ActionError::new(e.kind(), e.message())
                    .with_operation("DescribeSecurityGroups")
                    .with_code(e.code().unwrap_or_default())),
            }
        }
    });
}

fn action(api: MockEc2Api) -> AuthorizeIngress {
    AuthorizeIngress::new(
        "open-api",
        GroupRef::Id(GROUP.into()),
        vec![https(), postgres()],
        Arc::new(api),
        Some("us-west-2"),
    )
    .with_wait_policy(WaitPolicy::without_jitter())
}

fn duplicate() -> ActionError {
    ActionError::new(
        ErrorKind::InvalidInput,
        "the specified rule \"peer: 10.0.0.0/8, TCP, from port: 443, to port: 443, ALLOW\" already exists",
    )
    .with_operation("AuthorizeSecurityGroupIngress")
    .with_code(DUPLICATE)
}

#[tokio::test(start_paused = true)]
async fn only_the_missing_rules_are_authorized_and_rollback_revokes_only_them() {
    let mut api = MockEc2Api::new();
    reads(
        &mut api,
        vec![
            Ok(group(vec![https()])),
            Ok(group(vec![https(), postgres()])),
        ],
    );
    api.expect_authorize_ingress()
        .withf(|g, rules| g == GROUP && rules == [postgres()])
        .times(1)
        .returning(|_, _| Ok(vec!["sgr-0123".into()]));
    api.expect_revoke_ingress()
        .withf(|g, rules| g == GROUP && rules == [postgres()])
        .times(1)
        .returning(|_, _| Ok(()));
    let a = action(api);
    let out = a.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("already_present"), Some(&json!(1)));
    assert_eq!(out.get("added_rule_ids"), Some(&json!(["sgr-0123"])));
    assert_eq!(
        out.get("added"),
        Some(
            &json!([{"protocol": "tcp", "from_port": 5432, "to_port": 5432, "source_group": "sg-0eeeeeee"}])
        )
    );
    // Executed again (e.g. a retry after a time-out): nothing new, the outputs keep what this
    // run added.
    let again = a.execute(&Context::new()).await.unwrap();
    assert_eq!(again.get("added"), out.get("added"));
    a.rollback(&Context::new()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn all_rules_present_is_done_and_nothing_is_written() {
    let mut api = MockEc2Api::new();
    let mut described = https();
    described.description = Some("written by hand".into());
    reads(&mut api, vec![Ok(group(vec![postgres(), described]))]);
    let a = action(api);
    let check = a.check(&Context::new()).await.unwrap();
    let Check::Done { outputs, .. } = check else {
        panic!("{check:?}")
    };
    assert_eq!(outputs.get("added"), Some(&json!([])));
    assert_eq!(outputs.get("already_present"), Some(&json!(2)));
    a.execute(&Context::new()).await.unwrap();
    a.rollback(&Context::new()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_duplicate_race_counts_as_already_there() {
    let mut api = MockEc2Api::new();
    // Read: neither rule. Meanwhile someone adds the https rule: the batch call is refused.
    reads(
        &mut api,
        vec![Ok(group(vec![])), Ok(group(vec![https(), postgres()]))],
    );
    let calls = Mutex::new(0);
    api.expect_authorize_ingress()
        .times(3)
        .returning(move |_, rules| {
            *calls.lock().unwrap() += 1;
            if rules.len() == 2 || rules[0] == https() {
                Err(duplicate())
            } else {
                Ok(vec!["sgr-9".into()])
            }
        });
    let a = action(api);
    let out = a.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("already_present"), Some(&json!(1)));
    assert_eq!(out.get("added_rule_ids"), Some(&json!(["sgr-9"])));
}

#[tokio::test(start_paused = true)]
async fn check_is_ready_with_the_rules_or_blocked_on_a_missing_group() {
    let mut api = MockEc2Api::new();
    reads(&mut api, vec![Ok(group(vec![https()]))]);
    assert_eq!(
        action(api).check(&Context::new()).await.unwrap(),
        Check::ready(
            "authorize on security group sg-0a1b2c3d (mint-replica-api): tcp 5432 from sg-0eeeeeee"
        )
    );
    let mut api = MockEc2Api::new();
    reads(
        &mut api,
        vec![Err(ActionError::new(
            ErrorKind::NotFound,
            "The security group 'sg-0a1b2c3d' does not exist",
        )
        .with_code("InvalidGroup.NotFound"))],
    );
    let a = action(api);
    assert_eq!(
        a.check(&Context::new()).await.unwrap(),
        Check::blocked("security group sg-0a1b2c3d does not exist")
    );
    let err = a.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.code(), Some("InvalidGroup.NotFound"));
    assert!(
        err.to_string().contains(
            "ec2.authorize_ingress [open-api] on ec2:security-group/sg-0a1b2c3d@us-west-2"
        ),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retryable_and_access_denied_is_not() {
    let mut api = MockEc2Api::new();
    let calls = Mutex::new(0);
    api.expect_describe_security_group().returning(move |_| {
        let mut n = calls.lock().unwrap();
        *n += 1;
        if *n == 1 {
            Err(
                ActionError::new(ErrorKind::Throttled, "Request limit exceeded.")
                    .with_operation("DescribeSecurityGroups")
                    .with_code("RequestLimitExceeded"),
            )
        } else {
            Ok(group(vec![https()]))
        }
    });
    api.expect_authorize_ingress().returning(|_, _| {
        Err(ActionError::new(
            ErrorKind::AccessDenied,
            "You are not authorized to perform this operation.",
        )
        .with_operation("AuthorizeSecurityGroupIngress")
        .with_code("UnauthorizedOperation"))
    });
    let a: ActionRef = Arc::new(action(api));
    let err = a.check(&Context::new()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let a = a.with_retry(RetryPolicy::attempts(3));
    assert!(matches!(
        a.check(&Context::new()).await.unwrap(),
        Check::Ready { .. }
    ));
    let err = a.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
    assert!(!err.is_retryable());
    let text = err.to_string();
    for part in [
        "sg-0a1b2c3d",
        "AuthorizeSecurityGroupIngress",
        "UnauthorizedOperation",
    ] {
        assert!(text.contains(part), "{text} lacks {part}");
    }
}

#[tokio::test(start_paused = true)]
async fn rollback_after_a_resume_reads_the_recorded_outputs_and_tolerates_gone_rules() {
    let mut api = MockEc2Api::new();
    let calls = Arc::new(Mutex::new(Vec::<usize>::new()));
    let seen = Arc::clone(&calls);
    api.expect_revoke_ingress()
        .withf(|g, _| g == GROUP)
        .returning(move |_, rules| {
            seen.lock().unwrap().push(rules.len());
            if rules.len() == 2 || rules[0] == https() {
                Err(ActionError::new(ErrorKind::NotFound, "rule not found")
                    .with_code("InvalidPermission.NotFound"))
            } else {
                Ok(())
            }
        });
    let a = action(api);
    let recorded = Outputs::new().with("group_id", GROUP).with(
        "added",
        json!([
            {"protocol": "tcp", "port": 443, "cidr": "10.0.0.0/8"},
            {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "source_group": "sg-0eeeeeee"}
        ]),
    );
    let ctx = Context::new().with_outputs(BTreeMap::from([("open-api".to_owned(), recorded)]));
    a.rollback(&ctx).await.unwrap();
    assert_eq!(*calls.lock().unwrap(), [2, 1, 1]);
}

#[tokio::test(start_paused = true)]
async fn verify_names_the_missing_rules() {
    let mut api = MockEc2Api::new();
    reads(&mut api, vec![Ok(group(vec![postgres()]))]);
    let err = action(api).verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    assert!(
        err.to_string().contains("lacks tcp 443 from 10.0.0.0/8"),
        "{err}"
    );
}
