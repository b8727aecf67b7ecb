//! The journal's line format: version, unknown events, torn tails; the committer's refusal
//! of a record it cannot serialise.

use std::collections::HashMap;

use tokio::sync::broadcast;

use super::*;
use crate::rto::RtoBudgets;

const GOOD: &str = r#"{"v":1,"seq":0,"at":"1970-01-01T00:00:00Z","run":"r","event":"step_rolled_back","step":"a"}"#;
const NO_VERSION: &str =
    r#"{"seq":1,"at":"1970-01-01T00:00:00Z","run":"r","event":"step_rolled_back","step":"b"}"#;

#[test]
fn records_are_written_with_the_format_version_first_and_read_without_it_as_version_1() {
    let record = Record {
        seq: 0,
        at: SystemTime::UNIX_EPOCH,
        run: "r".into(),
        event: Event::StepRolledBack { step: "a".into() },
    };
    assert_eq!(
        serde_json::to_string(&record).unwrap(),
        r#"{"v":1,"seq":0,"at":"1970-01-01T00:00:00.000000Z","run":"r","event":"step_rolled_back","step":"a"}"#
    );
    let text = format!("{GOOD}\n{NO_VERSION}\n");
    let records = parse_lines(text.as_bytes(), "j").unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0], record);
    assert_eq!(records[1].event, Event::StepRolledBack { step: "b".into() });
}

#[test]
fn another_format_version_is_refused_naming_the_version_the_file_and_the_line() {
    let v2 = r#"{"v":2,"seq":1,"at":"1970-01-01T00:00:00Z","run":"r","event":"step_rolled_back","step":"b"}"#;
    // In the middle, and as the last line (a whole line of a newer drkit is not a torn tail).
    for text in [format!("{GOOD}\n{v2}\n{GOOD}\n"), format!("{GOOD}\n{v2}\n")] {
        let err = parse_lines(text.as_bytes(), "/j/p.journal.jsonl").unwrap_err();
        assert!(
            matches!(&err, JournalError::UnsupportedVersion { path, line: 2, version }
                if path == "/j/p.journal.jsonl" && version == "2"),
            "{err:?}"
        );
        let message = err.to_string();
        assert_eq!(
            message,
            "journal /j/p.journal.jsonl, line 2: journal format version 2 is not supported \
             (this drkit reads version 1); use the drkit version that wrote it"
        );
    }
    // Even with fields this version would not understand.
    let text = format!("{GOOD}\n{{\"v\":\"2.0\",\"records\":[]}}\n");
    let err = parse_lines(text.as_bytes(), "j").unwrap_err();
    assert!(
        matches!(&err, JournalError::UnsupportedVersion { version, line: 2, .. } if version == "\"2.0\""),
        "{err:?}"
    );
}

#[test]
fn an_unknown_event_is_refused_naming_the_event_the_file_and_the_line() {
    let unknown = r#"{"v":1,"seq":1,"at":"1970-01-01T00:00:00Z","run":"r","event":"step_teleported","step":"b"}"#;
    let unknown_no_v =
        r#"{"seq":1,"at":"1970-01-01T00:00:00Z","run":"r","event":"step_teleported"}"#;
    for line in [unknown, unknown_no_v] {
        let text = format!("{GOOD}\n{line}\n");
        let err = parse_lines(text.as_bytes(), "/j/p.journal.jsonl").unwrap_err();
        assert!(
            matches!(&err, JournalError::UnknownEvent { path, line: 2, event }
                if path == "/j/p.journal.jsonl" && event == "step_teleported"),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("journal /j/p.journal.jsonl, line 2: unknown event `step_teleported`"),
            "{err}"
        );
    }
}

#[test]
fn a_known_event_with_missing_fields_or_a_line_that_is_not_a_record_is_corrupt() {
    let missing =
        r#"{"v":1,"seq":1,"at":"1970-01-01T00:00:00Z","run":"r","event":"step_succeeded"}"#;
    for line in [missing, "[1,2]", "not json"] {
        let text = format!("{GOOD}\n{line}\n{GOOD}\n");
        let err = parse_lines(text.as_bytes(), "j").unwrap_err();
        assert!(
            matches!(err, JournalError::Corrupt { line: 2, .. }),
            "{line}: {err:?}"
        );
    }
}

