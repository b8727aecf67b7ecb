//! # drkit-journal-s3
//!
//! A [`JournalStore`] in S3, so that a recovery run can be resumed from another machine when the
//! operator's machine is lost in the disaster (put the bucket in the recovery region, or
//! replicate it).
//!
//! Layout under `s3://<bucket>/<prefix>`:
//!
//! - `<plan>.lock` — the lock: `{who, since, expires_at, lease_ms, generation, holder_id,
//!   write_id, pending}`;
//! - `<plan>/<run>/<first_seq:020>.jsonl` — one object per group commit, the same JSON lines as
//!   the file store writes. Objects list in journal order (run ids are `<plan>-<epoch millis>`).
//!
//! Everything that must be exclusive is a **conditional write**:
//!
//! - the lock is created with `If-None-Match: *`: of two runners, exactly one succeeds; the
//!   other is refused with the holder's name and since when;
//! - the lock is a **lease**: its holder renews it (`If-Match: <etag>`) every third of the lease;
//!   a lock whose lease has run out *by S3's clock* (its `Last-Modified` plus the lease, against
//!   the `Date` S3 answers with) — its holder's machine died — is taken over with
//!   `If-Match: <its etag>`, so two machines racing for it cannot both win. A resume from a
//!   second machine therefore waits at most one lease (default 2 minutes) and 2 s;
//! - **fencing**: every journal batch is first committed into the lock object, with
//!   `If-Match: <the etag of the holder's last write>`, then archived to its own object with
//!   `If-None-Match: *`. A takeover changes the lock's etag, so a holder that lost the lock (a
//!   stalled process, a paused machine) can write nothing more: S3 refuses its commit;
//! - a holder that cannot renew by 2/3 of its lease tells the runner
//!   ([`JournalLock::loss`](drkit_runner::JournalLock::loss)), which stops launching steps and
//!   cancels the running ones; past its whole lease it sends nothing more;
//! - the lock is released with a conditional `DeleteObject` (`If-Match`); a dropped lock stops
//!   renewing.
//!
//! See `docs/reliability.md`, "S3 lock", for the protocol and the tests that show it.
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

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use drkit_aws::{AwsContext, SdkResultExt, sdk_error};
use drkit_core::{ActionError, ErrorKind};
use drkit_runner::{
    Batch, JournalError, JournalLock, JournalStore, LockHolder, Record, parse_lines,
};

mod lock;

/// The default lease of the lock.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

/// The shortest lease [`S3JournalStore::with_lease`] takes.
pub const MIN_LEASE: Duration = Duration::from_millis(300);

/// Journals in an S3 bucket (see the crate docs for the layout and the locking).
#[derive(Clone)]
pub struct S3JournalStore {
    client: Client,
    bucket: String,
    prefix: String,
    lease: Duration,
    /// The locks this store (and its clones) holds, by plan: its appends write under them.
    held: Arc<Mutex<HashMap<String, Weak<lock::Held>>>>,
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
            held: Arc::default(),
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

    /// The Region of the journal's bucket (`HeadBucket`'s `x-amz-bucket-region`, else
    /// `GetBucketLocation`, where no constraint means us-east-1): a journal in a Region that is
    /// down can neither be written nor read for a resume.
    pub async fn bucket_region(&self) -> Result<String, JournalError> {
        let store_error = |source: ActionError| JournalError::Store {
            location: format!("s3://{}/{}", self.bucket, self.prefix),
            source,
        };
        let head = self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .or_action_error("HeadBucket")
            .map_err(store_error)?;
        if let Some(region) = head.bucket_region().filter(|r| !r.is_empty()) {
            return Ok(region.to_owned());
        }
        let location = self
            .client
            .get_bucket_location()
            .bucket(&self.bucket)
            .send()
            .await
            .or_action_error("GetBucketLocation")
            .map_err(store_error)?;
        Ok(location
            .location_constraint()
            .map(|c| c.as_str().to_owned())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "us-east-1".to_owned()))
    }

    /// Uses a lease of `lease` for the lock (at least [`MIN_LEASE`]; renewed every third of
    /// it; a holder not renewed by two thirds of it stops its run).
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(MIN_LEASE);
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
}

#[async_trait]
impl JournalStore for S3JournalStore {
    async fn acquire(
        &self,
        plan: &str,
        holder: &LockHolder,
    ) -> Result<Box<dyn JournalLock>, JournalError> {
        lock::acquire(self, plan, holder).await
    }

    async fn append(&self, plan: &str, batch: Batch) -> Result<(), JournalError> {
        let key = format!(
            "{}{}/{:020}.jsonl",
            self.journal_prefix(plan),
            batch.run,
            batch.first_seq
        );
        lock::append(self, plan, key, batch).await
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
