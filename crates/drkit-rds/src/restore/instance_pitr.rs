//! `rds.restore_instance_to_point_in_time`.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, StepSpec,
};
use serde::Deserialize;

use super::{NewInstance, Restored, describe_window, instance_settings, network_outputs};
use crate::common::{
    identifier, instance_outputs, one_restore_time, parameter_group, rfc3339, security_groups,
    subnet_group,
};
use crate::port::{DbInstance, RdsApi, RestoreSettings, RestoreTime};

/// The parameters of `rds.restore_instance_to_point_in_time`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PitrParams {
    /// The instance to restore from.
    pub source: String,
    /// The new instance.
    pub target: String,
    /// The time to restore to; inside the source's restorable window.
    #[serde(default, with = "humantime_serde")]
    #[param(ty = "RFC 3339 time")]
    pub restore_time: Option<SystemTime>,
    /// Restore to the latest restorable time instead.
    #[serde(default)]
    pub use_latest_restorable_time: bool,
    /// The new instance's class (default: the source's).
    #[serde(default)]
    pub instance_class: Option<String>,
    /// The new instance's DB subnet group (default: the source's).
    #[serde(default)]
    pub subnet_group: Option<String>,
    /// The new instance's VPC security group ids (default: the source's).
    #[serde(default)]
    #[param(ty = "list of strings")]
    pub security_groups: Option<Vec<String>>,
    /// The new instance's DB parameter group (default: the source's).
    #[serde(default)]
    pub parameter_group: Option<String>,
}

impl PitrParams {
    /// Restore `source` into `target` at the latest restorable time.
    pub fn latest(source: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            target: target.into(),
            restore_time: None,
            use_latest_restorable_time: true,
            instance_class: None,
            subnet_group: None,
            security_groups: None,
            parameter_group: None,
        }
    }

    /// In subnet group `subnet_group` with `security_groups`, not the source's.
    #[must_use]
    pub fn in_network(
        mut self,
        subnet_group: impl Into<String>,
        security_groups: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.subnet_group = Some(subnet_group.into());
        self.security_groups = Some(security_groups.into_iter().map(Into::into).collect());
        self
    }

    /// Restore `source` into `target` as it was at `time`.
    pub fn at(source: impl Into<String>, target: impl Into<String>, time: SystemTime) -> Self {
        Self {
            restore_time: Some(time),
            use_latest_restorable_time: false,
            ..Self::latest(source, target)
        }
    }

    pub(crate) fn restore_time(&self) -> RestoreTime {
        match self.restore_time {
            Some(at) if !self.use_latest_restorable_time => RestoreTime::At(at),
            _ => RestoreTime::Latest,
        }
    }
}

/// Restores an instance to a point in time into a new instance (the seed's
/// `aws rds restore-db-instance-to-point-in-time`).
///
/// A restore time outside the source's restorable window is refused *before* calling AWS (an
/// emulator accepts any time; AWS would fail late). Outputs: the new instance's `endpoint`,
/// `address`, `port`, `restored_to`, and `rpo_seconds` (= `data_loss_seconds`: from the restore
/// point to now), `subnet_group`, `security_groups`. Rollback deletes the new instance, only if
/// this action created it.
///
/// The new instance gets the source's subnet group, security groups and parameter group unless
/// the runbook gives others (RDS's default would be the VPC's default security group). A target
/// created before the run started is refused, not taken as this run's restore.
#[derive(Debug, HasBase)]
pub struct RestoreInstanceToPointInTime {
    base: Base<Self>,
    new_instance: NewInstance,
}

impl ActionKind for RestoreInstanceToPointInTime {
    const KIND: &'static str = "rds.restore_instance_to_point_in_time";
    const SUMMARY: &'static str =
        "Restore an instance to a point in time into a new instance (window checked first)";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "rds:DescribeDBInstances",
        "rds:RestoreDBInstanceToPointInTime",
        "rds:DeleteDBInstance",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("instance", "the new instance"),
        OutputDoc::new("status", "its status"),
        OutputDoc::new("endpoint", "address:port of the new instance"),
        OutputDoc::new("address", "the DNS name"),
        OutputDoc::new("port", "the port"),
        OutputDoc::new("source", "the instance restored from"),
        OutputDoc::new("subnet_group", "the new instance's DB subnet group"),
        OutputDoc::new(
            "security_groups",
            "the new instance's VPC security group ids",
        ),
        OutputDoc::new("restored_to", "the point in time restored (RFC 3339)"),
        OutputDoc::new(
            "data_loss_seconds",
            "data lost: from the restore point to the restore",
        ),
        OutputDoc::new(
            "rpo_seconds",
            "data lost: from the restore point to the restore (class database)",
        ),
        OutputDoc::new("rpo_class", "`database`"),
    ];
    type Params = PitrParams;
    type Port = dyn RdsApi;
    type Ports = PortFactory<dyn RdsApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        identifier("source", &p.source)?;
        identifier("target", &p.target)?;
        one_restore_time(p.restore_time.is_some(), p.use_latest_restorable_time)?;
        subnet_group("subnet_group", p.subnet_group.as_deref())?;
        security_groups("security_groups", p.security_groups.as_deref())?;
        parameter_group("parameter_group", p.parameter_group.as_deref())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let port = ports.get(step.region());
        let region = step.region.clone();
        Ok(Self::new(step.id, step.params, port, region.as_deref()))
    }
}

