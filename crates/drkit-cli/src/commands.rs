//! What each `drkit` command does. Output goes to the writer given, so tests can read it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use drkit::aws::Aws;
use drkit::core::CancellationToken;
use drkit::core::registry::Registry;
use drkit::core::{SecretRef, SecretRefError};
use drkit::iam::simulate::{
    NotSimulated, PolicySimulator, is_principal_arn, simulate_caller, simulate_for,
};
use drkit::runner::events::{RunEventSink, TracingEvents, WebhookNotifier};
use drkit::runner::{
    AutoApprove, Conditions, Event, FileJournalStore, JournalStore, Mode, OperatorDecisions,
    Outcome, Permissions, PlanSource, PromptApprover, Readiness, ReadinessReport, Record, Report,
    RunError, Runner, last_run_source, text_fingerprint,
};

use crate::progress::{BarProgress, LineProgress, ProgressMode};
use crate::runbook::{self, Runbook};
use crate::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK};

/// How a runbook's text is loaded: [`runbook::load`], or [`runbook::load_for_plan`].
type Loader = fn(
    &str,
    &str,
    &Arc<Registry>,
    &dyn Fn(&str) -> Option<String>,
) -> Result<Runbook, runbook::Invalid>;

/// Reads and validates a runbook; on error writes every problem to `err` and returns `None`.
pub fn load(path: &Path, registry: &Arc<Registry>, err: &mut dyn Write) -> Option<Runbook> {
    load_using(runbook::load, path, registry, err)
}

fn load_using(
    loader: Loader,
    path: &Path,
    registry: &Arc<Registry>,
    err: &mut dyn Write,
) -> Option<Runbook> {
    let shown = path.display().to_string();
    let text = match read_text(path) {
        Ok(text) => text,
        Err(message) => {
            let _ = writeln!(err, "{shown}: {message}");
            return None;
        }
    };
    parse_using(loader, &shown, &text, registry, err)
}

/// Validates a runbook's `text` (read from `shown`); on error writes every problem to `err`.
fn parse(
    shown: &str,
    text: &str,
    registry: &Arc<Registry>,
    err: &mut dyn Write,
) -> Option<Runbook> {
    parse_using(runbook::load, shown, text, registry, err)
}

fn parse_using(
    loader: Loader,
    shown: &str,
    text: &str,
    registry: &Arc<Registry>,
    err: &mut dyn Write,
) -> Option<Runbook> {
    match loader(shown, text, registry, &|name| std::env::var(name).ok()) {
        Ok(runbook) => Some(runbook),
        Err(invalid) => {
            let _ = writeln!(err, "{invalid}");
            let n = invalid.problems.len();
            let _ = writeln!(err, "{n} problem{} found", if n == 1 { "" } else { "s" });
            None
        }
    }
}

