//! Integration tests of drkit-vault against real OpenBao servers that `scripts/test.sh` starts
//! (`start_openbao` in scripts/lib/peers.sh): raft storage, 3 shares / threshold 2.
//!
//! - a server left **sealed** for drkit to unseal: `DRKIT_TEST_VAULT_SEALED_ADDR`, its shares
//!   in `DRKIT_TEST_VAULT_SEALED_KEY_1..3`, its root token in `DRKIT_TEST_VAULT_SEALED_TOKEN`;
//! - an **unsealed** server with `transit/` mounted, also in the namespace
//!   `DRKIT_TEST_VAULT_NAMESPACE`: `DRKIT_TEST_VAULT_ADDR`, `DRKIT_TEST_VAULT_TOKEN`;
//! - an **auto-unseal** server (OpenBao's `static` seal): `DRKIT_TEST_VAULT_AUTO_ADDR`, its
//!   recovery keys in `DRKIT_TEST_VAULT_AUTO_RECOVERY_KEY_1..3`, its root token in
//!   `DRKIT_TEST_VAULT_AUTO_TOKEN`;
//! - a **3-node raft cluster**, all nodes sealed: `DRKIT_TEST_VAULT_HA_ADDRS` (comma-separated),
//!   its shares in `DRKIT_TEST_VAULT_HA_KEY_1..3`, its root token in `DRKIT_TEST_VAULT_HA_TOKEN`.
//!
//! Tests run in parallel threads: those that use the sealed server hold [`SEALED`] and leave it
//! sealed again, and so do those of the cluster ([`HA`]) and of the auto-unseal server
//! ([`AUTO`]); the snapshot restore (which rolls the unsealed server back) holds [`MAIN`] for
//! writing while the others hold it for reading. Under CI=true a missing server fails the tests;
//! elsewhere they are skipped with a note.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod health;
mod snapshot;
mod transit;
mod unseal;

use std::sync::Arc;

use drkit_core::ActionRef;
use drkit_core::registry::{ActionSpec, Registry};
use tokio::sync::{Mutex, RwLock};
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};

/// Held by every test that uses the sealed server.
pub(crate) static SEALED: Mutex<()> = Mutex::const_new(());
/// Held by every test that uses the raft cluster.
pub(crate) static HA: Mutex<()> = Mutex::const_new(());
/// Held by every test that uses the auto-unseal server.
pub(crate) static AUTO: Mutex<()> = Mutex::const_new(());
/// Held for reading by tests of the unsealed server, for writing by the snapshot restore.
pub(crate) static MAIN: RwLock<()> = RwLock::const_new(());

pub(crate) struct Main {
    pub(crate) address: String,
}

pub(crate) struct Sealed {
    pub(crate) address: String,
    pub(crate) keys: [String; 3],
}

pub(crate) fn main_server() -> Option<Main> {
    let address = drkit_testkit::peer("DRKIT_TEST_VAULT_ADDR", "OpenBao")?;
    drkit_testkit::peer("DRKIT_TEST_VAULT_TOKEN", "OpenBao (its root token)")?;
    Some(Main { address })
}

pub(crate) fn sealed_server() -> Option<Sealed> {
    let address = drkit_testkit::peer("DRKIT_TEST_VAULT_SEALED_ADDR", "OpenBao (sealed)")?;
    let key = |n: u8| {
        drkit_testkit::peer(
            &format!("DRKIT_TEST_VAULT_SEALED_KEY_{n}"),
            "OpenBao (sealed)",
        )
    };
    Some(Sealed {
        address,
        keys: [key(1)?, key(2)?, key(3)?],
    })
}

pub(crate) struct Cluster {
    pub(crate) addresses: Vec<String>,
    pub(crate) keys: [String; 3],
}

pub(crate) fn ha_cluster() -> Option<Cluster> {
    let what = "OpenBao (3-node raft cluster)";
    let addresses = drkit_testkit::peer("DRKIT_TEST_VAULT_HA_ADDRS", what)?;
    let key = |n: u8| drkit_testkit::peer(&format!("DRKIT_TEST_VAULT_HA_KEY_{n}"), what);
    drkit_testkit::peer("DRKIT_TEST_VAULT_HA_TOKEN", what)?;
    Some(Cluster {
        addresses: addresses.split(',').map(str::to_owned).collect(),
        keys: [key(1)?, key(2)?, key(3)?],
    })
}

