//! `drkit run --webhook env:NAME` against real local HTTP servers (tokio listeners): one that
//! answers 500, one that accepts and never answers, and a run that fails before it finishes
//! (the journal is locked). In each case the run finishes and the CLI exits within a bound,
//! and the webhook URL — which holds a fake token — shows nowhere: not on stdout, not on
//! stderr (with `-vv` debug logs), not in the journal. A URL given on the command line is
//! refused without being echoed.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use drkit::runner::{FileJournalStore, JournalStore, LockHolder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::cli::{command, text, write};

/// The token in the fake webhook URL: it must never be shown.
const TOKEN: &str = "xoxfake-0f9a3c77e1-webhook-token";

const URL_VAR: &str = "DRKIT_TEST_WEBHOOK_URL";

/// Far under the time a webhook that hangs would take if it held the exit (seed POST time-out
/// 5 s + flush 5 s; before the bounds, a run that failed early never exited at all).
const EXIT_BOUND: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// HTTP 200 "ok": the health endpoint the runbook checks.
    Ok,
    /// HTTP 500 to every request.
    Error,
    /// Accept, read, never answer, never close.
    Never,
}

/// A local HTTP server answering as `answer`; counts the requests it reads.
async fn server(answer: Answer) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&hits);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            if answer == Answer::Never {
                seen.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
                continue;
            }
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let _ = stream.read(&mut buf).await;
                seen.fetch_add(1, Ordering::SeqCst);
                let reply: &[u8] = match answer {
                    Answer::Ok => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    _ => b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops!",
                };
                let _ = stream.write_all(reply).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, hits)
}

fn runbook(dir: &Path, plan: &str, health_port: u16) -> std::path::PathBuf {
    write(
        dir,
        &format!("{plan}.toml"),
        &format!(
            r#"
version = 1
name = "{plan}"
[defaults]
timeout = "1m"
[[steps]]
id = "healthy"
action = "checks.http"
tier = "critical"
[steps.params]
url = "http://127.0.0.1:{health_port}/healthz"
"#
        ),
    )
}

struct Finished {
    code: Option<i32>,
    elapsed: Duration,
    stdout: String,
    stderr: String,
}

/// `drkit -vv run FILE --journal DIR --auto-approve --webhook env:URL_VAR` with the variable
/// set to `url`; killed (and the test failed) if it has not exited within [`EXIT_BOUND`].
async fn run_with_webhook(file: &Path, journal: &Path, url: &str) -> Finished {
    let args = [
        "-vv",
        "run",
        file.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--auto-approve",
        "--webhook",
        &format!("env:{URL_VAR}"),
    ];
    let mut cmd = tokio::process::Command::from(command(&args, &[(URL_VAR, url)]));
    cmd.kill_on_drop(true);
    let started = Instant::now();
    let out = tokio::time::timeout(EXIT_BOUND, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("drkit did not exit within {EXIT_BOUND:?}: the webhook held it"))
        .unwrap();
    Finished {
        code: out.status.code(),
        elapsed: started.elapsed(),
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
    }
}

/// The token shows nowhere: stdout, stderr, any file of the journal directory.
fn assert_never_shown(done: &Finished, journal: &Path) {
    assert!(
        !done.stdout.contains(TOKEN),
        "token on stdout:\n{}",
        done.stdout
    );
    assert!(
        !done.stderr.contains(TOKEN),
        "token on stderr:\n{}",
        done.stderr
    );
    assert!(
        !done.stderr.contains("/services/"),
        "URL path on stderr:\n{}",
        done.stderr
    );
    for entry in std::fs::read_dir(journal).unwrap() {
        let path = entry.unwrap().path();
        let body = std::fs::read(&path).unwrap_or_default();
        assert!(!text(&body).contains(TOKEN), "token in {}", path.display());
    }
}