/// A runbook file's text: refuses huge and non-UTF-8 files cleanly.
fn read_text(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.len() > runbook::MAX_SIZE as u64 {
        return Err(format!(
            "{} bytes: larger than the {} KiB a runbook may have",
            meta.len(),
            runbook::MAX_SIZE / 1024
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// `drkit validate FILE`.
pub fn validate(
    path: &Path,
    registry: &Arc<Registry>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    match load(path, registry, err) {
        Some(rb) => {
            let _ = writeln!(
                out,
                "{}: runbook `{}` is valid ({} steps)",
                path.display(),
                rb.name,
                rb.kinds.len()
            );
            EXIT_OK
        }
        None => EXIT_BAD_INPUT,
    }
}

/// The steps in execution waves: wave n holds the steps whose dependencies are all in earlier
/// waves.
pub fn waves(rb: &Runbook) -> Vec<Vec<String>> {
    let mut level: BTreeMap<&str, usize> = BTreeMap::new();
    for id in rb.plan.topological_order() {
        let deps = rb
            .plan
            .step(id)
            .map(|s| s.dependencies().to_vec())
            .unwrap_or_default();
        let l = deps
            .iter()
            .filter_map(|d| level.get(d.as_str()))
            .max()
            .map_or(0, |m| m + 1);
        level.insert(id, l);
    }
    let mut waves: Vec<Vec<String>> = Vec::new();
    for (id, _) in &rb.kinds {
        let l = level.get(id.as_str()).copied().unwrap_or(0);
        if waves.len() <= l {
            waves.resize(l + 1, Vec::new());
        }
        waves[l].push(id.clone());
    }
    waves
}

/// `drkit plan FILE`: no network; the waves, what each step does, tiers and budgets. Needs no
/// value from this machine: an unset `${env.NAME}` or a secret reference that cannot be read
/// here is shown per step and warned about once on `err` (`validate` and `run` need it).
pub fn plan(
    path: &Path,
    registry: &Arc<Registry>,
    conditions: &Conditions,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some(rb) = load_using(runbook::load_for_plan, path, registry, err) else {
        return EXIT_BAD_INPUT;
    };
    for warning in rb.unresolved_warnings() {
        let _ = writeln!(err, "{warning}");
    }
    let skipped: BTreeMap<String, String> = rb.plan.skipped_under(conditions).into_iter().collect();
    let regions: Vec<&str> = conditions
        .impaired_regions
        .iter()
        .map(String::as_str)
        .collect();
    let kinds: BTreeMap<&str, &str> = rb
        .kinds
        .iter()
        .map(|(i, k)| (i.as_str(), k.as_str()))
        .collect();
    let waves = waves(&rb);
    if json {
        let doc = serde_json::json!({
            "name": rb.name,
            "waves": waves.iter().map(|w| w.iter().map(|id| {
                let kind = kinds.get(id.as_str()).copied().unwrap_or_default();
                let step = rb.plan.step(id);
                serde_json::json!({
                    "step": id,
                    "action": kind,
                    "mutates": registry.descriptor(kind).is_some_and(|d| d.mutates),
                    "tier": step.map(|s| s.step_tier().as_str()),
                    "depends_on": step.map(|s| s.dependencies().to_vec()),
                    "region": step.and_then(|s| s.region()),
                    "skipped": skipped.get(id.as_str()),
                    "unresolved": rb.unresolved.get(id.as_str()).map(|u| serde_json::json!({
                        "variables": u.variables,
                        "secrets": u.secrets,
                    })),
                })
            }).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "rto": serde_json::to_value(&rb.rto).unwrap_or_default(),
            "rpo": serde_json::to_value(&rb.rpo).unwrap_or_default(),
            "mode": conditions.mode,
            "impaired_regions": regions,
        });
        let _ = writeln!(out, "{doc:#}");
        return EXIT_OK;
    }
    let _ = writeln!(
        out,
        "plan `{}`{}",
        rb.name,
        rb.description
            .as_deref()
            .map(|d| format!(" — {d}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "mode {}{}",
        conditions.mode,
        if regions.is_empty() {
            String::new()
        } else {
            format!("; impaired regions: {}", regions.join(", "))
        }
    );
    for (i, wave) in waves.iter().enumerate() {
        let _ = writeln!(
            out,
            "\nwave {} ({} step{} at once)",
            i + 1,
            wave.len(),
            if wave.len() == 1 { "" } else { "s" }
        );
        for id in wave {
            let kind = kinds.get(id.as_str()).copied().unwrap_or_default();
            let descriptor = registry.descriptor(kind);
            let tier = rb.plan.step(id).map_or("full", |s| s.step_tier().as_str());
            let effect = if descriptor.is_some_and(|d| d.mutates) {
                "CHANGES"
            } else {
                "reads"
            };
            if let Some(why) = skipped.get(id.as_str()) {
                let _ = writeln!(out, "  {id:<28} {kind:<40} SKIPPED: {why}");
            } else {
                let _ = writeln!(
                    out,
                    "  {id:<28} {kind:<40} {effect:<7} tier {tier}{}",
                    descriptor
                        .map(|d| format!(" — {}", d.summary))
                        .unwrap_or_default()
                );
            }
            if let Some(u) = rb.unresolved.get(id.as_str()) {
                write_unresolved(u, out);
            }
        }
    }
    let _ = writeln!(
        out,
        "\nRTO budgets from the incident start: critical {}, non-critical {}, full {}",
        humantime::format_duration(rb.rto.critical),
        humantime::format_duration(rb.rto.non_critical),
        humantime::format_duration(rb.rto.full)
    );
    if let Ok(rpo) = serde_json::to_value(&rb.rpo) {
        let _ = writeln!(out, "RPO objectives: {rpo}");
    }
    EXIT_OK
}

/// Under a step of `plan`: what its parameters need from this machine and did not get.
fn write_unresolved(u: &runbook::Unresolved, out: &mut dyn Write) {
    let list = |set: &std::collections::BTreeSet<String>| {
        set.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !u.variables.is_empty() {
        let _ = writeln!(
            out,
            "      parameters depend on unset environment (only their names checked here): {}",
            list(&u.variables)
        );
    }
    if !u.secrets.is_empty() {
        let _ = writeln!(
            out,
            "      secrets not readable here (shown as references): {}",
            list(&u.secrets)
        );
    }
}

/// `drkit actions`: every registered action with its parameters, outputs and IAM actions.
pub fn actions(registry: &Registry, json: bool, out: &mut dyn Write) -> u8 {
    if json {
        let list: Vec<_> = registry.descriptors().collect();
        let _ = writeln!(out, "{:#}", serde_json::to_value(list).unwrap_or_default());
        return EXIT_OK;
    }
    for d in registry.descriptors() {
        let _ = writeln!(
            out,
            "{} — {}{}",
            d.kind,
            d.summary,
            if d.mutates { "" } else { " (read-only)" }
        );
        for p in d.params {
            let _ = writeln!(
                out,
                "    {}{}: {} — {}",
                p.name,
                if p.required { "" } else { "?" },
                p.ty,
                p.doc
            );
        }
        if !d.outputs.is_empty() {
            let names: Vec<&str> = d.outputs.iter().map(|o| o.name).collect();
            let _ = writeln!(out, "    outputs: {}", names.join(", "));
        }
        let _ = writeln!(out, "    IAM: {}", d.iam_actions.join(", "));
    }
    EXIT_OK
}

/// `drkit iam-policy FILE`: the least-privilege policy for exactly the runbook's actions.
/// Like `plan`, it needs no value from this machine (only the steps' kinds matter).
pub fn iam_policy(
    path: &Path,
    registry: &Arc<Registry>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some(rb) = load_using(runbook::load_for_plan, path, registry, err) else {
        return EXIT_BAD_INPUT;
    };
    match drkit::iam_policy(registry, rb.kinds.iter().map(|(_, k)| k.as_str())) {
        Ok(policy) => {
            let _ = writeln!(out, "{policy:#}");
            EXIT_OK
        }
        Err(e) => {
            let _ = writeln!(err, "{e}");
            EXIT_BAD_INPUT
        }
    }
}

/// `drkit completions SHELL`: the completion script of `command` (invoked as `bin_name`).
pub fn completions(
    shell: clap_complete::Shell,
    command: &mut clap::Command,
    bin_name: &str,
    out: &mut dyn Write,
) -> u8 {
    clap_complete::generate(shell, command, bin_name, out);
    EXIT_OK
}

/// `drkit schema`: the runbook file's JSON Schema, with the actions of `registry`.
pub fn schema(registry: &Registry, out: &mut dyn Write) -> u8 {
    let _ = writeln!(out, "{:#}", crate::schema::runbook_schema(registry));
    EXIT_OK
}

/// Options of `drkit run` and `drkit resume`.
#[derive(Debug)]
pub struct RunOptions {
    /// Only read-only checks; print what would change.
    pub dry_run: bool,
    /// A directory for file journals, or `s3://bucket/prefix`.
    pub journal: Option<String>,
    /// The lease of an S3 journal's lock (how soon another machine may take over the run of
    /// one that died); default [`drkit::journal_s3::DEFAULT_LEASE`].
    pub journal_lease: Option<Duration>,
    /// Where to write the Markdown report.
    pub report: Option<PathBuf>,
    /// When the incident began (RFC 3339); default: the run's start.
    pub incident_start: Option<SystemTime>,
    /// Approve every approval gate without asking.
    pub auto_approve: bool,
    /// At a failed step, ask at the terminal what to do (retry, skip, continue, rollback,
    /// abort); needs a terminal.
    pub pause_on_failure: bool,
    /// A Slack-compatible webhook for start, summaries and result: a secret reference
    /// (`env:NAME`, `file:PATH`, `prompt:LABEL`) to its URL, never the URL itself (see
    /// [`start_webhook`]).
    pub webhook: Option<String>,
    /// How to show progress on stderr.
    pub progress: ProgressMode,
    /// Print the report as JSON rather than Markdown.
    pub json: bool,
    /// Cancelled on Ctrl-C (SIGINT) or SIGTERM: no new step starts, running steps stop at a
    /// safe point, the journal stays consistent, the exit code is 3.
    pub cancel: CancellationToken,
    /// The run's mode (`--mode`); a new run defaults to graceful, a resume keeps its journal's.
    pub mode: Option<Mode>,
    /// The regions known impaired (`--impaired-region`); a resume given none keeps its
    /// journal's.
    pub impaired_regions: Vec<String>,
    /// The operator's decisions for a resume (`--retry`, `--skip`).
    pub operator: OperatorDecisions,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            journal: None,
            journal_lease: None,
            report: None,
            incident_start: None,
            auto_approve: false,
            pause_on_failure: false,
            webhook: None,
            progress: ProgressMode::Off,
            json: false,
            cancel: CancellationToken::new(),
            mode: None,
            impaired_regions: Vec::new(),
            operator: OperatorDecisions::default(),
        }
    }
}

/// The default journal directory.
pub const DEFAULT_JOURNAL_DIR: &str = ".drkit/journal";

/// The journal store at `location`: a directory, or `s3://bucket/prefix` (with `lease` for
/// its lock, if given).
///
/// AWS configuration is loaded only for an S3 journal. With `impaired` regions, an S3 journal
/// whose bucket is in one of them is refused: the run could neither journal nor be resumed.
async fn journal_store(
    location: &str,
    aws: &Aws,
    lease: Option<Duration>,
    impaired: &[String],
) -> Result<Arc<dyn JournalStore>, String> {
    if location.starts_with("s3://") {
        let store = drkit::journal_s3::S3JournalStore::from_url(location, aws.context().await)
            .map(|s| match lease {
                Some(lease) => s.with_lease(lease),
                None => s,
            })
            .map_err(|e| e.to_string())?;
        if !impaired.is_empty() {
            let region = store
                .bucket_region()
                .await
                .map_err(|e| format!("cannot tell which region the journal's bucket is in: {e}"))?;
            if impaired.contains(&region) {
                return Err(format!(
                    "the journal's bucket is in {region}, which --impaired-region says is \
                     impaired: the run could neither write its journal nor be resumed from it; \
                     give --journal a bucket in a healthy region (s3://...) or a directory"
                ));
            }
        }
        Ok(Arc::new(store) as Arc<dyn JournalStore>)
    } else {
        FileJournalStore::new(location)
            .map(|s| Arc::new(s) as Arc<dyn JournalStore>)
            .map_err(|e| e.to_string())
    }
}

/// Where one plan's journal is: a file `<dir>/<plan>.journal.jsonl`, or an S3 folder
/// `s3://bucket/prefix/<plan>` (what `drkit run --journal s3://bucket/prefix` writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLocation {
    /// What to give [`journal_store`]: a directory or `s3://bucket/prefix`.
    pub store: String,
    /// The plan's name.
    pub plan: String,
}

impl JournalLocation {
    /// Parses a journal as named on the command line.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(rest) = text.strip_prefix("s3://") {
            let rest = rest.trim_end_matches('/');
            let Some((store, plan)) = rest.rsplit_once('/') else {
                return Err(format!(
                    "`{text}`: expected s3://bucket/prefix/<plan>, the plan's journal folder"
                ));
            };
            if plan.is_empty() || store.is_empty() {
                return Err(format!("`{text}`: expected s3://bucket/prefix/<plan>"));
            }
            return Ok(Self {
                store: format!("s3://{store}"),
                plan: plan.to_owned(),
            });
        }
        let path = Path::new(text);
        let Some(plan) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".journal.jsonl"))
        else {
            return Err(format!(
                "`{text}`: expected a journal file named <plan>.journal.jsonl or s3://bucket/prefix/<plan>"
            ));
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Ok(Self {
            store: dir.display().to_string(),
            plan: plan.to_owned(),
        })
    }
}

/// `drkit run FILE`.
pub async fn run(
    path: &Path,
    registry: &Arc<Registry>,
    aws: &Aws,
    options: RunOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some(rb) = load(path, registry, err) else {
        return EXIT_BAD_INPUT;
    };
    let location = options
        .journal
        .clone()
        .unwrap_or_else(|| DEFAULT_JOURNAL_DIR.to_owned());
    let store = match journal_store(
        &location,
        aws,
        options.journal_lease,
        &options.impaired_regions,
    )
    .await
    {
        Ok(store) => store,
        Err(e) => {
            let _ = writeln!(err, "--journal {location}: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    execute(rb, store, false, options, out, err).await
}

/// `drkit resume JOURNAL`: the runbook is the one the journal recorded when the run started.
/// `runbook` must be the same text (same SHA-256 fingerprint; the refusal names both), or, for
/// a journal written before drkit recorded runbooks, gives it. The plan must be unchanged: a
/// resume of a changed plan is refused.
///
/// Whoever can write the journal chooses what a resume runs with the operator's credentials:
/// the run, its state, the runbook's origin and fingerprint are shown on `err` first, and the
/// resume needs `--auto-approve` or a `yes` at the terminal (standard input that is not a
/// terminal is refused, exit 2; Ctrl-C at the prompt exits 3).
pub async fn resume(
    journal: &str,
    runbook: Option<&Path>,
    registry: &Arc<Registry>,
    aws: &Aws,
    options: RunOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let location = match JournalLocation::parse(journal) {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return EXIT_BAD_INPUT;
        }
    };
    let store = match journal_store(
        &location.store,
        aws,
        options.journal_lease,
        &options.impaired_regions,
    )
    .await
    {
        Ok(store) => store,
        Err(e) => {
            let _ = writeln!(err, "{journal}: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let records = match store.load(&location.plan).await {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "{journal}: {e}");
            return EXIT_FAILED;
        }
    };
    let Some(last) = LastRun::find(&records) else {
        let _ = writeln!(
            err,
            "{journal}: nothing to resume: the journal holds no run of plan `{}`",
            location.plan
        );
        return EXIT_BAD_INPUT;
    };
    let stored = last.source;
    // The runbook to run, the text it was read from, and where.
    let (text, shown) = if let Some(file) = runbook {
        let shown = file.display().to_string();
        let text = match read_text(file) {
            Ok(text) => text,
            Err(message) => {
                let _ = writeln!(err, "{shown}: {message}");
                return EXIT_BAD_INPUT;
            }
        };
        // The journal's runbook and the file must be the same text: otherwise the resume would
        // run something else than what the journal's run ran (or than what the operator read).
        if let Some(stored) = stored
            && stored.fingerprint() != text_fingerprint(&text)
        {
            let _ = writeln!(
                err,
                "{journal}: not resumed: the journal's runbook ({}, fingerprint {}) differs from \
                 {shown} (fingerprint {}); resume without --runbook to run the journal's \
                 runbook, or start a new run with `drkit run {shown}`",
                stored.origin,
                stored.fingerprint(),
                text_fingerprint(&text),
            );
            return EXIT_BAD_INPUT;
        }
        (text, shown)
    } else {
        let Some(source) = stored else {
            let _ = writeln!(
                err,
                "{journal}: no run of `{}` with its runbook recorded; give the runbook with --runbook FILE",
                location.plan
            );
            return EXIT_BAD_INPUT;
        };
        (
            source.text.clone(),
            format!("{} (as recorded in {journal})", source.origin),
        )
    };
    let Some(rb) = parse(&shown, &text, registry, err) else {
        return EXIT_BAD_INPUT;
    };
    if rb.name != location.plan {
        let _ = writeln!(
            err,
            "{journal}: the journal is of plan `{}`, the runbook is `{}`",
            location.plan, rb.name
        );
        return EXIT_BAD_INPUT;
    }
    // What will run, with the operator's credentials: shown, then approved.
    let _ = writeln!(err, "{}", last.describe(&rb.name, &shown, &text));
    if let Err(refusal) = approve_resume(options.auto_approve, &options.cancel, err).await {
        let _ = writeln!(err, "{journal}: not resumed: {}", refusal.message);
        return refusal.code;
    }
    execute(rb, store, true, options, out, err).await
}

/// The last (not resumed) run in a journal, as `resume` shows it before asking.
struct LastRun<'a> {
    run: &'a str,
    holder: &'a str,
    source: Option<&'a PlanSource>,
    outcome: Option<Outcome>,
    rollback_started: bool,
}

impl<'a> LastRun<'a> {
    fn find(records: &'a [Record]) -> Option<Self> {
        let (first, holder) = records.iter().rev().find_map(|r| match &r.event {
            Event::RunStarted {
                resumed: false,
                holder,
                ..
            } => Some((r, holder.as_str())),
            _ => None,
        })?;
        let run = first.run.as_str();
        let mine = || records.iter().filter(move |r| r.run == run);
        Some(Self {
            run,
            holder,
            source: last_run_source(records),
            outcome: mine().rev().find_map(|r| match r.event {
                Event::RunFinished { outcome } => Some(outcome),
                _ => None,
            }),
            rollback_started: mine().any(|r| matches!(r.event, Event::RollbackStarted { .. })),
        })
    }

    /// The run, its state and the runbook that will run (`shown`, `text`), with its
    /// fingerprint.
    fn describe(&self, name: &str, shown: &str, text: &str) -> String {
        let state = match self.outcome {
            None => "has not finished (stopped or killed)",
            Some(Outcome::Succeeded) => "succeeded",
            Some(Outcome::Failed) => "failed",
            Some(Outcome::RolledBack) => "failed and was rolled back",
            Some(Outcome::RollbackFailed) => "failed, and its rollback failed",
            Some(Outcome::Interrupted) => "was interrupted",
        };
        let next = if self.rollback_started {
            "its rollback started: the resume only continues the rollback and executes no step"
        } else {
            "the resume runs the steps not done yet"
        };
        format!(
            "resume: run `{}` of plan `{name}` (started by {}): {state}; {next}\n  \
             runbook: {shown}\n  fingerprint: {} (what `sha256sum` prints for the runbook file)",
            self.run,
            self.holder,
            text_fingerprint(text),
        )
    }
}

/// Why a resume was not approved, and the exit code.
#[derive(Debug)]
struct Refusal {
    message: String,
    code: u8,
}

/// Approves a resume: `--auto-approve`, or a `yes` typed at the terminal. Standard input that
/// is not a terminal is refused without reading it (a script must say `--auto-approve`).
async fn approve_resume(
    auto_approve: bool,
    cancel: &CancellationToken,
    err: &mut dyn Write,
) -> Result<(), Refusal> {
    use std::io::IsTerminal as _;
    if auto_approve {
        let _ = writeln!(err, "  approved by --auto-approve");
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Refusal {
            message: "resuming runs the runbook above with your credentials and needs your \
                      approval, but standard input is not a terminal; check the fingerprint, \
                      then pass --auto-approve"
                .to_owned(),
            code: EXIT_BAD_INPUT,
        });
    }
    let _ = write!(err, "Resume with this runbook? [yes/no] ");
    let _ = err.flush();
    match read_line(cancel).await {
        Answer::Line(line) if approves(&line) => Ok(()),
        Answer::Line(line) => Err(Refusal {
            message: format!("answered `{}` at the prompt", line.trim()),
            code: EXIT_BAD_INPUT,
        }),
        Answer::Closed => Err(Refusal {
            message: "no answer: standard input is closed (pass --auto-approve for unattended \
                      resumes)"
                .to_owned(),
            code: EXIT_BAD_INPUT,
        }),
        Answer::Cancelled => Err(Refusal {
            message: "interrupted at the prompt".to_owned(),
            code: EXIT_INTERRUPTED,
        }),
    }
}

/// Whether an answer typed at a prompt approves: `y` or `yes`, as for approval gates.
fn approves(line: &str) -> bool {
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

enum Answer {
    Line(String),
    Closed,
    Cancelled,
}

/// A line from standard input, or `Cancelled` on Ctrl-C. Read on a thread of its own: a
/// blocking read left behind on Ctrl-C must not hold the runtime's shutdown.
async fn read_line(cancel: &CancellationToken) -> Answer {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let answer = match std::io::stdin().read_line(&mut line) {
            Ok(0) | Err(_) => Answer::Closed,
            Ok(_) => Answer::Line(line),
        };
        let _ = tx.send(answer);
    });
    tokio::select! {
        () = cancel.cancelled() => Answer::Cancelled,
        answer = rx => answer.unwrap_or(Answer::Closed),
    }
}

/// What `--webhook` says when given a URL rather than a reference to one.
const WEBHOOK_URL_REFUSED: &str = "give a secret reference to the webhook URL, not the URL: \
     `--webhook env:NAME` (an environment variable holding it) or `--webhook file:PATH` (a file \
     holding it, e.g. mode 0600). A webhook URL is a credential, and a command-line argument \
     is visible to every local user (ps, /proc) and kept in shell history";

/// Starts the webhook notifier of `--webhook REFERENCE`: the URL is read from the secret
/// reference (`env:NAME`, `file:PATH`, `prompt:LABEL`). A plain URL is refused (it would
/// already be in the process list and the shell history). Errors never show the URL, nor what
/// was given when it looks like one.
pub fn start_webhook(reference: &str) -> Result<WebhookNotifier, String> {
    let secret: SecretRef = reference.trim().parse().map_err(|e: SecretRefError| {
        if reference.contains("://") {
            WEBHOOK_URL_REFUSED.to_owned()
        } else {
            e.to_string()
        }
    })?;
    let url = secret.resolve().map_err(|e| format!("{secret}: {e}"))?;
    WebhookNotifier::start(url, WebhookNotifier::DEFAULT_SUMMARY_EVERY)
        .map_err(|e| format!("{secret}: {e}"))
}

/// What `drkit check` is asked.
#[derive(Debug, Default)]
pub struct CheckOptions {
    /// The mode and impaired regions to evaluate under.
    pub conditions: Conditions,
    /// Where to write the OpenMetrics text.
    pub metrics: Option<PathBuf>,
    /// Where the last result is kept, for drift.
    pub journal: Option<PathBuf>,
    /// Print JSON rather than the table.
    pub json: bool,
    /// Cancelled on Ctrl-C.
    pub cancel: CancellationToken,
    /// Simulates the caller's permissions (IAM's policy simulator); `None`: not checked.
    pub simulator: Option<Arc<dyn PolicySimulator>>,
    /// The role or user ARN whose permissions are simulated; `None`: the caller's.
    pub principal: Option<String>,
}

/// Whether the caller may do what the steps of `report` to run need: IAM's policy simulator
/// for the actions of `drkit iam-policy`, unless IAM's API is out of reach (its control plane
/// is in us-east-1) or no simulator was given.
async fn permissions(
    report: &ReadinessReport,
    needs: &dyn Fn(&str) -> Vec<String>,
    conditions: &Conditions,
    simulator: Option<&dyn PolicySimulator>,
    principal: Option<&str>,
) -> Permissions {
    let actions: BTreeSet<String> = report.kinds_to_run().into_iter().flat_map(needs).collect();
    if actions.is_empty() {
        return Permissions::NotNeeded;
    }
    let Some(simulator) = simulator else {
        return Permissions::NotChecked {
            reason: "no policy simulator was given".to_owned(),
        };
    };
    if conditions.impaired_regions.contains(IAM_REGION) {
        return Permissions::NotChecked {
            reason: format!(
                "IAM's API is served from {IAM_REGION}, which is impaired (`drkit iam-policy` \
                 prints what the plan needs)"
            ),
        };
    }
    let simulated = match principal {
        Some(principal) => simulate_for(simulator, principal, &actions).await,
        None => simulate_caller(simulator, &actions).await,
    };
    match simulated {
        Ok(simulated) => Permissions::Checked {
            denied: simulated.denied(),
            principal: simulated.principal,
            actions: actions.len(),
        },
        Err(NotSimulated(reason)) => Permissions::NotChecked { reason },
    }
}

/// Where IAM's control plane (its API, the policy simulator) runs in the `aws` partition.
const IAM_REGION: &str = "us-east-1";

/// `drkit check FILE`: the readiness table (or JSON), drift since the last check kept in
/// `journal`, OpenMetrics to `metrics`. Exit 0 ready, 1 not ready, 2 bad input (checked before
/// any request: the runbook, the metrics file's directory, the journal directory).
pub async fn check(
    path: &Path,
    registry: &Arc<Registry>,
    options: CheckOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some(rb) = load(path, registry, err) else {
        return EXIT_BAD_INPUT;
    };
    if let Some(metrics) = &options.metrics {
        let dir = metrics.parent().filter(|d| !d.as_os_str().is_empty());
        if dir.is_some_and(|d| !d.is_dir()) {
            let _ = writeln!(
                err,
                "--metrics {}: the directory does not exist",
                metrics.display()
            );
            return EXIT_BAD_INPUT;
        }
    }
    if let Some(dir) = &options.journal
        && !dir.is_dir()
    {
        let _ = writeln!(err, "--journal {}: not a directory", dir.display());
        return EXIT_BAD_INPUT;
    }
    if let Some(principal) = &options.principal
        && !is_principal_arn(principal)
    {
        let _ = writeln!(
            err,
            "--principal {principal}: not the ARN of an IAM role or user \
             (arn:aws:iam::<account>:role/<name> or .../user/<name>)"
        );
        return EXIT_BAD_INPUT;
    }
    let runner = Runner::new()
        .with_cancellation(options.cancel.clone())
        .with_mode(options.conditions.mode)
        .with_impaired_regions(options.conditions.impaired_regions.iter().cloned());
    let mut report = runner.readiness(&rb.plan).await;
    let needs = |kind: &str| -> Vec<String> {
        registry
            .descriptor(kind)
            .map(|d| d.iam_actions.iter().map(|a| (*a).to_owned()).collect())
            .unwrap_or_default()
    };
    let simulated = permissions(
        &report,
        &needs,
        &options.conditions,
        options.simulator.as_deref(),
        options.principal.as_deref(),
    )
    .await;
    report.apply_permissions(simulated, needs);
    if options.cancel.is_cancelled() {
        let _ = writeln!(err, "interrupted");
        return EXIT_INTERRUPTED;
    }
    // Drift: against the last check kept in the journal directory, then keep this one.
    let mut drift = None;
    if let Some(dir) = &options.journal {
        let kept = dir.join(format!("{}.readiness.json", rb.name));
        if let Ok(text) = std::fs::read_to_string(&kept) {
            match serde_json::from_str::<ReadinessReport>(&text) {
                Ok(earlier) => drift = Some((earlier.at, report.drift_since(&earlier))),
                Err(e) => {
                    let _ = writeln!(
                        err,
                        "{}: not a readiness result ({e}); replaced",
                        kept.display()
                    );
                }
            }
        }
        if let Err(e) = write_whole(
            &kept,
            &serde_json::to_string_pretty(&report).unwrap_or_default(),
        ) {
            let _ = writeln!(err, "{}: {e}", kept.display());
        }
    }
    if let Some(metrics) = &options.metrics
        && let Err(e) = write_whole(metrics, &report.to_openmetrics())
    {
        let _ = writeln!(err, "--metrics {}: {e}", metrics.display());
    }
    if options.json {
        let mut doc = serde_json::to_value(&report).unwrap_or_default();
        doc["ready"] = report.is_ready().into();
        if let Some((_, changes)) = &drift {
            doc["drift"] = serde_json::json!(changes);
        }
        let _ = writeln!(out, "{doc:#}");
    } else {
        let _ = writeln!(out, "{}", report.to_markdown());
        if let Some((at, changes)) = &drift {
            let since = humantime::format_rfc3339_seconds(*at);
            if changes.is_empty() {
                let _ = writeln!(out, "\nNo drift since the last check ({since}).");
            } else {
                let _ = writeln!(out, "\nDrift since the last check ({since}):");
                for c in changes {
                    let _ = writeln!(out, "- {c}");
                }
            }
        }
    }
    for s in report.not_ready() {
        if let Readiness::NotReady { reason } = &s.readiness {
            let _ = writeln!(err, "not ready: {}: {reason}", s.id);
        }
    }
    if report.is_ready() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// Writes `text` to `path` whole: a temporary file in the same directory, then renamed, so a
/// reader (a textfile collector) never sees half of it.
fn write_whole(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("out")
    ));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Who the person at this terminal is, for the journal: `$USER@host` (`operator` when unset).
pub fn operator_identity() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "operator".to_owned());
    match std::fs::read_to_string("/proc/sys/kernel/hostname") {
        Ok(host) if !host.trim().is_empty() => format!("{user}@{}", host.trim()),
        _ => user,
    }
}

