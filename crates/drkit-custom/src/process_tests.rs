//! The process adapter against real programs: exit codes, capture limits, the environment,
//! and the process group killed on a time-out or a cancellation.

use std::time::Duration;

use drkit_core::{CancellationToken, SecretString};

use super::*;

fn sh(script: &str) -> Invocation {
    Invocation::new(
        vec!["sh".into(), "-c".into(), script.into()],
        Duration::from_secs(20),
    )
}

async fn run(invocation: &Invocation) -> Exit {
    TokioProcess::new()
        .run(invocation, &CancellationToken::new())
        .await
        .unwrap()
}

/// Whether a process with `pid` still exists (a zombie counts as gone).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.split_whitespace().nth(2).is_none_or(|s| s != "Z"))
}

/// Whether `pid` is gone within a second (a signal is delivered asynchronously).
async fn ends(pid: &str) -> bool {
    for _ in 0..20 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn the_exit_code_and_both_streams_come_back() {
    let exit = run(&sh("echo out; echo err >&2; exit 3")).await;
    assert_eq!(exit.ending, Ending::Exited(3));
    assert_eq!(exit.stdout, b"out\n");
    assert_eq!(exit.stderr, b"err\n");
    assert!(!exit.truncated);
}

#[tokio::test]
async fn output_beyond_the_limit_is_cut_and_said_so() {
    let mut big = sh("head -c 100000 /dev/zero");
    big.capture_limit = 1000;
    let exit = run(&big).await;
    assert_eq!(exit.ending, Ending::Exited(0));
    assert_eq!(exit.stdout.len(), 1000);
    assert!(exit.truncated);
}

#[tokio::test]
async fn env_values_reach_the_program_and_debug_hides_secrets() {
    let invocation = sh("printf '%s %s' \"$PLAIN\" \"$TOKEN\"").with_env(vec![
        ("PLAIN".into(), EnvValue::Plain("visible".into())),
        (
            "TOKEN".into(),
            EnvValue::Secret(SecretString::from("s3cr3t-value")),
        ),
    ]);
    let shown = format!("{invocation:?}");
    assert!(
        shown.contains("visible") && shown.contains("[REDACTED]"),
        "{shown}"
    );
    assert!(!shown.contains("s3cr3t-value"), "{shown}");
    let exit = run(&invocation).await;
    assert_eq!(exit.stdout, b"visible s3cr3t-value");
    assert!(!format!("{exit:?}").contains("s3cr3t"));
}

/// A hung program and the children it started are all gone after the time-out.
#[tokio::test]
async fn a_time_out_kills_the_program_and_its_descendants() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 300 & echo $! > {p}; (trap '' TERM; sleep 300) & echo $! >> {p}; sleep 300",
        p = pids.display()
    );
    let mut hung = sh(&script);
    hung.timeout = Duration::from_millis(700);
    let exit = run(&hung).await;
    assert_eq!(exit.ending, Ending::TimedOut);
    assert!(exit.elapsed < Duration::from_secs(10), "{:?}", exit.elapsed);
    let pids = std::fs::read_to_string(&pids).unwrap();
    let pids: Vec<&str> = pids.split_whitespace().collect();
    assert_eq!(pids.len(), 2, "{pids:?}");
    // The one that ignores SIGTERM gets SIGKILL after the grace.
    for pid in pids {
        assert!(ends(pid).await, "process {pid} survived the time-out");
    }
}

#[tokio::test]
async fn a_cancellation_kills_the_program() {
    let cancel = CancellationToken::new();
    let later = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        later.cancel();
    });
    let exit = TokioProcess::new()
        .run(&sh("sleep 300"), &cancel)
        .await
        .unwrap();
    assert_eq!(exit.ending, Ending::Cancelled);
}

/// A program that leaves a daemon behind on success: its exit is reported without waiting for
/// the daemon, which is left running (it was meant to).
#[tokio::test]
async fn a_background_child_of_a_finished_program_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let pid = dir.path().join("pid");
    let exit = run(&sh(&format!(
        "sleep 30 & echo $! > {}; echo started",
        pid.display()
    )))
    .await;
    assert_eq!(exit.ending, Ending::Exited(0));
    assert!(exit.elapsed < Duration::from_secs(5));
    let pid = std::fs::read_to_string(&pid).unwrap();
    assert!(alive(pid.trim()));
    let _ = std::process::Command::new("kill").arg(pid.trim()).status();
}

#[tokio::test]
async fn a_missing_program_is_not_started_and_says_why() {
    let missing = Invocation::new(vec!["drkit-no-such-program".into()], Duration::from_secs(5));
    let err = TokioProcess::new()
        .run(&missing, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.message().contains("not found in PATH"), "{err}");
    let relative = Invocation::new(vec!["./nope.sh".into()], Duration::from_secs(5))
        .in_dir(Some("/nonexistent-drkit-dir".into()));
    let err = TokioProcess::new()
        .run(&relative, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.message().contains("working directory"), "{err}");
}
