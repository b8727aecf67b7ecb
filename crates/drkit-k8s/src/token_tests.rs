//! Tests of `token.rs`.

use secrecy::ExposeSecret;

use super::*;

fn creds() -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session/token+x".into()),
        None,
        "test",
    )
}

fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[test]
fn the_token_is_deterministic_for_fixed_credentials_and_time() {
    let a = eks_token(
        &creds(),
        "us-west-2",
        "mint-dr",
        &sts_endpoint("us-west-2"),
        at(),
    )
    .unwrap();
    let b = eks_token(
        &creds(),
        "us-west-2",
        "mint-dr",
        &sts_endpoint("us-west-2"),
        at(),
    )
    .unwrap();
    assert_eq!(a.expose_secret(), b.expose_secret());
    assert!(a.expose_secret().starts_with(TOKEN_PREFIX));
    assert!(!a.expose_secret().contains('='), "no padding");
}

#[test]
fn the_session_token_is_encoded_in_the_query() {
    let url = presigned_url(&creds(), "us-west-2", "c", &sts_endpoint("us-west-2"), at()).unwrap();
    assert!(
        url.expose_secret()
            .contains("X-Amz-Security-Token=session%2Ftoken%2Bx"),
        "{}",
        url.expose_secret()
    );
}

#[test]
fn a_bad_endpoint_is_an_error_without_secrets() {
    let err = eks_token(&creds(), "us-west-2", "c", "not a url", at()).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("wJalrXUtnFEMI"), "{text}");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}
