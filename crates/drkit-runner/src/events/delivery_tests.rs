//! Sinks are fed from queues of their own: a blocked sink costs its own events, nothing else.

use std::sync::atomic::AtomicU32;
use std::time::SystemTime;

use super::*;
use crate::events::RunEventKind;
use crate::journal::{Event, Record};

fn event(seq: u64) -> RunEvent {
    RunEvent {
        run: "r".into(),
        plan: "p".into(),
        budget: None,
        kind: RunEventKind::Journal(Record {
            seq,
            at: SystemTime::UNIX_EPOCH,
            run: "r".into(),
            event: Event::StepRolledBack {
                step: format!("s{seq}"),
            },
        }),
    }
}

fn seq(event: &RunEvent) -> u64 {
    match &event.kind {
        RunEventKind::Journal(r) => r.seq,
        RunEventKind::Progress(_) => u64::MAX,
    }
}

/// Keeps the seqs it is given; with a gate, waits at each event until the gate opens.
#[derive(Debug, Default)]
struct Keeper {
    seen: Mutex<Vec<u64>>,
    gate: Option<Mutex<std::sync::mpsc::Receiver<()>>>,
    calls: AtomicU32,
}

impl RunEventSink for Keeper {
    fn on_event(&self, event: &RunEvent) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            // Returns once the sender is gone.
            let _ = gate.lock().unwrap().recv();
        }
        self.seen.lock().unwrap().push(seq(event));
    }
}

fn gated() -> (Arc<Keeper>, std::sync::mpsc::Sender<()>) {
    let (open, gate) = std::sync::mpsc::channel();
    let keeper = Keeper {
        gate: Some(Mutex::new(gate)),
        ..Keeper::default()
    };
    (Arc::new(keeper), open)
}

#[tokio::test]
async fn a_blocked_sink_loses_its_own_overflow_and_delays_no_one() {
    let (blocked, open) = gated();
    let fine = Arc::new(Keeper::default());
    let sinks: Vec<Arc<dyn RunEventSink>> = vec![
        Arc::clone(&blocked) as Arc<dyn RunEventSink>,
        Arc::clone(&fine) as Arc<dyn RunEventSink>,
    ];
    let queue = SinkQueue::with_capacity(2);
    let started = Instant::now();
    for i in 0..10 {
        queue.send(&sinks, event(i));
        // Let the other sink's thread keep up with its queue of 2.
        let deadline = Instant::now() + Duration::from_secs(5);
        while fine.seen.lock().unwrap().len() < (i + 1) as usize && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // Publishing never waited for the blocked sink.
    assert!(started.elapsed() < Duration::from_secs(5));
    let dropped = queue.dropped();
    // The blocked sink holds one event and 2 wait: 7 dropped (8 if its thread had not yet
    // taken the first when the queue filled).
    assert!(matches!(dropped[0], 7 | 8), "{dropped:?}");
    assert_eq!(dropped[1], 0);
    assert_eq!(*fine.seen.lock().unwrap(), (0..10).collect::<Vec<_>>());
    drop(open);
    queue.flush(Duration::from_secs(5)).await;
    let seen = blocked.seen.lock().unwrap().clone();
    assert_eq!(seen.len() as u64, 10 - dropped[0]);
    assert_eq!(seen[0], 0);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order: {seen:?}");
}

#[tokio::test]
async fn the_flush_at_the_end_gives_up_on_a_stuck_sink_after_its_timeout() {
    let (stuck, open) = gated();
    let sinks: Vec<Arc<dyn RunEventSink>> = vec![Arc::clone(&stuck) as Arc<dyn RunEventSink>];
    let queue = SinkQueue::default();
    queue.send(&sinks, event(0));
    queue.send(&sinks, event(1));
    let started = Instant::now();
    queue.flush(Duration::from_millis(300)).await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert!(stuck.seen.lock().unwrap().is_empty());
    // Once it wakes up, it gets what waited for it.
    drop(open);
    queue.flush(Duration::from_secs(5)).await;
    assert_eq!(*stuck.seen.lock().unwrap(), [0, 1]);
}

#[tokio::test]
async fn a_sink_that_panics_gets_the_next_events() {
    #[derive(Debug, Default)]
    struct Fussy(Mutex<Vec<u64>>);
    impl RunEventSink for Fussy {
        fn on_event(&self, event: &RunEvent) {
            assert_ne!(seq(event), 1, "a sink's own bug");
            self.0.lock().unwrap().push(seq(event));
        }
    }
    let fussy = Arc::new(Fussy::default());
    let sinks: Vec<Arc<dyn RunEventSink>> = vec![Arc::clone(&fussy) as Arc<dyn RunEventSink>];
    let queue = SinkQueue::default();
    for i in 0..3 {
        queue.send(&sinks, event(i));
    }
    queue.flush(Duration::from_secs(5)).await;
    assert_eq!(*fussy.0.lock().unwrap(), [0, 2]);
}
