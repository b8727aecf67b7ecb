//! `s3.remove_replication`: delete a bucket's replication configuration (issue 18, "Failback
//! and reprotect": once the primary Region serves again, the reverse replication that
//! reprotect set up from the DR bucket is removed, and replication runs one way again).

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, StepSpec,
};
use serde::Deserialize;

use crate::common::bucket_name;
use crate::configure_replication::{Previous, cannot_restore, current, describe, wait_for};
use crate::port::S3Api;

/// The parameters of `s3.remove_replication`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RemoveReplicationParams {
    /// The bucket (in the step's region) whose replication configuration is deleted.
    pub bucket: String,
}

impl RemoveReplicationParams {
    /// Remove the replication configuration of `bucket`.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
        }
    }
}

/// `s3.remove_replication`: deletes a bucket's replication configuration
/// (`DeleteBucketReplication`) and waits until `GetBucketReplication` finds none (a deletion
/// takes a while to propagate). Objects already replicated stay where they are. Done at check
/// when the bucket has no configuration; blocked when it has parts drkit does not model (it
/// could not restore them). The configuration is journalled before the call and output as
/// `previous_replication`; rollback puts it back exactly.
#[derive(Debug, HasBase)]
pub struct RemoveReplication {
    base: Base<Self>,
    previous: Previous,
}

impl ActionKind for RemoveReplication {
    const KIND: &'static str = "s3.remove_replication";
    const SUMMARY: &'static str = "Delete a bucket's replication configuration; rollback \
                                   restores it";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "s3:GetReplicationConfiguration",
        // DeleteBucketReplication is authorised by s3:PutReplicationConfiguration; rollback
        // puts the configuration back, passing its role.
        "s3:PutReplicationConfiguration",
        "iam:PassRole",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("bucket", "the bucket"),
        OutputDoc::new(
            "previous_replication",
            "the configuration removed (role and rules): what rollback restores (present when \
             this step removed it)",
        ),
    ];
    type Params = RemoveReplicationParams;
    type Port = dyn S3Api;
    type Ports = PortFactory<dyn S3Api>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        bucket_name(&p.bucket)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = Resource::new("s3", "bucket", step.params.bucket.clone());
        Ok(Self {
            base: step.into_base(target, ports),
            previous: Previous::default(),
        })
    }
}

impl RemoveReplication {
    /// Remove the replication of `params.bucket` through `port` (embedded use).
    pub fn new(
        id: impl Into<String>,
        params: RemoveReplicationParams,
        port: Arc<dyn S3Api>,
    ) -> Self {
        let target = Resource::new("s3", "bucket", params.bucket.clone());
        Self {
            base: Base::new(id, params, target, port),
            previous: Previous::default(),
        }
    }

    fn outputs(&self) -> Outputs {
        let mut out = Outputs::new().with("bucket", self.base.params.bucket.clone());
        self.previous.output(&mut out);
        out
    }
}

#[async_trait]
impl Act for RemoveReplication {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let bucket = &self.base.params.bucket;
        match current(ctx, &self.base, bucket).await {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Ok(Check::blocked(format!("bucket {bucket} does not exist")))
            }
            Err(e) => Err(e),
            Ok(None) => {
                self.previous.adopt(ctx, &self.base.id);
                Ok(Check::Done {
                    detail: format!("bucket {bucket} has no replication configuration"),
                    outputs: self.outputs(),
                })
            }
            Ok(Some(c)) if !c.unmodelled.is_empty() => {
                Ok(Check::blocked(cannot_restore(bucket, &c)))
            }
            Ok(Some(c)) => Ok(Check::ready(format!(
                "DeleteBucketReplication on {bucket}: removes {}",
                describe(Some(&c))
            ))),
        }
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let bucket = &self.base.params.bucket;
        // An earlier attempt or run part may have recorded the configuration it removed.
        if !self.previous.adopt(ctx, &self.base.id) {
            let Some(c) = current(ctx, &self.base, bucket).await? else {
                ctx.progress("the bucket has no replication configuration already");
                return Ok(self.outputs());
            };
            if !c.unmodelled.is_empty() {
                return Err(ActionError::precondition(cannot_restore(bucket, &c)));
            }
            self.previous.record(ctx, Some(c)).await?;
        }
        ctx.bounded(self.base.port.delete_replication(bucket))
            .await
            .map_err(|e| e.with_operation("DeleteBucketReplication"))?;
        ctx.progress(format!("DeleteBucketReplication {bucket}"));
        wait_for(ctx, &self.base, bucket, None).await?;
        Ok(self.outputs())
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let bucket = &self.base.params.bucket;
        match current(ctx, &self.base, bucket).await? {
            None => Ok(format!(
                "GetBucketReplication of {bucket} finds no configuration"
            )),
            Some(c) => Err(ActionError::postcondition(format!(
                "bucket {bucket} still replicates: {}",
                describe(Some(&c))
            ))),
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        self.previous
            .restore(ctx, &self.base, &self.base.params.bucket)
            .await
    }
}

#[cfg(test)]
#[path = "remove_replication_tests.rs"]
mod tests;
