//! The lock of a plan's journal: a lease in one S3 object, and the fence of every journal write.
//!
//! - **Acquire**: `PutObject If-None-Match: *` of `<plan>.lock`; if a lock is there and its lease
//!   has run out *by S3's clock* (its `Last-Modified` plus its lease, against the `Date` of the
//!   answer that read it), it is taken over with `If-Match: <its ETag>`, generation + 1.
//! - **Every write of the holder is conditional on its previous one** (`If-Match: <the ETag
//!   of its last write>`): renewals, and each journal batch, which is first committed *into the
//!   lock object* (field `pending`) and only then archived to its own object. A takeover
//!   changes the lock's ETag, so the old holder's next commit is refused by S3 (412): that is
//!   the fence. Each body carries a fresh `write_id`, so no two writes have the same ETag.
//! - **Lease on this machine's monotonic clock**: a write counts from when it was *sent* (S3
//!   received it later, so S3's lease ends later). Not renewed by 2/3 of the lease: the
//!   [`LockLoss`] fires and the runner stops. Past the whole lease: nothing more is sent. That
//!   is checked where the request leaves, for every attempt ([`SendBefore`], an SDK
//!   interceptor): a process stopped (SIGSTOP, a VM pause) after deciding to write, or between
//!   an SDK retry's attempts, or in a 409's pause, sends nothing when it wakes past its lease.
//!   Only a request already being transmitted when the process stopped can still go out; S3
//!   refuses it (the fence above).
//! - **Our own write, answered 412** (the first attempt landed, its answer was lost, the SDK's
//!   retry met it): the lock is read back; our `write_id` there means the write is ours.
//!   A 409 `ConditionalRequestConflict` is retried.
//! - **Release**: `DeleteObject If-Match: <our last ETag>`. Dropping the lock stops its renewer.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_sdk_s3::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::primitives::{ByteStream, DateTime, DateTimeFormat};
use drkit_aws::sdk_error;
use drkit_core::{ActionError, ErrorKind};
use drkit_runner::{Batch, JournalError, JournalLock, LockHolder, LockLoss};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::S3JournalStore;

/// Added to a lease when judging its expiry with S3's times: `Last-Modified` and `Date` are
/// whole seconds (1 s), plus 1 s for the clocks of two S3 front ends.
pub(crate) const CLOCK_SLACK: Duration = Duration::from_secs(2);

/// How many times a 409 `ConditionalRequestConflict` is retried.
const CONFLICT_RETRIES: u32 = 5;

/// The body of the lock object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct LockBody {
    pub(crate) who: String,
    pub(crate) since: String,
    /// For people reading the object: the writer's clock plus the lease. Expiry is judged with
    /// S3's clock ([`Current::expired`]), never with this.
    pub(crate) expires_at: String,
    /// The lease, in milliseconds (absent in locks of older versions: the reader's lease).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) lease_ms: Option<u64>,
    /// 1 for a lock created, the previous one's + 1 for a takeover.
    #[serde(default)]
    pub(crate) generation: u64,
    /// Unique to one acquisition.
    #[serde(default)]
    pub(crate) holder_id: String,
    /// Unique to one write: recognises our own write, and makes every ETag new.
    #[serde(default)]
    pub(crate) write_id: String,
    /// The last journal batch committed, until it is archived to its own object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pending: Option<PendingBatch>,
}

/// A journal batch committed in the lock object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingBatch {
    /// The key of its own object.
    pub(crate) key: String,
    /// Its JSON lines.
    pub(crate) lines: String,
}

impl LockBody {
    pub(crate) fn new(holder: &LockHolder, lease: Duration, generation: u64) -> Self {
        Self {
            who: holder.who.clone(),
            since: humantime::format_rfc3339_millis(holder.since).to_string(),
            expires_at: expires_at(lease),
            lease_ms: Some(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX)),
            generation,
            holder_id: nonce(),
            write_id: nonce(),
            pending: None,
        }
    }

    /// The body of our next write: the same, with a new `write_id` and expiry.
    fn next_write(&self, lease: Duration) -> Self {
        Self {
            write_id: nonce(),
            expires_at: expires_at(lease),
            ..self.clone()
        }
    }

    pub(crate) fn holder(&self) -> LockHolder {
        let mut holder = LockHolder::new(self.who.clone());
        if let Ok(since) = humantime::parse_rfc3339_weak(&self.since) {
            holder.since = since;
        }
        holder
    }

    /// Its lease (`default` for a lock of an older version, which did not record it).
    pub(crate) fn lease(&self, default: Duration) -> Duration {
        self.lease_ms.map_or(default, Duration::from_millis)
    }
}

