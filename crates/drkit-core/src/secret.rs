//! Secret references: where a secret comes from, never the secret itself.
//!
//! A runbook or a parameter table holds a *reference* (`"env:MINT_DB_PASSWORD"`,
//! `"file:/run/secrets/db"`, `"prompt:Vault unseal key 1"`, or the table form
//! `{ secret = "env:MINT_DB_PASSWORD" }`); the value
//! is read only when an action needs it, into a [`SecretString`] whose `Debug` is redacted. A
//! reference can be logged and journalled; a value never is.
//!
//! A `prompt:` reference is asked of the [`SecretPrompt`] the program installed with
//! [`set_prompter`] (the `drkit` command installs a no-echo terminal prompt); this crate does
//! no terminal I/O. Without one, resolving it fails and says that no prompt is available.
//!
//! ```
//! use drkit_core::SecretRef;
//!
//! let r: SecretRef = "env:MINT_DB_PASSWORD".parse().unwrap();
//! assert_eq!(r.to_string(), "env:MINT_DB_PASSWORD");
//! assert!("hunter2".parse::<SecretRef>().is_err()); // a literal is refused
//! ```

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;

pub use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::{ActionError, ErrorKind};

/// Where a secret is read from.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretRef {
    /// An environment variable (`env:NAME`).
    Env(String),
    /// A file; one trailing newline is removed (`file:/path`).
    File(PathBuf),
    /// Typed by the operator, without echo (`prompt:LABEL`); the label is what the prompt asks
    /// for. Read through the program's [`SecretPrompt`] ([`set_prompter`]); fails when there is
    /// none, or no terminal (e.g. in CI).
    Prompt(String),
}

/// Why a secret reference could not be parsed or read. Never contains the secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct SecretRefError(String);

impl FromStr for SecretRef {
    type Err = SecretRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(name) = s.strip_prefix("env:") {
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(SecretRefError(format!(
                    "`env:{name}`: an environment variable name has letters, digits and `_` only"
                )));
            }
            return Ok(Self::Env(name.to_owned()));
        }
        if let Some(label) = s.strip_prefix("prompt:") {
            if label.trim().is_empty() {
                return Err(SecretRefError(
                    "`prompt:` needs a label saying what to type, e.g. `prompt:Vault unseal key 1`"
                        .to_owned(),
                ));
            }
            return Ok(Self::Prompt(label.trim().to_owned()));
        }
        if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return Err(SecretRefError("`file:` needs a path".to_owned()));
            }
            return Ok(Self::File(PathBuf::from(path)));
        }
        // Do not echo the input: it may be a secret written in clear by mistake.
        Err(SecretRefError(
            "expected a secret reference such as `env:NAME` or `file:/path`; secrets are never \
             written in clear"
                .to_owned(),
        ))
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
            Self::File(path) => write!(f, "file:{}", path.display()),
            Self::Prompt(label) => write!(f, "prompt:{label}"),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretRef({self})")
    }
}

