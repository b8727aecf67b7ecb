//! The journal survives what a disaster does to it: a torn last record, a newer drkit's lines,
//! a record that cannot be serialised, event sinks that stop reading; and it does not grow
//! for ever.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use drkit_core::ErrorKind;
use drkit_runner::{
    Event, FileJournalStore, JournalError, JournalStore, Outcome, Plan, RunError, RunEvent,
    RunEventSink, Runner, Step,
};

use crate::common::{Fake, Log, action, failed_report};

/// `a` then `b`; `b` fails the first time it is executed.
fn two_steps(log: &Log) -> Plan {
    let a = Fake::new("a", log).output("writer", "db-2").arc();
    let b = Fake::new("b", log).fails(1, ErrorKind::Conflict).arc();
    Plan::new(
        "torn",
        vec![
            Step::new(action(&a)),
            Step::new(action(&b)).depends_on(["a"]),
        ],
    )
    .unwrap()
}

/// Where each line of `bytes` starts.
fn line_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(
        bytes
            .iter()
            .enumerate()
            .filter(|&(i, &c)| c == b'\n' && i + 1 < bytes.len())
            .map(|(i, _)| i + 1),
    );
    starts
}

/// For each cut inside the last record of `journal`: a copy cut there, resumed; the resume
/// succeeds and the file is whole lines, the records before the cut kept byte for byte.
async fn resume_after_every_cut(plan: &Plan, journal: &[u8]) -> usize {
    let last = *line_starts(journal).last().unwrap();
    for cut in last..journal.len() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileJournalStore::new(dir.path()).unwrap();
        let path = store.journal_path("torn");
        std::fs::write(&path, &journal[..cut]).unwrap();
        let report = Runner::new()
            .with_journal(store)
            .resume(plan)
            .await
            .unwrap_or_else(|e| panic!("cut at {cut}/{}: {e}", journal.len()));
        assert_eq!(report.outcome, Some(Outcome::Succeeded), "cut at {cut}");
        assert_eq!(report.segments, 2, "cut at {cut}");
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..last], &journal[..last], "cut at {cut}");
        assert!(bytes.ends_with(b"\n"), "cut at {cut}");
        // Every line is one whole record (no line glued onto a fragment), counting on.
        let records = FileJournalStore::new(dir.path())
            .unwrap()
            .load("torn")
            .await
            .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(records.len(), bytes.split(|&c| c == b'\n').count() - 1);
        assert!(
            records.windows(2).all(|w| w[0].seq + 1 == w[1].seq),
            "cut at {cut}"
        );
        assert!(matches!(
            records.last().unwrap().event,
            Event::RunFinished {
                outcome: Outcome::Succeeded
            }
        ));
    }
    journal.len() - last
}

#[tokio::test(start_paused = true)]
async fn a_journal_torn_at_every_byte_of_its_last_record_resumes_into_whole_lines() {
    let log = Log::default();
    let plan = two_steps(&log);
    let dir = tempfile::tempdir().unwrap();
    let store = FileJournalStore::new(dir.path()).unwrap();
    let path = store.journal_path("torn");
    failed_report(Runner::new().with_journal(store).run(&plan).await);
    let journal = std::fs::read(&path).unwrap();
    // The run as it ended: its last record is `run_finished`.
    let cuts = resume_after_every_cut(&plan, &journal).await;
    // Killed earlier, in the middle of writing `a`'s end (the record with outputs): the
    // journal up to that record, cut inside it.
    let starts = line_starts(&journal);
    let a_end = String::from_utf8_lossy(&journal)
        .lines()
        .position(|l| l.contains(r#""event":"step_succeeded","step":"a""#))
        .unwrap();
    let upto = starts[a_end + 1];
    let cuts = cuts + resume_after_every_cut(&plan, &journal[..upto]).await;
    assert!(cuts > 150, "{cuts} cuts");
}

#[tokio::test(start_paused = true)]
async fn a_newer_format_version_or_an_unknown_event_is_refused_naming_the_file_and_line() {
    let log = Log::default();
    let plan = two_steps(&log);
    let dir = tempfile::tempdir().unwrap();
    let store = FileJournalStore::new(dir.path()).unwrap();
    let path = store.journal_path("torn");
    failed_report(Runner::new().with_journal(store).run(&plan).await);
    let journal = std::fs::read_to_string(&path).unwrap();
    let lines = journal.lines().count();
    let last = journal.lines().last().unwrap().to_owned();
    let v2 = last.replacen("\"v\":1,", "\"v\":2,", 1);
    let unknown = last.replace("\"event\":\"run_finished\"", "\"event\":\"run_teleported\"");
    assert_ne!(v2, last);
    assert_ne!(unknown, last);
    for (line, expected) in [
        (
            &v2,
            "journal format version 2 is not supported (this drkit reads version 1)",
        ),
        (&unknown, "unknown event `run_teleported`"),
    ] {
        // The line as the last one (a whole line is not a torn tail), and in the middle.
        for (text, at) in [
            (journal.replace(&last, line), lines),
            (format!("{}{last}\n", journal.replace(&last, line)), lines),
        ] {
            std::fs::write(&path, &text).unwrap();
            let err = FileJournalStore::new(dir.path())
                .unwrap()
                .load("torn")
                .await
                .unwrap_err();
            match (&err, line == &v2) {
                (JournalError::UnsupportedVersion { version, line, .. }, true) => {
                    assert_eq!((version.as_str(), *line), ("2", at));
                }
                (JournalError::UnknownEvent { event, line, .. }, false) => {
                    assert_eq!((event.as_str(), *line), ("run_teleported", at));
                }
                _ => panic!("{err:?}"),
            }
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("journal {}, line {at}: ", path.display())),
                "{message}"
            );
            assert!(message.contains(expected), "{message}");
            // A resume stops there, with the same error, and writes nothing.
            let err = Runner::new()
                .with_journal(FileJournalStore::new(dir.path()).unwrap())
                .resume(&plan)
                .await
                .unwrap_err();
            assert!(matches!(err, RunError::Journal(_)), "{err}");
            assert!(err.to_string().contains(expected), "{err}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_record_that_cannot_be_serialised_is_not_acknowledged() {
    let log = Log::default();
    let a = Fake::new("a", &log).arc();
    let plan = Plan::new("p", vec![Step::new(action(&a))]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = FileJournalStore::new(dir.path()).unwrap();
    let path = store.journal_path("p");
    // RFC 3339 ends with year 9999: an incident "started" in year 10000 cannot be journalled.
    let year_10000 = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_800 + 3600);
    let err = Runner::new()
        .with_journal(store)
        .with_incident_start(year_10000)
        .run(&plan)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RunError::Journal(JournalError::Unserialisable { event, .. }) if event == "run_started"),
        "{err}"
    );
    assert_eq!(
        log.count("execute:a"),
        0,
        "the run went on without its start"
    );
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(written, "");
}

/// A sink that stops at its first event until the test lets it go, like a stderr pipe nobody
/// reads.
#[derive(Debug)]
struct Stuck {
    gate: Mutex<std::sync::mpsc::Receiver<()>>,
    calls: AtomicU32,
}

impl RunEventSink for Stuck {
    fn on_event(&self, _: &RunEvent) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        // Returns once the sender is dropped.
        let _ = self.gate.lock().unwrap().recv();
    }
}

