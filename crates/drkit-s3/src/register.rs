//! Registration of the S3 actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::AwsContext;
use drkit_core::ActionRef;
use drkit_core::registry::{
    ActionDescriptor, ActionSpec, BuildError, DuplicateKind, OutputDoc, ParamDoc, Registry,
    decode_params,
};

use crate::port::S3Api;
use crate::replication::{self, VerifyReplication, VerifyReplicationParams};
use crate::sdk::SdkS3;
use crate::website::{self, ConfigureWebsite, ConfigureWebsiteParams};

/// Builds the S3 port for a region (`None`: the default region).
pub type S3ApiFactory = Arc<dyn Fn(Option<&str>) -> Arc<dyn S3Api> + Send + Sync>;

const fn out(name: &'static str, doc: &'static str) -> OutputDoc {
    OutputDoc { name, doc }
}

/// `s3.verify_replication`.
pub const VERIFY_REPLICATION: ActionDescriptor = ActionDescriptor {
    kind: replication::KIND,
    summary: "Verify a bucket's replication (rules, versioning, destination) and, with a sample, \
              the data at risk",
    mutates: false,
    iam_actions: replication::IAM,
    params: &[
        ParamDoc::required("bucket", "string", "the source bucket"),
        ParamDoc::optional(
            "sample",
            "integer",
            "check the newest N objects: COMPLETED and present in the destination",
        ),
        ParamDoc::optional("prefix", "string", "sample only objects under this prefix"),
        ParamDoc::optional(
            "max_unreplicated_age",
            "duration",
            "the oldest an unreplicated object may be (default \"15m\", the files RPO)",
        ),
    ],
    outputs: &[
        out(
            "destinations",
            "`bucket (region)` of every enabled rule's destination",
        ),
        out("role", "the replication role"),
        out("sampled", "(sample) how many objects were looked at"),
        out("replicated", "(sample) how many are replicated"),
        out("unreplicated", "(sample) how many are not"),
        out(
            "rpo_seconds",
            "(sample) age of the oldest unreplicated object: data at risk",
        ),
        out("rpo_class", "(sample) `files`"),
        out("oldest_unreplicated", "(sample) its key"),
    ],
};

/// `s3.configure_website`.
pub const CONFIGURE_WEBSITE: ActionDescriptor = ActionDescriptor {
    kind: website::KIND,
    summary: "Serve a bucket as a website (index/error documents); rollback restores the previous \
              configuration",
    mutates: true,
    iam_actions: website::IAM,
    params: &[
        ParamDoc::required("bucket", "string", "the bucket"),
        ParamDoc::required(
            "index_document",
            "string",
            "the index document suffix, e.g. index.html",
        ),
        ParamDoc::optional(
            "error_document",
            "string",
            "the error document key, e.g. error.html",
        ),
    ],
    outputs: &[
        out("bucket", "the bucket"),
        out(
            "website_endpoint",
            "<bucket>.s3-website-<region>.amazonaws.com (step region given)",
        ),
        out("index_document", "the index document"),
        out("error_document", "the error document (empty when none)"),
        out(
            "previous_website",
            "when this step changed it: the configuration before (index/error documents or \
             redirect host), null when there was none; what a rollback restores",
        ),
    ],
};

/// Every S3 action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[VERIFY_REPLICATION, CONFIGURE_WEBSITE];

/// Registers every S3 action, talking to AWS as configured in `aws` (path-style addressing
/// when an endpoint is set).
pub fn register(registry: &mut Registry, aws: &AwsContext) -> Result<(), DuplicateKind> {
    let aws = aws.clone();
    register_with(
        registry,
        Arc::new(move |region| Arc::new(SdkS3::for_region(&aws, region)) as Arc<dyn S3Api>),
    )
}

/// Registers every S3 action with the given port factory (e.g. mocks).
pub fn register_with(registry: &mut Registry, ports: S3ApiFactory) -> Result<(), DuplicateKind> {
    let p = Arc::clone(&ports);
    registry.register_fn(VERIFY_REPLICATION, move |spec| {
        let params: VerifyReplicationParams = decode_params(spec)?;
        validate_bucket(spec, &params.bucket)?;
        if params.sample == Some(0) || params.sample.is_some_and(|n| n > 1_000) {
            return Err(BuildError::invalid(
                spec,
                Some("sample"),
                "must be 1 to 1,000",
            ));
        }
        let region = spec.region.as_deref();
        Ok(Arc::new(VerifyReplication::new(
            spec.id.clone(),
            params,
            Arc::clone(&p),
            region,
        )) as ActionRef)
    })?;
    registry.register_fn(CONFIGURE_WEBSITE, move |spec| {
        let params: ConfigureWebsiteParams = decode_params(spec)?;
        validate_bucket(spec, &params.bucket)?;
        if params.index_document.is_empty() || params.index_document.contains('/') {
            return Err(BuildError::invalid(
                spec,
                Some("index_document"),
                "must be a non-empty suffix without `/`, e.g. index.html",
            ));
        }
        if params.error_document.as_deref() == Some("") {
            return Err(BuildError::invalid(
                spec,
                Some("error_document"),
                "must not be empty",
            ));
        }
        let region = spec.region.as_deref();
        Ok(Arc::new(ConfigureWebsite::new(
            spec.id.clone(),
            params,
            ports(region),
            region,
        )) as ActionRef)
    })
}

/// S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with
/// a letter or digit.
fn validate_bucket(spec: &ActionSpec, bucket: &str) -> Result<(), BuildError> {
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
        Err(BuildError::invalid(
            spec,
            Some("bucket"),
            format!(
                "`{bucket}` is not a valid bucket name (3-63 lowercase letters, digits, dots, hyphens)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::port::MockS3Api;

    fn build(kind: &str, params: serde_json::Value) -> Result<ActionRef, BuildError> {
        let mut registry = Registry::new();
        register_with(
            &mut registry,
            Arc::new(|_| Arc::new(MockS3Api::new()) as Arc<dyn S3Api>),
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
}

#[cfg(test)]
mod docs_tests {
    use super::DESCRIPTORS;

    /// docs/actions/storage-dns-cdn.md names every registered kind and each of its parameters.
    #[test]
    fn the_actions_page_documents_every_action() {
        drkit_core::registry::documented(
            "docs/actions/storage-dns-cdn.md",
            include_str!("../../../docs/actions/storage-dns-cdn.md"),
            DESCRIPTORS,
        )
        .unwrap();
    }
}
