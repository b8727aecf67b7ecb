//! The real `drkit` binary, run as a user runs it: exit codes, located messages, no request
//! to AWS on bad input (measured with a listener that records connections), and `run`,
//! `report` and `iam-policy` against the moto server on a small world each test creates.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

pub(crate) fn drkit(args: &[&str], envs: &[(&str, &str)]) -> Output {
    command(args, envs).output().expect("drkit runs")
}

/// `drkit ARGS` with a clean AWS environment (test credentials, no profile, no IMDS).
pub(crate) fn command(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drkit"));
    cmd.args(args)
        // Never the machine's own AWS settings, never the instance metadata service.
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

pub(crate) fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

pub(crate) fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

/// A TCP listener on 127.0.0.1 that counts the connections made to it (and closes them).
struct Recorder {
    port: u16,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Recorder {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, done) = (Arc::clone(&connections), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok(_) => {
                        seen.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            port,
            connections,
            stop,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> usize {
        // One more accept round, so a connection made just before is counted.
        std::thread::sleep(Duration::from_millis(50));
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

const HEADER: &str = r#"
version = 1
name = "cli-test"
[defaults]
region = "us-east-1"
"#;

/// Malformed runbooks: (name, text, what the message must say).
fn malformed() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "unknown-action",
            format!(
                "{HEADER}\n[[steps]]\nid = \"a\"\naction = \"s3.configure_websit\"\n[steps.params]\nbucket = \"mint-web\"\nindex_document = \"index.html\"\n"
            ),
            "s3.configure_website",
        ),
        (
            "bad-duration",
            format!(
                "{HEADER}\n[[steps]]\nid = \"a\"\naction = \"s3.configure_website\"\ntimeout = \"ten minutes\"\n[steps.params]\nbucket = \"mint-web\"\nindex_document = \"index.html\"\n"
            ),
            "",
        ),
        (
            "unknown-dependency",
            format!(
                "{HEADER}\n[[steps]]\nid = \"a\"\naction = \"s3.configure_website\"\ndepends_on = [\"nowhere\"]\n[steps.params]\nbucket = \"mint-web\"\nindex_document = \"index.html\"\n"
            ),
            "nowhere",
        ),
        (
            "secret-in-clear",
            format!(
                "{HEADER}\n[[steps]]\nid = \"a\"\naction = \"vault.unseal\"\n[steps.params]\naddress = \"http://127.0.0.1:8200\"\nkeys = [\"s3cr3t\"]\n"
            ),
            "secret",
        ),
        (
            "missing-env",
            format!(
                "{HEADER}\n[[steps]]\nid = \"a\"\naction = \"s3.configure_website\"\n[steps.params]\nbucket = \"${{env.DRKIT_CLI_TEST_UNSET}}\"\nindex_document = \"index.html\"\n"
            ),
            "DRKIT_CLI_TEST_UNSET",
        ),
        ("syntax", format!("{HEADER}\n[[steps]\nid = \"a\"\n"), ""),
    ]
}

#[test]
fn validate_exits_0_on_a_good_runbook_and_2_with_located_messages() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.toml",
        &format!(
            "{HEADER}\n[[steps]]\nid = \"site\"\naction = \"s3.configure_website\"\n[steps.params]\nbucket = \"mint-web\"\nindex_document = \"index.html\"\n"
        ),
    );
    let out = drkit(&["validate", good.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("is valid (1 steps)"));

    for (name, body, says) in malformed() {
        let path = write(dir.path(), &format!("{name}.toml"), &body);
        let out = drkit(&["validate", path.to_str().unwrap()], &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        // file:line:column: message
        let prefix = format!("{}:", path.display());
        let located = err.lines().any(|l| {
            l.strip_prefix(&prefix).is_some_and(|rest| {
                let mut parts = rest.splitn(3, ':');
                let line = parts.next().and_then(|p| p.parse::<usize>().ok());
                let col = parts.next().and_then(|p| p.parse::<usize>().ok());
                line.is_some_and(|l| l >= 1) && col.is_some_and(|c| c >= 1)
            })
        });
        assert!(located, "{name}: no file:line:column in {err}");
        assert!(err.contains(says), "{name}: `{says}` not in {err}");
    }
}

#[test]
fn a_runbook_with_errors_gives_exit_2_and_no_request_reaches_aws() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::start();
    let endpoint = recorder.url();
    let journal = dir.path().join("journal");
    for (name, body, _) in malformed() {
        let path = write(dir.path(), &format!("{name}.toml"), &body);
        let file = path.to_str().unwrap();
        for args in [
            vec!["run", file, "--auto-approve"],
            vec!["run", file, "--dry-run"],
            vec!["resume", file],
            vec!["plan", file],
            vec!["iam-policy", file],
            vec!["validate", file],
        ] {
            let mut args = args;
            if matches!(args[0], "run" | "resume") {
                args.extend(["--journal", journal.to_str().unwrap()]);
            }
            args.extend(["--endpoint-url", &endpoint]);
            let out = drkit(&args, &[("AWS_ENDPOINT_URL", &endpoint)]);
            // `plan` and `iam-policy` need no environment: an unset variable is a warning
            // there (`operator`).
            let expected = if name == "missing-env" && matches!(args[0], "plan" | "iam-policy") {
                0
            } else {
                2
            };
            assert_eq!(
                out.status.code(),
                Some(expected),
                "{name} {args:?}: {}",
                text(&out.stderr)
            );
        }
    }
    // The sanity check of the recorder itself: a good runbook does reach it.
    assert_eq!(recorder.seen(), 0, "a request reached the AWS endpoint");
    let good = write(
        dir.path(),
        "good.toml",
        &format!(
            "{HEADER}\n[[steps]]\nid = \"site\"\naction = \"s3.configure_website\"\nretry = {{ max_attempts = 1 }}\n[steps.params]\nbucket = \"mint-web\"\nindex_document = \"index.html\"\n"
        ),
    );
    let out = drkit(
        &[
            "run",
            good.to_str().unwrap(),
            "--dry-run",
            "--endpoint-url",
            &endpoint,
        ],
        &[],
    );
    assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        recorder.seen() > 0,
        "the recorder saw nothing: it measures nothing"
    );
}

