//! The adapter: [`VaultApi`] over `vaultrs`'s client, with endpoints of drkit's own where
//! `vaultrs` has none or one that does not work against OpenBao.
//!
//! All the quirks are wrapped here:
//! - `vaultrs::sys::health` and `vaultrs::sys::status` fail on a healthy OpenBao: its health
//!   JSON has no `performance_standby` field, which vaultrs's `ReadHealthResponse` requires.
//!   [`HealthBody`] makes it optional (see the test `vaultrs_health_response_rejects_openbao`).
//! - `vaultrs` has no seal-status or raft snapshot function, and its `transit::key::restore`
//!   ignores the name to restore under: drkit's own endpoints, run through vaultrs's client
//!   (`client.http()` with `client.middle()`, which adds the token and the `/v1` prefix).
//! - `/v1/sys/health` answers 429/472/473/501/503 depending on the state: drkit asks for 200
//!   in every state and reads the body.
//! - vaultrs reads `VAULT_SKIP_VERIFY` loosely: any value but `0`, `f` or `false` — an empty
//!   one, `no`, `off` — turns TLS verification off. drkit reads it itself
//!   ([`skip_tls_verify`]): only `true` or `1` turn it off (see the test
//!   `vaultrs_reads_vault_skip_verify_loosely_drkit_does_not`).
//! - vaultrs sets no time-out by default: every call here is bounded by the connection's
//!   ([`VaultConn::timeout`]), and one that runs out is a `Timeout` error.
//! - vaultrs panics on a token that is not a valid header value: such a token is refused here
//!   (without showing it).
//! - vaultrs adds its namespace setting to every request as `X-Vault-Namespace`; the `sys/`
//!   endpoints drkit calls are root-namespace-only in Vault Enterprise, so the namespace is put
//!   on the client of the transit calls only ([`Scope`]). vaultrs also panics on a header value
//!   that is not visible ASCII: the actions validate the namespace before any call.
//! - HashiCorp's documented answer of `GET <mount>/keys/<name>` has no `latest_version` (a
//!   real server sends it): it is then the newest version in `keys`.

use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::{ActionError, ErrorKind, ExposeSecret, SecretString};
use rustify::endpoint::Endpoint;
use rustify::enums::{RequestMethod, RequestType, ResponseType};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use vaultrs::client::{Client as _, VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

use crate::port::{Health, Leader, SealStatus, TransitKey, VaultApi, VaultConn};

/// [`VaultApi`] over `vaultrs` (rustls; no OpenSSL). A client is made per call, with the
/// address, token and time-out of that call; TLS settings come from the usual `VAULT_CACERT`,
/// `VAULT_CAPATH` and `VAULT_SKIP_VERIFY` variables (verification is off only when
/// `VAULT_SKIP_VERIFY` is `true` or `1`). The token is never read from
/// `VAULT_TOKEN` behind the action's back: the actions resolve it from their `token` reference.
#[derive(Clone, Copy, Debug, Default)]
pub struct VaultrsApi;

impl VaultrsApi {
    /// The adapter.
    pub fn new() -> Self {
        Self
    }
}

/// Checks that `address` is an `http://` or `https://` URL (vaultrs panics on anything else).
pub(crate) fn validate_address(address: &str) -> Result<(), String> {
    match url::Url::parse(address) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            if url.password().is_some() || !url.username().is_empty() {
                Err("the address must not hold credentials".to_owned())
            } else {
                Ok(())
            }
        }
        Ok(_) => Err(format!(
            "`{address}` is not an http:// or https:// address (e.g. https://vault.example:8200)"
        )),
        Err(err) => Err(format!("`{address}` is not a URL: {err}")),
    }
}

/// Names a namespace may not use (OpenBao's list, the same as Vault Enterprise's): `root` is the
/// root namespace itself, the others are the paths of the system mounts.
const RESERVED_NAMESPACES: [&str; 6] = ["root", "sys", "audit", "auth", "cubbyhole", "identity"];

