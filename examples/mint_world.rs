//! Creates the "production" world of Mint Replica Lite that
//! `examples/runbooks/mint-replica.toml` recovers, in a local AWS emulator (and a local
//! PostgreSQL and OpenBao when they are given).
//!
//! ```text
//! bash scripts/mint-drill.sh      # starts the peers, runs this, then the runbook
//! ```
//!
//! In the emulator (region us-west-2 unless said otherwise):
//! - EKS cluster `mint-replica-standby` with node group `primary-nodes` (1 node: the standby);
//! - Aurora PostgreSQL global database `mint-replica-global`: the primary cluster
//!   `mint-replica-east` in us-east-1 (instance `mint-replica-east-1`), the secondary
//!   `mint-replica-cluster` in us-west-2 (instances `mint-replica-primary`,
//!   `mint-replica-replica`). The switchover, failover and detach of a global database are
//!   drkit's fake on top of moto (scripts/lib/moto_server.py);
//! - ElastiCache replication group `mint-replica-cache` (1 shard, 2 replicas);
//! - S3 bucket `mint-replica-primary` (us-east-1) replicating to `mint-replica-dr` (us-west-2),
//!   both versioned; the DR bucket publicly readable (its Block Public Access off, a bucket
//!   policy granting `s3:GetObject` to everyone), as its website endpoint needs;
//! - Route 53 zone `mintreplica.com` with `api.` and `www.` records pointing at production;
//! - CloudFront distribution (comment `mint-replica-web`; `www.` is a CNAME to it) in front of
//!   the primary bucket (origin `mint-replica-primary-s3`), with the DR bucket's website
//!   endpoint as a second origin (`mint-replica-dr-s3`, a custom origin, HTTP only) that
//!   `cloudfront.switch_origin` sends the traffic to;
//! - IAM role `mint-replica-dr-role` whose inline policy `mint-replica-dr-access` is stale
//!   (it lost `rds:FailoverDBCluster` and the EC2 permissions);
//! - security group `mint-replica-api` in the default VPC, without its HTTPS rule;
//! - SNS topic `mint-dr-team` in us-west-2 (the communication plan's "dr-team@" list: the
//!   notices must go out while us-east-1 is down).
//!
//! With `MINT_PG_HOST` (`MINT_PG_PORT`, `MINT_PG_DBNAME`, `MINT_PG_USER`, `MINT_PG_PASSWORD`):
//! the `transactions` table, with rows created in the last minutes. With
//! `MINT_VAULT_TRANSIT_ADDR` and `MINT_VAULT_TOKEN`: the transit key `mint-payments`, backup
//! allowed.
//!
//! It reads the standard AWS variables and refuses to run without an endpoint
//! (`AWS_ENDPOINT_URL`), so it never creates billed resources. It is idempotent: whatever
//! already exists is reused as it is. `--env-out FILE` writes the ids the runbook needs
//! (`export MINT_CDN_DISTRIBUTION=...`) to FILE.
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::error::Error;
use std::process::ExitCode;

use drkit_aws::{AwsContext, AwsSettings, SdkResultExt};
use drkit_core::ErrorKind;

type AnyError = Box<dyn Error + Send + Sync>;

const REGION: &str = "us-west-2";
const PRIMARY_BUCKET_REGION: &str = "us-east-1";
const EKS_CLUSTER: &str = "mint-replica-standby";
const NODEGROUP: &str = "primary-nodes";
const DB_GLOBAL: &str = "mint-replica-global";
const DB_PRIMARY_CLUSTER: &str = "mint-replica-east";
const DB_PRIMARY_INSTANCE: &str = "mint-replica-east-1";
const DB_CLUSTER: &str = "mint-replica-cluster";
const DB_WRITER: &str = "mint-replica-primary";
const DB_READER: &str = "mint-replica-replica";
const CACHE: &str = "mint-replica-cache";
const PRIMARY_BUCKET: &str = "mint-replica-primary";
const DR_BUCKET: &str = "mint-replica-dr";
const ZONE: &str = "mintreplica.com";
const CDN_COMMENT: &str = "mint-replica-web";
const TRANSIT_KEY: &str = "mint-payments";
const ACCOUNT: &str = "123456789012";
const DR_ROLE: &str = "mint-replica-dr-role";
const DR_POLICY: &str = "mint-replica-dr-access";
const API_SG: &str = "mint-replica-api";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mint_world FAILED: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Whether `result` is an "already exists" answer (then the resource is reused).
fn created<T>(result: Result<T, drkit_core::ActionError>, what: &str) -> Result<bool, AnyError> {
    match result {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == ErrorKind::Conflict => {
            println!("  {what}: exists, reused");
            Ok(false)
        }
        Err(err) => Err(err.into()),
    }
}

