//! What `drkit run` shows while it runs, on stderr: live bars on a terminal (indicatif), plain
//! timestamped lines when stderr is a pipe or a file (CI logs, `tee`), nothing with `-q`.
//!
//! Both are [`RunEventSink`]s fed by the runner; neither is needed for the journal or the
//! report, which hold the same facts durably.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use drkit::core::ProgressKind;
use drkit::runner::events::RunEventKind;
use drkit::runner::{Decision, Event, RunEvent, RunEventSink};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How to show a run's progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// Live bars (stderr is a terminal).
    Bars,
    /// One line per state change (stderr is not a terminal).
    Lines,
    /// Nothing (`-q`).
    Off,
}

impl ProgressMode {
    /// Bars on a terminal, lines otherwise, nothing when quiet.
    pub fn detect(quiet: bool) -> Self {
        use std::io::IsTerminal;
        if quiet {
            Self::Off
        } else if std::io::stderr().is_terminal() {
            Self::Bars
        } else {
            Self::Lines
        }
    }
}

/// One line per state change of a run, e.g.
/// `[   12.4s] failover-aurora: succeeded in 8.1s (budget left: critical 59m 38s)`.
///
/// Polls are shown only when the observed state changes, so a 20-minute wait prints a few
/// lines, not hundreds.
pub struct LineProgress<W> {
    out: Mutex<LineState<W>>,
    started: Instant,
}

struct LineState<W> {
    out: W,
    last_state: HashMap<String, String>,
}

impl<W> fmt::Debug for LineProgress<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineProgress").finish_non_exhaustive()
    }
}

impl<W: Write + Send + 'static> LineProgress<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> Self {
        Self {
            out: Mutex::new(LineState {
                out,
                last_state: HashMap::new(),
            }),
            started: Instant::now(),
        }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        match self.out.into_inner() {
            Ok(s) => s.out,
            Err(poisoned) => poisoned.into_inner().out,
        }
    }
}

impl<W: Write + Send + 'static> RunEventSink for LineProgress<W> {
    fn on_event(&self, event: &RunEvent) {
        let Ok(mut state) = self.out.lock() else {
            return;
        };
        let line = match &event.kind {
            RunEventKind::Journal(record) => journal_line(&record.event),
            RunEventKind::Progress(p) => {
                let step = p.step.clone().unwrap_or_default();
                match &p.kind {
                    ProgressKind::Poll {
                        what, state: now, ..
                    } => {
                        let changed = state.last_state.get(&step) != Some(now);
                        if changed {
                            state.last_state.insert(step.clone(), now.clone());
                            Some(format!("{step}: waiting for {what}: {now}"))
                        } else {
                            None
                        }
                    }
                    ProgressKind::Message { text } => Some(format!("{step}: {text}")),
                    ProgressKind::Retry { attempt, delay, .. } => Some(format!(
                        "{step}: attempt {attempt} failed; retrying in {}",
                        short(*delay)
                    )),
                    _ => None,
                }
            }
        };
        let Some(line) = line else { return };
        let budget = match (&event.kind, event.budget) {
            (RunEventKind::Journal(r), Some(b))
                if matches!(
                    r.event,
                    Event::StepSucceeded { .. }
                        | Event::StepFailed { .. }
                        | Event::StepSkipped { .. }
                ) =>
            {
                format!(
                    " (RTO budget left: {} {})",
                    b.tier.as_str(),
                    signed(b.seconds)
                )
            }
            _ => String::new(),
        };
        let at = self.started.elapsed().as_secs_f64();
        let _ = writeln!(state.out, "[{at:>8.1}s] {line}{budget}");
        let _ = state.out.flush();
    }
}

