//! What the EKS actions share: node-group resources and outputs, health issues, and name
//! checks.

use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{Outputs, Resource};
use serde_json::Value;

use crate::port::{HealthIssue, Nodegroup};

/// The `health_issues` output.
pub(crate) const HEALTH_ISSUES: OutputDoc = OutputDoc::new(
    "health_issues",
    "the health issues EKS reports, as a list of `CODE: message`",
);

/// The outputs every node-group action reports about a node group (with [`HEALTH_ISSUES`]).
pub(crate) const NODEGROUP_OUTPUTS: [OutputDoc; 6] = [
    OutputDoc::new(
        "status",
        "the node group status (ACTIVE, UPDATING, DEGRADED, ...)",
    ),
    OutputDoc::new("min_size", "the minimum size"),
    OutputDoc::new("max_size", "the maximum size"),
    OutputDoc::new("desired_size", "the desired size"),
    OutputDoc::new("instance_types", "the instance types, as a list"),
    OutputDoc::new("capacity_type", "ON_DEMAND, SPOT or CAPACITY_BLOCK"),
];

pub(crate) fn issues_value(issues: &[HealthIssue]) -> Value {
    Value::from(issues.iter().map(ToString::to_string).collect::<Vec<_>>())
}

pub(crate) fn issues_text(issues: &[HealthIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The resource of a node group: `eks:nodegroup/<cluster>/<nodegroup>`.
pub(crate) fn nodegroup_resource(cluster: &str, nodegroup: &str, region: Option<&str>) -> Resource {
    Resource::new("eks", "nodegroup", format!("{cluster}/{nodegroup}")).in_region(region)
}

/// The outputs every node-group action reports about a node group.
pub(crate) fn nodegroup_outputs(ng: &Nodegroup) -> Outputs {
    Outputs::new()
        .with("status", ng.status.clone())
        .with("min_size", ng.scaling.min_size)
        .with("max_size", ng.scaling.max_size)
        .with("desired_size", ng.scaling.desired_size)
        .with("instance_types", Value::from(ng.instance_types.clone()))
        .with(
            "capacity_type",
            ng.capacity_type.clone().unwrap_or_default(),
        )
        .with("health_issues", issues_value(&ng.health_issues))
}

/// EKS names: letters, digits, hyphens and underscores, starting with a letter or digit.
/// Checked before any call so a typo fails at plan time, not mid-recovery.
fn name(param: &str, value: &str, what: &str, max: usize) -> Result<(), ParamError> {
    let bad = |why: String| {
        Err(ParamError::new(
            param,
            format!("`{value}` is not a valid {what}: {why}"),
        ))
    };
    if value.is_empty() || value.len() > max {
        return bad(format!("it must have 1 to {max} characters"));
    }
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad("it must start with a letter or a digit".to_owned());
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return bad("only letters, digits, hyphens and underscores are allowed".to_owned());
    }
    Ok(())
}

/// The `cluster` parameter: an EKS cluster name.
pub(crate) fn cluster_name(value: &str) -> Result<(), ParamError> {
    name("cluster", value, "EKS cluster name", 100)
}

/// The `nodegroup` parameter: an EKS node group name.
pub(crate) fn nodegroup_name(value: &str) -> Result<(), ParamError> {
    name("nodegroup", value, "EKS node group name", 63)
}
