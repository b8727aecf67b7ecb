//! `vault.unseal`: submit key shares to each node until it is unsealed, then wait until the
//! cluster serves (an active node; every given node unsealed).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, ExposeSecret, HasBase, Outputs,
    Params, Poll, PortFactory, Resource, SecretRef, SecretString, StepSpec, wait_until,
};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use crate::common::{
    optional_duration, resolve_address, server_resource, step_address, step_conn, unsent_namespace,
    vault_wait_policy,
};
use crate::port::{Health, SealStatus, VaultApi, VaultConn};

/// How long, by default, the unsealed nodes may go without an active node (and an auto-unseal
/// node may take to unseal itself) before the step fails saying so.
pub const DEFAULT_ACTIVE_TIMEOUT: Duration = Duration::from_secs(60);

/// The parameters of `vault.unseal`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct UnsealParams {
    /// the server, http:// or https:// (e.g. https://vault-1.example:8200); default: VAULT_ADDR
    #[serde(default)]
    pub address: Option<String>,
    /// every node of an HA cluster to unseal, instead of `address`: each is sent its shares
    /// directly (unseal progress is kept per node: shares sent through a load balancer are
    /// wasted)
    #[serde(default)]
    #[param(ty = "list of strings")]
    pub addresses: Vec<String>,
    /// where the key shares are read from, in order (env:NAME, file:/path); never the shares
    /// themselves
    #[param(ty = "list of secret references")]
    pub keys: Vec<SecretRef>,
    /// the threshold the runbook expects; blocked when the server says otherwise
    #[serde(default)]
    pub threshold: Option<u32>,
    /// one node: an unsealed standby passes too (its cluster having an active node); default
    /// false: only an active node. Several nodes: standbys always pass
    #[serde(default)]
    #[param(ty = "boolean")]
    pub allow_standby: bool,
    /// how long the unsealed nodes may go without an active node in their cluster (raft elects
    /// one only when a quorum of its nodes is unsealed), or an auto-unseal node may take to
    /// unseal itself, before the step fails saying so; default 60s
    #[serde(default, deserialize_with = "optional_duration")]
    pub active_timeout: Option<Duration>,
    /// Vault Enterprise/HCP namespace: checked, never sent (sys/unseal, sys/seal-status,
    /// sys/health and sys/leader are root-namespace endpoints)
    #[serde(default)]
    pub namespace: Option<String>,
}

impl UnsealParams {
    /// Unseal with `keys`.
    pub fn new(keys: Vec<SecretRef>) -> Self {
        Self {
            address: None,
            addresses: Vec::new(),
            keys,
            threshold: None,
            allow_standby: false,
            active_timeout: None,
            namespace: None,
        }
    }
}

