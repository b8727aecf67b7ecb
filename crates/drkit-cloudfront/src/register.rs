//! Registration of the CloudFront actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::AwsContext;
use drkit_core::ActionRef;
use drkit_core::registry::{
    ActionDescriptor, BuildError, DuplicateKind, OutputDoc, ParamDoc, Registry, decode_params,
};

use crate::actions::{
    self, CheckDistribution, DistributionParams, Invalidate, InvalidateParams, paths_problem,
};
use crate::port::CloudFrontApi;
use crate::sdk::SdkCloudFront;

const fn out(name: &'static str, doc: &'static str) -> OutputDoc {
    OutputDoc { name, doc }
}

/// `cloudfront.invalidate`.
pub const INVALIDATE: ActionDescriptor = ActionDescriptor {
    kind: actions::INVALIDATE_KIND,
    summary: "Invalidate paths of a distribution and wait until the invalidation is Completed",
    mutates: true,
    iam_actions: actions::INVALIDATE_IAM,
    params: &[
        ParamDoc::required("distribution", "string", "the distribution id"),
        ParamDoc::required(
            "paths",
            "list of strings",
            "paths starting with `/` (`/*`: everything); at most 3,000, 15 with a wildcard",
        ),
    ],
    outputs: &[
        out("invalidation_id", "the invalidation's id"),
        out("status", "`Completed`"),
        out(
            "caller_reference",
            "the caller reference sent (drkit-<step>-<time>)",
        ),
    ],
};

/// `cloudfront.check_distribution`.
pub const CHECK_DISTRIBUTION: ActionDescriptor = ActionDescriptor {
    kind: actions::CHECK_KIND,
    summary: "Probe a distribution: Deployed and enabled",
    mutates: false,
    iam_actions: actions::CHECK_IAM,
    params: &[ParamDoc::required(
        "distribution",
        "string",
        "the distribution id",
    )],
    outputs: &[
        out("status", "`Deployed`"),
        out("enabled", "true"),
        out("domain_name", "its domain name (`d...cloudfront.net`)"),
    ],
};

/// Every CloudFront action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[INVALIDATE, CHECK_DISTRIBUTION];

/// Registers every CloudFront action, talking to AWS as configured in `aws` (CloudFront is
/// global: the step's region is ignored).
pub fn register(registry: &mut Registry, aws: &AwsContext) -> Result<(), DuplicateKind> {
    register_with(
        registry,
        Arc::new(SdkCloudFront::from_config(aws.sdk_config())),
    )
}

/// Registers every CloudFront action over `api` (e.g. a mock).
pub fn register_with(
    registry: &mut Registry,
    api: Arc<dyn CloudFrontApi>,
) -> Result<(), DuplicateKind> {
    let a = Arc::clone(&api);
    registry.register_fn(INVALIDATE, move |spec| {
        let params: InvalidateParams = decode_params(spec)?;
        validate_distribution(spec, &params.distribution)?;
        if let Some(problem) = paths_problem(&params.paths) {
            return Err(BuildError::invalid(spec, Some("paths"), problem));
        }
        Ok(Arc::new(Invalidate::new(spec.id.clone(), params, Arc::clone(&a))) as ActionRef)
    })?;
    registry.register_fn(CHECK_DISTRIBUTION, move |spec| {
        let params: DistributionParams = decode_params(spec)?;
        validate_distribution(spec, &params.distribution)?;
        Ok(Arc::new(CheckDistribution::new(
            spec.id.clone(),
            params,
            Arc::clone(&api),
        )) as ActionRef)
    })
}

fn validate_distribution(
    spec: &drkit_core::registry::ActionSpec,
    id: &str,
) -> Result<(), BuildError> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(BuildError::invalid(
            spec,
            Some("distribution"),
            format!("`{id}` is not a distribution id (letters and digits, e.g. E2QWRUHAPOMQZL)"),
        ));
    }
    Ok(())
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
