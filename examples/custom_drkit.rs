//! Your own `drkit`: a team's action kind written in Rust, registered next to the built-in
//! ones, used in a runbook, and unit-tested against a mock of its port.
//!
//! The kind is `flags.set`: it turns a feature flag on or off in the team's flag service (here
//! a small one this example starts on 127.0.0.1), with a check (already set?), a verify, and a
//! rollback to the value it found.
//!
//! ```text
//! cargo run -p drkit-examples --example custom_drkit            # the demo: starts the flag
//!                                                               # service, runs a runbook
//! cargo run -p drkit-examples --example custom_drkit -- actions # the team's drkit, any command
//! cargo test -p drkit-examples --example custom_drkit           # the kind against a mock
//! ```
//!
//! A team's binary is the same `main`: `drkit_cli::main_with(register_flags)`. It has every
//! command, flag, exit code and output of `drkit` (validate, plan, run, resume, report,
//! actions, iam-policy), plus `flags.set`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use drkit::core::registry::{DuplicateKind, OutputDoc, ParamError, Registry};
use drkit::core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params,
    PortFactory, Resource, StepSpec, async_trait,
};
use serde::Deserialize;

// ---------------------------------------------------------------------------------------------
// The port: what the kind needs from the flag service. A trait, so tests use a mock.

/// The team's feature-flag service.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait FlagApi: std::fmt::Debug + Send + Sync {
    /// Whether `flag` is on.
    async fn get(&self, flag: &str) -> Result<bool, ActionError>;
    /// Turns `flag` on or off.
    async fn set(&self, flag: &str, enabled: bool) -> Result<(), ActionError>;
}

/// [`FlagApi`] over HTTP: `GET /flags/NAME` answers `true` or `false`, `PUT /flags/NAME` with
/// `true` or `false` sets it.
#[derive(Debug)]
pub struct HttpFlags {
    base: String,
    client: reqwest::Client,
}

impl HttpFlags {
    /// The service at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, flag: &str) -> String {
        format!("{}/flags/{flag}", self.base)
    }
}

fn unavailable(e: &reqwest::Error) -> ActionError {
    ActionError::new(ErrorKind::Unavailable, format!("flag service: {e}"))
}

#[async_trait]
impl FlagApi for HttpFlags {
    async fn get(&self, flag: &str) -> Result<bool, ActionError> {
        let answer = self
            .client
            .get(self.url(flag))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        if answer.status() == 404 {
            return Err(ActionError::new(
                ErrorKind::NotFound,
                format!("no flag `{flag}`"),
            ));
        }
        Ok(answer.text().await.map_err(|e| unavailable(&e))?.trim() == "true")
    }

    async fn set(&self, flag: &str, enabled: bool) -> Result<(), ActionError> {
        let answer = self
            .client
            .put(self.url(flag))
            .body(enabled.to_string())
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(
                ActionError::new(ErrorKind::Other, format!("PUT {flag}: {}", answer.status()))
                    .with_code(answer.status().as_str()),
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The kind: its parameters (documented by their doc comments), its facts, its four phases.

/// The parameters of `flags.set`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
pub struct SetFlagParams {
    /// The flag's name, e.g. `payments-read-only`.
    pub flag: String,
    /// Whether it is to be on.
    pub enabled: bool,
}

/// `flags.set`: turns a feature flag on or off, and back on rollback.
#[derive(Debug, HasBase)]
pub struct SetFlag {
    base: Base<Self>,
}

impl ActionKind for SetFlag {
    const KIND: &'static str = "flags.set";
    const SUMMARY: &'static str = "Turn a feature flag on or off (rollback: back to what it was)";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("previous", "whether the flag was on before"),
        OutputDoc::new("enabled", "whether it is on now"),
    ];
    type Params = SetFlagParams;
    type Port = dyn FlagApi;
    type Ports = PortFactory<dyn FlagApi>;

    fn validate(p: &SetFlagParams) -> Result<(), ParamError> {
        let valid = !p.flag.is_empty()
            && p.flag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(())
        } else {
            Err(ParamError::new("flag", "letters, digits, `-` and `_` only"))
        }
    }

    fn build(step: StepSpec<SetFlagParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let target = Resource::new("flags", "flag", step.params.flag.clone());
        Ok(Self {
            base: step.into_base(target, ports),
        })
    }
}

#[async_trait]
impl Act for SetFlag {
    async fn inspect(&self, _ctx: &Context) -> Result<Check, ActionError> {
        let p = &self.base.params;
        let now = self.base.port.get(&p.flag).await?;
        Ok(if now == p.enabled {
            Check::Done {
                detail: format!("{} is already {}", p.flag, on_off(now)),
                outputs: Outputs::new().with("previous", now).with("enabled", now),
            }
        } else {
            Check::ready(format!("turn {} {}", p.flag, on_off(p.enabled)))
        })
    }

