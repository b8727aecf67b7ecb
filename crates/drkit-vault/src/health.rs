//! `vault.check_health`: initialised / sealed / standby / version of a server.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::{ActionError, Check, Context, Outputs, RecoveryAction, Resource};
use serde::Deserialize;

use crate::common::server_resource;
use crate::port::{Health, VaultApi, VaultConn};

/// Kind name of [`CheckHealth`].
pub(crate) const KIND: &str = "vault.check_health";

/// The parameters of `vault.check_health`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckHealthParams {
    /// The server; default: `VAULT_ADDR`.
    #[serde(default)]
    pub address: Option<String>,
    /// Whether an unsealed standby passes (default false: only an active node passes).
    #[serde(default)]
    pub allow_standby: bool,
}

/// Reads `/v1/sys/health` (in every state) and passes when the server is initialised,
/// unsealed and active (or a standby, with `allow_standby`).
///
/// Follows the checks convention: `check` answers `Done { outputs }` when it passes and
/// `Blocked { reason }` when not; `execute` and `verify` read again and fail with
/// `PostconditionFailed` when it does not pass. Outputs: `state` (`active`, `standby`,
/// `performance_standby`, `sealed`, `uninitialized`), `initialized`, `sealed`, `standby`,
/// `version`, `cluster_name` (when unsealed).
pub struct CheckHealth {
    id: String,
    params: CheckHealthParams,
    conn: VaultConn,
    target: Resource,
    api: Arc<dyn VaultApi>,
}

impl fmt::Debug for CheckHealth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckHealth")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl CheckHealth {
    /// A health check step `id` of the server at `address` (already resolved and checked).
    pub fn new(
        id: impl Into<String>,
        address: impl Into<String>,
        params: CheckHealthParams,
        api: Arc<dyn VaultApi>,
    ) -> Self {
        let address = address.into();
        Self {
            id: id.into(),
            target: server_resource(&address),
            conn: VaultConn::new(address),
            params,
            api,
        }
    }

    async fn measure(&self, ctx: &Context) -> Result<(Health, Outputs, String), ActionError> {
        let health = ctx
            .bounded(self.api.health(&self.conn))
            .await
            .map_err(|e| e.in_action(self))?;
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
        Ok((health, outputs, seen))
    }

    fn passes(&self, health: &Health) -> bool {
        health.is_active() || (self.params.allow_standby && health.initialized && !health.sealed)
    }
}

#[async_trait]
impl RecoveryAction for CheckHealth {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn target(&self) -> &Resource {
        &self.target
    }
    fn mutates(&self) -> bool {
        false
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        let (health, outputs, seen) = self.measure(ctx).await?;
        Ok(if self.passes(&health) {
            Check::Done {
                detail: seen,
                outputs,
            }
        } else {
            Check::blocked(seen)
        })
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let (health, outputs, seen) = self.measure(ctx).await?;
        if self.passes(&health) {
            Ok(outputs)
        } else {
            Err(ActionError::postcondition(seen).in_action(self))
        }
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let (health, _, seen) = self.measure(ctx).await?;
        if self.passes(&health) {
            Ok(seen)
        } else {
            Err(ActionError::postcondition(seen).in_action(self))
        }
    }
}
