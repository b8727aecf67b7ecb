//! The behaviour suite (`drkit_testkit::behaviour`) for every S3 kind, against the in-memory
//! S3 of `fake.rs`.

use std::sync::Arc;

use drkit_testkit::behaviour::{Case, mutating, read_only};
use serde_json::json;

use crate::fake::FakeS3;
use crate::port::WebsiteConfig;

#[tokio::test]
async fn verify_replication() {
    let s3 = Arc::new(FakeS3::mint(FakeS3::mint_objects(), None));
    for params in [
        json!({"bucket": "mint-assets"}),
        json!({"bucket": "mint-assets", "sample": 5, "prefix": "img/"}),
        json!({"bucket": "mint-assets", "max_requests": 1}),
    ] {
        let case = Case::new(s3.registry(), "s3.verify_replication", params)
            .in_region("us-east-1")
            .refuses(json!({"bucket": "Mint_Assets"}), "bucket")
            .refuses(json!({"bucket": "mint-assets", "sample": 0}), "sample")
            .refuses(
                json!({"bucket": "mint-assets", "max_unreplicated_age": "soon"}),
                "max_unreplicated_age",
            )
            .refuses(
                json!({"bucket": "mint-assets", "max_requests": 0}),
                "max_requests",
            );
        read_only(&case, s3.as_ref()).await;
    }
}

/// From no website (rollback deletes it) and from another one (rollback restores it).
#[tokio::test]
async fn configure_website() {
    for before in [None, Some(WebsiteConfig::documents("home.html", None))] {
        let s3 = Arc::new(FakeS3::mint(FakeS3::mint_objects(), before));
        let case = Case::new(
            s3.registry(),
            "s3.configure_website",
            json!({"bucket": "mint-assets-dr", "index_document": "index.html", "error_document": "error.html"}),
        )
        .in_region("us-west-2")
        .refuses(
            json!({"bucket": "mint-assets-dr", "index_document": "a/b.html"}),
            "index_document",
        )
        .refuses(
            json!({"bucket": "mint-assets-dr", "index_document": "index.html", "error_document": ""}),
            "error_document",
        )
        .refuses(json!({"bucket": "a..b", "index_document": "index.html"}), "bucket")
        .refuses(
            json!({"bucket": "mint-assets-dr", "index_document": "index.html", "host_name": "www.mint.example"}),
            "host_name",
        );
        mutating(&case, s3.as_ref()).await;
    }
}
