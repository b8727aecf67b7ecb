//! `vault.unseal`: submit key shares until the server is unsealed, then wait until it serves.

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, ExposeSecret, HasBase, Outputs,
    Params, PortFactory, SecretRef, SecretString, StepSpec,
};
use serde::Deserialize;

use crate::common::{server_resource, step_address, step_conn, vault_wait_policy, wait_for_health};
use crate::port::{SealStatus, VaultApi, VaultConn};

/// The parameters of `vault.unseal`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UnsealParams {
    /// the server, http:// or https:// (e.g. https://vault-1.example:8200); default: VAULT_ADDR
    #[serde(default)]
    pub address: Option<String>,
    /// where the key shares are read from, in order (env:NAME, file:/path); never the shares
    /// themselves
    #[param(ty = "list of secret references")]
    pub keys: Vec<SecretRef>,
    /// the threshold the runbook expects; blocked when the server says otherwise
    #[serde(default)]
    pub threshold: Option<u32>,
    /// an unsealed standby passes too (HA clusters); default false: only an active node
    #[serde(default)]
    #[param(ty = "boolean")]
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
#[derive(Debug, HasBase)]
pub struct Unseal {
    base: Base<Self>,
    conn: VaultConn,
}

impl ActionKind for Unseal {
    const KIND: &'static str = "vault.unseal";
    const SUMMARY: &'static str = "Unseal a Vault/OpenBao server with Shamir key shares (no more than needed), then wait until it is active";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("sealed", "false"),
        OutputDoc::new("state", "active (or standby with allow_standby)"),
        OutputDoc::new("threshold", "shares needed to unseal"),
        OutputDoc::new("shares", "shares in total"),
        OutputDoc::new(
            "shares_submitted",
            "shares this step submitted (0 when already unsealed)",
        ),
        OutputDoc::new("version", "the server version"),
    ];
    type Params = UnsealParams;
    type Port = dyn VaultApi;
    type Ports = PortFactory<dyn VaultApi>;

    fn validate(p: &UnsealParams) -> Result<(), ParamError> {
        step_address(p.address.as_deref())?;
        if p.keys.is_empty() {
            return Err(ParamError::new(
                "keys",
                "give at least one key share reference",
            ));
        }
        if p.threshold == Some(0) {
            return Err(ParamError::new("threshold", "must be at least 1"));
        }
        Ok(())
    }

    fn build(step: StepSpec<UnsealParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let address = step_address(step.params.address.as_deref())?;
        let mut base = step.into_base(server_resource(&address), ports);
        base.wait = vault_wait_policy();
        Ok(Self {
            base,
            conn: step_conn(address)?,
        })
    }
}

impl Unseal {
    /// The shares, resolved, without duplicates (the server ignores a share given twice).
    fn shares(&self) -> Result<Vec<SecretString>, ActionError> {
        let mut shares: Vec<SecretString> = Vec::new();
        for r in &self.base.params.keys {
            let share = r.resolve()?;
            let value = share.expose_secret().trim();
            if !shares.iter().any(|s| s.expose_secret().trim() == value) {
                shares.push(SecretString::from(value.to_owned()));
            }
        }
        Ok(shares)
    }

    async fn status(&self, ctx: &Context) -> Result<SealStatus, ActionError> {
        ctx.bounded(self.base.port.seal_status(&self.conn)).await
    }

    /// Why the server cannot be unsealed with what was given, if it cannot.
    fn blocker(&self, status: &SealStatus, available: usize) -> Option<String> {
        if !status.initialized {
            return Some(format!(
                "{} is not initialised: there are no keys to unseal it with",
                self.conn.address()
            ));
        }
        if let Some(expected) = self.base.params.threshold
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
            return err;
        }
        let mut out = ActionError::new(err.kind(), message);
        if let Some(code) = err.code() {
            out = out.with_code(code.to_owned());
        }
        if let Some(op) = err.operation() {
            out = out.with_operation(op.to_owned());
        }
        out
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
                .bounded(self.base.port.submit_unseal_share(&self.conn, share))
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
                    .with_operation("sys/unseal"));
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
            )));
        }
        Ok((status, submitted))
    }

    fn key_refs(&self) -> String {
        self.base
            .params
            .keys
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[async_trait]
impl Act for Unseal {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let status = self.status(ctx).await?;
        if status.initialized && !status.sealed {
            let health = ctx.bounded(self.base.port.health(&self.conn)).await?;
            if health.is_active() || (self.base.params.allow_standby && !health.sealed) {
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

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let status = self.status(ctx).await?;
        let (status, submitted) = if status.sealed {
            let shares = self.shares()?;
            if let Some(reason) = self.blocker(&status, shares.len()) {
                return Err(ActionError::precondition(reason));
            }
            self.submit(ctx, status, &shares).await?
        } else if status.initialized {
            (status, 0)
        } else {
            return Err(ActionError::precondition(format!(
                "{} is not initialised",
                self.conn.address()
            )));
        };
        let health = wait_for_health(
            ctx,
            self.base.port.as_ref(),
            &self.conn,
            self.base.params.allow_standby,
            &self.base.wait,
        )
        .await?;
        Ok(self.outputs(&status, submitted, health.state()))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let health = ctx.bounded(self.base.port.health(&self.conn)).await?;
        if health.is_active()
            || (self.base.params.allow_standby && health.initialized && !health.sealed)
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
            )))
        }
    }
}

#[cfg(test)]
#[path = "unseal_tests.rs"]
mod tests;
