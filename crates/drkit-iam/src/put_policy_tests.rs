//! Unit tests of `iam.put_role_policy` against the mocked port: what moto cannot show
//! (throttling, access denied, IAM's eventual consistency).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use drkit_core::{ActionExt, ActionRef, RecoveryAction, RetryPolicy, WaitPolicy};
use mockall::predicate::eq;
use serde_json::json;

use super::*;
use crate::port::{MockIamApi, Role};

const ROLE: &str = "mint-replica-dr-role";
const POLICY: &str = "dr-access";

fn wanted() -> PolicyDocument {
    PolicyDocument::from_value(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["rds:FailoverDBCluster", "rds:Describe*"], "Resource": "*"}]}))
    .unwrap()
}

/// The same meaning, written differently (as IAM may return it).
const WANTED_AS_READ: &str = r#"{"Statement": {"Action": ["rds:Describe*", "rds:FailoverDBCluster"], "Resource": "*", "Effect": "Allow"}, "Version": "2012-10-17"}"#;
const OLD: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "rds:Describe*", "Resource": "*"}]}"#;

fn action(api: MockIamApi) -> PutRolePolicy {
    PutRolePolicy::new("restore-dr-policy", ROLE, POLICY, wanted(), Arc::new(api))
        .with_wait_policy(WaitPolicy::without_jitter())
}

fn no_such_entity(op: &str) -> ActionError {
    ActionError::new(ErrorKind::NotFound, "The role policy cannot be found.")
        .with_operation(op)
        .with_code("NoSuchEntity")
}

/// `get_role_policy` answers these in order, repeating the last one.
fn reads(api: &mut MockIamApi, answers: Vec<Option<&'static str>>) {
    let queue = Mutex::new(answers);
    api.expect_get_role_policy()
        .with(eq(ROLE), eq(POLICY))
        .returning(move |_, _| {
            let mut q = queue.lock().unwrap();
            let next = if q.len() > 1 { q.remove(0) } else { q[0] };
            next.map(str::to_owned)
                .ok_or_else(|| no_such_entity("GetRolePolicy"))
        });
}

fn role_exists(api: &mut MockIamApi) {
    api.expect_get_role()
        .with(eq(ROLE))
        .returning(|r| Ok(Role::new(r, format!("arn:aws:iam::123456789012:role/{r}"))));
}

#[tokio::test(start_paused = true)]
async fn check_answers_done_ready_and_blocked() {
    // Same meaning, different text: done, with the outputs a re-run needs.
    let mut api = MockIamApi::new();
    reads(&mut api, vec![Some(WANTED_AS_READ)]);
    let check = action(api).check(&Context::new()).await.unwrap();
    let Check::Done { outputs, .. } = check else {
        panic!("{check:?}")
    };
    assert_eq!(outputs.get("changed"), Some(&json!(false)));

    let mut api = MockIamApi::new();
    reads(&mut api, vec![Some(OLD)]);
    let check = action(api).check(&Context::new()).await.unwrap();
    assert_eq!(
        check,
        Check::ready(format!(
            "replace the document of inline policy {POLICY} of role {ROLE}"
        ))
    );

    let mut api = MockIamApi::new();
    reads(&mut api, vec![None]);
    role_exists(&mut api);
    let check = action(api).check(&Context::new()).await.unwrap();
    assert_eq!(
        check,
        Check::ready(format!("create inline policy {POLICY} of role {ROLE}"))
    );

    let mut api = MockIamApi::new();
    reads(&mut api, vec![None]);
    api.expect_get_role()
        .returning(|_| Err(no_such_entity("GetRole")));
    let check = action(api).check(&Context::new()).await.unwrap();
    assert_eq!(check, Check::blocked(format!("role {ROLE} does not exist")));
}

