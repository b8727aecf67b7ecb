//! What an operator expects of the CLI (issue 18, part 5): `drkit plan` with no environment
//! (placeholders, warnings, exit 0) while `validate` and `run` still require it, and
//! `drkit completions`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use drkit::aws::{Aws, AwsSettings};
use drkit::core::registry::Registry;
use drkit_cli::runbook::{Unresolved, load, load_for_plan, placeholder};

use crate::cli::{command, text, write};

const MINT: &str = "examples/runbooks/mint-replica.toml";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `drkit ARGS` from the repository root with an EMPTY environment (not even PATH or HOME).
fn bare(args: &[&str]) -> Output {
    command(args, &[])
        .env_clear()
        .current_dir(root())
        .output()
        .unwrap()
}

fn registry() -> Arc<Registry> {
    let aws = Aws::lazy(AwsSettings::default().endpoint_url("http://127.0.0.1:9"));
    Arc::new(drkit::registry_with_aws(aws).unwrap())
}

/// Every environment variable a runbook reads: `${env.NAME}` in strings, and the `env:NAME` of
/// `{ secret = "env:NAME" }` tables.
fn variables(value: &toml::Value, found: &mut BTreeSet<String>) {
    match value {
        toml::Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(at) = rest.find("${env.") {
                let after = &rest[at + 6..];
                let end = after.find('}').unwrap();
                found.insert(after[..end].to_owned());
                rest = &after[end..];
            }
        }
        toml::Value::Table(t) if t.len() == 1 && t.contains_key("secret") => {
            let r = t["secret"].as_str().unwrap();
            if let Some(name) = r.strip_prefix("env:") {
                found.insert(name.to_owned());
            }
        }
        toml::Value::Table(t) => t.values().for_each(|v| variables(v, found)),
        toml::Value::Array(a) => a.iter().for_each(|v| variables(v, found)),
        _ => {}
    }
}

/// The real Mint runbook, with nothing set: `plan` exits 0 and lists every step, warns once per
/// missing variable, and marks the steps whose parameters wait for one; `validate` and `run`
/// still refuse it, naming the variables.
#[test]
fn plan_works_with_an_empty_environment_and_validate_and_run_still_require_it() {
    let text_of = std::fs::read_to_string(root().join(MINT)).unwrap();
    let doc: toml::Value = toml::from_str(&text_of).unwrap();
    let steps: Vec<&str> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let mut names = BTreeSet::new();
    variables(&doc, &mut names);
    assert!(names.len() >= 15, "{names:?}");
    assert!(names.contains("MINT_PG_PORT") && names.contains("MINT_PG_PASSWORD"));

    let out = bare(&["plan", MINT]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{stdout}");
    for step in &steps {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{step} "))),
            "step {step} not listed:\n{stdout}"
        );
    }
    // One warning per variable, nothing else on stderr.
    let warnings: Vec<&str> = stderr.lines().collect();
    assert_eq!(warnings.len(), names.len(), "{stderr}");
    for name in &names {
        let line = format!("plan: {name} is not set; `validate` and `run` need it");
        assert_eq!(
            warnings.iter().filter(|w| **w == line).count(),
            1,
            "{name}:\n{stderr}"
        );
    }
    // `data-loss`'s port is a whole `${env.MINT_PG_PORT}` (an integer when set): its step is
    // listed, with what it waits for, rather than failing its type.
    let data_loss = stdout
        .split("\n  data-loss ")
        .nth(1)
        .unwrap_or_else(|| panic!("{stdout}"));
    let notes: Vec<&str> = data_loss.lines().skip(1).take(2).collect();
    assert!(
        notes[0].contains("parameters depend on unset environment")
            && notes[0].contains("MINT_PG_PORT"),
        "{notes:?}"
    );
    assert!(
        notes[1].contains("secrets not readable here") && notes[1].contains("env:MINT_PG_PASSWORD"),
        "{notes:?}"
    );

    // `validate` and `run` refuse it, naming each variable (located problems, exit 2).
    for args in [
        &["validate", MINT][..],
        &["run", MINT, "--auto-approve"][..],
    ] {
        let out = bare(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("problems found"), "{args:?}: {stderr}");
        for name in &names {
            assert!(
                stderr.contains(name.as_str()),
                "{args:?}: {name} not named:\n{stderr}"
            );
        }
    }
}