impl Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Plain(String),
            Table { secret: String },
        }
        let text = match Form::deserialize(d) {
            Ok(Form::Plain(s) | Form::Table { secret: s }) => s,
            Err(_) => {
                return Err(serde::de::Error::custom(
                    "expected a secret reference: \"env:NAME\", \"file:/path\" or { secret = \"env:NAME\" }",
                ));
            }
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl SecretRef {
    /// Reads the secret. The error names the reference, never a value. A `prompt:` reference
    /// blocks until the operator has typed the value (see [`set_prompter`]).
    pub fn resolve(&self) -> Result<SecretString, ActionError> {
        self.resolve_with(PROMPTER.get().map(|p| &**p))
    }

    /// [`resolve`](Self::resolve), asking `prompter` (if any) for a `prompt:` reference.
    fn resolve_with(
        &self,
        prompter: Option<&dyn SecretPrompt>,
    ) -> Result<SecretString, ActionError> {
        match self {
            Self::Prompt(label) => match prompter.map(|p| p.prompt(label)) {
                Some(Ok(value)) if !value.expose_secret().is_empty() => Ok(value),
                Some(Ok(_)) => Err(missing(format!("nothing was typed for `{label}`"))),
                Some(Err(err)) => Err(missing(format!(
                    "cannot prompt for `{label}`: no terminal ({})",
                    err.kind()
                ))),
                None => Err(missing(format!(
                    "cannot prompt for `{label}`: no prompt is available in this program (use an \
                     `env:` or `file:` reference)"
                ))),
            },
            Self::Env(name) => match std::env::var(name) {
                Ok(value) if !value.is_empty() => Ok(SecretString::from(value)),
                Ok(_) => Err(missing(format!("environment variable {name} is empty"))),
                Err(_) => Err(missing(format!("environment variable {name} is not set"))),
            },
            Self::File(path) => {
                let file = open_secret_file(path)?;
                let mut value = String::new();
                std::io::Read::read_to_string(
                    &mut std::io::Read::take(file, MAX_SECRET_FILE + 1),
                    &mut value,
                )
                .map_err(|err| {
                    missing(format!(
                        "secret file {} cannot be read: {}",
                        path.display(),
                        err.kind()
                    ))
                })?;
                if value.len() as u64 > MAX_SECRET_FILE {
                    return Err(too_large(path));
                }
                if value.ends_with('\n') {
                    value.pop();
                    if value.ends_with('\r') {
                        value.pop();
                    }
                }
                if value.is_empty() {
                    Err(missing(format!("secret file {} is empty", path.display())))
                } else {
                    Ok(SecretString::from(value))
                }
            }
        }
    }

    /// Whether a `file:` secret can be read, without reading it: it exists, is a regular file
    /// (not a device, a FIFO or `/dev/stdin`, which could block or never end) of at most
    /// [`MAX_SECRET_FILE`] bytes, and opens. Other references are not probed here.
    pub fn probe_file(&self) -> Result<(), ActionError> {
        match self {
            Self::File(path) => open_secret_file(path).map(drop),
            Self::Env(_) | Self::Prompt(_) => Ok(()),
        }
    }
}

/// Asks the operator for a secret: what a `prompt:LABEL` reference is read with. The program
/// installs one with [`set_prompter`]; `drkit-core` itself does no terminal I/O.
///
/// ```
/// use drkit_core::{SecretPrompt, SecretString};
///
/// /// Reads the value from a file descriptor handed over by a supervisor, say.
/// #[derive(Debug)]
/// struct Fixed;
///
/// impl SecretPrompt for Fixed {
///     fn prompt(&self, _label: &str) -> std::io::Result<SecretString> {
///         Ok(SecretString::from("s3cr3t"))
///     }
/// }
/// # let _ = Fixed;
/// ```
pub trait SecretPrompt: Send + Sync + 'static {
    /// Asks for the value `label` names (e.g. `Vault unseal key 1`), without echoing it, and
    /// blocks until it is given. An error (e.g. there is no terminal) is reported with its
    /// kind only: it must not carry the value.
    fn prompt(&self, label: &str) -> std::io::Result<SecretString>;
}

static PROMPTER: OnceLock<Box<dyn SecretPrompt>> = OnceLock::new();

/// Installs the process's [`SecretPrompt`], which `prompt:` references are read with. Once per
/// process: a second call leaves the first prompter in place and returns an error.
pub fn set_prompter(prompter: impl SecretPrompt) -> Result<(), PrompterAlreadySet> {
    PROMPTER
        .set(Box::new(prompter))
        .map_err(|_| PrompterAlreadySet)
}

/// [`set_prompter`] was called before: the first prompter stays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a secret prompter is installed already")]
pub struct PrompterAlreadySet;

/// The largest secret file read: a key or a token, not a data file.
pub const MAX_SECRET_FILE: u64 = 64 * 1024;

fn open_secret_file(path: &std::path::Path) -> Result<std::fs::File, ActionError> {
    let unreadable = |err: std::io::Error| {
        missing(format!(
            "secret file {} cannot be read: {}",
            path.display(),
            err.kind()
        ))
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(missing(format!(
            "secret file {} is not a regular file",
            path.display()
        )));
    }
    if meta.len() > MAX_SECRET_FILE {
        return Err(too_large(path));
    }
    std::fs::File::open(path).map_err(unreadable)
}

fn too_large(path: &std::path::Path) -> ActionError {
    missing(format!(
        "secret file {} is larger than {} KiB: not a secret",
        path.display(),
        MAX_SECRET_FILE / 1024
    ))
}