/// Checks a Vault Enterprise / HCP namespace path, e.g. `admin` or `admin/payments`: segments
/// separated by `/` (a leading or trailing `/` is allowed), each non-empty, not `.` or `..`,
/// not a reserved name, of visible ASCII without `+` or `*` (an HTTP header value).
pub(crate) fn validate_namespace(namespace: &str) -> Result<(), String> {
    let path = namespace.trim_matches('/');
    if path.is_empty() {
        return Err(
            "is empty: leave `namespace` out for the root namespace (or unset VAULT_NAMESPACE)"
                .to_owned(),
        );
    }
    for segment in path.split('/') {
        let problem = if segment.is_empty() || segment == "." || segment == ".." {
            Some("an empty, `.` or `..` segment".to_owned())
        } else if RESERVED_NAMESPACES.contains(&segment) {
            Some(format!("the reserved name `{segment}`"))
        } else if !segment
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '+' && c != '*')
        {
            Some("a space, a `+` or `*`, or a character that is not visible ASCII".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(format!(
                "`{namespace}` is not a namespace path (e.g. `admin` or `admin/payments`): it has {problem}"
            ));
        }
    }
    Ok(())
}

/// The variable that turns TLS verification off.
pub(crate) const SKIP_VERIFY_VAR: &str = "VAULT_SKIP_VERIFY";

/// Whether `VAULT_SKIP_VERIFY`'s value turns TLS verification off: only an explicit `true` or
/// `1` (case-insensitive, spaces trimmed) does. Unset, empty, `false`, `no`, `0`, `yes` or
/// anything else: verify.
pub(crate) fn skip_tls_verify(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim();
        v == "1" || v.eq_ignore_ascii_case("true")
    })
}

/// Whether an endpoint lives in a namespace (transit) or in the root namespace only (`sys/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// A root-namespace-only endpoint: no `X-Vault-Namespace` header, whatever the connection.
    Root,
    /// A namespaced endpoint: the connection's namespace, if any.
    Namespaced,
}

fn client(conn: &VaultConn, scope: Scope) -> Result<VaultClient, ActionError> {
    client_with(conn, scope, std::env::var(SKIP_VERIFY_VAR).ok().as_deref())
}

/// [`client`], with `VAULT_SKIP_VERIFY`'s value given. vaultrs's own reading of the variable
/// is overridden: `verify` is always set here.
fn client_with(
    conn: &VaultConn,
    scope: Scope,
    skip_verify: Option<&str>,
) -> Result<VaultClient, ActionError> {
    validate_address(conn.address()).map_err(ActionError::invalid_input)?;
    let token = conn
        .token()
        .map(|t| t.expose_secret().to_owned())
        .unwrap_or_default();
    // vaultrs unwraps the token's header value: refuse one that would panic (never shown).
    if !token.chars().all(|c| c == '\t' || (' '..='~').contains(&c)) {
        return Err(ActionError::invalid_input(
            "the token holds a control or non-ASCII character: it cannot be sent as a header \
             (check the file or variable it is read from)",
        ));
    }
    let skip = skip_tls_verify(skip_verify);
    if skip && conn.address().starts_with("https://") {
        tracing::warn!(
            address = conn.address(),
            "{SKIP_VERIFY_VAR} is set: the server's TLS certificate is not verified"
        );
    }
    let namespace = match scope {
        Scope::Root => None,
        Scope::Namespaced => conn.namespace().map(str::to_owned),
    };
    if let Some(ns) = &namespace {
        // vaultrs unwraps the header value: never give it one that would panic.
        validate_namespace(ns).map_err(ActionError::invalid_input)?;
    }
    let settings = VaultClientSettingsBuilder::default()
        .address(conn.address())
        .token(token)
        .verify(!skip)
        .timeout(Some(conn.timeout()))
        .namespace(namespace)
        .build()
        .map_err(|e| ActionError::invalid_input(format!("Vault client settings: {e}")))?;
    VaultClient::new(settings)
        .map_err(|e| ActionError::invalid_input(format!("Vault client: {}", chain(&e))))
}

/// One call: method, path (without `/v1`), query, body. `R` is what the answer is read as.
struct Call<R> {
    method: RequestMethod,
    path: String,
    query: Option<String>,
    body: Option<Vec<u8>>,
    response: PhantomData<fn() -> R>,
}

