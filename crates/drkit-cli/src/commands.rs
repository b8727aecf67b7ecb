//! What each `drkit` command does. Output goes to the writer given, so tests can read it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use drkit::aws::AwsContext;
use drkit::core::CancellationToken;
use drkit::core::registry::Registry;
use drkit::runner::events::{RunEventSink, TracingEvents, WebhookNotifier};
use drkit::runner::{
    AutoApprove, FileJournalStore, JournalStore, Outcome, PromptApprover, Report, RunError, Runner,
};

use crate::runbook::{self, Runbook};
use crate::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK};

/// Reads and validates a runbook; on error writes every problem to `err` and returns `None`.
pub fn load(path: &Path, registry: &Arc<Registry>, err: &mut dyn Write) -> Option<Runbook> {
    let shown = path.display().to_string();
    let text = match read_text(path) {
        Ok(text) => text,
        Err(message) => {
            let _ = writeln!(err, "{shown}: {message}");
            return None;
        }
    };
    match runbook::load(&shown, &text, registry, &|name| std::env::var(name).ok()) {
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

/// `drkit plan FILE`: no network; the waves, what each step does, tiers and budgets.
pub fn plan(
    path: &Path,
    registry: &Arc<Registry>,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some(rb) = load(path, registry, err) else {
        return EXIT_BAD_INPUT;
    };
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
                })
            }).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "rto": serde_json::to_value(&rb.rto).unwrap_or_default(),
            "rpo": serde_json::to_value(&rb.rpo).unwrap_or_default(),
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
            let _ = writeln!(
                out,
                "  {id:<28} {kind:<40} {effect:<7} tier {tier}{}",
                descriptor
                    .map(|d| format!(" — {}", d.summary))
                    .unwrap_or_default()
            );
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
pub fn iam_policy(
    path: &Path,
    registry: &Arc<Registry>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some(rb) = load(path, registry, err) else {
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

/// Options of `drkit run` and `drkit resume`.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Only read-only checks; print what would change.
    pub dry_run: bool,
    /// A directory for file journals, or `s3://bucket/prefix`.
    pub journal: Option<String>,
    /// Where to write the Markdown report.
    pub report: Option<PathBuf>,
    /// When the incident began (RFC 3339); default: the run's start.
    pub incident_start: Option<SystemTime>,
    /// Approve every approval gate without asking.
    pub auto_approve: bool,
    /// A Slack-compatible webhook for start, summaries and result.
    pub webhook: Option<String>,
    /// Resume the last run from the journal instead of starting one.
    pub resume: bool,
}

/// `drkit run FILE` / `drkit resume FILE`.
pub async fn run(
    path: &Path,
    registry: &Arc<Registry>,
    aws: &AwsContext,
    options: RunOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Some(rb) = load(path, registry, err) else {
        return EXIT_BAD_INPUT;
    };
    let cancel = CancellationToken::new();
    let mut runner = Runner::new()
        .with_cancellation(cancel.clone())
        .with_rto(rb.rto.clone())
        .with_rpo(rb.rpo.clone())
        .with_sink(Arc::new(TracingEvents));
    if let Some(at) = options.incident_start {
        runner = runner.with_incident_start(at);
    }
    runner = if options.auto_approve {
        runner.with_approver(AutoApprove::new("auto-approve (--auto-approve)"))
    } else {
        let who = std::env::var("USER").unwrap_or_else(|_| "operator".to_owned());
        runner.with_approver(PromptApprover::terminal(format!("{who} (terminal)")))
    };
    let journal = options
        .journal
        .clone()
        .unwrap_or_else(|| ".drkit/journal".to_owned());
    let store: Arc<dyn JournalStore> = if journal.starts_with("s3://") {
        match drkit::journal_s3::S3JournalStore::from_url(&journal, aws) {
            Ok(store) => Arc::new(store),
            Err(e) => {
                let _ = writeln!(err, "--journal {journal}: {e}");
                return EXIT_BAD_INPUT;
            }
        }
    } else {
        match FileJournalStore::new(&journal) {
            Ok(store) => Arc::new(store),
            Err(e) => {
                let _ = writeln!(err, "--journal {journal}: {e}");
                return EXIT_BAD_INPUT;
            }
        }
    };
    runner = runner.with_shared_journal(store);
    let webhook = match options
        .webhook
        .as_deref()
        .map(|url| WebhookNotifier::start(url, WebhookNotifier::DEFAULT_SUMMARY_EVERY))
    {
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

    // Ctrl-C: launch no new step, let running ones reach a safe point.
    let ctrl_c = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };

    if options.dry_run {
        let report = runner.dry_run(&rb.plan).await;
        ctrl_c.abort();
        let _ = writeln!(out, "{}", report.to_markdown());
        return if report.problems().next().is_some() {
            EXIT_FAILED
        } else {
            EXIT_OK
        };
    }
    let result = if options.resume {
        runner.resume(&rb.plan).await
    } else {
        runner.run(&rb.plan).await
    };
    ctrl_c.abort();
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
                RunError::NothingToResume { .. } | RunError::PlanChanged { .. }
            ) {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILED
            };
        }
    };
    write_report(&report, options.report.as_deref(), out, err);
    code
}

fn write_report(report: &Report, path: Option<&Path>, out: &mut dyn Write, err: &mut dyn Write) {
    let md = report.to_markdown();
    let _ = writeln!(out, "{md}");
    if let Some(path) = path
        && let Err(e) = std::fs::write(path, &md)
    {
        let _ = writeln!(err, "--report {}: {e}", path.display());
    }
}

/// `drkit report JOURNAL`: the report of the last run in a file journal
/// (`<dir>/<plan>.journal.jsonl`), built from the journal alone.
pub async fn report(journal: &Path, json: bool, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let Some(name) = journal
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".journal.jsonl"))
    else {
        let _ = writeln!(
            err,
            "{}: expected a journal file named <plan>.journal.jsonl",
            journal.display()
        );
        return EXIT_BAD_INPUT;
    };
    let dir = journal
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let records = match FileJournalStore::new(dir) {
        Ok(store) => store.load(name).await,
        Err(e) => Err(e),
    };
    let records = match records {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "{}: {e}", journal.display());
            return EXIT_BAD_INPUT;
        }
    };
    let last_run = records.last().map(|r| r.run.clone()).unwrap_or_default();
    match Report::for_run(&records, &last_run) {
        Ok(report) if json => {
            let _ = writeln!(out, "{:#}", report.to_json());
            EXIT_OK
        }
        Ok(report) => {
            let _ = writeln!(out, "{}", report.to_markdown());
            EXIT_OK
        }
        Err(e) => {
            let _ = writeln!(err, "{}: {e}", journal.display());
            EXIT_BAD_INPUT
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
