//! A platform team's own recovery tool, built on the `drkit` facade — and unit-tested against
//! mocks, the way such a team would test it.
//!
//! The tool's logic (`recovery_plan`) takes a [`Registry`]; in production the registry talks to
//! AWS, in the tests below to `MockRdsApi`. It embeds the runner and consumes its live events.
//!
//! ```text
//! AWS_ENDPOINT_URL=http://127.0.0.1:5000 cargo run -p drkit-examples --example platform_tool
//! cargo test -p drkit-examples --example platform_tool
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::process::ExitCode;
use std::time::Duration;

use drkit::aws::{AwsContext, AwsSettings};
use drkit::prelude::*;
use drkit::rds::{
    ClusterStatus, ClusterStatusParams, FailoverDbCluster, FailoverDbClusterParams, RdsPorts,
};
use drkit::runner::RunEventKind;
use drkit::runner::journal::Event;

const CLUSTER: &str = "mint-replica-cluster";

/// The team's recovery: read the cluster, fail it over to `reader` (rolling back on failure),
/// read it again. Pure plan-building: no call is made here. Each step is built from its kind's
/// typed parameters, validated as a runbook's would be.
fn recovery_plan(registry: &Registry, reader: &str) -> Result<Plan, Box<dyn std::error::Error>> {
    let mut before = ClusterStatusParams::new(CLUSTER);
    before.min_members = 2;
    Ok(Plan::new(
        "platform-db-failover",
        vec![
            Step::new(registry.typed::<ClusterStatus>("db-before", before)?).tier(Tier::Critical),
            Step::new(registry.typed::<FailoverDbCluster>(
                "failover",
                FailoverDbClusterParams::new(CLUSTER).to_instance(reader),
            )?)
            .tier(Tier::Critical)
            .depends_on(["db-before"])
            .timeout(Duration::from_secs(30 * 60))
            .retry(RetryPolicy::default())
            .on_failure(OnFailure::Rollback),
            Step::new(
                registry.typed::<ClusterStatus>("db-after", ClusterStatusParams::new(CLUSTER))?,
            )
            .tier(Tier::Critical)
            .depends_on(["failover"]),
        ],
    )?)
}

/// Runs `plan`, printing each journalled event as it happens.
async fn run_with_live_events(plan: &Plan) -> Result<Report, drkit::runner::RunError> {
    let runner = Runner::new();
    let mut events = runner.subscribe();
    let printer = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if let RunEventKind::Journal(record) = &event.kind {
                let step = match &record.event {
                    Event::StepSucceeded { step, .. }
                    | Event::StepSkipped { step, .. }
                    | Event::StepFailed { step, .. } => step.as_str(),
                    _ => continue,
                };
                let left = event
                    .budget
                    .as_ref()
                    .map(|b| format!(" ({} RTO budget left: {:.0} s)", b.tier.as_str(), b.seconds))
                    .unwrap_or_default();
                println!("  {step}: {}{left}", record.event.name());
            }
        }
    });
    let result = runner.run(plan).await;
    drop(runner);
    let _ = printer.await;
    result
}

#[tokio::main]
async fn main() -> ExitCode {
    let aws = AwsContext::load(&AwsSettings::default()).await;
    if aws.endpoint_url().is_none() {
        eprintln!("refusing to fail over a real cluster from an example: set AWS_ENDPOINT_URL");
        return ExitCode::FAILURE;
    }
    let mut registry = Registry::new();
    if let Err(e) = drkit::rds::register_with(&mut registry, &RdsPorts::aws(&aws.into())) {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    let plan = match recovery_plan(&registry, "mint-replica-replica") {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match run_with_live_events(&plan).await {
        Ok(report) => {
            println!("{}", report.to_markdown());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use drkit::core::PortFactory;
    use drkit::rds::{ClusterMember, DbCluster, DbInstance, MockMetricsApi, MockRdsApi, RdsApi};

    use super::*;

    fn cluster(writer: &str, reader: &str) -> DbCluster {
        DbCluster::new(
            CLUSTER,
            "available",
            vec![ClusterMember::writer(writer), ClusterMember::reader(reader)],
        )
    }

    /// The team's plan, run against a mocked RDS: the failover is requested exactly once, to
    /// the reader the team named, and the report says so.
    #[tokio::test(start_paused = true)]
    async fn the_plan_fails_over_once_to_the_named_reader() {
        let failed_over = Arc::new(Mutex::new(false));
        let mut rds = MockRdsApi::new();
        let seen = Arc::clone(&failed_over);
        rds.expect_describe_db_cluster().returning(move |_| {
            Ok(if *seen.lock().unwrap() {
                cluster("mint-replica-replica", "mint-replica-primary")
            } else {
                cluster("mint-replica-primary", "mint-replica-replica")
            })
        });
        rds.expect_describe_db_instance()
            .returning(|id| Ok(DbInstance::new(id, "available")));
        let flag = Arc::clone(&failed_over);
        rds.expect_failover_db_cluster()
            .withf(|c, t| c == CLUSTER && *t == Some("mint-replica-replica"))
            .times(1)
            .returning(move |_, _| {
                *flag.lock().unwrap() = true;
                Ok(())
            });
        let ports = RdsPorts {
            rds: PortFactory::fixed(Arc::new(rds) as Arc<dyn RdsApi>),
            metrics: PortFactory::fixed(Arc::new(MockMetricsApi::new()) as _),
        };
        let mut registry = Registry::new();
        drkit::rds::register_with(&mut registry, &ports).unwrap();

        let plan = recovery_plan(&registry, "mint-replica-replica").unwrap();
        let report = run_with_live_events(&plan).await.unwrap();

        assert!(report.is_success());
        let failover = report.step("failover").unwrap();
        assert_eq!(
            failover.outputs.get_str("writer"),
            Some("mint-replica-replica")
        );
        assert_eq!(
            failover.outputs.get_str("previous_writer"),
            Some("mint-replica-primary")
        );
    }

    /// A typo in the team's reader name is caught when the plan is built, before any call.
    #[test]
    fn a_bad_reader_name_is_refused_at_build_time() {
        let mut rds = MockRdsApi::new();
        rds.expect_failover_db_cluster().never();
        let ports = RdsPorts {
            rds: PortFactory::fixed(Arc::new(rds) as Arc<dyn RdsApi>),
            metrics: PortFactory::fixed(Arc::new(MockMetricsApi::new()) as _),
        };
        let mut registry = Registry::new();
        drkit::rds::register_with(&mut registry, &ports).unwrap();
        let err = recovery_plan(&registry, "mint_replica_replica").unwrap_err();
        assert!(
            err.to_string().contains("not a valid RDS identifier"),
            "{err}"
        );
    }
}
