//! What the fuzz targets share: the registry `drkit validate` builds (every provider of the
//! facade, an offline AWS configuration), but with an HTTP client that panics on any request, so
//! a target that made an AWS call while parsing or building would crash the fuzzer; and a fixed
//! environment for `${env.NAME}` and `env:` secret references.

use std::sync::{Arc, OnceLock};

use arbitrary::{Arbitrary, Unstructured};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, SharedHttpConnector, http_client_fn,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use drkit::aws::AwsContext;
use drkit::core::registry::{ActionSpec, Registry};
use serde_json::{Map, Number, Value};

/// An HTTP connector that refuses to be used: parsing and building must not touch the network.
#[derive(Debug)]
struct NoNetwork;

impl HttpConnector for NoNetwork {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        panic!(
            "network call while parsing/building: {} {}",
            request.method(),
            request.uri()
        );
    }
}

/// The registry of every action the facade registers, as `drkit validate` builds it (an
/// `SdkConfig` with a region and no credentials), plus the no-network HTTP client.
pub fn registry() -> &'static Arc<Registry> {
    static REGISTRY: OnceLock<Arc<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .http_client(http_client_fn(|_, _| SharedHttpConnector::new(NoNetwork)))
            .build();
        let aws = AwsContext::from_sdk_config(config);
        Arc::new(drkit::registry(&aws).expect("the facade registers each kind once"))
    })
}

/// The registered kinds, sorted (the registry keeps them in a `BTreeMap`).
pub fn kinds() -> &'static [&'static str] {
    static KINDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    KINDS.get_or_init(|| {
        let mut kinds: Vec<&'static str> = registry().descriptors().map(|d| d.kind).collect();
        kinds.sort_unstable();
        kinds
    })
}

/// A fixed environment: a few variables set (text, a port, a boolean), every other one unset.
pub fn env(name: &str) -> Option<String> {
    match name {
        "SET" | "MINT_CDN_DISTRIBUTION" => Some("E2EXAMPLE".to_owned()),
        "PORT" | "MINT_PG_PORT" => Some("5433".to_owned()),
        "FLAG" => Some("true".to_owned()),
        "MINT_VAULT_ADDR" | "MINT_VAULT_TRANSIT_ADDR" => Some("http://127.0.0.1:8200".to_owned()),
        "MINT_PG_HOST" => Some("127.0.0.1".to_owned()),
        "MINT_PG_DBNAME" | "MINT_PG_USER" => Some("mint".to_owned()),
        "MINT_PG_PASSWORD" | "MINT_VAULT_TOKEN" | "MINT_VAULT_KEY_1" | "MINT_VAULT_KEY_2"
        | "MINT_VAULT_KEY_3" => Some("s3cr3t".to_owned()),
        _ => None,
    }
}

/// The `runbook_parse` target: arbitrary bytes through the path `drkit validate` takes (UTF-8
/// check, size limit, TOML, unknown fields, types, durations, `${env.*}` and secret references,
/// every step's action built through the registry, dependencies, cycles, output references).
/// Must never panic, and never touch the network. Returns the outcome (for the stable driver's
/// corpus): `ok N` or the problems' messages.
pub fn runbook_parse(data: &[u8]) -> String {
    // `drkit validate` refuses non-UTF-8 files before parsing (commands::read_text).
    let Ok(text) = std::str::from_utf8(data) else {
        return "not utf-8".to_owned();
    };
    let registry = registry();
    match drkit_cli::runbook::load("fuzz.toml", text, registry, &env) {
        Ok(runbook) => {
            // What `plan` and `iam-policy` read of a valid runbook.
            let _ = drkit::iam_policy(registry, runbook.kinds.iter().map(|(_, k)| k.as_str()));
            format!("ok {}", runbook.kinds.len().min(4))
        }
        Err(invalid) => {
            // Every problem is located inside the file (1-based) and printable.
            let lines = text.split('\n').count();
            for p in &invalid.problems {
                assert!(
                    p.line >= 1 && p.line <= lines.max(1),
                    "line {} of {lines}",
                    p.line
                );
                assert!(p.column >= 1, "column {}", p.column);
            }
            let _ = invalid.to_string();
            let messages: Vec<&str> = invalid
                .problems
                .iter()
                .map(|p| p.message.as_str())
                .collect();
            messages.join("|")
        }
    }
}

fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// A value shaped like parameters: strings that look like what actions parse (durations,
/// times, ARNs, addresses, references), integers at the edges, nested lists and tables.
fn value(u: &mut Unstructured<'_>, names: &[&str], depth: u32) -> arbitrary::Result<Value> {
    const TEXTS: &[&str] = &[
        "",
        " ",
        "0",
        "-1",
        "5m",
        "1h 30m",
        "0s",
        "18446744073709551616s",
        "latest",
        "2026-11-28T08:00:00Z",
        "2026-13-45T99:99:99Z",
        "env:NAME",
        "file:/nonexistent",
        "prompt:key",
        "${steps.a.outputs.b}",
        "${env.SET}",
        "UPSERT",
        "DELETE",
        "CREATE",
        "A",
        "CNAME",
        "AAAA",
        "TXT",
        "ALIAS",
        "/*",
        "/",
        "*",
        "us-west-2",
        "http://127.0.0.1:1",
        "https://",
        "::1",
        "256.1.1.1",
        "example.com.",
        "*.example.com",
        "transit/mint",
        "arn:aws:acm:us-east-1:123456789012:certificate/x",
        "GET",
        "POST",
        "primary",
        "replica",
        "active",
        "standby",
        "sealed",
        "AVAILABLE",
        "ééé",
        "\u{0}",
        "a\nb",
    ];
    let pick = if depth >= 3 {
        u.int_in_range(0..=5)?
    } else {
        u.int_in_range(0..=7)?
    };
    Ok(match pick {
        0 => Value::String((*u.choose(TEXTS)?).to_owned()),
        1 => Value::String(String::arbitrary(u)?),
        2 => Value::from(*u.choose(&[
            0i64,
            1,
            -1,
            2,
            3,
            65535,
            65536,
            i64::from(u32::MAX),
            i64::from(u32::MAX) + 1,
            i64::MAX,
            i64::MIN,
        ])?),
        3 => Value::from(i64::arbitrary(u)?),
        4 => Number::from_f64(f64::arbitrary(u)?).map_or(Value::Null, Value::Number),
        5 => Value::Bool(bool::arbitrary(u)?),
        6 => {
            let n = u.int_in_range(0..=4)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(value(u, names, depth + 1)?);
            }
            Value::Array(items)
        }
        _ => table(u, names, depth + 1)?,
    })
}

fn table(u: &mut Unstructured<'_>, names: &[&str], depth: u32) -> arbitrary::Result<Value> {
    const OTHER: &[&str] = &[
        "name",
        "type",
        "ttl",
        "values",
        "action",
        "records",
        "secret",
        "key",
        "value",
        "weight",
        "set_identifier",
        "alias",
        "zone",
        "host",
        "port",
        "path",
        "expect",
        "min",
        "max",
    ];
    let n = u.int_in_range(0..=8)?;
    let mut map = Map::new();
    for _ in 0..n {
        let name = if !names.is_empty() && u.ratio(4, 5)? {
            (*u.choose(names)?).to_owned()
        } else if u.ratio(1, 2)? {
            (*u.choose(OTHER)?).to_owned()
        } else {
            String::arbitrary(u)?
        };
        map.insert(name, value(u, names, depth)?);
    }
    Ok(Value::Object(map))
}

/// The `action_params` target: every registered action kind built from hostile parameters
/// through `Registry::build` (each provider's `decode_params` and its own validation). Byte 0
/// picks the kind among the registry's sorted kinds, byte 1 how the rest is read: 0 a TOML table
/// (what a runbook's `[steps.params]` is), 1 JSON, 2-3 structured (parameters named after the
/// kind's own, with arbitrary values, so range and format checks are reached); bits 2-3 of byte
/// 1 pick the step's region. Building must never panic nor make a network call. Returns the
/// outcome: the kind and `ok` or the error.
pub fn action_params(data: &[u8]) -> String {
    let registry = registry();
    let kinds = kinds();
    let [k, mode, rest @ ..] = data else {
        return String::new();
    };
    let kind = kinds[usize::from(*k) % kinds.len()];
    let Some(descriptor) = registry.descriptor(kind) else {
        return String::new();
    };
    let params = match mode % 4 {
        0 => match std::str::from_utf8(rest)
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
        {
            Some(t) => toml_to_json(&toml::Value::Table(t)),
            None => return String::new(),
        },
        1 => match serde_json::from_slice::<Value>(rest) {
            Ok(v) => v,
            Err(_) => return String::new(),
        },
        _ => {
            let names: Vec<&str> = descriptor.params.iter().map(|p| p.name).collect();
            let mut u = Unstructured::new(rest);
            match table(&mut u, &names, 0) {
                Ok(v) => v,
                Err(_) => return String::new(),
            }
        }
    };
    let region = match mode / 4 % 4 {
        0 => None,
        1 => Some("us-west-2".to_owned()),
        2 => Some(String::new()),
        _ => Some("not a region/\u{7f}".to_owned()),
    };
    let mut spec = ActionSpec::new("fuzz", kind, params);
    spec.region = region;
    match registry.build(&spec) {
        Ok(action) => {
            // What the runner and the report read of a built action, without running it.
            assert_eq!(action.kind(), kind);
            assert_eq!(action.id(), "fuzz");
            let _ = action.target().to_string();
            let _ = (
                action.mutates(),
                action.iam_actions(),
                action.supports_rollback(),
            );
            format!("{kind} ok")
        }
        Err(e) => e.to_string(),
    }
}
