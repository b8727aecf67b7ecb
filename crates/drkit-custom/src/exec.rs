//! `exec.command`: a local program as a recovery step (the seed's "drain the queue" script,
//! a status-page CLI, a feature-flag tool), with the guarantees of drkit's own actions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, SecretRef, StepSpec,
};
use serde::Deserialize;
use serde_json::Value;

use crate::process::{Ending, EnvValue, Exit, Invocation, ProcessApi};
use crate::redact::{Redactor, first_chars};
use crate::values::{Arg, TextOrSecret};

/// The most characters of a stream kept in an output or an error.
const SHOWN: usize = 4096;

fn ten_minutes() -> Duration {
    Duration::from_secs(600)
}

fn yes() -> bool {
    true
}

/// What a program's standard output gives the step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// Nothing beyond `exit_code`, `stdout` and `stderr`.
    #[default]
    None,
    /// Standard output is a JSON object whose fields become outputs.
    Json,
}

/// The parameters of `exec.command`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ExecCommandParams {
    /// The program and its arguments, e.g. `["/opt/mint/drain-queue", "--queue", "jobs"]`. No shell: write `["sh", "-c", "..."]` to use one.
    pub command: Vec<Arg>,
    /// A program that tells whether the change is done: exit 0 = done (the command is not run), 1 = ready (run it), other = blocked (its stderr says why).
    #[serde(default)]
    pub check: Option<Vec<Arg>>,
    /// A program that tells whether the change holds afterwards: exit 0 = it holds.
    #[serde(default)]
    pub verify: Option<Vec<Arg>>,
    /// A program that undoes the command (the step can then be rolled back).
    #[serde(default)]
    pub rollback: Option<Vec<Arg>>,
    /// Variables added to the programs' environment: text, or `{ secret = "env:NAME" }` (the only way a secret reaches a program).
    #[serde(default)]
    pub env: BTreeMap<String, TextOrSecret>,
    /// The working directory, an absolute path (needed when a program is a relative path).
    #[serde(default)]
    #[param(ty = "path")]
    pub cwd: Option<PathBuf>,
    /// How long each program may run before its process group is killed (default "10m"; never past the step's deadline).
    #[serde(default = "ten_minutes", with = "humantime_serde")]
    pub timeout: Duration,
    /// "none" (default) or "json": the command's stdout is a JSON object whose fields become outputs.
    #[serde(default)]
    #[param(ty = "\"none\" or \"json\"")]
    pub outputs: OutputMode,
    /// Whether the command changes anything (default true): false makes it a read-only step.
    #[serde(default = "yes")]
    pub mutates: bool,
}

impl ExecCommandParams {
    /// Runs `command` (program first), with no check, verify or rollback.
    pub fn new<A: Into<Arg>>(command: impl IntoIterator<Item = A>) -> Self {
        Self {
            command: command.into_iter().map(Into::into).collect(),
            check: None,
            verify: None,
            rollback: None,
            env: BTreeMap::new(),
            cwd: None,
            timeout: ten_minutes(),
            outputs: OutputMode::None,
            mutates: true,
        }
    }

    /// Asks `check` first (0 = done, 1 = ready, other = blocked).
    #[must_use]
    pub fn check<A: Into<Arg>>(mut self, check: impl IntoIterator<Item = A>) -> Self {
        self.check = Some(check.into_iter().map(Into::into).collect());
        self
    }

    /// Verifies with `verify` afterwards (0 = holds).
    #[must_use]
    pub fn verify<A: Into<Arg>>(mut self, verify: impl IntoIterator<Item = A>) -> Self {
        self.verify = Some(verify.into_iter().map(Into::into).collect());
        self
    }