fn expires_at(lease: Duration) -> String {
    humantime::format_rfc3339_millis(SystemTime::now() + lease).to_string()
}

/// A value no other write will have: 128 bits from the standard library's randomly keyed
/// hasher, over a counter, the time and the process id.
pub(crate) fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut first = RandomState::new().build_hasher();
    first.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    first.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    first.write_u32(std::process::id());
    let a = first.finish();
    let mut second = RandomState::new().build_hasher();
    second.write_u64(a);
    format!("{a:016x}{:016x}", second.finish())
}

/// The lock as read from S3, with S3's times.
#[derive(Clone, Debug)]
pub(crate) struct Current {
    pub(crate) body: LockBody,
    pub(crate) etag: String,
    /// S3's `Last-Modified` of the object: when its holder last wrote it, on S3's clock.
    pub(crate) last_modified: Option<SystemTime>,
    /// S3's `Date` of the answer: now, on S3's clock.
    pub(crate) date: Option<SystemTime>,
}

impl Current {
    /// Whether its lease has run out, by S3's clock: `Date >= Last-Modified + lease + 2 s`.
    /// Without those headers (S3 always sends them), by the writer's `expires_at` on this
    /// machine's clock, plus the same slack.
    pub(crate) fn expired(&self, default_lease: Duration) -> bool {
        let lease = self.body.lease(default_lease);
        match (self.last_modified, self.date) {
            (Some(written), Some(now)) => now >= written + lease + CLOCK_SLACK,
            _ => humantime::parse_rfc3339_weak(&self.body.expires_at)
                .is_ok_and(|at| at + CLOCK_SLACK <= SystemTime::now()),
        }
    }

    fn describe(&self) -> String {
        format!("{} (generation {})", self.body.who, self.body.generation)
    }
}

/// Keeps the `Date` header of an answer: S3's clock.
#[derive(Clone, Debug, Default)]
struct ServerDate(Arc<Mutex<Option<SystemTime>>>);

impl ServerDate {
    fn get(&self) -> Option<SystemTime> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Intercept for ServerDate {
    fn name(&self) -> &'static str {
        "DrkitJournalServerDate"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let date = context
            .response()
            .headers()
            .get("date")
            .and_then(|d| DateTime::from_str(d, DateTimeFormat::HttpDate).ok())
            .and_then(|d| SystemTime::try_from(d).ok());
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = date;
        Ok(())
    }
}

/// Refuses to transmit any attempt of a request (the SDK's retries included) from `.0` on:
/// the end of the lease on this machine's monotonic clock. The check is made as the request
/// leaves, not when the write was decided: a process stopped in between sends nothing when it
/// wakes past its lease. The attempt fails as a dispatch failure, which the SDK does not retry.
#[derive(Clone, Copy, Debug)]
struct SendBefore(Instant);

/// The refusal of [`SendBefore`].
const NOT_SENT: &str =
    "not sent: the journal lock's lease ran out on this machine's clock before the request left";

impl Intercept for SendBefore {
    fn name(&self) -> &'static str {
        "DrkitJournalSendBefore"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if Instant::now() >= self.0 {
            return Err(NOT_SENT.into());
        }
        Ok(())
    }
}

/// What a conditional write of the lock requires.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cond<'a> {
    /// No lock there (`If-None-Match: *`).
    Absent,
    /// The lock with this ETag (`If-Match`).
    Matches(&'a str),
}

/// What a conditional write of the lock did.
#[derive(Debug)]
pub(crate) enum Put {
    /// Written (or found written by this very write): the new ETag.
    Written(String),
    /// The condition did not hold, and the lock is not this write: the lock now (`None`:
    /// there is none).
    Refused(Option<Box<Current>>),
}

