use std::sync::Arc;

use drkit::aws::{Aws, AwsSettings};
use drkit::core::registry::Registry;
use drkit_cli::runbook::{Invalid, Runbook, load};

/// AWS configuration that is never loaded by these tests (a dead endpoint if it were).
fn aws() -> Aws {
    Aws::lazy(
        AwsSettings::default()
            .region("us-west-2")
            .endpoint_url("http://127.0.0.1:9"),
    )
}

async fn registry() -> Arc<Registry> {
    Arc::new(drkit::registry_with_aws(aws()).unwrap())
}

fn env(name: &str) -> Option<String> {
    match name {
        "VAULT_KEY_1" => Some("k1".into()),
        "DR_ZONE" => Some("mintreplica.com".into()),
        _ => None,
    }
}

const GOOD: &str = r#"
version = 1
name = "mint-replica-regional-failover"
description = "Fail Mint Replica Lite over from us-east-1 to us-west-2"

[defaults]
region = "us-west-2"
timeout = "30m"
retry = { max_attempts = 5, initial_backoff = "1s", max_backoff = "30s" }

[objectives.rto]
critical = "1h"
non-critical = "4h"
full = "8h"
[objectives.rpo]
database = "5m"
files = "15m"

[[steps]]
id = "scale-standby-nodes"
action = "eks.scale_nodegroup"
tier = "critical"
[steps.params]
cluster = "mint-replica-standby"
nodegroup = "primary-nodes"
desired_size = 4

[[steps]]
id = "failover-db"
action = "rds.failover_db_cluster"
tier = "critical"
depends_on = ["scale-standby-nodes"]
on_failure = "rollback"
approval = true
[steps.params]
cluster = "mint-replica-cluster"

[[steps]]
id = "db-status"
action = "rds.cluster_status"
depends_on = ["failover-db"]
[steps.params]
cluster = "mint-replica-cluster"
expect_status = "${steps.failover-db.outputs.cluster_status}"
"#;

async fn check(text: &str) -> Result<Runbook, Invalid> {
    load("mint.toml", text, &registry().await, &env)
}

async fn problems(text: &str) -> Vec<String> {
    match check(text).await {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(invalid) => invalid.to_string().lines().map(str::to_owned).collect(),
    }
}

#[tokio::test]
async fn the_contract_example_is_valid() {
    let rb = check(GOOD).await.unwrap();
    assert_eq!(rb.name, "mint-replica-regional-failover");
    assert_eq!(rb.plan.len(), 3);
    assert_eq!(
        rb.rto.non_critical,
        std::time::Duration::from_secs(4 * 3600)
    );
    let waves = drkit_cli::commands::waves(&rb);
    assert_eq!(
        waves,
        [
            vec!["scale-standby-nodes".to_owned()],
            vec!["failover-db".to_owned()],
            vec!["db-status".to_owned()]
        ]
    );
}

/// Validating builds every step's action (parameters checked, manifests read); none of that
/// loads AWS configuration: `drkit validate` and `plan` work with no AWS set up at all.
#[tokio::test]
async fn building_every_step_loads_no_aws_configuration() {
    let aws = aws();
    let registry = Arc::new(drkit::registry_with_aws(&aws).unwrap());
    load("mint.toml", GOOD, &registry, &env).unwrap();
    assert!(!aws.is_loaded(), "validating loaded the AWS configuration");
}

