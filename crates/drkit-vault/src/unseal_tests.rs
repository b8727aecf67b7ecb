//! Unit tests of `vault.unseal` against the mocked port and a fake HA cluster: what the
//! OpenBao peers cannot show on demand (a standby that never becomes active, a threshold
//! mismatch, errors, an auto-unseal server that stays sealed, a seal migration) and the exact
//! number of shares each node is sent. `tests/it/unseal.rs` unseals real sealed servers, a
//! 3-node raft cluster and an auto-unseal (static seal) server.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::kind::with_port;
use drkit_core::{ErrorKind, ProgressEvent, RecoveryAction, StepSpec};
use serde_json::json;

use super::*;
use crate::port::{Health, Leader, MockVaultApi, TransitKey};

const ADDR: &str = "http://10.0.0.9:8200";
/// Known share values: they must never show anywhere.
const SHARES: [&str; 3] = [
    "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3",
    "f1e2d3c4b5a6f7e8d9c0b1a2f3e4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3",
    "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c",
];

/// Writes the shares to files and returns references to them (env vars cannot be set safely in
/// a multi-threaded test binary).
fn share_files(dir: &tempfile::TempDir, values: &[&str]) -> Vec<SecretRef> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let path = dir.path().join(format!("share-{i}"));
            std::fs::write(&path, format!("{v}\n")).unwrap();
            SecretRef::File(path)
        })
        .collect()
}

fn sealed(progress: u32) -> SealStatus {
    SealStatus::new(true, true, 2, 3, progress).version("2.7.2")
}

fn unsealed() -> SealStatus {
    SealStatus::new(true, false, 2, 3, 0).version("2.7.2")
}

fn active() -> Health {
    Health::new(true, false, false, "2.7.2")
}

fn standby() -> Health {
    Health::new(true, false, true, "2.7.2")
}

/// What a standby answers on `sys/leader` when the active node is another one.
fn leader_elsewhere() -> Leader {
    Leader::new(false, "http://10.0.0.8:8200")
}

fn unseal(api: MockVaultApi, mut params: UnsealParams) -> Unseal {
    params.address = Some(ADDR.to_owned());
    with_port::<Unseal>(StepSpec::new("unseal", params), Arc::new(api)).unwrap()
}

fn action(api: MockVaultApi, keys: Vec<SecretRef>, threshold: Option<u32>) -> Unseal {
    let mut params = UnsealParams::new(keys);
    params.threshold = threshold;
    unseal(api, params)
}

/// Everything an operator or a journal could see, as text.
fn seen_text(events: &Mutex<Vec<ProgressEvent>>, extra: &[String]) -> String {
    let mut text = format!("{:?}", events.lock().unwrap());
    for e in events.lock().unwrap().iter() {
        text.push_str(&serde_json::to_string(e).unwrap());
    }
    for x in extra {
        text.push_str(x);
    }
    text
}