fn missing(message: String) -> ActionError {
    ActionError::new(ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_device_or_a_huge_file_is_refused_without_being_read() {
        let started = std::time::Instant::now();
        let err = SecretRef::File("/dev/zero".into()).resolve().unwrap_err();
        assert!(err.message().contains("not a regular file"), "{err}");
        let err = SecretRef::File("/dev/zero".into())
            .probe_file()
            .unwrap_err();
        assert!(err.message().contains("not a regular file"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));

        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 70 * 1024]).unwrap();
        let err = SecretRef::File(big.clone()).resolve().unwrap_err();
        assert!(err.message().contains("larger than 64 KiB"), "{err}");
        assert!(SecretRef::File(big).probe_file().is_err());
    }

    use super::*;

    #[test]
    fn parses_both_forms_and_refuses_literals() {
        let r: SecretRef = serde_json::from_value(serde_json::json!("env:DB_PASS")).unwrap();
        assert_eq!(r, SecretRef::Env("DB_PASS".into()));
        let r: SecretRef =
            serde_json::from_value(serde_json::json!({"secret": "file:/run/secrets/db"})).unwrap();
        assert_eq!(r, SecretRef::File("/run/secrets/db".into()));
        let r: SecretRef = "prompt: Vault unseal key 1".parse().unwrap();
        assert_eq!(r, SecretRef::Prompt("Vault unseal key 1".into()));
        assert_eq!(r.to_string(), "prompt:Vault unseal key 1");
        for bad in ["hunter2", "env:", "env:A-B", "file:", "prompt:  "] {
            let err = serde_json::from_value::<SecretRef>(serde_json::json!(bad)).unwrap_err();
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        let err = serde_json::from_value::<SecretRef>(serde_json::json!(42)).unwrap_err();
        assert!(
            err.to_string().contains("expected a secret reference"),
            "{err}"
        );
    }

    #[test]
    fn a_file_secret_is_read_without_its_newline_and_never_shown() {
        let dir = std::env::temp_dir().join(format!("drkit-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db");
        std::fs::write(&path, "s3cr3t-value\n").unwrap();
        let r = SecretRef::File(path);
        let secret = r.resolve().unwrap();
        assert_eq!(secret.expose_secret(), "s3cr3t-value");
        assert!(!format!("{secret:?} {r:?} {r}").contains("s3cr3t-value"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_missing_secret_names_the_reference() {
        let err = SecretRef::Env("DRKIT_SURELY_NOT_SET_42".into())
            .resolve()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("DRKIT_SURELY_NOT_SET_42"), "{err}");
        let err = SecretRef::File("/nonexistent/drkit".into())
            .resolve()
            .unwrap_err();
        assert!(err.message().contains("/nonexistent/drkit"), "{err}");
    }

    /// Answers as told, counting the questions.
    #[derive(Debug)]
    struct Scripted(Result<&'static str, std::io::ErrorKind>);

    impl SecretPrompt for Scripted {
        fn prompt(&self, label: &str) -> std::io::Result<SecretString> {
            assert_eq!(label, "Vault unseal key 1");
            self.0.map(SecretString::from).map_err(std::io::Error::from)
        }
    }

    #[test]
    fn a_prompt_reference_asks_the_prompter_and_never_shows_the_value() {
        let r: SecretRef = "prompt:Vault unseal key 1".parse().unwrap();
        let secret = r.resolve_with(Some(&Scripted(Ok("unseal-me")))).unwrap();
        assert_eq!(secret.expose_secret(), "unseal-me");
        assert!(!format!("{secret:?} {r:?} {r}").contains("unseal-me"));

        let err = r.resolve_with(Some(&Scripted(Ok("")))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(
            err.message()
                .contains("nothing was typed for `Vault unseal key 1`"),
            "{err}"
        );
        let err = r
            .resolve_with(Some(&Scripted(Err(std::io::ErrorKind::NotFound))))
            .unwrap_err();
        assert!(
            err.message()
                .contains("cannot prompt for `Vault unseal key 1`: no terminal"),
            "{err}"
        );
        let err = r.resolve_with(None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("no prompt is available"), "{err}");
    }

    /// The only test that touches the process-wide prompter.
    #[test]
    fn the_installed_prompter_answers_prompt_references_and_stays() {
        let r: SecretRef = "prompt:Vault unseal key 1".parse().unwrap();
        let err = r.resolve().unwrap_err();
        assert!(
            err.message().contains(
                "cannot prompt for `Vault unseal key 1`: no prompt is available in this program"
            ),
            "{err}"
        );
        set_prompter(Scripted(Ok("from-the-prompter"))).unwrap();
        assert_eq!(r.resolve().unwrap().expose_secret(), "from-the-prompter");
        assert_eq!(
            set_prompter(Scripted(Ok("second"))),
            Err(PrompterAlreadySet)
        );
        assert_eq!(r.resolve().unwrap().expose_secret(), "from-the-prompter");
        // Other references do not ask it.
        assert!(
            SecretRef::Env("DRKIT_SURELY_NOT_SET_43".into())
                .resolve()
                .is_err()
        );
    }
}
