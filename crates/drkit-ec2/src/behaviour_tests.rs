//! The behaviour suite (`drkit_testkit::behaviour`) for every EC2 kind, against an in-memory
//! EC2: a fake of the port that keeps security groups and their ingress rules, answers as EC2
//! does (`InvalidPermission.Duplicate`, `InvalidPermission.NotFound`), and counts the
//! mutating calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, PortFactory};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use serde_json::{Value, json};

use crate::port::{Ec2Api, GroupRef, SecurityGroup};
use crate::register_with;
use crate::rule::IngressRule;

/// An in-memory EC2 (security groups only).
#[derive(Debug, Default)]
struct FakeEc2 {
    groups: Mutex<BTreeMap<String, SecurityGroup>>,
    rule_ids: AtomicUsize,
    mutations: AtomicUsize,
}

fn not_found(group: &str) -> ActionError {
    ActionError::new(
        ErrorKind::NotFound,
        format!("The security group '{group}' does not exist"),
    )
    .with_code("InvalidGroup.NotFound")
}

impl FakeEc2 {
    /// Group `sg-0a1b2c3d` named `mint-replica-api` (VPC `vpc-1`) allowing tcp 443 from
    /// 10.0.0.0/8.
    fn mint() -> Arc<Self> {
        let fake = Self::default();
        let mut sg = SecurityGroup::new(
            "sg-0a1b2c3d",
            "mint-replica-api",
            vec![IngressRule::tcp(443, "10.0.0.0/8")],
        );
        sg.vpc_id = Some("vpc-1".into());
        fake.groups.lock().unwrap().insert(sg.id.clone(), sg);
        Arc::new(fake)
    }

    fn mutated(&self) {
        self.mutations.fetch_add(1, Ordering::SeqCst);
    }

    fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::new();
        let ec2: Arc<dyn Ec2Api> = Arc::clone(self) as _;
        register_with(&mut registry, &PortFactory::fixed(ec2)).unwrap();
        registry
    }
}

#[async_trait]
impl World for FakeEc2 {
    async fn state(&self) -> Value {
        let groups = self.groups.lock().unwrap();
        json!(
            groups
                .values()
                .map(|g| {
                    let mut rules: Vec<String> =
                        g.ingress.iter().map(ToString::to_string).collect();
                    rules.sort();
                    (g.id.clone(), rules)
                })
                .collect::<BTreeMap<_, _>>()
        )
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Ec2Api for FakeEc2 {
    async fn describe_security_group(
        &self,
        group: &GroupRef,
    ) -> Result<SecurityGroup, ActionError> {
        let groups = self.groups.lock().unwrap();
        match group {
            GroupRef::Id(id) => groups.get(id),
            GroupRef::Name(name) => groups.values().find(|g| g.name == *name),
        }
        .cloned()
        .ok_or_else(|| not_found(group.as_str()))
    }

    async fn authorize_ingress(
        &self,
        group_id: &str,
        rules: &[IngressRule],
    ) -> Result<Vec<String>, ActionError> {
        self.mutated();
        let mut groups = self.groups.lock().unwrap();
        let sg = groups
            .get_mut(group_id)
            .ok_or_else(|| not_found(group_id))?;
        if let Some(dup) = rules
            .iter()
            .find(|r| sg.ingress.iter().any(|have| have.same_as(r)))
        {
            return Err(ActionError::new(
                ErrorKind::InvalidInput,
                format!("the specified rule \"{dup}\" already exists"),
            )
            .with_code("InvalidPermission.Duplicate"));
        }
        sg.ingress.extend(rules.iter().cloned());
        Ok(rules
            .iter()
            .map(|_| format!("sgr-{}", self.rule_ids.fetch_add(1, Ordering::SeqCst)))
            .collect())
    }

    async fn revoke_ingress(
        &self,
        group_id: &str,
        rules: &[IngressRule],
    ) -> Result<(), ActionError> {
        self.mutated();
        let mut groups = self.groups.lock().unwrap();
        let sg = groups
            .get_mut(group_id)
            .ok_or_else(|| not_found(group_id))?;
        if let Some(gone) = rules
            .iter()
            .find(|r| !sg.ingress.iter().any(|have| have.same_as(r)))
        {
            return Err(ActionError::new(
                ErrorKind::NotFound,
                format!("the specified rule \"{gone}\" does not exist"),
            )
            .with_code("InvalidPermission.NotFound"));
        }
        sg.ingress
            .retain(|have| !rules.iter().any(|r| r.same_as(have)));
        Ok(())
    }
}

fn wanted() -> Value {
    json!([
        {"protocol": "tcp", "port": 443, "cidr": "10.0.0.0/8", "description": "API from the VPCs"},
        {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "source_group": "sg-0eeeeeee"},
        {"protocol": "icmp", "from_port": 8, "to_port": 0, "cidr": "2001:db8::/32"}
    ])
}

#[tokio::test]
async fn authorize_ingress() {
    for group in ["sg-0a1b2c3d", "mint-replica-api"] {
        let ec2 = FakeEc2::mint();
        let case = Case::new(
            ec2.registry(),
            "ec2.authorize_ingress",
            json!({"group": group, "rules": wanted()}),
        )
        .in_region("us-west-2")
        .refuses(json!({"group": "sg-xyz", "rules": wanted()}), "group")
        .refuses(json!({"group": group, "rules": []}), "rules")
        .refuses(
            json!({"group": group, "rules": [{"protocol": "tcp", "cidr": "10.0.0.0/8"}]}),
            "rules[0].port",
        );
        mutating(&case, ec2.as_ref()).await;
    }
}

#[tokio::test]
async fn check_security_group() {
    let ec2 = FakeEc2::mint();
    let registry = ec2.registry();
    for group in ["sg-0a1b2c3d", "mint-replica-api"] {
        let case = Case::new(
            registry.clone(),
            "ec2.check_security_group",
            json!({"group": group, "expect_rules": [{"protocol": "6", "port": 443, "cidr": "10.0.0.0/8"}]}),
        )
        .refuses(json!({"group": " g", "expect_rules": wanted()}), "group")
        .refuses(
            json!({"group": group, "expect_rules": [
                {"protocol": "tcp", "port": 443, "cidr": "10.0.0.0/8"},
                {"protocol": "TCP", "from_port": 443, "to_port": 443, "cidr": "10.0.0.0/8"}]}),
            "expect_rules[1]",
        );
        read_only(&case, ec2.as_ref()).await;
    }
}