fn assert_no_share(text: &str) {
    for share in SHARES {
        assert!(!text.contains(share), "a share leaked into: {text}");
        assert!(
            !text.contains(&share[..16]),
            "part of a share leaked into: {text}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn submits_exactly_the_threshold_then_waits_through_standby() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status()
        .times(1)
        .returning(|_| Ok(sealed(0)));
    let submitted = Arc::new(Mutex::new(Vec::new()));
    {
        let submitted = Arc::clone(&submitted);
        api.expect_submit_unseal_share()
            .times(2)
            .returning(move |conn, share| {
                assert_eq!(conn.address(), ADDR);
                let mut s = submitted.lock().unwrap();
                s.push(share.expose_secret().to_owned());
                Ok(if s.len() == 1 { sealed(1) } else { unsealed() })
            });
    }
    let mut health = vec![active(), standby(), standby()];
    api.expect_health()
        .times(3)
        .returning(move |_| Ok(health.pop().unwrap()));
    api.expect_leader().returning(|_| Ok(leader_elsewhere()));
    let events = Arc::new(Mutex::new(Vec::new()));
    let ctx = {
        let events = Arc::clone(&events);
        Context::new()
            .with_timeout(Duration::from_secs(60))
            .with_events(move |e| events.lock().unwrap().push(e))
    };
    let action = action(api, share_files(&dir, &SHARES), Some(2));
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get("shares_submitted"), Some(&serde_json::json!(2)));
    assert_eq!(out.get_str("state"), Some("active"));
    assert_eq!(out.get("sealed"), Some(&serde_json::json!(false)));
    // The first two shares, trimmed of the file's newline; the third was never sent.
    assert_eq!(*submitted.lock().unwrap(), [SHARES[0], SHARES[1]]);
    assert_no_share(&seen_text(
        &events,
        &[
            format!("{out:?} {action:?}"),
            serde_json::to_string(&out).unwrap(),
        ],
    ));
}

#[tokio::test(start_paused = true)]
async fn a_wrong_share_is_a_clear_error_without_the_share() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    let mut n = 0;
    api.expect_submit_unseal_share()
        .times(2)
        .returning(move |_, share| {
            n += 1;
            if n == 1 {
                Ok(sealed(1))
            } else {
                // Even if a server echoed the share, it must not get through.
                Err(ActionError::new(
                    ErrorKind::InvalidInput,
                    format!("unseal failed, invalid key {}", share.expose_secret()),
                )
                .with_code("400")
                .with_operation("sys/unseal"))
            }
        });
    api.expect_health().never();
    let events = Arc::new(Mutex::new(Vec::new()));
    let ctx = {
        let events = Arc::clone(&events);
        Context::new().with_events(move |e| events.lock().unwrap().push(e))
    };
    let action = action(api, share_files(&dir, &SHARES), None);
    let err = action.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(!err.is_retryable());
    let text = err.to_string();
    assert!(text.contains("a key share is wrong"), "{text}");
    assert!(text.contains("reset its unseal progress"), "{text}");
    assert!(text.contains("2 share(s) submitted"), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
    assert!(
        text.starts_with("vault.unseal [unseal] on vault:server/"),
        "{text}"
    );
    assert_no_share(&seen_text(&events, &[text, format!("{err:?} {action:?}")]));
}

#[tokio::test(start_paused = true)]
async fn a_share_that_does_not_advance_is_skipped_and_the_next_one_used() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(1)));
    let mut answers = vec![unsealed(), sealed(1)];
    api.expect_submit_unseal_share()
        .times(2)
        .returning(move |_, _| Ok(answers.pop().unwrap()));
    api.expect_health().returning(|_| Ok(active()));
    // The same share twice in the list is submitted once (deduplicated locally).
    let keys = share_files(&dir, &[SHARES[0], SHARES[0], SHARES[1]]);
    let out = action(api, keys, None)
        .execute(&Context::new())
        .await
        .unwrap();
    assert_eq!(out.get("shares_submitted"), Some(&serde_json::json!(2)));
}

