//! IAM policy documents: validation before any call, comparison by meaning, and a deliberately
//! simple "is this action allowed?" test.
//!
//! This is **not** a full IAM policy evaluator: conditions, resources, permission boundaries,
//! SCPs and session policies are not considered. [`PolicyDocument::allows`] answers whether some
//! `Allow` statement names the action (with `*` / `?` wildcards, case-insensitively) and no
//! `Deny` statement names it (a `Deny` counts whatever its `Resource` and `Condition`, so the
//! answer errs on the side of "missing").

use std::fmt;

use serde_json::{Map, Value};

/// A validated IAM policy document (JSON).
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyDocument {
    value: Value,
}

/// Why a policy document was refused: where in the document, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    /// Where: `Statement[1].Effect`, or `line 3, column 5` for a JSON syntax error.
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.location, self.message)
        }
    }
}

impl std::error::Error for PolicyError {}

fn err(location: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError {
        location: location.into(),
        message: message.into(),
    }
}

/// The keys whose value may be one string or a list of strings (order does not matter).
const STRING_OR_LIST: &[&str] = &[
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
];

impl PolicyDocument {
    /// Parses and validates a JSON policy document.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            err(
                format!("line {}, column {}", e.line(), e.column()),
                format!("not valid JSON: {e}"),
            )
        })?;
        Self::from_value(value)
    }

    /// Validates a policy document given as a JSON value: an object with `Version` and
    /// `Statement`; each statement with `Effect` (`Allow` or `Deny`), `Action` (or `NotAction`)
    /// and `Resource` (or `NotResource`), as strings or lists of strings.
    pub fn from_value(value: Value) -> Result<Self, PolicyError> {
        let Value::Object(doc) = &value else {
            return Err(err("", "a policy document must be a JSON object"));
        };
        match doc.get("Version") {
            None => return Err(err("Version", "missing (use \"2012-10-17\")")),
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(other) => {
                return Err(err(
                    "Version",
                    format!("must be \"2012-10-17\" (or \"2008-10-17\"), found {other}"),
                ));
            }
        }
        let statements: Vec<(String, &Value)> = match doc.get("Statement") {
            None => return Err(err("Statement", "missing")),
            Some(Value::Array(list)) if list.is_empty() => {
                return Err(err("Statement", "must hold at least one statement"));
            }
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("Statement[{i}]"), s))
                .collect(),
            Some(s @ Value::Object(_)) => vec![("Statement".to_owned(), s)],
            Some(other) => {
                return Err(err(
                    "Statement",
                    format!("must be an object or a list of objects, found {other}"),
                ));
            }
        };
        for (at, statement) in statements {
            validate_statement(&at, statement)?;
        }
        Ok(Self { value })
    }

    /// A document read back from IAM, taken as it is (IAM validated it when it was written).
    pub(crate) fn read_back(value: Value) -> Self {
        Self { value }
    }

    /// The document as a JSON value, as given.
    pub fn as_value(&self) -> &Value {
        &self.value
    }

    /// The document as compact JSON text (what is sent to IAM).
    pub fn to_json(&self) -> String {
        self.value.to_string()
    }

    /// Whether two documents mean the same: compared as parsed JSON, with a single statement
    /// equal to a list of one, and `Action`/`Resource`/`Principal` lists compared as sets (a
    /// single string equal to a list of one). Key order and white space never matter.
    pub fn same_as(&self, other: &Self) -> bool {
        normalized(&self.value) == normalized(&other.value)
    }

    /// Whether this document means the same as `other`, a document read back from IAM (parsed
    /// JSON, not necessarily valid by [`PolicyDocument::from_value`]'s rules). See
    /// [`same_as`](Self::same_as).
    pub fn same_as_value(&self, other: &Value) -> bool {
        normalized(&self.value) == normalized(other)
    }

    /// Reads a document parameter: a JSON object (a TOML table), JSON text, or `file:<path>`
    /// naming a JSON file (read now, so a missing file fails before any call).
    pub fn from_param(param: &Value) -> Result<Self, PolicyError> {
        match param {
            Value::String(text) => match text.strip_prefix("file:") {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| err(format!("file {path}"), format!("cannot be read: {e}")))?;
                    Self::parse(&text).map_err(|e| PolicyError {
                        location: format!("file {path}: {}", e.location),
                        message: e.message,
                    })
                }
                None => Self::parse(text),
            },
            Value::Object(_) => Self::from_value(param.clone()),
            other => Err(err(
                "",
                format!("must be a JSON policy (text or table) or `file:<path>`, found {other}"),
            )),
        }
    }

    /// Whether `action` (e.g. `rds:DescribeDBClusters`, or a pattern such as `rds:Describe*`
    /// taken literally) is allowed by some `Allow` statement and named by no `Deny` statement.
    /// Not a full IAM evaluator: see the module documentation.
    pub fn allows(&self, action: &str) -> bool {
        let mut allowed = false;
        for statement in self.statements() {
            let Some(effect) = statement.get("Effect").and_then(Value::as_str) else {
                continue;
            };
            if !statement_names(statement, action) {
                continue;
            }
            match effect {
                "Deny" => return false,
                "Allow" => allowed = true,
                _ => {}
            }
        }
        allowed
    }

    /// Whether some `Deny` statement names `action`.
    pub fn denies(&self, action: &str) -> bool {
        self.statements().any(|s| {
            s.get("Effect").and_then(Value::as_str) == Some("Deny") && statement_names(s, action)
        })
    }

    fn statements(&self) -> impl Iterator<Item = &Map<String, Value>> {
        let list: Vec<&Value> = match self.value.get("Statement") {
            Some(Value::Array(list)) => list.iter().collect(),
            Some(one) => vec![one],
            None => Vec::new(),
        };
        list.into_iter().filter_map(Value::as_object)
    }
}

