//! Tests of `register.rs`.

use serde_json::json;

use drkit_core::ActionRef;
use drkit_core::registry::{ActionSpec, BuildError, Registry};

use super::*;
use crate::port::MockS3Api;

fn build(kind: &str, params: serde_json::Value) -> Result<ActionRef, BuildError> {
    let mut registry = Registry::new();
    register_with(
        &mut registry,
        &PortFactory::new(|_| Arc::new(MockS3Api::new()) as Arc<dyn S3Api>),
    )
    .unwrap();
    registry.build(&ActionSpec::new("s", kind, params).in_region("us-west-2"))
}

#[test]
fn builds_and_refuses_bad_parameters() {
    let a = build(
        "s3.verify_replication",
        json!({"bucket": "mint-assets", "sample": 10}),
    )
    .unwrap();
    assert!(!a.mutates());
    assert_eq!(a.target().to_string(), "s3:bucket/mint-assets@us-west-2");
    let w = build(
        "s3.configure_website",
        json!({"bucket": "mint-assets-dr", "index_document": "index.html"}),
    )
    .unwrap();
    assert!(w.mutates() && w.supports_rollback());
    let cases = [
        (
            "s3.verify_replication",
            json!({"bucket": "Mint_Assets"}),
            "not a valid bucket name",
        ),
        (
            "s3.verify_replication",
            json!({"bucket": "mint", "sample": 0}),
            "must be 1 to 1,000",
        ),
        (
            "s3.verify_replication",
            json!({"bucket": "mint", "sampel": 3}),
            "unknown field `sampel`",
        ),
        (
            "s3.verify_replication",
            json!({"bucket": "mint", "max_unreplicated_age": "soon"}),
            "max_unreplicated_age",
        ),
        (
            "s3.configure_website",
            json!({"bucket": "mint", "index_document": "a/b.html"}),
            "without `/`",
        ),
        (
            "s3.configure_website",
            json!({"bucket": "mint"}),
            "missing field `index_document`",
        ),
    ];
    for (kind, params, expected) in cases {
        let err = build(kind, params).unwrap_err().to_string();
        assert!(err.contains(expected), "{err} lacks {expected}");
    }
}
