//! Tests of `policy.rs`.

use serde_json::json;

use super::*;

fn doc(v: Value) -> PolicyDocument {
    PolicyDocument::from_value(v).unwrap()
}

#[test]
fn a_valid_document_is_accepted() {
    let d = PolicyDocument::parse(
        r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": ["rds:Describe*", "rds:FailoverDBCluster"], "Resource": "*"}]}"#,
    )
    .unwrap();
    assert!(d.allows("rds:DescribeDBClusters"));
    assert!(d.allows("RDS:describedbinstances"));
    assert!(d.allows("rds:FailoverDBCluster"));
    assert!(!d.allows("rds:DeleteDBCluster"));
}

#[test]
fn invalid_documents_are_refused_with_their_location() {
    let cases = [
        ("{\"Version\": ", "line 1, column 12: not valid JSON"),
        ("[]", "a policy document must be a JSON object"),
        (r#"{"Statement": []}"#, "Version: missing"),
        (r#"{"Version": "2012-10-17"}"#, "Statement: missing"),
        (
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "allow", "Action": "s3:*", "Resource": "*"}]}"#,
            "Statement[0].Effect: must be \"Allow\" or \"Deny\", found \"allow\"",
        ),
        (
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, {"Effect": "Deny", "Resource": "*"}]}"#,
            "Statement[1].Action: missing",
        ),
        (
            r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*"}}"#,
            "Statement.Resource: missing",
        ),
        (
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*", 3], "Resource": "*"}]}"#,
            "Statement[0].Action[1]: must be a non-empty string, found 3",
        ),
        (
            r#"{"Version": "2012-10-17", "Statement": []}"#,
            "Statement: must hold at least one statement",
        ),
    ];
    for (text, expected) in cases {
        let e = PolicyDocument::parse(text).unwrap_err().to_string();
        assert!(
            e.starts_with(expected),
            "{e} does not start with {expected}"
        );
    }
}

#[test]
fn documents_compare_by_meaning_not_by_text() {
    let a = doc(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"}]}));
    let b = doc(json!({"Statement": {"Resource": ["*"], "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:GetObject"]}, "Version": "2012-10-17"}));
    assert!(a.same_as(&b));
    let c = doc(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}));
    assert!(!a.same_as(&c));
}

#[test]
fn deny_wins_and_not_action_is_understood() {
    let d = doc(json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "rds:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "rds:Delete*", "Resource": "*"},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}));
    assert!(d.allows("rds:FailoverDBCluster"));
    assert!(!d.allows("rds:DeleteDBCluster"));
    assert!(d.denies("rds:DeleteDBCluster"));
    assert!(d.allows("ec2:DescribeSecurityGroups"));
    assert!(!d.allows("iam:PutRolePolicy"));
}

#[test]
fn wildcards_match_like_iam() {
    assert!(wildcard_match("*", "anything:At-all"));
    assert!(wildcard_match("rds:*", "rds:FailoverDBCluster"));
    assert!(wildcard_match("rds:Describe*", "rds:DescribeDBClusters"));
    assert!(wildcard_match("rds:Describe*", "rds:Describe*"));
    assert!(wildcard_match(
        "ec2:*SecurityGroup*",
        "ec2:AuthorizeSecurityGroupIngress"
    ));
    assert!(wildcard_match("s3:Get?bject", "s3:GetObject"));
    assert!(!wildcard_match("rds:Describe*", "rds:FailoverDBCluster"));
    assert!(!wildcard_match("rds:DescribeDBClusters", "rds:Describe*"));
    assert!(!wildcard_match("s3:*", "s3"));
}
