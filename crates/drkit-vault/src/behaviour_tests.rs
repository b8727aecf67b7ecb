//! The behaviour suite (`drkit_testkit::behaviour`) for every Vault kind, against an in-memory
//! Vault: a fake of the port that keeps the seal state, the raft data and the transit keys, and
//! an audit log of the requests that change the server or take data out of it (unseal shares,
//! snapshot save and restore, transit restore and delete), as Vault's audit device records
//! them. The world a step acts on is that server plus a scratch directory (snapshot files,
//! key-share and token files).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, ExposeSecret, PortFactory, SecretString};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use serde_json::{Value, json};

use crate::port::{Health, Leader, SealStatus, TransitKey, VaultApi, VaultConn};
use crate::register_with;

const ADDR: &str = "http://vault.fake:8200";
const SHARES: [&str; 3] = ["share-one", "share-two", "share-three"];
const GZIP: [u8; 2] = [0x1f, 0x8b];

#[derive(Debug)]
struct Server {
    sealed: bool,
    threshold: u32,
    progress: u32,
    accepted: Vec<String>,
    data: String,
    reloading: bool,
    /// Transit keys: the description and the key material.
    keys: BTreeMap<String, (TransitKey, String)>,
    audit: Vec<String>,
}

/// An in-memory Vault and the scratch directory next to it.
#[derive(Debug)]
struct FakeVault {
    server: Mutex<Server>,
    dir: tempfile::TempDir,
}

fn not_found(what: &str) -> ActionError {
    ActionError::new(ErrorKind::NotFound, format!("{what} not found")).with_code("404")
}

fn denied() -> ActionError {
    ActionError::new(ErrorKind::AccessDenied, "permission denied").with_code("403")
}

