//! # drkit-journal-s3
//!
//! A [`JournalStore`] in S3, so that a recovery run can be resumed from another machine when the
//! operator's machine is lost in the disaster (put the bucket in the recovery region, or
//! replicate it).
//!
//! Layout under `s3://<bucket>/<prefix>`:
//!
//! - `<plan>.lock` — the lock: `{who, since, expires_at}`;
//! - `<plan>/<run>/<first_seq:020>.jsonl` — one object per group commit, the same JSON lines as
//!   the file store writes. Objects list in journal order (run ids are `<plan>-<epoch millis>`).
//!
//! Everything that must be exclusive is a **conditional write**:
//!
//! - the lock is created with `If-None-Match: *`: of two runners, exactly one succeeds; the
//!   other is refused with the holder's name and since when;
//! - the lock is a **lease**: its holder renews it (`If-Match: <etag>`) every third of the lease;
//!   a lock whose lease has expired — its holder's machine died — is taken over with
//!   `If-Match: <its etag>`, so two machines racing for it cannot both win. A resume from a
//!   second machine therefore waits at most one lease (default 2 minutes);
//! - each batch object is written with `If-None-Match: *`, so no two writers can ever write the
//!   same records.
//!
//! ```no_run
//! use drkit_aws::{AwsContext, AwsSettings};
//! use drkit_journal_s3::S3JournalStore;
//! use drkit_runner::Runner;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let aws = AwsContext::load(&AwsSettings::default().region("us-west-2")).await;
//! let store = S3JournalStore::from_url("s3://mint-dr-journal/drills/", &aws)?;
//! let runner = Runner::new().with_journal(store);
//! # let _ = runner; Ok(()) }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use drkit_aws::{AwsContext, sdk_error};
use drkit_core::{ActionError, ErrorKind};
use drkit_runner::{
    Batch, JournalError, JournalLock, JournalStore, LockHolder, Record, parse_lines,
};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

/// The default lease of the lock.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

/// Journals in an S3 bucket (see the crate docs for the layout and the locking).
#[derive(Clone)]
pub struct S3JournalStore {
    client: Client,
    bucket: String,
    prefix: String,
    lease: Duration,
}

impl fmt::Debug for S3JournalStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3JournalStore")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// The body of the lock object.
#[derive(Debug, Serialize, Deserialize)]
struct LockBody {
    who: String,
    since: String,
    expires_at: String,
}

impl LockBody {
    fn new(holder: &LockHolder, lease: Duration) -> Self {
        Self {
            who: holder.who.clone(),
            since: humantime::format_rfc3339_millis(holder.since).to_string(),
            expires_at: humantime::format_rfc3339_millis(SystemTime::now() + lease).to_string(),
        }
    }

    fn holder(&self) -> LockHolder {
        let mut holder = LockHolder::new(self.who.clone());
        if let Ok(since) = humantime::parse_rfc3339_weak(&self.since) {
            holder.since = since;
        }
        holder
    }

    fn expired(&self) -> bool {
        humantime::parse_rfc3339_weak(&self.expires_at).is_ok_and(|at| at < SystemTime::now())
    }
}

/// Whether an S3 error says a condition (`If-Match`, `If-None-Match`) did not hold.
fn condition_failed(err: &ActionError) -> bool {
    matches!(
        err.code(),
        Some("PreconditionFailed" | "ConditionalRequestConflict" | "HTTP 412" | "HTTP 409")
    )
}

impl S3JournalStore {
    /// Journals in `bucket` under `prefix` (e.g. `"drills/"`; may be empty).
    pub fn new(client: Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        let mut prefix = prefix.into();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Self {
            client,
            bucket: bucket.into(),
            prefix,
            lease: DEFAULT_LEASE,
        }
    }

