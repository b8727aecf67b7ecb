//! What the S3 kinds share.

use drkit_core::registry::ParamError;

/// S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with
/// a letter or digit.
pub(crate) fn bucket_name(bucket: &str) -> Result<(), ParamError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !bucket.contains("..");
    if ok {
        Ok(())
    } else {
        Err(ParamError::new(
            "bucket",
            format!(
                "`{bucket}` is not a valid bucket name (3-63 lowercase letters, digits, dots, hyphens)"
            ),
        ))
    }
}