impl<R> Call<R> {
    fn new(method: RequestMethod, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: None,
            body: None,
            response: PhantomData,
        }
    }

    fn query(mut self, query: &str) -> Self {
        self.query = Some(query.to_owned());
        self
    }

    fn json(mut self, body: &serde_json::Value) -> Self {
        self.body = Some(body.to_string().into_bytes());
        self
    }

    fn raw(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }
}

impl<R: DeserializeOwned + Send + Sync> Endpoint for Call<R> {
    type Response = R;
    const REQUEST_BODY_TYPE: RequestType = RequestType::JSON;
    const RESPONSE_BODY_TYPE: ResponseType = ResponseType::JSON;

    fn path(&self) -> String {
        self.path.clone()
    }

    fn method(&self) -> RequestMethod {
        self.method.clone()
    }

    fn query(&self) -> Result<Option<String>, rustify::errors::ClientError> {
        Ok(self.query.clone())
    }

    fn body(&self) -> Result<Option<Vec<u8>>, rustify::errors::ClientError> {
        Ok(self.body.clone())
    }
}

/// `sys/seal-status` and `sys/unseal` answers. `sys/unseal` answers without `initialized`,
/// `type` and the others in HashiCorp's docs (OpenBao and real servers send the whole status).
#[derive(Deserialize)]
pub(crate) struct SealBody {
    #[serde(default = "yes")]
    initialized: bool,
    sealed: bool,
    t: u32,
    n: u32,
    progress: u32,
    #[serde(default)]
    version: String,
    #[serde(default, rename = "type")]
    seal_type: String,
    #[serde(default)]
    recovery_seal: bool,
    #[serde(default)]
    migration: bool,
    #[serde(default)]
    storage_type: String,
}

fn yes() -> bool {
    true
}

impl From<SealBody> for SealStatus {
    fn from(b: SealBody) -> Self {
        let mut s = SealStatus::new(b.initialized, b.sealed, b.t, b.n, b.progress)
            .version(b.version)
            .storage(b.storage_type);
        s.seal_type = if b.seal_type.is_empty() {
            "shamir".to_owned()
        } else {
            b.seal_type
        };
        s.recovery_seal = b.recovery_seal;
        s.migration = b.migration;
        s
    }
}

/// `sys/health`, as OpenBao and Vault both answer it (`performance_standby` optional).
#[derive(Deserialize)]
pub(crate) struct HealthBody {
    initialized: bool,
    sealed: bool,
    standby: bool,
    #[serde(default)]
    performance_standby: Option<bool>,
    #[serde(default)]
    version: String,
    #[serde(default)]
    cluster_name: Option<String>,
    #[serde(default)]
    ha_connection_healthy: Option<bool>,
    #[serde(default)]
    removed_from_cluster: Option<bool>,
}

impl From<HealthBody> for Health {
    fn from(b: HealthBody) -> Self {
        let mut h = Health::new(b.initialized, b.sealed, b.standby, b.version);
        h.performance_standby = b.performance_standby;
        h.cluster_name = b.cluster_name;
        h.ha_connection_healthy = b.ha_connection_healthy;
        h.removed_from_cluster = b.removed_from_cluster;
        h
    }
}

/// Every state answers 200, so the body can be read whatever it is (the codes of HashiCorp's
/// docs: 429 standby, 472 DR secondary, 473 performance standby, 474 standby that cannot reach
/// the active node, 501 not initialised, 503 sealed, 530 removed from the cluster).
const HEALTH_QUERY: &str = "standbycode=200&perfstandbycode=200&performancestandbycode=200\
                            &sealedcode=200&uninitcode=200&drsecondarycode=200\
                            &haunhealthycode=200&removedcode=200";

/// `sys/leader`.
#[derive(Deserialize)]
pub(crate) struct LeaderBody {
    #[serde(default)]
    ha_enabled: bool,
    #[serde(default)]
    is_self: bool,
    #[serde(default)]
    leader_address: String,
}