fn hook_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/services/T0FAKE/B0FAKE/{TOKEN}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_answering_500_never_blocks_the_run_nor_shows_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let (health, _) = server(Answer::Ok).await;
    let (hook, hits) = server(Answer::Error).await;
    let file = runbook(dir.path(), "hook-500", health);
    let done = run_with_webhook(&file, &journal, &hook_url(hook)).await;
    assert_eq!(done.code, Some(0), "stderr:\n{}", done.stderr);
    assert!(done.elapsed < EXIT_BOUND, "{:?}", done.elapsed);
    // The start notice and the final result were both tried, and both refused.
    assert!(
        hits.load(Ordering::SeqCst) >= 2,
        "the webhook got {hits:?} requests"
    );
    assert!(
        done.stderr
            .contains("webhook refused the notification: HTTP 500"),
        "{}",
        done.stderr
    );
    assert_never_shown(&done, &journal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_never_answers_never_holds_the_exit_nor_shows_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let (health, _) = server(Answer::Ok).await;
    let (hook, hits) = server(Answer::Never).await;
    let file = runbook(dir.path(), "hook-silent", health);
    let done = run_with_webhook(&file, &journal, &hook_url(hook)).await;
    assert_eq!(done.code, Some(0), "stderr:\n{}", done.stderr);
    // The start notice's POST (5 s) overlaps the run; the exit waits at most the 5 s flush.
    // Before, each POST had 10 s and the exit waited for the final one: about 20 s.
    assert!(
        done.elapsed < Duration::from_secs(14),
        "exit took {:?}:\n{}",
        done.elapsed,
        done.stderr
    );
    assert!(
        hits.load(Ordering::SeqCst) >= 1,
        "the webhook was never called"
    );
    assert!(
        done.stderr.contains("webhook: no answer within 5s")
            || done
                .stderr
                .contains("webhook: gave up after the flush time-out"),
        "{}",
        done.stderr
    );
    assert_never_shown(&done, &journal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_fails_before_it_finishes_does_not_hang_the_cli_with_a_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let (health, _) = server(Answer::Ok).await;
    let (hook, _) = server(Answer::Never).await;
    let file = runbook(dir.path(), "hook-locked", health);
    // Another holder has the plan's journal lock: the run errors before `run_started`.
    let store = FileJournalStore::new(&journal).unwrap();
    let lock = store
        .acquire("hook-locked", &LockHolder::new("another operator"))
        .await
        .unwrap();
    let done = run_with_webhook(&file, &journal, &hook_url(hook)).await;
    drop(lock);
    assert_eq!(done.code, Some(1), "stderr:\n{}", done.stderr);
    assert!(done.stderr.contains("already being run"), "{}", done.stderr);
    assert!(done.elapsed < Duration::from_secs(10), "{:?}", done.elapsed);
    assert_never_shown(&done, &journal);
}

#[test]
fn a_webhook_url_on_the_command_line_is_refused_without_being_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let file = runbook(dir.path(), "hook-plain", 9);
    let url = format!("https://hooks.example.com/services/T0FAKE/B0FAKE/{TOKEN}");
    for (given, envs) in [
        (url.as_str(), vec![]),
        ("env:DRKIT_TEST_WEBHOOK_UNSET", vec![]),
        (
            "env:DRKIT_TEST_WEBHOOK_BAD",
            vec![("DRKIT_TEST_WEBHOOK_BAD", TOKEN)],
        ),
    ] {
        let out = command(
            &[
                "run",
                file.to_str().unwrap(),
                "--journal",
                dir.path().join("journal").to_str().unwrap(),
                "--auto-approve",
                "--webhook",
                given,
            ],
            &envs,
        )
        .output()
        .unwrap();
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(2), "{given}: {stderr}");
        assert!(stderr.starts_with("--webhook: "), "{stderr}");
        assert!(
            !stderr.contains(TOKEN) && !stdout.contains(TOKEN),
            "{stderr}"
        );
    }
    let out = command(
        &[
            "run",
            file.to_str().unwrap(),
            "--journal",
            dir.path().join("journal").to_str().unwrap(),
            "--webhook",
            &url,
        ],
        &[],
    )
    .output()
    .unwrap();
    let stderr = text(&out.stderr);
    assert!(stderr.contains("not the URL"), "{stderr}");
    assert!(stderr.contains("--webhook env:NAME"), "{stderr}");
    // No step ran: the journal holds nothing.
    assert!(!dir.path().join("journal/hook-plain.journal.jsonl").exists());
}
