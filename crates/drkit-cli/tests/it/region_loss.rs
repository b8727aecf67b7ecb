//! Issue "Region loss", parts 1 and 2, with the binary: `--mode` and `--impaired-region` on
//! `plan` and `run`, a step's `modes`, against moto through the fault proxy with us-east-1
//! dark (its regional services never answer; Route 53 passes), which counts the requests by
//! the region of their signature.

use std::time::Duration;

use drkit_testkit::faults::{FaultConfig, FaultProxy};

use crate::cli::{World, drkit, text, write};
use crate::hardening::{finish, spawn};

fn runbook(world: &World) -> String {
    format!(
        r#"
version = 1
name = "region-loss"
[defaults]
region = "us-east-1"
timeout = "1m"
[[steps]]
id = "primary-failover"
action = "rds.failover_db_cluster"
tier = "critical"
[steps.params]
cluster = "mint-primary-in-the-dark-region"
[[steps]]
id = "switchover"
action = "rds.failover_db_cluster"
region = "us-west-2"
modes = ["graceful"]
[steps.params]
cluster = "only-in-a-planned-switch"
[[steps]]
id = "dr-website"
action = "s3.configure_website"
region = "us-west-2"
[steps.params]
bucket = "{bucket}"
index_document = "index.html"
[[steps]]
id = "dns-failover"
action = "route53.change_records"
tier = "critical"
depends_on = ["primary-failover", "switchover", "dr-website"]
[steps.params]
zone = "{zone}"
changes = [{{ action = "UPSERT", name = "api.{zone}", type = "CNAME", ttl = 60, values = ["api-dr.{zone}"] }}]
"#,
        bucket = world.bucket,
        zone = world.zone,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ungraceful_run_with_us_east_1_impaired_sends_it_nothing_and_recovers() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let world = World::create(&moto).await;
    // us-east-1 is dark: a request to one of its regional services would never be answered.
    let proxy = FaultProxy::start_local(FaultConfig::new(moto.endpoint()).dark_region("us-east-1"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "region-loss.toml", &runbook(&world));
    let file = file.to_str().unwrap();
    let conditions = ["--mode", "ungraceful", "--impaired-region", "us-east-1"];

    // `plan` says what will be skipped, and why, before anything runs.
    let mut args = vec!["plan", file];
    args.extend(conditions);
    let out = drkit(&args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(
        plan.contains("mode ungraceful; impaired regions: us-east-1"),
        "{plan}"
    );
    assert!(
        plan.contains("SKIPPED: region us-east-1 impaired")
            && plan.contains("SKIPPED: not run in ungraceful mode (the step runs in: graceful)"),
        "{plan}"
    );

    let journal = dir.path().join("journal");
    let mut args = vec!["run", file, "--journal", journal.to_str().unwrap()];
    args.extend(conditions);
    let run = spawn(&args, dir.path(), &proxy.url());
    let out = finish(run, Duration::from_secs(120)).await;
    let stats = proxy.shutdown().await;
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}{}", text(&out.stderr));
    // Nothing regional reached us-east-1: only Route 53, a global service that signs there.
    let dark: Vec<&String> = stats
        .by_region
        .keys()
        .filter(|k| k.starts_with("us-east-1/") && *k != "us-east-1/route53")
        .collect();
    assert!(
        dark.is_empty(),
        "requests to the dark region: {:?}",
        stats.by_region
    );
    assert_eq!(stats.dark, 0, "{stats:?}");
    assert!(
        stats.by_region.contains_key("us-west-2/s3"),
        "{:?}",
        stats.by_region
    );
    assert!(!stats.by_operation.contains_key("FailoverDBCluster"));
    assert!(!stats.by_operation.contains_key("DescribeDBClusters"));
    assert!(world.website().await);
    assert_eq!(
        world.api_record().await.as_deref(),
        Some(format!("api-dr.{}", world.zone).as_str())
    );
    assert!(
        report.contains("- Mode: ungraceful; impaired regions: us-east-1"),
        "{report}"
    );
    assert!(report.contains("region us-east-1 impaired"), "{report}");
    assert!(report.contains("not run in ungraceful mode"), "{report}");
}

#[test]
fn a_bad_mode_or_region_is_refused_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.toml",
        r#"version = 1
name = "bad-modes"
[[steps]]
id = "web"
action = "s3.configure_website"
modes = ["sideways"]
[steps.params]
bucket = "b"
index_document = "index.html"
"#,
    );
    let out = drkit(&["validate", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(":6:")
            && err.contains("unknown mode `sideways`; expected graceful or ungraceful"),
        "{err}"
    );
    for args in [
        ["plan", "x.toml", "--impaired-region", "us-east"],
        ["plan", "x.toml", "--mode", "panic"],
    ] {
        let out = drkit(&args, &[]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = drkit(&["plan", "x.toml", "--impaired-region", "us-east"], &[]);
    assert!(text(&out.stderr).contains("`us-east` is not a region name"));
}

/// An S3 journal whose bucket is in the impaired region is refused before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_bucket_in_the_impaired_region_is_refused() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let world = World::create(&moto).await;
    let journals = drkit_testkit::unique("journals");
    world
        .s3
        .create_bucket()
        .bucket(&journals)
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "region-loss.toml", &runbook(&world));
    let store = format!("s3://{journals}/drills");
    let run = spawn(
        &[
            "run",
            file.to_str().unwrap(),
            "--journal",
            &store,
            "--mode",
            "ungraceful",
            "--impaired-region",
            "us-east-1",
        ],
        dir.path(),
        moto.endpoint(),
    );
    let out = finish(run, Duration::from_secs(60)).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "the journal's bucket is in us-east-1, which --impaired-region says is impaired"
        ),
        "{err}"
    );
    assert!(world.api_record().await.is_none(), "a step ran");
}