    /// Journals at `s3://bucket/prefix`, with a client configured by `aws` (path-style when an
    /// endpoint such as an emulator is set).
    pub fn from_url(url: &str, aws: &AwsContext) -> Result<Self, JournalError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| JournalError::Store {
                location: url.to_owned(),
                source: ActionError::invalid_input("a journal URL looks like s3://bucket/prefix"),
            })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(JournalError::Store {
                location: url.to_owned(),
                source: ActionError::invalid_input("the journal URL names no bucket"),
            });
        }
        let config = aws_sdk_s3::config::Builder::from(aws.sdk_config())
            .force_path_style(aws.s3_force_path_style())
            .build();
        Ok(Self::new(Client::from_conf(config), bucket, prefix))
    }

    /// Uses a lease of `lease` for the lock (renewed every third of it).
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    fn lock_key(&self, plan: &str) -> String {
        format!("{}{plan}.lock", self.prefix)
    }

    fn journal_prefix(&self, plan: &str) -> String {
        format!("{}{plan}/", self.prefix)
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn store_error(&self, key: &str, source: ActionError) -> JournalError {
        JournalError::Store {
            location: self.location(key),
            source,
        }
    }

    /// Writes the lock body: `If-None-Match: *` when `etag` is `None`, else `If-Match: etag`.
    /// `Ok(Some(new etag))` on success, `Ok(None)` when the condition did not hold.
    async fn put_lock(
        &self,
        key: &str,
        body: &LockBody,
        etag: Option<&str>,
    ) -> Result<Option<String>, JournalError> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            self.store_error(key, ActionError::new(ErrorKind::Other, e.to_string()))
        })?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(bytes));
        let request = match etag {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        match request.send().await {
            Ok(out) => Ok(Some(out.e_tag().unwrap_or_default().to_owned())),
            Err(e) => {
                let e = sdk_error("PutObject", e);
                if condition_failed(&e) {
                    Ok(None)
                } else {
                    Err(self.store_error(key, e))
                }
            }
        }
    }

    /// The lock's body and etag, if there is a lock.
    async fn read_lock(&self, key: &str) -> Result<Option<(LockBody, String)>, JournalError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = sdk_error("GetObject", e);
                return if e.kind() == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(self.store_error(key, e))
                };
            }
        };
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let bytes = out.body.collect().await.map_err(|e| {
            self.store_error(key, ActionError::new(ErrorKind::Unavailable, e.to_string()))
        })?;
        let body: LockBody = serde_json::from_slice(&bytes.into_bytes()).map_err(|e| {
            self.store_error(
                key,
                ActionError::new(ErrorKind::Other, format!("unreadable lock object: {e}")),
            )
        })?;
        Ok(Some((body, etag)))
    }
}

/// A held lock: renewed in the background until released.
struct S3Lock {
    holder: LockHolder,
    store: S3JournalStore,
    key: String,
    etag: Arc<Mutex<String>>,
    renewer: JoinHandle<()>,
}

impl fmt::Debug for S3Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Lock")
            .field("holder", &self.holder)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl JournalLock for S3Lock {
    fn holder(&self) -> &LockHolder {
        &self.holder
    }

    async fn release(self: Box<Self>) -> Result<(), JournalError> {
        self.renewer.abort();
        let etag = self
            .etag
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        // Delete only our own lock: a lock taken over after our lease expired is not ours.
        match self.store.read_lock(&self.key).await? {
            Some((_, current)) if current == etag => {}
            _ => {
                tracing::warn!(lock = %self.key, "the journal lock was no longer ours at release");
                return Ok(());
            }
        }
        self.store
            .client
            .delete_object()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .send()
            .await
            .map_err(|e| {
                self.store
                    .store_error(&self.key, sdk_error("DeleteObject", e))
            })?;
        Ok(())
    }
}

