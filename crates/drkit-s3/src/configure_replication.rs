//! `s3.configure_replication`: set a bucket's replication (issue 18, "Failback and
//! reprotect": replicate the other way, from the promoted Region's bucket back to the old one).

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::Memo;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params, Poll,
    PortFactory, Resource, StepSpec, wait_until,
};
use serde::Deserialize;
use serde_json::Value;

use crate::common::bucket_name;
use crate::port::{ReplicationSetting, RuleSetting, S3Api};

/// The storage classes a replication destination accepts (`Destination.StorageClass`).
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
];

fn default_rule_id() -> String {
    "drkit-replication".to_owned()
}

/// The parameters of `s3.configure_replication`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ConfigureReplicationParams {
    /// The source bucket (in the step's region), whose configuration is replaced.
    pub bucket: String,
    /// The IAM role S3 replicates as (`arn:aws:iam::<account>:role/<name>`): drkit passes it
    /// to S3 (`iam:PassRole`).
    pub role: String,
    /// The destination bucket: its name or ARN (`arn:aws:s3:::<name>`).
    pub destination_bucket: String,
    /// The rule's `ID` (default `drkit-replication`).
    #[serde(default = "default_rule_id")]
    pub rule_id: String,
    /// Replicate only keys under this prefix (default: every object).
    #[serde(default)]
    pub prefix: Option<String>,
    /// The replicas' storage class (default: the source object's).
    #[serde(default)]
    pub storage_class: Option<String>,
    /// Replicate delete markers too (default `false`).
    #[serde(default)]
    pub delete_marker_replication: bool,
}

impl ConfigureReplicationParams {
    /// Replicate every object of `bucket` to `destination` as `role`.
    pub fn new(
        bucket: impl Into<String>,
        role: impl Into<String>,
        destination: impl Into<String>,
    ) -> Self {
        Self {
            bucket: bucket.into(),
            role: role.into(),
            destination_bucket: destination.into(),
            rule_id: default_rule_id(),
            prefix: None,
            storage_class: None,
            delete_marker_replication: false,
        }
    }

    /// The destination bucket's name.
    fn destination_name(&self) -> &str {
        self.destination_bucket
            .rsplit(":::")
            .next()
            .unwrap_or(&self.destination_bucket)
    }

    /// The configuration this step puts: one rule, schema V2 (`Filter`, so
    /// `DeleteMarkerReplication` is required, and `Priority`).
    fn wanted(&self) -> ReplicationSetting {
        ReplicationSetting {
            role: self.role.clone(),
            rules: vec![RuleSetting {
                id: Some(self.rule_id.clone()),
                priority: Some(1),
                enabled: true,
                filter_prefix: Some(self.prefix.clone().unwrap_or_default()),
                legacy_prefix: None,
                destination_arn: format!("arn:aws:s3:::{}", self.destination_name()),
                storage_class: self.storage_class.clone(),
                delete_marker_replication: Some(self.delete_marker_replication),
            }],
            unmodelled: Vec::new(),
        }
    }
}

/// `a rule -> b (prefix p, ...)`, for messages.
pub(crate) fn describe(setting: Option<&ReplicationSetting>) -> String {
    let Some(s) = setting else {
        return "none".to_owned();
    };
    let rules: Vec<String> = s
        .rules
        .iter()
        .map(|r| {
            format!(
                "rule {} ({}) -> {}{}",
                r.id.as_deref().unwrap_or("(no id)"),
                if r.enabled { "Enabled" } else { "Disabled" },
                r.destination_arn.rsplit(":::").next().unwrap_or_default(),
                match r.filter_prefix.as_deref().or(r.legacy_prefix.as_deref()) {
                    Some(p) if !p.is_empty() => format!(" under {p}"),
                    _ => String::new(),
                }
            )
        })
        .collect();
    format!("role {}, {}", s.role, rules.join(", "))
}

/// `s3.configure_replication`: sets a bucket's replication configuration
/// (`PutBucketReplication`, which replaces the whole configuration) to one rule replicating
/// every object (or those under `prefix`) to `destination_bucket` as `role`, and waits until
/// `GetBucketReplication` reads it back. Blocked unless versioning is `Enabled` on both buckets
/// (S3 refuses replication otherwise), and when the current configuration has parts drkit does
/// not model (it could not restore them). The configuration before (or none) is journalled
/// before the call and output as `previous_replication`; rollback puts it back exactly, or
/// deletes the configuration when there was none.
#[derive(Debug, HasBase)]
pub struct ConfigureReplication {
    base: Base<Self>,
    ports: PortFactory<dyn S3Api>,
    previous: Previous,
}