    /// Undoes with `rollback`.
    #[must_use]
    pub fn rollback<A: Into<Arg>>(mut self, rollback: impl IntoIterator<Item = A>) -> Self {
        self.rollback = Some(rollback.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a variable with a plain value.
    #[must_use]
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env
            .insert(name.into(), TextOrSecret::Text(value.into()));
        self
    }

    /// Adds a variable whose value is the secret `reference` names.
    #[must_use]
    pub fn secret_env(mut self, name: impl Into<String>, reference: SecretRef) -> Self {
        self.env
            .insert(name.into(), TextOrSecret::Secret { secret: reference });
        self
    }

    /// Runs the programs in `cwd`.
    #[must_use]
    pub fn cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Kills each program after `timeout`.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Takes the command's stdout as a JSON object of outputs.
    #[must_use]
    pub fn json_outputs(mut self) -> Self {
        self.outputs = OutputMode::Json;
        self
    }

    /// Declares the command read-only.
    #[must_use]
    pub fn read_only(mut self) -> Self {
        self.mutates = false;
        self
    }
}

/// The outputs every run records (a JSON object's fields may not use these names).
const RESERVED: [&str; 3] = ["exit_code", "stdout", "stderr"];

/// Runs a local program as a recovery step.
///
/// - `check`: runs the `check` program (exit 0 = done, 1 = ready, other = blocked). Without
///   one, the step is ready — unless an earlier attempt started the command and its end was
///   never recorded (the process was killed, or the machine lost): then whether it took
///   effect is unknown and the step asks a person (an automatic approval refuses).
/// - `execute`: records its intent in the journal, then runs the command. Exit 0 = done;
///   another code fails the step with the end of its stderr; on the time-out or a
///   cancellation the whole process group is killed.
/// - `verify`: runs the `verify` program (exit 0 = holds); without one, the command's exit 0
///   is all there is.
/// - `rollback`: runs the `rollback` program, when there is one.
///
/// Every program gets `DRKIT_RUN_ID` and `DRKIT_STEP_ID` in its environment (a program can
/// make its own change idempotent with them), plus `env`. What drkit keeps of a program's
/// output (outputs, errors, the journal) has every secret value of `env` replaced by
/// `[REDACTED]`.
#[derive(Debug, HasBase)]
pub struct ExecCommand {
    base: Base<Self>,
}

impl ActionKind for ExecCommand {
    const KIND: &'static str = "exec.command";
    const SUMMARY: &'static str =
        "Run a local program (no shell) with optional check, verify and rollback programs";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("exit_code", "the command's exit code (0)"),
        OutputDoc::new(
            "stdout",
            "the start of its standard output, secrets redacted (with outputs = \"none\")",
        ),
        OutputDoc::new(
            "stderr",
            "the start of its standard error, secrets redacted",
        ),
        OutputDoc::new(
            "<field>",
            "with outputs = \"json\": each field of the JSON object it printed",
        ),
    ];
    type Params = ExecCommandParams;
    type Port = dyn ProcessApi;
    type Ports = PortFactory<dyn ProcessApi>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        argv_problem("command", &p.command, p.cwd.as_deref())?;
        for (name, argv) in [
            ("check", &p.check),
            ("verify", &p.verify),
            ("rollback", &p.rollback),
        ] {
            if let Some(argv) = argv {
                argv_problem(name, argv, p.cwd.as_deref())?;
            }
        }
        for name in p.env.keys() {
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(ParamError::new(
                    "env",
                    format!("`{name}` is not a variable name (letters, digits and `_`)"),
                ));
            }
            if name.starts_with("DRKIT_") {
                return Err(ParamError::new(
                    "env",
                    format!("`{name}`: DRKIT_* variables are set by drkit"),
                ));
            }
        }
        if let Some(cwd) = &p.cwd
            && !cwd.is_absolute()
        {
            return Err(ParamError::new(
                "cwd",
                format!("`{}` is relative: give an absolute path", cwd.display()),
            ));
        }
        if p.timeout.is_zero() {
            return Err(ParamError::new("timeout", "must be above zero"));
        }
        Ok(())
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let program = match step.params.command.first() {
            Some(Arg::Text(program)) => program.clone(),
            _ => String::new(),
        };
        let target = Resource::new("local", "program", program);
        Ok(Self {
            base: step.into_base(target, ports),
        })
    }
}