    async fn apply(&self, _ctx: &Context) -> Result<Outputs, ActionError> {
        let p = &self.base.params;
        let previous = self.base.port.get(&p.flag).await?;
        self.base.port.set(&p.flag, p.enabled).await?;
        Ok(Outputs::new()
            .with("previous", previous)
            .with("enabled", p.enabled))
    }

    async fn confirm(&self, _ctx: &Context) -> Result<String, ActionError> {
        let p = &self.base.params;
        match self.base.port.get(&p.flag).await? {
            now if now == p.enabled => Ok(format!("{} is {}", p.flag, on_off(now))),
            now => Err(ActionError::postcondition(format!(
                "{} is still {}",
                p.flag,
                on_off(now)
            ))),
        }
    }

    /// Back to the value found: from this step's recorded outputs (also after a resume in
    /// another process).
    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let p = &self.base.params;
        let previous = ctx
            .outputs_of(&self.base.id)
            .and_then(|o| o.get("previous").and_then(serde_json::Value::as_bool))
            .ok_or_else(|| ActionError::precondition("no recorded `previous` value to restore"))?;
        self.base.port.set(&p.flag, previous).await
    }

    fn can_undo(&self) -> bool {
        true
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// What a team's `main` gives `drkit_cli::main_with`: its kinds, next to the built-in ones.
/// The flag service's address comes from the environment, read when a step is built.
fn register_flags(registry: &mut Registry) -> Result<(), DuplicateKind> {
    let ports = PortFactory::new(|_| {
        let base =
            std::env::var("MINT_FLAGS_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
        Arc::new(HttpFlags::new(base)) as Arc<dyn FlagApi>
    });
    registry.register::<SetFlag>(ports)
}

// ---------------------------------------------------------------------------------------------
// The demo: a flag service on 127.0.0.1, and a runbook that uses a built-in kind and ours.

/// A flag service: `GET`/`PUT /flags/NAME`, one connection at a time.
fn start_flag_service(flags: Arc<Mutex<BTreeMap<String, bool>>>) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = serve(stream, &flags);
        }
    });
    Ok(url)
}

fn serve(
    stream: std::net::TcpStream,
    flags: &Mutex<BTreeMap<String, bool>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        if header.trim().is_empty() {
            break;
        }
        if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let name = path.strip_prefix("/flags/").unwrap_or("").to_owned();
    let mut flags = flags
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (status, answer) = match (method, flags.get(&name).copied()) {
        ("GET", Some(on)) => ("200 OK", on.to_string()),
        ("PUT", Some(_)) => {
            flags.insert(name, String::from_utf8_lossy(&body).trim() == "true");
            ("204 No Content", String::new())
        }
        _ => ("404 Not Found", String::new()),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    )
}

const RUNBOOK: &str = r#"
version = 1
name = "flags-demo"

[[steps]]
id = "read-only-payments"
action = "flags.set"
tier = "critical"
[steps.params]
flag = "payments-read-only"
enabled = true

[[steps]]
id = "announce"
action = "exec.command"
tier = "non-critical"
depends_on = ["read-only-payments"]
[steps.params]
command = ["echo", "payments are read-only (was on: ${steps.read-only-payments.outputs.previous})"]
mutates = false
"#;