async fn run() -> Result<(), AnyError> {
    let mut env_out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--env-out" => env_out = args.next(),
            other => {
                return Err(format!("unknown argument `{other}` (expected --env-out FILE)").into());
            }
        }
    }
    let west = AwsContext::load(&AwsSettings::default().region(REGION)).await;
    let Some(endpoint) = west.endpoint_url().map(str::to_owned) else {
        return Err(
            "no AWS_ENDPOINT_URL is set. This creates an EKS cluster, an Aurora \
                    cluster, a cache and a CDN; run it against an emulator: \
                    `bash scripts/mint-drill.sh`"
                .into(),
        );
    };
    let east = AwsContext::load(&AwsSettings::default().region(PRIMARY_BUCKET_REGION)).await;
    println!("Mint Replica Lite — the production world, in the emulator at {endpoint}");

    eks(west.sdk_config()).await?;
    aurora(east.sdk_config(), west.sdk_config()).await?;
    cache(west.sdk_config()).await?;
    s3(east.sdk_config(), west.sdk_config()).await?;
    let distribution = cloudfront(west.sdk_config()).await?;
    route53(west.sdk_config(), &distribution.1).await?;
    iam(west.sdk_config()).await?;
    let api_sg = security_group(west.sdk_config()).await?;
    let topic = sns(west.sdk_config()).await?;
    postgres().await?;
    transit_key().await?;

    if let Some(path) = env_out {
        std::fs::write(
            &path,
            format!(
                "export MINT_CDN_DISTRIBUTION={}\nexport MINT_API_SG={api_sg}\n\
                 export MINT_DR_TOPIC_ARN={topic}\n",
                distribution.0
            ),
        )?;
        println!("  ids for the runbook written to {path}");
    }
    Ok(())
}

async fn eks(config: &aws_config::SdkConfig) -> Result<(), AnyError> {
    use aws_sdk_eks::types::{NodegroupScalingConfig, VpcConfigRequest};
    let client = aws_sdk_eks::Client::new(config);
    let role = format!("arn:aws:iam::{ACCOUNT}:role/mint-replica-eks");
    let made = client
        .create_cluster()
        .name(EKS_CLUSTER)
        .role_arn(&role)
        .resources_vpc_config(
            VpcConfigRequest::builder()
                .subnet_ids("subnet-mint-a")
                .subnet_ids("subnet-mint-b")
                .build(),
        )
        .send()
        .await
        .or_action_error("CreateCluster");
    if created(made, &format!("EKS cluster {EKS_CLUSTER}"))? {
        println!("  EKS cluster {EKS_CLUSTER}: created");
    }
    let made = client
        .create_nodegroup()
        .cluster_name(EKS_CLUSTER)
        .nodegroup_name(NODEGROUP)
        .node_role(format!("arn:aws:iam::{ACCOUNT}:role/mint-replica-nodes"))
        .subnets("subnet-mint-a")
        .subnets("subnet-mint-b")
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(1)
                .max_size(2)
                .desired_size(1)
                .build(),
        )
        .send()
        .await
        .or_action_error("CreateNodegroup");
    if created(made, &format!("node group {NODEGROUP}"))? {
        println!("  node group {EKS_CLUSTER}/{NODEGROUP}: created (1 node, the standby)");
    }
    Ok(())
}