/// Why `argv` (the parameter `name`) cannot be run, if it cannot.
fn argv_problem(name: &str, argv: &[Arg], cwd: Option<&Path>) -> Result<(), ParamError> {
    let Some(first) = argv.first() else {
        return Err(ParamError::new(
            name,
            "is empty: give the program and its arguments",
        ));
    };
    for (i, arg) in argv.iter().enumerate() {
        match arg {
            Arg::Secret { secret } => {
                return Err(ParamError::new(
                    name,
                    format!(
                        "argument {i} is a secret ({secret}): arguments are visible to every user \
                         of the machine (ps, /proc); give it through `env` instead"
                    ),
                ));
            }
            Arg::Text(text) if text.contains('\0') => {
                return Err(ParamError::new(
                    name,
                    format!("argument {i} contains a NUL byte"),
                ));
            }
            Arg::Text(_) => {}
        }
    }
    if let Arg::Text(program) = first {
        if program.is_empty() {
            return Err(ParamError::new(name, "the program (argument 0) is empty"));
        }
        if program.contains('/') && !Path::new(program).is_absolute() && cwd.is_none() {
            return Err(ParamError::new(
                name,
                format!(
                    "the program `{program}` is a relative path: give `cwd` (or an absolute path)"
                ),
            ));
        }
    }
    Ok(())
}

/// `argv` as plain strings (validated: no secret in it).
fn texts(argv: &[Arg]) -> Vec<String> {
    argv.iter()
        .filter_map(|a| match a {
            Arg::Text(t) => Some(t.clone()),
            Arg::Secret { .. } => None,
        })
        .collect()
}

/// `argv` as an operator reads it.
fn shown(argv: &[String]) -> String {
    first_chars(&argv.join(" "), 200)
}

impl ExecCommand {
    /// A step `id` running `params` through `port` (the registry's path is
    /// [`Registry::typed`](drkit_core::registry::Registry::typed)).
    pub fn new(
        id: impl Into<String>,
        params: ExecCommandParams,
        port: std::sync::Arc<dyn ProcessApi>,
    ) -> Result<Self, drkit_core::registry::BuildError> {
        drkit_core::kind::with_port(StepSpec::new(id, params), port)
    }

    fn params(&self) -> &ExecCommandParams {
        &self.base.params
    }

    /// Runs `argv` with the step's environment, its secrets redacted from what comes back.
    async fn run(&self, ctx: &Context, argv: &[Arg]) -> Result<(Exit, Redactor), ActionError> {
        let p = self.params();
        let mut env = Vec::with_capacity(p.env.len() + 2);
        let mut secrets = Vec::new();
        for (name, value) in &p.env {
            let value = value.resolve(&format!("env {name}"), &mut secrets)?;
            env.push((name.clone(), value));
        }
        if let Some(run) = ctx.run_id() {
            env.push(("DRKIT_RUN_ID".into(), EnvValue::Plain(run.to_owned())));
        }
        env.push((
            "DRKIT_STEP_ID".into(),
            EnvValue::Plain(ctx.step().unwrap_or(&self.base.id).to_owned()),
        ));
        let timeout = match ctx.remaining() {
            Some(left) => p.timeout.min(left),
            None => p.timeout,
        };
        let invocation = Invocation::new(texts(argv), timeout)
            .with_env(env)
            .in_dir(p.cwd.clone());
        let exit = self.base.port.run(&invocation, ctx.cancellation()).await?;
        Ok((exit, Redactor::new(secrets)))
    }

