//! `drkit schema`: the runbook's JSON Schema accepts the real runbooks (the Mint runbook, every
//! example in docs/actions) and refuses what the loader refuses (unknown fields and parameters,
//! missing required ones, wrong types); `docs/runbook.schema.json` is its current output.
//!
//! The schema is checked with the small draft-07 validator below: it knows exactly the keywords
//! `drkit schema` writes and fails on any other, so it cannot silently skip one.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::cli::{command, text};
use crate::runbook::runbook_blocks;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema() -> Value {
    let out = command(&["schema"], &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// TOML -> JSON as an editor sees it (datetimes as RFC 3339 text).
fn to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => json!(s),
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => json!(b),
        toml::Value::Datetime(d) => json!(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

fn toml_file(text: &str) -> Value {
    to_json(&toml::from_str(text).unwrap())
}

/// The draft-07 keywords `drkit schema` writes, and nothing else.
struct Validator<'a> {
    root: &'a Value,
}

impl Validator<'_> {
    /// Every place `value` breaks `schema`, as `path: why`.
    fn errors(&self, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(self.root, value, "", &mut errors);
        errors
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let Some(schema) = schema.as_object() else {
            match schema {
                Value::Bool(true) => return,
                Value::Bool(false) => return errors.push(format!("{at}: nothing is allowed")),
                _ => panic!("not a schema at {at}: {schema}"),
            }
        };
        let mut fail = |why: String| errors.push(format!("{at}: {why}"));
        let mut nested = Vec::new();
        for (keyword, arg) in schema {
            match keyword.as_str() {
                "$schema" | "title" | "description" | "default" | "definitions" => {}
                "$ref" => {
                    let pointer = arg.as_str().unwrap().strip_prefix('#').unwrap();
                    let target = self
                        .root
                        .pointer(pointer)
                        .unwrap_or_else(|| panic!("{arg}"));
                    self.check(target, value, at, &mut nested);
                }
                "type" => {
                    let types: Vec<&str> = match arg {
                        Value::String(t) => vec![t],
                        Value::Array(a) => a.iter().map(|t| t.as_str().unwrap()).collect(),
                        _ => panic!("type {arg}"),
                    };
                    if !types.iter().any(|t| is_type(value, t)) {
                        fail(format!("{value} is not of type {arg}"));
                    }
                }
                "enum" => {
                    if !arg.as_array().unwrap().contains(value) {
                        fail(format!("{value} is not one of {arg}"));
                    }
                }
                "const" => {
                    if arg != value {
                        fail(format!("{value} is not {arg}"));
                    }
                }
                "pattern" => {
                    let re = regex::Regex::new(arg.as_str().unwrap()).unwrap();
                    if let Some(s) = value.as_str()
                        && !re.is_match(s)
                    {
                        fail(format!("{s:?} does not match {arg}"));
                    }
                }
                "minLength" => {
                    if let Some(s) = value.as_str()
                        && (s.chars().count() as u64) < arg.as_u64().unwrap()
                    {
                        fail(format!("{s:?} is too short"));
                    }
                }
                "minItems" => {
                    if let Some(a) = value.as_array()
                        && (a.len() as u64) < arg.as_u64().unwrap()
                    {
                        fail("too few items".to_owned());
                    }
                }
                "required" => {
                    if let Some(o) = value.as_object() {
                        for name in arg.as_array().unwrap() {
                            if !o.contains_key(name.as_str().unwrap()) {
                                fail(format!("{name} is required"));
                            }
                        }
                    }
                }
                "properties" => {
                    if let Some(o) = value.as_object() {
                        for (name, sub) in arg.as_object().unwrap() {
                            if let Some(v) = o.get(name) {
                                self.check(sub, v, &format!("{at}/{name}"), &mut nested);
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Some(o) = value.as_object() {
                        let known = schema.get("properties").and_then(Value::as_object);
                        for (name, v) in o {
                            if !known.is_some_and(|k| k.contains_key(name)) {
                                self.check(arg, v, &format!("{at}/{name}"), &mut nested);
                            }
                        }
                    }
                }
                "items" => {
                    if let Some(a) = value.as_array() {
                        for (i, v) in a.iter().enumerate() {
                            self.check(arg, v, &format!("{at}/{i}"), &mut nested);
                        }
                    }
                }
                "allOf" => {
                    for sub in arg.as_array().unwrap() {
                        self.check(sub, value, at, &mut nested);
                    }
                }
                "anyOf" => {
                    let any = arg.as_array().unwrap().iter().any(|sub| {
                        let mut e = Vec::new();
                        self.check(sub, value, at, &mut e);
                        e.is_empty()
                    });
                    if !any {
                        fail(format!("{value} is valid under none of the anyOf"));
                    }
                }
                "if" => {
                    let mut e = Vec::new();
                    self.check(arg, value, at, &mut e);
                    let branch = if e.is_empty() { "then" } else { "else" };
                    if let Some(sub) = schema.get(branch) {
                        self.check(sub, value, at, &mut nested);
                    }
                }
                "then" | "else" => assert!(schema.contains_key("if"), "{keyword} without if"),
                other => panic!("the validator does not know `{other}` (at {at}): teach it"),
            }
        }
        errors.extend(nested);
    }
}

fn is_type(value: &Value, ty: &str) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "null" => value.is_null(),
        _ => panic!("type {ty}"),
    }
}

#[test]
fn the_schema_accepts_the_mint_runbook_and_every_documented_example() {
    let schema = schema();
    let validator = Validator { root: &schema };
    for file in [
        "examples/runbooks/mint-replica.toml",
        "examples/runbooks/aurora-failover.toml",
    ] {
        let doc = toml_file(&std::fs::read_to_string(root().join(file)).unwrap());
        assert_eq!(validator.errors(&doc), Vec::<String>::new(), "{file}");
    }
    let header = "version = 1\nname = \"docs-example\"\n";
    let (mut pages, mut checked) = (0, 0);
    for entry in std::fs::read_dir(root().join("docs/actions")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        pages += 1;
        let page = std::fs::read_to_string(&path).unwrap();
        for (line, block) in runbook_blocks(&page) {
            let body = if block
                .lines()
                .any(|l| l.trim_start().starts_with("version ="))
            {
                block
            } else {
                format!("{header}{block}")
            };
            let errors = validator.errors(&toml_file(&body));
            assert!(errors.is_empty(), "{}:{line}: {errors:#?}", path.display());
            checked += 1;
        }
    }
    // Every page has at least one (`runbook::every_runbook_example_in_the_action_docs_validates`).
    assert!(
        checked >= pages && pages > 10,
        "{checked} examples in {pages} pages"
    );
}

#[test]
fn the_schema_refuses_what_the_loader_refuses() {
    let schema = schema();
    let validator = Validator { root: &schema };
    let good = json!({
        "version": 1,
        "name": "n",
        "defaults": { "region": "us-west-2", "timeout": "30m", "retry": { "max_attempts": 3 } },
        "objectives": { "rto": { "critical": "1h", "non_critical": "3h" }, "rpo": { "database": "5m" } },
        "steps": [{
            "id": "scale",
            "action": "eks.scale_nodegroup",
            "tier": "critical",
            "on_failure": "rollback",
            "modes": ["graceful"],
            "params": { "cluster": "c", "nodegroup": "g", "desired_size": "${env.SIZE}" },
        }, {
            "id": "unseal",
            "action": "vault.unseal",
            "params": { "keys": [{ "secret": "env:K1" }, "file:/run/k2"], "threshold": 2 },
        }],
    });
    assert_eq!(validator.errors(&good), Vec::<String>::new());
    // (the error expected, where the change is, the new value: none removes it)
    let cases = [
        ("/steps/0: \"params\" is required", "/steps/0/params", None),
        (
            "/steps/0/params: \"cluster\" is required",
            "/steps/0/params/cluster",
            None,
        ),
        (
            "/steps/0/params/clustr: nothing is allowed",
            "/steps/0/params/clustr",
            Some(json!("c")),
        ),
        (
            "/steps/0/params/desired_size: \"four\" is valid under none",
            "/steps/0/params/desired_size",
            Some(json!("four")),
        ),
        (
            "/steps/0/depend_on: nothing is allowed",
            "/steps/0/depend_on",
            Some(json!(["x"])),
        ),
        (
            "/steps/0/action: \"eks.scale_nodegrp\" is not one of",
            "/steps/0/action",
            Some(json!("eks.scale_nodegrp")),
        ),
        (
            "/steps/0/tier: \"urgent\" is not one of",
            "/steps/0/tier",
            Some(json!("urgent")),
        ),
        (
            "/steps/0/modes: too few items",
            "/steps/0/modes",
            Some(json!([])),
        ),
        (
            "/steps/1/params/keys: ",
            "/steps/1/params/keys",
            Some(json!([{ "secret": "hunter2" }])),
        ),
        ("/version: 2 is not 1", "/version", Some(json!(2))),
        (": \"steps\" is required", "/steps", None),
        (
            "/defaults/retry/attempts: nothing is allowed",
            "/defaults/retry/attempts",
            Some(json!(3)),
        ),
    ];
    for (expected, pointer, new) in cases {
        let mut doc = good.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = doc.pointer_mut(parent).unwrap().as_object_mut().unwrap();
        match new {
            Some(value) => parent.insert(key.to_owned(), value),
            None => parent.remove(key),
        };
        let errors = validator.errors(&doc);
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "expected `{expected}...` in {errors:#?}"
        );
    }
}

/// The schema's structure: the top level's required keys, every registered action with a
/// branch naming its parameters (the required ones required), and the enums the loader reads.
#[test]
fn every_action_has_its_parameters_in_the_schema() {
    let schema = schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["required"], json!(["version", "name", "steps"]));
    let out = command(&["actions", "--output", "json"], &[])
        .output()
        .unwrap();
    let actions: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&Value> = actions.iter().map(|a| &a["kind"]).collect();
    let fields = &schema["definitions"]["StepFields"]["properties"];
    assert_eq!(
        fields["action"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        kinds
    );
    let branches = schema["definitions"]["Step"]["allOf"].as_array().unwrap();
    for action in &actions {
        let branch = branches
            .iter()
            .find(|b| b["if"]["properties"]["action"]["const"] == action["kind"])
            .unwrap_or_else(|| panic!("no branch for {}", action["kind"]));
        let params = &branch["then"]["properties"]["params"];
        let mut names: Vec<&str> = params["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected: Vec<&str> = action["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        names.sort_unstable();
        expected.sort_unstable();
        assert_eq!(names, expected, "{}", action["kind"]);
        let required: Vec<&Value> = action["params"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["required"] == true)
            .map(|p| &p["name"])
            .collect();
        let in_schema: Vec<&Value> = params["required"]
            .as_array()
            .map_or(vec![], |r| r.iter().collect());
        assert_eq!(in_schema, required, "{}", action["kind"]);
    }
    // The names the schema offers are the ones the loader reads.
    for tier in fields["tier"]["enum"].as_array().unwrap() {
        serde_json::from_value::<drkit::runner::Tier>(tier.clone()).unwrap();
    }
    for policy in fields["on_failure"]["enum"].as_array().unwrap() {
        serde_json::from_value::<drkit::runner::OnFailure>(policy.clone()).unwrap();
    }
    for mode in fields["modes"]["items"]["enum"].as_array().unwrap() {
        assert!(
            drkit::runner::Mode::parse(mode.as_str().unwrap()).is_some(),
            "{mode}"
        );
    }
}

/// `docs/runbook.schema.json` is what `drkit schema` prints now: editors pointed at the
/// repository's file get the current actions and parameters.
#[test]
fn the_schema_in_the_docs_is_current() {
    let out = command(&["schema"], &[]).output().unwrap();
    let file = root().join("docs/runbook.schema.json");
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        committed == text(&out.stdout),
        "docs/runbook.schema.json is not what `drkit schema` prints: regenerate it with\n  \
         cargo run -p drkit-cli -- schema > docs/runbook.schema.json"
    );
}
