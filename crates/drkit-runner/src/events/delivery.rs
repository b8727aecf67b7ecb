//! Delivery of a run's events to its [`RunEventSink`]s, off the runner's tasks.
//!
//! Each sink gets a thread of its own and a bounded queue ([`QUEUE`] events). Publishing never
//! waits: an event that does not fit in a sink's queue is dropped for that sink and counted,
//! with a warning at the first drop and a total when the run ends. So a sink that blocks (a
//! stderr pipe nobody reads, a slow terminal) delays only itself: never a commit of the
//! journal, nor a step, nor the other sinks. When the run ends, the runner waits at most
//! [`FLUSH_TIMEOUT`] for every sink to catch up, then returns whatever the sinks do.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::{RunEvent, RunEventSink};

/// How many events may wait for one sink.
pub(crate) const QUEUE: usize = 4096;

/// How long the end of a run waits for the sinks to catch up.
pub(crate) const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// One queue and one thread per sink, started with the first event.
pub(crate) struct SinkQueue {
    capacity: usize,
    lanes: OnceLock<Vec<Lane>>,
}

impl Default for SinkQueue {
    fn default() -> Self {
        Self::with_capacity(QUEUE)
    }
}

impl fmt::Debug for SinkQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkQueue")
            .field("capacity", &self.capacity)
            .field("lanes", &self.lanes.get().map_or(0, Vec::len))
            .finish()
    }
}

/// One sink's queue and counts.
struct Lane {
    /// The sink's position among the runner's sinks (sinks are named by it in logs: their
    /// `Debug` may say more than a log should).
    index: usize,
    /// `None` when its thread could not start: it gets nothing.
    tx: Option<SyncSender<RunEvent>>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    progress: Mutex<Progress>,
    changed: Condvar,
    dropped: AtomicU64,
}

#[derive(Default)]
struct Progress {
    queued: u64,
    delivered: u64,
}

impl Counts {
    fn delivered(&self) {
        self.progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .delivered += 1;
        self.changed.notify_all();
    }

    /// Waits until every queued event was delivered, or `deadline`; the events left.
    fn wait_until_delivered(&self, deadline: Instant) -> u64 {
        let mut p = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if p.delivered >= p.queued {
                return 0;
            }
            let now = Instant::now();
            if now >= deadline {
                return p.queued - p.delivered;
            }
            p = self
                .changed
                .wait_timeout(p, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl SinkQueue {
    /// Queues of `capacity` events per sink.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            lanes: OnceLock::new(),
        }
    }

    /// Hands `event` to each of `sinks` (the same sinks at every call) without waiting.
    pub(crate) fn send(&self, sinks: &[Arc<dyn RunEventSink>], event: RunEvent) {
        let lanes = self.lanes.get_or_init(|| {
            sinks
                .iter()
                .enumerate()
                .map(|(i, sink)| Lane::start(i, Arc::clone(sink), self.capacity))
                .collect()
        });
        let mut event = Some(event);
        for (i, lane) in lanes.iter().enumerate() {
            let one = if i + 1 == lanes.len() {
                event.take()
            } else {
                event.clone()
            };
            if let Some(one) = one {
                lane.send(one, self.capacity);
            }
        }
    }

    /// Waits (at most `timeout`) until each sink has been given every event queued for it;
    /// then logs what was dropped or is still waiting. Events still waiting are delivered
    /// later if the sink wakes up and the process lives on.
    pub(crate) async fn flush(&self, timeout: Duration) {
        let Some(lanes) = self.lanes.get() else {
            return;
        };
        let counts: Vec<Arc<Counts>> = lanes.iter().map(|l| Arc::clone(&l.counts)).collect();
        let deadline = Instant::now() + timeout;
        // Real time, on a blocking thread: the sinks' threads do not follow tokio's clock.
        let left = tokio::task::spawn_blocking(move || {
            counts
                .iter()
                .map(|c| c.wait_until_delivered(deadline))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (lane, left) in lanes.iter().zip(left) {
            if left > 0 {
                tracing::warn!(
                    sink = lane.index,
                    "event sink #{} has not caught up {} after the run's end: {left} event(s) \
                     not delivered yet (the journal has every record)",
                    lane.index,
                    humantime::format_duration(timeout)
                );
            }
            let dropped = lane.counts.dropped.load(Ordering::SeqCst);
            if dropped > 0 {
                tracing::warn!(
                    sink = lane.index,
                    dropped,
                    "event sink #{} was too slow: {dropped} event(s) were dropped for it (the \
                     journal has every record)",
                    lane.index
                );
            }
        }
    }

    /// How many events were dropped for each sink, in the runner's order.
    #[cfg(test)]
    pub(crate) fn dropped(&self) -> Vec<u64> {
        self.lanes.get().map_or_else(Vec::new, |lanes| {
            lanes
                .iter()
                .map(|l| l.counts.dropped.load(Ordering::SeqCst))
                .collect()
        })
    }
}

impl Lane {
    fn start(index: usize, sink: Arc<dyn RunEventSink>, capacity: usize) -> Self {
        let (tx, rx) = sync_channel::<RunEvent>(capacity);
        let counts = Arc::new(Counts::default());
        let theirs = Arc::clone(&counts);
        // The sink logs to the subscriber of whoever runs the plan.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let spawned = std::thread::Builder::new()
            .name(format!("drkit-sink-{index}"))
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    // Ends once the run's hub is gone and the queue is empty.
                    for event in rx {
                        if catch_unwind(AssertUnwindSafe(|| sink.on_event(&event))).is_err() {
                            tracing::error!(
                                sink = index,
                                "event sink #{index} panicked on an event; it is given the next"
                            );
                        }
                        theirs.delivered();
                    }
                });
            });
        let tx = match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::warn!(
                    sink = index,
                    "event sink #{index} gets no event: its thread could not start: {e}"
                );
                None
            }
        };
        Self { index, tx, counts }
    }

    fn send(&self, event: RunEvent, capacity: usize) {
        let sent = match &self.tx {
            Some(tx) => {
                self.counts
                    .progress
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .queued += 1;
                let sent = tx.try_send(event).is_ok();
                if !sent {
                    self.counts
                        .progress
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .queued -= 1;
                }
                sent
            }
            None => false,
        };
        if !sent && self.counts.dropped.fetch_add(1, Ordering::SeqCst) == 0 && self.tx.is_some() {
            tracing::warn!(
                sink = self.index,
                "event sink #{} is too slow: {capacity} events wait for it; further events are \
                 dropped for it (and counted) rather than hold the run up",
                self.index
            );
        }
    }
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