/// What a point-in-time restore of an instance would do, given the source.
enum PitrPlan {
    Blocked(String),
    Restore {
        restored_to: SystemTime,
        settings: RestoreSettings,
    },
}

impl RestoreInstanceToPointInTime {
    /// A restore step `id` with `params` through `api`; `region` labels the resource.
    pub fn new(
        id: impl Into<String>,
        params: PitrParams,
        api: Arc<dyn RdsApi>,
        region: Option<&str>,
    ) -> Self {
        let target = Resource::new("rds", "db-instance", params.target.clone()).in_region(region);
        Self {
            base: Base::new(id, params, target, api),
            new_instance: NewInstance::default(),
        }
    }

    /// The target, if it exists: refused when made before the run started.
    async fn existing_target(&self, ctx: &Context) -> Result<Option<DbInstance>, ActionError> {
        let (api, target) = (self.base.port.as_ref(), &self.base.params.target);
        self.new_instance.existing(ctx, api, target).await
    }

    fn outputs(&self, i: &DbInstance) -> Outputs {
        let out = instance_outputs(i).with("source", self.base.params.source.clone());
        network_outputs(out, i.subnet_group.as_ref(), &i.security_groups)
    }

    async fn plan(&self, ctx: &Context) -> Result<PitrPlan, ActionError> {
        let p = &self.base.params;
        let source = match ctx
            .bounded(self.base.port.describe_db_instance(&p.source))
            .await
        {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(PitrPlan::Blocked(format!(
                    "source instance {} does not exist",
                    p.source
                )));
            }
            Err(e) => return Err(e),
        };
        let Some(window) = source.restorable_window() else {
            return Ok(PitrPlan::Blocked(format!(
                "source instance {} has no automated backups (retention {} days): no \
                 point-in-time restore is possible",
                source.id,
                source.backup_retention_days.unwrap_or(0)
            )));
        };
        let restored_to = match p.restore_time() {
            RestoreTime::Latest => window.1,
            RestoreTime::At(at) if at < window.0 || at > window.1 => {
                return Ok(PitrPlan::Blocked(format!(
                    "restore time {} is outside the restorable window {} of {}",
                    rfc3339(at),
                    describe_window(window),
                    source.id
                )));
            }
            RestoreTime::At(at) => at,
        };
        let settings = instance_settings(
            p.subnet_group.as_ref(),
            p.security_groups.as_ref(),
            p.parameter_group.as_ref(),
            Some(&source),
        );
        Ok(PitrPlan::Restore {
            restored_to,
            settings,
        })
    }
}

#[async_trait]
impl Act for RestoreInstanceToPointInTime {
    fn can_undo(&self) -> bool {
        true
    }

    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        if let Some(existing) = self.existing_target(ctx).await? {
            return Ok(NewInstance::check_existing(&existing, |i| self.outputs(i)));
        }
        let p = &self.base.params;
        Ok(match self.plan(ctx).await? {
            PitrPlan::Blocked(reason) => Check::blocked(reason),
            PitrPlan::Restore {
                restored_to,
                settings,
            } => Check::ready(format!(
                "restore {} as of {} into new instance {}, in {}",
                p.source,
                rfc3339(restored_to),
                p.target,
                settings.summary()
            )),
        })
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = &self.base.params;
        let (api, wait) = (self.base.port.as_ref(), &self.base.wait);
        let target = ("RestoreDBInstanceToPointInTime", p.target.as_str());
        let plan = || async {
            let (restored_to, settings) = match self.plan(ctx).await? {
                PitrPlan::Blocked(reason) => return Err(ActionError::invalid_input(reason)),
                PitrPlan::Restore {
                    restored_to,
                    settings,
                } => (restored_to, settings),
            };
            ctx.progress(format!(
                "restoring {} as of {} into {}, in {}",
                p.source,
                rfc3339(restored_to),
                p.target,
                settings.summary()
            ));
            let call = move || {
                let settings = settings.clone();
                async move {
                    api.restore_instance_to_point_in_time(
                        &p.source,
                        &p.target,
                        p.restore_time(),
                        p.instance_class.as_deref(),
                        &settings,
                    )
                    .await
                }
            };
            Ok((Restored::now(restored_to), call))
        };
        let restored = self
            .new_instance
            .create(ctx, (api, wait), target, plan)
            .await?;
        let instance = NewInstance::ready(ctx, api, wait, &p.target).await?;
        let out = self.outputs(&instance);
        Ok(match restored {
            Some(r) => r.outputs(out),
            None => out,
        })
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let (api, target) = (self.base.port.as_ref(), &self.base.params.target);
        self.new_instance.confirm(ctx, api, target).await
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let (api, wait, target) = (
            self.base.port.as_ref(),
            &self.base.wait,
            &self.base.params.target,
        );
        // `restored_to` is recorded only when this step made the restore call.
        let step = (self.base.id.as_str(), "restored_to");
        self.new_instance.undo(ctx, api, wait, step, target).await
    }
}
