//! `exec.command` through the real `drkit` binary, with real programs: a second run finds the
//! work done and does not run the command; a run killed (SIGKILL) while its command runs is not
//! repeated by `drkit resume --auto-approve` (the outcome is unknown and the step has no
//! check); and the secret given to the program is absent from every byte drkit wrote (its
//! output and the journal), though the program printed it.

use std::path::Path;
use std::time::Duration;

use crate::cli::{command, drkit, text, write};
use crate::hardening::{finish, until};

const TOKEN: &str = "exec-secret-5d41402abc4b2a76";

fn runbook(plan: &str, dir: &Path, check: bool) -> String {
    let check = if check {
        r#"check = ["sh", "-c", "test -s ran && exit 0; exit 1"]"#
    } else {
        ""
    };
    format!(
        r#"
version = 1
name = "{plan}"
[[steps]]
id = "drain-queue"
action = "exec.command"
tier = "critical"
[steps.params]
command = ["sh", "-c", "echo $$ > pid; echo \"ran with $TOKEN\" >> ran; echo \"token $TOKEN\" >&2; sleep \"$PAUSE\"; echo '{{\"drained\": 12, \"echo\": \"'$TOKEN'\"}}'"]
{check}
verify = ["test", "-s", "ran"]
env = {{ TOKEN = {{ secret = "env:DRKIT_TEST_EXEC_TOKEN" }}, PAUSE = "${{env.DRKIT_TEST_EXEC_PAUSE}}" }}
cwd = "{dir}"
outputs = "json"
timeout = "5m"
"#,
        dir = dir.display()
    )
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Every file under `dir`, as text.
fn all_files(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.push_str(&all_files(&path));
        } else {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    all
}

#[test]
fn a_second_run_finds_the_work_done_and_the_secret_is_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let file = write(dir.path(), "exec.toml", &runbook("exec-twice", &work, true));
    let journal = dir.path().join("journal");
    let args = [
        "run",
        file.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--auto-approve",
    ];
    let envs = [
        ("DRKIT_TEST_EXEC_TOKEN", TOKEN),
        ("DRKIT_TEST_EXEC_PAUSE", "0"),
        ("RUST_LOG", "debug"),
    ];
    let first = drkit(&args, &envs);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}{}",
        text(&first.stdout),
        text(&first.stderr)
    );
    assert_eq!(lines(&work.join("ran")), 1);
    // The program printed the token on both streams; the outputs keep the JSON, redacted.
    let report = drkit(
        &[
            "report",
            journal.join("exec-twice.journal.jsonl").to_str().unwrap(),
            "--output",
            "json",
        ],
        &envs,
    );
    let report_text = text(&report.stdout);
    assert!(
        report_text.contains("\"drained\": 12") || report_text.contains("\"drained\":12"),
        "{report_text}"
    );
    assert!(report_text.contains("[REDACTED]"), "{report_text}");

    let second = drkit(&args, &envs);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}{}",
        text(&second.stdout),
        text(&second.stderr)
    );
    assert_eq!(lines(&work.join("ran")), 1, "the command ran again");
    let second_out = format!("{}{}", text(&second.stdout), text(&second.stderr));
    assert!(
        second_out.contains("already done") || second_out.contains("skipped"),
        "{second_out}"
    );

    let written = format!(
        "{}{}{}{}{}{}",
        text(&first.stdout),
        text(&first.stderr),
        text(&second.stdout),
        text(&second.stderr),
        report_text,
        all_files(&journal),
    );
    assert!(!written.contains(TOKEN), "the secret leaked: {written}");
}

