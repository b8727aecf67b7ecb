//! Tests of `sdk.rs`.

use super::*;

/// Real IAM (and moto) answer `GetRolePolicy` with the document URL-encoded (RFC 3986);
/// plain JSON is kept as it is. Both give the same text.
#[test]
fn iam_url_encoded_documents_are_decoded_and_plain_ones_kept() {
    let plain = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds:Describe*","Resource":"*"}]}"#;
    // As real IAM returns it (captured shape: every reserved character escaped).
    let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22rds%3ADescribe%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
    assert_eq!(decode_policy_document(encoded).unwrap(), plain);
    assert_eq!(decode_policy_document(plain).unwrap(), plain);
    // Pretty-printed documents keep their layout; `+` is not a space in RFC 3986.
    let spaced = "%7B%0A%20%20%22Sid%22%3A%20%22a+b%22%0A%7D";
    assert_eq!(
        decode_policy_document(spaced).unwrap(),
        "{\n  \"Sid\": \"a+b\"\n}"
    );
    // Non-ASCII (UTF-8) characters survive.
    assert_eq!(
        decode_policy_document("%7B%22Sid%22%3A%22caf%C3%A9%22%7D").unwrap(),
        r#"{"Sid":"café"}"#
    );
    let e = decode_policy_document("%7B%2").unwrap_err();
    assert!(e.message().contains("bad escape"), "{e}");
}