#[tokio::test(start_paused = true)]
async fn execute_replaces_waits_for_the_new_document_and_rollback_restores_the_old() {
    let mut api = MockIamApi::new();
    // Read before the put, then IAM still shows the old document once (eventual consistency).
    reads(&mut api, vec![Some(OLD), Some(OLD), Some(WANTED_AS_READ)]);
    let put = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&put);
    api.expect_put_role_policy()
        .with(eq(ROLE), eq(POLICY), mockall::predicate::always())
        .times(2)
        .returning(move |_, _, doc| {
            seen.lock().unwrap().push(doc.to_owned());
            Ok(())
        });
    let a = action(api);
    let out = a.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("changed"), Some(&json!(true)));
    assert_eq!(out.get("had_previous"), Some(&json!(true)));
    assert_eq!(out.get_str("previous_document"), Some(OLD));
    a.rollback(&Context::new()).await.unwrap();
    let put = put.lock().unwrap();
    assert!(wanted().same_as(&PolicyDocument::parse(&put[0]).unwrap()));
    assert_eq!(
        put[1], OLD,
        "rollback puts the previous document back as it was"
    );
}

#[tokio::test(start_paused = true)]
async fn rollback_deletes_a_policy_that_did_not_exist_before() {
    let mut api = MockIamApi::new();
    reads(&mut api, vec![None, Some(WANTED_AS_READ)]);
    role_exists(&mut api);
    api.expect_put_role_policy()
        .times(1)
        .returning(|_, _, _| Ok(()));
    api.expect_delete_role_policy()
        .with(eq(ROLE), eq(POLICY))
        .times(1)
        .returning(|_, _| Ok(()));
    let a = action(api);
    let out = a.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("had_previous"), Some(&json!(false)));
    assert_eq!(out.get("previous_document"), Some(&Value::Null));
    a.rollback(&Context::new()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn rollback_after_a_resume_reads_the_recorded_outputs() {
    let mut api = MockIamApi::new();
    api.expect_put_role_policy()
        .with(eq(ROLE), eq(POLICY), eq(OLD))
        .times(1)
        .returning(|_, _, _| Ok(()));
    let a = action(api);
    let recorded = Outputs::new()
        .with("changed", true)
        .with("had_previous", true)
        .with("previous_document", OLD);
    let ctx =
        Context::new().with_outputs(BTreeMap::from([("restore-dr-policy".to_owned(), recorded)]));
    a.rollback(&ctx).await.unwrap();
    // Nothing recorded, nothing remembered: nothing to undo, and no call.
    let a = action(MockIamApi::new());
    a.rollback(&Context::new()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retryable_and_the_retry_layer_gets_through() {
    let mut api = MockIamApi::new();
    let calls = Mutex::new(0);
    api.expect_get_role_policy().returning(move |_, _| {
        let mut n = calls.lock().unwrap();
        *n += 1;
        if *n <= 2 {
            Err(ActionError::new(ErrorKind::Throttled, "Rate exceeded")
                .with_operation("GetRolePolicy")
                .with_code("Throttling"))
        } else {
            Ok(WANTED_AS_READ.to_owned())
        }
    });
    let a: ActionRef = Arc::new(action(api));
    let err = a.check(&Context::new()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let a = a.with_retry(RetryPolicy::attempts(3));
    assert!(a.check(&Context::new()).await.unwrap().is_done());
}

#[tokio::test(start_paused = true)]
async fn access_denied_is_permanent_and_names_the_role_and_operation() {
    let mut api = MockIamApi::new();
    reads(&mut api, vec![Some(OLD)]);
    api.expect_put_role_policy().times(1).returning(|_, _, _| {
        Err(ActionError::new(
            ErrorKind::AccessDenied,
            "User: arn:aws:sts::123456789012:assumed-role/ops is not authorized to perform: iam:PutRolePolicy",
        )
        .with_operation("PutRolePolicy")
        .with_code("AccessDenied"))
    });
    let err = action(api).execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
    assert!(!err.is_retryable());
    let text = err.to_string();
    for part in [
        "iam.put_role_policy [restore-dr-policy] on iam:role/mint-replica-dr-role",
        "PutRolePolicy",
        "AccessDenied",
    ] {
        assert!(text.contains(part), "{text} lacks {part}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_missing_role_fails_execute_and_verify_clearly() {
    let mut api = MockIamApi::new();
    reads(&mut api, vec![None]);
    api.expect_get_role()
        .returning(|_| Err(no_such_entity("GetRole")));
    let a = action(api);
    let err = a.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    assert!(
        err.to_string()
            .contains("role mint-replica-dr-role does not exist"),
        "{err}"
    );
    let err = a.verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    assert!(err.to_string().contains("found no such role"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_never_writes() {
    let a = action(MockIamApi::new());
    let err = a
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}