/// `plan --output json` says per step what it waits for; the steps without any say null.
#[test]
fn the_json_plan_lists_what_each_step_needs_from_the_environment() {
    let out = bare(&["plan", MINT, "--output", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps: Vec<&serde_json::Value> = doc["waves"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w.as_array().unwrap())
        .collect();
    let step = |id: &str| *steps.iter().find(|s| s["step"] == id).unwrap();
    assert_eq!(
        step("api-sg-https")["unresolved"],
        serde_json::json!({ "variables": ["MINT_API_SG"], "secrets": [] })
    );
    assert_eq!(
        step("vault-unseal")["unresolved"]["secrets"],
        serde_json::json!([
            "env:MINT_VAULT_KEY_1",
            "env:MINT_VAULT_KEY_2",
            "env:MINT_VAULT_KEY_3"
        ])
    );
    assert!(step("standby-cluster")["unresolved"].is_null());
}

const STEP: &str = "version = 1\nname = \"p\"\n[[steps]]\nid = \"pg\"\naction = \"checks.pg_row_counts\"\n[steps.params]\n";

/// The loader for `plan`: placeholders in place of unset variables (a whole one stays text, not
/// a number), secret references kept, both listed; the strict loader refuses the same text.
#[test]
fn load_for_plan_puts_placeholders_and_lists_what_is_missing() {
    let text = format!(
        "{STEP}database = {{ host = \"${{env.PG_HOST}}\", port = \"${{env.PG_PORT}}\", dbname = \"d-${{env.PG_DB}}\", user = \"u\", password = {{ secret = \"env:PG_PASSWORD\" }} }}\ntables = [\"t\"]\n"
    );
    let none = |_: &str| None;
    let rb = load_for_plan("p.toml", &text, &registry(), &none).unwrap();
    assert_eq!(
        rb.unresolved["pg"],
        Unresolved {
            variables: ["PG_DB", "PG_HOST", "PG_PORT"].map(String::from).into(),
            secrets: ["env:PG_PASSWORD".to_owned()].into(),
        }
    );
    assert_eq!(placeholder("PG_PORT"), "<env PG_PORT unset>");
    assert_eq!(
        rb.unresolved_warnings(),
        ["PG_DB", "PG_HOST", "PG_PASSWORD", "PG_PORT"]
            .map(|n| format!("plan: {n} is not set; `validate` and `run` need it"))
    );
    let strict = load("p.toml", &text, &registry(), &none).unwrap_err();
    assert_eq!(strict.problems.len(), 4, "{strict}");

    // Set, nothing is unresolved and the strict loader agrees.
    let all = |name: &str| Some(if name == "PG_PORT" { "5433" } else { "v" }.to_owned());
    let rb = load_for_plan("p.toml", &text, &registry(), &all).unwrap();
    assert!(rb.unresolved.is_empty());
    assert!(rb.unresolved_warnings().is_empty());
    assert!(load("p.toml", &text, &registry(), &all).is_ok());
}

/// What `plan` still refuses: the problems that are not the environment's (an unknown
/// parameter next to an unset variable, an unknown action); a secret file that is missing is
/// only a warning.
#[test]
fn plan_still_reports_what_is_wrong_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let typo = write(
        dir.path(),
        "typo.toml",
        &format!(
            "{STEP}database = {{ host = \"${{env.PG_HOST}}\", dbname = \"d\", user = \"u\" }}\ntabels = [\"t\"]\n"
        ),
    );
    let out = bare(&["plan", typo.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown parameter `tabels`"), "{stderr}");

    let missing_file = write(
        dir.path(),
        "file.toml",
        &format!(
            "{STEP}database = {{ host = \"h\", dbname = \"d\", user = \"u\", password = {{ secret = \"file:/nonexistent/pg-password\" }} }}\n"
        ),
    );
    let out = bare(&["plan", missing_file.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "plan: secret file:/nonexistent/pg-password cannot be read here; `validate` and `run` need it"
    );
    assert!(
        text(&out.stdout).contains(
            "secrets not readable here (shown as references): file:/nonexistent/pg-password"
        ),
        "{}",
        text(&out.stdout)
    );
    let out = bare(&["validate", missing_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// `drkit completions SHELL`: the script on stdout, with the subcommands and their flags.
#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    let out = bare(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let bash = text(&out.stdout);
    for word in [
        "resume",
        "--pause-on-failure",
        "--impaired-region",
        "schema",
        "_drkit",
    ] {
        assert!(bash.contains(word), "{word} not in the bash script");
    }
    for (shell, marker) in [("zsh", "#compdef drkit"), ("fish", "complete -c drkit")] {
        let out = bare(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(
            script.contains(marker),
            "{shell}: {marker} not in\n{script}"
        );
        assert!(script.contains("pause-on-failure"), "{shell}");
    }
    let out = bare(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("bash"), "{}", text(&out.stderr));
}
