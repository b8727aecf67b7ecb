//! `drkit schema`: the JSON Schema (draft-07) of the runbook file, for an editor's TOML support
//! (taplo, Even Better TOML): completion, hover docs and checks as you type.
//!
//! The file's structure comes from the serde structs [`crate::runbook`] parses it into (derived
//! with schemars, their doc comments as descriptions); the types they borrow from the runner and
//! the core (durations, retry, tiers, failure policy, modes, objectives) are described here from
//! those types' own values and defaults. Each step's `params` are those of its `action`, from the
//! registry's descriptors (what `drkit actions` prints): names, docs, the required ones, and a
//! type where the descriptor's words name one. A whole `${env.NAME}` or `${steps...}` reference
//! is accepted wherever a value is (it takes the parameter's type when the runbook is loaded).
//!
//! Draft-07 rather than 2020-12: what taplo's validator (and most editors) implement. The
//! per-action parameters are `if`/`then` branches next to a `$ref` to the step's fields, in one
//! `allOf`, so an editor that does not evaluate `if` still completes the step's fields.

use drkit::core::RetryPolicy;
use drkit::core::registry::{ActionDescriptor, ParamDoc, Registry};
use drkit::runner::rto::RtoBudgets;
use drkit::runner::{Mode, OnFailure, Tier};
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use crate::runbook::File;

/// Where the schema's shared definitions are (draft-07).
const DEFINITIONS: &str = "definitions";

/// A whole reference, replaced when the runbook is loaded (`${env...}`) or the step runs
/// (`${steps...}`): the one string a value of any type may be written as.
const REFERENCE_PATTERN: &str = r"^\$\{(env|steps)\.[^{}]+\}$";

/// A secret reference in its string form.
const SECRET_PATTERN: &str = "^(env|file|prompt):.+";

/// The failure policies, in the order the docs give them. The match makes a new variant a
/// compile error here.
const ON_FAILURE: [OnFailure; 3] = [OnFailure::Abort, OnFailure::Continue, OnFailure::Rollback];
const _: fn(OnFailure) = |f| match f {
    OnFailure::Abort | OnFailure::Continue | OnFailure::Rollback => {}
};

/// The JSON Schema of a runbook whose actions are those of `registry` (the built-in ones and a
/// team's own, for a binary made with [`crate::main_with`]).
pub fn runbook_schema(registry: &Registry) -> Value {
    // TOML has no null: an optional field's default is its absence.
    let no_null_default = RecursiveTransform(|schema: &mut Schema| {
        if schema.get("default") == Some(&Value::Null) {
            schema.remove("default");
        }
    });
    let mut root = SchemaSettings::draft07()
        .with_transform(no_null_default)
        .into_generator()
        .into_root_schema_for::<File>()
        .to_value();
    let kinds: Vec<&ActionDescriptor> = registry.descriptors().collect();
    let definitions = root.get_mut(DEFINITIONS).and_then(Value::as_object_mut);
    if let Some(definitions) = definitions {
        if let Some(action) = definitions
            .get_mut("StepFields")
            .and_then(|s| s.pointer_mut("/properties/action"))
            .and_then(Value::as_object_mut)
        {
            action.insert("enum".into(), kinds.iter().map(|d| json!(d.kind)).collect());
        }
        let mut all_of = vec![json!({ "$ref": format!("#/{DEFINITIONS}/StepFields") })];
        all_of.extend(kinds.iter().map(|d| action_branch(d)));
        definitions.insert(
            "Step".into(),
            json!({
                "description": "One step: a registered action with its parameters, run as check \
                                -> (approval) -> execute -> verify.",
                "allOf": all_of,
            }),
        );
        definitions.insert("reference".into(), reference());
        definitions.insert("secret".into(), secret());
    }
    if let Some(items) = root
        .pointer_mut("/properties/steps/items")
        .and_then(Value::as_object_mut)
    {
        items.insert("$ref".into(), json!(format!("#/{DEFINITIONS}/Step")));
    }
    root
}