/// A 412: the condition of a conditional request did not hold.
pub(crate) fn condition_failed(err: &ActionError) -> bool {
    matches!(err.code(), Some("PreconditionFailed" | "HTTP 412"))
}

/// A 409 `ConditionalRequestConflict`: another request on the object was in progress; S3 says
/// to retry.
pub(crate) fn conflicting(err: &ActionError) -> bool {
    matches!(
        err.code(),
        Some("ConditionalRequestConflict" | "OperationAborted" | "HTTP 409")
    )
}

/// The pause before retry `n` (from 1) after a 409: 100 ms, 200 ms, 400 ms...
fn conflict_pause(n: u32) -> Duration {
    Duration::from_millis(100u64 << n.saturating_sub(1).min(6))
}

impl S3JournalStore {
    fn bound(&self) -> Duration {
        (self.lease / 4).max(Duration::from_millis(250))
    }

    /// The lock's body and ETag, with S3's times (`None`: no lock).
    pub(crate) async fn read_lock(&self, key: &str) -> Result<Option<Current>, JournalError> {
        let date = ServerDate::default();
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .customize()
            .interceptor(date.clone())
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
        let last_modified = out
            .last_modified()
            .and_then(|t| SystemTime::try_from(*t).ok());
        let bytes = out.body.collect().await.map_err(|e| {
            self.store_error(key, ActionError::new(ErrorKind::Unavailable, e.to_string()))
        })?;
        let body: LockBody = serde_json::from_slice(&bytes.into_bytes()).map_err(|e| {
            self.store_error(
                key,
                ActionError::new(ErrorKind::Other, format!("unreadable lock object: {e}")),
            )
        })?;
        Ok(Some(Current {
            body,
            etag,
            last_modified,
            date: date.get(),
        }))
    }

