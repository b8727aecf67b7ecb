//! # drkit
//!
//! The facade of the drkit toolkit: one dependency, a feature per provider, a prelude, and one
//! call that registers every enabled action.
//!
//! ```toml
//! [dependencies]
//! drkit = { version = "0.1", default-features = false, features = ["rds", "checks"] }
//! ```
//!
//! | feature | crate | actions |
//! |---|---|---|
//! | `rds` | [`drkit_rds`] | `rds.*` |
//! | `eks` | [`drkit_eks`] | `eks.*` |
//! | `elasticache` | [`drkit_elasticache`] | `elasticache.*` |
//! | `s3` | [`drkit_s3`] | `s3.*` |
//! | `route53` | [`drkit_route53`] | `route53.*` |
//! | `arc` | [`drkit_arc`] | `arc.*` (Route 53 ARC routing controls: DNS failover on the data plane) |
//! | `cloudfront` | [`drkit_cloudfront`] | `cloudfront.*` |
//! | `acm` | [`drkit_acm`] | `acm.*` (request with DNS validation through Route 53, check, import) |
//! | `vault` | [`drkit_vault`] | `vault.*` (Vault / OpenBao) |
//! | `checks` | [`drkit_checks`] | `checks.*` (PostgreSQL, Redis, HTTP, TLS) |
//! | `k8s` | [`drkit_k8s`] | `k8s.*` (server-side apply, rollout readiness, scale, node readiness; kubeconfig or EKS token) |
//! | `iam` | [`drkit_iam`] | `iam.*` (role inline policy with rollback, role check) |
//! | `ec2` | [`drkit_ec2`] | `ec2.*` (security-group ingress with rollback, check) |
//! | `lambda` | [`drkit_lambda`] | `lambda.invoke` (a function as a step, exactly once) |
//! | `sns` | [`drkit_sns`] | `sns.publish` (a notice to a topic, exactly once) |
//! | `custom` | [`drkit_custom`] | `exec.command` (a local program as a step) |
//! | `journal-s3` | [`drkit_journal_s3`] | the runner's journal in S3 |
//! | `aws` | [`drkit_aws`] | the AWS configuration (on with any AWS provider) |
//!
//! The AWS-free features (`vault`, `checks`, `custom`, `k8s` without `eks`) compile no aws-*
//! crate.
//!
//! Every provider's actions are registered by type; a Rust program builds a step from the
//! kind's typed parameter struct (a runbook builds the same step from its TOML table). AWS
//! configuration is loaded when the first AWS call is made, never to build a step.
//!
//! ```no_run
//! use drkit::prelude::*;
//! use drkit::rds::{FailoverDbCluster, FailoverDbClusterParams};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let aws = drkit::aws::Aws::lazy(drkit::aws::AwsSettings::default().region("us-east-1"));
//! let registry = drkit::registry_with_aws(&aws)?;
//! let failover = registry.typed::<FailoverDbCluster>(
//!     "failover-db",
//!     FailoverDbClusterParams::new("mint-replica-cluster").to_instance("mint-replica-2"),
//! )?;
//! let plan = Plan::new("mint", vec![Step::new(failover).tier(Tier::Critical)])?;
//! println!("{}", drkit::iam_policy(&registry, ["rds.failover_db_cluster"])?);
//! let report = Runner::new().run(&plan).await?;
//! println!("{}", report.to_markdown());
//! # Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::collections::BTreeSet;

