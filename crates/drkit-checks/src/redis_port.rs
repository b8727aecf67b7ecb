//! The Redis side: the target (URL without a password + a password reference) and the port.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::{ActionError, Resource, SecretRef};
use serde::{Deserialize, Serialize};

/// A Redis server to probe: a `redis://host:port[/db]` URL (or `rediss://` for TLS, as
/// ElastiCache with in-transit encryption requires) that holds **no password**, where the
/// password is read from, and for TLS the CA bundle that signed the server's certificate. Its
/// `Debug` and `Display` show the URL only.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisTarget {
    /// `redis://` or `rediss://[user@]host[:port][/db]`, never with a password (refused when
    /// parsed).
    pub url: String,
    /// Where the password (`AUTH`) is read from, if the server requires one.
    pub password: Option<SecretRef>,
    /// For `rediss://`: the PEM bundle of the CAs trusted for the server's certificate (as
    /// redis-cli's `--cacert`); absent, the Mozilla root set built into drkit, which holds the
    /// CAs of ElastiCache's certificates.
    pub tls_ca: Option<String>,
}

impl RedisTarget {
    /// A target at `url`, refusing a URL that is not `redis://` or `rediss://`, that holds a
    /// password (the error does not repeat the URL, since it may hold a secret), or that asks
    /// for an unverified TLS connection (`#insecure`).
    pub fn new(url: impl Into<String>, password: Option<SecretRef>) -> Result<Self, String> {
        let url = url.into();
        let Some(rest) = url
            .strip_prefix("redis://")
            .or_else(|| url.strip_prefix("rediss://"))
        else {
            return Err("the url must start with redis:// or rediss:// (TLS), e.g. \
                 rediss://10.0.3.7:6379/0"
                .to_owned());
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
        if rest.contains("#insecure") {
            return Err(
                "`#insecure` would accept any certificate: drkit always verifies the server; \
                 give the CA that signed its certificate as `tls_ca`"
                    .to_owned(),
            );
        }
        Ok(Self {
            url,
            password,
            tls_ca: None,
        })
    }

    /// The same target trusting the CAs of the PEM bundle at `path`; only for `rediss://`.
    pub fn with_tls_ca(mut self, path: impl Into<String>) -> Result<Self, String> {
        let path = path.into();
        if !self.is_tls() {
            return Err(
                "a CA is given but the url is redis:// (plaintext): write rediss:// for TLS"
                    .to_owned(),
            );
        }
        if path.trim().is_empty() {
            return Err("the path is empty".to_owned());
        }
        self.tls_ca = Some(path);
        Ok(self)
    }

    /// Whether the connection is made over TLS (`rediss://`).
    pub fn is_tls(&self) -> bool {
        self.url.starts_with("rediss://")
    }

    /// `host:port[/db]`, the URL without its scheme and user.
    pub fn address(&self) -> &str {
        let rest = self
            .url
            .strip_prefix("redis://")
            .or_else(|| self.url.strip_prefix("rediss://"))
            .unwrap_or(&self.url);
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
