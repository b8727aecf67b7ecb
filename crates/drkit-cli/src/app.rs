//! The whole `drkit` command line, as a library function: [`main_with`] runs it with the
//! built-in action kinds plus the caller's own, so a team's binary has every command, flag,
//! exit code and output of `drkit`.
#![allow(clippy::print_stderr)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use drkit::aws::{Aws, AwsSettings};
use drkit::core::CancellationToken;
use drkit::core::registry::{DuplicateKind, Registry};
use drkit::runner::{Conditions, Mode, OperatorDecisions, is_region_name};

use crate::commands::{self, RunOptions};
use crate::progress::ProgressMode;
use crate::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, prompt};

/// Cloud disaster recovery as code: runbooks of checked, waited-for, journalled recovery steps.
///
/// Exit codes: 0 success, 1 the run failed, 2 bad input, 3 interrupted.
#[derive(Debug, Parser)]
#[command(name = "drkit", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Default AWS region (steps may set their own).
    #[arg(long, global = true, env = "AWS_REGION")]
    region: Option<String>,
    /// AWS profile.
    #[arg(long, global = true)]
    profile: Option<String>,
    /// One endpoint for every AWS service, e.g. a local emulator (also AWS_ENDPOINT_URL).
    #[arg(long, global = true)]
    endpoint_url: Option<String>,
    /// More log output (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a runbook without touching the network; every problem, located.
    Validate { file: PathBuf },
    /// Show the steps in execution waves, what each changes, tiers and budgets, and what the
    /// mode and impaired regions skip (no network).
    Plan {
        file: PathBuf,
        #[command(flatten)]
        conditions: ConditionArgs,
    },
    /// Readiness: can the runbook run now? Checks every step with no change before it
    /// (read-only calls only), reports the rest as after that change. Exit 0 ready, 1 not
    /// ready (naming each step and why), 2 bad input.
    Check {
        file: PathBuf,
        #[command(flatten)]
        conditions: ConditionArgs,
        /// Also write the result in the OpenMetrics text format (for a node-exporter textfile
        /// collector or any Prometheus scrape); written whole (a temporary file renamed).
        #[arg(long, value_name = "FILE")]
        metrics: Option<PathBuf>,
        /// A directory where the result is kept: the next check lists what changed since (a
        /// step that was ready and is not, an output that differs).
        #[arg(long, value_name = "DIR")]
        journal: Option<PathBuf>,
        /// Simulate the permissions of this IAM role or user (its ARN: the identity the run
        /// will use) rather than the caller's, e.g. when the check runs with a read-only role.
        #[arg(long, value_name = "ARN")]
        principal: Option<String>,
    },
    /// Run a runbook.
    Run {
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Resume the last run from its journal: <dir>/<plan>.journal.jsonl or
    /// s3://bucket/prefix/<plan>. The journal holds the runbook; steps already done are not
    /// done again, and a run whose rollback started only continues its rollback. Shows the
    /// runbook's name and SHA-256 fingerprint and asks for approval (or --auto-approve).
    Resume {
        /// The journal (a runbook .toml file is also accepted, with --journal).
        #[arg(value_name = "JOURNAL")]
        target: String,
        /// Refuse unless the journal's runbook is this file's text (same SHA-256 fingerprint);
        /// gives the runbook of a journal that holds none.
        #[arg(long)]
        runbook: Option<PathBuf>,
        #[command(flatten)]
        operator: OperatorArgs,
        #[command(flatten)]
        run: RunArgs,
    },
    /// The report of the last run in a journal: <dir>/<plan>.journal.jsonl or
    /// s3://bucket/prefix/<plan>.
    Report {
        /// The journal.
        journal: String,
    },
    /// Every action, with its parameters, outputs and IAM actions.
    Actions,
    /// The least-privilege IAM policy for exactly the actions of a runbook.
    IamPolicy { file: PathBuf },
    /// Print the shell completion script on stdout, e.g. `drkit completions bash >
    /// ~/.local/share/bash-completion/completions/drkit` (zsh: `_drkit` in $fpath; fish:
    /// ~/.config/fish/completions/drkit.fish).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the JSON Schema (draft-07) of the runbook file, with every action's parameters, for
    /// an editor's TOML support (taplo, Even Better TOML; see docs/runbook.md).
    Schema,
}

