//! Errors, answered as `Status` objects.

use serde_json::{Value, json};

use super::discovery::ResourceType;

/// A failure answered as a `Status` object.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) code: u16,
    pub(super) reason: &'static str,
    pub(super) message: String,
    pub(super) details: Value,
}

impl ApiError {
    pub(super) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: json!({}),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub(super) fn not_found_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub(super) fn not_found(r: &ResourceType, name: &str) -> Self {
        Self {
            details: json!({"name": name, "group": r.group, "kind": r.plural}),
            ..Self::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", r.qualified()),
            )
        }
    }

    pub(super) fn invalid(r: &ResourceType, name: &str, field: &str, problem: &str) -> Self {
        let kind = if r.group.is_empty() {
            r.kind.to_owned()
        } else {
            format!("{}.{}", r.kind, r.group)
        };
        Self {
            details: json!({"name": name, "group": r.group, "kind": r.kind,
                "causes": [{"reason": "FieldValueInvalid", "message": problem, "field": field}]}),
            ..Self::new(
                422,
                "Invalid",
                format!("{kind} \"{name}\" is invalid: {field}: {problem}"),
            )
        }
    }

    pub(super) fn conflict(r: &ResourceType, name: &str) -> Self {
        Self {
            details: json!({"name": name, "group": r.group, "kind": r.plural}),
            ..Self::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been \
                     modified; please apply your changes to the latest version and try again",
                    r.qualified()
                ),
            )
        }
    }

    pub(super) fn body(&self) -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": self.message, "reason": self.reason, "details": self.details,
               "code": self.code})
    }
}
