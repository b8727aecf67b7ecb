//! The terminal prompt `prompt:LABEL` secret references are read with: no echo, on the
//! controlling terminal (not standard input or output, which may be redirected).

use drkit::core::{SecretPrompt, SecretString};

/// Asks at the terminal, without echo: `LABEL: `.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TerminalPrompt;

impl SecretPrompt for TerminalPrompt {
    fn prompt(&self, label: &str) -> std::io::Result<SecretString> {
        rpassword::prompt_password(format!("{label}: ")).map(SecretString::from)
    }
}