#[cfg(feature = "acm")]
#[cfg_attr(docsrs, doc(cfg(feature = "acm")))]
pub use drkit_acm as acm;
#[cfg(feature = "arc")]
#[cfg_attr(docsrs, doc(cfg(feature = "arc")))]
pub use drkit_arc as arc;
#[cfg(feature = "aws")]
#[cfg_attr(docsrs, doc(cfg(feature = "aws")))]
pub use drkit_aws as aws;
#[cfg(feature = "checks")]
#[cfg_attr(docsrs, doc(cfg(feature = "checks")))]
pub use drkit_checks as checks;
#[cfg(feature = "cloudfront")]
#[cfg_attr(docsrs, doc(cfg(feature = "cloudfront")))]
pub use drkit_cloudfront as cloudfront;
pub use drkit_core as core;
#[cfg(feature = "custom")]
#[cfg_attr(docsrs, doc(cfg(feature = "custom")))]
pub use drkit_custom as custom;
#[cfg(feature = "ec2")]
#[cfg_attr(docsrs, doc(cfg(feature = "ec2")))]
pub use drkit_ec2 as ec2;
#[cfg(feature = "eks")]
#[cfg_attr(docsrs, doc(cfg(feature = "eks")))]
pub use drkit_eks as eks;
#[cfg(feature = "elasticache")]
#[cfg_attr(docsrs, doc(cfg(feature = "elasticache")))]
pub use drkit_elasticache as elasticache;
#[cfg(feature = "iam")]
#[cfg_attr(docsrs, doc(cfg(feature = "iam")))]
pub use drkit_iam as iam;
#[cfg(feature = "journal-s3")]
#[cfg_attr(docsrs, doc(cfg(feature = "journal-s3")))]
pub use drkit_journal_s3 as journal_s3;
#[cfg(feature = "k8s")]
#[cfg_attr(docsrs, doc(cfg(feature = "k8s")))]
pub use drkit_k8s as k8s;
#[cfg(feature = "lambda")]
#[cfg_attr(docsrs, doc(cfg(feature = "lambda")))]
pub use drkit_lambda as lambda;
#[cfg(feature = "rds")]
#[cfg_attr(docsrs, doc(cfg(feature = "rds")))]
pub use drkit_rds as rds;
#[cfg(feature = "route53")]
#[cfg_attr(docsrs, doc(cfg(feature = "route53")))]
pub use drkit_route53 as route53;
pub use drkit_runner as runner;
#[cfg(feature = "s3")]
#[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
pub use drkit_s3 as s3;
#[cfg(feature = "sns")]
#[cfg_attr(docsrs, doc(cfg(feature = "sns")))]
pub use drkit_sns as sns;
#[cfg(feature = "vault")]
#[cfg_attr(docsrs, doc(cfg(feature = "vault")))]
pub use drkit_vault as vault;

use drkit_core::registry::{DuplicateKind, Registry};

/// What most programs using drkit need.
pub mod prelude {
    pub use drkit_core::registry::{ActionSpec, Registry};
    pub use drkit_core::{
        ActionError, ActionExt, ActionKind, ActionRef, Check, Context, ErrorKind, Outputs,
        RecoveryAction, Resource, RetryPolicy, SecretRef,
    };
    pub use drkit_runner::{OnFailure, Plan, Report, Runner, Step, Tier};
}

/// Registers the actions of every enabled provider. The AWS providers use the AWS
/// configuration of the environment (credential chain, `AWS_REGION`, `AWS_PROFILE`,
/// `AWS_ENDPOINT_URL`), loaded when the first AWS call is made; see [`register_all_with_aws`]
/// for a configuration of the program's own.
pub fn register_all(registry: &mut Registry) -> Result<(), DuplicateKind> {
    #[cfg(feature = "aws")]
    {
        let aws = drkit_aws::Aws::lazy(drkit_aws::AwsSettings::default());
        register_all_with_aws(registry, &aws)
    }
    #[cfg(not(feature = "aws"))]
    register_aws_free(registry)
}

/// Registers the actions of every enabled provider, the AWS ones talking to AWS as `aws` says
/// (an [`aws::Aws`], loaded on first use, or an already loaded [`aws::AwsContext`]).
#[cfg(feature = "aws")]
#[cfg_attr(docsrs, doc(cfg(feature = "aws")))]
pub fn register_all_with_aws(
    registry: &mut Registry,
    aws: impl Into<drkit_aws::Aws>,
) -> Result<(), DuplicateKind> {
    let aws: drkit_aws::Aws = aws.into();
    let _ = &aws; // used or not, depending on the features
    #[cfg(feature = "rds")]
    drkit_rds::register(registry, &aws)?;
    #[cfg(feature = "eks")]
    drkit_eks::register(registry, &aws)?;
    #[cfg(feature = "elasticache")]
    drkit_elasticache::register(registry, &aws)?;
    #[cfg(feature = "s3")]
    drkit_s3::register(registry, &aws)?;
    #[cfg(feature = "route53")]
    drkit_route53::register(registry, &aws)?;
    #[cfg(feature = "arc")]
    drkit_arc::register(registry, &aws)?;
    #[cfg(feature = "cloudfront")]
    drkit_cloudfront::register(registry, &aws)?;
    #[cfg(feature = "acm")]
    drkit_acm::register(registry, &aws)?;
    #[cfg(all(feature = "k8s", feature = "eks"))]
    drkit_k8s::register_with_aws(registry, &aws)?;
    #[cfg(feature = "iam")]
    drkit_iam::register(registry, &aws)?;
    #[cfg(feature = "ec2")]
    drkit_ec2::register(registry, &aws)?;
    #[cfg(feature = "lambda")]
    drkit_lambda::register(registry, &aws)?;
    #[cfg(feature = "sns")]
    drkit_sns::register(registry, &aws)?;
    register_aws_free(registry)
}

