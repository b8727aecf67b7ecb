//! `s3.configure_website`: serve a bucket (the replica) as a website — the seed's "failover to
//! replica bucket".

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::Memo;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params, Poll,
    PortFactory, Resource, StepSpec, wait_until,
};
use serde::Deserialize;

use crate::common::bucket_name;
use crate::port::{S3Api, WebsiteConfig};
use crate::public::public_read_problem;

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
    /// The host name clients use, e.g. `www.example.com`. A website endpoint picks the bucket
    /// by the request's `Host` header, so a CNAME of this name to the endpoint reaches the
    /// bucket only when the bucket has this very name: refused otherwise, unless
    /// `behind_cloudfront`.
    #[serde(default)]
    pub host_name: Option<String>,
    /// Clients reach the website through a CloudFront distribution whose origin is the
    /// website endpoint (a custom origin, HTTP only), which sends the endpoint's own host name:
    /// the bucket's name need not be `host_name`.
    #[serde(default)]
    pub behind_cloudfront: bool,
}

/// The website endpoint of `bucket` in `region`: `s3-website-REGION` in the regions that
/// have that form (AWS's table: us-east-1, us-west-1, us-west-2, eu-west-1, ap-southeast-1,
/// ap-southeast-2, ap-northeast-1, sa-east-1, us-gov-west-1), `s3-website.REGION` in the
/// others; `amazonaws.com.cn` in the China regions. It serves HTTP only.
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
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    if DASH.contains(&region) {
        format!("{bucket}.s3-website-{region}.{domain}")
    } else {
        format!("{bucket}.s3-website.{region}.{domain}")
    }
}

