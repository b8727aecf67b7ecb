//! `drkit resume`: it shows the journal's runbook (origin and SHA-256 fingerprint) and asks for
//! approval, refuses when nobody can answer, refuses a `--runbook` that is not the journal's,
//! and after a finished rollback has nothing to do. No AWS: the runbook is one HTTP check
//! against a closed local port, which fails at once (so the run can be resumed).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use drkit::runner::{
    Batch, Event, FileJournalStore, JournalStore, Outcome, Record, text_fingerprint,
};

use crate::cli::{command, drkit, text, write};

const PLAN: &str = "resume-cli";

/// A runbook of one HTTP check against `port` (nothing listens there).
fn runbook(attempts: u32, port: u16) -> String {
    format!(
        r#"version = 1
name = "{PLAN}"
[[steps]]
id = "probe"
action = "checks.http"
retry = {{ max_attempts = 1 }}
[steps.params]
url = "http://127.0.0.1:{port}/health"
attempts = {attempts}
"#
    )
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A journal with one failed run of `runbook`: (the runbook file, the journal file).
fn failed_run(dir: &Path, body: &str) -> (PathBuf, PathBuf) {
    let file = write(dir, "runbook.toml", body);
    let journal = dir.join("journal");
    let out = drkit(
        &[
            "run",
            file.to_str().unwrap(),
            "--auto-approve",
            "--journal",
            journal.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    (file, journal.join(format!("{PLAN}.journal.jsonl")))
}

fn records(journal: &Path) -> Vec<Record> {
    let store = FileJournalStore::new(journal.parent().unwrap()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(store.load(PLAN)).unwrap()
}

fn resumes(journal: &Path) -> usize {
    records(journal)
        .iter()
        .filter(|r| matches!(r.event, Event::RunStarted { resumed: true, .. }))
        .count()
}

/// `drkit resume JOURNAL ARGS` with standard input closed (not a terminal).
fn resume(journal: &Path, args: &[&str]) -> Output {
    let mut all = vec!["resume", journal.to_str().unwrap()];
    all.extend(args);
    drkit(&all, &[])
}

#[test]
fn resume_shows_the_runbook_and_refuses_without_approval_when_not_at_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let body = runbook(1, closed_port());
    let (_, journal) = failed_run(dir.path(), &body);
    let before = records(&journal);

    let out = resume(&journal, &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // What would run: the plan, the run's state, the runbook's origin and fingerprint.
    assert!(err.contains(&format!("of plan `{PLAN}`")), "{err}");
    assert!(
        err.contains(": failed; the resume runs the steps not done yet"),
        "{err}"
    );
    assert!(err.contains("runbook.toml (as recorded in"), "{err}");
    let fingerprint = text_fingerprint(&body);
    assert!(
        err.contains(&format!("fingerprint: {fingerprint}")),
        "{err}"
    );
    // The refusal, and what to do.
    assert!(
        err.contains("not resumed: resuming runs the runbook above with your credentials")
            && err.contains("standard input is not a terminal")
            && err.contains("--auto-approve"),
        "{err}"
    );
    assert_eq!(
        records(&journal),
        before,
        "a refused resume wrote to the journal"
    );

    // --auto-approve: the same summary, then the resume itself (the check fails again: 1).
    let out = resume(&journal, &["--auto-approve"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("fingerprint: {fingerprint}")),
        "{err}"
    );
    assert!(err.contains("approved by --auto-approve"), "{err}");
    assert_eq!(resumes(&journal), 1);
}

#[test]
fn resume_runbook_refuses_another_runbook_naming_both_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let body = runbook(1, port);
    let (file, journal) = failed_run(dir.path(), &body);
    // Same plan (same steps), different parameters: only the text tells them apart.
    let other_body = runbook(2, port);
    let other = write(dir.path(), "other.toml", &other_body);
    let before = records(&journal);

    let out = resume(
        &journal,
        &["--runbook", other.to_str().unwrap(), "--auto-approve"],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not resumed: the journal's runbook"), "{err}");
    assert!(err.contains(&text_fingerprint(&body)), "{err}");
    assert!(err.contains(&text_fingerprint(&other_body)), "{err}");
    assert!(err.contains("other.toml"), "{err}");
    assert_eq!(records(&journal), before);

    // The legacy form `resume FILE.toml --journal DIR` checks the same.
    let out = drkit(
        &[
            "resume",
            other.to_str().unwrap(),
            "--journal",
            journal.parent().unwrap().to_str().unwrap(),
            "--auto-approve",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&text_fingerprint(&other_body)));
    assert_eq!(records(&journal), before);

    // The journal's own runbook file: resumed.
    let out = resume(
        &journal,
        &["--runbook", file.to_str().unwrap(), "--auto-approve"],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&text_fingerprint(&body)), "{err}");
    assert_eq!(resumes(&journal), 1);
}

/// At a terminal (a pseudo-terminal made by `script`): `no` refuses, `yes` resumes. Skipped
/// where util-linux `script` is missing.
#[test]
fn resume_asks_at_a_terminal() {
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        eprintln!("skipped: no {}", script.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, journal) = failed_run(dir.path(), &runbook(1, closed_port()));
    let at_terminal = |answer: &str| {
        let exe = env!("CARGO_BIN_EXE_drkit");
        let line = format!("{exe} resume {} -q", journal.display());
        let mut cmd = std::process::Command::new(script);
        // The clean AWS environment `command` sets, for the child of `script`.
        for (k, v) in command(&[], &[]).get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let mut child = cmd
            .args(["-qec", &line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            // Typed once the prompt is up (the terminal buffers it anyway).
            std::thread::sleep(std::time::Duration::from_millis(500));
            stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    };
    let out = at_terminal("no");
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains("Resume with this runbook? [yes/no]"),
        "{shown}"
    );
    assert!(
        shown.contains("not resumed: answered `no` at the prompt"),
        "{shown}"
    );
    assert_eq!(resumes(&journal), 0);
    let out = at_terminal("yes");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert_eq!(resumes(&journal), 1);
}

/// A run whose rollback finished: the resume says there is nothing to do, exits 1 (a failed
/// run) and leaves the journal as it is. The rollback is appended to a real run's journal
/// through the store (this runbook's only step changes nothing, so it cannot roll back).
#[test]
fn resume_after_a_finished_rollback_has_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (_, journal) = failed_run(dir.path(), &runbook(1, closed_port()));
    let mut all = records(&journal);
    let last = all.last().unwrap().clone();
    assert!(matches!(last.event, Event::RunFinished { .. }));
    let follow = [
        Event::RollbackStarted {
            because_of: "probe".into(),
            steps: vec!["probe".into()],
        },
        Event::StepRolledBack {
            step: "probe".into(),
        },
        Event::RunFinished {
            outcome: Outcome::RolledBack,
        },
    ];
    let mut lines = Vec::new();
    for (i, event) in follow.into_iter().enumerate() {
        let record = Record {
            seq: last.seq + 1 + i as u64,
            event,
            ..last.clone()
        };
        lines.extend(serde_json::to_vec(&record).unwrap());
        lines.push(b'\n');
        all.push(record);
    }
    let store = FileJournalStore::new(journal.parent().unwrap()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(store.append(PLAN, Batch::new(last.run.clone(), last.seq + 1, 3, lines)))
        .unwrap();
    assert_eq!(records(&journal), all);

    let out = resume(&journal, &["--auto-approve"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("failed and was rolled back; its rollback started: the resume only continues the rollback"),
        "{err}"
    );
    assert!(
        err.contains("nothing to resume: run `") && err.contains("was rolled back"),
        "{err}"
    );
    assert_eq!(records(&journal), all, "the journal changed");
}
