//! The process port ([`ProcessApi`]) and its adapter over `tokio::process` ([`TokioProcess`]).
//!
//! One invocation runs one program (no shell) in its own process group, with standard input
//! closed and standard output and error captured up to a limit. On its time-out, or when the
//! run is cancelled, the whole group — the program and every descendant that stayed in it —
//! is sent `SIGTERM`, given [`KILL_GRACE`] to end, then `SIGKILL`.

use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::{ActionError, CancellationToken, ErrorKind, ExposeSecret, SecretString};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

/// How long a group that was sent `SIGTERM` has before `SIGKILL`.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// How long the output pipes are still read after the program exited (a descendant that went
/// on in the background may hold them open; it is left alone and its output is not awaited).
const PIPE_GRACE: Duration = Duration::from_millis(500);

/// One environment variable's value for the child.
#[derive(Clone)]
pub enum EnvValue {
    /// A value written in the runbook.
    Plain(String),
    /// A secret read from its reference: only ever given to the child, never printed.
    Secret(SecretString),
}

impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(v) => write!(f, "{v:?}"),
            Self::Secret(_) => f.write_str("[REDACTED]"),
        }
    }
}

impl EnvValue {
    pub(crate) fn expose(&self) -> &str {
        match self {
            Self::Plain(v) => v,
            Self::Secret(s) => s.expose_secret(),
        }
    }
}

/// What to run. Its `Debug` shows the program and arguments (never secrets: those are only in
/// `env`, whose secret values it redacts).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Invocation {
    /// The program and its arguments; `argv[0]` is looked up in `PATH` when it has no `/`.
    pub argv: Vec<String>,
    /// Variables added to the inherited environment.
    pub env: Vec<(String, EnvValue)>,
    /// The working directory (drkit's own when absent).
    pub cwd: Option<PathBuf>,
    /// How long the program may run before its process group is killed.
    pub timeout: Duration,
    /// The most bytes of standard output, and of standard error, kept.
    pub capture_limit: usize,
}

impl Invocation {
    /// Runs `argv` with no extra environment, within `timeout`, keeping 64 KiB of each stream.
    pub fn new(argv: Vec<String>, timeout: Duration) -> Self {
        Self {
            argv,
            env: Vec::new(),
            cwd: None,
            timeout,
            capture_limit: 64 * 1024,
        }
    }

    /// The same with `env` added to the inherited environment.
    #[must_use]
    pub fn with_env(mut self, env: Vec<(String, EnvValue)>) -> Self {
        self.env = env;
        self
    }

    /// The same, run in `cwd`.
    #[must_use]
    pub fn in_dir(mut self, cwd: Option<PathBuf>) -> Self {
        self.cwd = cwd;
        self
    }

    /// The program, for messages.
    pub fn program(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }
}

/// How the program ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It exited with this code.
    Exited(i32),
    /// A signal ended it (not sent by drkit).
    Signalled(i32),
    /// drkit killed its process group at the time-out.
    TimedOut,
    /// drkit killed its process group because the run was cancelled.
    Cancelled,
}

/// What a program did: how it ended and what it wrote (the first bytes of each stream, as
/// captured: not yet redacted).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Exit {
    /// How it ended.
    pub ending: Ending,
    /// The first `capture_limit` bytes of standard output.
    pub stdout: Vec<u8>,
    /// The first `capture_limit` bytes of standard error.
    pub stderr: Vec<u8>,
    /// Whether either stream was longer than the limit.
    pub truncated: bool,
    /// How long it ran.
    pub elapsed: Duration,
}

impl fmt::Debug for Exit {
    /// The streams by length only: they may hold what a secret made the program print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exit")
            .field("ending", &self.ending)
            .field("stdout_bytes", &self.stdout.len())
            .field("stderr_bytes", &self.stderr.len())
            .field("truncated", &self.truncated)
            .field("elapsed", &self.elapsed)
            .finish()
    }
}

impl Exit {
    /// An exit with `code` and the given output, for tests of code that uses the port.
    pub fn exited(code: i32, stdout: impl Into<Vec<u8>>, stderr: impl Into<Vec<u8>>) -> Self {
        Self {
            ending: Ending::Exited(code),
            stdout: stdout.into(),
            stderr: stderr.into(),
            truncated: false,
            elapsed: Duration::ZERO,
        }
    }

    /// The same with another ending.
    #[must_use]
    pub fn with_ending(mut self, ending: Ending) -> Self {
        self.ending = ending;
        self
    }
}

/// Runs local programs: the port of `exec.command`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ProcessApi: fmt::Debug + Send + Sync {
    /// Runs `invocation` to its end, its time-out, or `cancel` (which kill its process group).
    /// `Err` only when the program could not be started (not found, not executable, bad
    /// working directory): then nothing ran.
    async fn run(
        &self,
        invocation: &Invocation,
        cancel: &CancellationToken,
    ) -> Result<Exit, ActionError>;
}