async fn aurora(
    east: &aws_config::SdkConfig,
    west: &aws_config::SdkConfig,
) -> Result<(), AnyError> {
    let primary = aws_sdk_rds::Client::new(east);
    let client = aws_sdk_rds::Client::new(west);
    // The global database, then its primary in us-east-1, then the secondary in us-west-2.
    let made = primary
        .create_global_cluster()
        .global_cluster_identifier(DB_GLOBAL)
        .engine("aurora-postgresql")
        .send()
        .await
        .or_action_error("CreateGlobalCluster");
    if !created(made, &format!("Aurora global database {DB_GLOBAL}"))? {
        return Ok(());
    }
    // The emulator needs a password; a real drill never creates the clusters at all.
    let password = format!("drill-{}", std::process::id());
    primary
        .create_db_cluster()
        .db_cluster_identifier(DB_PRIMARY_CLUSTER)
        .engine("aurora-postgresql")
        .master_username("mint_admin")
        .master_user_password(&password)
        .global_cluster_identifier(DB_GLOBAL)
        .send()
        .await
        .or_action_error("CreateDBCluster")?;
    primary
        .create_db_instance()
        .db_instance_identifier(DB_PRIMARY_INSTANCE)
        .db_cluster_identifier(DB_PRIMARY_CLUSTER)
        .engine("aurora-postgresql")
        .db_instance_class("db.r6g.large")
        .send()
        .await
        .or_action_error("CreateDBInstance")?;
    // A secondary takes the global database's master user (none is given, as on AWS).
    client
        .create_db_cluster()
        .db_cluster_identifier(DB_CLUSTER)
        .engine("aurora-postgresql")
        .global_cluster_identifier(DB_GLOBAL)
        .send()
        .await
        .or_action_error("CreateDBCluster")?;
    for instance in [DB_WRITER, DB_READER] {
        client
            .create_db_instance()
            .db_instance_identifier(instance)
            .db_cluster_identifier(DB_CLUSTER)
            .engine("aurora-postgresql")
            .db_instance_class("db.r6g.large")
            .send()
            .await
            .or_action_error("CreateDBInstance")?;
    }
    println!(
        "  Aurora global database {DB_GLOBAL}: primary {DB_PRIMARY_CLUSTER} ({PRIMARY_BUCKET_REGION}), \
         secondary {DB_CLUSTER} ({REGION}: {DB_WRITER}, {DB_READER})"
    );
    Ok(())
}

async fn cache(config: &aws_config::SdkConfig) -> Result<(), AnyError> {
    let client = aws_sdk_elasticache::Client::new(config);
    let made = client
        .create_replication_group()
        .replication_group_id(CACHE)
        .replication_group_description("Mint Replica Lite sessions and rates")
        .engine("redis")
        .cache_node_type("cache.t3.micro")
        .num_node_groups(1)
        .replicas_per_node_group(2)
        .send()
        .await
        .or_action_error("CreateReplicationGroup");
    if created(made, &format!("replication group {CACHE}"))? {
        println!("  ElastiCache replication group {CACHE}: created (1 shard, 2 replicas)");
    }
    Ok(())
}

fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

async fn s3(east: &aws_config::SdkConfig, west: &aws_config::SdkConfig) -> Result<(), AnyError> {
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::{
        BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
        DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination,
        ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter, ReplicationRuleStatus,
        VersioningConfiguration,
    };
    let primary = s3_client(east);
    let dr = s3_client(west);
    let made = primary
        .create_bucket()
        .bucket(PRIMARY_BUCKET)
        .send()
        .await
        .or_action_error("CreateBucket");
    created(made, &format!("bucket {PRIMARY_BUCKET}"))?;
    let made = dr
        .create_bucket()
        .bucket(DR_BUCKET)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::UsWest2)
                .build(),
        )
        .send()
        .await
        .or_action_error("CreateBucket");
    created(made, &format!("bucket {DR_BUCKET}"))?;
    for (client, bucket) in [(&primary, PRIMARY_BUCKET), (&dr, DR_BUCKET)] {
        client
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .or_action_error("PutBucketVersioning")?;
    }
    primary
        .put_bucket_replication()
        .bucket(PRIMARY_BUCKET)
        .replication_configuration(
            ReplicationConfiguration::builder()
                .role(format!(
                    "arn:aws:iam::{ACCOUNT}:role/mint-replica-s3-replication"
                ))
                .rules(
                    ReplicationRule::builder()
                        .id("to-dr")
                        .priority(1)
                        .status(ReplicationRuleStatus::Enabled)
                        .filter(ReplicationRuleFilter::builder().prefix("").build())
                        .delete_marker_replication(
                            DeleteMarkerReplication::builder()
                                .status(DeleteMarkerReplicationStatus::Disabled)
                                .build(),
                        )
                        .destination(
                            Destination::builder()
                                .bucket(format!("arn:aws:s3:::{DR_BUCKET}"))
                                .build()?,
                        )
                        .build()?,
                )
                .build()?,
        )
        .send()
        .await
        .or_action_error("PutBucketReplication")?;
    public_read(&dr, DR_BUCKET).await?;
    for (key, body) in [
        ("index.html", "<h1>Mint Replica Lite</h1>"),
        ("error.html", "<h1>Mint Replica Lite is recovering</h1>"),
    ] {
        for (client, bucket) in [(&primary, PRIMARY_BUCKET), (&dr, DR_BUCKET)] {
            client
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type("text/html")
                .body(ByteStream::from_static(body.as_bytes()))
                .send()
                .await
                .or_action_error("PutObject")?;
        }
    }
    println!(
        "  S3: {PRIMARY_BUCKET} ({PRIMARY_BUCKET_REGION}) replicates to {DR_BUCKET} ({REGION}), both versioned; {DR_BUCKET} publicly readable"
    );
    Ok(())
}