/// Each malformed runbook: the expected message, at the expected line.
#[tokio::test]
async fn malformed_runbooks_give_located_errors() {
    let step = |action: &str, params: &str| {
        format!(
            "version = 1\nname = \"p\"\n\n[[steps]]\nid = \"s\"\naction = \"{action}\"\n[steps.params]\n{params}\n"
        )
    };
    let cases: Vec<(String, &str, usize)> = vec![
        ("version = 1\nname = \"p\"\n[[steps]\n".into(), "", 3),
        ("version = 2\nname = \"p\"\n[[steps]]\nid = \"s\"\naction = \"rds.cluster_status\"\n[steps.params]\ncluster = \"c\"\n".into(), "unsupported version 2", 1),
        ("version = 1\nname = \"p\"\nsteps = []\n".into(), "no [[steps]]", 1),
        ("version = 1\nname = \"p\"\nnmae = \"x\"\n[[steps]]\nid = \"s\"\naction = \"rds.cluster_status\"\n".into(), "unknown field `nmae`", 3),
        (step("rds.failover_cluster", "cluster = \"c\""), "did you mean one of `rds.failover_db_cluster`", 6),
        (step("rds.failover_db_cluster", "clustr = \"c\""), "unknown field `clustr`", 7),
        (step("rds.failover_db_cluster", "cluster = 3"), "invalid type: integer `3`, expected a string", 7),
        (step("rds.failover_db_cluster", "cluster = \"1-bad\""), "not a valid RDS identifier", 7),
        (step("rds.check_replica_lag", "instance = \"r\"\nmax_lag = \"5 parsecs\""), "parameter `max_lag`", 7),
        (step("eks.scale_nodegroup", "cluster = \"c\"\nnodegroup = \"n\"\ndesired_size = -4"), "desired_size", 7),
        (step("vault.unseal", "address = \"http://127.0.0.1:8200\"\nkeys = [\"hunter2\"]"), "secret", 7),
        (step("checks.pg_row_counts", "database = { host = \"h\", dbname = \"d\", user = \"u\", password = \"hunter2\" }"), "a secret written in clear", 7),
        (step("checks.pg_row_counts", "database = { host = \"h\", dbname = \"d\", user = \"u\", password = { secret = \"env:NOT_SET_ANYWHERE\" } }"), "missing secret: environment variable NOT_SET_ANYWHERE is not set", 7),
        (step("route53.check_health", "health_check_id = \"${env.NOT_SET_EITHER}\""), "environment variable NOT_SET_EITHER is not set", 7),
        ("version = 1\nname = \"p\"\n[[steps]]\nid = \"a\"\naction = \"rds.cluster_status\"\ndepends_on = [\"ghost\"]\n[steps.params]\ncluster = \"c\"\n".into(), "ghost", 4),
        ("version = 1\nname = \"p\"\n[[steps]]\nid = \"a\"\naction = \"rds.cluster_status\"\ndepends_on = [\"b\"]\n[steps.params]\ncluster = \"c\"\n[[steps]]\nid = \"b\"\naction = \"rds.cluster_status\"\ndepends_on = [\"a\"]\n[steps.params]\ncluster = \"c\"\n".into(), "cycle", 4),
        ("version = 1\nname = \"p\"\n[[steps]]\nid = \"a\"\naction = \"rds.cluster_status\"\n[steps.params]\ncluster = \"c\"\n[[steps]]\nid = \"a\"\naction = \"rds.cluster_status\"\n[steps.params]\ncluster = \"c\"\n".into(), "duplicate step id `a`", 9),
        ("version = 1\nname = \"p\"\n[[steps]]\nid = \"a\"\naction = \"rds.cluster_status\"\n[steps.params]\ncluster = \"c\"\n[[steps]]\nid = \"b\"\naction = \"rds.cluster_status\"\n[steps.params]\ncluster = \"${steps.a.outputs.writer}\"\n".into(), "not", 9),
        ("version = 1\nname = \"p\"\n[defaults]\ntimeout = \"thirty minutes\"\n[[steps]]\nid = \"a\"\naction = \"rds.cluster_status\"\n".into(), "", 4),
        ("version = 1\nname = \"p\"\n[[steps]]\nid = \"a\"\naction = \"rds.cluster_status\"\non_failure = \"explode\"\n".into(), "unknown variant `explode`", 6),
        ("version = 1\nname = \"p\"\n[[steps]]\nid = \"a\"\naction = \"rds.cluster_status\"\ntier = \"urgent\"\n".into(), "unknown variant `urgent`", 6),
        ("version = 1\nname = \"p\"\n[objectives.rto]\ncritical = \"soon\"\n[[steps]]\nid = \"a\"\naction = \"rds.cluster_status\"\n".into(), "", 4),
        ("version = 1\nname = \"p\"\n[[steps]]\nid = \"a\"\naction = \"rds.cluster_status\"\nretry = { max_attempts = \"five\" }\n".into(), "", 6),
        (step("rds.restore_instance_to_point_in_time", "source = \"a\"\ntarget = \"b\""), "exactly one of `restore_time`", 7),
        (step("rds.restore_instance_to_point_in_time", "source = \"a\"\ntarget = \"b\"\nrestore_time = \"yesterday\""), "restore_time", 7),
        ("version = 1\nname = \"\"\n[[steps]]\nid = \"a\"\naction = \"rds.cluster_status\"\n[steps.params]\ncluster = \"c\"\n".into(), "needs a name", 2),
    ];
    assert!(cases.len() >= 25, "{} cases", cases.len());
    for (text, expected, line) in &cases {
        let lines = problems(text).await;
        let hit = lines
            .iter()
            .find(|l| l.contains(expected))
            .unwrap_or_else(|| {
                panic!("no problem mentions {expected:?}: {lines:#?}\n--- in:\n{text}")
            });
        assert!(
            hit.starts_with(&format!("mint.toml:{line}:")),
            "expected line {line}: {hit}\n--- in:\n{text}"
        );
    }
}

