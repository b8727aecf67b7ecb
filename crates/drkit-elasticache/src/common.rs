//! What the ElastiCache kinds share: the resource and the parameter checks.

use drkit_core::Resource;
use drkit_core::registry::ParamError;

/// The resource of a replication group: `elasticache:replication-group/<id>`.
pub(crate) fn group_resource(group: &str) -> Resource {
    Resource::new("elasticache", "replication-group", group)
}

/// ElastiCache identifiers: 1 to `max` letters, digits or hyphens; first a letter; no trailing
/// hyphen and no two hyphens in a row. Checked before any call so a typo fails at plan time.
pub(crate) fn identifier(param: &str, value: &str, max: usize) -> Result<(), ParamError> {
    let bad = |why: String| {
        Err(ParamError::new(
            param,
            format!("`{value}` is not a valid ElastiCache identifier: {why}"),
        ))
    };
    if value.is_empty() || value.len() > max {
        return bad(format!("it must have 1 to {max} characters"));
    }
    if !value.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return bad("it must start with a letter".to_owned());
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return bad("only letters, digits and hyphens are allowed".to_owned());
    }
    if value.ends_with('-') || value.contains("--") {
        return bad("it cannot end with a hyphen or contain two hyphens in a row".to_owned());
    }
    Ok(())
}

/// A replication group id: an identifier of at most 40 characters.
pub(crate) fn group_id(value: &str) -> Result<(), ParamError> {
    identifier("replication_group", value, 40)
}

/// Node group ids are 1 to 4 letters or digits (`0001`).
pub(crate) fn node_group_id(value: &str) -> Result<(), ParamError> {
    if value.is_empty() || value.len() > 4 || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ParamError::new(
            "node_group",
            format!("`{value}` is not a valid node group id: 1 to 4 letters or digits, e.g. 0001"),
        ));
    }
    Ok(())
}

/// The resource of a global datastore: `elasticache:global-replication-group/<id>`.
pub(crate) fn global_resource(global: &str) -> Resource {
    Resource::new("elasticache", "global-replication-group", global)
}

/// A global datastore id, e.g. `ldgnf-mint-global` (ElastiCache's prefix, a hyphen, the suffix
/// given at creation): 1 to 255 letters, digits and hyphens, first a letter.
pub(crate) fn global_id(param: &str, value: &str) -> Result<(), ParamError> {
    let bad = |why: &str| {
        Err(ParamError::new(
            param,
            format!("`{value}` is not a valid global datastore id: {why}"),
        ))
    };
    if value.is_empty() || value.len() > 255 {
        return bad("it must have 1 to 255 characters");
    }
    if !value.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return bad("it must start with a letter");
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return bad("only letters, digits and hyphens are allowed");
    }
    Ok(())
}

/// Whether `name` looks like an AWS region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`):
/// lowercase words joined by `-`, the first of two letters, ending in a number. The same rule
/// as the runner's `is_region_name`.
pub(crate) fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    (2..=3).contains(&words.len())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
        && words.first().is_some_and(|w| w.len() == 2)
        && (1..=2).contains(&number.len())
        && number.chars().all(|c| c.is_ascii_digit())
}

/// A region parameter: a region name.
pub(crate) fn region(param: &str, value: &str) -> Result<(), ParamError> {
    if is_region_name(value) {
        Ok(())
    } else {
        Err(ParamError::new(
            param,
            format!("`{value}` is not a region name (e.g. us-east-1, eu-central-2)"),
        ))
    }
}
