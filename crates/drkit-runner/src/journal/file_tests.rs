//! The file store: torn-tail repair (bytes dropped, the warning), archives and their names.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use super::*;

const GOOD: &str = r#"{"v":1,"seq":0,"at":"1970-01-01T00:00:00Z","run":"r","event":"step_rolled_back","step":"a"}"#;

/// Keeps every event logged while it is the default subscriber: level, message and fields.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

impl Capture {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(event.metadata().level().to_string());
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn line(seq: u64) -> String {
    GOOD.replace("\"seq\":0", &format!("\"seq\":{seq}")) + "\n"
}

#[test]
fn a_torn_tail_is_cut_off_synced_and_the_bytes_dropped_logged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.journal.jsonl");
    let whole = format!("{}{}", line(0), line(1));
    let torn = &line(2)[..17];
    std::fs::write(&path, format!("{whole}{torn}")).unwrap();
    let capture = Capture::default();
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .open(&path)
        .unwrap();
    let dropped = tracing::subscriber::with_default(capture.clone(), || {
        repair_tail(&mut file, &path).unwrap()
    });
    assert_eq!(dropped, 17);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), whole);
    let logged = capture.lines();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(logged[0].starts_with("WARN"), "{logged:?}");
    assert!(logged[0].contains("dropped_bytes=17"), "{logged:?}");
    assert!(
        logged[0].contains("dropped 17 byte(s) before appending"),
        "{logged:?}"
    );
    assert!(
        logged[0].contains(&format!("kept_bytes={}", whole.len())),
        "{logged:?}"
    );
    // Nothing more to repair, nothing more logged.
    let again = tracing::subscriber::with_default(capture.clone(), || {
        repair_tail(&mut file, &path).unwrap()
    });
    assert_eq!(again, 0);
    assert_eq!(capture.lines().len(), 1);
}

#[test]
fn a_whole_journal_or_one_whose_bad_line_is_not_the_last_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.journal.jsonl");
    for text in [
        format!("{}{}", line(0), line(1)),
        // A bad line before the last one is for `load` to report, not for the repair to hide.
        format!("{}not json\n{}", line(0), line(2)),
    ] {
        std::fs::write(&path, &text).unwrap();
        let capture = Capture::default();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .unwrap();
        let dropped = tracing::subscriber::with_default(capture.clone(), || {
            repair_tail(&mut file, &path).unwrap()
        });
        assert_eq!(dropped, 0);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        assert!(capture.lines().is_empty());
    }
}

#[tokio::test]
async fn the_next_append_after_a_torn_tail_starts_on_a_line_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileJournalStore::new(dir.path()).unwrap();
    let path = store.journal_path("p");
    // Every cut inside the last record, the one right before its newline included.
    let last = line(1);
    for cut in 0..last.len() {
        std::fs::write(&path, format!("{}{}", line(0), &last[..cut])).unwrap();
        let capture = Capture::default();
        let _guard = tracing::subscriber::set_default(capture.clone());
        // A new lock: the store opens the file afresh for this holder.
        let lock = store.acquire("p", &LockHolder::new("t")).await.unwrap();
        store
            .append("p", Batch::new("r", 1, 1, line(1).into_bytes()))
            .await
            .unwrap();
        lock.release().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}{}", line(0), line(1)), "cut at {cut}");
        let warned = capture
            .lines()
            .iter()
            .any(|l| l.starts_with("WARN") && l.contains(&format!("dropped_bytes={cut}")));
        assert_eq!(warned, cut > 0, "cut at {cut}: {:?}", capture.lines());
    }
}

fn batch(run: &str, first_seq: u64) -> Batch {
    let text = GOOD
        .replace("\"seq\":0", &format!("\"seq\":{first_seq}"))
        .replace("\"run\":\"r\"", &format!("\"run\":\"{run}\""));
    Batch::new(run, first_seq, 1, format!("{text}\n").into_bytes())
}

fn runs_in(path: &Path) -> Vec<String> {
    let text = std::fs::read(path).unwrap();
    let mut runs: Vec<String> = super::super::parse_bytes(&text, "t")
        .unwrap()
        .into_iter()
        .map(|r| r.run)
        .collect();
    runs.dedup();
    runs
}

#[tokio::test]
async fn a_new_run_archives_the_previous_journal_and_the_oldest_archives_go() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileJournalStore::new(dir.path()).unwrap().keep_archived(2);
    let path = store.journal_path("p");
    // Another plan's archive, whose name starts like this plan's, is not touched.
    std::fs::create_dir_all(store.archive_dir()).unwrap();
    let other = store
        .archive_dir()
        .join("p.x.20260101T000000000Z.journal.jsonl");
    std::fs::write(&other, line(0)).unwrap();
    store.append("p", batch("r1", 0)).await.unwrap();
    store.append("p", batch("r1", 1)).await.unwrap();
    assert!(store.archived("p").unwrap().is_empty());
    for run in ["r2", "r3", "r4"] {
        store.append("p", batch(run, 0)).await.unwrap();
    }
    // The current file holds the last run only; two archives are kept, oldest first.
    assert_eq!(runs_in(&path), ["r4"]);
    let archived = store.archived("p").unwrap();
    let runs: Vec<Vec<String>> = archived.iter().map(|p| runs_in(p)).collect();
    assert_eq!(runs, [["r2"], ["r3"]]);
    assert!(other.exists());
    // A resumed run's batches (first_seq > 0) go on in the current file.
    store.append("p", batch("r4", 1)).await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    assert_eq!(store.archived("p").unwrap(), archived);
}

#[tokio::test]
async fn with_no_archive_kept_a_new_run_deletes_the_previous_journal() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileJournalStore::new(dir.path()).unwrap().keep_archived(0);
    let path = store.journal_path("p");
    store.append("p", batch("r1", 0)).await.unwrap();
    store.append("p", batch("r2", 0)).await.unwrap();
    assert_eq!(runs_in(&path), ["r2"]);
    assert!(!store.archive_dir().exists());
}

#[test]
fn archive_names_are_utc_stamps_that_sort_in_time_order() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_412_500_123);
    let s = stamp(at);
    assert_eq!(s, "20251129T103500123Z");
    assert_eq!(stamp_time(&s), Some(at));
    for bad in [
        "",
        "20251129T103500123",
        "20251129X103500123Z",
        "2025112T1035001234Z",
    ] {
        assert_eq!(stamp_time(bad), None, "{bad}");
    }
    // A clock that went back still names the new archive after the newest one.
    let dir = tempfile::tempdir().unwrap();
    let future = dir.path().join("p.99990101T000000000Z.journal.jsonl");
    std::fs::write(&future, "").unwrap();
    let next = archive_name(dir.path(), "p", std::slice::from_ref(&future));
    assert_eq!(
        next.file_name().unwrap(),
        "p.99990101T000000001Z.journal.jsonl"
    );
    assert!(next > future);
}
