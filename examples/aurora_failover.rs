//! The Mint Replica Lite Aurora failover drill (the seed's "RDS Database Recovery"), run with
//! drkit against a local AWS emulator.
//!
//! ```text
//! bash scripts/drill.sh        # starts moto, then runs this example against it
//! ```
//!
//! It creates the "production" world (Aurora PostgreSQL cluster `mint-replica-cluster` with a
//! writer and a reader), then fails it over with drkit's `rds.failover_db_cluster` action —
//! built from the registry the way a runbook file will build it — and prints every phase with
//! its duration; then restores the cluster to its latest restorable time into a new cluster and
//! reports the data that restore loses against the database RPO (5 min). It reads the standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, ...)
//! and refuses to run without an endpoint, so it never creates a real (billed) Aurora cluster.
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::error::Error;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aws_sdk_rds::Client;
use drkit_aws::{AwsContext, AwsSettings, SdkResultExt};
use drkit_core::registry::Registry;
use drkit_core::{
    ActionExt, CancellationToken, Check, Context, ErrorKind, ProgressEvent, ProgressKind,
    RetryPolicy,
};
use drkit_rds::{
    ClusterPitrParams, FailoverDbCluster, FailoverDbClusterParams, RestoreClusterToPointInTime,
};

const CLUSTER: &str = "mint-replica-cluster";
const WRITER: &str = "mint-replica-primary";
const READER: &str = "mint-replica-replica";
const RESTORED: &str = "mint-replica-restored";
/// The seed's database RPO.
const RPO_DATABASE: Duration = Duration::from_secs(5 * 60);

type AnyError = Box<dyn Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("\ndrill FAILED: {err}");
            ExitCode::FAILURE
        }
    }
}