/// The operator's decisions for a resume, journalled with who made them.
#[derive(Debug, clap::Args)]
struct OperatorArgs {
    /// Run this failed step again (repeatable); also decides for a step whose earlier outcome
    /// is unknown, which a resume otherwise asks about (and --auto-approve refuses).
    #[arg(long, value_name = "STEP")]
    retry: Vec<String>,
    /// Record this step as skipped by you and go on with its dependents (repeatable; needs
    /// --reason). A step that uses one of its outputs is skipped too.
    #[arg(long, value_name = "STEP", requires = "reason")]
    skip: Vec<String>,
    /// Why the --skip steps are skipped (journalled with your name).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
}

impl OperatorArgs {
    fn decisions(&self) -> OperatorDecisions {
        let mut decisions = OperatorDecisions::by(commands::operator_identity());
        for step in &self.retry {
            decisions = decisions.retry(step.clone());
        }
        for step in &self.skip {
            decisions = decisions.skip(step.clone(), self.reason.clone().unwrap_or_default());
        }
        decisions
    }
}

/// The run's conditions, as in ARC Region switch.
#[derive(Debug, clap::Args)]
struct ConditionArgs {
    /// graceful (a planned switch or a drill; the default for a new run) or ungraceful (an
    /// outage). Steps with `modes` not including it are skipped. For resume: switches the
    /// steps not yet done (default: the journal's mode).
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// A region known to be impaired (repeatable): steps whose calls go there are skipped
    /// and send nothing. For resume: replaces the journal's list.
    #[arg(long = "impaired-region", value_name = "REGION", value_parser = region_name)]
    impaired_region: Vec<String>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ModeArg {
    Graceful,
    Ungraceful,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Graceful => Mode::Graceful,
            ModeArg::Ungraceful => Mode::Ungraceful,
        }
    }
}

fn region_name(text: &str) -> Result<String, String> {
    if is_region_name(text) {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a region name (e.g. us-east-1, eu-central-2)"
        ))
    }
}

impl ConditionArgs {
    fn conditions(&self) -> Conditions {
        Conditions::new(self.mode.map(Mode::from).unwrap_or_default())
            .impaired(self.impaired_region.iter().cloned())
    }
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Only read-only checks; print what would change.
    #[arg(long)]
    dry_run: bool,
    /// Journal: a directory (default .drkit/journal) or s3://bucket/prefix.
    #[arg(long)]
    journal: Option<String>,
    /// Lease of an S3 journal's lock: another machine may take a dead run over after it
    /// (default 2m; the lock is renewed while the run lives).
    #[arg(long, value_parser = humantime::parse_duration)]
    journal_lease: Option<std::time::Duration>,
    /// Also write the Markdown report to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// When the incident began: RFC 3339, or a duration ago ("45m"). Default: now.
    #[arg(long)]
    incident_start: Option<String>,
    /// Approve every approval gate without asking (and, for resume, the runbook recorded in
    /// the journal: check its fingerprint first).
    #[arg(long)]
    auto_approve: bool,
    /// At a failed step, pause and ask at the terminal: retry, skip (with a reason), continue
    /// without it, roll back or abort; each choice is journalled with your name. Needs a
    /// terminal; not with --auto-approve.
    #[arg(long, conflicts_with = "auto_approve")]
    pause_on_failure: bool,
    /// Slack-compatible webhook for the start notice, summaries and the result: where its URL
    /// is read from, env:NAME or file:PATH (the URL is a credential: a URL given here is
    /// refused). A webhook that fails or hangs never holds up the run or the exit.
    #[arg(long, value_name = "SECRET_REF")]
    webhook: Option<String>,
    #[command(flatten)]
    conditions: ConditionArgs,
}

/// The name this program was started as (a team's own binary made with [`main_with`] has its
/// own): what its completion script completes.
fn program_name() -> String {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "drkit".to_owned())
}

/// The log filter for a verbosity `level` (when `RUST_LOG` is not set).
///
/// vaultrs (and rustify under it) log every non-2xx answer at ERROR, also the 404s drkit
/// expects and handles (e.g. `vault.verify_transit_backup` making sure its scratch key is
/// gone): an incident commander would read "ERROR ... status code 404" next to a step that
/// succeeded. drkit reports Vault errors itself, with context; those two crates are only shown
/// with `-vv`.
fn log_filter(level: &str) -> String {
    if level == "debug" {
        level.to_owned()
    } else {
        format!("{level},vaultrs=off,rustify=off")
    }
}