pub(crate) struct Auto {
    pub(crate) address: String,
    pub(crate) recovery_keys: [String; 3],
}

pub(crate) fn auto_server() -> Option<Auto> {
    let what = "OpenBao (auto-unseal, static seal)";
    let address = drkit_testkit::peer("DRKIT_TEST_VAULT_AUTO_ADDR", what)?;
    let key = |n: u8| drkit_testkit::peer(&format!("DRKIT_TEST_VAULT_AUTO_RECOVERY_KEY_{n}"), what);
    drkit_testkit::peer("DRKIT_TEST_VAULT_AUTO_TOKEN", what)?;
    Some(Auto {
        address,
        recovery_keys: [key(1)?, key(2)?, key(3)?],
    })
}

/// A plain vaultrs client, to set up and read back state without going through drkit.
pub(crate) fn raw_client(address: &str, token_var: &str) -> VaultClient {
    raw_client_in(address, token_var, None)
}

/// [`raw_client`] in a namespace.
pub(crate) fn raw_client_in(
    address: &str,
    token_var: &str,
    namespace: Option<&str>,
) -> VaultClient {
    let token = std::env::var(token_var).unwrap();
    VaultClient::new(
        VaultClientSettingsBuilder::default()
            .address(address)
            .token(token)
            .namespace(namespace.map(str::to_owned))
            .build()
            .unwrap(),
    )
    .unwrap()
}

/// Seals every node given (repeatedly: only the active node of a cluster can be sealed, and
/// another one takes over) until all are sealed.
pub(crate) async fn seal_all(addresses: &[String], token_var: &str) {
    use drkit_vault::VaultApi as _;
    let api = drkit_vault::VaultrsApi::new();
    for _ in 0..200 {
        let mut all_sealed = true;
        for address in addresses {
            let status = api
                .seal_status(&drkit_vault::VaultConn::new(address))
                .await
                .unwrap();
            if !status.sealed {
                all_sealed = false;
                let _ = vaultrs::sys::seal(&raw_client(address, token_var)).await;
            } else if status.progress > 0 {
                vaultrs::sys::unseal(&raw_client(address, token_var), None, Some(true), None)
                    .await
                    .unwrap();
            }
        }
        if all_sealed {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("could not seal {addresses:?} again");
}

pub(crate) fn build(kind: &str, params: serde_json::Value) -> ActionRef {
    let mut registry = Registry::new();
    drkit_vault::register(&mut registry).unwrap();
    registry
        .build(&ActionSpec::new("vault-step", kind, params))
        .unwrap()
}

/// Seals the sealed server again (and clears a half-done unseal), so every test starts sealed
/// with no progress.
pub(crate) async fn reseal(address: &str) {
    let client = raw_client(address, "DRKIT_TEST_VAULT_SEALED_TOKEN");
    let status = drkit_vault::VaultrsApi::new();
    use drkit_vault::VaultApi as _;
    let conn = drkit_vault::VaultConn::new(address);
    // Right after an unseal the node may still be becoming active; seal needs the active node.
    for _ in 0..100 {
        let s = status.seal_status(&conn).await.unwrap();
        if s.sealed {
            vaultrs::sys::unseal(&client, None, Some(true), None)
                .await
                .unwrap();
            return;
        }
        if vaultrs::sys::seal(&client).await.is_ok() {
            continue;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("could not seal {address} again");
}

/// Captures everything logged (at every level, by drkit, vaultrs, rustify, reqwest...) on the
/// current thread while the guard lives.
pub(crate) fn capture_logs() -> (
    Arc<std::sync::Mutex<Vec<u8>>>,
    tracing::subscriber::DefaultGuard,
) {
    #[derive(Clone)]
    struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
    let writer = Buffer(Arc::clone(&buffer));
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}