#[tokio::test]
async fn a_whole_env_reference_takes_the_type_it_reads_as_and_an_unset_one_is_reported_once() {
    let env = |name: &str| (name == "PG_PORT").then(|| "5433".to_owned());
    let text = "version = 1\nname = \"p\"\n[[steps]]\nid = \"s\"\naction = \"checks.pg_row_counts\"\n[steps.params]\ndatabase = { host = \"127.0.0.1\", port = \"${env.PG_PORT}\", dbname = \"d\", user = \"u\" }\n";
    assert!(load("mint.toml", text, &registry().await, &env).is_ok());
    let unset = text.replace("PG_PORT", "NOT_SET_PORT");
    let err = load("mint.toml", &unset, &registry().await, &env).unwrap_err();
    assert_eq!(err.problems.len(), 1, "{err}");
    assert!(err.to_string().contains("NOT_SET_PORT is not set"), "{err}");
}

#[tokio::test]
async fn every_problem_is_reported_not_only_the_first() {
    let text = "version = 1\nname = \"p\"\n[[steps]]\nid = \"a\"\naction = \"rds.nope\"\n[[steps]]\nid = \"b\"\naction = \"rds.cluster_status\"\n[steps.params]\nclustr = \"c\"\n";
    let lines = problems(text).await;
    assert_eq!(lines.len(), 2, "{lines:#?}");
}

