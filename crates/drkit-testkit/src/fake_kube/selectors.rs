//! Label and field selectors.

use serde_json::Value;

#[derive(Debug)]
pub(super) enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl LabelReq {
    pub(super) fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        match self {
            Self::Eq(k, v) => get(k) == Some(v.as_str()),
            Self::NotEq(k, v) => get(k) != Some(v.as_str()),
            Self::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Self::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Self::Exists(k) => get(k).is_some(),
            Self::NotExists(k) => get(k).is_none(),
        }
    }
}

fn valid_label_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 317
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(s: &str) -> bool {
    s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Splits at commas outside parentheses.
fn split_terms(s: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut depth = 0_i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => terms.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    terms.push(cur);
    terms
        .into_iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

fn parse_set(key: &str, rest: &str) -> Result<(String, Vec<String>), String> {
    let key = key.trim();
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected (values) after {key:?}"))?;
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
    if !valid_label_part(key) || values.iter().any(|v| !valid_value(v)) {
        return Err(format!("invalid set requirement on {key:?}"));
    }
    Ok((key.to_owned(), values))
}

pub(super) fn parse_selector(s: &str) -> Result<Vec<LabelReq>, String> {
    let mut out = Vec::new();
    for term in split_terms(s) {
        let req = if let Some(k) = term.strip_prefix('!') {
            LabelReq::NotExists(k.trim().to_owned())
        } else if let Some((k, v)) = term.split_once("!=") {
            LabelReq::NotEq(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = term.split_once("==") {
            LabelReq::Eq(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = term.split_once('=') {
            LabelReq::Eq(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, rest)) = term.split_once(" notin ") {
            let (k, vs) = parse_set(k, rest)?;
            LabelReq::NotIn(k, vs)
        } else if let Some((k, rest)) = term.split_once(" in ") {
            let (k, vs) = parse_set(k, rest)?;
            LabelReq::In(k, vs)
        } else {
            LabelReq::Exists(term.clone())
        };
        let ok = match &req {
            LabelReq::Eq(k, v) | LabelReq::NotEq(k, v) => valid_label_part(k) && valid_value(v),
            LabelReq::Exists(k) | LabelReq::NotExists(k) => valid_label_part(k),
            LabelReq::In(..) | LabelReq::NotIn(..) => true,
        };
        if !ok {
            return Err(format!("invalid label selector term {term:?}"));
        }
        out.push(req);
    }
    Ok(out)
}

#[derive(Debug)]
pub(super) struct FieldReq {
    pointer: &'static str,
    value: String,
    equal: bool,
}

impl FieldReq {
    pub(super) fn matches(&self, obj: &Value) -> bool {
        let actual = obj
            .pointer(self.pointer)
            .and_then(Value::as_str)
            .unwrap_or_default();
        (actual == self.value) == self.equal
    }
}

pub(super) fn parse_field_selector(s: &str) -> Result<Vec<FieldReq>, String> {
    let mut out = Vec::new();
    for term in split_terms(s) {
        let (field, value, equal) = if let Some((f, v)) = term.split_once("!=") {
            (f, v, false)
        } else if let Some((f, v)) = term.split_once("==") {
            (f, v, true)
        } else if let Some((f, v)) = term.split_once('=') {
            (f, v, true)
        } else {
            return Err(format!("invalid field selector {term:?}"));
        };
        let pointer = match field.trim() {
            "metadata.name" => "/metadata/name",
            "metadata.namespace" => "/metadata/namespace",
            "status.phase" => "/status/phase",
            "spec.nodeName" => "/spec/nodeName",
            other => {
                return Err(format!(
                    "field label not supported: {other} (this fake supports metadata.name, \
                     metadata.namespace, status.phase, spec.nodeName)"
                ));
            }
        };
        out.push(FieldReq {
            pointer,
            value: value.trim().to_owned(),
            equal,
        });
    }
    Ok(out)
}