/// What the DR bucket's website endpoint needs (`s3.configure_website` checks it): Block Public
/// Access off for the bucket (S3 turns it all on for a new bucket) and a policy granting
/// `s3:GetObject` on every object to everyone.
async fn public_read(client: &aws_sdk_s3::Client, bucket: &str) -> Result<(), AnyError> {
    use aws_sdk_s3::types::PublicAccessBlockConfiguration;
    client
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(false)
                .ignore_public_acls(false)
                .block_public_policy(false)
                .restrict_public_buckets(false)
                .build(),
        )
        .send()
        .await
        .or_action_error("PutPublicAccessBlock")?;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PublicReadGetObject",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/*"),
        }],
    });
    client
        .put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .or_action_error("PutBucketPolicy")?;
    Ok(())
}

/// The web distribution: (id, domain name).
async fn cloudfront(config: &aws_config::SdkConfig) -> Result<(String, String), AnyError> {
    use aws_sdk_cloudfront::types::{
        CustomOriginConfig, DefaultCacheBehavior, DistributionConfig, Origin, OriginProtocolPolicy,
        Origins, S3OriginConfig, ViewerProtocolPolicy,
    };
    let client = aws_sdk_cloudfront::Client::new(config);
    let list = client
        .list_distributions()
        .send()
        .await
        .or_action_error("ListDistributions")?;
    if let Some(d) = list
        .distribution_list()
        .map(|l| l.items())
        .unwrap_or_default()
        .iter()
        .find(|d| d.comment() == CDN_COMMENT)
    {
        println!("  CloudFront distribution {}: exists, reused", d.id());
        return Ok((d.id().to_owned(), d.domain_name().to_owned()));
    }
    let origin_id = "mint-replica-primary-s3";
    let s3_origin = |id: &str, bucket: &str| {
        Origin::builder()
            .id(id)
            .domain_name(format!("{bucket}.s3.amazonaws.com"))
            .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
            .build()
    };
    // The DR website: the bucket's website endpoint (index and error documents), a custom
    // origin, over HTTP only (website endpoints have no HTTPS; viewers keep CloudFront's).
    let dr_website = Origin::builder()
        .id("mint-replica-dr-s3")
        .domain_name(drkit::s3::website_endpoint(DR_BUCKET, REGION))
        .custom_origin_config(
            CustomOriginConfig::builder()
                .http_port(80)
                .https_port(443)
                .origin_protocol_policy(OriginProtocolPolicy::HttpOnly)
                .build()?,
        )
        .build()?;
    let made = client
        .create_distribution()
        .distribution_config(
            DistributionConfig::builder()
                .caller_reference(format!("mint-world-{}", std::process::id()))
                .comment(CDN_COMMENT)
                .enabled(true)
                .origins(
                    Origins::builder()
                        .quantity(2)
                        .items(s3_origin(origin_id, PRIMARY_BUCKET)?)
                        .items(dr_website)
                        .build()?,
                )
                .default_cache_behavior(
                    DefaultCacheBehavior::builder()
                        .target_origin_id(origin_id)
                        .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
                        .build()?,
                )
                .build()?,
        )
        .send()
        .await
        .or_action_error("CreateDistribution")?;
    let d = made
        .distribution()
        .ok_or("CreateDistribution answered no distribution")?;
    println!(
        "  CloudFront distribution {} ({}): created, origins mint-replica-primary-s3 (serving) \
         and mint-replica-dr-s3 (the DR bucket's website endpoint)",
        d.id(),
        d.domain_name()
    );
    Ok((d.id().to_owned(), d.domain_name().to_owned()))
}

