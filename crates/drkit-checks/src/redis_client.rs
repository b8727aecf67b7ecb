//! The adapter: [`RedisApi`] over the `redis` crate (tokio). It only translates: connection
//! settings, `ROLE` and `INFO` parsing, error classification.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::{ActionError, ErrorKind, ExposeSecret};
use redis::{AsyncConnectionConfig, IntoConnectionInfo, Value};
use tokio::time::Instant;

use crate::redis_port::{RedisApi, RedisProbe, RedisTarget, RoleInfo};
use crate::tls;

/// The PEM bundle at `path` (`tls_ca`), checked to hold certificates: the redis crate takes the
/// bytes.
fn pem_bundle(path: &str) -> Result<Vec<u8>, ActionError> {
    tls::pem_certificates("tls_ca", path)?;
    std::fs::read(path).map_err(|e| ActionError::invalid_input(format!("tls_ca {path}: {e}")))
}

/// How long connecting, and each command, may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// [`RedisApi`] over the `redis` crate; `rediss://` over TLS (rustls), the server's certificate
/// always verified (against the target's `tls_ca`, or the built-in Mozilla roots).
#[derive(Clone, Copy, Debug, Default)]
pub struct RedisClient;

impl RedisClient {
    /// The adapter.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl RedisApi for RedisClient {
    async fn probe(&self, target: &RedisTarget) -> Result<RedisProbe, ActionError> {
        let mut info = target
            .url
            .as_str()
            .into_connection_info()
            .map_err(|e| classify(&e, "reading the url"))?;
        if let Some(password) = &target.password {
            let secret = password.resolve()?;
            info.redis.password = Some(secret.expose_secret().to_owned());
        }
        let client = if target.is_tls() {
            tls::ensure_default_crypto_provider();
            let root_cert = match &target.tls_ca {
                Some(path) => Some(pem_bundle(path)?),
                None => None,
            };
            redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert,
                },
            )
        } else {
            redis::Client::open(info)
        }
        .map_err(|e| classify(&e, "reading the url"))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT);
        let mut con = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| {
                let err = classify(&e, &format!("connecting to {}", target.address()));
                if !target.is_tls() && (e.is_io_error() || e.is_connection_dropped()) {
                    // A TLS-only server (ElastiCache with in-transit encryption) drops a
                    // plaintext client without a word.
                    err.with_note(
                        "if the server requires TLS (ElastiCache with in-transit encryption), \
                         write the url as rediss://",
                    )
                } else {
                    err
                }
            })?;
        let started = Instant::now();
        let pong: String = redis::cmd("PING")
            .query_async(&mut con)
            .await
            .map_err(|e| classify(&e, "PING"))?;
        let ping = started.elapsed();
        if pong != "PONG" {
            return Err(ActionError::new(
                ErrorKind::Other,
                format!("PING answered {pong:?}, not PONG"),
            ));
        }
        let role: Value = redis::cmd("ROLE")
            .query_async(&mut con)
            .await
            .map_err(|e| classify(&e, "ROLE"))?;
        let role = parse_role(&role).map_err(|why| {
            ActionError::new(ErrorKind::Other, format!("unexpected ROLE answer: {why}"))
        })?;
        let replication: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut con)
            .await
            .map_err(|e| classify(&e, "INFO replication"))?;
        Ok(RedisProbe::new(role, parse_info(&replication), ping))
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

/// Parses the answer to `ROLE`:
/// `["master", offset, [[ip, port, offset], ...]]`, `["slave", host, port, state, offset]` or
/// `["sentinel", [name, ...]]`.
pub(crate) fn parse_role(value: &Value) -> Result<RoleInfo, String> {
    let Value::Array(items) = value else {
        return Err("not an array".to_owned());
    };
    let kind = items.first().and_then(text).ok_or("no role name")?;
    match kind.as_str() {
        "master" => {
            let offset = items.get(1).and_then(int).ok_or("no master offset")?;
            let replicas = match items.get(2) {
                Some(Value::Array(replicas)) => replicas
                    .iter()
                    .filter_map(|r| match r {
                        Value::Array(r) => Some(format!(
                            "{}:{}",
                            r.first().and_then(text)?,
                            r.get(1).and_then(text)?
                        )),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Ok(RoleInfo::Primary { offset, replicas })
        }
        "slave" | "replica" => {
            let host = items.get(1).and_then(text).ok_or("no primary host")?;
            let port = items.get(2).and_then(int).ok_or("no primary port")?;
            let link_state = items.get(3).and_then(text).ok_or("no link state")?;
            let offset = items.get(4).and_then(int).unwrap_or(-1);
            Ok(RoleInfo::Replica {
                primary: format!("{host}:{port}"),
                link_state,
                offset,
            })
        }
        "sentinel" => {
            let masters = match items.get(1) {
                Some(Value::Array(names)) => names.iter().filter_map(text).collect(),
                _ => Vec::new(),
            };
            Ok(RoleInfo::Sentinel { masters })
        }
        other => Err(format!("unknown role {other:?}")),
    }
}

/// Parses an `INFO` section: `key:value` lines; `#` comments and blank lines skipped.
pub(crate) fn parse_info(info: &str) -> BTreeMap<String, String> {
    info.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Classifies a `redis` error. The message never holds the URL's password (URLs with a password
/// are refused before this adapter runs, and the password is set apart from the URL).
pub(crate) fn classify(err: &redis::RedisError, doing: &str) -> ActionError {
    let code = err.code().map(str::to_owned);
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_connection_refusal() || err.is_connection_dropped() || err.is_io_error() {
        ErrorKind::Unavailable
    } else if err.kind() == redis::ErrorKind::AuthenticationFailed {
        ErrorKind::AccessDenied
    } else {
        match code.as_deref() {
            Some("NOAUTH" | "WRONGPASS" | "NOPERM") => ErrorKind::AccessDenied,
            Some("LOADING" | "BUSY" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN") => {
                ErrorKind::Unavailable
            }
            _ if err.kind() == redis::ErrorKind::InvalidClientConfig => ErrorKind::InvalidInput,
            _ => ErrorKind::Other,
        }
    };
    if let Some(tls) = tls::rustls_error(err) {
        // A certificate the client refuses: a retry meets the same certificate.
        return ActionError::new(
            ErrorKind::Other,
            format!("{doing}: {err}; {}", tls::tls_advice(tls, "tls_ca")),
        )
        .with_code("TlsHandshake");
    }
    let mut out = ActionError::new(kind, format!("{doing}: {err}"));
    if let Some(code) = code {
        out = out.with_code(code);
    }
    out
}

#[cfg(test)]
#[path = "redis_client_tests.rs"]
mod tests;