/// The providers that need no AWS configuration.
fn register_aws_free(registry: &mut Registry) -> Result<(), DuplicateKind> {
    let _ = &registry; // used or not, depending on the features
    #[cfg(feature = "vault")]
    drkit_vault::register(registry)?;
    #[cfg(feature = "checks")]
    drkit_checks::register(registry)?;
    #[cfg(feature = "custom")]
    drkit_custom::register(registry)?;
    #[cfg(all(feature = "k8s", not(feature = "eks")))]
    drkit_k8s::register(registry)?;
    Ok(())
}

/// A registry with every enabled provider's actions (AWS configuration from the environment,
/// loaded on first use: see [`register_all`]).
pub fn registry() -> Result<Registry, DuplicateKind> {
    let mut registry = Registry::new();
    register_all(&mut registry)?;
    Ok(registry)
}

/// A registry with every enabled provider's actions, the AWS ones configured by `aws`.
#[cfg(feature = "aws")]
#[cfg_attr(docsrs, doc(cfg(feature = "aws")))]
pub fn registry_with_aws(aws: impl Into<drkit_aws::Aws>) -> Result<Registry, DuplicateKind> {
    let mut registry = Registry::new();
    register_all_with_aws(&mut registry, aws)?;
    Ok(registry)
}

/// An action kind the registry does not know.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown action `{0}`")]
pub struct UnknownKind(pub String);

/// The least-privilege IAM policy (JSON) for exactly the action kinds given: every IAM action
/// they declare, once, sorted — what a drill of that plan needs and nothing more. Resources are
/// `*`: scoping them to ARNs is left to the operator (the actions know names, not ARNs).
pub fn iam_policy<'a>(
    registry: &Registry,
    kinds: impl IntoIterator<Item = &'a str>,
) -> Result<serde_json::Value, UnknownKind> {
    let mut actions = BTreeSet::new();
    for kind in kinds {
        let descriptor = registry
            .descriptor(kind)
            .ok_or_else(|| UnknownKind(kind.to_owned()))?;
        actions.extend(descriptor.iam_actions.iter().copied());
    }
    Ok(serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DrkitRecovery",
            "Effect": "Allow",
            "Action": actions.into_iter().collect::<Vec<_>>(),
            "Resource": "*",
        }],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_enabled_provider_is_registered() {
        let registry = registry().unwrap();
        let kinds: Vec<&str> = registry.descriptors().map(|d| d.kind).collect();
        #[cfg(feature = "rds")]
        assert!(kinds.contains(&"rds.failover_db_cluster"));
        #[cfg(feature = "eks")]
        assert!(kinds.contains(&"eks.scale_nodegroup"));
        #[cfg(feature = "elasticache")]
        assert!(kinds.contains(&"elasticache.set_primary"));
        #[cfg(feature = "checks")]
        assert!(kinds.contains(&"checks.pg_data_loss"));
        #[cfg(feature = "custom")]
        assert!(kinds.contains(&"exec.command"));
        #[cfg(feature = "route53")]
        assert!(kinds.contains(&"route53.change_records"));
        #[cfg(feature = "vault")]
        assert!(kinds.contains(&"vault.unseal"));
        #[cfg(feature = "acm")]
        assert!(kinds.contains(&"acm.request_certificate"));
        #[cfg(feature = "k8s")]
        assert!(kinds.contains(&"k8s.apply"));
        #[cfg(feature = "iam")]
        assert!(kinds.contains(&"iam.put_role_policy"));
        #[cfg(feature = "ec2")]
        assert!(kinds.contains(&"ec2.authorize_ingress"));
        #[cfg(feature = "lambda")]
        assert!(kinds.contains(&"lambda.invoke"));
        #[cfg(feature = "sns")]
        assert!(kinds.contains(&"sns.publish"));
        assert!(!kinds.is_empty());
    }

    #[cfg(feature = "rds")]
    #[test]
    fn the_iam_policy_has_exactly_the_plans_actions() {
        let registry = registry().unwrap();
        let policy = iam_policy(
            &registry,
            [
                "rds.failover_db_cluster",
                "rds.cluster_status",
                "rds.failover_db_cluster",
            ],
        )
        .unwrap();
        assert_eq!(
            policy["Statement"][0]["Action"],
            serde_json::json!([
                "rds:DescribeDBClusters",
                "rds:DescribeDBInstances",
                "rds:FailoverDBCluster"
            ])
        );
        assert_eq!(
            iam_policy(&registry, ["rds.nope"]).unwrap_err(),
            UnknownKind("rds.nope".into())
        );
    }
}