async fn route53(config: &aws_config::SdkConfig, cdn_domain: &str) -> Result<(), AnyError> {
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
    };
    let client = aws_sdk_route53::Client::new(config);
    let zones = client
        .list_hosted_zones_by_name()
        .dns_name(ZONE)
        .send()
        .await
        .or_action_error("ListHostedZonesByName")?;
    if let Some(zone) = zones
        .hosted_zones()
        .iter()
        .find(|z| z.name().trim_end_matches('.') == ZONE)
    {
        println!("  Route 53 zone {ZONE} ({}): exists, reused", zone.id());
        return Ok(());
    }
    let made = client
        .create_hosted_zone()
        .name(ZONE)
        .caller_reference(format!("mint-world-{}", std::process::id()))
        .send()
        .await
        .or_action_error("CreateHostedZone")?;
    let zone_id = made
        .hosted_zone()
        .map(|z| z.id().to_owned())
        .ok_or("CreateHostedZone answered no zone")?;
    let record = |name: &str, value: &str| -> Result<Change, AnyError> {
        Ok(Change::builder()
            .action(ChangeAction::Create)
            .resource_record_set(
                ResourceRecordSet::builder()
                    .name(name)
                    .r#type(RrType::Cname)
                    .ttl(60)
                    .resource_records(ResourceRecord::builder().value(value).build()?)
                    .build()?,
            )
            .build()?)
    };
    client
        .change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(
            ChangeBatch::builder()
                .comment("production")
                .changes(record(
                    &format!("api.{ZONE}"),
                    &format!("api-prod.us-east-1.{ZONE}"),
                )?)
                .changes(record(&format!("www.{ZONE}"), cdn_domain)?)
                .build()?,
        )
        .send()
        .await
        .or_action_error("ChangeResourceRecordSets")?;
    println!("  Route 53 zone {ZONE} ({zone_id}): created, api. and www. point at production");
    Ok(())
}

/// The `transactions` table in the "promoted" database, with rows of the last minutes.
/// The DR role, with the stale inline policy the runbook replaces.
async fn iam(config: &aws_config::SdkConfig) -> Result<(), AnyError> {
    let client = aws_sdk_iam::Client::new(config);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let made = client
        .create_role()
        .role_name(DR_ROLE)
        .assume_role_policy_document(trust)
        .send()
        .await
        .or_action_error("CreateRole");
    if created(made, &format!("IAM role {DR_ROLE}"))? {
        println!("  IAM role {DR_ROLE}: created");
    }
    // Every run of the world starts from the stale policy, so the drill always has a change to
    // make (and a previous document to roll back to).
    let stale = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["rds:Describe*"],"Resource":"*"}]}"#;
    client
        .put_role_policy()
        .role_name(DR_ROLE)
        .policy_name(DR_POLICY)
        .policy_document(stale)
        .send()
        .await
        .or_action_error("PutRolePolicy")?;
    println!("  IAM role {DR_ROLE}: inline policy {DR_POLICY} is stale (rds:Describe* only)");
    Ok(())
}

/// The DR team's SNS topic in us-west-2 (CreateTopic is idempotent). Returns its ARN.
async fn sns(config: &aws_config::SdkConfig) -> Result<String, AnyError> {
    let client = aws_sdk_sns::Client::new(config);
    let topic = client
        .create_topic()
        .name("mint-dr-team")
        .send()
        .await
        .or_action_error("CreateTopic")?;
    let arn = topic.topic_arn().unwrap_or_default().to_owned();
    println!("  SNS topic {arn}: ready");
    Ok(arn)
}

