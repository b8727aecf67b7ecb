//! `drkit`: validate, plan, run, resume and report a recovery runbook.
#![allow(clippy::print_stderr)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use drkit::aws::{AwsContext, AwsSettings};
use drkit_cli::EXIT_BAD_INPUT;
use drkit_cli::commands::{self, RunOptions};

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
    /// Show the steps in execution waves, what each changes, tiers and budgets (no network).
    Plan { file: PathBuf },
    /// Run a runbook.
    Run {
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Resume the last run of a runbook from its journal.
    Resume {
        file: PathBuf,
        #[command(flatten)]
        run: RunArgs,
    },
    /// The report of the last run in a journal file (<dir>/<plan>.journal.jsonl).
    Report { journal: PathBuf },
    /// Every action, with its parameters, outputs and IAM actions.
    Actions,
    /// The least-privilege IAM policy for exactly the actions of a runbook.
    IamPolicy { file: PathBuf },
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Only read-only checks; print what would change.
    #[arg(long)]
    dry_run: bool,
    /// Journal: a directory (default .drkit/journal) or s3://bucket/prefix.
    #[arg(long)]
    journal: Option<String>,
    /// Also write the Markdown report to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// When the incident began: RFC 3339, or a duration ago ("45m"). Default: now.
    #[arg(long)]
    incident_start: Option<String>,
    /// Approve every approval gate without asking.
    #[arg(long)]
    auto_approve: bool,
    /// Slack-compatible webhook for the start notice, summaries and the result.
    #[arg(long)]
    webhook: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();

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
    // Only `run` and `resume` talk to AWS; the other commands build actions without loading
    // credentials or asking the instance metadata service anything.
    let needs_aws = matches!(cli.command, Command::Run { .. } | Command::Resume { .. });
    let aws = if needs_aws {
        AwsContext::load(&settings).await
    } else {
        AwsContext::from_sdk_config(
            aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(
                    cli.region.clone().unwrap_or_else(|| "us-east-1".to_owned()),
                ))
                .build(),
        )
    };
    let registry = match drkit::registry(&aws) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let json = cli.output == Output::Json;
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let code = match cli.command {
        Command::Validate { file } => commands::validate(&file, &registry, &mut out, &mut err),
        Command::Plan { file } => commands::plan(&file, &registry, json, &mut out, &mut err),
        Command::Actions => commands::actions(&registry, json, &mut out),
        Command::IamPolicy { file } => commands::iam_policy(&file, &registry, &mut out, &mut err),
        Command::Report { journal } => commands::report(&journal, json, &mut out, &mut err).await,
        Command::Run { file, run } | Command::Resume { file, run }
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
            let _ = file;
            EXIT_BAD_INPUT
        }
        Command::Run { file, run } => {
            commands::run(
                &file,
                &registry,
                &aws,
                options(run, false),
                &mut out,
                &mut err,
            )
            .await
        }
        Command::Resume { file, run } => {
            commands::run(
                &file,
                &registry,
                &aws,
                options(run, true),
                &mut out,
                &mut err,
            )
            .await
        }
    };
    let _ = out.flush();
    ExitCode::from(code)
}

fn options(run: RunArgs, resume: bool) -> RunOptions {
    RunOptions {
        dry_run: run.dry_run,
        journal: run.journal,
        report: run.report,
        incident_start: run
            .incident_start
            .as_deref()
            .and_then(|t| commands::parse_incident_start(t).ok()),
        auto_approve: run.auto_approve,
        webhook: run.webhook,
        resume,
    }
}