fn main() -> ExitCode {
    // With arguments: the team's `drkit`, e.g. `custom_drkit actions` or `custom_drkit run FILE`.
    if std::env::args_os().len() > 1 {
        return drkit_cli::main_with(register_flags);
    }
    let flags = Arc::new(Mutex::new(BTreeMap::from([(
        "payments-read-only".to_owned(),
        false,
    )])));
    let url = match start_flag_service(Arc::clone(&flags)) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("cannot start the flag service: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dir = std::env::temp_dir().join(format!("drkit-custom-{}", std::process::id()));
    let runbook = dir.join("flags.toml");
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&runbook, RUNBOOK)) {
        eprintln!("cannot write the runbook: {e}");
        return ExitCode::FAILURE;
    }
    let journal = dir.join("journal");
    let args = [
        "custom_drkit".into(),
        "run".into(),
        runbook.into_os_string(),
        "--journal".into(),
        journal.into_os_string(),
        "--auto-approve".into(),
    ];
    let code = drkit_cli::main_with_args(args, |registry| {
        registry.register::<SetFlag>(PortFactory::new(move |_| {
            Arc::new(HttpFlags::new(url.clone())) as Arc<dyn FlagApi>
        }))
    });
    let on = flags
        .lock()
        .map(|f| f["payments-read-only"])
        .unwrap_or(false);
    println!("flag service: payments-read-only is {}", on_off(on));
    code
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use drkit::core::Context;
    use drkit::core::registry::ActionSpec;
    use mockall::predicate::eq;
    use serde_json::json;

    use super::*;

    fn step(mock: MockFlagApi, enabled: bool) -> drkit::core::ActionRef {
        let mut registry = Registry::new();
        registry
            .register::<SetFlag>(PortFactory::fixed(Arc::new(mock) as Arc<dyn FlagApi>))
            .unwrap();
        registry
            .build(&ActionSpec::new(
                "read-only-payments",
                "flags.set",
                json!({"flag": "payments-read-only", "enabled": enabled}),
            ))
            .unwrap()
    }

    #[tokio::test]
    async fn it_sets_the_flag_once_and_rolls_back_from_the_recorded_value() {
        let mut mock = MockFlagApi::new();
        mock.expect_get().times(2).returning(|_| Ok(false));
        mock.expect_set()
            .with(eq("payments-read-only"), eq(true))
            .times(1)
            .returning(|_, _| Ok(()));
        mock.expect_set()
            .with(eq("payments-read-only"), eq(false))
            .times(1)
            .returning(|_, _| Ok(()));
        let action = step(mock, true);
        assert!(matches!(
            action.check(&Context::new()).await.unwrap(),
            Check::Ready { .. }
        ));
        let outputs = action.execute(&Context::new()).await.unwrap();
        assert_eq!(outputs.get("previous"), Some(&json!(false)));
        let recorded = Context::new().with_outputs(Arc::new(BTreeMap::from([(
            "read-only-payments".to_owned(),
            outputs,
        )])));
        action.rollback(&recorded).await.unwrap();
    }

    #[tokio::test]
    async fn already_set_is_done_and_a_dry_run_changes_nothing() {
        let mut mock = MockFlagApi::new();
        mock.expect_get().returning(|_| Ok(true));
        mock.expect_set().never();
        let action = step(mock, true);
        assert!(action.check(&Context::new()).await.unwrap().is_done());
        assert!(
            action
                .execute(&Context::new().with_dry_run(true))
                .await
                .is_err()
        );
    }

    #[test]
    fn a_bad_flag_name_is_refused_and_the_kind_sits_next_to_the_built_in_ones() {
        let mut registry = drkit::registry().unwrap();
        register_flags(&mut registry).unwrap();
        let err = registry
            .build(&ActionSpec::new(
                "x",
                "flags.set",
                json!({"flag": "no spaces", "enabled": true}),
            ))
            .unwrap_err();
        assert!(err.to_string().contains("flag"), "{err}");
        let kinds: Vec<&str> = registry.descriptors().map(|d| d.kind).collect();
        assert!(
            kinds.contains(&"flags.set") && kinds.contains(&"exec.command"),
            "{kinds:?}"
        );
        assert_eq!(
            registry.descriptor("flags.set").unwrap().params[0].name,
            "flag"
        );
    }
}