#[test]
fn the_mint_replica_runbook_validates_with_its_environment() {
    // From the repository root: the runbook's relative paths (the IAM policy document, the
    // Kubernetes manifests) are read from the working directory.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let file = "examples/runbooks/mint-replica.toml";
    let drkit = |args: &[&str], envs: &[(&str, &str)]| {
        command(args, envs).current_dir(&root).output().unwrap()
    };
    let envs = [
        ("MINT_CDN_DISTRIBUTION", "E2MINTREPLICA"),
        ("MINT_API_SG", "mint-replica-api"),
        ("MINT_KUBE_CONTEXT", "mint-dr"),
        ("MINT_VAULT_ADDR", "http://127.0.0.1:8200"),
        ("MINT_VAULT_KEY_1", "k1"),
        ("MINT_VAULT_KEY_2", "k2"),
        ("MINT_VAULT_KEY_3", "k3"),
        ("MINT_VAULT_TRANSIT_ADDR", "http://127.0.0.1:8201"),
        ("MINT_VAULT_TOKEN", "t"),
        ("MINT_PG_HOST", "127.0.0.1"),
        ("MINT_PG_PORT", "5433"),
        ("MINT_PG_DBNAME", "mint"),
        ("MINT_PG_USER", "mint_ro"),
        ("MINT_PG_PASSWORD", "p"),
        ("MINT_PG_SSLROOTCERT", "/etc/ssl/rds/global-bundle.pem"),
        ("MINT_ARC_ENDPOINT", "https://host-a.example.com/v1"),
        ("MINT_STATUSPAGE_URL", "https://status.example.com"),
        (
            "MINT_DR_TOPIC_ARN",
            "arn:aws:sns:us-west-2:123456789012:mint-dr-team",
        ),
        ("MINT_STATUSPAGE_BEARER", "Bearer t"),
        (
            "MINT_ARC_CONTROL_USE1",
            "arn:aws:route53-recovery-control::123456789012:controlpanel/m/routingcontrol/use1",
        ),
        (
            "MINT_ARC_CONTROL_USW2",
            "arn:aws:route53-recovery-control::123456789012:controlpanel/m/routingcontrol/usw2",
        ),
    ];
    let out = drkit(&["validate", file], &envs);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = drkit(&["plan", file], &envs);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // With its environment, `plan` warns about nothing (`operator` runs it with none).
    assert_eq!(text(&out.stderr), "");
    let plan = text(&out.stdout);
    assert!(!plan.contains("unset environment") && !plan.contains("not readable here"));
    for step in [
        "db-switchover",
        "db-detach",
        "dns-arc",
        "cdn-switch-origin",
        "restore-dr-role-policy",
        "api-sg-https",
        "standby-nodes-ready",
        "deploy-services",
        "services-ready",
        "dns-failover",
        "vault-unseal",
        "data-loss",
    ] {
        assert!(plan.contains(step), "{step} not in {plan}");
    }
    // In an outage: what the ungraceful plan skips, and why.
    let out = drkit(
        &[
            "plan",
            file,
            "--mode",
            "ungraceful",
            "--impaired-region",
            "us-east-1",
        ],
        &envs,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    for (step, why) in [
        ("s3-replication", "SKIPPED: region us-east-1 impaired"),
        ("db-switchover", "SKIPPED: not run in ungraceful mode"),
        ("dns-failover", "SKIPPED: not run in ungraceful mode"),
    ] {
        let line = plan
            .lines()
            .find(|l| l.trim_start().starts_with(step))
            .unwrap_or_else(|| panic!("{step} not in {plan}"));
        assert!(line.contains(why), "{line}");
    }
    for step in ["db-detach", "dns-arc", "cdn-switch-origin"] {
        let line = plan
            .lines()
            .find(|l| l.trim_start().starts_with(step))
            .unwrap_or_else(|| panic!("{step} not in {plan}"));
        assert!(!line.contains("SKIPPED"), "{line}");
    }
    // Its IAM policy has the AWS actions of every provider, the platform's included.
    let out = drkit(&["iam-policy", file], &envs);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let policy = text(&out.stdout);
    for action in [
        "rds:SwitchoverGlobalCluster",
        "rds:RemoveFromGlobalCluster",
        "route53-recovery-cluster:UpdateRoutingControlStates",
        "cloudfront:UpdateDistribution",
        "iam:PutRolePolicy",
        "ec2:AuthorizeSecurityGroupIngress",
    ] {
        assert!(policy.contains(action), "{action} not in {policy}");
    }
    // From another directory the relative paths do not resolve: exit 2 at validation, naming
    // the parameter, before any call.
    let elsewhere = tempfile::tempdir().unwrap();
    let absolute = root.join(file);
    let out = command(&["validate", absolute.to_str().unwrap()], &envs)
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for what in ["parameter `document`", "parameter `manifests`"] {
        assert!(err.contains(what), "{what} not in {err}");
    }
    // Without its environment: exit 2, each missing variable named.
    let out = drkit(&["validate", file], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for var in [
        "MINT_CDN_DISTRIBUTION",
        "MINT_KUBE_CONTEXT",
        "MINT_VAULT_KEY_1",
        "MINT_PG_PASSWORD",
    ] {
        assert!(err.contains(var), "{var} not in {err}");
    }
}

/// The world of the moto test: a bucket and a hosted zone of its own.
pub(crate) struct World {
    pub(crate) bucket: String,
    pub(crate) zone: String,
    pub(crate) s3: aws_sdk_s3::Client,
    route53: aws_sdk_route53::Client,
}

impl World {
    pub(crate) async fn create(moto: &drkit_testkit::Moto) -> Self {
        let config = moto.sdk_config("us-east-1").await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        let route53 = aws_sdk_route53::Client::new(&config);
        let bucket = drkit_testkit::unique("cli-web");
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        // Publicly readable, or s3.configure_website refuses a website that could not serve.
        let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
        s3.put_bucket_policy()
            .bucket(&bucket)
            .policy(policy.to_string())
            .send()
            .await
            .unwrap();
        let zone = format!("{}.example", drkit_testkit::unique("cli"));
        route53
            .create_hosted_zone()
            .name(&zone)
            .caller_reference(&zone)
            .send()
            .await
            .unwrap();
        Self {
            bucket,
            zone,
            s3,
            route53,
        }
    }

    fn runbook(&self) -> String {
        format!(
            r#"
version = 1
name = "cli-moto"
[defaults]
region = "us-east-1"
timeout = "2m"
[objectives.rto]
critical = "1h"
[[steps]]
id = "dr-website"
action = "s3.configure_website"
tier = "critical"
on_failure = "rollback"
[steps.params]
bucket = "{bucket}"
index_document = "index.html"
[[steps]]
id = "dns-failover"
action = "route53.change_records"
tier = "critical"
depends_on = ["dr-website"]
approval = true
[steps.params]
zone = "{zone}"
changes = [{{ action = "UPSERT", name = "api.{zone}", type = "CNAME", ttl = 60, values = ["api-dr.{zone}"] }}]
"#,
            bucket = self.bucket,
            zone = self.zone
        )
    }

    pub(crate) async fn website(&self) -> bool {
        self.s3
            .get_bucket_website()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
    }

    pub(crate) async fn api_record(&self) -> Option<String> {
        let zones = self
            .route53
            .list_hosted_zones_by_name()
            .dns_name(&self.zone)
            .send()
            .await
            .unwrap();
        let zone = zones.hosted_zones().first().unwrap().id().to_owned();
        let records = self
            .route53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .send()
            .await
            .unwrap();
        let name = format!("api.{}.", self.zone);
        records
            .resource_record_sets()
            .iter()
            .find(|r| r.name() == name)
            .and_then(|r| r.resource_records().first())
            .map(|r| r.value().to_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_run_report_and_iam_policy_against_moto() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let world = World::create(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let runbook = write(dir.path(), "cli-moto.toml", &world.runbook());
    let file = runbook.to_str().unwrap().to_owned();
    let journal = dir.path().join("journal");
    let report_md = dir.path().join("report.md");
    let endpoint = moto.endpoint().to_owned();

    // --dry-run: read-only checks, what would change is listed, nothing changes.
    let out = tokio::task::spawn_blocking({
        let (file, endpoint) = (file.clone(), endpoint.clone());
        move || {
            drkit(
                &["run", &file, "--dry-run", "--endpoint-url", &endpoint],
                &[],
            )
        }
    })
    .await
    .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("2 step(s) would change something, 0 cannot run now"),
        "{stdout}"
    );
    assert!(stdout.contains("| dr-website |") && stdout.contains("| dns-failover |"));
    assert!(
        stdout.contains("| required |"),
        "approval not shown: {stdout}"
    );
    assert!(!world.website().await, "the dry run configured the website");
    assert_eq!(world.api_record().await, None, "the dry run changed DNS");

    // run: both steps, a journal, the report file.
    let out = tokio::task::spawn_blocking({
        let (file, endpoint) = (file.clone(), endpoint.clone());
        let (journal, report_md) = (journal.clone(), report_md.clone());
        move || {
            drkit(
                &[
                    "run",
                    &file,
                    "--auto-approve",
                    "--journal",
                    journal.to_str().unwrap(),
                    "--report",
                    report_md.to_str().unwrap(),
                    "--incident-start",
                    "5m",
                    "--endpoint-url",
                    &endpoint,
                ],
                &[],
            )
        }
    })
    .await
    .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("- Outcome: **succeeded**"), "{stdout}");
    assert!(world.website().await, "the website is not configured");
    assert_eq!(
        world.api_record().await.as_deref(),
        Some(format!("api-dr.{}", world.zone).as_str())
    );
    let written = std::fs::read_to_string(&report_md).unwrap();
    assert!(written.contains("- Outcome: **succeeded**"));
    let journal_file = journal.join("cli-moto.journal.jsonl");
    assert!(
        journal_file.is_file(),
        "no journal at {}",
        journal_file.display()
    );

    // report JOURNAL: from the journal alone.
    let out = drkit(&["report", journal_file.to_str().unwrap()], &[]);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(report.contains("- Outcome: **succeeded**"), "{report}");
    assert!(report.contains("| dns-failover | critical |"), "{report}");
    assert!(report.contains("auto-approve"), "approver not in {report}");

    // iam-policy: exactly the two actions' IAM actions.
    let out = drkit(&["iam-policy", &file], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let policy: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut seen = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        match &statement["Action"] {
            serde_json::Value::String(a) => {
                seen.insert(a.clone());
            }
            serde_json::Value::Array(list) => {
                seen.extend(list.iter().filter_map(|a| a.as_str().map(str::to_owned)));
            }
            other => panic!("unexpected Action {other}"),
        }
    }
    let expected: BTreeSet<String> = [
        "s3:GetBucketWebsite",
        "s3:PutBucketWebsite",
        "s3:DeleteBucketWebsite",
        // The website's serving checks: the bucket's region, Block Public Access, policy.
        "s3:GetBucketLocation",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetBucketPolicy",
        "route53:GetHostedZone",
        "route53:ListHostedZonesByName",
        "route53:ListResourceRecordSets",
        "route53:ChangeResourceRecordSets",
        "route53:GetChange",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(seen, expected, "{policy:#}");
}

/// A step failing after the website and the DNS record were changed: `drkit run` rolls both
/// back (the record deleted, the website configuration removed), with the instances that made
/// the changes. Before, each runbook step was built anew for its rollback and these two
/// actions, which remember what they changed in memory, had "nothing to roll back".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_rolls_back_the_website_and_the_record_against_moto() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let world = World::create(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: the health check fails at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/health", closed.local_addr().unwrap());
    drop(closed);
    let runbook = format!(
        r#"{}
[[steps]]
id = "api-health"
action = "checks.http"
tier = "critical"
depends_on = ["dns-failover"]
on_failure = "rollback"
retry = {{ max_attempts = 1 }}
[steps.params]
url = "{url}"
attempts = 1
"#,
        world.runbook()
    );
    let file = write(dir.path(), "cli-moto.toml", &runbook);
    let journal = dir.path().join("journal");
    let endpoint = moto.endpoint().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        drkit(
            &[
                "run",
                file.to_str().unwrap(),
                "--auto-approve",
                "--journal",
                journal.to_str().unwrap(),
                "--endpoint-url",
                &endpoint,
            ],
            &[],
        )
    })
    .await
    .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("rolled back"), "{stdout}");
    assert!(!stdout.contains("ROLLBACK FAILED"), "{stdout}");
    assert!(!world.website().await, "the website configuration remains");
    assert_eq!(world.api_record().await, None, "the DNS record remains");
}