#[tokio::test(start_paused = true)]
async fn check_answers_done_ready_and_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let keys = share_files(&dir, &SHARES);

    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(unsealed()));
    api.expect_health().returning(|_| Ok(active()));
    let check = action(api, keys.clone(), None)
        .check(&Context::new())
        .await
        .unwrap();
    assert!(check.is_done(), "{check:?}");

    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    let check = action(api, keys.clone(), Some(2))
        .check(&Context::new())
        .await
        .unwrap();
    assert_eq!(
        check,
        Check::ready(format!(
            "unseal {ADDR} with 2 of the 3 given share(s) (threshold 2, progress 0)"
        ))
    );

    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    let check = action(api, keys[..1].to_vec(), None)
        .check(&Context::new())
        .await
        .unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("needs 2 more share(s)")),
        "{check:?}"
    );

    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    let check = action(api, keys.clone(), Some(3))
        .check(&Context::new())
        .await
        .unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("wrong cluster or wrong keys")),
        "{check:?}"
    );

    let mut api = MockVaultApi::new();
    api.expect_seal_status()
        .returning(|_| Ok(SealStatus::new(false, true, 0, 0, 0)));
    let check = action(api, keys.clone(), None)
        .check(&Context::new())
        .await
        .unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("not initialised")),
        "{check:?}"
    );

    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    let missing = vec![SecretRef::Env("DRKIT_SURELY_UNSET_UNSEAL_KEY".into())];
    let check = action(api, missing, None)
        .check(&Context::new())
        .await
        .unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("DRKIT_SURELY_UNSET_UNSEAL_KEY")),
        "{check:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_standby_that_never_becomes_active_ends_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(unsealed()));
    api.expect_submit_unseal_share().never();
    api.expect_health().returning(|_| Ok(standby()));
    // The cluster has an active node, just not this one: wait (it may take over).
    api.expect_leader().returning(|_| Ok(leader_elsewhere()));
    let ctx = Context::new().with_timeout(Duration::from_secs(120));
    let err = action(api, share_files(&dir, &SHARES), None)
        .execute(&ctx)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
    assert!(err.message().contains("to be active"), "{err}");
    assert!(err.message().contains("standby"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn allow_standby_accepts_an_unsealed_standby() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(unsealed()));
    api.expect_health().returning(|_| Ok(standby()));
    api.expect_leader().returning(|_| Ok(leader_elsewhere()));
    let mut params = UnsealParams::new(share_files(&dir, &SHARES));
    params.allow_standby = true;
    let action = unseal(api, params);
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get_str("state"), Some("standby"));
    assert_eq!(out.get_str("active_address"), Some("http://10.0.0.8:8200"));
    assert_eq!(
        action.verify(&Context::new()).await.unwrap(),
        format!("{ADDR} is unsealed (standby)")
    );
}

#[tokio::test(start_paused = true)]
async fn not_enough_valid_shares_and_other_errors() {
    let dir = tempfile::tempdir().unwrap();
    // The server never advances: after both shares it is still sealed.
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    api.expect_submit_unseal_share()
        .times(2)
        .returning(|_, _| Ok(sealed(0)));
    let err = action(api, share_files(&dir, &SHARES[..2]), None)
        .execute(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    assert!(
        err.message().contains("still sealed after 2 share(s)"),
        "{err}"
    );

    // A 503 while submitting keeps its kind (retryable) and its context.
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    api.expect_submit_unseal_share().returning(|_, _| {
        Err(ActionError::new(ErrorKind::Unavailable, "HTTP 503").with_code("503"))
    });
    let err = action(api, share_files(&dir, &SHARES), None)
        .execute(&Context::new())
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.code(), Some("503"));
    assert_eq!(err.action(), Some("vault.unseal"));
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_submits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status().never();
    api.expect_submit_unseal_share().never();
    let err = action(api, share_files(&dir, &SHARES), None)
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    // Refused by drkit-core before the kind's code runs.
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.message().contains("dry run"), "{err}");
}

// ---- HA clusters -------------------------------------------------------------------------

/// The three nodes of [`FakeCluster`].
const NODES: [&str; 3] = [
    "http://10.0.1.1:8200",
    "http://10.0.1.2:8200",
    "http://10.0.1.3:8200",
];

#[derive(Debug, Default)]
struct FakeNode {
    sealed: bool,
    progress: u32,
    accepted: Vec<String>,
}

/// A 3-voter raft cluster, all nodes sealed (threshold 2 of [`SHARES`]): each node keeps its own
/// unseal progress; once a majority is unsealed, the lowest unsealed address is the active node
/// and the others name it on `sys/leader`; without a majority there is no leader. (Its `Debug`
/// shows nothing: it holds the shares it received, as a server does.)
struct FakeCluster {
    nodes: Mutex<BTreeMap<String, FakeNode>>,
    /// Every share received: (node, share).
    received: Mutex<Vec<(String, String)>>,
}

impl FakeCluster {
    fn sealed() -> Arc<Self> {
        let nodes = NODES
            .iter()
            .map(|a| {
                let node = FakeNode {
                    sealed: true,
                    ..FakeNode::default()
                };
                ((*a).to_owned(), node)
            })
            .collect();
        Arc::new(Self {
            nodes: Mutex::new(nodes),
            received: Mutex::new(Vec::new()),
        })
    }

