//! `s3.configure_website`: serve a bucket (the replica) as a website — the seed's "failover to
//! replica bucket".

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params, Poll,
    PortFactory, Resource, StepSpec, wait_until,
};
use serde::Deserialize;

use crate::common::bucket_name;
use crate::port::{S3Api, WebsiteConfig};

/// The parameters of `s3.configure_website`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ConfigureWebsiteParams {
    /// The bucket.
    pub bucket: String,
    /// The index document suffix, e.g. `index.html`.
    pub index_document: String,
    /// The error document key, e.g. `error.html`.
    #[serde(default)]
    pub error_document: Option<String>,
}

/// The website endpoint of `bucket` in `region` (dash form in the regions that use it).
pub fn website_endpoint(bucket: &str, region: &str) -> String {
    const DASH: &[&str] = &[
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
        "us-gov-west-1",
    ];
    if DASH.contains(&region) {
        format!("{bucket}.s3-website-{region}.amazonaws.com")
    } else {
        format!("{bucket}.s3-website.{region}.amazonaws.com")
    }
}

/// Sets a bucket's website configuration (index and error documents) and waits until it reads
/// back.
///
/// - `check`: the bucket's configuration is already the wanted one -> done; the bucket does not
///   exist, or its configuration has routing rules (which drkit could not restore) -> blocked.
/// - `execute`: captures the configuration there was (once), `PutBucketWebsite`, waits until it
///   reads back.
/// - `rollback`: puts the previous configuration back, or deletes the configuration if there
///   was none.
///
/// Outputs: `bucket`, `website_endpoint` (when the region is known), `index_document`,
/// `error_document`.
#[derive(Debug, HasBase)]
pub struct ConfigureWebsite {
    base: Base<Self>,
    /// `Some(previous)` once this action has changed the configuration.
    previous: Mutex<Option<Option<WebsiteConfig>>>,
}

impl ActionKind for ConfigureWebsite {
    const KIND: &'static str = "s3.configure_website";
    const SUMMARY: &'static str = "Serve a bucket as a website (index/error documents); rollback \
                                   restores the previous configuration";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "s3:GetBucketWebsite",
        "s3:PutBucketWebsite",
        "s3:DeleteBucketWebsite",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("bucket", "the bucket"),
        OutputDoc::new(
            "website_endpoint",
            "<bucket>.s3-website-<region>.amazonaws.com (step region given)",
        ),
        OutputDoc::new("index_document", "the index document"),
        OutputDoc::new("error_document", "the error document (empty when none)"),
        OutputDoc::new(
            "previous_website",
            "when this step changed it: the configuration before (index/error documents or \
             redirect host), null when there was none; what a rollback restores",
        ),
    ];
    type Params = ConfigureWebsiteParams;
    type Port = dyn S3Api;
    type Ports = PortFactory<dyn S3Api>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        bucket_name(&p.bucket)?;
        if p.index_document.is_empty() || p.index_document.contains('/') {
            return Err(ParamError::new(
                "index_document",
                "must be a non-empty suffix without `/`, e.g. index.html",
            ));
        }
        if p.error_document.as_deref() == Some("") {
            return Err(ParamError::new("error_document", "must not be empty"));
        }
        Ok(())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let port = ports.get(step.region());
        let region = step.region.clone();
        Ok(Self::new(step.id, step.params, port, region.as_deref()))
    }
}

impl ConfigureWebsite {
    /// A step `id` for a bucket in `region`, through `api`.
    pub fn new(
        id: impl Into<String>,
        params: ConfigureWebsiteParams,
        api: Arc<dyn S3Api>,
        region: Option<&str>,
    ) -> Self {
        let target = Resource::new("s3", "bucket", params.bucket.clone()).in_region(region);
        Self {
            base: Base::new(id, params, target, api),
            previous: Mutex::new(None),
        }
    }

    fn wanted(&self) -> WebsiteConfig {
        WebsiteConfig::documents(
            &self.base.params.index_document,
            self.base.params.error_document.as_deref(),
        )
    }