// A multi-threaded runtime: without it, a blocked sink would block the test itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_blocks_holds_up_neither_the_commits_nor_the_end_of_the_run() {
    let log = Log::default();
    let steps = ["a", "b", "c"].map(|id| Fake::new(id, &log).latency_ms(5).arc());
    let plan = Plan::new(
        "p",
        vec![
            Step::new(action(&steps[0])),
            Step::new(action(&steps[1])).depends_on(["a"]),
            Step::new(action(&steps[2])).depends_on(["b"]),
        ],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = FileJournalStore::new(dir.path()).unwrap();
    let path = store.journal_path("p");
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let stuck = Arc::new(Stuck {
        gate: Mutex::new(gate),
        calls: AtomicU32::new(0),
    });
    let runner = Runner::new()
        .with_journal(store)
        .with_sink(Arc::clone(&stuck) as Arc<dyn RunEventSink>);
    let started = Instant::now();
    let run = tokio::spawn(async move { runner.run(&plan).await });
    // Every record is committed while the sink is stuck on the first one.
    let deadline = Instant::now() + Duration::from_secs(20);
    let finished = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains("\"event\":\"run_finished\"") {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "the journal stopped while the sink was blocked: {text}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(stuck.calls.load(Ordering::SeqCst), 1);
    assert_eq!(log.count("end:"), 3);
    // The run returns once it gave the sink 5 s to catch up, the sink still stuck.
    let report = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run's end waited for the stuck sink")
        .unwrap()
        .unwrap();
    assert!(report.is_success());
    let waited = finished.elapsed();
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert_eq!(stuck.calls.load(Ordering::SeqCst), 1);
    assert!(started.elapsed() >= Duration::from_secs(5));
    drop(release);
}

fn runs_in(path: &Path) -> Vec<(String, bool)> {
    let mut runs = Vec::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["event"] == "run_started" {
            runs.push((
                v["run"].as_str().unwrap().to_owned(),
                v["resumed"].as_bool().unwrap(),
            ));
        }
    }
    runs
}

#[tokio::test(start_paused = true)]
async fn a_new_run_archives_the_previous_journal_and_the_newest_three_archives_are_kept() {
    let log = Log::default();
    let a = Fake::new("a", &log).arc();
    let plan = Plan::new("p", vec![Step::new(action(&a))]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileJournalStore::new(dir.path()).unwrap().keep_archived(3));
    let path = store.journal_path("p");
    let runner = Runner::new().with_shared_journal(Arc::clone(&store) as Arc<dyn JournalStore>);
    let mut runs = Vec::new();
    for _ in 0..5 {
        runs.push(runner.run(&plan).await.unwrap().run);
        // Run ids are in milliseconds.
        std::thread::sleep(Duration::from_millis(2));
    }
    // The current file: the last run only.
    assert_eq!(runs_in(&path), [(runs[4].clone(), false)]);
    // The archive: runs 2, 3 and 4, one per file, oldest first; run 1's is gone.
    let archived = store.archived("p").unwrap();
    let archived_runs: Vec<Vec<(String, bool)>> = archived.iter().map(|p| runs_in(p)).collect();
    assert_eq!(
        archived_runs,
        [1, 2, 3].map(|i| vec![(runs[i].clone(), false)])
    );
    // An archive reads as a journal of its own (what `drkit report <archive>` does).
    let name = archived[0].file_name().unwrap().to_str().unwrap();
    let archived_plan = name.strip_suffix(".journal.jsonl").unwrap();
    let records = FileJournalStore::new(store.archive_dir())
        .unwrap()
        .load(archived_plan)
        .await
        .unwrap();
    assert!(records.iter().all(|r| r.run == runs[1]));
    // A resume continues the current file: nothing is archived.
    let resumed = runner.resume(&plan).await.unwrap();
    assert_eq!(resumed.run, runs[4]);
    assert_eq!(
        runs_in(&path),
        [(runs[4].clone(), false), (runs[4].clone(), true)]
    );
    assert_eq!(store.archived("p").unwrap(), archived);
}
