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

/// Reverse replication from the replica (none before: rollback deletes it), and a new rule on a
/// bucket that already replicates (rollback restores the old configuration exactly).
#[tokio::test]
async fn configure_replication() {
    let role = "arn:aws:iam::123456789012:role/s3-replication-back";
    for (bucket, destination, region) in [
        ("mint-assets-dr", "mint-assets", "us-west-2"),
        ("mint-assets", "arn:aws:s3:::mint-assets-dr", "us-east-1"),
    ] {
        let s3 = Arc::new(FakeS3::mint(FakeS3::mint_objects(), None));
        let params = |bucket: &str, role: &str, destination: &str| {
            json!({"bucket": bucket, "role": role, "destination_bucket": destination,
                   "prefix": "img/", "storage_class": "STANDARD_IA"})
        };
        let case = Case::new(
            s3.registry(),
            "s3.configure_replication",
            params(bucket, role, destination),
        )
        .in_region(region)
        .refuses(params("Mint", role, destination), "bucket")
        .refuses(params(bucket, "s3-replication", destination), "role")
        .refuses(params(bucket, role, "arn:aws:s4:::x"), "destination_bucket")
        .refuses(params(bucket, role, bucket), "destination_bucket")
        .refuses(
            json!({"bucket": bucket, "role": role, "destination_bucket": destination,
                   "storage_class": "CHEAP"}),
            "storage_class",
        );
        mutating(&case, s3.as_ref()).await;
    }
}