/// What the replication kinds share: the configuration before the change (`Some(previous)`
/// once the action decided to change it; `previous` itself `None` when there was none),
/// journalled as the intent before the call and output as `previous_replication`, and what
/// reads, waits for and restores a bucket's configuration.
#[derive(Debug, Default)]
pub(crate) struct Previous(Memo<Option<ReplicationSetting>>);

impl Previous {
    pub(crate) fn get(&self) -> Option<Option<ReplicationSetting>> {
        self.0.get()
    }

    pub(crate) fn set(&self, p: Option<Option<ReplicationSetting>>) {
        self.0.replace(p);
    }

    /// What an earlier attempt or run part of step `id` recorded as the configuration before
    /// its change: the journalled intent, else the step's recorded outputs.
    pub(crate) fn recorded(ctx: &Context, id: &str) -> Option<Option<ReplicationSetting>> {
        let decode =
            |v: &Value| serde_json::from_value::<Option<ReplicationSetting>>(v.clone()).ok();
        ctx.intent()
            .and_then(|i| i.get("previous_replication").and_then(decode))
            .or_else(|| {
                ctx.outputs_of(id)
                    .and_then(|o| o.get("previous_replication").and_then(decode))
            })
    }

    /// Adopts what an earlier attempt recorded, when nothing is known yet.
    pub(crate) fn adopt(&self, ctx: &Context, id: &str) -> bool {
        if self.get().is_none()
            && let Some(recorded) = Self::recorded(ctx, id)
        {
            self.set(Some(recorded));
        }
        self.get().is_some()
    }

    /// Journals `current` as the configuration before the change (before the call: if it
    /// takes effect and the answer or the process is lost, a rollback still knows what to
    /// restore), and keeps it.
    pub(crate) async fn record(
        &self,
        ctx: &Context,
        current: Option<ReplicationSetting>,
    ) -> Result<(), ActionError> {
        ctx.record_intent(Outputs::new().with("previous_replication", encode(current.as_ref())))
            .await?;
        self.set(Some(current));
        Ok(())
    }

    /// `previous_replication` in `out`, when this step changed the configuration.
    pub(crate) fn output(&self, out: &mut Outputs) {
        if let Some(previous) = self.get() {
            out.insert("previous_replication", encode(previous.as_ref()));
        }
    }

    /// Puts the configuration before back (or deletes the configuration when there was none)
    /// and waits until it reads back.
    pub(crate) async fn restore<K: ActionKind<Port = dyn S3Api>>(
        &self,
        ctx: &Context,
        base: &Base<K>,
        bucket: &str,
    ) -> Result<(), ActionError> {
        let Some(previous) = self.get().or_else(|| Self::recorded(ctx, &base.id)) else {
            return Err(ActionError::unsupported(
                "nothing to roll back: this step did not change the replication configuration",
            ));
        };
        match &previous {
            Some(config) => ctx
                .bounded(base.port.put_replication(bucket, config))
                .await
                .map_err(|e| e.with_operation("PutBucketReplication"))?,
            None => ctx
                .bounded(base.port.delete_replication(bucket))
                .await
                .map_err(|e| e.with_operation("DeleteBucketReplication"))?,
        }
        wait_for(ctx, base, bucket, previous.as_ref()).await?;
        self.set(None);
        Ok(())
    }
}

/// The bucket's replication configuration now.
pub(crate) async fn current<K: ActionKind<Port = dyn S3Api>>(
    ctx: &Context,
    base: &Base<K>,
    bucket: &str,
) -> Result<Option<ReplicationSetting>, ActionError> {
    ctx.bounded(base.port.replication_setting(bucket)).await
}

/// Waits until the bucket's configuration reads back as `wanted` (S3 takes a while to
/// propagate a change).
pub(crate) async fn wait_for<K: ActionKind<Port = dyn S3Api>>(
    ctx: &Context,
    base: &Base<K>,
    bucket: &str,
    wanted: Option<&ReplicationSetting>,
) -> Result<(), ActionError> {
    let what = format!(
        "the replication of {bucket} to read back as {}",
        describe(wanted)
    );
    wait_until(ctx, &what, &base.wait, || async {
        let now = current(ctx, base, bucket).await?;
        Ok(if now.as_ref() == wanted {
            Poll::Ready(())
        } else {
            Poll::Pending(describe(now.as_ref()))
        })
    })
    .await
}

