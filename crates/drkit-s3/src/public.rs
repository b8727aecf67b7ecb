//! Whether a bucket's objects can be read by anyone: what a website endpoint needs (it sends
//! anonymous requests; a private object answers 403). Read from the bucket's own Block Public
//! Access settings and its bucket policy; the account-level Block Public Access
//! (`s3control:GetPublicAccessBlock`) and object ACLs are not read.

use serde_json::Value;

use crate::port::PublicAccessBlock;

/// Why anonymous `GET`s of `arn:aws:s3:::bucket/key` would be refused, or `Ok` with a note
/// when the grant is conditional. `block` is the bucket's Block Public Access (`None`: it has
/// none), `policy` its bucket policy (`None`: it has none).
pub(crate) fn public_read_problem(
    bucket: &str,
    key: &str,
    block: Option<PublicAccessBlock>,
    policy: Option<&str>,
) -> Result<Option<String>, String> {
    let block = block.unwrap_or_default();
    if block.restrict_public_buckets {
        return Err(format!(
            "Block Public Access of bucket {bucket} has RestrictPublicBuckets on: a public bucket \
             policy grants nothing to anonymous requests, so the website answers 403; turn it \
             off for this bucket (PutPublicAccessBlock)"
        ));
    }
    let refused = |why: String| {
        let hint = if block.block_public_policy {
            " (and its Block Public Access has BlockPublicPolicy on, which refuses such a policy)"
        } else {
            ""
        };
        Err(format!(
            "{why}: the website answers 403; grant s3:GetObject on arn:aws:s3:::{bucket}/* to \
             Principal \"*\" in its bucket policy{hint}"
        ))
    };
    let Some(policy) = policy else {
        return refused(format!("bucket {bucket} has no bucket policy"));
    };
    match policy_grants_public_read(policy, bucket, key) {
        Grant::Unconditional => Ok(None),
        Grant::Conditional => Ok(Some(
            "the bucket policy grants s3:GetObject to everyone only under a condition (e.g. \
             aws:Referer or aws:SourceIp): requests without it get 403"
                .to_owned(),
        )),
        Grant::Denied => refused(format!(
            "the bucket policy of {bucket} denies s3:GetObject to everyone"
        )),
        Grant::None => refused(format!(
            "the bucket policy of {bucket} grants s3:GetObject on {key} to no anonymous reader"
        )),
        Grant::Unreadable(why) => refused(format!(
            "the bucket policy of {bucket} cannot be read ({why})"
        )),
    }
}

/// What a policy says about anonymous `s3:GetObject` of one object.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Grant {
    /// An `Allow` to everyone, without a condition.
    Unconditional,
    /// An `Allow` to everyone, under a condition drkit does not evaluate.
    Conditional,
    /// A `Deny` to everyone without a condition (it wins over any `Allow`).
    Denied,
    /// No statement allows it.
    None,
    /// Not a policy document.
    Unreadable(String),
}

/// Reads `policy`'s statements about `s3:GetObject` of `arn:<partition>:s3:::bucket/key` by
/// `Principal: "*"` (or `{"AWS": "*"}`). Statements with `NotPrincipal`, `NotAction` or
/// `NotResource` are not evaluated (they never count as a grant).
pub(crate) fn policy_grants_public_read(policy: &str, bucket: &str, key: &str) -> Grant {
    let doc: Value = match serde_json::from_str(policy) {
        Ok(v) => v,
        Err(e) => return Grant::Unreadable(format!("not JSON: {e}")),
    };
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Grant::Unreadable("no Statement".into()),
    };
    let object = format!("{bucket}/{key}");
    let mut grant = Grant::None;
    for s in statements {
        let about_it = s.get("NotPrincipal").is_none()
            && s.get("NotAction").is_none()
            && s.get("NotResource").is_none()
            && s.get("Principal").is_some_and(is_everyone)
            && strings(s.get("Action"))
                .iter()
                .any(|a| glob(&a.to_ascii_lowercase(), "s3:getobject"))
            && strings(s.get("Resource"))
                .iter()
                .any(|r| resource_matches(r, &object));
        if !about_it {
            continue;
        }
        let conditional = s.get("Condition").is_some();
        match (s.get("Effect").and_then(Value::as_str), conditional) {
            (Some("Deny"), false) => return Grant::Denied,
            (Some("Allow"), false) => grant = Grant::Unconditional,
            (Some("Allow"), true) if grant == Grant::None => grant = Grant::Conditional,
            _ => {}
        }
    }
    grant
}

/// `"*"`, `{"AWS": "*"}` or `{"AWS": [.., "*", ..]}`.
fn is_everyone(principal: &Value) -> bool {
    match principal {
        Value::String(s) => s == "*",
        Value::Object(m) => strings(m.get("AWS")).iter().any(|s| s == "*"),
        _ => false,
    }
}

/// A string or a list of strings.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether the resource pattern `arn:<partition>:s3:::<pattern>` (or `*`) covers `object`
/// (`bucket/key`).
fn resource_matches(pattern: &str, object: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    pattern
        .split_once(":s3:::")
        .is_some_and(|(arn, rest)| arn.starts_with("arn:") && glob(rest, object))
}

/// IAM's wildcard match: `*` any run of characters, `?` any one.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
#[path = "public_tests.rs"]
mod tests;