/// The nodes of a step: `addresses`, else `address`, else `VAULT_ADDR`, each checked, none twice.
fn node_addresses(p: &UnsealParams) -> Result<Vec<String>, ParamError> {
    if p.addresses.is_empty() {
        return Ok(vec![step_address(p.address.as_deref())?]);
    }
    if p.address.is_some() {
        return Err(ParamError::new(
            "addresses",
            "give `address` (one node) or `addresses` (the nodes of a cluster), not both",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(p.addresses.len());
    for (i, given) in p.addresses.iter().enumerate() {
        let param = format!("addresses[{i}]");
        let address = resolve_address(Some(given), |_| None)
            .map_err(|why| ParamError::new(param.clone(), why))?;
        if out.contains(&address) {
            return Err(ParamError::new(
                param,
                format!("`{address}` is listed twice"),
            ));
        }
        out.push(address);
    }
    Ok(out)
}

/// Unseals a Vault / OpenBao server, or every given node of an HA cluster, with Shamir key
/// shares.
///
/// - `check`: reads each node's seal status. Every node unsealed and the cluster serving ->
///   done (with its health); a node not initialised or migrating its seal, fewer distinct
///   shares available than a node still needs, or a threshold other than the runbook's ->
///   blocked; otherwise ready, saying what each node needs. An auto-unseal node (KMS, transit,
///   HSM...) is reported as such: it needs no shares.
/// - `execute`: submits shares to each sealed Shamir node, directly and one at a time, and stops
///   as soon as that node is unsealed (never more shares than it needs). The server accepts a
///   wrong share until the threshold is reached, then answers 400 and resets its progress: that
///   is reported as one clear `InvalidInput` error. An auto-unseal node is never sent a share
///   (its shares are recovery keys). Then waits until every given node is unsealed and the
///   cluster has an active node (a node's `sys/health`, else a standby's `sys/leader`); one
///   node without `allow_standby` must itself become active. When the nodes are unsealed but no
///   active node appears within `active_timeout` (a raft cluster without a quorum of unsealed
///   nodes has none), or an auto-unseal node does not unseal itself within it, the step fails
///   saying so.
/// - `verify`: the same end state.
///
/// Keys are [`SecretRef`]s resolved into [`SecretString`]s only when needed; no key value is
/// ever in an output, an error, a progress event or `Debug`.
#[derive(Debug, HasBase)]
pub struct Unseal {
    base: Base<Self>,
    /// One per node, in the order given.
    nodes: Vec<VaultConn>,
}

impl ActionKind for Unseal {
    const KIND: &'static str = "vault.unseal";
    const SUMMARY: &'static str = "Unseal a Vault/OpenBao server, or every node of an HA cluster, with Shamir key shares (no more than needed), then wait until the cluster has an active node";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("sealed", "false"),
        OutputDoc::new(
            "state",
            "active (or standby with allow_standby); several nodes: active when one of them is",
        ),
        OutputDoc::new("threshold", "shares needed to unseal"),
        OutputDoc::new("shares", "shares in total"),
        OutputDoc::new(
            "shares_submitted",
            "shares this step submitted, all nodes together (0 when already unsealed)",
        ),
        OutputDoc::new("version", "the server version"),
        OutputDoc::new(
            "seal_type",
            "shamir, or the auto-unseal's type (awskms, transit, ...)",
        ),
        OutputDoc::new(
            "nodes",
            "per node: address, state, shares_submitted, seal_type",
        ),
        OutputDoc::new(
            "active_address",
            "the active node (as its standbys name it), when known",
        ),
    ];
    type Params = UnsealParams;
    type Port = dyn VaultApi;
    type Ports = PortFactory<dyn VaultApi>;

    fn validate(p: &UnsealParams) -> Result<(), ParamError> {
        node_addresses(p)?;
        if p.keys.is_empty() {
            return Err(ParamError::new(
                "keys",
                "give at least one key share reference",
            ));
        }
        if p.threshold == Some(0) {
            return Err(ParamError::new("threshold", "must be at least 1"));
        }
        if p.active_timeout.is_some_and(|t| t.is_zero()) {
            return Err(ParamError::new("active_timeout", "must be more than 0"));
        }
        unsent_namespace(p.namespace.as_deref())
    }

    fn build(step: StepSpec<UnsealParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let addresses = node_addresses(&step.params)?;
        let target = match addresses.as_slice() {
            [one] => server_resource(one),
            many => Resource::new("vault", "cluster", many.join(",")),
        };
        let nodes = addresses
            .into_iter()
            .map(step_conn)
            .collect::<Result<Vec<_>, _>>()?;
        let mut base = step.into_base(target, ports);
        base.wait = vault_wait_policy();
        Ok(Self { base, nodes })
    }
}

/// What the given nodes say about their cluster, from their `sys/health` (and, when none of
/// them is active, a standby's `sys/leader`).
struct ClusterView {
    /// Each node's address and health, in the order given.
    nodes: Vec<(String, Health)>,
    /// The active node: a given node that is active, or the one a standby names when it is not
    /// one of the given nodes. `Some("")` when a standby says there is one without naming it
    /// (redacted addresses).
    active: Option<String>,
    /// Whether some node knows of a leader (possibly a given node still becoming active).
    leader_seen: bool,
}

impl ClusterView {
    fn all_unsealed(&self) -> bool {
        self.nodes.iter().all(|(_, h)| h.is_unsealed())
    }

    /// One node: its state. Several: `active` when one of them is, else `standby` (when they
    /// are all unsealed) or `sealed`.
    fn state(&self) -> &'static str {
        match self.nodes.as_slice() {
            [(_, one)] => one.state(),
            many if many.iter().any(|(_, h)| h.is_active()) => "active",
            _ if self.all_unsealed() => "standby",
            _ => "sealed",
        }
    }

    /// `standby` for one node; `http://a: active, http://b: standby` for several.
    fn describe(&self) -> String {
        match self.nodes.as_slice() {
            [(_, one)] => one.state().to_owned(),
            many => many
                .iter()
                .map(|(a, h)| format!("{a}: {}", h.state()))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

impl Unseal {
    fn active_timeout(&self) -> Duration {
        self.base
            .params
            .active_timeout
            .unwrap_or(DEFAULT_ACTIVE_TIMEOUT)
    }

    /// One node without `allow_standby`: that node itself must become active.
    fn needs_own_active(&self) -> bool {
        self.nodes.len() == 1 && !self.base.params.allow_standby
    }

    /// The nodes, for messages: `http://a` or `http://a, http://b`.
    fn addresses(&self) -> String {
        self.nodes
            .iter()
            .map(VaultConn::address)
            .collect::<Vec<_>>()
            .join(", ")
    }

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

    /// Each node's seal status, in order. An error names its node as its resource.
    async fn statuses(&self, ctx: &Context) -> Result<Vec<SealStatus>, ActionError> {
        let mut out = Vec::with_capacity(self.nodes.len());
        for conn in &self.nodes {
            let status = ctx
                .bounded(self.base.port.seal_status(conn))
                .await
                .map_err(|e| e.with_resource(server_resource(conn.address())))?;
            out.push(status);
        }
        Ok(out)
    }

    /// Whether some node needs shares (a sealed Shamir node).
    fn needs_shares(statuses: &[SealStatus]) -> bool {
        statuses.iter().any(|s| s.sealed && !s.is_auto_unseal())
    }

    /// Why the nodes cannot be unsealed with what was given, if they cannot. `available` is the
    /// number of distinct shares (only looked at for a sealed Shamir node).
    fn blocker(&self, statuses: &[SealStatus], available: usize) -> Option<String> {
        for (conn, status) in self.nodes.iter().zip(statuses) {
            let address = conn.address();
            if !status.initialized {
                return Some(format!(
                    "{address} is not initialised: there are no keys to unseal it with"
                ));
            }
            if status.migration {
                return Some(format!(
                    "{address} is migrating its seal: unseal it with `vault operator unseal \
                     -migrate` (drkit does not migrate seals)"
                ));
            }
            if !status.sealed || status.is_auto_unseal() {
                continue;
            }
            if let Some(expected) = self.base.params.threshold
                && expected != status.threshold
            {
                return Some(format!(
                    "{address} needs {} of {} shares, but the runbook says the threshold is \
                     {expected}: wrong cluster or wrong keys?",
                    status.threshold, status.shares
                ));
            }
            let needed = status.threshold.saturating_sub(status.progress) as usize;
            if available < needed {
                return Some(format!(
                    "{address} needs {needed} more share(s) (threshold {}, progress {}), but \
                     only {available} distinct share(s) are given",
                    status.threshold, status.progress
                ));
            }
        }
        None
    }

    /// `auto-unseal (type awskms): no shares needed (recovery keys only)`.
    fn auto_unseal_note(status: &SealStatus) -> String {
        format!(
            "auto-unseal (type {}): no shares needed (its shares are recovery keys, never sent)",
            status.seal_type
        )
    }

    /// What `check` says `execute` will do, node by node.
    fn plan(&self, statuses: &[SealStatus], available: usize) -> String {
        let steps: Vec<String> = self
            .nodes
            .iter()
            .zip(statuses)
            .filter_map(|(conn, status)| {
                let address = conn.address();
                if status.is_auto_unseal() {
                    Some(format!(
                        "{address} is {}{}",
                        Self::auto_unseal_note(status),
                        if status.sealed {
                            format!(
                                "; it is sealed: wait up to {} for it to unseal itself",
                                humantime::format_duration(self.active_timeout())
                            )
                        } else {
                            String::new()
                        }
                    ))
                } else if status.sealed {
                    Some(format!(
                        "unseal {address} with {} of the {available} given share(s) (threshold \
                         {}, progress {})",
                        status.threshold.saturating_sub(status.progress),
                        status.threshold,
                        status.progress
                    ))
                } else if self.nodes.len() > 1 {
                    Some(format!("{address} is unsealed"))
                } else {
                    None
                }
            })
            .collect();
        steps.join("; ")
    }

    /// Each node's health and, when none of them is active, whether a standby knows of an
    /// active node.
    async fn observe(&self, ctx: &Context) -> Result<ClusterView, ActionError> {
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for conn in &self.nodes {
            let health = ctx
                .bounded(self.base.port.health(conn))
                .await
                .map_err(|e| e.with_resource(server_resource(conn.address())))?;
            nodes.push((conn.address().to_owned(), health));
        }
        let mut active = nodes
            .iter()
            .find(|(_, h)| h.is_active())
            .map(|(a, _)| a.clone());
        let mut leader_seen = active.is_some();
        if active.is_none() {
            for (conn, (_, health)) in self.nodes.iter().zip(&nodes) {
                // A standby that cannot reach the active node (Vault 1.19+: 474) proves nothing.
                if !health.is_unsealed() || health.ha_connection_healthy == Some(false) {
                    continue;
                }
                let leader = ctx
                    .bounded(self.base.port.leader(conn))
                    .await
                    .map_err(|e| e.with_resource(server_resource(conn.address())))?;
                if !leader.has_leader() {
                    continue;
                }
                leader_seen = true;
                let named = leader.leader_address.trim_end_matches('/');
                // A given node named (or naming itself) is active once its own health says so:
                // right after an election it still answers as a standby for a moment.
                let given = leader.is_self || self.nodes.iter().any(|c| c.address() == named);
                if !given {
                    active = Some(named.to_owned());
                }
                break;
            }
        }
        Ok(ClusterView {
            nodes,
            active,
            leader_seen,
        })
    }

    /// The end state: every node unsealed, an active node in the cluster, and, for one node
    /// without `allow_standby`, that node active.
    fn serves(&self, view: &ClusterView) -> bool {
        view.all_unsealed()
            && view.active.is_some()
            && (!self.needs_own_active() || view.nodes.iter().all(|(_, h)| h.is_active()))
    }

    /// Unsealed nodes, no active node: name the missing quorum.
    fn no_active_node(&self, view: &ClusterView, statuses: &[SealStatus]) -> ActionError {
        let unsealed = view.nodes.len();
        let raft = statuses.iter().any(|s| s.storage_type == "raft");
        let why = if raft {
            format!(
                "the storage is raft, which elects an active node only when a quorum (a majority) \
                 of its voting nodes is unsealed: with {unsealed} node(s) unsealed there is one \
                 only if the cluster has at most {} voter(s). Add the addresses of the cluster's \
                 other nodes to `addresses` so they are unsealed too",
                2 * unsealed - 1
            )
        } else {
            "check that the cluster's HA storage is reachable and its other nodes are up; give \
             their addresses in `addresses` if they are sealed"
                .to_owned()
        };
        ActionError::precondition(format!(
            "{} unsealed ({}) but no active node appeared within {}: sys/leader names none. {why}",
            self.addresses(),
            view.describe(),
            humantime::format_duration(self.active_timeout())
        ))
    }

    /// An auto-unseal node still sealed after the time allowed.
    fn auto_unseal_stuck(&self, address: &str, status: &SealStatus) -> ActionError {
        let seal = &status.seal_type;
        ActionError::precondition(format!(
            "{address} is auto-unseal (type {seal}) and still sealed after {}: it unseals itself \
             through its seal (at start, then every few seconds) — check its access to the {seal} \
             key and its log. Shares do not unseal it (they would be recovery keys; none was \
             sent), and a node sealed by hand (sys/seal) stays sealed until it is restarted",
            humantime::format_duration(self.active_timeout())
        ))
    }

    /// Waits until [`Unseal::serves`], failing early (after `active_timeout`) when the nodes are
    /// unsealed without an active node, or an auto-unseal node stays sealed.
    async fn wait_serving(
        &self,
        ctx: &Context,
        statuses: &[SealStatus],
    ) -> Result<ClusterView, ActionError> {
        let limit = self.active_timeout();
        let started = Instant::now();
        let leaderless_since: Mutex<Option<Instant>> = Mutex::new(None);
        let what = if self.needs_own_active() {
            format!("{} to be active", self.addresses())
        } else {
            format!(
                "{} to be unsealed with an active node in the cluster",
                self.addresses()
            )
        };
        wait_until(ctx, &what, &self.base.wait, || async {
            let view = self.observe(ctx).await?;
            if self.serves(&view) {
                return Ok(Poll::Ready(view));
            }
            let now = Instant::now();
            if now.saturating_duration_since(started) >= limit {
                let stuck =
                    self.nodes.iter().zip(statuses).zip(&view.nodes).find(
                        |((_, status), (_, health))| status.is_auto_unseal() && health.sealed,
                    );
                if let Some(((conn, status), _)) = stuck {
                    return Err(self.auto_unseal_stuck(conn.address(), status));
                }
            }
            let mut since = leaderless_since
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if view.all_unsealed() && !view.leader_seen {
                let since = *since.get_or_insert(now);
                if now.saturating_duration_since(since) >= limit {
                    return Err(self.no_active_node(&view, statuses));
                }
            } else {
                *since = None;
            }
            Ok(Poll::Pending(view.describe()))
        })
        .await
    }

    fn outputs(&self, statuses: &[SealStatus], submitted: &[usize], view: &ClusterView) -> Outputs {
        let nodes: Vec<serde_json::Value> = view
            .nodes
            .iter()
            .zip(statuses)
            .zip(submitted)
            .map(|(((address, health), status), n)| {
                json!({
                    "address": address,
                    "state": health.state(),
                    "shares_submitted": n,
                    "seal_type": status.seal_type,
                })
            })
            .collect();
        let mut out = Outputs::new()
            .with("sealed", false)
            .with("state", view.state())
            .with("shares_submitted", submitted.iter().sum::<usize>())
            .with("nodes", nodes);
        if let Some(first) = statuses.first() {
            out = out
                .with("threshold", first.threshold)
                .with("shares", first.shares)
                .with("version", first.version.clone())
                .with("seal_type", first.seal_type.clone());
        }
        if let Some(active) = view.active.as_ref().filter(|a| !a.is_empty()) {
            out.insert("active_address", active.clone());
        }
        out
    }

    /// The same error without any share value in its message (belt and braces: the server
    /// does not echo shares, but an error text must never be trusted to hold no secret).
    fn scrubbed(err: ActionError, shares: &[SecretString]) -> ActionError {
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
        if let Some(resource) = err.resource() {
            out = out.with_resource(resource.to_owned());
        }
        out
    }

    /// Submits shares to one node until it is unsealed; how many were submitted.
    async fn submit(
        &self,
        ctx: &Context,
        conn: &VaultConn,
        mut status: SealStatus,
        shares: &[SecretString],
    ) -> Result<usize, ActionError> {
        let address = conn.address();
        let node = server_resource(address);
        let mut submitted = 0;
        for share in shares {
            if !status.sealed {
                break;
            }
            let before = status.progress;
            let answer = ctx
                .bounded(self.base.port.submit_unseal_share(conn, share))
                .await;
            submitted += 1;
            status = match answer {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::InvalidInput => {
                    let detail = Self::scrubbed(e, shares);
                    return Err(ActionError::invalid_input(format!(
                        "a key share is wrong: {address} rejected the shares when the threshold \
                         ({}) was reached and reset its unseal progress; {submitted} share(s) \
                         submitted from {}; check the keys belong to this cluster (server said: \
                         {})",
                        status.threshold,
                        self.key_refs(),
                        detail.message()
                    ))
                    .with_code(detail.code().unwrap_or("400").to_owned())
                    .with_operation("sys/unseal")
                    .with_resource(node));
                }
                Err(e) => return Err(Self::scrubbed(e, shares).with_resource(node)),
            };
            if status.sealed && status.progress <= before {
                ctx.progress(format!(
                    "{address}: share {submitted} did not advance the unseal progress ({}/{}): \
                     already submitted by someone else, or is this address a load balancer \
                     (progress is kept per node: give each node in `addresses`)?",
                    status.progress, status.threshold
                ));
            } else {
                ctx.progress(format!(
                    "{address}: share {submitted} accepted: {}",
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
                "{address} is still sealed after {submitted} share(s) (progress {}/{}): not \
                 enough distinct valid shares in {} (through a load balancer, shares reach \
                 different nodes: give each node in `addresses`)",
                status.progress,
                status.threshold,
                self.key_refs()
            ))
            .with_resource(node));
        }
        Ok(submitted)
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

    /// The verdict on a view: `Ok` with what it says, or why it is not the end state.
    fn verdict(&self, view: &ClusterView, statuses: &[SealStatus]) -> Result<String, String> {
        let mut seen = format!("{} is unsealed ({})", self.addresses(), view.describe());
        if self.nodes.len() > 1 {
            seen = format!("{} are unsealed ({})", self.addresses(), view.describe());
        }
        if let Some(auto) = statuses.iter().find(|s| s.is_auto_unseal()) {
            seen.push_str(&format!("; {}", Self::auto_unseal_note(auto)));
        }
        if self.serves(view) {
            return Ok(seen);
        }
        Err(if !view.all_unsealed() {
            format!("{} is {}", self.addresses(), view.describe())
        } else if !view.leader_seen {
            format!(
                "{} is unsealed ({}) but the cluster has no active node",
                self.addresses(),
                view.describe()
            )
        } else {
            format!(
                "{} is unsealed but {}: wait until it is active",
                self.addresses(),
                view.describe()
            )
        })
    }
}

#[async_trait]
impl Act for Unseal {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let statuses = self.statuses(ctx).await?;
        let available = if Self::needs_shares(&statuses) {
            match self.shares() {
                Ok(shares) => shares.len(),
                Err(e) => return Ok(Check::blocked(e.message().to_owned())),
            }
        } else {
            0
        };
        if let Some(reason) = self.blocker(&statuses, available) {
            return Ok(Check::blocked(reason));
        }
        if statuses.iter().any(|s| s.sealed) {
            return Ok(Check::ready(self.plan(&statuses, available)));
        }
        let view = self.observe(ctx).await?;
        Ok(match self.verdict(&view, &statuses) {
            Ok(detail) => Check::Done {
                detail,
                outputs: self.outputs(&statuses, &vec![0; statuses.len()], &view),
            },
            Err(not_yet) if !view.leader_seen && view.all_unsealed() => Check::ready(format!(
                "{not_yet}: wait up to {} for one",
                humantime::format_duration(self.active_timeout())
            )),
            Err(not_yet) => Check::ready(not_yet),
        })
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let statuses = self.statuses(ctx).await?;
        let shares = if Self::needs_shares(&statuses) {
            self.shares()?
        } else {
            Vec::new()
        };
        if let Some(reason) = self.blocker(&statuses, shares.len()) {
            return Err(ActionError::precondition(reason));
        }
        let mut submitted = Vec::with_capacity(self.nodes.len());
        for (conn, status) in self.nodes.iter().zip(&statuses) {
            let n = if status.is_auto_unseal() {
                if status.sealed {
                    ctx.progress(format!(
                        "{} is {}: waiting for it to unseal itself",
                        conn.address(),
                        Self::auto_unseal_note(status)
                    ));
                }
                0
            } else if status.sealed {
                self.submit(ctx, conn, status.clone(), &shares).await?
            } else {
                0
            };
            submitted.push(n);
        }
        drop(shares);
        let view = self.wait_serving(ctx, &statuses).await?;
        Ok(self.outputs(&statuses, &submitted, &view))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let statuses = self.statuses(ctx).await?;
        let view = self.observe(ctx).await?;
        self.verdict(&view, &statuses)
            .map_err(ActionError::postcondition)
    }
}

#[cfg(test)]
#[path = "unseal_tests.rs"]
mod tests;