struct Phases(Vec<(&'static str, Duration, String)>);

impl Phases {
    fn record(&mut self, name: &'static str, started: Instant, result: impl Into<String>) {
        let took = started.elapsed();
        let result = result.into();
        println!("  {name:<10} {:>8.3} s  {result}", took.as_secs_f64());
        self.0.push((name, took, result));
    }
}

async fn run() -> Result<(), AnyError> {
    let aws = AwsContext::load(&AwsSettings::default()).await;
    let Some(endpoint) = aws.endpoint_url().map(str::to_owned) else {
        return Err(
            "no AWS_ENDPOINT_URL is set. This drill creates an Aurora cluster; run it \
                    against an emulator: `bash scripts/drill.sh`"
                .into(),
        );
    };
    let region = aws.region().unwrap_or("us-east-1").to_owned();
    println!("Mint Replica Lite — Aurora failover drill");
    println!("  emulator {endpoint}, region {region}\n");
    let drill_started = Instant::now();
    let mut phases = Phases(Vec::new());

    // 1. The "production" world: what the seed's plan assumes exists.
    let t = Instant::now();
    let client = Client::new(aws.sdk_config());
    create_world(&client).await?;
    phases.record(
        "world",
        t,
        format!("cluster {CLUSTER}: writer {WRITER}, reader {READER}"),
    );

    // 2. The action, built from the registry by type, from its typed parameters (a runbook
    //    builds the same step from kind name + parameter table).
    let mut registry = Registry::new();
    drkit_rds::register(&mut registry, &aws)?;
    let step_id = "failover-db";
    let action = registry
        .typed_in::<FailoverDbCluster>(
            step_id,
            FailoverDbClusterParams::new(CLUSTER).to_instance(READER),
            &region,
        )?
        .with_retry(RetryPolicy::default())
        .with_timeout(Duration::from_secs(30 * 60));

    // Live progress: every poll and message of the action, printed as it happens.
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel::<ProgressEvent>();
    let printer = tokio::spawn(async move {
        while let Some(event) = received.recv().await {
            match event.kind {
                ProgressKind::Poll {
                    attempt,
                    waited,
                    state,
                    ..
                } => println!(
                    "             · poll {attempt} after {:.3} s: {state}",
                    waited.as_secs_f64()
                ),
                ProgressKind::Message { text } => println!("             · {text}"),
                ProgressKind::Retry {
                    attempt,
                    delay,
                    error,
                } => println!(
                    "             · attempt {attempt} failed, retrying in {delay:?}: {error}"
                ),
                _ => {}
            }
        }
    });
    let cancel = CancellationToken::new();
    let ctx = Context::new()
        .with_step(step_id)
        .with_cancellation(cancel.clone())
        .with_events(events);
    let ctrl_c = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\ninterrupted: stopping at the next safe point");
                cancel.cancel();
            }
        })
    };

    // 3. Check (read-only: what a dry run would show).
    let t = Instant::now();
    let check = action.check(&ctx).await?;
    let summary = match &check {
        Check::Ready { change } => format!("ready: {change}"),
        Check::Done { detail, .. } => format!("already done: {detail}"),
        Check::Blocked { reason } => format!("BLOCKED: {reason}"),
        Check::Unknown { question } => format!("UNKNOWN: {question}"),
    };
    phases.record("check", t, summary);
    if let Check::Blocked { reason: why } | Check::Unknown { question: why } = check {
        return Err(format!("cannot fail over: {why}").into());
    }

    // 4. Execute: FailoverDBCluster, then wait until the new writer serves.
    let t = Instant::now();
    let outputs = if check.is_done() {
        drkit_core::Outputs::new()
    } else {
        action.execute(&ctx).await?
    };
    phases.record(
        "failover",
        t,
        format!(
            "writer {} -> {}",
            outputs.get_str("previous_writer").unwrap_or(WRITER),
            outputs.get_str("writer").unwrap_or("(unchanged)")
        ),
    );

    // 5. Verify the post-condition, and read the writer independently of drkit.
    let t = Instant::now();
    let verified = action.verify(&ctx).await?;
    let writer = current_writer(&client).await?;
    phases.record(
        "verify",
        t,
        format!("{verified}; DescribeDBClusters says writer {writer}"),
    );
    if writer != READER {
        return Err(format!("the writer is {writer}, expected {READER}").into());
    }

    // 6. Point-in-time restore of the cluster into a new one (the seed's "Point-in-Time
    //    Recovery"), with the data it loses measured against the database RPO (5 min).
    let t = Instant::now();
    let restore = registry
        .typed_in::<RestoreClusterToPointInTime>(
            "restore-db",
            ClusterPitrParams::latest(CLUSTER, RESTORED, "db.r6g.large"),
            &region,
        )?
        .with_retry(RetryPolicy::default())
        .with_timeout(Duration::from_secs(60 * 60));
    let restore_ctx = ctx.clone().with_step("restore-db");
    let restored = match restore.check(&restore_ctx).await? {
        Check::Done { outputs, .. } => outputs,
        Check::Blocked { reason: why } | Check::Unknown { question: why } => {
            return Err(format!("cannot restore: {why}").into());
        }
        Check::Ready { .. } => restore.execute(&restore_ctx).await?,
    };
    let rpo = restored
        .get("rpo_seconds")
        .and_then(serde_json::Value::as_u64);
    let verdict = match rpo {
        Some(lost) if lost <= RPO_DATABASE.as_secs() => format!("{lost} s of data lost: RPO met"),
        Some(lost) => format!("{lost} s of data lost: RPO BREACHED"),
        None => "restored earlier: data loss not measured this run".to_owned(),
    };
    phases.record(
        "pitr",
        t,
        format!(
            "cluster {} (instance {}) restored to {}; {verdict} (objective {} s)",
            restored.get_str("cluster").unwrap_or(RESTORED),
            restored.get_str("instance").unwrap_or("?"),
            restored.get_str("restored_to").unwrap_or("(earlier run)"),
            RPO_DATABASE.as_secs()
        ),
    );

    drop(restore_ctx);
    drop(ctx);
    ctrl_c.abort();
    let _ = printer.await;
    let total = drill_started.elapsed();
    println!(
        "\nResult: SUCCESS — {CLUSTER} now writes on {writer}; {RESTORED} holds the point-in-time copy."
    );
    println!(
        "Recovery time: {:.3} s of which failover {:.3} s (RTO for critical services: 1 h).",
        total.as_secs_f64(),
        phases
            .0
            .iter()
            .find(|(n, ..)| *n == "failover")
            .map_or(0.0, |(_, d, _)| d.as_secs_f64())
    );
    Ok(())
}

/// Creates the cluster and its two instances; an existing one (a second run against the same
/// emulator) is reused as it is.
async fn create_world(client: &Client) -> Result<(), AnyError> {
    let created = client
        .create_db_cluster()
        .db_cluster_identifier(CLUSTER)
        .engine("aurora-postgresql")
        .master_username("mint_admin")
        // The emulator needs a password; a real drill never creates the cluster at all.
        .master_user_password(format!("drill-{}", std::process::id()))
        .send()
        .await
        .or_action_error("CreateDBCluster");
    match created {
        Ok(_) => {}
        Err(err) if err.kind() == ErrorKind::Conflict => {
            println!("  (cluster {CLUSTER} already exists in the emulator: reusing it)");
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    }
    for instance in [WRITER, READER] {
        client
            .create_db_instance()
            .db_instance_identifier(instance)
            .db_cluster_identifier(CLUSTER)
            .engine("aurora-postgresql")
            .db_instance_class("db.r6g.large")
            .send()
            .await
            .or_action_error("CreateDBInstance")?;
    }
    Ok(())
}

async fn current_writer(client: &Client) -> Result<String, AnyError> {
    let out = client
        .describe_db_clusters()
        .db_cluster_identifier(CLUSTER)
        .send()
        .await
        .or_action_error("DescribeDBClusters")?;
    Ok(out
        .db_clusters()
        .iter()
        .flat_map(|c| c.db_cluster_members())
        .find(|m| m.is_cluster_writer() == Some(true))
        .and_then(|m| m.db_instance_identifier())
        .unwrap_or("none")
        .to_owned())
}