/// The API's security group in the default VPC, without its HTTPS rule. Returns its id.
async fn security_group(config: &aws_config::SdkConfig) -> Result<String, AnyError> {
    use aws_sdk_ec2::types::Filter;
    let client = aws_sdk_ec2::Client::new(config);
    let vpcs = client
        .describe_vpcs()
        .filters(Filter::builder().name("is-default").values("true").build())
        .send()
        .await
        .or_action_error("DescribeVpcs")?;
    let vpc = vpcs
        .vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .ok_or("the emulator has no default VPC in us-west-2")?
        .to_owned();
    let existing = client
        .describe_security_groups()
        .filters(Filter::builder().name("group-name").values(API_SG).build())
        .filters(Filter::builder().name("vpc-id").values(&vpc).build())
        .send()
        .await
        .or_action_error("DescribeSecurityGroups")?;
    let id = match existing
        .security_groups()
        .first()
        .and_then(|g| g.group_id())
    {
        Some(id) => {
            println!("  security group {API_SG} ({id}): exists, reused");
            id.to_owned()
        }
        None => {
            let made = client
                .create_security_group()
                .group_name(API_SG)
                .description("Mint Replica API")
                .vpc_id(&vpc)
                .send()
                .await
                .or_action_error("CreateSecurityGroup")?;
            let id = made
                .group_id()
                .ok_or("CreateSecurityGroup answered without a group id")?
                .to_owned();
            println!("  security group {API_SG} ({id}): created in {vpc}, no HTTPS rule");
            id
        }
    };
    Ok(id)
}

async fn postgres() -> Result<(), AnyError> {
    let Ok(host) = std::env::var("MINT_PG_HOST") else {
        println!("  PostgreSQL: MINT_PG_HOST is not set, the transactions table is not seeded");
        return Ok(());
    };
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let mut config = tokio_postgres::Config::new();
    config
        .host(&host)
        .port(var("MINT_PG_PORT", "5432").parse()?)
        .dbname(var("MINT_PG_DBNAME", "postgres"))
        .user(var("MINT_PG_USER", "postgres"));
    if let Ok(password) = std::env::var("MINT_PG_PASSWORD") {
        config.password(password);
    }
    // Over TLS, verified against MINT_PG_SSLROOTCERT, when it is set (the drill's server, like
    // RDS, takes TLS connections only).
    let (client, driver) = match std::env::var("MINT_PG_SSLROOTCERT") {
        Ok(ca) => {
            use rustls::pki_types::pem::PemObject;
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls::pki_types::CertificateDer::pem_file_iter(&ca)? {
                roots.add(cert?)?;
            }
            let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let (client, connection) = config
                .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
                .await?;
            (client, tokio::spawn(connection))
        }
        Err(_) => {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
            (client, tokio::spawn(connection))
        }
    };
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS transactions (
                 id bigserial PRIMARY KEY,
                 account_id integer NOT NULL,
                 amount_cents bigint NOT NULL,
                 created_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await?;
    // The last hour of business, the newest row a second old: what a continuously
    // replicated database holds at the incident.
    client
        .execute(
            "INSERT INTO transactions (account_id, amount_cents, created_at)
             SELECT 1 + g % 97, (g * 37) % 100000, now() - g * interval '1 second'
             FROM generate_series(1, 3600, 3) AS g",
            &[],
        )
        .await?;
    client.execute("ANALYZE transactions", &[]).await?;
    let row = client
        .query_one(
            "SELECT count(*), max(created_at)::text FROM transactions",
            &[],
        )
        .await?;
    let (count, newest): (i64, String) = (row.get(0), row.get(1));
    println!("  PostgreSQL: transactions has {count} rows, newest {newest}");
    drop(client);
    let _ = driver.await;
    Ok(())
}

/// The transit key whose backup the runbook proves restorable.
async fn transit_key() -> Result<(), AnyError> {
    let (Ok(addr), Ok(token)) = (
        std::env::var("MINT_VAULT_TRANSIT_ADDR"),
        std::env::var("MINT_VAULT_TOKEN"),
    ) else {
        println!("  Vault: MINT_VAULT_TRANSIT_ADDR is not set, no transit key created");
        return Ok(());
    };
    let http = reqwest::Client::new();
    let body = serde_json::json!({ "exportable": true, "allow_plaintext_backup": true });
    for path in [
        format!("{addr}/v1/transit/keys/{TRANSIT_KEY}"),
        format!("{addr}/v1/transit/keys/{TRANSIT_KEY}/config"),
    ] {
        let answer = http
            .post(&path)
            .header("X-Vault-Token", &token)
            .json(&body)
            .send()
            .await?;
        if !answer.status().is_success() {
            return Err(format!("POST {path}: HTTP {}", answer.status()).into());
        }
    }
    println!("  Vault: transit key {TRANSIT_KEY} at {addr} (exportable, backup allowed)");
    Ok(())
}