/// Runs (or resumes) a loaded runbook with its journal in `store`.
async fn execute(
    rb: Runbook,
    store: Arc<dyn JournalStore>,
    resume: bool,
    options: RunOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let cancel = options.cancel.clone();
    let mut runner = Runner::new()
        .with_cancellation(cancel.clone())
        .with_rto(rb.rto.clone())
        .with_rpo(rb.rpo.clone())
        .with_sink(Arc::new(TracingEvents))
        .with_shared_journal(Arc::clone(&store));
    if let Some(mode) = options.mode {
        runner = runner.with_mode(mode);
    }
    if !resume || !options.impaired_regions.is_empty() {
        runner = runner.with_impaired_regions(options.impaired_regions.clone());
    }
    match options.progress {
        ProgressMode::Bars => runner = runner.with_sink(Arc::new(BarProgress::new(rb.plan.len()))),
        ProgressMode::Lines => {
            runner = runner.with_sink(Arc::new(LineProgress::new(std::io::stderr())));
        }
        ProgressMode::Off => {}
    }
    if let Some(at) = options.incident_start {
        runner = runner.with_incident_start(at);
    }
    if options.pause_on_failure && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let _ = writeln!(
            err,
            "--pause-on-failure asks at a terminal, and standard input is not one"
        );
        return EXIT_BAD_INPUT;
    }
    runner = if options.auto_approve {
        runner.with_approver(AutoApprove::new("auto-approve (--auto-approve)"))
    } else {
        // One prompt for approvals and failures: the two questions never interleave.
        let who = operator_identity();
        let prompt = Arc::new(PromptApprover::terminal(format!("{who} (terminal)")));
        if options.pause_on_failure {
            runner = runner.with_failure_handler(Arc::clone(&prompt) as _);
        }
        runner.with_approver(prompt)
    };
    runner = runner.with_operator_decisions(options.operator.clone());
    let webhook = match options.webhook.as_deref().map(start_webhook) {
        Some(Ok(w)) => Some(Arc::new(w)),
        Some(Err(e)) => {
            let _ = writeln!(err, "--webhook: {e}");
            return EXIT_BAD_INPUT;
        }
        None => None,
    };
    if let Some(w) = &webhook {
        runner = runner.with_sink(Arc::clone(w) as Arc<dyn RunEventSink>);
    }

    if options.dry_run {
        let report = runner.dry_run(&rb.plan).await;
        let _ = writeln!(out, "{}", report.to_markdown());
        return if cancel.is_cancelled() {
            EXIT_INTERRUPTED
        } else if report.problems().next().is_some() {
            EXIT_FAILED
        } else {
            EXIT_OK
        };
    }
    let result = if resume {
        runner.resume(&rb.plan).await
    } else {
        runner.run(&rb.plan).await
    };
    if let Some(w) = &webhook {
        let stats = w.finish().await;
        tracing::info!(?stats, "webhook");
    }
    let (report, code) = match result {
        Ok(report) => (report, EXIT_OK),
        Err(RunError::Unsuccessful(report)) => {
            let code = if report.outcome == Some(Outcome::Interrupted) {
                EXIT_INTERRUPTED
            } else {
                EXIT_FAILED
            };
            (*report, code)
        }
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return if matches!(
                e,
                RunError::NothingToResume { .. }
                    | RunError::PlanChanged { .. }
                    | RunError::OperatorDecision(_)
            ) {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILED
            };
        }
    };
    let report = with_trend(report, store.as_ref(), rb.plan.name(), None, err).await;
    write_report(&report, options.report.as_deref(), options.json, out, err);
    if code == EXIT_INTERRUPTED {
        let _ = writeln!(
            err,
            "interrupted: the journal is consistent; continue with `drkit resume <journal>`"
        );
    }
    code
}