    /// What an ending that is not exit 0 says, with the end of stderr.
    fn failure(&self, argv: &[String], exit: &Exit, redactor: &Redactor) -> ActionError {
        let stderr = stream(&exit.stderr, exit.truncated, redactor);
        let said = if stderr.trim().is_empty() {
            String::from(" (no stderr)")
        } else {
            format!(": {}", last_lines(&stderr))
        };
        let program = shown(argv);
        match exit.ending {
            Ending::Exited(code) => {
                ActionError::new(ErrorKind::Other, format!("`{program}` exited {code}{said}"))
                    .with_code(format!("exit {code}"))
            }
            Ending::Signalled(signal) => ActionError::new(
                ErrorKind::Other,
                format!("`{program}` was killed by signal {signal}{said}"),
            )
            .with_code(format!("signal {signal}")),
            Ending::TimedOut => ActionError::new(
                ErrorKind::Timeout,
                format!(
                    "`{program}` did not end within {}; its process group was killed{said}",
                    humantime::format_duration(exit.elapsed.max(Duration::from_secs(1)))
                ),
            ),
            Ending::Cancelled => ActionError::cancelled(format!(
                "the run was cancelled while `{program}` ran; its process group was killed"
            )),
        }
    }

    /// The outputs of a command that exited 0.
    fn outputs(&self, exit: &Exit, redactor: &Redactor) -> Result<Outputs, ActionError> {
        let mut outputs = Outputs::new()
            .with("exit_code", 0)
            .with("stderr", stream(&exit.stderr, exit.truncated, redactor));
        let stdout = stream(&exit.stdout, exit.truncated, redactor);
        match self.params().outputs {
            OutputMode::None => outputs.insert("stdout", stdout),
            OutputMode::Json => {
                let object = match serde_json::from_str::<Value>(&stdout) {
                    Ok(Value::Object(object)) if !exit.truncated => object,
                    _ => {
                        return Err(ActionError::postcondition(format!(
                            "outputs = \"json\", but stdout is not a JSON object{}: it starts with `{}`",
                            if exit.truncated {
                                " (or longer than the capture limit)"
                            } else {
                                ""
                            },
                            first_chars(stdout.trim_start(), 80)
                        )));
                    }
                };
                for (name, value) in object {
                    if RESERVED.contains(&name.as_str()) {
                        return Err(ActionError::postcondition(format!(
                            "the JSON object printed has the field `{name}`, which drkit records itself"
                        )));
                    }
                    outputs.insert(name, value);
                }
            }
        }
        Ok(outputs)
    }
}

/// A captured stream as redacted text, cut to [`SHOWN`] characters.
fn stream(bytes: &[u8], cut: bool, redactor: &Redactor) -> String {
    first_chars(&redactor.text(bytes, cut), SHOWN)
}

/// The last few lines of `text`, on one line.
fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(5)..];
    first_chars(&tail.join(" | "), 1000)
}

/// The intent recorded before the command runs; `exit_code` is added once it has ended.
fn intent(argv: &[String]) -> Outputs {
    Outputs::new().with("command", shown(argv))
}

