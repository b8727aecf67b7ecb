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
