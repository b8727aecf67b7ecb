//! The Redis side: the target (URL without a password + a password reference) and the port.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::{ActionError, Resource, SecretRef};
use serde::{Deserialize, Serialize};

/// A Redis server to probe: a `redis://host:port[/db]` URL that holds **no password**, and
/// where the password is read from. Its `Debug` and `Display` show the URL only.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisTarget {
    /// `redis://[user@]host[:port][/db]`, never with a password (refused when parsed).
    pub url: String,
    /// Where the password (`AUTH`) is read from, if the server requires one.
    pub password: Option<SecretRef>,
}

impl RedisTarget {
    /// A target at `url`, refusing a URL that is not `redis://` or that holds a password (the
    /// error does not repeat the URL, since it may hold a secret).
    pub fn new(url: impl Into<String>, password: Option<SecretRef>) -> Result<Self, String> {
        let url = url.into();
        let Some(rest) = url.strip_prefix("redis://") else {
            return Err(if url.starts_with("rediss://") {
                "rediss:// (TLS) is not supported yet: use redis:// on a trusted network".to_owned()
            } else {
                "the url must start with redis:// (e.g. redis://10.0.3.7:6379/0)".to_owned()
            });
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && userinfo.contains(':')
        {
            return Err(
                "the url holds a password: remove it from the url and give it as \
                        `password = \"env:NAME\"` (or `file:/path`)"
                    .to_owned(),
            );
        }
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host.is_empty() || host.starts_with(':') {
            return Err("the url has no host (e.g. redis://10.0.3.7:6379/0)".to_owned());
        }
        Ok(Self { url, password })
    }

    /// `host:port[/db]`, the URL without its scheme and user.
    pub fn address(&self) -> &str {
        let rest = self.url.strip_prefix("redis://").unwrap_or(&self.url);
        rest.rsplit_once('@').map_or(rest, |(_, h)| h)
    }

    /// The resource: `redis:server/host:port`.
    pub fn resource(&self) -> Resource {
        Resource::new("redis", "server", self.address().to_owned())
    }
}

impl fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// A replication role, as drkit names it. `master` and `slave` (Redis's own words) are
/// accepted as parameters too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Accepts writes (Redis: `master`).
    #[serde(alias = "master")]
    Primary,
    /// Replicates a primary (Redis: `slave`).
    #[serde(alias = "slave")]
    Replica,
    /// A Sentinel.
    Sentinel,
}

impl Role {
    /// `primary`, `replica` or `sentinel`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Replica => "replica",
            Self::Sentinel => "sentinel",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `ROLE` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoleInfo {
    /// A primary, with its replication offset and connected replicas (`host:port`).
    Primary {
        /// The primary's replication offset.
        offset: i64,
        /// Connected replicas as `host:port`.
        replicas: Vec<String>,
    },
    /// A replica of `primary` (`host:port`), with the link state (`connected`, `connect`,
    /// `connecting`, `sync`) and the offset it has received.
    Replica {
        /// The primary it replicates, `host:port`.
        primary: String,
        /// The state of the link to it.
        link_state: String,
        /// The replication offset received.
        offset: i64,
    },
    /// A Sentinel and the primaries it monitors.
    Sentinel {
        /// The monitored primaries' names.
        masters: Vec<String>,
    },
}

impl RoleInfo {
    /// The role.
    pub fn role(&self) -> Role {
        match self {
            Self::Primary { .. } => Role::Primary,
            Self::Replica { .. } => Role::Replica,
            Self::Sentinel { .. } => Role::Sentinel,
        }
    }
}

/// One probe of a Redis server.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisProbe {
    /// `ROLE`.
    pub role: RoleInfo,
    /// `INFO replication`, field by field.
    pub replication: BTreeMap<String, String>,
    /// The round-trip time of one `PING`.
    pub ping: Duration,
}

impl RedisProbe {
    /// A probe result.
    pub fn new(role: RoleInfo, replication: BTreeMap<String, String>, ping: Duration) -> Self {
        Self {
            role,
            replication,
            ping,
        }
    }
}

/// The Redis operations the checks use. Implemented by [`crate::RedisClient`] over the `redis`
/// crate, and by `MockRedisApi` (feature `mock`) in tests.
///
/// Errors are classified [`ActionError`]s: refused or dropped connections -> `Unavailable`
/// (retryable), a time-out -> `Timeout`, a wrong or missing password -> `AccessDenied`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait RedisApi: fmt::Debug + Send + Sync {
    /// Connects, then `PING` (timed), `ROLE` and `INFO replication`.
    async fn probe(&self, target: &RedisTarget) -> Result<RedisProbe, ActionError>;
}

#[cfg(test)]
#[path = "redis_port_tests.rs"]
mod tests;
