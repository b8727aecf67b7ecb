//! The EC2 security-group actions against a real AWS API emulator (moto server), where the
//! group's rules really change. Needs `DRKIT_TEST_AWS_ENDPOINT` (scripts/test.sh starts moto and
//! sets it); under CI=true a missing emulator fails these tests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{IpPermission, IpRange};
use drkit_aws::{Aws, AwsContext};
use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionError, ActionRef, Check, Context, ErrorKind, PortFactory};
use drkit_ec2::{Ec2Api, GroupRef, IngressRule, SdkEc2, SecurityGroup};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use drkit_testkit::{Moto, unique};
use serde_json::{Value, json};

const REGION: &str = "us-west-2";

async fn setup() -> Option<(Moto, Client, Registry)> {
    let moto = drkit_testkit::moto()?;
    let config = moto.sdk_config(REGION).await;
    let client = Client::new(&config);
    let mut registry = Registry::new();
    drkit_ec2::register(&mut registry, AwsContext::from_sdk_config(config)).unwrap();
    Some((moto, client, registry))
}

/// A group in the default VPC with the seed's rule (tcp 443 from 10.0.0.0/8) already there.
/// Returns (id, name).
async fn create_group(client: &Client) -> (String, String) {
    let name = unique("mint-replica-api");
    let vpc = client.describe_vpcs().send().await.unwrap().vpcs()[0]
        .vpc_id()
        .unwrap()
        .to_owned();
    let id = client
        .create_security_group()
        .group_name(&name)
        .description("Mint Replica API")
        .vpc_id(vpc)
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_owned();
    client
        .authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    (id, name)
}

/// The group's ingress rules as `(protocol, from, to, cidr)`, read with the SDK directly.
async fn rules_of(client: &Client, id: &str) -> Vec<(String, i32, i32, String)> {
    let out = client
        .describe_security_groups()
        .group_ids(id)
        .send()
        .await
        .unwrap();
    let mut rules = Vec::new();
    for p in out.security_groups()[0].ip_permissions() {
        for r in p.ip_ranges() {
            rules.push((
                p.ip_protocol().unwrap().to_owned(),
                p.from_port().unwrap_or(-1),
                p.to_port().unwrap_or(-1),
                r.cidr_ip().unwrap().to_owned(),
            ));
        }
    }
    rules.sort();
    rules
}

fn authorize(registry: &Registry, group: &str, rules: Value) -> ActionRef {
    registry
        .build(
            &ActionSpec::new(
                "api-sg-rules",
                "ec2.authorize_ingress",
                json!({"group": group, "rules": rules}),
            )
            .in_region(REGION),
        )
        .unwrap()
}

fn wanted() -> Value {
    json!([
        {"protocol": "tcp", "port": 443, "cidr": "10.0.0.0/8", "description": "API from the VPCs"},
        {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr": "172.16.0.0/12"}
    ])
}

#[tokio::test]
async fn only_missing_rules_are_added_a_rerun_is_done_and_rollback_keeps_the_old_rule() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let (id, _) = create_group(&client).await;
    let ctx = Context::new();
    let action = authorize(&registry, &id, wanted());
    let Check::Ready { change } = action.check(&ctx).await.unwrap() else {
        panic!("not ready")
    };
    assert!(change.ends_with("tcp 5432 from 172.16.0.0/12"), "{change}");
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get("already_present"), Some(&json!(1)));
    assert_eq!(
        out.get("added"),
        Some(
            &json!([{"protocol": "tcp", "from_port": 5432, "to_port": 5432, "cidr": "172.16.0.0/12"}])
        )
    );
    // moto reports the new rule's id, as AWS does.
    assert_eq!(
        out.get("added_rule_ids").unwrap().as_array().unwrap().len(),
        1
    );
    action.verify(&ctx).await.unwrap();
    assert_eq!(
        rules_of(&client, &id).await,
        [
            ("tcp".to_owned(), 443, 443, "10.0.0.0/8".to_owned()),
            ("tcp".to_owned(), 5432, 5432, "172.16.0.0/12".to_owned()),
        ]
    );

    // A re-run with a fresh action: done at check, and executing anyway raises no duplicate.
    let again = authorize(&registry, &id, wanted());
    assert!(again.check(&ctx).await.unwrap().is_done());
    let out2 = again.execute(&ctx).await.unwrap();
    assert_eq!(out2.get("added"), Some(&json!([])));

    // Rollback revokes only what the first run added: the pre-existing 443 rule stays.
    action.rollback(&ctx).await.unwrap();
    assert_eq!(
        rules_of(&client, &id).await,
        [("tcp".to_owned(), 443, 443, "10.0.0.0/8".to_owned())]
    );
    // The re-run added nothing, so its rollback changes nothing.
    again.rollback(&ctx).await.unwrap();
    assert_eq!(rules_of(&client, &id).await.len(), 1);
}

