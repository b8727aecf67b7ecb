//! Parameter values shared by the custom kinds: program arguments, and values that may be
//! secret (environment variables, HTTP headers).

use drkit_core::{ActionError, SecretRef, SecretString};
use serde::Deserialize;

use crate::process::EnvValue;

/// One argument of a program: text, or — refused by `validate` — a secret reference (a secret
/// is given to a program through `env` only: its arguments are visible to every user of the
/// machine in `ps` and `/proc`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Plain text, passed as one whole argument (a `${...}` value is never split or parsed; a
    /// number or a boolean, e.g. from a `${env.NAME}` that reads as one, is passed as text).
    Text(String),
    /// `{ secret = "env:NAME" }`: refused in an argument list.
    Secret {
        /// The reference.
        secret: SecretRef,
    },
}

impl From<&str> for Arg {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

/// A value that may be secret: an environment variable of a program, an HTTP header. The
/// secret is read when it is used, reaches only the program's environment or the request's
/// header, and is redacted from everything drkit keeps of the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TextOrSecret {
    /// Plain text (a number or a boolean is passed as its text).
    Text(String),
    /// `{ secret = "env:NAME" }` (or `file:`, `prompt:`).
    Secret {
        /// The reference.
        secret: SecretRef,
    },
}

impl TextOrSecret {
    /// The value: the text, or the secret read from its reference (added to `secrets`, to be
    /// redacted). `what` names it in an error.
    pub fn resolve(
        &self,
        what: &str,
        secrets: &mut Vec<SecretString>,
    ) -> Result<EnvValue, ActionError> {
        match self {
            Self::Text(text) => Ok(EnvValue::Plain(text.clone())),
            Self::Secret { secret } => {
                let value = secret.resolve().map_err(|e| e.with_resource(what))?;
                secrets.push(value.clone());
                Ok(EnvValue::Secret(value))
            }
        }
    }
}

/// What an argument or a value may be written as.
#[derive(Deserialize)]
#[serde(untagged)]
enum Form {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
    Secret { secret: SecretRef },
}

impl Form {
    fn decode<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Result<String, SecretRef>, D::Error> {
        match Self::deserialize(d) {
            Ok(Self::Text(text)) => Ok(Ok(text)),
            Ok(Self::Number(n)) => Ok(Ok(n.to_string())),
            Ok(Self::Bool(b)) => Ok(Ok(b.to_string())),
            Ok(Self::Secret { secret }) => Ok(Err(secret)),
            Err(_) => Err(serde::de::Error::custom(
                "expected text, a number, a boolean, or { secret = \"env:NAME\" }",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for Arg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Form::decode(d)? {
            Ok(text) => Self::Text(text),
            Err(secret) => Self::Secret { secret },
        })
    }
}

impl<'de> Deserialize<'de> for TextOrSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Form::decode(d)? {
            Ok(text) => Self::Text(text),
            Err(secret) => Self::Secret { secret },
        })
    }
}
