//! Tests of `public.rs`: bucket policies as S3 stores them (AWS's documented public-read
//! example, principals in both forms, wildcards, conditions, denies).

use super::{Grant, glob, policy_grants_public_read, public_read_problem};
use crate::port::PublicAccessBlock;

/// AWS's "Granting read-only permission to a public anonymous user" example.
const PUBLIC_READ: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{
    "Sid": "PublicReadGetObject",
    "Effect": "Allow",
    "Principal": "*",
    "Action": ["s3:GetObject"],
    "Resource": ["arn:aws:s3:::mint-replica-dr/*"]
  }]
}"#;

#[test]
fn the_documented_public_read_policy_grants_it() {
    assert_eq!(
        policy_grants_public_read(PUBLIC_READ, "mint-replica-dr", "index.html"),
        Grant::Unconditional
    );
    // Another bucket's objects: not granted.
    assert_eq!(
        policy_grants_public_read(PUBLIC_READ, "other", "index.html"),
        Grant::None
    );
}

#[test]
fn principals_actions_and_resources_in_their_other_forms() {
    for (principal, action, resource) in [
        (
            r#"{"AWS": "*"}"#,
            r#""s3:GetObject""#,
            r#""arn:aws:s3:::b/*""#,
        ),
        (r#"{"AWS": ["*"]}"#, r#""s3:Get*""#, r#""*""#),
        (r#""*""#, r#""s3:*""#, r#""arn:aws:s3:::b/index.htm?""#),
        (r#""*""#, r#""S3:GETOBJECT""#, r#""arn:aws-cn:s3:::b/*""#),
        (
            r#""*""#,
            r#""*""#,
            r#"["arn:aws:s3:::b", "arn:aws:s3:::b/*"]"#,
        ),
    ] {
        let policy = format!(
            r#"{{"Statement": {{"Effect": "Allow", "Principal": {principal}, "Action": {action}, "Resource": {resource}}}}}"#
        );
        assert_eq!(
            policy_grants_public_read(&policy, "b", "index.html"),
            Grant::Unconditional,
            "{policy}"
        );
    }
    for (principal, action, resource) in [
        (
            r#"{"AWS": "arn:aws:iam::123456789012:root"}"#,
            r#""s3:GetObject""#,
            r#""arn:aws:s3:::b/*""#,
        ),
        (
            r#"{"Service": "cloudfront.amazonaws.com"}"#,
            r#""s3:GetObject""#,
            r#""arn:aws:s3:::b/*""#,
        ),
        (r#""*""#, r#""s3:PutObject""#, r#""arn:aws:s3:::b/*""#),
        (r#""*""#, r#""s3:GetObject""#, r#""arn:aws:s3:::b""#),
        (r#""*""#, r#""s3:GetObject""#, r#""arn:aws:s3:::b/img/*""#),
    ] {
        let policy = format!(
            r#"{{"Statement": [{{"Effect": "Allow", "Principal": {principal}, "Action": {action}, "Resource": {resource}}}]}}"#
        );
        assert_eq!(
            policy_grants_public_read(&policy, "b", "index.html"),
            Grant::None,
            "{policy}"
        );
    }
}

#[test]
fn conditions_denies_and_unreadable_documents() {
    let referer = r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b/*", "Condition": {"StringLike": {"aws:Referer": "secret"}}}]}"#;
    assert_eq!(
        policy_grants_public_read(referer, "b", "index.html"),
        Grant::Conditional
    );
    let denied = format!(
        r#"{{"Statement": [{}, {{"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}}]}}"#,
        r#"{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}"#
    );
    assert_eq!(
        policy_grants_public_read(&denied, "b", "index.html"),
        Grant::Denied
    );
    // A Deny under a condition is not evaluated: the Allow stands.
    let deny_tls = denied.replace(
        r#""Effect": "Deny","#,
        r#""Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}},"#,
    );
    assert_eq!(
        policy_grants_public_read(&deny_tls, "b", "index.html"),
        Grant::Unconditional
    );
    assert!(matches!(
        policy_grants_public_read("not json", "b", "index.html"),
        Grant::Unreadable(_)
    ));
    assert!(matches!(
        policy_grants_public_read("{}", "b", "index.html"),
        Grant::Unreadable(_)
    ));
}

#[test]
fn block_public_access_and_policy_say_why_a_website_would_answer_403() {
    let b = "mint-replica-dr";
    // No Block Public Access configuration and a public policy: served.
    assert_eq!(
        public_read_problem(b, "index.html", None, Some(PUBLIC_READ)),
        Ok(None)
    );
    assert_eq!(
        public_read_problem(
            b,
            "index.html",
            Some(PublicAccessBlock::all(false)),
            Some(PUBLIC_READ)
        ),
        Ok(None)
    );
    // RestrictPublicBuckets on: the public policy grants nothing.
    let e = public_read_problem(
        b,
        "index.html",
        Some(PublicAccessBlock::all(true)),
        Some(PUBLIC_READ),
    )
    .unwrap_err();
    assert!(e.contains("RestrictPublicBuckets"), "{e}");
    // BlockPublicPolicy alone does not affect a policy already there.
    let only_policy_blocked = PublicAccessBlock {
        block_public_policy: true,
        ..PublicAccessBlock::all(false)
    };
    assert_eq!(
        public_read_problem(
            b,
            "index.html",
            Some(only_policy_blocked),
            Some(PUBLIC_READ)
        ),
        Ok(None)
    );
    // ...but it would refuse the policy that is missing: said so.
    let e = public_read_problem(b, "index.html", Some(only_policy_blocked), None).unwrap_err();
    assert!(
        e.contains("has no bucket policy") && e.contains("BlockPublicPolicy"),
        "{e}"
    );
    let e = public_read_problem(b, "index.html", None, None).unwrap_err();
    assert!(
        e.contains("grant s3:GetObject on arn:aws:s3:::mint-replica-dr/*") && !e.contains("Block"),
        "{e}"
    );
}

#[test]
fn globs_match_as_iam_does() {
    assert!(glob("*", ""));
    assert!(glob("b/*", "b/a/b/c.html"));
    assert!(glob("b/*.html", "b/a.html"));
    assert!(!glob("b/*.html", "b/a.png"));
    assert!(glob("a*b*c", "aXXbYYc"));
    assert!(!glob("a*b*c", "aXXbYY"));
    assert!(glob("?", "x"));
    assert!(!glob("?", ""));
    assert!(!glob("b", "b/"));
}
