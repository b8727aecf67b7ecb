//! The EKS token: deterministic credentials and time -> the URL `aws eks get-token` would
//! presign.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use drkit_k8s::{TOKEN_PREFIX, eks_token, sts_endpoint};
use secrecy::ExposeSecret;

fn creds() -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "test",
    )
}

/// 2023-11-14T22:13:20Z.
fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn decode(token: &str) -> String {
    let b64 = token.strip_prefix(TOKEN_PREFIX).expect("token prefix");
    String::from_utf8(
        URL_SAFE_NO_PAD
            .decode(b64)
            .expect("base64url without padding"),
    )
    .unwrap()
}

#[test]
fn the_token_is_a_presigned_get_caller_identity_url() {
    let token = eks_token(
        &creds(),
        "us-west-2",
        "mint-dr",
        &sts_endpoint("us-west-2"),
        at(),
    )
    .unwrap();
    let url = decode(token.expose_secret());
    assert!(
        url.starts_with(
            "https://sts.us-west-2.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
        ),
        "{url}"
    );
    let query: Vec<(String, String)> = url
        .split_once('?')
        .unwrap()
        .1
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in {url}"))
    };
    assert_eq!(get("Action"), "GetCallerIdentity");
    assert_eq!(get("X-Amz-Expires"), "60");
    assert_eq!(get("X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
    assert_eq!(get("X-Amz-Date"), "20231114T221320Z");
    assert_eq!(
        get("X-Amz-Credential"),
        "AKIDEXAMPLE%2F20231114%2Fus-west-2%2Fsts%2Faws4_request"
    );
    let signed = get("X-Amz-SignedHeaders");
    assert!(signed.split("%3B").any(|h| h == "x-k8s-aws-id"), "{signed}");
    assert!(signed.split("%3B").any(|h| h == "host"), "{signed}");
    assert_eq!(get("X-Amz-Signature").len(), 64);

    // Deterministic for the same inputs; another cluster name signs differently.
    let again = eks_token(
        &creds(),
        "us-west-2",
        "mint-dr",
        &sts_endpoint("us-west-2"),
        at(),
    )
    .unwrap();
    assert_eq!(token.expose_secret(), again.expose_secret());
    let other = eks_token(
        &creds(),
        "us-west-2",
        "other",
        &sts_endpoint("us-west-2"),
        at(),
    )
    .unwrap();
    assert_ne!(token.expose_secret(), other.expose_secret());
}

/// The token's Debug is redacted.
#[test]
fn the_token_debug_is_redacted() {
    let token = eks_token(
        &creds(),
        "us-west-2",
        "mint-dr",
        &sts_endpoint("us-west-2"),
        at(),
    )
    .unwrap();
    let debug = format!("{token:?}");
    assert!(!debug.contains(TOKEN_PREFIX), "{debug}");
    assert!(!debug.contains("X-Amz"), "{debug}");
}