    fn previous(&self) -> Option<Option<WebsiteConfig>> {
        self.previous
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_previous(&self, p: Option<Option<WebsiteConfig>>) {
        *self.previous.lock().unwrap_or_else(PoisonError::into_inner) = p;
    }

    fn outputs(&self) -> Outputs {
        let mut out = Outputs::new()
            .with("bucket", self.base.params.bucket.clone())
            .with("index_document", self.base.params.index_document.clone())
            .with(
                "error_document",
                self.base.params.error_document.clone().unwrap_or_default(),
            );
        if let Some(region) = &self.base.target.region {
            out.insert(
                "website_endpoint",
                website_endpoint(&self.base.params.bucket, region),
            );
        }
        // What a rollback restores when the instance that made the change is gone (a resume
        // in another process): the configuration before it, or null when there was none.
        if let Some(previous) = self.previous() {
            out.insert(
                "previous_website",
                previous.map_or(serde_json::Value::Null, |p| {
                    serde_json::json!({
                        "index_document": p.index_document,
                        "error_document": p.error_document,
                        "redirect_all_to": p.redirect_all_to,
                    })
                }),
            );
        }
        out
    }

    /// The configuration the step recorded as there before its change (`previous_website`):
    /// `Some(None)` when there was none, `None` when nothing was recorded.
    fn recorded_previous(&self, ctx: &Context) -> Option<Option<WebsiteConfig>> {
        let value = ctx.outputs_of(&self.base.id)?.get("previous_website")?;
        if value.is_null() {
            return Some(None);
        }
        let text = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        Some(Some(WebsiteConfig {
            index_document: text("index_document"),
            error_document: text("error_document"),
            redirect_all_to: text("redirect_all_to"),
            has_routing_rules: false,
        }))
    }

    async fn current(&self, ctx: &Context) -> Result<Option<WebsiteConfig>, ActionError> {
        ctx.bounded(self.base.port.website(&self.base.params.bucket))
            .await
    }

    async fn wait_for(
        &self,
        ctx: &Context,
        wanted: Option<WebsiteConfig>,
    ) -> Result<(), ActionError> {
        let what = format!(
            "the website configuration of {} to read back as {}",
            self.base.params.bucket,
            wanted
                .as_ref()
                .map_or("none".into(), WebsiteConfig::describe)
        );
        wait_until(ctx, &what, &self.base.wait, || async {
            let now = self.current(ctx).await?;
            Ok(if now == wanted {
                Poll::Ready(())
            } else {
                Poll::Pending(now.as_ref().map_or("none".into(), WebsiteConfig::describe))
            })
        })
        .await
    }
}

#[async_trait]
impl Act for ConfigureWebsite {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let current = match self.current(ctx).await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "bucket {} does not exist",
                    self.base.params.bucket
                )));
            }
            Err(e) => return Err(e),
        };
        let wanted = self.wanted();
        match current {
            Some(c) if c == wanted => Ok(Check::Done {
                detail: format!("bucket {} serves {}", self.base.params.bucket, c.describe()),
                outputs: self.outputs(),
            }),
            Some(c) if c.has_routing_rules && self.previous().is_none() => {
                Ok(Check::blocked(format!(
                    "bucket {} has a website configuration with routing rules ({}); drkit could not \
                 restore them on rollback",
                    self.base.params.bucket,
                    c.describe()
                )))
            }
            other => Ok(Check::ready(format!(
                "set the website configuration of {} to {} (was {})",
                self.base.params.bucket,
                wanted.describe(),
                other
                    .as_ref()
                    .map_or("none".into(), WebsiteConfig::describe)
            ))),
        }
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let wanted = self.wanted();
        if self.previous().is_none() {
            let current = self.current(ctx).await?;
            if current.as_ref() == Some(&wanted) {
                ctx.progress("the website configuration is already the wanted one");
                return Ok(self.outputs());
            }
            if current.as_ref().is_some_and(|c| c.has_routing_rules) {
                return Err(ActionError::precondition(format!(
                    "bucket {} has routing rules that drkit could not restore",
                    self.base.params.bucket
                )));
            }
            // Remembered before the call: if the call times out after taking effect, a
            // rollback still knows what to restore.
            self.set_previous(Some(current));
        }
        ctx.bounded(
            self.base
                .port
                .put_website(&self.base.params.bucket, wanted.clone()),
        )
        .await
        .map_err(|e| e.with_operation("PutBucketWebsite"))?;
        ctx.progress(format!(
            "PutBucketWebsite {}: {}",
            self.base.params.bucket,
            wanted.describe()
        ));
        self.wait_for(ctx, Some(wanted)).await?;
        Ok(self.outputs())
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let current = self.current(ctx).await?;
        if current == Some(self.wanted()) {
            Ok(format!(
                "bucket {} serves {}",
                self.base.params.bucket,
                self.wanted().describe()
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "the website configuration of {} is {}",
                self.base.params.bucket,
                current
                    .as_ref()
                    .map_or("none".into(), WebsiteConfig::describe)
            )))
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let Some(previous) = self.previous().or_else(|| self.recorded_previous(ctx)) else {
            return Err(ActionError::unsupported(
                "nothing to roll back: this action did not change the website configuration",
            ));
        };
        match &previous {
            Some(config) => ctx
                .bounded(
                    self.base
                        .port
                        .put_website(&self.base.params.bucket, config.clone()),
                )
                .await
                .map_err(|e| e.with_operation("PutBucketWebsite"))?,
            None => ctx
                .bounded(self.base.port.delete_website(&self.base.params.bucket))
                .await
                .map_err(|e| e.with_operation("DeleteBucketWebsite"))?,
        }
        self.wait_for(ctx, previous).await?;
        self.set_previous(None);
        Ok(())
    }
}