impl From<LeaderBody> for Leader {
    fn from(b: LeaderBody) -> Self {
        let mut l = Leader::new(b.is_self, b.leader_address);
        l.ha_enabled = b.ha_enabled;
        l
    }
}

/// `GET <mount>/keys/<name>` (its `data`).
#[derive(Deserialize)]
pub(crate) struct KeyBody {
    name: String,
    #[serde(rename = "type")]
    key_type: String,
    /// Absent from HashiCorp's documented sample; then the newest of `keys`.
    #[serde(default)]
    latest_version: Option<u64>,
    /// Version -> creation time (symmetric keys) or details (asymmetric ones).
    #[serde(default)]
    keys: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    min_decryption_version: Option<u64>,
    #[serde(default)]
    min_available_version: u64,
    #[serde(default)]
    exportable: bool,
    #[serde(default)]
    allow_plaintext_backup: bool,
    #[serde(default)]
    deletion_allowed: bool,
}

impl From<KeyBody> for TransitKey {
    fn from(b: KeyBody) -> Self {
        let newest_listed = b.keys.keys().filter_map(|v| v.parse::<u64>().ok()).max();
        let latest = b.latest_version.or(newest_listed).unwrap_or_default();
        let mut key = TransitKey::new(b.name, b.key_type, latest);
        key.min_decryption_version = b.min_decryption_version.unwrap_or(1);
        key.min_available_version = b.min_available_version;
        key.exportable = b.exportable;
        key.allow_plaintext_backup = b.allow_plaintext_backup;
        key.deletion_allowed = b.deletion_allowed;
        key
    }
}

#[derive(Deserialize)]
struct BackupBody {
    backup: String,
}

#[derive(Deserialize)]
struct CiphertextBody {
    ciphertext: String,
}

#[derive(Deserialize)]
struct PlaintextBody {
    plaintext: String,
}

/// An answer that is not read (empty bodies).
type Ignored = serde_json::Value;

fn path(mount: &str, what: &str, name: &str) -> String {
    format!("{}/{what}/{name}", mount.trim_matches('/'))
}

/// The error text with its causes, `: `-separated.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The kind of an HTTP status from Vault.
fn status_kind(code: u16) -> ErrorKind {
    match code {
        400 => ErrorKind::InvalidInput,
        401 | 403 => ErrorKind::AccessDenied,
        404 => ErrorKind::NotFound,
        405 | 501 => ErrorKind::NotImplemented,
        409 | 412 => ErrorKind::Conflict,
        429 => ErrorKind::Throttled,
        500..=599 => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

fn from_status(code: u16, errors: &[String], operation: &str) -> ActionError {
    let message = if errors.is_empty() {
        format!("HTTP {code}")
    } else {
        errors.join("; ")
    };
    ActionError::new(status_kind(code), message)
        .with_code(code.to_string())
        .with_operation(operation)
}

/// Classifies a rustify error. Never keeps the error as a source, nor a response body that was
/// not an error message: a body may be a key backup or a snapshot.
fn from_rustify(err: &rustify::errors::ClientError, operation: &str, address: &str) -> ActionError {
    use rustify::errors::ClientError as R;
    match err {
        R::ServerResponseError { code, content } => {
            #[derive(Deserialize)]
            struct Errors {
                errors: Vec<String>,
            }
            let errors = content
                .as_deref()
                .and_then(|c| serde_json::from_str::<Errors>(c).ok())
                .map(|e| e.errors)
                .unwrap_or_default();
            from_status(*code, &errors, operation)
        }
        R::RequestError { source, .. } => {
            let text = format!("{source:#}");
            if text.contains("timed out") {
                return ActionError::new(
                    ErrorKind::Timeout,
                    format!("{address} did not answer in time: {text}"),
                )
                .with_operation(operation);
            }
            ActionError::new(
                ErrorKind::Unavailable,
                format!("cannot reach {address}: {text}"),
            )
            .with_operation(operation)
        }
        // The answer broke off (or stalled past the time-out) while its body was read.
        R::ResponseError { source } => {
            let text = format!("{source:#}");
            let kind = if text.contains("timed out") {
                ErrorKind::Timeout
            } else {
                ErrorKind::Unavailable
            };
            ActionError::new(kind, format!("reading the answer of {address}: {text}"))
                .with_operation(operation)
        }
        R::ResponseParseError { source, .. } => ActionError::new(
            ErrorKind::Other,
            format!("{address} answered with unexpected content: {source}"),
        )
        .with_operation(operation),
        other => ActionError::new(ErrorKind::Other, other.to_string()).with_operation(operation),
    }
}

/// Classifies a vaultrs error (same rules as [`from_rustify`]).
pub(crate) fn from_vaultrs(err: &ClientError, operation: &str, address: &str) -> ActionError {
    match err {
        ClientError::APIError { code, errors } => from_status(*code, errors, operation),
        ClientError::RestClientError { source } => from_rustify(source, operation, address),
        ClientError::JsonParseError { source } => ActionError::new(
            ErrorKind::Other,
            format!("{address} answered with unexpected JSON: {source}"),
        )
        .with_operation(operation),
        other => ActionError::new(ErrorKind::Other, other.to_string()).with_operation(operation),
    }
}

/// `call`, bounded by the connection's time-out (vaultrs's own, set on its client, bounds the
/// HTTP exchange; this one everything around it too). Running out is a `Timeout` error, which
/// a retry may cure.
async fn bounded<T>(
    conn: &VaultConn,
    operation: &str,
    call: impl Future<Output = Result<T, ActionError>>,
) -> Result<T, ActionError> {
    let limit = conn.timeout();
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(conn.address(), operation, limit)),
    }
}