/// [`ProcessApi`] over `tokio::process`, each program in its own process group.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioProcess;

impl TokioProcess {
    /// The adapter.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl ProcessApi for TokioProcess {
    async fn run(
        &self,
        invocation: &Invocation,
        cancel: &CancellationToken,
    ) -> Result<Exit, ActionError> {
        let started = Instant::now();
        let mut command = tokio::process::Command::new(invocation.program());
        command
            .args(invocation.argv.iter().skip(1))
            .envs(invocation.env.iter().map(|(k, v)| (k, v.expose())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(cwd) = &invocation.cwd {
            command.current_dir(cwd);
        }
        let mut child = command.spawn().map_err(|e| not_started(invocation, &e))?;
        let group = child.id().and_then(|id| i32::try_from(id).ok());
        let limit = invocation.capture_limit;
        let stdout = child.stdout.take().map(|s| capture(s, limit));
        let stderr = child.stderr.take().map(|s| capture(s, limit));

        let ending = tokio::select! {
            status = child.wait() => match status {
                Ok(status) => ending_of(status),
                Err(e) => {
                    kill_group(group, &mut child).await;
                    return Err(ActionError::new(
                        ErrorKind::Other,
                        format!("waiting for `{}` failed: {e}", invocation.program()),
                    ));
                }
            },
            () = tokio::time::sleep(invocation.timeout) => {
                kill_group(group, &mut child).await;
                Ending::TimedOut
            }
            () = cancel.cancelled() => {
                kill_group(group, &mut child).await;
                Ending::Cancelled
            }
        };
        let (stdout, out_cut) = collect(stdout).await;
        let (stderr, err_cut) = collect(stderr).await;
        Ok(Exit {
            ending,
            stdout,
            stderr,
            truncated: out_cut || err_cut,
            elapsed: started.elapsed(),
        })
    }
}

fn not_started(invocation: &Invocation, e: &std::io::Error) -> ActionError {
    let program = invocation.program();
    let hint = match e.kind() {
        std::io::ErrorKind::NotFound => match &invocation.cwd {
            Some(cwd) if !cwd.is_dir() => {
                format!(" (the working directory {} is missing)", cwd.display())
            }
            _ if program.contains('/') => " (no such file)".to_owned(),
            _ => " (not found in PATH)".to_owned(),
        },
        std::io::ErrorKind::PermissionDenied => " (not executable)".to_owned(),
        _ => String::new(),
    };
    ActionError::new(
        ErrorKind::PreconditionFailed,
        format!("`{program}` could not be started{hint}: {e}"),
    )
}

#[cfg(unix)]
fn ending_of(status: std::process::ExitStatus) -> Ending {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Ending::Exited(code),
        (None, Some(signal)) => Ending::Signalled(signal),
        (None, None) => Ending::Exited(-1),
    }
}

/// `SIGTERM` to the group, [`KILL_GRACE`] for the leader to end, then `SIGKILL` to the group
/// (descendants that ignore `SIGTERM` included), and the leader reaped.
async fn kill_group(group: Option<i32>, child: &mut tokio::process::Child) {
    let pid = group.and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        // ESRCH: the group is gone already.
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::TERM);
        let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
}

/// What a capture task has read so far: the kept bytes and whether more came than the limit.
type Captured = Arc<Mutex<(Vec<u8>, bool)>>;

/// Starts reading `stream` to its end, keeping the first `limit` bytes.
fn capture(
    mut stream: impl AsyncRead + Unpin + Send + 'static,
    limit: usize,
) -> (Captured, tokio::task::JoinHandle<()>) {
    let captured = Captured::default();
    let sink = Arc::clone(&captured);
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            let mut kept = sink.lock().unwrap_or_else(PoisonError::into_inner);
            let room = limit.saturating_sub(kept.0.len());
            kept.0.extend_from_slice(&buf[..n.min(room)]);
            kept.1 |= n > room;
        }
    });
    (captured, task)
}

/// What a capture read, waiting at most [`PIPE_GRACE`] for the end of a pipe that a
/// background descendant may still hold (then what was read so far, marked cut).
async fn collect(capture: Option<(Captured, tokio::task::JoinHandle<()>)>) -> (Vec<u8>, bool) {
    let Some((captured, mut task)) = capture else {
        return (Vec::new(), false);
    };
    let ended = tokio::time::timeout(PIPE_GRACE, &mut task).await.is_ok();
    task.abort();
    let mut kept = captured.lock().unwrap_or_else(PoisonError::into_inner);
    (std::mem::take(&mut kept.0), kept.1 || !ended)
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