/// The line for a journal record, or `None` for records not worth a line.
fn journal_line(event: &Event) -> Option<String> {
    Some(match event {
        Event::RunStarted {
            plan,
            resumed,
            steps,
            ..
        } => format!(
            "{} `{plan}`: {} steps",
            if *resumed { "resuming" } else { "running" },
            steps.len()
        ),
        Event::StepStarted {
            step,
            kind,
            target,
            mutates,
        } => format!(
            "{step}: started {kind} on {target}{}",
            if *mutates { "" } else { " (read-only)" }
        ),
        Event::StepReady { step, change } => format!("{step}: will {change}"),
        Event::StepRetried {
            step,
            attempt,
            delay,
            error,
        } => format!(
            "{step}: attempt {attempt} failed ({error}); retrying in {}",
            short(*delay)
        ),
        Event::ApprovalRequested { step } => format!("{step}: waiting for approval"),
        Event::ApprovalDecided { step, decision } => match decision {
            Decision::Approved { by } => format!("{step}: approved by {by}"),
            Decision::Denied { by, reason } => format!("{step}: denied by {by}: {reason}"),
        },
        Event::StepSucceeded { step, duration, .. } => {
            format!("{step}: succeeded in {}", short(*duration))
        }
        Event::StepSkipped {
            step,
            detail,
            condition: true,
            ..
        } => format!("{step}: skipped ({detail})"),
        Event::StepSkipped { step, detail, .. } => format!("{step}: already done ({detail})"),
        Event::StepFailed {
            step,
            error,
            duration,
            ..
        } => format!("{step}: FAILED after {}: {error}", short(*duration)),
        Event::StepInterrupted { step, error } => format!("{step}: interrupted ({error})"),
        Event::StepNotRun { step, reason } => format!("{step}: not run ({reason})"),
        Event::RollbackStarted { because_of, steps } => format!(
            "rolling back {} step(s) because {because_of} failed",
            steps.len()
        ),
        Event::StepRolledBack { step } => format!("{step}: rolled back"),
        Event::StepRollbackFailed { step, error } => {
            format!("{step}: ROLLBACK FAILED: {error}")
        }
        Event::RunInterrupted { reason } => format!("interrupted: {reason}"),
        Event::RunFinished { outcome } => format!("run finished: {outcome}"),
        _ => return None,
    })
}

/// Live bars on a terminal: one bar for the run (steps finished / all), one spinner per
/// running step with its latest state. Finished steps print a line above the bars.
pub struct BarProgress {
    multi: MultiProgress,
    overall: ProgressBar,
    running: Mutex<HashMap<String, ProgressBar>>,
}

impl fmt::Debug for BarProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarProgress").finish_non_exhaustive()
    }
}

impl BarProgress {
    /// Bars for a plan of `steps` steps, drawn on stderr.
    pub fn new(steps: usize) -> Self {
        Self::with_target(steps, ProgressDrawTarget::stderr())
    }