impl ActionKind for ConfigureReplication {
    const KIND: &'static str = "s3.configure_replication";
    const SUMMARY: &'static str = "Set a bucket's replication to a destination bucket; rollback \
                                   restores the previous configuration";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "s3:GetBucketVersioning",
        "s3:GetBucketLocation",
        "s3:GetReplicationConfiguration",
        "s3:PutReplicationConfiguration",
        "iam:PassRole",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("bucket", "the source bucket"),
        OutputDoc::new("destination_bucket", "the destination bucket's name"),
        OutputDoc::new("destination_region", "the destination bucket's region"),
        OutputDoc::new("role", "the replication role"),
        OutputDoc::new("rule_id", "the rule's ID"),
        OutputDoc::new(
            "previous_replication",
            "the configuration before (role and rules), null when there was none: what \
             rollback restores (present when this step changed it)",
        ),
    ];
    type Params = ConfigureReplicationParams;
    type Port = dyn S3Api;
    type Ports = PortFactory<dyn S3Api>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        bucket_name(&p.bucket)?;
        let parts: Vec<&str> = p.role.split(':').collect();
        if parts.len() != 6
            || parts[0] != "arn"
            || !parts[1].starts_with("aws")
            || parts[2] != "iam"
            || !parts[5].starts_with("role/")
        {
            return Err(ParamError::new(
                "role",
                format!(
                    "`{}` is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
                    p.role
                ),
            ));
        }
        let dest = p.destination_name();
        let arn_ok = !p.destination_bucket.starts_with("arn:")
            || p.destination_bucket
                .split(":::")
                .next()
                .is_some_and(|head| head.starts_with("arn:aws") && head.ends_with(":s3"));
        if !arn_ok || bucket_name(dest).is_err() {
            return Err(ParamError::new(
                "destination_bucket",
                format!(
                    "`{}` is not a bucket name or ARN (arn:aws:s3:::<name>)",
                    p.destination_bucket
                ),
            ));
        }
        if dest == p.bucket {
            return Err(ParamError::new(
                "destination_bucket",
                "a bucket cannot replicate to itself",
            ));
        }
        if p.rule_id.is_empty() || p.rule_id.len() > 255 {
            return Err(ParamError::new("rule_id", "1 to 255 characters"));
        }
        if let Some(class) = &p.storage_class
            && !STORAGE_CLASSES.contains(&class.as_str())
        {
            return Err(ParamError::new(
                "storage_class",
                format!(
                    "`{class}` is not a replication storage class ({})",
                    STORAGE_CLASSES.join(", ")
                ),
            ));
        }
        Ok(())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = Resource::new("s3", "bucket", step.params.bucket.clone());
        Ok(Self {
            base: step.into_base(target, ports),
            ports: ports.clone(),
            previous: Previous::default(),
        })
    }
}

impl ConfigureReplication {
    /// Configure `params` with `port` (embedded use: every bucket through that port).
    pub fn new(
        id: impl Into<String>,
        params: ConfigureReplicationParams,
        port: Arc<dyn S3Api>,
    ) -> Self {
        Self {
            base: Base::new(
                id,
                params.clone(),
                Resource::new("s3", "bucket", params.bucket),
                Arc::clone(&port),
            ),
            ports: PortFactory::fixed(port),
            previous: Previous::default(),
        }
    }