/// `host` without a final dot, lowercase (DNS names are case-insensitive).
fn dns_name(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Sets a bucket's website configuration (index and error documents) and waits until it reads
/// back — for a website that can serve: the website endpoint sends anonymous requests, so the
/// bucket's objects must be readable by anyone.
///
/// - `check`: blocked when the bucket does not exist, when its configuration has routing rules
///   (which drkit could not restore), or when the website could not serve: the bucket's Block
///   Public Access has `RestrictPublicBuckets` on, or no bucket policy grants `s3:GetObject` to
///   `Principal: "*"` (the account-level Block Public Access and object ACLs are not read);
///   done when the configuration is already the wanted one.
/// - `execute`: the same preconditions; captures the configuration there was (once),
///   `PutBucketWebsite`, waits until it reads back.
/// - `verify`: the configuration reads back and the website can still serve.
/// - `rollback`: puts the previous configuration back, or deletes the configuration if there
///   was none.
///
/// The website endpoint is the one of the bucket's own region (`GetBucketLocation`), whatever
/// the step's; it serves HTTP only (HTTPS needs CloudFront in front). With `host_name` and
/// without `behind_cloudfront`, the bucket must be named `host_name` (validated).
#[derive(Debug, HasBase)]
pub struct ConfigureWebsite {
    base: Base<Self>,
    /// `Some(previous)` once this action has changed the configuration.
    previous: Memo<Option<WebsiteConfig>>,
    /// The bucket's region, once read.
    region: Memo<String>,
}

impl ActionKind for ConfigureWebsite {
    const KIND: &'static str = "s3.configure_website";
    const SUMMARY: &'static str = "Serve a bucket as a website (index/error documents) once it is \
                                   publicly readable; rollback restores the previous configuration";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "s3:GetBucketWebsite",
        "s3:PutBucketWebsite",
        "s3:DeleteBucketWebsite",
        "s3:GetBucketLocation",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetBucketPolicy",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("bucket", "the bucket"),
        OutputDoc::new(
            "website_endpoint",
            "<bucket>.s3-website-<region>.amazonaws.com (or s3-website.<region>, by region), in \
             the bucket's own region",
        ),
        OutputDoc::new(
            "website_url",
            "where the website answers: http://<host_name>/ for a direct CNAME, else              http://<website_endpoint>/ (CloudFront's origin); website endpoints serve HTTP only",
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
        if let Some(host) = &p.host_name {
            let name = dns_name(host);
            if name.is_empty()
                || !name.split('.').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
            {
                return Err(ParamError::new(
                    "host_name",
                    format!("`{host}` is not a host name, e.g. www.example.com"),
                ));
            }
            if !p.behind_cloudfront && name != p.bucket {
                return Err(ParamError::new(
                    "host_name",
                    format!(
                        "a CNAME {name} -> the website endpoint of bucket {} would be answered \
                         NoSuchBucket: the endpoint picks the bucket by the Host header, so the \
                         bucket must be named {name}; or serve it through CloudFront \
                         (behind_cloudfront = true)",
                        p.bucket
                    ),
                ));
            }
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
    /// A step `id` for a bucket, through `api` (the S3 port of the step's `region`).
    pub fn new(
        id: impl Into<String>,
        params: ConfigureWebsiteParams,
        api: Arc<dyn S3Api>,
        region: Option<&str>,
    ) -> Self {
        let target = Resource::new("s3", "bucket", params.bucket.clone()).in_region(region);
        Self {
            base: Base::new(id, params, target, api),
            previous: Memo::default(),
            region: Memo::default(),
        }
    }

    fn wanted(&self) -> WebsiteConfig {
        WebsiteConfig::documents(
            &self.base.params.index_document,
            self.base.params.error_document.as_deref(),
        )
    }

    /// The bucket's region (`GetBucketLocation`, read once).
    async fn bucket_region(&self, ctx: &Context) -> Result<String, ActionError> {
        let known = self.region.get();
        if let Some(region) = known {
            return Ok(region);
        }
        let region = ctx
            .bounded(self.base.port.bucket_region(&self.base.params.bucket))
            .await?;
        self.region.set(region.clone());
        Ok(region)
    }

    fn outputs(&self, region: &str) -> Outputs {
        let p = &self.base.params;
        let endpoint = website_endpoint(&p.bucket, region);
        let host = match (&p.host_name, p.behind_cloudfront) {
            (Some(host), false) => dns_name(host),
            _ => endpoint.clone(),
        };
        let mut out = Outputs::new()
            .with("bucket", p.bucket.clone())
            .with("website_endpoint", endpoint)
            .with("website_url", format!("http://{host}/"))
            .with("index_document", p.index_document.clone())
            .with(
                "error_document",
                p.error_document.clone().unwrap_or_default(),
            );
        // What a rollback restores when the instance that made the change is gone (a resume
        // in another process): the configuration before it, or null when there was none.
        if let Some(previous) = self.previous.get() {
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

    /// How clients reach it, for messages.
    fn served_as(&self, region: &str) -> String {
        let p = &self.base.params;
        let endpoint = website_endpoint(&p.bucket, region);
        match (&p.host_name, p.behind_cloudfront) {
            (Some(host), true) => format!(
                "{} through CloudFront, whose origin is http://{endpoint} (HTTP only)",
                dns_name(host)
            ),
            (Some(host), false) => format!(
                "http://{}/ (a CNAME to {endpoint}; HTTP only: HTTPS needs CloudFront)",
                dns_name(host)
            ),
            (None, _) => format!("http://{endpoint}/ (HTTP only)"),
        }
    }

    /// Why the website could not serve anonymous readers (`Err`), or a note (`Ok(Some)`).
    async fn serving_problem(
        &self,
        ctx: &Context,
    ) -> Result<Result<Option<String>, String>, ActionError> {
        let bucket = &self.base.params.bucket;
        let block = ctx
            .bounded(self.base.port.public_access_block(bucket))
            .await?;
        let policy = ctx.bounded(self.base.port.bucket_policy(bucket)).await?;
        Ok(public_read_problem(
            bucket,
            &self.base.params.index_document,
            block,
            policy.as_deref(),
        ))
    }

    /// The region, and why the website could not serve; a missing bucket is `NotFound`.
    async fn preconditions(
        &self,
        ctx: &Context,
    ) -> Result<(String, Result<Option<String>, String>), ActionError> {
        let region = self.bucket_region(ctx).await?;
        let problem = self.serving_problem(ctx).await?;
        Ok((region, problem))
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

/// `detail`, with `note` after it when there is one.
fn noted(detail: String, note: Option<String>) -> String {
    match note {
        Some(n) => format!("{detail}; {n}"),
        None => detail,
    }
}

#[async_trait]
impl Act for ConfigureWebsite {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let bucket = &self.base.params.bucket;
        let current = match self.current(ctx).await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!("bucket {bucket} does not exist")));
            }
            Err(e) => return Err(e),
        };
        let (region, problem) = self.preconditions(ctx).await?;
        let note = match problem {
            Ok(note) => note,
            Err(why) => {
                return Ok(Check::blocked(format!(
                    "the website of bucket {bucket} could not serve: {why}"
                )));
            }
        };
        let wanted = self.wanted();
        match current {
            Some(c) if c == wanted => Ok(Check::Done {
                detail: noted(
                    format!(
                        "bucket {bucket} serves {} at {}",
                        c.describe(),
                        self.served_as(&region)
                    ),
                    note,
                ),
                outputs: self.outputs(&region),
            }),
            Some(c) if c.has_routing_rules && self.previous.get().is_none() => {
                Ok(Check::blocked(format!(
                    "bucket {bucket} has a website configuration with routing rules ({}); drkit \
                     could not restore them on rollback",
                    c.describe()
                )))
            }
            other => Ok(Check::ready(noted(
                format!(
                    "set the website configuration of {bucket} to {} (was {}), served at {}",
                    wanted.describe(),
                    other
                        .as_ref()
                        .map_or("none".into(), WebsiteConfig::describe),
                    self.served_as(&region)
                ),
                note,
            ))),
        }
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let bucket = &self.base.params.bucket;
        let (region, problem) = self.preconditions(ctx).await?;
        if let Err(why) = problem {
            return Err(ActionError::precondition(format!(
                "the website of bucket {bucket} could not serve: {why}"
            )));
        }
        let wanted = self.wanted();
        if self.previous.get().is_none() {
            let current = self.current(ctx).await?;
            if current.as_ref() == Some(&wanted) {
                ctx.progress("the website configuration is already the wanted one");
                return Ok(self.outputs(&region));
            }
            if current.as_ref().is_some_and(|c| c.has_routing_rules) {
                return Err(ActionError::precondition(format!(
                    "bucket {bucket} has routing rules that drkit could not restore"
                )));
            }
            // Remembered before the call: if the call times out after taking effect, a
            // rollback still knows what to restore.
            self.previous.set(current);
        }
        ctx.bounded(self.base.port.put_website(bucket, wanted.clone()))
            .await
            .map_err(|e| e.with_operation("PutBucketWebsite"))?;
        ctx.progress(format!("PutBucketWebsite {bucket}: {}", wanted.describe()));
        self.wait_for(ctx, Some(wanted)).await?;
        Ok(self.outputs(&region))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let bucket = &self.base.params.bucket;
        let current = self.current(ctx).await?;
        if current != Some(self.wanted()) {
            return Err(ActionError::postcondition(format!(
                "the website configuration of {bucket} is {}",
                current
                    .as_ref()
                    .map_or("none".into(), WebsiteConfig::describe)
            )));
        }
        let (region, problem) = self.preconditions(ctx).await?;
        match problem {
            Ok(note) => Ok(noted(
                format!(
                    "bucket {bucket} serves {} at {}",
                    self.wanted().describe(),
                    self.served_as(&region)
                ),
                note,
            )),
            Err(why) => Err(ActionError::postcondition(format!(
                "the website of bucket {bucket} could not serve: {why}"
            ))),
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let Some(previous) = self.previous.get().or_else(|| self.recorded_previous(ctx)) else {
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
        self.previous.clear();
        Ok(())
    }
}
