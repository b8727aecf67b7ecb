//! # drkit-testkit
//!
//! Finds the real test peers that `scripts/test.sh` starts and announces through the
//! environment:
//!
//! | peer | variable |
//! |---|---|
//! | moto server (AWS APIs) | `DRKIT_TEST_AWS_ENDPOINT` |
//! | PostgreSQL | `DRKIT_TEST_PG_URL` (+ `DRKIT_TEST_PG_PASSWORD`) |
//! | Redis primary / replica | `DRKIT_TEST_REDIS_URL`, `DRKIT_TEST_REDIS_REPLICA_URL` (+ `DRKIT_TEST_REDIS_PASSWORD`) |
//!
//! The [`faults`] module (and the `fault-proxy` binary) is a fault-injecting proxy in front of
//! the moto server: throttling, 5xx and time-outs in each AWS protocol's shape, and an endpoint
//! that stops answering.
//!
//! The [`canned`] module is an AWS endpoint that answers with what a test scripts (the documented
//! responses of the real service, where the emulator differs), recording the requests.
//!
//! The [`fake_arc`] module is a **fake** Route 53 ARC routing-control cluster (moto has none),
//! protocol-correct for the calls drkit makes, served by the fault proxy.
//!
//! The [`fake_kube`] module (and the `fake-kube-apiserver` binary) is a **fake** Kubernetes API
//! server over plain HTTP: discovery, server-side apply, lists with label selectors, the scale
//! subresource and a simulated Deployment rollout, so drkit's `k8s.*` actions can run end to
//! end where no real API server can. Its module docs say what it does not do.
//!
//! When a peer is missing, a test that needs it **fails** under `CI=true` (a test that skips
//! itself in CI is a test that cannot fail) and is skipped with a note otherwise, so
//! `cargo test` still works on a laptop without the peers. Run `scripts/test.sh` to have them.
//!
//! ```no_run
//! # async fn a_test() {
//! let Some(moto) = drkit_testkit::moto() else { return };
//! let config = moto.sdk_config("us-east-1").await;
//! # let _ = config;
//! # }
//! ```
#![allow(clippy::panic, clippy::print_stderr)] // a test helper: failing loudly is its job

pub mod behaviour;
pub mod canned;
pub mod docs;
pub mod fake_arc;
pub mod fake_kube;
pub mod faults;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

/// SIGTERM or Ctrl-C — how the test-peer binaries (`fault-proxy`, `fake-kube-apiserver`) are
/// told to stop — with the SIGTERM handler installed **now** (not when the future is first
/// polled): a binary that announces it is ready only after this call cannot be killed by a
/// SIGTERM sent in between — the default action, death by signal 15, is already replaced.
pub fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves `app` on `listener` in a task until the returned sender is used or dropped: the
/// in-process servers' (fault proxy, fake API server) way to start and stop.
pub(crate) fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app);
        tokio::select! {
            _ = server => {}
            _ = stopped => {}
        }
    });
    (stop, task)
}

/// The variable that carries the moto server's endpoint.
pub const AWS_ENDPOINT_VAR: &str = "DRKIT_TEST_AWS_ENDPOINT";

/// What to do about a peer, given the environment.
#[derive(Debug, PartialEq, Eq)]
pub enum PeerLookup {
    /// The peer is there, at this address.
    Found(String),
    /// The peer is missing and the test should be skipped (not in CI).
    Skip(String),
    /// The peer is missing and the test must fail (in CI).
    Fail(String),
}

/// Decides what a test does about the peer announced in `var`, reading the environment with
/// `env` (a parameter so the rule itself can be tested).
pub fn lookup(var: &str, peer: &str, env: impl Fn(&str) -> Option<String>) -> PeerLookup {
    match env(var).filter(|v| !v.trim().is_empty()) {
        Some(address) => PeerLookup::Found(address),
        None => {
            let in_ci = env("CI").is_some_and(|v| v == "true" || v == "1");
            let why = format!(
                "{peer} is not running ({var} is not set); start the peers with `bash scripts/test.sh`"
            );
            if in_ci {
                PeerLookup::Fail(why)
            } else {
                PeerLookup::Skip(why)
            }
        }
    }
}

/// The address in `var` of the peer `peer` (e.g. `"PostgreSQL"`), or `None` — the test is
/// skipped with a note — when it is not running outside CI; panics under `CI=true`.
pub fn peer(var: &str, peer: &str) -> Option<String> {
    match lookup(var, peer, |name| std::env::var(name).ok()) {
        PeerLookup::Found(address) => Some(address),
        PeerLookup::Fail(why) => panic!("CI=true and a test peer is missing: {why}"),
        PeerLookup::Skip(why) => {
            eprintln!("note: test not run: {why}");
            None
        }
    }
}

/// A running moto server.
#[derive(Clone, Debug)]
pub struct Moto {
    endpoint: String,
}

/// The moto server, if running (see the crate docs for what happens when it is not).
pub fn moto() -> Option<Moto> {
    peer(AWS_ENDPOINT_VAR, "the moto server").map(|endpoint| Moto { endpoint })
}

impl Moto {
    /// Its endpoint, e.g. `http://127.0.0.1:39123`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SDK configuration for `region` pointing at moto, with moto's dummy credentials.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        test_sdk_config(&self.endpoint, region).await
    }

    /// The instances of `model` of `service` that moto holds, with their attributes
    /// (`GET /moto-api/data.json`): what no AWS API reads back, e.g. the messages an SNS
    /// topic was sent (`model_instances("sns", "Topic")`, each with `arn` and
    /// `sent_notifications`: `[message_id, message, subject, attributes, group]`).
    ///
    /// # Panics
    /// When moto does not answer with JSON (a test helper: failing loudly is its job).
    pub async fn model_instances(&self, service: &str, model: &str) -> Vec<serde_json::Value> {
        let url = format!("{}/moto-api/data.json", self.endpoint);
        let data: serde_json::Value = match reqwest::get(&url).await {
            Ok(answer) => answer
                .json()
                .await
                .unwrap_or_else(|e| panic!("{url} is not JSON: {e}")),
            Err(e) => panic!("{url}: {e}"),
        };
        data[service][model].as_array().cloned().unwrap_or_default()
    }
}

/// An SDK configuration for `region` pointing at `endpoint`, with dummy credentials.
pub(crate) async fn test_sdk_config(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "drkit-testkit",
        ))
        .load()
        .await
}

/// A name unique to this test process and call, e.g. `mint-1a2b3c-4`: moto's state is shared
/// by every test, so each test works on resources of its own.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}-{:x}{:x}-{n}", std::process::id(), nanos % 0xfffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn a_missing_peer_fails_in_ci_and_skips_elsewhere() {
        let found = lookup("X", "moto", env(&[("X", "http://127.0.0.1:1")]));
        assert_eq!(found, PeerLookup::Found("http://127.0.0.1:1".into()));
        assert!(matches!(
            lookup("X", "moto", env(&[("CI", "true")])),
            PeerLookup::Fail(_)
        ));
        assert!(matches!(
            lookup("X", "moto", env(&[("X", " "), ("CI", "true")])),
            PeerLookup::Fail(_)
        ));
        assert!(matches!(lookup("X", "moto", env(&[])), PeerLookup::Skip(_)));
        assert!(matches!(
            lookup("X", "moto", env(&[("CI", "false")])),
            PeerLookup::Skip(_)
        ));
    }

    #[test]
    fn unique_names_differ_and_are_valid_identifiers() {
        let a = unique("mint");
        let b = unique("mint");
        assert_ne!(a, b);
        assert!(a.starts_with("mint-"));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }
}
