//! `checks.redis_role`: which replication role a Redis server has, and whether it answers.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::{ActionError, Check, Context, Outputs, RecoveryAction, Resource, SecretRef};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::redis_port::{RedisApi, RedisTarget, Role, RoleInfo};
use crate::verdict::{Measurement, as_check, as_outputs, as_verified};

/// Kind name of [`RedisRoleCheck`].
pub(crate) const REDIS_ROLE_KIND: &str = "checks.redis_role";

/// The parameters of `checks.redis_role`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisRoleParams {
    /// `redis://[user@]host[:port][/db]` — without a password (refused: give it in `password`).
    pub url: String,
    /// Where the password is read from (`env:NAME`, `file:/path`), if the server requires one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// The role the server must have: `primary` (or `master`), `replica` (or `slave`),
    /// `sentinel`. Absent: any role passes (the check only reports it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_role: Option<Role>,
}

impl RedisRoleParams {
    /// Probes `url`, any role.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            password: None,
            expect_role: None,
        }
    }

    /// With the password read from `password`.
    #[must_use]
    pub fn password(mut self, password: SecretRef) -> Self {
        self.password = Some(password);
        self
    }

    /// Requires `role`.
    #[must_use]
    pub fn expect_role(mut self, role: Role) -> Self {
        self.expect_role = Some(role);
        self
    }
}

/// Probes a Redis server (the seed's "Redis Cache Recovery" check after promoting a replica):
/// `PING` round-trip time, `ROLE`, and `INFO replication`.
///
/// Passes when the server answers and, if `expect_role` is given, has that role; otherwise
/// blocked (check) / `PostconditionFailed` (execute, verify). Outputs: `role` (`primary`,
/// `replica`, `sentinel`), `ping_ms`, `replication` (the `INFO replication` fields); for a
/// primary `connected_replicas` and `replicas` (`host:port`); for a replica `primary`
/// (`host:port`), `link_state`; and `replication_offset`.
pub struct RedisRoleCheck {
    id: String,
    params: RedisRoleParams,
    server: RedisTarget,
    target: Resource,
    api: Arc<dyn RedisApi>,
}

impl fmt::Debug for RedisRoleCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRoleCheck")
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl RedisRoleCheck {
    /// A role check step `id`, probing through `api`. Fails when the URL is not `redis://` or
    /// holds a password.
    pub fn new(
        id: impl Into<String>,
        params: RedisRoleParams,
        api: Arc<dyn RedisApi>,
    ) -> Result<Self, ActionError> {
        let server = RedisTarget::new(params.url.clone(), params.password.clone())
            .map_err(ActionError::invalid_input)?;
        let target = server.resource();
        Ok(Self {
            id: id.into(),
            params,
            server,
            target,
            api,
        })
    }

    async fn measure(&self, ctx: &Context) -> Result<Measurement, ActionError> {
        let probe = ctx
            .bounded(self.api.probe(&self.server))
            .await
            .map_err(|e| e.in_action(self))?;
        let role = probe.role.role();
        let ping_ms = probe.ping.as_secs_f64() * 1000.0;
        let mut outputs = Outputs::new()
            .with("role", role.as_str())
            .with("ping_ms", ping_ms)
            .with(
                "replication",
                Value::Object(
                    probe
                        .replication
                        .iter()
                        .map(|(k, v)| (k.clone(), json!(v)))
                        .collect::<Map<_, _>>(),
                ),
            );
        let seen = match &probe.role {
            RoleInfo::Primary { offset, replicas } => {
                outputs.insert("connected_replicas", replicas.len());
                outputs.insert("replicas", json!(replicas));
                outputs.insert("replication_offset", *offset);
                format!(
                    "{} is a primary with {} connected replica(s)",
                    self.server.address(),
                    replicas.len()
                )
            }
            RoleInfo::Replica {
                primary,
                link_state,
                offset,
            } => {
                outputs.insert("primary", primary.clone());
                outputs.insert("link_state", link_state.clone());
                outputs.insert("replication_offset", *offset);
                format!(
                    "{} is a replica of {primary} (link {link_state})",
                    self.server.address()
                )
            }
            RoleInfo::Sentinel { masters } => {
                outputs.insert("masters", json!(masters));
                format!(
                    "{} is a sentinel watching {}",
                    self.server.address(),
                    masters.join(", ")
                )
            }
        };
        let seen = format!("{seen}; PING {ping_ms:.3} ms");
        match self.params.expect_role {
            Some(expected) if expected != role => Ok(Measurement::fail(
                outputs,
                format!("{seen}; expected a {expected}"),
            )),
            _ => Ok(Measurement::pass(outputs, seen)),
        }
    }
}

#[async_trait]
impl RecoveryAction for RedisRoleCheck {
    fn id(&self) -> &str {
        &self.id
    }
    fn kind(&self) -> &'static str {
        REDIS_ROLE_KIND
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
        as_check(self.measure(ctx).await)
    }
    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        as_outputs(self.measure(ctx).await, self)
    }
    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        as_verified(self.measure(ctx).await, self)
    }
}

#[cfg(test)]
#[path = "redis_role_tests.rs"]
mod tests;