    fn leader(&self) -> Option<String> {
        let nodes = self.nodes.lock().unwrap();
        let unsealed: Vec<&String> = nodes
            .iter()
            .filter(|(_, n)| !n.sealed)
            .map(|(a, _)| a)
            .collect();
        (unsealed.len() * 2 > nodes.len()).then(|| unsealed[0].clone())
    }

    fn status(node: &FakeNode) -> SealStatus {
        SealStatus::new(true, node.sealed, 2, 3, node.progress)
            .version("2.7.2")
            .storage("raft")
    }

    fn received_by(&self, address: &str) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(a, _)| a == address)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

impl std::fmt::Debug for FakeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakeCluster")
    }
}

fn unsupported() -> ActionError {
    ActionError::unsupported("not in the fake cluster")
}

#[async_trait]
impl VaultApi for FakeCluster {
    async fn seal_status(&self, conn: &VaultConn) -> Result<SealStatus, ActionError> {
        let nodes = self.nodes.lock().unwrap();
        Ok(Self::status(&nodes[conn.address()]))
    }

    async fn submit_unseal_share(
        &self,
        conn: &VaultConn,
        share: &SecretString,
    ) -> Result<SealStatus, ActionError> {
        let share = share.expose_secret().to_owned();
        self.received
            .lock()
            .unwrap()
            .push((conn.address().to_owned(), share.clone()));
        let mut nodes = self.nodes.lock().unwrap();
        let node = nodes.get_mut(conn.address()).unwrap();
        if node.sealed && !node.accepted.contains(&share) {
            node.accepted.push(share);
            node.progress += 1;
            if node.progress >= 2 {
                node.sealed = false;
                node.progress = 0;
            }
        }
        Ok(Self::status(node))
    }

    async fn health(&self, conn: &VaultConn) -> Result<Health, ActionError> {
        let leader = self.leader();
        let sealed = self.nodes.lock().unwrap()[conn.address()].sealed;
        let standby = leader.as_deref() != Some(conn.address());
        Ok(Health::new(true, sealed, standby, "2.7.2"))
    }

    async fn leader(&self, conn: &VaultConn) -> Result<Leader, ActionError> {
        Ok(match self.leader() {
            Some(l) => Leader::new(l == conn.address(), l),
            None => Leader::new(false, ""),
        })
    }

