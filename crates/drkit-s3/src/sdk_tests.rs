//! Tests of `sdk.rs`.

#[test]
fn the_versioning_status_is_read_from_a_body_the_sdk_refuses() {
    let moto = "<?xml version=\"1.0\"?>\n<GetBucketVersioningResponse xmlns=\"x\"><Status>Enabled</Status></GetBucketVersioningResponse>";
    assert_eq!(super::versioning_status_in(moto), "Enabled");
    assert_eq!(
        super::versioning_status_in("<GetBucketVersioningResponse/>"),
        ""
    );
}

#[test]
fn bucket_names_come_from_arns() {
    assert_eq!(super::bucket_of_arn("arn:aws:s3:::mint-dr"), "mint-dr");
    assert_eq!(super::bucket_of_arn("mint-dr"), "mint-dr");
}
