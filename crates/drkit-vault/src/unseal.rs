//! `vault.unseal`: submit key shares until the server is unsealed, then wait until it serves.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::{
    ActionError, Check, Context, ErrorKind, ExposeSecret, Outputs, RecoveryAction, Resource,
    SecretRef, SecretString, WaitPolicy,
};
use serde::Deserialize;

use crate::common::{server_resource, vault_wait_policy, wait_for_health};
use crate::port::{SealStatus, VaultApi, VaultConn};

/// Kind name of [`Unseal`].
pub(crate) const KIND: &str = "vault.unseal";

/// The parameters of `vault.unseal`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UnsealParams {
    /// The server, e.g. `https://vault-1.example:8200`; default: `VAULT_ADDR`.
    #[serde(default)]
    pub address: Option<String>,
    /// Where the key shares are read from (`env:NAME`, `file:/path`), in the order to try
    /// them. Only as many as needed are submitted.
    pub keys: Vec<SecretRef>,
    /// The threshold the runbook expects; when given and the server says otherwise, the
    /// action is blocked (a sign of the wrong cluster or the wrong keys).
    #[serde(default)]
    pub threshold: Option<u32>,
    /// Accept an unsealed standby as the end state (HA clusters: another node is active).
    /// Default false: wait until this node is active.
    #[serde(default)]
    pub allow_standby: bool,
}

impl UnsealParams {
    /// Unseal with `keys`.
    pub fn new(keys: Vec<SecretRef>) -> Self {
        Self {
            address: None,
            keys,
            threshold: None,
            allow_standby: false,
        }
    }
}

/// Unseals a Vault / OpenBao server with Shamir key shares.
///
/// - `check`: reads the seal status. Unsealed -> done (with its health); not initialised, or
///   fewer distinct shares available than still needed, or a threshold other than the
///   runbook's -> blocked; otherwise ready.
/// - `execute`: submits one share at a time and stops as soon as the server is unsealed (never
///   more shares than needed). The server accepts a wrong share until the threshold is reached,
///   then answers 400 and resets its progress: that is reported as one clear `InvalidInput`
///   error. Then waits until health says *active* (a standby answers first, right after an
///   unseal).
/// - `verify`: the server is unsealed and active (or standby when allowed).
///
/// Keys are [`SecretRef`]s resolved into [`SecretString`]s only when needed; no key value is
/// ever in an output, an error, a progress event or `Debug`.
pub struct Unseal {
    id: String,
    params: UnsealParams,
    conn: VaultConn,
    target: Resource,
    api: Arc<dyn VaultApi>,
    wait: WaitPolicy,
}