    async fn raft_snapshot_save(&self, _: &VaultConn) -> Result<Vec<u8>, ActionError> {
        Err(unsupported())
    }
    async fn raft_snapshot_restore(
        &self,
        _: &VaultConn,
        _: Vec<u8>,
        _: bool,
    ) -> Result<(), ActionError> {
        Err(unsupported())
    }
    async fn transit_read_key(
        &self,
        _: &VaultConn,
        _: &str,
        _: &str,
    ) -> Result<TransitKey, ActionError> {
        Err(unsupported())
    }
    async fn transit_backup_key(
        &self,
        _: &VaultConn,
        _: &str,
        _: &str,
    ) -> Result<SecretString, ActionError> {
        Err(unsupported())
    }
    async fn transit_restore_key(
        &self,
        _: &VaultConn,
        _: &str,
        _: &str,
        _: &SecretString,
    ) -> Result<(), ActionError> {
        Err(unsupported())
    }
    async fn transit_encrypt(
        &self,
        _: &VaultConn,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<String, ActionError> {
        Err(unsupported())
    }
    async fn transit_decrypt(
        &self,
        _: &VaultConn,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<String, ActionError> {
        Err(unsupported())
    }
    async fn transit_delete_key(&self, _: &VaultConn, _: &str, _: &str) -> Result<(), ActionError> {
        Err(unsupported())
    }
}

fn ha_unseal(cluster: &Arc<FakeCluster>, nodes: &[&str], keys: Vec<SecretRef>) -> Unseal {
    let mut params = UnsealParams::new(keys);
    params.addresses = nodes.iter().map(|a| (*a).to_owned()).collect();
    params.active_timeout = Some(Duration::from_secs(10));
    let api: Arc<dyn VaultApi> = Arc::clone(cluster) as _;
    with_port::<Unseal>(StepSpec::new("unseal-cluster", params), api).unwrap()
}

fn recording_ctx(events: &Arc<Mutex<Vec<ProgressEvent>>>) -> Context {
    let events = Arc::clone(events);
    Context::new()
        .with_timeout(Duration::from_secs(300))
        .with_events(move |e| events.lock().unwrap().push(e))
}

/// Each node gets exactly the threshold, sent to it directly; the step ends when the cluster
/// has its active node. Nothing of a share shows in outputs, events, `Debug` or errors.
#[tokio::test(start_paused = true)]
async fn every_node_of_a_cluster_is_sent_its_own_shares() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = FakeCluster::sealed();
    let action = ha_unseal(&cluster, &NODES, share_files(&dir, &SHARES));
    assert_eq!(
        action.target().to_string(),
        format!("vault:cluster/{}", NODES.join(","))
    );
    let events = Arc::new(Mutex::new(Vec::new()));
    let ctx = recording_ctx(&events);
    let check = action.check(&ctx).await.unwrap();
    let Check::Ready { change } = &check else {
        panic!("{check:?}")
    };
    for node in NODES {
        assert!(
            change.contains(&format!("unseal {node} with 2 of the 3 given share(s)")),
            "{change}"
        );
    }
    let out = action.execute(&ctx).await.unwrap();
    for node in NODES {
        assert_eq!(cluster.received_by(node), [SHARES[0], SHARES[1]], "{node}");
    }
    assert_eq!(out.get("shares_submitted"), Some(&json!(6)));
    assert_eq!(out.get_str("state"), Some("active"));
    assert_eq!(out.get_str("active_address"), Some(NODES[0]));
    assert_eq!(
        out.get("nodes"),
        Some(&json!([
            {"address": NODES[0], "state": "active", "shares_submitted": 2, "seal_type": "shamir"},
            {"address": NODES[1], "state": "standby", "shares_submitted": 2, "seal_type": "shamir"},
            {"address": NODES[2], "state": "standby", "shares_submitted": 2, "seal_type": "shamir"},
        ]))
    );
    let again = action.check(&ctx).await.unwrap();
    assert!(again.is_done(), "{again:?}");
    let verified = action.verify(&ctx).await.unwrap();
    assert!(verified.contains("are unsealed"), "{verified}");
    assert_no_share(&seen_text(
        &events,
        &[
            format!("{check:?} {out:?} {again:?} {verified} {action:?}"),
            serde_json::to_string(&out).unwrap(),
        ],
    ));
}

/// One node of a fully sealed 3-node raft cluster: unsealed, but no quorum, so no active node.
/// The step fails after `active_timeout` naming it, not at the deadline.
#[tokio::test(start_paused = true)]
async fn one_node_of_a_sealed_raft_cluster_fails_naming_the_missing_quorum() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = FakeCluster::sealed();
    let action = ha_unseal(&cluster, &NODES[..1], share_files(&dir, &SHARES));
    let started = tokio::time::Instant::now();
    let err = action
        .execute(&Context::new().with_timeout(Duration::from_secs(600)))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed, "{err}");
    assert!(!err.is_retryable());
    let text = err.to_string();
    for expected in [
        NODES[0],
        "standby",
        "no active node appeared within 10s",
        "quorum",
        "raft",
        "at most 1 voter(s)",
        "Add the addresses of the cluster's other nodes to `addresses`",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    assert!(waited >= Duration::from_secs(10), "{waited:?}");
    assert!(waited < Duration::from_secs(30), "{waited:?}");
    assert_eq!(cluster.received_by(NODES[0]).len(), 2);
    // check says so too (ready: the wait is bounded), and unsealing a second node ends it.
    let check = action.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Ready { change } if change.contains("no active node")),
        "{check:?}"
    );
    let two = ha_unseal(&cluster, &NODES[..2], share_files(&dir, &SHARES));
    let out = two.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("shares_submitted"), Some(&json!(2)), "{out:?}");
    assert_eq!(out.get_str("active_address"), Some(NODES[0]));
    assert!(cluster.received_by(NODES[2]).is_empty());
}

