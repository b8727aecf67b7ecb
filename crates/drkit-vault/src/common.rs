//! What the actions share: the address, token and namespace defaults, the resource, health
//! waits, duration parameters.

use std::time::Duration;

use drkit_core::registry::ParamError;
use drkit_core::{Resource, SecretRef, WaitPolicy};

use crate::client::{validate_address, validate_namespace};
use crate::port::VaultConn;

/// The variable `address` defaults to.
pub(crate) const ADDRESS_VAR: &str = "VAULT_ADDR";

/// The variable the token is read from when `token` is not given.
pub(crate) const TOKEN_VAR: &str = "VAULT_TOKEN";

/// `token` when not given: `env:VAULT_TOKEN`.
pub(crate) fn default_token() -> SecretRef {
    SecretRef::Env(TOKEN_VAR.to_owned())
}

/// The address: the parameter, else `VAULT_ADDR` (read with `env`), checked.
pub(crate) fn resolve_address(
    param: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let address = match param {
        Some(a) => a.to_owned(),
        None => env(ADDRESS_VAR)
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| format!("not given and {ADDRESS_VAR} is not set"))?,
    };
    let address = address.trim().trim_end_matches('/').to_owned();
    validate_address(&address)?;
    Ok(address)
}

/// The address of a step: its `address` parameter, else `VAULT_ADDR`, checked (a
/// [`ParamError`] on `address` when neither gives a usable one).
pub(crate) fn step_address(param: Option<&str>) -> Result<String, ParamError> {
    resolve_address(param, |name| std::env::var(name).ok())
        .map_err(|why| ParamError::new("address", why))
}

/// The variable `namespace` defaults to (the Vault CLI's own), for the kinds that call
/// namespaced endpoints.
pub(crate) const NAMESPACE_VAR: &str = "VAULT_NAMESPACE";

/// The namespace: the parameter, else `VAULT_NAMESPACE` (read with `env`), checked, without
/// leading or trailing `/`; `None` for the root namespace.
pub(crate) fn resolve_namespace(
    param: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    let (namespace, from) = match param {
        Some(ns) => (ns.to_owned(), None),
        None => match env(NAMESPACE_VAR).filter(|ns| !ns.trim().is_empty()) {
            Some(ns) => (ns, Some(NAMESPACE_VAR)),
            None => return Ok(None),
        },
    };
    let namespace = namespace.trim();
    validate_namespace(namespace).map_err(|why| match from {
        Some(var) => format!("{var}: {why}"),
        None => why,
    })?;
    Ok(Some(namespace.trim_matches('/').to_owned()))
}

/// The namespace of a step whose calls are namespaced (transit): its `namespace` parameter, else
/// `VAULT_NAMESPACE` (a [`ParamError`] on `namespace` when it is not a namespace path).
pub(crate) fn step_namespace(param: Option<&str>) -> Result<Option<String>, ParamError> {
    resolve_namespace(param, |name| std::env::var(name).ok())
        .map_err(|why| ParamError::new("namespace", why))
}

/// The `namespace` parameter of a kind whose endpoints are all root-namespace-only (`sys/`): it
/// is checked like any other (a runbook may give it to every Vault step) and never sent;
/// `VAULT_NAMESPACE` is not read.
pub(crate) fn unsent_namespace(param: Option<&str>) -> Result<(), ParamError> {
    resolve_namespace(param, |_| None)
        .map(drop)
        .map_err(|why| ParamError::new("namespace", why))
}

/// A duration parameter written as `60s`, `2m`, `1h30m` (or whole seconds).
pub(crate) fn optional_duration<'de, D>(d: D) -> Result<Option<Duration>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize as _;
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Seconds(secs)) => Ok(Some(Duration::from_secs(secs))),
        Some(Raw::Text(text)) => humantime::parse_duration(text.trim())
            .map(Some)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{text}` is not a duration such as `60s` or `2m`: {e}"
                ))
            }),
    }
}

/// The variable that bounds each call (the Vault CLI's own): `45s`, `2m`, or whole seconds.
pub(crate) const TIMEOUT_VAR: &str = "VAULT_CLIENT_TIMEOUT";

/// The bound of each call: `VAULT_CLIENT_TIMEOUT` (read with `env`) when set, else
/// [`VaultConn::DEFAULT_TIMEOUT`] (30 s).
pub(crate) fn client_timeout(env: impl Fn(&str) -> Option<String>) -> Result<Duration, String> {
    let Some(text) = env(TIMEOUT_VAR).filter(|t| !t.trim().is_empty()) else {
        return Ok(VaultConn::DEFAULT_TIMEOUT);
    };
    let text = text.trim();
    let timeout = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(text).map_err(|e| {
            format!("{TIMEOUT_VAR}=`{text}` is not a duration such as `45s` or `2m`: {e}")
        })?,
    };
    if timeout.is_zero() {
        return Err(format!("{TIMEOUT_VAR} must be more than 0"));
    }
    Ok(timeout)
}

/// The connection of a step to `address`: calls bounded by [`client_timeout`] (a
/// [`ParamError`] when `VAULT_CLIENT_TIMEOUT` is not a duration).
pub(crate) fn step_conn(address: String) -> Result<VaultConn, ParamError> {
    let timeout = client_timeout(|name| std::env::var(name).ok()).map_err(ParamError::general)?;
    Ok(VaultConn::new(address).with_timeout(timeout))
}

/// `vault:server/<address>`.
pub(crate) fn server_resource(address: &str) -> Resource {
    Resource::new("vault", "server", address.to_owned())
}

/// A short wait policy: Vault's state changes take seconds, not minutes.
pub(crate) fn vault_wait_policy() -> WaitPolicy {
    WaitPolicy::default()
        .first_delay(std::time::Duration::from_millis(200))
        .max_delay(std::time::Duration::from_secs(5))
}