/// Runs the `drkit` command line (arguments from the process) with every built-in action kind
/// plus those `extend` registers: a team's own `drkit`, with its own kinds next to the
/// built-in ones. Returns the process's exit code (0 success, 1 the run failed, 2 bad input,
/// 3 interrupted).
///
/// ```no_run
/// use std::process::ExitCode;
///
/// fn main() -> ExitCode {
///     drkit_cli::main_with(|registry| {
///         // registry.register::<my_flags::FlipFlag>(my_flags::ports())?;
///         let _ = registry;
///         Ok(())
///     })
/// }
/// ```
pub fn main_with<F>(extend: F) -> ExitCode
where
    F: FnOnce(&mut Registry) -> Result<(), DuplicateKind>,
{
    main_with_args(std::env::args_os(), extend)
}

/// [`main_with`] with the given arguments (the first is the program's name), e.g. to run a
/// runbook from inside a program or a test.
pub fn main_with_args<I, T, F>(args: I, extend: F) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
    F: FnOnce(&mut Registry) -> Result<(), DuplicateKind>,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // --help and --version print and exit 0; a bad flag prints and exits 2.
        Err(e) => e.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    runtime.block_on(main_async(cli, extend))
}

async fn main_async<F>(cli: Cli, extend: F) -> ExitCode
where
    F: FnOnce(&mut Registry) -> Result<(), DuplicateKind>,
{
    // `prompt:` secret references are typed at the terminal, without echo.
    let _ = drkit::core::set_prompter(prompt::TerminalPrompt);
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    // Once per process: a second call (a program running several command lines) keeps the
    // first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_filter(level))),
        )
        .with_writer(std::io::stderr)
        .try_init();

    let mut settings = AwsSettings::default();
    if let Some(r) = &cli.region {
        settings = settings.region(r.clone());
    }
    if let Some(p) = &cli.profile {
        settings = settings.profile(p.clone());
    }
    if let Some(u) = &cli.endpoint_url {
        settings = settings.endpoint_url(u.clone());
    }
    // The AWS configuration is loaded when the first AWS call is made: `validate`, `plan`,
    // `actions`, a runbook with no AWS step, or a file journal never load it.
    let aws = Aws::lazy(settings);
    let registry = match drkit::registry_with_aws(&aws).and_then(|mut registry| {
        extend(&mut registry)?;
        Ok(registry)
    }) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let json = cli.output == Output::Json;
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let code = match cli.command {
        Command::Validate { file } => commands::validate(&file, &registry, &mut out, &mut err),
        Command::Plan { file, conditions } => commands::plan(
            &file,
            &registry,
            &conditions.conditions(),
            json,
            &mut out,
            &mut err,
        ),
        Command::Check {
            file,
            conditions,
            metrics,
            journal,
            principal,
        } => {
            commands::check(
                &file,
                &registry,
                commands::CheckOptions {
                    conditions: conditions.conditions(),
                    metrics,
                    journal,
                    json,
                    cancel: interrupt_on_signals(),
                    simulator: Some(Arc::new(drkit::iam::simulate::SdkSimulator::lazy(&aws))),
                    principal,
                },
                &mut out,
                &mut err,
            )
            .await
        }
        Command::Actions => commands::actions(&registry, json, &mut out),
        Command::IamPolicy { file } => commands::iam_policy(&file, &registry, &mut out, &mut err),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            commands::completions(shell, &mut command, &program_name(), &mut out)
        }
        Command::Schema => commands::schema(&registry, &mut out),
        Command::Report { journal } => {
            commands::report(&journal, &aws, json, &mut out, &mut err).await
        }
        Command::Run { run, .. } | Command::Resume { run, .. }
            if run
                .incident_start
                .as_deref()
                .map(commands::parse_incident_start)
                .is_some_and(|r| r.is_err()) =>
        {
            let text = run.incident_start.as_deref().unwrap_or_default();
            let _ = writeln!(
                err,
                "--incident-start {}",
                commands::parse_incident_start(text)
                    .err()
                    .unwrap_or_default()
            );
            EXIT_BAD_INPUT
        }
        Command::Run { file, run } => {
            let options = options(run, cli.quiet, json);
            commands::run(&file, &registry, &aws, options, &mut out, &mut err).await
        }
        // The earlier form, `drkit resume FILE.toml [--journal DIR]`.
        Command::Resume {
            target,
            run,
            operator,
            ..
        } if target.ends_with(".toml") => {
            let mut options = options(run, cli.quiet, json);
            options.operator = operator.decisions();
            let location = options
                .journal
                .clone()
                .unwrap_or_else(|| commands::DEFAULT_JOURNAL_DIR.to_owned());
            let file = PathBuf::from(&target);
            match commands::load(&file, &registry, &mut err) {
                Some(rb) => {
                    let journal = if location.starts_with("s3://") {
                        format!("{}/{}", location.trim_end_matches('/'), rb.name)
                    } else {
                        format!("{location}/{}.journal.jsonl", rb.name)
                    };
                    commands::resume(
                        &journal,
                        Some(&file),
                        &registry,
                        &aws,
                        options,
                        &mut out,
                        &mut err,
                    )
                    .await
                }
                None => EXIT_BAD_INPUT,
            }
        }
        Command::Resume {
            target,
            runbook,
            operator,
            run,
        } => {
            let mut options = options(run, cli.quiet, json);
            options.operator = operator.decisions();
            commands::resume(
                &target,
                runbook.as_deref(),
                &registry,
                &aws,
                options,
                &mut out,
                &mut err,
            )
            .await
        }
    };
    let _ = out.flush();
    ExitCode::from(code)
}