/// A node given as `address` (the old form) in the same cluster: the same bounded failure.
#[tokio::test(start_paused = true)]
async fn a_single_address_without_quorum_also_fails_early() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = FakeCluster::sealed();
    let mut params = UnsealParams::new(share_files(&dir, &SHARES));
    params.address = Some(NODES[1].to_owned());
    params.allow_standby = true;
    params.active_timeout = Some(Duration::from_secs(5));
    let api: Arc<dyn VaultApi> = Arc::clone(&cluster) as _;
    let action = with_port::<Unseal>(StepSpec::new("unseal", params), api).unwrap();
    let err = action
        .execute(&Context::new().with_timeout(Duration::from_secs(600)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed, "{err}");
    assert!(err.message().contains("quorum"), "{err}");
}

/// A standby that says it cannot reach the active node (Vault 1.19+, 474) is not taken as proof
/// of an active node, even if its `sys/leader` still names one.
#[tokio::test(start_paused = true)]
async fn a_standby_that_cannot_reach_the_active_node_is_not_enough() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status()
        .returning(|_| Ok(unsealed().storage("raft")));
    api.expect_health().returning(|_| {
        let mut h = standby();
        h.ha_connection_healthy = Some(false);
        Ok(h)
    });
    api.expect_leader().never();
    let mut params = UnsealParams::new(share_files(&dir, &SHARES));
    params.allow_standby = true;
    params.active_timeout = Some(Duration::from_secs(5));
    let err = unseal(api, params)
        .execute(&Context::new().with_timeout(Duration::from_secs(60)))
        .await
        .unwrap_err();
    assert!(err.message().contains("no active node"), "{err}");
}

// ---- auto-unseal, migration, parameters -----------------------------------------------------

/// An auto-unseal server (here AWS KMS, as HashiCorp documents `type`/`recovery_seal`) is
/// reported as such; its shares are recovery keys and are never sent.
#[tokio::test(start_paused = true)]
async fn an_auto_unseal_server_gets_no_shares() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status()
        .returning(|_| Ok(unsealed().auto_unseal("awskms")));
    api.expect_submit_unseal_share().never();
    api.expect_health().returning(|_| Ok(active()));
    let action = action(api, share_files(&dir, &SHARES), Some(2));
    let Check::Done { detail, outputs } = action.check(&Context::new()).await.unwrap() else {
        panic!("not done")
    };
    assert!(
        detail.contains("auto-unseal (type awskms): no shares needed"),
        "{detail}"
    );
    assert_eq!(outputs.get_str("seal_type"), Some("awskms"));
    let out = action.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("shares_submitted"), Some(&json!(0)));

    // Sealed (its KMS unreachable): ready to wait, never a share; still sealed after
    // `active_timeout`: fails saying why.
    let mut api = MockVaultApi::new();
    api.expect_seal_status()
        .returning(|_| Ok(sealed(0).auto_unseal("awskms")));
    api.expect_submit_unseal_share().never();
    api.expect_health()
        .returning(|_| Ok(Health::new(true, true, false, "1.19.0")));
    let mut params = UnsealParams::new(share_files(&dir, &SHARES));
    params.active_timeout = Some(Duration::from_secs(20));
    let action = unseal(api, params);
    let check = action.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Ready { change }
            if change.contains("auto-unseal (type awskms): no shares needed")
                && change.contains("wait up to 20s")),
        "{check:?}"
    );
    let started = tokio::time::Instant::now();
    let err = action
        .execute(&Context::new().with_timeout(Duration::from_secs(600)))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    for expected in [
        "auto-unseal (type awskms)",
        "still sealed after 20s",
        "none was sent",
    ] {
        assert!(err.message().contains(expected), "{expected}: {err}");
    }
}