#[async_trait]
impl Act for ExecCommand {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        let p = self.params();
        let command = texts(&p.command);
        let change = format!("run `{}`", shown(&command));
        if let Some(check) = &p.check {
            let argv = texts(check);
            let (exit, redactor) = self.run(ctx, check).await?;
            return match exit.ending {
                Ending::Exited(0) => {
                    // With outputs = "json", a check that prints the JSON object gives later
                    // steps their outputs on a re-run; one that prints nothing gives none.
                    let printed = !exit.stdout.iter().all(u8::is_ascii_whitespace);
                    let outputs = match p.outputs {
                        OutputMode::Json if printed => self.outputs(&exit, &redactor)?,
                        _ => Outputs::new(),
                    };
                    Ok(Check::Done {
                        detail: format!("`{}` exited 0: already done", shown(&argv)),
                        outputs,
                    })
                }
                Ending::Exited(1) => Ok(Check::ready(format!(
                    "{change} (`{}` exited 1)",
                    shown(&argv)
                ))),
                _ => Ok(Check::blocked(
                    self.failure(&argv, &exit, &redactor).message().to_owned(),
                )),
            };
        }
        let Some(earlier) = ctx.intent() else {
            return Ok(Check::ready(change));
        };
        match earlier.get("exit_code").and_then(Value::as_i64) {
            Some(0) => {
                let outputs = earlier
                    .get("outputs")
                    .cloned()
                    .and_then(|o| serde_json::from_value(o).ok())
                    .unwrap_or_default();
                Ok(Check::Done {
                    detail: format!("`{}` exited 0 in an earlier attempt", shown(&command)),
                    outputs,
                })
            }
            Some(code) => Ok(Check::ready(format!(
                "{change} again (it exited {code} in an earlier attempt)"
            ))),
            None => Ok(Check::unknown(format!(
                "`{}` was started by an earlier attempt that ended before the command did (the \
                 process was killed or the machine lost): it may have run in full, in part, or \
                 not at all, and the step has no `check` program to tell. Run it again?",
                shown(&command)
            ))),
        }
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let p = self.params();
        let argv = texts(&p.command);
        if !p.mutates {
            // A read-only program: nothing to reconcile, no intent to journal.
            let (exit, redactor) = self.run(ctx, &p.command).await?;
            return match exit.ending {
                Ending::Exited(0) => self.outputs(&exit, &redactor),
                _ => Err(self.failure(&argv, &exit, &redactor)),
            };
        }
        let intent = intent(&argv);
        ctx.record_intent(intent.clone()).await?;
        let (exit, redactor) = match self.run(ctx, &p.command).await {
            Ok(ran) => ran,
            Err(not_started) => {
                // Nothing ran: the intent no longer describes a change in flight.
                ctx.record_intent(Outputs::new()).await?;
                return Err(not_started);
            }
        };
        match exit.ending {
            Ending::Exited(0) => {
                let outputs = self.outputs(&exit, &redactor);
                let recorded = match &outputs {
                    Ok(outputs) => intent.with("exit_code", 0).with(
                        "outputs",
                        serde_json::to_value(outputs).unwrap_or(Value::Null),
                    ),
                    Err(_) => intent.with("exit_code", 0),
                };
                ctx.record_intent(recorded).await?;
                outputs
            }
            Ending::Exited(code) => {
                ctx.record_intent(intent.with("exit_code", code)).await?;
                Err(self.failure(&argv, &exit, &redactor))
            }
            // Ended from outside, or by drkit, in the middle: whatever it did stays unknown.
            Ending::Signalled(_) | Ending::TimedOut | Ending::Cancelled => {
                Err(self.failure(&argv, &exit, &redactor).with_maybe_applied())
            }
        }
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let p = self.params();
        let Some(verify) = &p.verify else {
            return Ok(format!(
                "no `verify` program: `{}` exited 0",
                shown(&texts(&p.command))
            ));
        };
        let argv = texts(verify);
        let (exit, redactor) = self.run(ctx, verify).await?;
        match exit.ending {
            Ending::Exited(0) => Ok(format!("`{}` exited 0", shown(&argv))),
            _ => {
                let failed = self.failure(&argv, &exit, &redactor);
                Err(ActionError::postcondition(failed.message().to_owned()))
            }
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let Some(rollback) = &self.params().rollback else {
            return Err(ActionError::unsupported("no `rollback` program"));
        };
        let argv = texts(rollback);
        let (exit, redactor) = self.run(ctx, rollback).await?;
        match exit.ending {
            Ending::Exited(0) => Ok(()),
            _ => Err(self.failure(&argv, &exit, &redactor)),
        }
    }

    fn can_undo(&self) -> bool {
        self.params().rollback.is_some()
    }

    fn mutating(&self) -> bool {
        self.params().mutates
    }
}

#[cfg(test)]
#[path = "exec_tests.rs"]
mod tests;