#[test]
fn every_event_name_is_known_and_others_are_not() {
    for name in [
        "run_started",
        "step_started",
        "step_ready",
        "step_intent",
        "step_retried",
        "approval_requested",
        "approval_decided",
        "step_succeeded",
        "step_skipped",
        "step_failed",
        "step_interrupted",
        "step_not_run",
        "rollback_started",
        "step_rolled_back",
        "step_rollback_failed",
        "run_interrupted",
        "run_finished",
    ] {
        assert!(known_event(name), "{name}");
    }
    for name in ["", "step_teleported", "RunStarted", "run_started "] {
        assert!(!known_event(name), "{name:?}");
    }
}

#[test]
fn the_torn_tail_is_what_follows_the_last_newline_or_a_last_line_that_is_not_json() {
    let good = format!("{GOOD}\n");
    let two = format!("{GOOD}\n{GOOD}\n");
    let cases: Vec<(String, usize)> = vec![
        (String::new(), 0),
        (good.clone(), good.len()),
        (two.clone(), two.len()),
        // Cut inside the last record, or right before its newline.
        (format!("{good}{}", &GOOD[..17]), good.len()),
        (format!("{good}{GOOD}"), good.len()),
        // Only a fragment.
        (GOOD[..5].to_owned(), 0),
        // A whole last line the disk got as zeros.
        (format!("{good}\0\0\0\0\n"), good.len()),
        (format!("{good}garbage\n\n\n"), good.len()),
        // Blank lines are not torn.
        (format!("{good}\n\n"), good.len() + 2),
        // A last line of a newer format is JSON: it stays (and load refuses it).
        (
            format!("{good}{{\"v\":2}}\n"),
            good.len() + "{\"v\":2}\n".len(),
        ),
    ];
    for (text, whole) in cases {
        assert_eq!(complete_len(text.as_bytes()), whole, "{text:?}");
    }
}

#[test]
fn a_torn_last_line_is_skipped_even_mid_character() {
    let utf8 = r#"{"v":1,"seq":1,"at":"1970-01-01T00:00:00Z","run":"r","event":"step_failed","step":"b","error":"délai","kind":"conflict","duration":1.0}"#;
    let cut = utf8.find('é').unwrap() + 1;
    let mut bytes = format!("{GOOD}\n").into_bytes();
    bytes.extend_from_slice(&utf8.as_bytes()[..cut]);
    let records = parse_lines(&bytes[..], "j").unwrap();
    assert_eq!(records.len(), 1);
    // Whole, it reads.
    let text = format!("{GOOD}\n{utf8}\n");
    assert_eq!(parse_lines(text.as_bytes(), "j").unwrap().len(), 2);
}

fn hub() -> Arc<Hub> {
    Arc::new(Hub {
        run: "r".into(),
        plan: "p".into(),
        tx: broadcast::channel(16).0,
        sinks: Vec::new(),
        incident_start: SystemTime::now(),
        budgets: RtoBudgets::default(),
        tiers: HashMap::new(),
        clock: Clock::start(),
        sink_queue: Default::default(),
    })
}

fn run_started(incident_start: SystemTime) -> Event {
    Event::RunStarted {
        plan: "p".into(),
        fingerprint: "f".into(),
        resumed: false,
        holder: "h".into(),
        incident_start,
        rto: RtoBudgets::default(),
        rpo: RpoObjectives::default(),
        steps: Vec::new(),
        source: None,
        mode: crate::Mode::Graceful,
        impaired_regions: Default::default(),
    }
}

#[tokio::test]
async fn a_record_that_cannot_be_serialised_is_refused_to_its_waiter_and_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileJournalStore::new(dir.path()).unwrap());
    let path = store.journal_path("p");
    let clock = Clock::start();
    let (journal, committer) = Journal::start(
        Some(Arc::clone(&store) as Arc<dyn JournalStore>),
        "p".into(),
        "r".into(),
        0,
        clock,
        hub(),
    );
    // RFC 3339 ends with year 9999 (an error), and starts in 1970 (humantime panics).
    let year_10000 = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_800 + 3600);
    let before_1970 = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
    for (at, why) in [(year_10000, "an error"), (before_1970, "panicked")] {
        let err = journal.record_durable(run_started(at)).await.unwrap_err();
        assert!(
            matches!(&err, JournalError::Unserialisable { event, .. } if event == "run_started"),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with(
                "the journal record `run_started` could not be serialised, so it was not written: "
            ),
            "{text}"
        );
        if why == "panicked" {
            assert!(text.contains("panicked"), "{text}");
        }
    }
    // Not a fatal journal error: the next record is written, with the first seq.
    journal
        .record_durable(Event::StepRolledBack { step: "a".into() })
        .await
        .unwrap();
    drop(journal);
    let committed = committer.await.unwrap();
    assert_eq!(committed.records.len(), 1);
    let records = store.load("p").await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].seq, 0);
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
}