fn timed_out(address: &str, operation: &str, limit: Duration) -> ActionError {
    ActionError::new(
        ErrorKind::Timeout,
        format!(
            "{address} did not answer within {} (VAULT_CLIENT_TIMEOUT sets this bound)",
            humantime::format_duration(limit)
        ),
    )
    .with_operation(operation)
}

async fn unwrapped<R: DeserializeOwned + Send + Sync>(
    conn: &VaultConn,
    scope: Scope,
    call: Call<R>,
    operation: &str,
) -> Result<R, ActionError> {
    let client = client(conn, scope)?;
    bounded(conn, operation, async {
        vaultrs::api::exec_with_no_result(&client, call)
            .await
            .map_err(|e| from_vaultrs(&e, operation, conn.address()))
    })
    .await
}

async fn data<R: DeserializeOwned + Send + Sync>(
    conn: &VaultConn,
    scope: Scope,
    call: Call<R>,
    operation: &str,
) -> Result<R, ActionError> {
    let client = client(conn, scope)?;
    bounded(conn, operation, async {
        vaultrs::api::exec_with_result(&client, call)
            .await
            .map_err(|e| from_vaultrs(&e, operation, conn.address()))
    })
    .await
}

async fn empty(
    conn: &VaultConn,
    scope: Scope,
    call: Call<Ignored>,
    operation: &str,
) -> Result<(), ActionError> {
    let client = client(conn, scope)?;
    bounded(conn, operation, async {
        vaultrs::api::exec_with_empty(&client, call)
            .await
            .map_err(|e| from_vaultrs(&e, operation, conn.address()))
    })
    .await
}

#[async_trait]
impl VaultApi for VaultrsApi {
    async fn seal_status(&self, conn: &VaultConn) -> Result<SealStatus, ActionError> {
        let call = Call::<SealBody>::new(RequestMethod::GET, "sys/seal-status");
        Ok(unwrapped(conn, Scope::Root, call, "sys/seal-status")
            .await?
            .into())
    }

    async fn submit_unseal_share(
        &self,
        conn: &VaultConn,
        share: &SecretString,
    ) -> Result<SealStatus, ActionError> {
        let call = Call::<SealBody>::new(RequestMethod::PUT, "sys/unseal")
            .json(&json!({ "key": share.expose_secret() }));
        Ok(unwrapped(conn, Scope::Root, call, "sys/unseal")
            .await?
            .into())
    }

    async fn health(&self, conn: &VaultConn) -> Result<Health, ActionError> {
        let call = Call::<HealthBody>::new(RequestMethod::GET, "sys/health").query(HEALTH_QUERY);
        Ok(unwrapped(conn, Scope::Root, call, "sys/health")
            .await?
            .into())
    }

