//! `checks.redis_role`: which replication role a Redis server has, and whether it answers.

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    ActionError, ActionKind, Base, Context, Finding, HasBase, Outputs, Params, PortFactory, Probe,
    SecretRef, StepSpec,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::redis_port::{RedisApi, RedisTarget, Role, RoleInfo};

/// The parameters of `checks.redis_role`.
///
/// `url` is `redis://` or `rediss://` (TLS) `[user@]host[:port][/db]`, without a password
/// (refused: give it in `password`); absent `expect_role`, any role passes (the check only
/// reports it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisRoleParams {
    /// redis://[user@]host[:port][/db], or rediss:// for TLS (ElastiCache with in-transit encryption), without a password
    pub url: String,
    /// where the password is read from, e.g. "env:REDIS_PASSWORD"
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<SecretRef>,
    /// for rediss://, the PEM bundle of the CAs that sign the server's certificate (default: the built-in Mozilla roots, which hold ElastiCache's CAs)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<String>,
    /// primary (master), replica (slave) or sentinel; another role fails the check
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(ty = "string")]
    pub expect_role: Option<Role>,
}

impl RedisRoleParams {
    /// Probes `url`, any role.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            password: None,
            tls_ca: None,
            expect_role: None,
        }
    }

    /// For `rediss://`: trusting the CAs of the PEM bundle at `path`.
    #[must_use]
    pub fn tls_ca(mut self, path: impl Into<String>) -> Self {
        self.tls_ca = Some(path.into());
        self
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
#[derive(Debug, HasBase)]
pub struct RedisRoleCheck {
    base: Base<Self>,
    server: RedisTarget,
}

impl ActionKind for RedisRoleCheck {
    const KIND: &'static str = "checks.redis_role";
    const SUMMARY: &'static str =
        "Probe a Redis server: ROLE, INFO replication, PING round-trip; optionally require a role";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("role", "primary, replica or sentinel"),
        OutputDoc::new("ping_ms", "PING round-trip time in milliseconds"),
        OutputDoc::new("replication", "the INFO replication fields"),
        OutputDoc::new(
            "connected_replicas",
            "(primary) how many replicas are connected",
        ),
        OutputDoc::new("replicas", "(primary) the connected replicas, host:port"),
        OutputDoc::new("primary", "(replica) the primary it replicates, host:port"),
        OutputDoc::new(
            "link_state",
            "(replica) the state of the link to the primary",
        ),
        OutputDoc::new(
            "replication_offset",
            "the replication offset (primary or replica)",
        ),
        OutputDoc::new("masters", "(sentinel) the primaries it watches"),
    ];
    type Params = RedisRoleParams;
    type Port = dyn RedisApi;
    type Ports = PortFactory<dyn RedisApi>;

    fn validate(p: &RedisRoleParams) -> Result<(), ParamError> {
        target(p, None).map(drop)
    }

    fn build(step: StepSpec<RedisRoleParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let server = target(&step.params, step.params.password.clone())?;
        Ok(Self {
            base: step.into_base(server.resource(), ports),
            server,
        })
    }
}

/// The server the parameters name. Refuses a password in the URL without repeating the URL.
fn target(p: &RedisRoleParams, password: Option<SecretRef>) -> Result<RedisTarget, ParamError> {
    let server =
        RedisTarget::new(p.url.clone(), password).map_err(|why| ParamError::new("url", why))?;
    match &p.tls_ca {
        Some(ca) => server
            .with_tls_ca(ca.clone())
            .map_err(|why| ParamError::new("tls_ca", why)),
        None => Ok(server),
    }
}

#[async_trait]
impl Probe for RedisRoleCheck {
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError> {
        let probe = ctx.bounded(self.base.port.probe(&self.server)).await?;
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
        match self.base.params.expect_role {
            Some(expected) if expected != role => Ok(Finding::fail(
                format!("{seen}; expected a {expected}"),
                outputs,
            )),
            _ => Ok(Finding::pass(seen, outputs)),
        }
    }
}

#[cfg(test)]
#[path = "redis_role_tests.rs"]
mod tests;
