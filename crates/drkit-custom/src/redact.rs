//! Redaction of secret values from what a custom step captured (a program's output, an HTTP
//! answer) before any of it is journalled, logged or put in an error.

use aho_corasick::AhoCorasick;
use drkit_core::{ExposeSecret, SecretString};

/// What replaces a secret value.
pub const REDACTED: &str = "[REDACTED]";

/// Removes every given secret value from text. Its `Debug` shows how many values it knows,
/// never a value.
#[derive(Clone, Default)]
pub struct Redactor {
    /// The values, longest first (so a value that contains another is replaced whole).
    values: Vec<SecretString>,
    matcher: Option<AhoCorasick>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("values", &self.values.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor of `values` (empty ones are ignored).
    pub fn new(values: impl IntoIterator<Item = SecretString>) -> Self {
        let mut values: Vec<SecretString> = values
            .into_iter()
            .filter(|v| !v.expose_secret().is_empty())
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.expose_secret().len()));
        let matcher = AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(values.iter().map(|v| v.expose_secret().as_bytes()))
            .ok()
            .filter(|_| !values.is_empty());
        Self { values, matcher }
    }

    /// `bytes` as text (invalid UTF-8 replaced) with every secret value replaced by
    /// [`REDACTED`]. When `cut` (the bytes are the first part of a longer stream), a tail that
    /// is the beginning of a secret value is dropped too, so no part of a value survives the
    /// cut.
    pub fn text(&self, bytes: &[u8], cut: bool) -> String {
        let mut bytes = bytes;
        if cut {
            bytes = self.without_partial_tail(bytes);
        }
        let replaced = match &self.matcher {
            Some(m) => m.replace_all_bytes(bytes, &vec![REDACTED.as_bytes(); self.values.len()]),
            None => bytes.to_vec(),
        };
        String::from_utf8_lossy(&replaced).into_owned()
    }

    /// `text` with every secret value replaced.
    pub fn str(&self, text: &str) -> String {
        self.text(text.as_bytes(), false)
    }

    fn without_partial_tail<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        let mut end = bytes.len();
        for value in &self.values {
            let value = value.expose_secret().as_bytes();
            // The longest proper prefix of `value` that `bytes` ends with.
            if let Some(k) = (1..value.len())
                .rev()
                .find(|&k| bytes[..end].ends_with(&value[..k]))
            {
                end -= k;
            }
        }
        &bytes[..end]
    }
}

/// The first `max` characters of `text` (whole characters), with `…` when cut.
pub(crate) fn first_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(values: &[&str]) -> Redactor {
        Redactor::new(values.iter().map(|v| SecretString::from(v.to_string())))
    }

    #[test]
    fn every_value_is_replaced_longest_first() {
        let r = redactor(&["hunter2", "hunter2-long"]);
        assert_eq!(
            r.str("a hunter2 b hunter2-long c"),
            "a [REDACTED] b [REDACTED] c"
        );
        assert_eq!(format!("{r:?}"), "Redactor { values: 2 }");
    }

    #[test]
    fn a_cut_stream_loses_the_beginning_of_a_value_at_its_end() {
        let r = redactor(&["s3cr3t-token"]);
        assert_eq!(r.text(b"token=s3cr3t-t", true), "token=");
        // Not cut: the text ends there, nothing to hide.
        assert_eq!(r.text(b"ends with s3", false), "ends with s3");
    }

    #[test]
    fn no_values_changes_nothing() {
        let r = Redactor::default();
        assert_eq!(r.text(b"plain \xff", true), "plain \u{fffd}");
    }

    #[test]
    fn first_chars_cuts_on_characters() {
        assert_eq!(first_chars("héllo", 2), "hé…");
        assert_eq!(first_chars("hi", 5), "hi");
    }
}
