//! `vault.check_health`: initialised / sealed / standby / version of a server.

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    ActionError, ActionKind, Base, Context, Finding, HasBase, Outputs, Params, PortFactory, Probe,
    StepSpec,
};
use serde::Deserialize;

use crate::common::{server_resource, step_address, step_conn, unsent_namespace};
use crate::port::{VaultApi, VaultConn};

/// The parameters of `vault.check_health`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckHealthParams {
    /// the server, http:// or https:// (e.g. https://vault-1.example:8200); default: VAULT_ADDR
    #[serde(default)]
    pub address: Option<String>,
    /// an unsealed standby passes too (HA clusters); default false: only an active node
    #[serde(default)]
    #[param(ty = "boolean")]
    pub allow_standby: bool,
    /// Vault Enterprise/HCP namespace: checked, never sent (sys/health is a root-namespace
    /// endpoint)
    #[serde(default)]
    pub namespace: Option<String>,
}

/// Reads `/v1/sys/health` (in every state) and passes when the server is initialised,
/// unsealed and active — or, with `allow_standby`, an unsealed standby whose cluster has an
/// active node it can reach (`ha_connection_healthy` not false, `sys/leader` naming one).
///
/// A [`Probe`]: `check` answers `Done { outputs }` when it passes and `Blocked { reason }` when
/// not; `execute` and `verify` read again and fail with `PostconditionFailed` when it does not
/// pass. Outputs: `state` (`active`, `standby`, `performance_standby`, `sealed`,
/// `uninitialized`, `removed`), `initialized`, `sealed`, `standby`, `version`, `cluster_name` (when
/// unsealed).
#[derive(Debug, HasBase)]
pub struct CheckHealth {
    base: Base<Self>,
    conn: VaultConn,
}

impl ActionKind for CheckHealth {
    const KIND: &'static str = "vault.check_health";
    const SUMMARY: &'static str = "Read a Vault/OpenBao server's health: initialised, sealed, standby, version; passes when active";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new(
            "state",
            "active, standby, performance_standby, sealed, uninitialized or removed",
        ),
        OutputDoc::new("initialized", "boolean"),
        OutputDoc::new("sealed", "boolean"),
        OutputDoc::new("standby", "boolean"),
        OutputDoc::new("version", "the server version"),
        OutputDoc::new("cluster_name", "the cluster name (when unsealed)"),
        OutputDoc::new(
            "leader",
            "a standby's active node (`sys/leader`), with allow_standby",
        ),
    ];
    type Params = CheckHealthParams;
    type Port = dyn VaultApi;
    type Ports = PortFactory<dyn VaultApi>;

    fn validate(p: &CheckHealthParams) -> Result<(), ParamError> {
        step_address(p.address.as_deref())?;
        unsent_namespace(p.namespace.as_deref())
    }

    fn build(step: StepSpec<CheckHealthParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let address = step_address(step.params.address.as_deref())?;
        Ok(Self {
            base: step.into_base(server_resource(&address), ports),
            conn: step_conn(address)?,
        })
    }
}

#[async_trait]
impl Probe for CheckHealth {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let health = ctx.bounded(self.base.port.health(&self.conn)).await?;
        let mut outputs = Outputs::new()
            .with("state", health.state())
            .with("initialized", health.initialized)
            .with("sealed", health.sealed)
            .with("standby", health.standby)
            .with("version", health.version.clone());
        if let Some(name) = &health.cluster_name {
            outputs.insert("cluster_name", name.clone());
        }
        let seen = format!(
            "{} is {} (version {})",
            self.conn.address(),
            health.state(),
            health.version
        );
        if health.is_active() {
            return Ok(Finding::pass(seen, outputs));
        }
        if !(self.base.params.allow_standby && health.is_unsealed()) {
            return Ok(Finding::fail(seen, outputs));
        }
        // A standby serves only through an active node: one whose cluster has none (a raft
        // cluster without quorum) or that cannot reach it is not healthy.
        if health.ha_connection_healthy == Some(false) {
            return Ok(Finding::fail(
                format!("{seen}, but cannot reach its active node (ha_connection_healthy false)"),
                outputs,
            ));
        }
        let leader = ctx.bounded(self.base.port.leader(&self.conn)).await?;
        if !leader.has_leader() {
            return Ok(Finding::fail(
                format!(
                    "{seen}, but its cluster has no active node (sys/leader names none: quorum lost?)"
                ),
                outputs,
            ));
        }
        outputs.insert("leader", leader.leader_address.clone());
        Ok(Finding::pass(
            format!("{seen}; active node {}", leader.leader_address),
            outputs,
        ))
    }
}