fn options(run: RunArgs, quiet: bool, json: bool) -> RunOptions {
    RunOptions {
        dry_run: run.dry_run,
        journal: run.journal,
        journal_lease: run.journal_lease,
        report: run.report,
        incident_start: run
            .incident_start
            .as_deref()
            .and_then(|t| commands::parse_incident_start(t).ok()),
        auto_approve: run.auto_approve,
        pause_on_failure: run.pause_on_failure,
        webhook: run.webhook,
        progress: ProgressMode::detect(quiet),
        json,
        cancel: interrupt_on_signals(),
        mode: run.conditions.mode.map(Mode::from),
        impaired_regions: run.conditions.impaired_region,
        operator: OperatorDecisions::default(),
    }
}

/// A token cancelled by the first Ctrl-C (SIGINT) or SIGTERM: no new step starts, running
/// steps stop at their next safe point and the journal records it (exit code 3). A second
/// signal exits at once: the journal is still consistent (every record is whole; a step
/// without a recorded end is checked again on resume).
fn interrupt_on_signals() -> CancellationToken {
    use tokio::signal::unix::{SignalKind, signal};
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    tokio::spawn(async move {
        let mut term = signal(SignalKind::terminate()).ok();
        next_signal(term.as_mut()).await;
        eprintln!(
            "\ninterrupted: stopping at the next safe point (press Ctrl-C again to exit now)"
        );
        token.cancel();
        next_signal(term.as_mut()).await;
        eprintln!("interrupted again: exiting now; `drkit resume <journal>` continues the run");
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    });
    cancel
}

/// The next SIGINT or SIGTERM.
async fn next_signal(term: Option<&mut tokio::signal::unix::Signal>) {
    match term {
        Some(term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    /// What the default filter lets through: vaultrs's ERROR for a handled 404 only with
    /// `-vv`, drkit's own warnings always.
    #[test]
    fn vaultrs_error_logs_are_shown_only_with_debug() {
        use std::io::Write;
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let logged = |level: &str| {
            let buf = Buf::default();
            let writer = buf.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(super::log_filter(level)))
                .with_writer(move || writer.clone())
                .with_ansi(false)
                .finish();
            tracing::subscriber::with_default(subscriber, || {
                tracing::error!(target: "vaultrs::api", "The Vault server returned an error (status code 404)");
                tracing::error!(target: "rustify::client", "Server returned error");
                tracing::warn!(target: "drkit_runner", "a drkit warning");
            });
            String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
        };
        let warn = logged("warn");
        assert!(warn.contains("a drkit warning"), "{warn}");
        assert!(!warn.contains("404") && !warn.contains("rustify"), "{warn}");
        let debug = logged("debug");
        assert!(debug.contains("status code 404"), "{debug}");
    }
}