    /// Writes the lock's `body` under `cond`, sending nothing from `send_before` on (the end
    /// of the holder's lease; `None` while acquiring). A 409 is retried; a 412 (or, for
    /// `If-Match`, a 404) is checked against the lock: if it holds this very write (same
    /// `write_id`: our first attempt landed and the SDK sent it again), it is [`Put::Written`].
    pub(crate) async fn put_lock(
        &self,
        key: &str,
        body: &LockBody,
        cond: Cond<'_>,
        send_before: Option<Instant>,
    ) -> Result<Put, JournalError> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            self.store_error(key, ActionError::new(ErrorKind::Other, e.to_string()))
        })?;
        let mut conflicts = 0;
        loop {
            let request = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type("application/json")
                .body(ByteStream::from(bytes.clone()));
            let request = match cond {
                Cond::Absent => request.if_none_match("*"),
                Cond::Matches(etag) => request.if_match(etag),
            };
            let request = match send_before {
                Some(at) => request.customize().interceptor(SendBefore(at)).send(),
                None => request.customize().send(),
            };
            let error = match tokio::time::timeout(self.bound(), request).await {
                Err(_) => ActionError::new(
                    ErrorKind::Timeout,
                    format!(
                        "PutObject of the lock was not answered within {:?} (it may have \
                         landed; the next write finds out)",
                        self.bound()
                    ),
                )
                .with_operation("PutObject"),
                Ok(Ok(out)) => return Ok(Put::Written(out.e_tag().unwrap_or_default().to_owned())),
                Ok(Err(e)) => sdk_error("PutObject", e),
            };
            if conflicting(&error) && conflicts < CONFLICT_RETRIES {
                conflicts += 1;
                tracing::debug!(lock = %key, "409 on the lock, retry {conflicts}: {error}");
                tokio::time::sleep(conflict_pause(conflicts)).await;
                continue;
            }
            let missing = matches!(cond, Cond::Matches(_)) && error.kind() == ErrorKind::NotFound;
            if !condition_failed(&error) && !missing {
                return Err(self.store_error(key, error));
            }
            let current = self.read_lock(key).await?;
            return Ok(match current {
                Some(current) if current.body.write_id == body.write_id => {
                    tracing::info!(lock = %key, "our own lock write, answered 412 on a retry");
                    Put::Written(current.etag)
                }
                other => Put::Refused(other.map(Box::new)),
            });
        }
    }

    /// Archives a committed batch to its own object (`If-None-Match: *`). There already with
    /// the same bytes (our own first attempt, or a taker that archived our commit): done.
    pub(crate) async fn archive(
        &self,
        key: &str,
        lines: &[u8],
        generation: u64,
        send_before: Instant,
    ) -> Result<(), JournalError> {
        let mut conflicts = 0;
        loop {
            let result = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type("application/x-ndjson")
                .metadata("drkit-generation", generation.to_string())
                .if_none_match("*")
                .body(ByteStream::from(lines.to_vec()))
                .customize()
                .interceptor(SendBefore(send_before))
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(()),
                Err(e) => sdk_error("PutObject", e),
            };
            if conflicting(&error) && conflicts < CONFLICT_RETRIES {
                conflicts += 1;
                tokio::time::sleep(conflict_pause(conflicts)).await;
                continue;
            }
            if !condition_failed(&error) {
                return Err(self.store_error(key, error));
            }
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| self.store_error(key, sdk_error("GetObject", e)))?;
            let there = out.body.collect().await.map_err(|e| {
                self.store_error(key, ActionError::new(ErrorKind::Unavailable, e.to_string()))
            })?;
            return if there.into_bytes().as_ref() == lines {
                Ok(())
            } else {
                Err(self.store_error(
                    key,
                    ActionError::new(
                        ErrorKind::Conflict,
                        "other records are already stored at this position of the journal",
                    ),
                ))
            };
        }
    }

    /// The lock just written (`etag`, write sent at `sent`), renewed in the background.
    fn hold(
        &self,
        plan: &str,
        key: String,
        holder: &LockHolder,
        body: LockBody,
        etag: String,
        sent: Instant,
    ) -> S3Lock {
        let held = Arc::new(Held {
            store: self.clone(),
            plan: plan.to_owned(),
            key,
            lease: self.lease,
            loss: LockLoss::new(),
            state: tokio::sync::Mutex::new(HeldState {
                etag,
                body,
                renewed_at: sent,
                unsure: Vec::new(),
                taken: None,
                released: false,
            }),
        });
        held.loss.renew_by(held.renewal_deadline(sent));
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(plan.to_owned(), Arc::downgrade(&held));
        let renewer = tokio::spawn(renew(Arc::downgrade(&held), self.lease));
        S3Lock {
            holder: holder.clone(),
            held,
            renewer,
        }
    }

    /// The lock this store holds on `plan`, if any.
    fn holding(&self, plan: &str) -> Option<Arc<Held>> {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(plan)
            .and_then(Weak::upgrade)
    }

    fn forget(&self, plan: &str, held: &Held) {
        let mut map = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if map
            .get(plan)
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), std::ptr::from_ref(held)))
        {
            map.remove(plan);
        }
    }
}

