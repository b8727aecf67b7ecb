//! Tests of `register.rs`.

use drkit_core::ActionRef;
use drkit_core::registry::{ActionSpec, BuildError, Registry};
use serde_json::{Value, json};

use super::*;
use crate::port::MockIamApi;

/// A registry whose port fails the test on any call: building must call nothing.
fn registry() -> Registry {
    let mut registry = Registry::new();
    register_with(
        &mut registry,
        &PortFactory::new(|_| Arc::new(MockIamApi::new()) as Arc<dyn IamApi>),
    )
    .unwrap();
    registry
}

fn build(kind: &str, params: Value) -> Result<ActionRef, BuildError> {
    registry().build(&ActionSpec::new("restore-iam", kind, params))
}

const POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "rds:*", "Resource": "*"}]}"#;

#[test]
fn the_document_is_accepted_as_text_table_or_file() {
    let a = build(
        "iam.put_role_policy",
        json!({"role": "mint-replica-dr-role", "policy_name": "dr", "document": POLICY}),
    )
    .unwrap();
    assert_eq!(a.kind(), "iam.put_role_policy");
    assert_eq!(a.target().to_string(), "iam:role/mint-replica-dr-role");
    assert!(a.mutates() && a.supports_rollback());
    let table: Value = serde_json::from_str(POLICY).unwrap();
    build(
        "iam.put_role_policy",
        json!({"role": "r", "policy_name": "dr", "document": table}),
    )
    .unwrap();
    let dir = std::env::temp_dir().join(drkit_testkit::unique("drkit-iam"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("dr-role-policy.json");
    std::fs::write(&file, POLICY).unwrap();
    build(
        "iam.put_role_policy",
        json!({"role": "r", "policy_name": "dr", "document": format!("file:{}", file.display())}),
    )
    .unwrap();
    std::fs::write(&file, "{\"Version\": \"2012-10-17\",\n \"Statement\": [}").unwrap();
    let err = build(
        "iam.put_role_policy",
        json!({"role": "r", "policy_name": "dr", "document": format!("file:{}", file.display())}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("parameter `document`: invalid IAM policy: file "),
        "{err}"
    );
    assert!(err.contains("line 2, column 16: not valid JSON"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Malformed policies are refused at build time: the mocked port (no expectations) would
/// panic on any call, so nothing reaches IAM.
#[test]
fn malformed_policies_and_names_are_refused_before_any_call() {
    let cases = [
        (
            json!({"role": "r", "policy_name": "p", "document": "{not json"}),
            "parameter `document`: invalid IAM policy: line 1, column 2: not valid JSON",
        ),
        (
            json!({"role": "r", "policy_name": "p", "document":
                {"Version": "2012-10-17", "Statement": [{"Effect": "Permit", "Action": "s3:*", "Resource": "*"}]}}),
            "Statement[0].Effect: must be \"Allow\" or \"Deny\", found \"Permit\"",
        ),
        (
            json!({"role": "r", "policy_name": "p", "document":
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}}),
            "Statement[0].Action: missing",
        ),
        (
            json!({"role": "r", "policy_name": "p", "document": {"Statement": []}}),
            "Version: missing",
        ),
        (
            json!({"role": "r", "policy_name": "p", "document": "file:/nonexistent/drkit.json"}),
            "file /nonexistent/drkit.json: cannot be read",
        ),
        (
            json!({"role": "r", "policy_name": "p", "document": 3}),
            "must be a JSON policy (text or table) or `file:<path>`",
        ),
        (
            json!({"role": "bad role", "policy_name": "p", "document": POLICY}),
            "parameter `role`: `bad role` is not a valid IAM name",
        ),
        (
            json!({"role": "r", "policy": "p", "document": POLICY}),
            "unknown field `policy`",
        ),
    ];
    for (params, expected) in cases {
        let err = build("iam.put_role_policy", params)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{err} lacks {expected}");
        assert!(
            err.starts_with("step `restore-iam` (iam.put_role_policy): "),
            "{err}"
        );
    }
}

#[test]
fn check_role_parameters_are_checked() {
    let a = build(
        "iam.check_role",
        json!({"role": "mint-replica-dr-role", "expect_actions": ["rds:Describe*", "ec2:AuthorizeSecurityGroupIngress"]}),
    )
    .unwrap();
    assert!(!a.mutates());
    build("iam.check_role", json!({"role": "r"})).unwrap();
    let err = build(
        "iam.check_role",
        json!({"role": "r", "expect_actions": ["rds:Describe*", "FailoverDBCluster"]}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("parameter `expect_actions[1]`: `FailoverDBCluster` is not an IAM action"),
        "{err}"
    );
}

#[test]
fn descriptors_match_the_actions() {
    let reg = registry();
    for d in DESCRIPTORS {
        assert_eq!(reg.descriptor(d.kind), Some(d));
    }
    assert_eq!(reg.descriptors().count(), DESCRIPTORS.len());
}
