//! Issue "Exactly once", its two cases, run as a user would: the `drkit` binary, the runbook of
//! the issue (a failover with no `target_instance`), moto behind the fault proxy, which counts
//! the `FailoverDBCluster` requests that reach moto.
//!
//! 1. The answer to `FailoverDBCluster` is lost after moto made the failover: the run succeeds
//!    with one request, the writer is another instance (not failed back).
//! 2. The process is SIGKILLed while the outcome of `FailoverDBCluster` is unknown to it (the
//!    proxy holds the answer), then `drkit resume` runs: the resumed step reads the intent it
//!    journalled before the call, sees the new writer and succeeds (the change is this run's,
//!    so a later failure would roll it back). One request in all; the writer is not the one the
//!    plan left.

use std::path::Path;
use std::time::Duration;

use aws_sdk_rds::Client;
use drkit::runner::{Event, FileJournalStore, JournalStore, Outcome, Record};
use drkit_testkit::faults::{FaultConfig, FaultProxy};

use crate::cli::{text, write};
use crate::hardening::{finish, spawn, until};

const PLAN: &str = "exactly-once";

fn runbook(cluster: &str) -> String {
    format!(
        r#"
version = 1
name = "{PLAN}"
[defaults]
region = "us-east-1"
timeout = "3m"
[[steps]]
id = "failover"
action = "rds.failover_db_cluster"
tier = "critical"
[steps.params]
cluster = "{cluster}"
"#
    )
}

/// An Aurora PostgreSQL cluster with three instances; the first is the writer.
async fn cluster(client: &Client) -> (String, Vec<String>) {
    let cluster = drkit_testkit::unique("exactly-once");
    client
        .create_db_cluster()
        .db_cluster_identifier(&cluster)
        .engine("aurora-postgresql")
        .master_username("mint_admin")
        .master_user_password("not-a-real-secret-1")
        .send()
        .await
        .unwrap();
    let mut instances = Vec::new();
    for i in 1..=3 {
        let id = format!("{cluster}-{i}");
        client
            .create_db_instance()
            .db_instance_identifier(&id)
            .db_cluster_identifier(&cluster)
            .engine("aurora-postgresql")
            .db_instance_class("db.r6g.large")
            .send()
            .await
            .unwrap();
        instances.push(id);
    }
    (cluster, instances)
}

async fn writer(client: &Client, cluster: &str) -> String {
    let out = client
        .describe_db_clusters()
        .db_cluster_identifier(cluster)
        .send()
        .await
        .unwrap();
    out.db_clusters()[0]
        .db_cluster_members()
        .iter()
        .find(|m| m.is_cluster_writer() == Some(true))
        .and_then(|m| m.db_instance_identifier().map(str::to_owned))
        .unwrap()
}

async fn records(journal: &Path) -> Vec<Record> {
    FileJournalStore::new(journal)
        .unwrap()
        .load(PLAN)
        .await
        .unwrap()
}

fn count(records: &[Record], name: &str) -> usize {
    records
        .iter()
        .filter(|r| r.event.name() == name && r.event.step() == Some("failover"))
        .count()
}

fn requests(proxy: &FaultProxy) -> u64 {
    proxy
        .stats()
        .by_operation
        .get("FailoverDBCluster")
        .copied()
        .unwrap_or_default()
}

fn finished(records: &[Record]) -> Option<Outcome> {
    records.iter().rev().find_map(|r| match &r.event {
        Event::RunFinished { outcome } => Some(*outcome),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_failover_answer_fails_over_once_and_the_run_succeeds() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let client = Client::new(&moto.sdk_config("us-east-1").await);
    let (cluster, instances) = cluster(&client).await;
    let proxy = FaultProxy::start_local(
        FaultConfig::new(moto.endpoint()).lose_answer("FailoverDBCluster", 1),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "exactly-once.toml", &runbook(&cluster));
    let journal = dir.path().join("journal");
    let run = spawn(
        &[
            "run",
            file.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ],
        dir.path(),
        &proxy.url(),
    );
    let out = finish(run, Duration::from_secs(120)).await;
    let stats = proxy.shutdown().await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(stats.answers_lost, 1, "{stats:?}");
    assert_eq!(
        stats.by_operation.get("FailoverDBCluster"),
        Some(&1),
        "FailoverDBCluster reached moto more than once: {stats:?}"
    );
    assert_ne!(writer(&client, &cluster).await, instances[0], "failed back");
    let records = records(&journal).await;
    assert_eq!(count(&records, "step_intent"), 1, "{records:#?}");
    assert_eq!(count(&records, "step_succeeded"), 1, "{records:#?}");
    assert_eq!(finished(&records), Some(Outcome::Succeeded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_while_the_failover_outcome_is_unknown_then_resume_fails_over_once() {
    let Some(moto) = drkit_testkit::moto() else {
        return;
    };
    let client = Client::new(&moto.sdk_config("us-east-1").await);
    let (cluster, instances) = cluster(&client).await;
    // The answer is held (then lost): the process is killed while it waits for it.
    let proxy = FaultProxy::start_local(
        FaultConfig::new(moto.endpoint())
            .lose_answer("FailoverDBCluster", 1)
            .lose_after(Duration::from_secs(60)),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "exactly-once.toml", &runbook(&cluster));
    let journal = dir.path().join("journal");
    let journal_file = journal.join(format!("{PLAN}.journal.jsonl"));
    let mut run = spawn(
        &[
            "run",
            file.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ],
        dir.path(),
        &proxy.url(),
    );
    until("the failover made in moto", async || {
        requests(&proxy) == 1 && writer(&client, &cluster).await != instances[0]
    })
    .await;
    let new_writer = writer(&client, &cluster).await;
    // SIGKILL: as if the machine died while the call's outcome was unknown.
    run.kill().unwrap();
    run.wait().unwrap();
    let before = records(&journal).await;
    assert_eq!(count(&before, "step_intent"), 1, "{before:#?}");
    assert_eq!(count(&before, "step_succeeded"), 0, "{before:#?}");

    let resume = spawn(
        &["resume", journal_file.to_str().unwrap()],
        dir.path(),
        &proxy.url(),
    );
    let out = finish(resume, Duration::from_secs(120)).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        requests(&proxy),
        1,
        "the resumed run sent FailoverDBCluster again: {:?}",
        proxy.stats()
    );
    assert_eq!(writer(&client, &cluster).await, new_writer);
    let records = records(&journal).await;
    assert_eq!(count(&records, "step_succeeded"), 1, "{records:#?}");
    let outputs = records.iter().find_map(|r| match &r.event {
        Event::StepSucceeded { step, outputs, .. } if step == "failover" => Some(outputs.clone()),
        _ => None,
    });
    let outputs = outputs.unwrap();
    assert_eq!(outputs.get_str("writer"), Some(new_writer.as_str()));
    assert_eq!(
        outputs.get_str("previous_writer"),
        Some(instances[0].as_str())
    );
    assert_eq!(finished(&records), Some(Outcome::Succeeded));
    proxy.shutdown().await;
}