impl fmt::Debug for Unseal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unseal")
            .field("id", &self.id)
            .field("params", &self.params)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Unseal {
    /// An unseal step `id` of the server at `address` (already resolved and checked).
    pub fn new(
        id: impl Into<String>,
        address: impl Into<String>,
        params: UnsealParams,
        api: Arc<dyn VaultApi>,
    ) -> Self {
        let address = address.into();
        Self {
            id: id.into(),
            target: server_resource(&address),
            conn: VaultConn::new(address),
            params,
            api,
            wait: vault_wait_policy(),
        }
    }

    /// Uses `policy` for the wait after unsealing.
    #[must_use]
    pub fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    /// The shares, resolved, without duplicates (the server ignores a share given twice).
    fn shares(&self) -> Result<Vec<SecretString>, ActionError> {
        let mut shares: Vec<SecretString> = Vec::new();
        for r in &self.params.keys {
            let share = r.resolve().map_err(|e| e.in_action(self))?;
            let value = share.expose_secret().trim();
            if !shares.iter().any(|s| s.expose_secret().trim() == value) {
                shares.push(SecretString::from(value.to_owned()));
            }
        }
        Ok(shares)
    }

    async fn status(&self, ctx: &Context) -> Result<SealStatus, ActionError> {
        ctx.bounded(self.api.seal_status(&self.conn))
            .await
            .map_err(|e| e.in_action(self))
    }

    /// Why the server cannot be unsealed with what was given, if it cannot.
    fn blocker(&self, status: &SealStatus, available: usize) -> Option<String> {
        if !status.initialized {
            return Some(format!(
                "{} is not initialised: there are no keys to unseal it with",
                self.conn.address()
            ));
        }
        if let Some(expected) = self.params.threshold
            && expected != status.threshold
        {
            return Some(format!(
                "{} needs {} of {} shares, but the runbook says the threshold is {expected}: \
                 wrong cluster or wrong keys?",
                self.conn.address(),
                status.threshold,
                status.shares
            ));
        }
        let needed = status.threshold.saturating_sub(status.progress) as usize;
        if available < needed {
            return Some(format!(
                "{} needs {needed} more share(s) (threshold {}, progress {}), but only {available} \
                 distinct share(s) are given",
                self.conn.address(),
                status.threshold,
                status.progress
            ));
        }
        None
    }

    fn outputs(&self, status: &SealStatus, submitted: usize, state: &str) -> Outputs {
        Outputs::new()
            .with("sealed", false)
            .with("state", state)
            .with("threshold", status.threshold)
            .with("shares", status.shares)
            .with("shares_submitted", submitted)
            .with("version", status.version.clone())
    }

    /// The same error without any share value in its message (belt and braces: the server
    /// does not echo shares, but an error text must never be trusted to hold no secret).
    fn scrubbed(&self, err: ActionError, shares: &[SecretString]) -> ActionError {
        let mut message = err.message().to_owned();
        let mut touched = false;
        for share in shares {
            let value = share.expose_secret();
            if !value.is_empty() && message.contains(value) {
                message = message.replace(value, "[redacted]");
                touched = true;
            }
        }
        if !touched {
            return err.in_action(self);
        }
        let mut out = ActionError::new(err.kind(), message);
        if let Some(code) = err.code() {
            out = out.with_code(code.to_owned());
        }
        if let Some(op) = err.operation() {
            out = out.with_operation(op.to_owned());
        }
        out.in_action(self)
    }

    /// Submits shares until unsealed; returns the final status and how many were submitted.
    async fn submit(
        &self,
        ctx: &Context,
        mut status: SealStatus,
        shares: &[SecretString],
    ) -> Result<(SealStatus, usize), ActionError> {
        let mut submitted = 0;
        for share in shares {
            if !status.sealed {
                break;
            }
            let before = status.progress;
            let answer = ctx
                .bounded(self.api.submit_unseal_share(&self.conn, share))
                .await;
            submitted += 1;
            status = match answer {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::InvalidInput => {
                    let detail = self.scrubbed(e, shares);
                    return Err(ActionError::invalid_input(format!(
                        "a key share is wrong: the server rejected the shares when the threshold \
                         ({}) was reached and reset its unseal progress; {submitted} share(s) \
                         submitted from {}; check the keys belong to this cluster (server said: \
                         {})",
                        status.threshold,
                        self.key_refs(),
                        detail.message()
                    ))
                    .with_code(detail.code().unwrap_or("400").to_owned())
                    .with_operation("sys/unseal")
                    .in_action(self));
                }
                Err(e) => return Err(self.scrubbed(e, shares)),
            };
            if status.sealed && status.progress <= before {
                ctx.progress(format!(
                    "share {submitted} did not advance the unseal progress ({}/{}): already \
                     submitted by someone else?",
                    status.progress, status.threshold
                ));
            } else {
                ctx.progress(format!(
                    "share {submitted} accepted: {}",
                    if status.sealed {
                        format!("progress {}/{}", status.progress, status.threshold)
                    } else {
                        "unsealed".to_owned()
                    }
                ));
            }
        }
        if status.sealed {
            return Err(ActionError::precondition(format!(
                "still sealed after {submitted} share(s) (progress {}/{}): not enough distinct \
                 valid shares in {}",
                status.progress,
                status.threshold,
                self.key_refs()
            ))
            .in_action(self));
        }
        Ok((status, submitted))
    }

    fn key_refs(&self) -> String {
        self.params
            .keys
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[async_trait]
impl RecoveryAction for Unseal {
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
        true
    }
    fn iam_actions(&self) -> &'static [&'static str] {
        &[]
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        let status = self.status(ctx).await?;
        if status.initialized && !status.sealed {
            let health = ctx
                .bounded(self.api.health(&self.conn))
                .await
                .map_err(|e| e.in_action(self))?;
            if health.is_active() || (self.params.allow_standby && !health.sealed) {
                return Ok(Check::Done {
                    detail: format!("{} is unsealed ({})", self.conn.address(), health.state()),
                    outputs: self.outputs(&status, 0, health.state()),
                });
            }
            return Ok(Check::ready(format!(
                "{} is unsealed but {}: wait until it is active",
                self.conn.address(),
                health.state()
            )));
        }
        let shares = match self.shares() {
            Ok(shares) => shares,
            Err(e) => return Ok(Check::blocked(e.message().to_owned())),
        };
        if let Some(reason) = self.blocker(&status, shares.len()) {
            return Ok(Check::blocked(reason));
        }
        let needed = status.threshold.saturating_sub(status.progress);
        Ok(Check::ready(format!(
            "unseal {} with {needed} of the {} given share(s) (threshold {}, progress {})",
            self.conn.address(),
            shares.len(),
            status.threshold,
            status.progress
        )))
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        if ctx.is_dry_run() {
            return Err(ActionError::unsupported("refusing to unseal in a dry run").in_action(self));
        }
        let status = self.status(ctx).await?;
        let (status, submitted) = if status.sealed {
            let shares = self.shares()?;
            if let Some(reason) = self.blocker(&status, shares.len()) {
                return Err(ActionError::precondition(reason).in_action(self));
            }
            self.submit(ctx, status, &shares).await?
        } else if status.initialized {
            (status, 0)
        } else {
            return Err(ActionError::precondition(format!(
                "{} is not initialised",
                self.conn.address()
            ))
            .in_action(self));
        };
        let health = wait_for_health(
            ctx,
            self.api.as_ref(),
            &self.conn,
            self.params.allow_standby,
            &self.wait,
        )
        .await
        .map_err(|e| e.in_action(self))?;
        Ok(self.outputs(&status, submitted, health.state()))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let health = ctx
            .bounded(self.api.health(&self.conn))
            .await
            .map_err(|e| e.in_action(self))?;
        if health.is_active() || (self.params.allow_standby && health.initialized && !health.sealed)
        {
            Ok(format!(
                "{} is unsealed ({})",
                self.conn.address(),
                health.state()
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "{} is {}",
                self.conn.address(),
                health.state()
            ))
            .in_action(self))
        }
    }
}

#[cfg(test)]
#[path = "unseal_tests.rs"]
mod tests;