/// Takes `plan`'s lock: creates it, or takes over one whose lease ran out by S3's clock.
pub(crate) async fn acquire(
    store: &S3JournalStore,
    plan: &str,
    holder: &LockHolder,
) -> Result<Box<dyn JournalLock>, JournalError> {
    let key = store.lock_key(plan);
    // The lock may be released between our calls: a few rounds.
    for _ in 0..3 {
        let body = LockBody::new(holder, store.lease, 1);
        let sent = Instant::now();
        let current = match store.put_lock(&key, &body, Cond::Absent, None).await? {
            Put::Written(etag) => {
                return Ok(Box::new(store.hold(plan, key, holder, body, etag, sent)));
            }
            Put::Refused(None) => continue,
            Put::Refused(Some(current)) => *current,
        };
        if !current.expired(store.lease) {
            return Err(JournalError::Locked {
                plan: plan.to_owned(),
                holder: current.body.holder(),
            });
        }
        tracing::warn!(
            plan,
            previous = %current.describe(),
            "taking over a journal lock whose lease ran out (S3's clock: last written {}, now {})",
            current.last_modified.map(humantime::format_rfc3339_seconds).map_or_else(|| "?".to_owned(), |t| t.to_string()),
            current.date.map(humantime::format_rfc3339_seconds).map_or_else(|| "?".to_owned(), |t| t.to_string()),
        );
        let mut body = LockBody::new(holder, store.lease, current.body.generation + 1);
        // The batch the previous holder committed last: ours to archive now.
        body.pending = current.body.pending.clone();
        let sent = Instant::now();
        match store
            .put_lock(&key, &body, Cond::Matches(&current.etag), None)
            .await?
        {
            Put::Written(etag) => {
                let pending = body.pending.clone();
                let generation = body.generation;
                let lock = store.hold(plan, key, holder, body, etag, sent);
                if let Some(p) = pending {
                    let send_before = sent + store.lease;
                    match store
                        .archive(&p.key, p.lines.as_bytes(), generation, send_before)
                        .await
                    {
                        Ok(()) => {}
                        // Other records at its place: its archive had failed, so its writer
                        // was never told it was written.
                        Err(JournalError::Store { source, .. })
                            if source.kind() == ErrorKind::Conflict =>
                        {
                            tracing::warn!(
                                plan,
                                batch = %p.key,
                                "the previous holder's last commit was not archived: other \
                                 records are at its place; left out"
                            );
                        }
                        Err(e) => {
                            let _ = JournalLock::release(Box::new(lock)).await;
                            return Err(e);
                        }
                    }
                }
                return Ok(Box::new(lock));
            }
            Put::Refused(None) => {}
            Put::Refused(Some(now)) => {
                return Err(JournalError::Locked {
                    plan: plan.to_owned(),
                    holder: now.body.holder(),
                });
            }
        }
    }
    Err(JournalError::Locked {
        plan: plan.to_owned(),
        holder: LockHolder::new("another runner (the lock changed while it was being taken)"),
    })
}

/// Appends `batch` under the lock this store holds on `plan`: committed into the lock object
/// (conditional on our last write: the fence), then archived to `key`.
pub(crate) async fn append(
    store: &S3JournalStore,
    plan: &str,
    key: String,
    batch: Batch,
) -> Result<(), JournalError> {
    let Some(held) = store.holding(plan) else {
        return Err(store.store_error(
            &key,
            ActionError::new(
                ErrorKind::InvalidInput,
                format!(
                    "plan `{plan}`'s journal is written only under its lock, and this store \
                     does not hold it (acquire it first)"
                ),
            ),
        ));
    };
    let lines = String::from_utf8(batch.lines).map_err(|e| {
        store.store_error(
            &key,
            ActionError::new(ErrorKind::InvalidInput, format!("records not UTF-8: {e}")),
        )
    })?;
    held.append(key, lines).await
}

/// A lock held: its state, shared by the lock, its renewer and the store's appends.
pub(crate) struct Held {
    store: S3JournalStore,
    plan: String,
    key: String,
    lease: Duration,
    loss: LockLoss,
    /// Held across each write of the lock: one write at a time, each on the previous one.
    state: tokio::sync::Mutex<HeldState>,
}

struct HeldState {
    /// The ETag of our last write.
    etag: String,
    /// The body of our last write.
    body: LockBody,
    /// When our last successful write was sent (this machine's monotonic clock).
    renewed_at: Instant,
    /// Writes whose outcome is unknown (not answered): if the lock shows one, it is ours.
    unsure: Vec<String>,
    /// Another holder took the lock over: why we know.
    taken: Option<String>,
    released: bool,
}

impl fmt::Debug for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Held")
            .field("key", &self.key)
            .field("lease", &self.lease)
            .field("loss", &self.loss)
            .finish_non_exhaustive()
    }
}

impl Held {
    /// Not renewed by then (2/3 of the lease after the last write was sent), the lock is lost:
    /// the run stops with a third of the lease left.
    fn renewal_deadline(&self, sent: Instant) -> Instant {
        sent + self.lease - self.lease / 3
    }