    async fn leader(&self, conn: &VaultConn) -> Result<Leader, ActionError> {
        let call = Call::<LeaderBody>::new(RequestMethod::GET, "sys/leader");
        Ok(unwrapped(conn, Scope::Root, call, "sys/leader")
            .await?
            .into())
    }

    async fn raft_snapshot_save(&self, conn: &VaultConn) -> Result<Vec<u8>, ActionError> {
        const OP: &str = "sys/storage/raft/snapshot";
        let client = client(conn, Scope::Root)?;
        let call = Call::<Ignored>::new(RequestMethod::GET, OP);
        let answer = bounded(conn, OP, async {
            call.with_middleware(client.middle())
                .exec(client.http())
                .await
                .map_err(|e| from_rustify(&e, OP, conn.address()))
        })
        .await?;
        Ok(answer.raw())
    }

    async fn raft_snapshot_restore(
        &self,
        conn: &VaultConn,
        snapshot: Vec<u8>,
        force: bool,
    ) -> Result<(), ActionError> {
        let op = if force {
            "sys/storage/raft/snapshot-force"
        } else {
            "sys/storage/raft/snapshot"
        };
        let call = Call::new(RequestMethod::POST, op).raw(snapshot);
        empty(conn, Scope::Root, call, op).await
    }

    async fn transit_read_key(
        &self,
        conn: &VaultConn,
        mount: &str,
        name: &str,
    ) -> Result<TransitKey, ActionError> {
        let call = Call::<KeyBody>::new(RequestMethod::GET, path(mount, "keys", name));
        Ok(data(conn, Scope::Namespaced, call, "transit read key")
            .await?
            .into())
    }

    async fn transit_backup_key(
        &self,
        conn: &VaultConn,
        mount: &str,
        name: &str,
    ) -> Result<SecretString, ActionError> {
        let call = Call::<BackupBody>::new(RequestMethod::GET, path(mount, "backup", name));
        let b = data(conn, Scope::Namespaced, call, "transit backup key").await?;
        Ok(SecretString::from(b.backup))
    }

    async fn transit_restore_key(
        &self,
        conn: &VaultConn,
        mount: &str,
        name: &str,
        backup: &SecretString,
    ) -> Result<(), ActionError> {
        let call = Call::new(RequestMethod::POST, path(mount, "restore", name))
            .json(&json!({ "backup": backup.expose_secret() }));
        empty(conn, Scope::Namespaced, call, "transit restore key").await
    }

    async fn transit_encrypt(
        &self,
        conn: &VaultConn,
        mount: &str,
        name: &str,
        plaintext: &str,
    ) -> Result<String, ActionError> {
        let call = Call::<CiphertextBody>::new(RequestMethod::POST, path(mount, "encrypt", name))
            .json(&json!({ "plaintext": plaintext }));
        Ok(data(conn, Scope::Namespaced, call, "transit encrypt")
            .await?
            .ciphertext)
    }

    async fn transit_decrypt(
        &self,
        conn: &VaultConn,
        mount: &str,
        name: &str,
        ciphertext: &str,
    ) -> Result<String, ActionError> {
        let call = Call::<PlaintextBody>::new(RequestMethod::POST, path(mount, "decrypt", name))
            .json(&json!({ "ciphertext": ciphertext }));
        Ok(data(conn, Scope::Namespaced, call, "transit decrypt")
            .await?
            .plaintext)
    }

    async fn transit_delete_key(
        &self,
        conn: &VaultConn,
        mount: &str,
        name: &str,
    ) -> Result<(), ActionError> {
        let config = Call::new(
            RequestMethod::POST,
            format!("{}/config", path(mount, "keys", name)),
        )
        .json(&json!({ "deletion_allowed": true }));
        empty(conn, Scope::Namespaced, config, "transit key config").await?;
        let delete = Call::new(RequestMethod::DELETE, path(mount, "keys", name));
        empty(conn, Scope::Namespaced, delete, "transit delete key").await
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