#[tokio::test]
async fn a_command_killed_with_drkit_is_not_run_again_by_an_automatic_resume() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let plan = "exec-killed";
    let file = write(dir.path(), "exec.toml", &runbook(plan, &work, false));
    let journal = dir.path().join("journal");
    let journal_file = journal.join(format!("{plan}.journal.jsonl"));
    let envs = [
        ("DRKIT_TEST_EXEC_TOKEN", TOKEN),
        ("DRKIT_TEST_EXEC_PAUSE", "300"),
    ];
    let mut child = command(
        &[
            "run",
            file.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
            "--auto-approve",
        ],
        &envs,
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    until("the command to start", async || {
        lines(&work.join("ran")) == 1
    })
    .await;
    // The machine dies: drkit and its program with it.
    child.kill().unwrap();
    let _ = child.wait();
    let pid = std::fs::read_to_string(work.join("pid")).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status();

    let resume = command(
        &["resume", journal_file.to_str().unwrap(), "--auto-approve"],
        &envs,
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let out = finish(resume, Duration::from_secs(60)).await;
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("never repeats a change"), "{said}");
    assert_eq!(lines(&work.join("ran")), 1, "the command ran again: {said}");
    assert!(!said.contains(TOKEN));
    assert!(!all_files(&journal).contains(TOKEN));

    // A bad decision changes nothing (exit 2); the operator's --retry is the decision.
    let resume = |extra: &[&str]| {
        let mut args = vec!["resume", journal_file.to_str().unwrap(), "--auto-approve"];
        args.extend_from_slice(extra);
        command(
            &args,
            &[
                ("DRKIT_TEST_EXEC_TOKEN", TOKEN),
                ("DRKIT_TEST_EXEC_PAUSE", "0"),
            ],
        )
        .output()
        .unwrap()
    };
    let journal_before = std::fs::read_to_string(&journal_file).unwrap();
    let bad = resume(&["--skip", "no-such-step", "--reason", "typo"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(
        text(&bad.stderr).contains("unknown step `no-such-step`"),
        "{}",
        text(&bad.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&journal_file).unwrap(),
        journal_before
    );
    let retried = resume(&["--retry", "drain-queue"]);
    let said = format!("{}{}", text(&retried.stdout), text(&retried.stderr));
    assert_eq!(retried.status.code(), Some(0), "{said}");
    assert_eq!(lines(&work.join("ran")), 2, "--retry ran it once more");
    let journal_text = std::fs::read_to_string(&journal_file).unwrap();
    assert!(
        journal_text.contains("\"operator_decided\""),
        "{journal_text}"
    );
    assert!(
        journal_text.contains("(--retry drain-queue)"),
        "{journal_text}"
    );
}

/// A local HTTP API that answers every request 201 and counts the POSTs.
fn status_page() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/incidents", listener.local_addr().unwrap());
    let posts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&posts);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            if buf[..n].starts_with(b"POST ") {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            let body = r#"{"id":"inc-1"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, posts)
}

/// The run is killed after its POST succeeded, during a later step; the resumed run finishes
/// without posting again.
#[tokio::test]
async fn a_resumed_run_does_not_post_twice() {
    use std::sync::atomic::Ordering;
    let (url, posts) = status_page();
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let plan = "post-once";
    let runbook = format!(
        r#"
version = 1
name = "{plan}"
[[steps]]
id = "status-page"
action = "http.request"
tier = "non-critical"
[steps.params]
method = "POST"
url = "{url}"
json = {{ status = "degraded" }}
outputs = {{ incident = "/id" }}
[[steps]]
id = "slow-step"
action = "exec.command"
tier = "non-critical"
depends_on = ["status-page"]
[steps.params]
command = ["sh", "-c", "echo $$ > pid; sleep \"$PAUSE\"; echo '${{steps.status-page.outputs.incident}}' > incident"]
check = ["sh", "-c", "test -s incident && exit 0; exit 1"]
env = {{ PAUSE = "${{env.DRKIT_TEST_EXEC_PAUSE}}" }}
cwd = "{work}"
"#,
        work = work.display()
    );
    let file = write(dir.path(), "post.toml", &runbook);
    let journal = dir.path().join("journal");
    let journal_file = journal.join(format!("{plan}.journal.jsonl"));
    let mut child = command(
        &[
            "run",
            file.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
            "--auto-approve",
        ],
        &[("DRKIT_TEST_EXEC_PAUSE", "300")],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    until("the slow step to start", async || work.join("pid").exists()).await;
    child.kill().unwrap();
    let _ = child.wait();
    let pid = std::fs::read_to_string(work.join("pid")).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status();
    assert_eq!(posts.load(Ordering::SeqCst), 1);

    let resume = command(
        &["resume", journal_file.to_str().unwrap(), "--auto-approve"],
        &[("DRKIT_TEST_EXEC_PAUSE", "0")],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let out = finish(resume, Duration::from_secs(60)).await;
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert_eq!(posts.load(Ordering::SeqCst), 1, "posted again: {said}");
    // The later step got the first run's output.
    assert_eq!(
        std::fs::read_to_string(work.join("incident"))
            .unwrap()
            .trim(),
        "inc-1"
    );
}

/// `--pause-on-failure` asks a person: refused (exit 2, nothing run) without a terminal or with
/// `--auto-approve`.
#[test]
fn pause_on_failure_needs_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let file = write(dir.path(), "exec.toml", &runbook("exec-pause", &work, true));
    let envs = [
        ("DRKIT_TEST_EXEC_TOKEN", TOKEN),
        ("DRKIT_TEST_EXEC_PAUSE", "0"),
    ];
    let journal = dir.path().join("journal");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            file.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        command(&args, &envs)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&["--pause-on-failure"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("asks at a terminal"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["--pause-on-failure", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(lines(&work.join("ran")), 0, "nothing ran");
}

/// At a terminal (a pseudo-terminal made by `script`): the step fails, the run pauses, `r`
/// retries it, the run succeeds, and the choice is journalled.
#[test]
fn a_paused_run_retries_at_the_terminal() {
    let script = Path::new("/usr/bin/script");
    if !script.exists() {
        assert!(
            std::env::var("CI").is_err(),
            "no {} under CI",
            script.display()
        );
        eprintln!("skipped: no {}", script.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let file = write(
        dir.path(),
        "pause.toml",
        &format!(
            r#"
version = 1
name = "pause-demo"
[[steps]]
id = "flaky"
action = "exec.command"
tier = "critical"
[steps.params]
command = ["sh", "-c", "test -e once || {{ touch once; echo first attempt fails >&2; exit 3; }}"]
cwd = "{}"
"#,
            work.display()
        ),
    );
    let journal = dir.path().join("journal");
    let exe = env!("CARGO_BIN_EXE_drkit");
    let line = format!(
        "{exe} run {} --journal {} --pause-on-failure -q",
        file.display(),
        journal.display()
    );
    let mut cmd = std::process::Command::new(script);
    for (k, v) in command(&[], &[]).get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let mut child = cmd
        .args(["-qec", &line, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        stdin.write_all(b"r\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let shown = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{shown}{}", text(&out.stderr));
    assert!(shown.contains("What now? [r]etry"), "{shown}");
    assert!(shown.contains("first attempt fails"), "{shown}");
    let journal_text = std::fs::read_to_string(journal.join("pause-demo.journal.jsonl")).unwrap();
    assert!(
        journal_text.contains("\"operator_decided\"") && journal_text.contains("\"retry\""),
        "{journal_text}"
    );
}