impl FakeVault {
    /// An initialised server with 3 shares and threshold 2, `sealed` or not, holding raft data
    /// `current` and a transit key `payments` whose backup is allowed.
    fn new(sealed: bool) -> Arc<Self> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "root-token\n").unwrap();
        for (i, share) in SHARES.iter().enumerate() {
            std::fs::write(dir.path().join(format!("key-{i}")), format!("{share}\n")).unwrap();
        }
        let mut snapshot = GZIP.to_vec();
        snapshot.extend_from_slice(b"older");
        std::fs::write(dir.path().join("older.snap"), snapshot).unwrap();
        let mut keys = BTreeMap::new();
        keys.insert(
            "payments".to_owned(),
            (
                TransitKey::new("payments", "aes256-gcm96", 2).backup_allowed(),
                "material-1".to_owned(),
            ),
        );
        Arc::new(Self {
            server: Mutex::new(Server {
                sealed,
                threshold: 2,
                progress: 0,
                accepted: Vec::new(),
                data: "current".to_owned(),
                reloading: false,
                keys,
                audit: Vec::new(),
            }),
            dir,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn file_ref(&self, name: &str) -> String {
        format!("file:{}", self.path(name).display())
    }

    fn key_refs(&self) -> Vec<String> {
        (0..SHARES.len())
            .map(|i| self.file_ref(&format!("key-{i}")))
            .collect()
    }

    fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::new();
        let api: Arc<dyn VaultApi> = Arc::clone(self) as _;
        register_with(&mut registry, &PortFactory::fixed(api)).unwrap();
        registry
    }

    fn server(&self) -> std::sync::MutexGuard<'_, Server> {
        self.server.lock().unwrap()
    }

    fn status(s: &Server) -> SealStatus {
        SealStatus::new(true, s.sealed, s.threshold, 3, s.progress).version("2.7.2")
    }

    /// The calls that need a token fail without one, as on a real server.
    fn authorised(conn: &VaultConn) -> Result<(), ActionError> {
        match conn.token() {
            Some(t) if t.expose_secret() == "root-token" => Ok(()),
            _ => Err(denied()),
        }
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[async_trait]
impl World for FakeVault {
    async fn state(&self) -> Value {
        let s = self.server();
        json!({
            "sealed": s.sealed,
            "data": s.data,
            "keys": s.keys.keys().collect::<Vec<_>>(),
            "audit": s.audit,
            "files": files(self.dir.path()),
        })
    }

    fn mutations(&self) -> usize {
        self.server().audit.len()
    }
}

#[async_trait]
impl VaultApi for FakeVault {
    async fn seal_status(&self, _: &VaultConn) -> Result<SealStatus, ActionError> {
        Ok(Self::status(&self.server()))
    }

    async fn submit_unseal_share(
        &self,
        _: &VaultConn,
        share: &SecretString,
    ) -> Result<SealStatus, ActionError> {
        let mut s = self.server();
        s.audit.push("sys/unseal".into());
        let share = share.expose_secret().to_owned();
        if !SHARES.contains(&share.as_str()) {
            s.progress = 0;
            s.accepted.clear();
            return Err(ActionError::invalid_input("invalid key").with_code("400"));
        }
        if s.sealed && !s.accepted.contains(&share) {
            s.accepted.push(share);
            s.progress += 1;
            if s.progress >= s.threshold {
                s.sealed = false;
                s.progress = 0;
                s.accepted.clear();
            }
        }
        Ok(Self::status(&s))
    }

    async fn health(&self, _: &VaultConn) -> Result<Health, ActionError> {
        let mut s = self.server();
        if s.reloading {
            s.reloading = false;
            return Err(ActionError::new(ErrorKind::Unavailable, "reloading").with_code("500"));
        }
        let mut health = Health::new(true, s.sealed, false, "2.7.2");
        if !s.sealed {
            health.cluster_name = Some("fake".into());
        }
        Ok(health)
    }

    async fn leader(&self, _: &VaultConn) -> Result<Leader, ActionError> {
        // One node, active once unsealed.
        Ok(Leader::new(!self.server().sealed, ""))
    }

    async fn raft_snapshot_save(&self, conn: &VaultConn) -> Result<Vec<u8>, ActionError> {
        Self::authorised(conn)?;
        let mut s = self.server();
        s.audit.push("sys/storage/raft/snapshot (save)".into());
        let mut snapshot = GZIP.to_vec();
        snapshot.extend_from_slice(s.data.as_bytes());
        Ok(snapshot)
    }

    async fn raft_snapshot_restore(
        &self,
        conn: &VaultConn,
        snapshot: Vec<u8>,
        force: bool,
    ) -> Result<(), ActionError> {
        Self::authorised(conn)?;
        let mut s = self.server();
        s.audit.push(format!(
            "sys/storage/raft/snapshot{} (restore)",
            if force { "-force" } else { "" }
        ));
        s.data = String::from_utf8_lossy(&snapshot[GZIP.len()..]).into_owned();
        s.reloading = true;
        Ok(())
    }

    async fn transit_read_key(
        &self,
        conn: &VaultConn,
        _: &str,
        name: &str,
    ) -> Result<TransitKey, ActionError> {
        Self::authorised(conn)?;
        self.server()
            .keys
            .get(name)
            .map(|(k, _)| k.clone())
            .ok_or_else(|| not_found(name))
    }

    async fn transit_backup_key(
        &self,
        conn: &VaultConn,
        _: &str,
        name: &str,
    ) -> Result<SecretString, ActionError> {
        Self::authorised(conn)?;
        let s = self.server();
        let (_, material) = s.keys.get(name).ok_or_else(|| not_found(name))?;
        Ok(SecretString::from(format!("backup:{material}")))
    }

    async fn transit_restore_key(
        &self,
        conn: &VaultConn,
        mount: &str,
        name: &str,
        backup: &SecretString,
    ) -> Result<(), ActionError> {
        Self::authorised(conn)?;
        let material = backup
            .expose_secret()
            .strip_prefix("backup:")
            .ok_or_else(|| ActionError::invalid_input("not a backup"))?
            .to_owned();
        let mut s = self.server();
        s.audit.push(format!("{mount}/restore/{name}"));
        let key = TransitKey::new(name, "aes256-gcm96", 2).backup_allowed();
        s.keys.insert(name.to_owned(), (key, material));
        Ok(())
    }

    async fn transit_encrypt(
        &self,
        conn: &VaultConn,
        _: &str,
        name: &str,
        plaintext: &str,
    ) -> Result<String, ActionError> {
        Self::authorised(conn)?;
        let s = self.server();
        let (key, material) = s.keys.get(name).ok_or_else(|| not_found(name))?;
        Ok(format!(
            "vault:v{}:{material}/{plaintext}",
            key.latest_version
        ))
    }

    async fn transit_decrypt(
        &self,
        conn: &VaultConn,
        _: &str,
        name: &str,
        ciphertext: &str,
    ) -> Result<String, ActionError> {
        Self::authorised(conn)?;
        let s = self.server();
        let (_, material) = s.keys.get(name).ok_or_else(|| not_found(name))?;
        let body = ciphertext.splitn(3, ':').nth(2).unwrap_or_default();
        match body.split_once('/') {
            Some((m, plaintext)) if m == material => Ok(plaintext.to_owned()),
            _ => Err(ActionError::invalid_input(
                "cipher: message authentication failed",
            )),
        }
    }

    async fn transit_delete_key(
        &self,
        conn: &VaultConn,
        mount: &str,
        name: &str,
    ) -> Result<(), ActionError> {
        Self::authorised(conn)?;
        let mut s = self.server();
        s.audit.push(format!("{mount}/keys/{name} (delete)"));
        s.keys.remove(name).map(drop).ok_or_else(|| not_found(name))
    }
}

#[tokio::test]
async fn unseal() {
    let vault = FakeVault::new(true);
    let keys = vault.key_refs();
    let case = Case::new(
        vault.registry(),
        "vault.unseal",
        json!({"address": ADDR, "keys": keys, "threshold": 2}),
    )
    .refuses(json!({"address": ADDR, "keys": []}), "keys")
    .refuses(
        json!({"address": ADDR, "keys": keys, "threshold": 0}),
        "threshold",
    )
    .refuses(json!({"address": ADDR, "keys": ["hunter2"]}), "keys[0]")
    .refuses(json!({"address": "vault:8200", "keys": keys}), "address")
    .refuses(
        json!({"address": ADDR, "addresses": [ADDR], "keys": keys}),
        "addresses",
    )
    .refuses(
        json!({"addresses": [ADDR, "ftp://v"], "keys": keys}),
        "addresses[1]",
    )
    .refuses(
        json!({"address": ADDR, "keys": keys, "namespace": "auth"}),
        "namespace",
    )
    .refuses(
        json!({"address": ADDR, "keys": keys, "active_timeout": 0}),
        "active_timeout",
    );
    mutating(&case, vault.as_ref()).await;
}

/// The same step over `addresses` (one node here: the fake is a single server).
#[tokio::test]
async fn unseal_with_addresses() {
    let vault = FakeVault::new(true);
    let keys = vault.key_refs();
    let case = Case::new(
        vault.registry(),
        "vault.unseal",
        json!({"addresses": [ADDR], "keys": keys, "threshold": 2, "namespace": "admin"}),
    )
    .refuses(
        json!({"addresses": [ADDR, ADDR], "keys": keys}),
        "addresses[1]",
    );
    mutating(&case, vault.as_ref()).await;
}

#[tokio::test]
async fn check_health() {
    let vault = FakeVault::new(false);
    let case = Case::new(
        vault.registry(),
        "vault.check_health",
        json!({"address": ADDR}),
    )
    .refuses(json!({"address": "https://root:hunter2@v"}), "address")
    .refuses(
        json!({"address": ADDR, "allow_standby": "yes"}),
        "allow_standby",
    );
    read_only(&case, vault.as_ref()).await;
}

#[tokio::test]
async fn raft_snapshot_save() {
    let vault = FakeVault::new(false);
    let path = vault.path("vault.snap");
    let token = vault.file_ref("token");
    let case = Case::new(
        vault.registry(),
        "vault.raft_snapshot_save",
        json!({"address": ADDR, "path": path, "token": token}),
    )
    .refuses(json!({"address": ADDR, "path": ""}), "path")
    .refuses(
        json!({"address": ADDR, "path": path, "token": "hunter2"}),
        "token",
    );
    mutating(&case, vault.as_ref()).await;
}

#[tokio::test]
async fn raft_snapshot_restore() {
    let vault = FakeVault::new(false);
    let path = vault.path("older.snap");
    let token = vault.file_ref("token");
    let case = Case::new(
        vault.registry(),
        "vault.raft_snapshot_restore",
        json!({"address": ADDR, "path": path, "token": token}),
    )
    .refuses(json!({"address": ADDR, "path": ""}), "path")
    .refuses(json!({"path": path, "address": "ftp://v"}), "address");
    mutating(&case, vault.as_ref()).await;
}

#[tokio::test]
async fn verify_transit_backup() {
    let vault = FakeVault::new(false);
    let token = vault.file_ref("token");
    let case = Case::new(
        vault.registry(),
        "vault.verify_transit_backup",
        json!({"address": ADDR, "mount": "transit", "key": "payments", "token": token}),
    )
    .refuses(
        json!({"address": ADDR, "mount": "transit", "key": "../sys"}),
        "key",
    )
    .refuses(
        json!({"address": ADDR, "mount": "", "key": "payments"}),
        "mount",
    );
    mutating(&case, vault.as_ref()).await;
}

#[tokio::test]
async fn check_transit_key() {
    let vault = FakeVault::new(false);
    let token = vault.file_ref("token");
    let case = Case::new(
        vault.registry(),
        "vault.check_transit_key",
        json!({"address": ADDR, "mount": "transit", "key": "payments", "token": token,
               "key_type": "aes256-gcm96", "decrypts_from_version": 1}),
    )
    .refuses(
        json!({"address": ADDR, "mount": "transit", "key": "../sys"}),
        "key",
    )
    .refuses(
        json!({"address": ADDR, "mount": "transit", "key": "payments", "namespace": "a/+"}),
        "namespace",
    )
    .refuses(
        json!({"address": ADDR, "mount": "transit", "key": "payments", "decrypts_from_version": 0}),
        "decrypts_from_version",
    );
    read_only(&case, vault.as_ref()).await;
}