#[async_trait]
impl JournalStore for S3JournalStore {
    async fn acquire(
        &self,
        plan: &str,
        holder: &LockHolder,
    ) -> Result<Box<dyn JournalLock>, JournalError> {
        let key = self.lock_key(plan);
        let body = LockBody::new(holder, self.lease);
        let etag = match self.put_lock(&key, &body, None).await? {
            Some(etag) => etag,
            None => {
                let Some((current, current_etag)) = self.read_lock(&key).await? else {
                    // Released between our two calls: try once more.
                    return match self.put_lock(&key, &body, None).await? {
                        Some(etag) => Ok(self.held(holder, key, etag)),
                        None => Err(JournalError::Locked {
                            plan: plan.to_owned(),
                            holder: LockHolder::new("another runner (it took the lock just now)"),
                        }),
                    };
                };
                if !current.expired() {
                    return Err(JournalError::Locked {
                        plan: plan.to_owned(),
                        holder: current.holder(),
                    });
                }
                tracing::warn!(
                    plan,
                    previous = %current.who,
                    "taking over a journal lock whose lease expired at {}",
                    current.expires_at
                );
                match self.put_lock(&key, &body, Some(&current_etag)).await? {
                    Some(etag) => etag,
                    None => {
                        let holder = match self.read_lock(&key).await? {
                            Some((body, _)) => body.holder(),
                            None => LockHolder::new("another runner"),
                        };
                        return Err(JournalError::Locked {
                            plan: plan.to_owned(),
                            holder,
                        });
                    }
                }
            }
        };
        Ok(self.held(holder, key, etag))
    }

    async fn append(&self, plan: &str, batch: Batch) -> Result<(), JournalError> {
        let key = format!(
            "{}{}/{:020}.jsonl",
            self.journal_prefix(plan),
            batch.run,
            batch.first_seq
        );
        let result = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/x-ndjson")
            .if_none_match("*")
            .body(ByteStream::from(batch.lines))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = sdk_error("PutObject", e);
                if condition_failed(&e) {
                    Err(self.store_error(
                        &key,
                        ActionError::new(
                            ErrorKind::Conflict,
                            "these records were already written by another runner",
                        ),
                    ))
                } else {
                    Err(self.store_error(&key, e))
                }
            }
        }
    }

    async fn load(&self, plan: &str) -> Result<Vec<Record>, JournalError> {
        let prefix = self.journal_prefix(plan);
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| self.store_error(&prefix, sdk_error("ListObjectsV2", e)))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned))
                    .filter(|k| k.ends_with(".jsonl")),
            );
        }
        keys.sort();
        let mut records = Vec::new();
        for key in keys {
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| self.store_error(&key, sdk_error("GetObject", e)))?;
            let bytes = out.body.collect().await.map_err(|e| {
                self.store_error(
                    &key,
                    ActionError::new(ErrorKind::Unavailable, e.to_string()),
                )
            })?;
            let bytes = bytes.into_bytes();
            records.extend(parse_lines(&bytes[..], &self.location(&key))?);
        }
        Ok(records)
    }
}

impl S3JournalStore {
    /// A held lock, with its lease renewed every third of the lease.
    fn held(&self, holder: &LockHolder, key: String, etag: String) -> Box<dyn JournalLock> {
        let etag = Arc::new(Mutex::new(etag));
        let renewer = {
            let store = self.clone();
            let key = key.clone();
            let etag = Arc::clone(&etag);
            let holder = holder.clone();
            tokio::spawn(async move {
                let every = store.lease / 3;
                loop {
                    tokio::time::sleep(every).await;
                    let current = etag.lock().unwrap_or_else(PoisonError::into_inner).clone();
                    let body = LockBody::new(&holder, store.lease);
                    match store.put_lock(&key, &body, Some(&current)).await {
                        Ok(Some(new)) => {
                            *etag.lock().unwrap_or_else(PoisonError::into_inner) = new;
                        }
                        Ok(None) => {
                            tracing::error!(lock = %key, "the journal lock was taken over by another runner");
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(lock = %key, "renewing the journal lock failed: {e}");
                        }
                    }
                }
            })
        };
        Box::new(S3Lock {
            holder: holder.clone(),
            store: self.clone(),
            key,
            etag,
            renewer,
        })
    }
}