    fn lost_error(&self, why: &str) -> JournalError {
        self.store.store_error(
            &self.key,
            ActionError::new(
                ErrorKind::Conflict,
                format!(
                    "lost the journal lock: {why}; nothing more is written (a resume continues \
                     the run)"
                ),
            ),
        )
    }

    /// The end of our lease on this machine's clock: a lease from when our last successful
    /// write was sent. Nothing is sent from then on.
    fn lease_end(&self, state: &HeldState) -> Instant {
        state.renewed_at + self.lease
    }

    /// Whether we may still write: not released, not taken over, lease not over.
    fn writable(&self, state: &HeldState) -> Result<(), JournalError> {
        if state.released {
            return Err(self.lost_error("it was released"));
        }
        if let Some(why) = &state.taken {
            return Err(self.lost_error(why));
        }
        if Instant::now() >= self.lease_end(state) {
            let why = format!(
                "its lease ({:?}) ran out on this machine's clock since its last renewal",
                self.lease
            );
            self.loss.lose(why.clone());
            return Err(self.lost_error(&why));
        }
        Ok(())
    }

    /// Writes `body` on our last write (`If-Match`).
    async fn write(&self, state: &mut HeldState, body: LockBody) -> Result<(), JournalError> {
        let sent = Instant::now();
        let mut etag = state.etag.clone();
        // Twice at most: once more after finding that an unanswered write of ours had landed.
        for _ in 0..2 {
            match self
                .store
                .put_lock(
                    &self.key,
                    &body,
                    Cond::Matches(&etag),
                    Some(self.lease_end(state)),
                )
                .await
            {
                Ok(Put::Written(new)) => {
                    state.etag = new;
                    state.body = body;
                    state.renewed_at = sent;
                    state.unsure.clear();
                    self.loss.renew_by(self.renewal_deadline(sent));
                    return Ok(());
                }
                Ok(Put::Refused(Some(current)))
                    if state.unsure.contains(&current.body.write_id) =>
                {
                    tracing::info!(lock = %self.key, "an unanswered write of ours had landed");
                    state.unsure.clear();
                    state.etag.clone_from(&current.etag);
                    etag = current.etag;
                }
                Ok(Put::Refused(current)) => {
                    let why = match current {
                        Some(current) => format!("it was taken over by {}", current.describe()),
                        None => "its object was deleted by someone else".to_owned(),
                    };
                    tracing::error!(lock = %self.key, "lost the journal lock: {why}");
                    state.taken = Some(why.clone());
                    self.loss.lose(why.clone());
                    return Err(self.lost_error(&why));
                }
                Err(e) => {
                    // Past the lease (the write was not sent, or its outcome no longer
                    // matters): the lock is lost, and said so.
                    self.writable(state)?;
                    if state.unsure.len() >= 8 {
                        state.unsure.remove(0);
                    }
                    state.unsure.push(body.write_id.clone());
                    self.loss.renewal_failed(e.to_string());
                    return Err(e);
                }
            }
        }
        Err(self.store.store_error(
            &self.key,
            ActionError::new(
                ErrorKind::Unavailable,
                "the lock kept changing under our writes",
            ),
        ))
    }

    async fn append(&self, key: String, lines: String) -> Result<(), JournalError> {
        let mut state = self.state.lock().await;
        self.writable(&state)?;
        // 1. The commit: into the lock object, on our last write. A taker changed its ETag, so
        //    a zombie's commit is refused here by S3.
        let mut body = state.body.next_write(self.lease);
        body.pending = Some(PendingBatch {
            key: key.clone(),
            lines,
        });
        let generation = body.generation;
        self.write(&mut state, body).await?;
        // 2. The archive. A process stopped between the two writes sends nothing once its lease
        //    is over: the taker archives the batch (it is in the lock it takes over).
        self.writable(&state)?;
        let lines = state
            .body
            .pending
            .as_ref()
            .map(|p| p.lines.clone())
            .unwrap_or_default();
        self.store
            .archive(&key, lines.as_bytes(), generation, self.lease_end(&state))
            .await?;
        state.body.pending = None;
        Ok(())
    }

