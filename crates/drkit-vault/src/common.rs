//! What the actions share: the address and token defaults, the resource, health waits.

use std::time::Duration;

use drkit_core::registry::ParamError;
use drkit_core::{ActionError, Context, Poll, Resource, SecretRef, WaitPolicy, wait_until};

use crate::client::validate_address;
use crate::port::{Health, VaultApi, VaultConn};

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

/// Waits until the server is active (or, with `allow_standby`, at least an unsealed standby).
pub(crate) async fn wait_for_health(
    ctx: &Context,
    api: &dyn VaultApi,
    conn: &VaultConn,
    allow_standby: bool,
    policy: &WaitPolicy,
) -> Result<Health, ActionError> {
    let what = if allow_standby {
        format!("{} to be unsealed (active or standby)", conn.address())
    } else {
        format!("{} to be active", conn.address())
    };
    wait_until(ctx, &what, policy, || async {
        let health = ctx.bounded(api.health(conn)).await?;
        let ok = health.is_active() || (allow_standby && health.initialized && !health.sealed);
        Ok(if ok {
            Poll::Ready(health)
        } else {
            Poll::Pending(health.state().to_owned())
        })
    })
    .await
}

/// A short wait policy: Vault's state changes take seconds, not minutes.
pub(crate) fn vault_wait_policy() -> WaitPolicy {
    WaitPolicy::default()
        .first_delay(std::time::Duration::from_millis(200))
        .max_delay(std::time::Duration::from_secs(5))
}