/// An auto-unseal server that unseals itself while the step waits: done, no share sent.
#[tokio::test(start_paused = true)]
async fn an_auto_unseal_server_that_unseals_itself_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status()
        .returning(|_| Ok(sealed(0).auto_unseal("transit")));
    api.expect_submit_unseal_share().never();
    let mut answers = vec![active(), Health::new(true, true, false, "2.7.2")];
    api.expect_health()
        .returning(move |_| Ok(answers.pop().unwrap_or_else(active)));
    let out = action(api, share_files(&dir, &SHARES), None)
        .execute(&Context::new().with_timeout(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(out.get_str("state"), Some("active"));
    assert_eq!(out.get_str("seal_type"), Some("transit"));
}

#[tokio::test(start_paused = true)]
async fn a_seal_migration_is_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| {
        let mut s = sealed(0);
        s.migration = true;
        Ok(s)
    });
    api.expect_submit_unseal_share().never();
    let action = action(api, share_files(&dir, &SHARES), None);
    let check = action.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("migrating its seal")),
        "{check:?}"
    );
    assert_eq!(
        action.execute(&Context::new()).await.unwrap_err().kind(),
        ErrorKind::PreconditionFailed
    );
}

/// A wrong share on the second node: the error names that node and holds no share.
#[tokio::test(start_paused = true)]
async fn a_wrong_share_on_one_node_names_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(0)));
    let mut n = 0;
    api.expect_submit_unseal_share()
        .returning(move |conn, share| {
            n += 1;
            if conn.address() == NODES[0] || n == 3 {
                Ok(if n % 2 == 1 { sealed(1) } else { unsealed() })
            } else {
                Err(
                    ActionError::invalid_input(format!("invalid key {}", share.expose_secret()))
                        .with_code("400"),
                )
            }
        });
    api.expect_health().never();
    let mut params = UnsealParams::new(share_files(&dir, &SHARES));
    params.addresses = NODES[..2].iter().map(|a| (*a).to_owned()).collect();
    let api: Arc<dyn VaultApi> = Arc::new(api);
    let action = with_port::<Unseal>(StepSpec::new("unseal", params), api).unwrap();
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        err.resource(),
        Some(format!("vault:server/{}", NODES[1]).as_str())
    );
    assert!(err.message().contains(NODES[1]), "{err}");
    assert_no_share(&format!("{err} {err:?} {action:?}"));
}

#[tokio::test(start_paused = true)]
async fn a_share_that_does_not_advance_hints_at_a_load_balancer() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(sealed(1)));
    api.expect_submit_unseal_share()
        .returning(|_, _| Ok(sealed(1)));
    let events = Arc::new(Mutex::new(Vec::new()));
    let err = action(api, share_files(&dir, &SHARES), None)
        .execute(&recording_ctx(&events))
        .await
        .unwrap_err();
    assert!(err.message().contains("load balancer"), "{err}");
    let seen = seen_text(&events, &[]);
    assert!(seen.contains("give each node in `addresses`"), "{seen}");
}

/// Right after an election the new leader still answers `sys/health` as a standby while
/// `sys/leader` already names it: when it is one of the given nodes, the step waits for its own
/// health to say active (clients would otherwise hit a node not serving yet).
#[tokio::test(start_paused = true)]
async fn a_given_node_named_leader_is_waited_for_until_active() {
    let dir = tempfile::tempdir().unwrap();
    let mut api = MockVaultApi::new();
    api.expect_seal_status().returning(|_| Ok(unsealed()));
    let polls = Arc::new(Mutex::new(0u32));
    {
        let polls = Arc::clone(&polls);
        api.expect_health().returning(move |conn| {
            let mut n = polls.lock().unwrap();
            if conn.address() == NODES[0] {
                *n += 1;
            }
            Ok(if conn.address() == NODES[0] && *n >= 3 {
                active()
            } else {
                standby()
            })
        });
    }
    api.expect_leader()
        .returning(|conn| Ok(Leader::new(conn.address() == NODES[0], NODES[0])));
    let mut params = UnsealParams::new(share_files(&dir, &SHARES));
    params.addresses = NODES[..2].iter().map(|a| (*a).to_owned()).collect();
    let api: Arc<dyn VaultApi> = Arc::new(api);
    let action = with_port::<Unseal>(StepSpec::new("unseal", params), api).unwrap();
    let check = action.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Ready { change } if change.contains("wait until it is active")),
        "{check:?}"
    );
    let out = action
        .execute(&Context::new().with_timeout(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(out.get_str("active_address"), Some(NODES[0]));
    assert!(*polls.lock().unwrap() >= 3);
}