/// Whether a statement's `Action` (or `NotAction`) covers `action`.
fn statement_names(statement: &Map<String, Value>, action: &str) -> bool {
    if let Some(patterns) = statement.get("Action") {
        strings(patterns).any(|p| wildcard_match(p, action))
    } else if let Some(patterns) = statement.get("NotAction") {
        !strings(patterns).any(|p| wildcard_match(p, action))
    } else {
        false
    }
}

fn strings(value: &Value) -> impl Iterator<Item = &str> {
    let list: Vec<&str> = match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
}

/// IAM action matching: `*` matches any run of characters, `?` any one character, and the
/// comparison ignores case (IAM action names are case-insensitive).
pub fn wildcard_match(pattern: &str, action: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let a: Vec<char> = action.to_ascii_lowercase().chars().collect();
    // Iterative glob matching with backtracking to the last `*`.
    let (mut pi, mut ai) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ai < a.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ai));
                pi += 1;
            }
            Some(&c) if c == '?' || c == a[ai] => {
                pi += 1;
                ai += 1;
            }
            _ => match star {
                Some((sp, sa)) => {
                    pi = sp + 1;
                    ai = sa + 1;
                    star = Some((sp, sa + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn validate_statement(at: &str, statement: &Value) -> Result<(), PolicyError> {
    let Value::Object(s) = statement else {
        return Err(err(
            at,
            format!("a statement must be an object, found {statement}"),
        ));
    };
    match s.get("Effect") {
        None => {
            return Err(err(
                format!("{at}.Effect"),
                "missing (\"Allow\" or \"Deny\")",
            ));
        }
        Some(Value::String(e)) if e == "Allow" || e == "Deny" => {}
        Some(other) => {
            return Err(err(
                format!("{at}.Effect"),
                format!("must be \"Allow\" or \"Deny\", found {other}"),
            ));
        }
    }
    for (key, alternative) in [("Action", "NotAction"), ("Resource", "NotResource")] {
        let (name, value) = match (s.get(key), s.get(alternative)) {
            (Some(v), None) => (key, v),
            (None, Some(v)) => (alternative, v),
            (Some(_), Some(_)) => {
                return Err(err(
                    at,
                    format!("give `{key}` or `{alternative}`, not both"),
                ));
            }
            (None, None) => {
                return Err(err(format!("{at}.{key}"), "missing"));
            }
        };
        validate_strings(&format!("{at}.{name}"), value)?;
    }
    Ok(())
}

fn validate_strings(at: &str, value: &Value) -> Result<(), PolicyError> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Ok(()),
        Value::Array(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                if item.as_str().is_none_or(|s| s.trim().is_empty()) {
                    return Err(err(
                        format!("{at}[{i}]"),
                        format!("must be a non-empty string, found {item}"),
                    ));
                }
            }
            Ok(())
        }
        other => Err(err(
            at,
            format!("must be a non-empty string or list of strings, found {other}"),
        )),
    }
}

/// The comparison form: statements as a list, string-or-list values as sorted lists.
fn normalized(value: &Value) -> Value {
    let Value::Object(doc) = value else {
        return value.clone();
    };
    let mut out = doc.clone();
    if let Some(statement) = doc.get("Statement") {
        let list = match statement {
            Value::Array(list) => list.iter().map(normalized_statement).collect(),
            one => vec![normalized_statement(one)],
        };
        out.insert("Statement".to_owned(), Value::Array(list));
    }
    Value::Object(out)
}

fn normalized_statement(statement: &Value) -> Value {
    let Value::Object(s) = statement else {
        return statement.clone();
    };
    let mut out = s.clone();
    for key in STRING_OR_LIST {
        if let Some(v) = s.get(*key) {
            out.insert((*key).to_owned(), set_of(v));
        }
    }
    Value::Object(out)
}

fn set_of(value: &Value) -> Value {
    match value {
        Value::String(_) => Value::Array(vec![value.clone()]),
        Value::Array(items) => {
            let mut items = items.clone();
            items.sort_by_key(ToString::to_string);
            items.dedup();
            Value::Array(items)
        }
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), set_of(v))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