#[tokio::test]
async fn secrets_never_appear_in_messages() {
    let text = "version = 1\nname = \"p\"\n[[steps]]\nid = \"s\"\naction = \"checks.pg_row_counts\"\n[steps.params]\ndatabase = { host = \"h\", dbname = \"d\", user = \"u\", password = \"Sup3rS3cret!\" }\n";
    let lines = problems(text).await;
    assert!(
        lines.iter().all(|l| !l.contains("Sup3rS3cret!")),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn a_huge_file_is_refused_cleanly() {
    let text = format!(
        "version = 1\nname = \"p\"\n# {}\n",
        "x".repeat(2 * 1024 * 1024)
    );
    let lines = problems(&text).await;
    assert!(lines[0].contains("larger than"), "{lines:#?}");
}

#[tokio::test]
async fn deeply_nested_input_is_refused_without_a_crash() {
    let text = format!(
        "version = 1\nname = \"p\"\nx = {}{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let lines = problems(&text).await;
    assert!(!lines.is_empty());
}

/// Found while fuzzing: a `file:` secret naming a device was read whole at validation
/// (`/dev/zero` until memory ran out; `/dev/stdin` or a FIFO blocked for ever). Validation only
/// probes the file now, and never reads a secret.
#[tokio::test]
async fn a_secret_file_that_is_a_device_is_refused_without_reading_it() {
    let text = "version = 1\nname = \"n\"\n[[steps]]\nid = \"a\"\naction = \"vault.check_health\"\n\
                [steps.params]\naddress = \"http://127.0.0.1:8200\"\n\
                token = { secret = \"file:/dev/zero\" }\n";
    let started = std::time::Instant::now();
    let err = load("f.toml", text, &registry().await, &env).unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

/// The `[[steps]]` blocks of a docs page: the text of every ```toml block that holds one.
/// (Blocks without `[[steps]]` are fragments, e.g. a connection table, and are not runbooks.)
pub(crate) fn runbook_blocks(page: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in page.lines().enumerate() {
        match &mut current {
            None if line.trim() == "```toml" => current = Some((n + 2, String::new())),
            None => {}
            Some(_) if line.trim() == "```" => {
                let (first, body) = current.take().unwrap();
                // Also a block that only looks like steps, so a malformed example is caught.
                if body.contains("[[steps]]") || body.contains("action = \"") {
                    blocks.push((first, body));
                }
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    assert!(current.is_none(), "a ```toml block is never closed");
    blocks
}

/// Every runbook example in `docs/actions/*.md` passes `drkit validate`, as a runbook of its
/// own (a header added when the block has none), from the repository root (relative paths such
/// as `examples/k8s/dr-manifests` resolve from there), with dummy values for the environment
/// its `${env.NAME}` and `env:NAME` references read.
#[test]
fn every_runbook_example_in_the_action_docs_validates() {
    use crate::cli::{command, text, write};

    const HEADER: &str =
        "version = 1\nname = \"docs-example\"\n[defaults]\nregion = \"us-west-2\"\n";
    // Existing blocks left out, as (page, first line of the block, why). None for now.
    const SKIP: &[(&str, usize, &str)] = &[];
    let envs = [
        ("MINT_CDN_CERT_FILE", "/etc/mint/cdn.pem"),
        ("MINT_CDN_CHAIN_FILE", "/etc/mint/cdn-chain.pem"),
        ("MINT_CDN_CERT_KEY", "k"),
        ("MINT_CDN_DISTRIBUTION", "E2MINTREPLICA"),
        (
            "MINT_DR_HEALTH_CHECK",
            "abcdef01-2345-6789-abcd-ef0123456789",
        ),
        ("MINT_PG_HOST", "127.0.0.1"),
        ("MINT_PG_PASSWORD", "p"),
        ("MINT_PG_SSLROOTCERT", "/etc/ssl/rds/global-bundle.pem"),
        ("MINT_PG_PRIMARY_HOST", "127.0.0.2"),
        ("MINT_PG_PRIMARY_PASSWORD", "p"),
        ("MINT_REDIS_HOST", "127.0.0.1"),
        ("MINT_REDIS_PASSWORD", "r"),
        ("MINT_VAULT_ADDR", "http://127.0.0.1:8200"),
        ("MINT_VAULT_KEY_1", "k1"),
        ("MINT_VAULT_KEY_2", "k2"),
        ("MINT_VAULT_KEY_3", "k3"),
        ("MINT_VAULT_TOKEN", "t"),
        ("MINT_VAULT_DR_ADDR", "http://127.0.0.1:8201"),
        ("MINT_VAULT_DR_TOKEN", "t"),
        ("MINT_VAULT_SNAPSHOT_DIR", "/tmp"),
        ("MINT_QUEUE_TOKEN", "q"),
        ("MINT_STATUSPAGE_TOKEN", "Bearer s"),
    ];

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let mut pages: Vec<_> = std::fs::read_dir(root.join("docs/actions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    assert!(!pages.is_empty(), "no docs/actions/*.md");
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in &pages {
        let page = path.file_name().unwrap().to_str().unwrap();
        for (first, block) in runbook_blocks(&std::fs::read_to_string(path).unwrap()) {
            if SKIP.iter().any(|(p, line, _)| *p == page && *line == first) {
                continue;
            }
            let has_header = block
                .lines()
                .any(|l| l.trim_start().starts_with("version ="));
            let body = if has_header {
                block
            } else {
                format!("{HEADER}{block}")
            };
            let file = write(dir.path(), &format!("{page}-{first}.toml"), &body);
            let out = command(&["validate", file.to_str().unwrap()], &envs)
                .current_dir(&root)
                .output()
                .unwrap();
            checked += 1;
            if out.status.code() != Some(0) {
                failures.push(format!(
                    "docs/actions/{page}, the block from line {first}: exit {:?}\n{}",
                    out.status.code(),
                    text(&out.stderr)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= pages.len(), "only {checked} blocks found");
}