    /// Bars drawn on `target` (tests draw on a hidden target).
    pub fn with_target(steps: usize, target: ProgressDrawTarget) -> Self {
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(steps as u64));
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} steps {msg}")
        {
            overall.set_style(style.progress_chars("=> "));
        }
        overall.enable_steady_tick(Duration::from_millis(250));
        Self {
            multi,
            overall,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Steps finished so far, as the overall bar counts them.
    pub fn finished(&self) -> u64 {
        self.overall.position()
    }

    fn spinner(&self, step: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("  {spinner} {prefix:<28} {wide_msg}") {
            bar.set_style(style);
        }
        bar.set_prefix(step.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    fn end_step(&self, step: &str, line: &str) {
        if let Ok(mut running) = self.running.lock()
            && let Some(bar) = running.remove(step)
        {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.overall.inc(1);
        let _ = self.multi.println(line);
    }
}

impl RunEventSink for BarProgress {
    fn on_event(&self, event: &RunEvent) {
        match &event.kind {
            RunEventKind::Journal(record) => {
                let line = journal_line(&record.event).unwrap_or_default();
                match &record.event {
                    Event::StepStarted { step, .. } => {
                        let bar = self.spinner(step);
                        bar.set_message(line);
                        if let Ok(mut running) = self.running.lock() {
                            running.insert(step.clone(), bar);
                        }
                    }
                    Event::StepSucceeded { step, .. }
                    | Event::StepSkipped { step, .. }
                    | Event::StepFailed { step, .. }
                    | Event::StepInterrupted { step, .. }
                    | Event::StepNotRun { step, .. } => self.end_step(step, &line),
                    Event::RunFinished { .. } => {
                        self.overall.finish_with_message(line);
                    }
                    other => {
                        if let Some(step) = other.step()
                            && let Ok(running) = self.running.lock()
                            && let Some(bar) = running.get(step)
                        {
                            bar.set_message(line);
                        } else if !line.is_empty() {
                            let _ = self.multi.println(line);
                        }
                    }
                }
                if let Some(b) = event.budget {
                    self.overall.set_message(format!(
                        "— RTO budget left: {} {}",
                        b.tier.as_str(),
                        signed(b.seconds)
                    ));
                }
            }
            RunEventKind::Progress(p) => {
                let Some(step) = &p.step else { return };
                let text = match &p.kind {
                    ProgressKind::Poll {
                        what,
                        state,
                        waited,
                        ..
                    } => format!("waiting for {what}: {state} ({} so far)", short(*waited)),
                    ProgressKind::Message { text } => text.clone(),
                    ProgressKind::Retry { attempt, delay, .. } => {
                        format!("attempt {attempt} failed; retrying in {}", short(*delay))
                    }
                    _ => return,
                };
                if let Ok(running) = self.running.lock()
                    && let Some(bar) = running.get(step)
                {
                    bar.set_message(text);
                }
            }
        }
    }
}

/// `8.1s`, `3m 05s`.
fn short(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m {:02}s", whole / 60, whole % 60)
    }
}

/// `59m 38s`, or `-2m 10s` once breached.
fn signed(seconds: f64) -> String {
    let sign = if seconds < 0.0 { "-" } else { "" };
    let whole = seconds.abs().round() as u64;
    if whole >= 3600 {
        format!("{sign}{}h {:02}m", whole / 3600, (whole % 3600) / 60)
    } else {
        format!("{sign}{}m {:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use drkit::core::async_trait;
    use drkit::core::{ActionError, ActionRef, Check, Context, Outputs, RecoveryAction, Resource};
    use drkit::runner::{Plan, Runner, Step};

    use super::*;

    #[derive(Debug)]
    struct Fine(String, Resource);

    #[async_trait]
    impl RecoveryAction for Fine {
        fn id(&self) -> &str {
            &self.0
        }
        fn kind(&self) -> &'static str {
            "test.ok"
        }
        fn target(&self) -> &Resource {
            &self.1
        }
        fn mutates(&self) -> bool {
            true
        }
        fn iam_actions(&self) -> &'static [&'static str] {
            &[]
        }
        async fn check(&self, _: &Context) -> Result<Check, ActionError> {
            Ok(Check::ready("change it"))
        }
        async fn execute(&self, _: &Context) -> Result<Outputs, ActionError> {
            Ok(Outputs::new())
        }
        async fn verify(&self, _: &Context) -> Result<String, ActionError> {
            Ok("fine".to_owned())
        }
    }

    fn ok_action(id: &str) -> ActionRef {
        Arc::new(Fine(id.to_owned(), Resource::new("test", "thing", id)))
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn lines_show_each_step_once_started_and_once_finished() {
        let plan = Plan::new(
            "p",
            vec![
                Step::new(ok_action("a")),
                Step::new(ok_action("b")).depends_on(["a"]),
            ],
        )
        .unwrap();
        let out = Shared::default();
        let sink = Arc::new(LineProgress::new(out.clone()));
        let report = Runner::new().with_sink(sink).run(&plan).await.unwrap();
        assert!(report.is_success());
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        for needle in [
            "running `p`: 2 steps",
            "a: started test.ok",
            "a: will change it",
            "a: succeeded in",
            "b: succeeded in",
            "run finished: succeeded",
        ] {
            assert_eq!(text.matches(needle).count(), 1, "{needle} in\n{text}");
        }
        assert!(text.lines().all(|l| l.starts_with('[')), "{text}");
    }

    #[tokio::test]
    async fn bars_count_every_finished_step() {
        let plan = Plan::new(
            "p",
            vec![
                Step::new(ok_action("a")),
                Step::new(ok_action("b")),
                Step::new(ok_action("c")).depends_on(["a", "b"]),
            ],
        )
        .unwrap();
        let bars = Arc::new(BarProgress::with_target(3, ProgressDrawTarget::hidden()));
        let report = Runner::new()
            .with_sink(Arc::clone(&bars) as Arc<dyn RunEventSink>)
            .run(&plan)
            .await
            .unwrap();
        assert!(report.is_success());
        assert_eq!(bars.finished(), 3);
        assert!(bars.running.lock().unwrap().is_empty());
    }

    #[test]
    fn budgets_and_durations_read_well() {
        assert_eq!(short(Duration::from_millis(8_140)), "8.1s");
        assert_eq!(short(Duration::from_secs(185)), "3m 05s");
        assert_eq!(signed(3578.0), "59m 38s");
        assert_eq!(signed(-130.0), "-2m 10s");
        assert_eq!(signed(7300.0), "2h 01m");
    }
}