    async fn release(&self) -> Result<(), JournalError> {
        let mut state = self.state.lock().await;
        self.store.forget(&self.plan, self);
        if state.released {
            return Ok(());
        }
        state.released = true;
        if let Some(why) = &state.taken {
            tracing::warn!(lock = %self.key, "the journal lock is not ours to release: {why}");
            return Ok(());
        }
        if Instant::now() >= self.lease_end(&state) {
            tracing::warn!(
                lock = %self.key,
                "the journal lock's lease ran out before its release: left for the next holder \
                 to take over (nothing is sent after a lease)"
            );
            return Ok(());
        }
        let mut etag = state.etag.clone();
        let mut conflicts = 0;
        let mut adopted = false;
        loop {
            let result = self
                .store
                .client
                .delete_object()
                .bucket(&self.store.bucket)
                .key(&self.key)
                .if_match(&etag)
                .customize()
                .interceptor(SendBefore(self.lease_end(&state)))
                .send()
                .await;
            let error = match result {
                Ok(_) => return Ok(()),
                Err(e) => sdk_error("DeleteObject", e),
            };
            if conflicting(&error) && conflicts < CONFLICT_RETRIES {
                conflicts += 1;
                tokio::time::sleep(conflict_pause(conflicts)).await;
                continue;
            }
            // Gone: our own delete, answered 404 when the SDK sent it again.
            if error.kind() == ErrorKind::NotFound {
                return Ok(());
            }
            if !condition_failed(&error) {
                return Err(self.store.store_error(&self.key, error));
            }
            match self.store.read_lock(&self.key).await? {
                None => return Ok(()),
                Some(current)
                    if !adopted
                        && (current.body.write_id == state.body.write_id
                            || state.unsure.contains(&current.body.write_id)) =>
                {
                    adopted = true;
                    etag = current.etag;
                }
                Some(current) => {
                    tracing::warn!(
                        lock = %self.key,
                        "the journal lock was no longer ours at release: held by {}",
                        current.describe()
                    );
                    return Ok(());
                }
            }
        }
    }
}

/// Renews the lock every third of its lease (a journal commit renews it too), sooner after a
/// failure; stops when the lock is lost, released or dropped.
async fn renew(held: Weak<Held>, lease: Duration) {
    let every = lease / 3;
    let retry = (lease / 12).max(Duration::from_millis(50));
    let mut wait = every;
    loop {
        tokio::time::sleep(wait).await;
        let Some(held) = held.upgrade() else { return };
        // Lost (its renewal deadline passed, or taken over): never renewed again.
        if held.loss.is_lost() {
            return;
        }
        let mut state = held.state.lock().await;
        if state.released || state.taken.is_some() || held.loss.is_lost() {
            return;
        }
        let since = state.renewed_at.elapsed();
        if wait != retry && since < every - every / 10 {
            // A commit renewed it meanwhile.
            wait = every - since;
            continue;
        }
        let body = state.body.next_write(held.lease);
        wait = match held.write(&mut state, body).await {
            Ok(()) => every,
            Err(_) if state.taken.is_some() => return,
            Err(e) => {
                tracing::warn!(lock = %held.key, "renewing the journal lock failed: {e}");
                retry
            }
        };
    }
}

/// A held lock: renewed in the background until released or dropped.
pub(crate) struct S3Lock {
    holder: LockHolder,
    held: Arc<Held>,
    renewer: JoinHandle<()>,
}

impl fmt::Debug for S3Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Lock")
            .field("holder", &self.holder)
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

impl Drop for S3Lock {
    fn drop(&mut self) {
        // No task renews a lock nobody holds: the lease runs out, and the store writes nothing
        // more under it.
        self.renewer.abort();
        self.held.store.forget(&self.held.plan, &self.held);
    }
}

#[async_trait]
impl JournalLock for S3Lock {
    fn holder(&self) -> &LockHolder {
        &self.holder
    }

    async fn release(self: Box<Self>) -> Result<(), JournalError> {
        self.renewer.abort();
        self.held.release().await
    }

    fn loss(&self) -> Option<LockLoss> {
        Some(self.held.loss.clone())
    }
}

#[cfg(test)]
#[path = "lock_tests.rs"]
mod tests;