/// When a step's `action` is `d.kind`: its `params` are `d`'s.
fn action_branch(d: &ActionDescriptor) -> Value {
    let properties: Map<String, Value> = d
        .params
        .iter()
        .map(|p| (p.name.to_owned(), param(p)))
        .collect();
    let required: Vec<&str> = d
        .params
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name)
        .collect();
    let mut params = json!({
        "description": format!("{}: {}", d.kind, d.summary),
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    let mut then = json!({});
    if !required.is_empty() {
        // Without `params`, the step has none of its required parameters.
        then = json!({ "required": ["params"] });
        if let Some(params) = params.as_object_mut() {
            params.insert("required".into(), json!(required));
        }
    }
    if let Some(then) = then.as_object_mut() {
        then.insert("properties".into(), json!({ "params": params }));
    }
    json!({
        "if": { "properties": { "action": { "const": d.kind } }, "required": ["action"] },
        "then": then,
    })
}

/// One parameter: its doc, and its type where the descriptor's words name one (a whole
/// reference is accepted in place of any value but a string's, which it is already).
fn param(p: &ParamDoc) -> Value {
    let reference = json!({ "$ref": format!("#/{DEFINITIONS}/reference") });
    let secret = json!({ "$ref": format!("#/{DEFINITIONS}/secret") });
    let or_reference = |schema: Value| json!({ "anyOf": [schema, reference] });
    let mut schema = match p.ty {
        "string" | "path" | "duration" => json!({ "type": "string" }),
        ty if ty.starts_with("RFC 3339 time") => json!({ "type": "string" }),
        "integer" => or_reference(json!({ "type": "integer" })),
        "number" => or_reference(json!({ "type": "number" })),
        "bool" | "boolean" => or_reference(json!({ "type": "boolean" })),
        "secret reference" => secret,
        "list of strings" => {
            or_reference(json!({ "type": "array", "items": { "type": "string" } }))
        }
        "list of secret references" => or_reference(json!({ "type": "array", "items": secret })),
        ty if ty.starts_with("list") => or_reference(json!({ "type": "array" })),
        "table" | "request table" => or_reference(json!({ "type": "object" })),
        // Words that name no single JSON type ("integer or list", "JSON value", ...).
        _ => json!({}),
    };
    if let Some(schema) = schema.as_object_mut() {
        let required = if p.required { ", required" } else { "" };
        schema.insert(
            "description".into(),
            json!(format!("{} ({}{required})", p.doc, p.ty)),
        );
    }
    schema
}

/// A whole `${env.NAME}` or `${steps.<id>.outputs.<name>}`.
fn reference() -> Value {
    json!({
        "description": "A whole `${env.NAME}` (read when the runbook is loaded) or \
                        `${steps.<id>.outputs.<name>}` (when the step runs): its value takes \
                        the parameter's type.",
        "type": "string",
        "pattern": REFERENCE_PATTERN,
    })
}

/// Where a secret is read from, never the secret.
fn secret() -> Value {
    json!({
        "description": "Where a secret is read from, never the secret: { secret = \"env:NAME\" }, \
                        { secret = \"file:/path\" }, { secret = \"prompt:LABEL\" }, or the string \
                        \"env:NAME\" / \"file:/path\".",
        "anyOf": [
            {
                "type": "object",
                "properties": { "secret": { "type": "string", "pattern": SECRET_PATTERN } },
                "required": ["secret"],
                "additionalProperties": false,
            },
            { "type": "string", "pattern": SECRET_PATTERN },
            { "$ref": format!("#/{DEFINITIONS}/reference") },
        ],
    })
}

// What the runbook's fields borrow from the runner and the core (the `schema_with` functions
// of `runbook`'s structs).

/// `version`: 1.
pub(crate) fn version(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "const": 1 })
}

/// A humantime duration.
pub(crate) fn duration(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "description": "A duration: \"500ms\", \"30s\", \"5m\", \"1h 30m\", \"2days\".",
    })
}

/// A property for each field of `defaults` (a struct's serialized default value), typed by
/// its value and with it as its default; descriptions from `docs`.
fn fields_of(defaults: &Value, docs: &[(&str, &str)]) -> Map<String, Value> {
    let Some(fields) = defaults.as_object() else {
        return Map::new();
    };
    fields
        .iter()
        .map(|(name, default)| {
            let ty = match default {
                Value::Bool(_) => "boolean",
                Value::Number(_) => "integer",
                _ => "string",
            };
            let mut schema = json!({ "type": ty, "default": default });
            if let Some((_, doc)) = docs.iter().find(|(n, _)| n == name)
                && let Some(schema) = schema.as_object_mut()
            {
                schema.insert("description".into(), json!(doc));
            }
            (name.clone(), schema)
        })
        .collect()
}

/// `retry`: [`RetryPolicy`]'s fields, with its defaults.
pub(crate) fn retry(_: &mut SchemaGenerator) -> Schema {
    let defaults = serde_json::to_value(RetryPolicy::default()).unwrap_or_default();
    let properties = fields_of(
        &defaults,
        &[
            (
                "max_attempts",
                "Attempts in all, the first included (1: no retry).",
            ),
            (
                "initial_backoff",
                "The pause before the second attempt (a duration).",
            ),
            (
                "max_backoff",
                "The longest pause between attempts (a duration).",
            ),
            (
                "jitter",
                "Random jitter on the pauses, so many clients do not retry in lockstep.",
            ),
        ],
    );
    json_schema!({ "type": "object", "properties": properties, "additionalProperties": false })
}

/// `[objectives.rto]`: [`RtoBudgets`]' tiers, with their defaults.
pub(crate) fn rto(_: &mut SchemaGenerator) -> Schema {
    let defaults = serde_json::to_value(RtoBudgets::default()).unwrap_or_default();
    let mut properties = fields_of(
        &defaults,
        &[
            ("critical", "The critical tier's budget (a duration)."),
            (
                "non-critical",
                "The non-critical tier's budget (a duration).",
            ),
            ("full", "Full recovery's budget (a duration)."),
        ],
    );
    // The alias `RtoBudgets` also reads.
    if let Some(non_critical) = properties.get("non-critical").cloned() {
        properties.insert("non_critical".into(), non_critical);
    }
    json_schema!({ "type": "object", "properties": properties, "additionalProperties": false })
}

/// `[objectives.rpo]`: data class -> duration.
pub(crate) fn rpo(generator: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "additionalProperties": duration(generator) })
}

/// `tier`: [`Tier`]'s names.
pub(crate) fn tier(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = Tier::ALL.iter().map(|t| t.as_str()).collect();
    json_schema!({ "type": "string", "enum": names, "default": Tier::default().as_str() })
}

/// `on_failure`: [`OnFailure`]'s names.
pub(crate) fn on_failure(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<Value> = ON_FAILURE
        .iter()
        .filter_map(|f| serde_json::to_value(f).ok())
        .collect();
    let default = serde_json::to_value(OnFailure::default()).unwrap_or_default();
    json_schema!({ "type": "string", "enum": names, "default": default })
}

/// `modes`: a non-empty list of [`Mode`]s.
pub(crate) fn modes(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<Value> = Mode::ALL
        .iter()
        .filter_map(|m| serde_json::to_value(m).ok())
        .collect();
    json_schema!({
        "type": "array",
        "items": { "type": "string", "enum": names },
        "minItems": 1,
    })
}

/// `params`: a table; what it holds depends on the step's action (see [`runbook_schema`]).
pub(crate) fn params(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object" })
}