#[tokio::test]
async fn a_group_can_be_named_and_a_missing_group_is_blocked() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let (id, name) = create_group(&client).await;
    let ctx = Context::new();
    let action = authorize(
        &registry,
        &name,
        json!([{"protocol": "udp", "port": 53, "cidr": "10.0.0.0/8"}]),
    );
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get_str("group_id"), Some(id.as_str()));
    assert_eq!(rules_of(&client, &id).await.len(), 2);

    let missing = authorize(&registry, "sg-0000000000abcdef0", wanted());
    assert_eq!(
        missing.check(&ctx).await.unwrap(),
        Check::blocked("security group sg-0000000000abcdef0 does not exist")
    );
    let err = missing.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.code(), Some("InvalidGroup.NotFound"));
    assert!(err.to_string().contains("DescribeSecurityGroups"), "{err}");
}

fn check_sg(registry: &Registry, group: &str, rules: Value) -> ActionRef {
    registry
        .build(
            &ActionSpec::new(
                "api-sg-validated",
                "ec2.check_security_group",
                json!({"group": group, "expect_rules": rules}),
            )
            .in_region(REGION),
        )
        .unwrap()
}

#[tokio::test]
async fn check_security_group_passes_and_fails() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let (id, name) = create_group(&client).await;
    let ctx = Context::new();
    let ok = check_sg(
        &registry,
        &id,
        json!([{"protocol": "6", "port": 443, "cidr": "10.0.0.0/8"}]),
    );
    let Check::Done { outputs, .. } = ok.check(&ctx).await.unwrap() else {
        panic!("not done")
    };
    assert_eq!(outputs.get_str("group_name"), Some(name.as_str()));
    ok.verify(&ctx).await.unwrap();

    let short = check_sg(&registry, &name, wanted());
    let Check::Blocked { reason } = short.check(&ctx).await.unwrap() else {
        panic!("not blocked")
    };
    assert!(
        reason.ends_with("lacks 1 of the expected rules: tcp 5432 from 172.16.0.0/12"),
        "{reason}"
    );
    assert_eq!(
        short.verify(&ctx).await.unwrap_err().kind(),
        ErrorKind::PostconditionFailed
    );
    let gone = check_sg(&registry, &unique("no-such-group"), wanted());
    assert!(matches!(
        gone.check(&ctx).await.unwrap(),
        Check::Blocked { .. }
    ));
}

/// The EC2 port over moto, its mutating calls counted for the behaviour suite.
#[derive(Debug)]
struct Counted {
    inner: SdkEc2,
    mutations: Arc<AtomicUsize>,
}

#[async_trait]
impl Ec2Api for Counted {
    async fn describe_security_group(
        &self,
        group: &GroupRef,
    ) -> Result<SecurityGroup, ActionError> {
        self.inner.describe_security_group(group).await
    }

    async fn authorize_ingress(
        &self,
        group_id: &str,
        rules: &[IngressRule],
    ) -> Result<Vec<String>, ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner.authorize_ingress(group_id, rules).await
    }

    async fn revoke_ingress(
        &self,
        group_id: &str,
        rules: &[IngressRule],
    ) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner.revoke_ingress(group_id, rules).await
    }
}

/// moto's security groups of one test: their ingress rules, described through the SDK.
struct MotoWorld {
    client: Client,
    groups: Vec<String>,
    mutations: Arc<AtomicUsize>,
}

#[async_trait]
impl World for MotoWorld {
    async fn state(&self) -> Value {
        let mut state = BTreeMap::new();
        for id in &self.groups {
            state.insert(id.clone(), rules_of(&self.client, id).await);
        }
        json!(state)
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

/// The behaviour suite for both EC2 kinds on moto, the group named by id and by name.
#[tokio::test]
async fn the_behaviour_suite_on_moto() {
    let Some((moto, client, _)) = setup().await else {
        return;
    };
    let aws = Aws::from(AwsContext::from_sdk_config(moto.sdk_config(REGION).await));
    let mutations = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&mutations);
    let mut registry = Registry::new();
    drkit_ec2::register_with(
        &mut registry,
        &PortFactory::new(move |region| {
            Arc::new(Counted {
                inner: SdkEc2::lazy(&aws, region),
                mutations: Arc::clone(&counted),
            }) as Arc<dyn Ec2Api>
        }),
    )
    .unwrap();
    let (id, name) = create_group(&client).await;
    let world = MotoWorld {
        client: client.clone(),
        groups: vec![id.clone()],
        mutations,
    };

    for group in [&id, &name] {
        let case = Case::new(
            registry.clone(),
            "ec2.authorize_ingress",
            json!({"group": group, "rules": wanted()}),
        )
        .in_region(REGION)
        .refuses(json!({"group": group, "rules": []}), "rules")
        .refuses(
            json!({"group": group, "rules": [{"protocol": "tcp", "port": 443, "cidr": "10.0.0.0/33"}]}),
            "rules[0].cidr",
        );
        mutating(&case, &world).await;

        let case = Case::new(
            registry.clone(),
            "ec2.check_security_group",
            json!({"group": group, "expect_rules": [{"protocol": "tcp", "port": 443, "cidr": "10.0.0.0/8"}]}),
        )
        .in_region(REGION)
        .refuses(json!({"group": "sg-xyz", "expect_rules": wanted()}), "group");
        read_only(&case, &world).await;
    }
}