    /// Why replication cannot be set (`Err`), else the destination's region: versioning must
    /// be `Enabled` on both buckets.
    async fn preconditions(&self, ctx: &Context) -> Result<Result<String, String>, ActionError> {
        let p = &self.base.params;
        let dest = p.destination_name();
        let versioning = ctx.bounded(self.base.port.versioning(&p.bucket)).await?;
        if versioning != "Enabled" {
            return Ok(Err(not_versioned("source", &p.bucket, &versioning)));
        }
        let region = match ctx.bounded(self.base.port.bucket_region(dest)).await {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Err(format!("destination bucket {dest} does not exist")));
            }
            Err(e) => return Err(e),
        };
        let dest_port = self.ports.get(Some(&region));
        let versioning = ctx.bounded(dest_port.versioning(dest)).await?;
        if versioning != "Enabled" {
            return Ok(Err(not_versioned("destination", dest, &versioning)));
        }
        Ok(Ok(region))
    }

    fn outputs(&self, region: &str) -> Outputs {
        let p = &self.base.params;
        let mut out = Outputs::new()
            .with("bucket", p.bucket.clone())
            .with("destination_bucket", p.destination_name())
            .with("destination_region", region)
            .with("role", p.role.clone())
            .with("rule_id", p.rule_id.clone());
        self.previous.output(&mut out);
        out
    }
}

fn not_versioned(which: &str, bucket: &str, status: &str) -> String {
    format!(
        "versioning is not enabled on the {which} bucket {bucket} ({}): S3 replicates only \
         between versioned buckets",
        if status.is_empty() {
            "never enabled"
        } else {
            status
        }
    )
}

fn encode(setting: Option<&ReplicationSetting>) -> Value {
    serde_json::to_value(setting).unwrap_or(Value::Null)
}

pub(crate) fn cannot_restore(bucket: &str, current: &ReplicationSetting) -> String {
    format!(
        "bucket {bucket} has a replication configuration with {} that drkit does not model and \
         could not restore on rollback: change it by hand",
        current.unmodelled.join(", ")
    )
}

#[async_trait]
impl Act for ConfigureReplication {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let p = &self.base.params;
        let current = match current(ctx, &self.base, &p.bucket).await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "bucket {} does not exist",
                    p.bucket
                )));
            }
            Err(e) => return Err(e),
        };
        let region = match self.preconditions(ctx).await? {
            Ok(region) => region,
            Err(why) => return Ok(Check::blocked(why)),
        };
        let wanted = p.wanted();
        if current.as_ref() == Some(&wanted) {
            self.previous.adopt(ctx, &self.base.id);
            return Ok(Check::Done {
                detail: format!(
                    "bucket {} replicates: {}",
                    p.bucket,
                    describe(Some(&wanted))
                ),
                outputs: self.outputs(&region),
            });
        }
        match &current {
            Some(c) if !c.unmodelled.is_empty() => Ok(Check::blocked(cannot_restore(&p.bucket, c))),
            _ => Ok(Check::ready(format!(
                "PutBucketReplication on {}: {} (replaces {})",
                p.bucket,
                describe(Some(&wanted)),
                describe(current.as_ref())
            ))),
        }
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = &self.base.params;
        let region = self
            .preconditions(ctx)
            .await?
            .map_err(ActionError::precondition)?;
        let wanted = p.wanted();
        // An earlier attempt or run part may have recorded the configuration before its change.
        if !self.previous.adopt(ctx, &self.base.id) {
            let current = current(ctx, &self.base, &p.bucket).await?;
            if current.as_ref() == Some(&wanted) {
                ctx.progress("the replication configuration is already the wanted one");
                return Ok(self.outputs(&region));
            }
            if let Some(c) = current.as_ref().filter(|c| !c.unmodelled.is_empty()) {
                return Err(ActionError::precondition(cannot_restore(&p.bucket, c)));
            }
            self.previous.record(ctx, current).await?;
        }
        ctx.bounded(self.base.port.put_replication(&p.bucket, &wanted))
            .await
            .map_err(|e| e.with_operation("PutBucketReplication"))?;
        ctx.progress(format!(
            "PutBucketReplication {}: {}",
            p.bucket,
            describe(Some(&wanted))
        ));
        wait_for(ctx, &self.base, &p.bucket, Some(&wanted)).await?;
        Ok(self.outputs(&region))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let p = &self.base.params;
        let current = current(ctx, &self.base, &p.bucket).await?;
        let wanted = p.wanted();
        if current.as_ref() == Some(&wanted) {
            Ok(format!(
                "GetBucketReplication of {} shows {}",
                p.bucket,
                describe(Some(&wanted))
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "the replication of {} is {}, not {}",
                p.bucket,
                describe(current.as_ref()),
                describe(Some(&wanted))
            )))
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        self.previous
            .restore(ctx, &self.base, &self.base.params.bucket)
            .await
    }
}

#[cfg(test)]
#[path = "configure_replication_tests.rs"]
mod tests;
