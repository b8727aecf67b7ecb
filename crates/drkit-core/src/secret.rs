//! Secret references: where a secret comes from, never the secret itself.
//!
//! A runbook or a parameter table holds a *reference* (`"env:MINT_DB_PASSWORD"`,
//! `"file:/run/secrets/db"`, `"prompt:Vault unseal key 1"`, or the table form
//! `{ secret = "env:MINT_DB_PASSWORD" }`); the value
//! is read only when an action needs it, into a [`SecretString`] whose `Debug` is redacted. A
//! reference can be logged and journalled; a value never is.
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
    /// Typed by the operator at the terminal, without echo (`prompt:LABEL`); the label is what
    /// the prompt asks for. Fails when there is no terminal (e.g. in CI).
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
    /// blocks until the operator has typed the value.
    pub fn resolve(&self) -> Result<SecretString, ActionError> {
        match self {
            Self::Prompt(label) => match rpassword::prompt_password(format!("{label}: ")) {
                Ok(value) if !value.is_empty() => Ok(SecretString::from(value)),
                Ok(_) => Err(missing(format!("nothing was typed for `{label}`"))),
                Err(err) => Err(missing(format!(
                    "cannot prompt for `{label}`: no terminal ({})",
                    err.kind()
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
}