fn write_report(
    report: &Report,
    path: Option<&Path>,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) {
    let md = report.to_markdown();
    if json {
        let _ = writeln!(out, "{:#}", report.to_json());
    } else {
        let _ = writeln!(out, "{md}");
    }
    if let Some(path) = path
        && let Err(e) = std::fs::write(path, &md)
    {
        let _ = writeln!(err, "--report {}: {e}", path.display());
    }
}

/// `drkit report JOURNAL`: the report of the last run in a journal (`<dir>/<plan>.journal.jsonl`
/// or `s3://bucket/prefix/<plan>`), built from the journal alone.
pub async fn report(
    journal: &str,
    aws: &Aws,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let loaded = match JournalLocation::parse(journal) {
        Ok(location) => match journal_store(&location.store, aws, None, &[]).await {
            Ok(store) => match store.load(&location.plan).await {
                Ok(records) => Ok((store, location.plan, records)),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let (store, plan, records) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            let _ = writeln!(err, "{journal}: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let last_run = records.last().map(|r| r.run.clone()).unwrap_or_default();
    let report = match Report::for_run(&records, &last_run) {
        Ok(report) => Ok(with_trend(report, store.as_ref(), &plan, Some(records), err).await),
        Err(e) => Err(e),
    };
    match report {
        Ok(report) if json => {
            let _ = writeln!(out, "{:#}", report.to_json());
            EXIT_OK
        }
        Ok(report) => {
            let _ = writeln!(out, "{}", report.to_markdown());
            EXIT_OK
        }
        Err(e) => {
            let _ = writeln!(err, "{journal}: {e}");
            EXIT_BAD_INPUT
        }
    }
}

/// `report` with each step's duration against the plan's previous successful run, looked up in
/// the store: its archive, then its journal (`current`, or loaded: a store such as S3 keeps
/// every run there). A journal that cannot be read only costs the trend, said on `err`.
async fn with_trend(
    report: Report,
    store: &dyn JournalStore,
    plan: &str,
    current: Option<Vec<Record>>,
    err: &mut dyn Write,
) -> Report {
    let current = match current {
        Some(records) => Ok(records),
        None => store.load(plan).await,
    };
    match (store.load_archived(plan).await, current) {
        (Ok(mut records), Ok(current)) => {
            records.extend(current);
            report.with_previous(&records)
        }
        (Err(e), _) | (_, Err(e)) => {
            let _ = writeln!(
                err,
                "no trend against the previous run: its journal could not be read: {e}"
            );
            report
        }
    }
}

/// Parses `--incident-start`: RFC 3339, or a duration ago (`"45m"`).
pub fn parse_incident_start(text: &str) -> Result<SystemTime, String> {
    if let Ok(at) = humantime::parse_rfc3339_weak(text) {
        return Ok(at);
    }
    humantime::parse_duration(text)
        .ok()
        .and_then(|ago: Duration| SystemTime::now().checked_sub(ago))
        .ok_or_else(|| {
            format!(
                "`{text}`: expected an RFC 3339 time (2026-11-28T08:00:00Z) or a duration ago (45m)"
            )
        })
}
