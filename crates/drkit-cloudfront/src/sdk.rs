//! The adapter: [`CloudFrontApi`] over `aws-sdk-cloudfront`.

use async_trait::async_trait;
use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use drkit_aws::SdkResultExt;
use drkit_core::{ActionError, ErrorKind};

use crate::port::{CloudFrontApi, Distribution, Invalidation, Routing};

drkit_aws::sdk_adapter! {
    /// [`CloudFrontApi`] over an `aws-sdk-cloudfront` client (CloudFront is global).
    pub struct SdkCloudFront(Client);
}

fn missing(operation: &str, what: &str) -> ActionError {
    ActionError::new(ErrorKind::Other, format!("the answer has no {what}"))
        .with_operation(operation)
}

fn invalidation(
    i: Option<&aws_sdk_cloudfront::types::Invalidation>,
    operation: &str,
) -> Result<Invalidation, ActionError> {
    let i = i.ok_or_else(|| missing(operation, "Invalidation"))?;
    Ok(Invalidation {
        id: i.id().to_owned(),
        status: i.status().to_owned(),
    })
}

#[async_trait]
impl CloudFrontApi for SdkCloudFront {
    async fn get_distribution(&self, id: &str) -> Result<Distribution, ActionError> {
        let out = self
            .client()
            .await
            .get_distribution()
            .id(id)
            .send()
            .await
            .or_action_error("GetDistribution")?;
        let d = out
            .distribution()
            .ok_or_else(|| missing("GetDistribution", "Distribution"))?;
        Ok(Distribution {
            id: d.id().to_owned(),
            status: d.status().to_owned(),
            enabled: d.distribution_config().is_some_and(|c| c.enabled()),
            domain_name: d.domain_name().to_owned(),
        })
    }

    async fn create_invalidation(
        &self,
        distribution: &str,
        paths: Vec<String>,
        caller_reference: &str,
    ) -> Result<Invalidation, ActionError> {
        let quantity =
            i32::try_from(paths.len()).map_err(|_| ActionError::invalid_input("too many paths"))?;
        let batch = InvalidationBatch::builder()
            .paths(
                Paths::builder()
                    .quantity(quantity)
                    .set_items(Some(paths))
                    .build()
                    .map_err(|e| ActionError::invalid_input(format!("paths: {e}")))?,
            )
            .caller_reference(caller_reference)
            .build()
            .map_err(|e| ActionError::invalid_input(format!("invalidation batch: {e}")))?;
        let out = self
            .client()
            .await
            .create_invalidation()
            .distribution_id(distribution)
            .invalidation_batch(batch)
            .send()
            .await
            .or_action_error("CreateInvalidation")?;
        invalidation(out.invalidation(), "CreateInvalidation")
    }

    async fn get_invalidation(
        &self,
        distribution: &str,
        id: &str,
    ) -> Result<Invalidation, ActionError> {
        let out = self
            .client()
            .await
            .get_invalidation()
            .distribution_id(distribution)
            .id(id)
            .send()
            .await
            .or_action_error("GetInvalidation")?;
        invalidation(out.invalidation(), "GetInvalidation")
    }

    async fn get_routing(&self, distribution: &str) -> Result<Routing, ActionError> {
        let out = self
            .client()
            .await
            .get_distribution_config()
            .id(distribution)
            .send()
            .await
            .or_action_error("GetDistributionConfig")?;
        let config = out
            .distribution_config()
            .ok_or_else(|| missing("GetDistributionConfig", "DistributionConfig"))?;
        let mut origins: Vec<String> = config
            .origins()
            .map(|o| o.items().iter().map(|i| i.id().to_owned()).collect())
            .unwrap_or_default();
        if let Some(groups) = config.origin_groups() {
            origins.extend(groups.items().iter().map(|g| g.id().to_owned()));
        }
        Ok(Routing {
            etag: out.e_tag().unwrap_or_default().to_owned(),
            origins,
            default_target: config
                .default_cache_behavior()
                .map(|b| b.target_origin_id().to_owned())
                .unwrap_or_default(),
            behaviours: config
                .cache_behaviors()
                .map(|c| {
                    c.items()
                        .iter()
                        .map(|b| (b.path_pattern().to_owned(), b.target_origin_id().to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    async fn set_routing(
        &self,
        distribution: &str,
        etag: &str,
        default_target: Option<String>,
        behaviours: Vec<(String, String)>,
    ) -> Result<(), ActionError> {
        let client = self.client().await;
        let out = client
            .get_distribution_config()
            .id(distribution)
            .send()
            .await
            .or_action_error("GetDistributionConfig")?;
        if out.e_tag() != Some(etag) {
            return Err(ActionError::new(
                ErrorKind::Conflict,
                "the distribution's config changed since it was read",
            )
            .with_code("PreconditionFailed")
            .with_operation("UpdateDistribution"));
        }
        let mut config = out
            .distribution_config
            .ok_or_else(|| missing("GetDistributionConfig", "DistributionConfig"))?;
        // The whole config goes back (UpdateDistribution replaces it); only targets change.
        if let (Some(target), Some(default)) =
            (default_target, config.default_cache_behavior.as_mut())
        {
            default.target_origin_id = target;
        }
        if let Some(items) = config
            .cache_behaviors
            .as_mut()
            .and_then(|c| c.items.as_mut())
        {
            for b in items {
                if let Some((_, target)) = behaviours.iter().find(|(p, _)| *p == b.path_pattern) {
                    b.target_origin_id.clone_from(target);
                }
            }
        }
        client
            .update_distribution()
            .id(distribution)
            .if_match(etag)
            .distribution_config(config)
            .send()
            .await
            .or_action_error("UpdateDistribution")?;
        Ok(())
    }
}
