//! The behaviour suite (`drkit_testkit::behaviour`) for every IAM kind, against an in-memory
//! IAM: a fake of the port that keeps roles, their inline policies and attached managed
//! policies, and counts the mutating calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, PortFactory};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use serde_json::{Value, json};

use crate::port::{AttachedPolicy, IamApi, Role};
use crate::register_with;

const ACCOUNT: &str = "123456789012";

/// One role: its ARN, inline policies (name -> JSON text) and attached managed policies.
#[derive(Debug, Default)]
struct FakeRole {
    arn: String,
    inline: BTreeMap<String, String>,
    attached: Vec<AttachedPolicy>,
}

/// An in-memory IAM.
#[derive(Debug, Default)]
struct FakeIam {
    roles: Mutex<BTreeMap<String, FakeRole>>,
    managed: Mutex<BTreeMap<String, String>>,
    mutations: AtomicUsize,
}

fn no_such_entity(what: &str) -> ActionError {
    ActionError::new(ErrorKind::NotFound, format!("{what} cannot be found"))
        .with_code("NoSuchEntity")
}

impl FakeIam {
    /// Role `mint-dr` with an inline policy `dr-read` (rds:Describe*) and the managed policy
    /// `mint-dr-s3` (s3:Get*) attached; role `mint-bare` without policies.
    fn mint() -> Arc<Self> {
        let fake = Self::default();
        {
            let mut roles = fake.roles.lock().unwrap();
            for name in ["mint-dr", "mint-bare"] {
                roles.insert(
                    name.into(),
                    FakeRole {
                        arn: format!("arn:aws:iam::{ACCOUNT}:role/{name}"),
                        ..FakeRole::default()
                    },
                );
            }
            let managed = format!("arn:aws:iam::{ACCOUNT}:policy/mint-dr-s3");
            let dr = roles.get_mut("mint-dr").unwrap();
            dr.inline.insert(
                "dr-read".into(),
                json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "rds:Describe*", "Resource": "*"}]})
                .to_string(),
            );
            dr.attached
                .push(AttachedPolicy::new("mint-dr-s3", managed.clone()));
            fake.managed.lock().unwrap().insert(
                managed,
                json!({"Version": "2012-10-17", "Statement":
                    {"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}})
                .to_string(),
            );
        }
        Arc::new(fake)
    }

    fn mutated(&self) {
        self.mutations.fetch_add(1, Ordering::SeqCst);
    }

    fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::new();
        let iam: Arc<dyn IamApi> = Arc::clone(self) as _;
        register_with(&mut registry, &PortFactory::fixed(iam)).unwrap();
        registry
    }
}

#[async_trait]
impl World for FakeIam {
    async fn state(&self) -> Value {
        let roles = self.roles.lock().unwrap();
        json!(
            roles
                .iter()
                .map(|(name, r)| (name.clone(), &r.inline))
                .collect::<BTreeMap<_, _>>()
        )
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl IamApi for FakeIam {
    async fn get_role(&self, role: &str) -> Result<Role, ActionError> {
        let roles = self.roles.lock().unwrap();
        let r = roles.get(role).ok_or_else(|| no_such_entity(role))?;
        Ok(Role::new(role, r.arn.clone()))
    }

    async fn get_role_policy(&self, role: &str, policy_name: &str) -> Result<String, ActionError> {
        let roles = self.roles.lock().unwrap();
        let r = roles.get(role).ok_or_else(|| no_such_entity(role))?;
        r.inline
            .get(policy_name)
            .cloned()
            .ok_or_else(|| no_such_entity(policy_name))
    }

    async fn put_role_policy(
        &self,
        role: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<(), ActionError> {
        self.mutated();
        let mut roles = self.roles.lock().unwrap();
        let r = roles.get_mut(role).ok_or_else(|| no_such_entity(role))?;
        r.inline.insert(policy_name.into(), document.into());
        Ok(())
    }

    async fn delete_role_policy(&self, role: &str, policy_name: &str) -> Result<(), ActionError> {
        self.mutated();
        let mut roles = self.roles.lock().unwrap();
        let r = roles.get_mut(role).ok_or_else(|| no_such_entity(role))?;
        r.inline
            .remove(policy_name)
            .map(drop)
            .ok_or_else(|| no_such_entity(policy_name))
    }

    async fn list_role_policies(&self, role: &str) -> Result<Vec<String>, ActionError> {
        let roles = self.roles.lock().unwrap();
        let r = roles.get(role).ok_or_else(|| no_such_entity(role))?;
        Ok(r.inline.keys().cloned().collect())
    }

    async fn list_attached_role_policies(
        &self,
        role: &str,
    ) -> Result<Vec<AttachedPolicy>, ActionError> {
        let roles = self.roles.lock().unwrap();
        let r = roles.get(role).ok_or_else(|| no_such_entity(role))?;
        Ok(r.attached.clone())
    }

    async fn get_managed_policy_document(&self, arn: &str) -> Result<String, ActionError> {
        self.managed
            .lock()
            .unwrap()
            .get(arn)
            .cloned()
            .ok_or_else(|| no_such_entity(arn))
    }
}

fn wanted() -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["rds:Describe*", "rds:FailoverDBCluster"], "Resource": "*"}]})
}

#[tokio::test]
async fn put_role_policy() {
    // Replacing an existing policy (as a table or as JSON text), and creating a new one.
    for params in [
        json!({"role": "mint-dr", "policy_name": "dr-read", "document": wanted()}),
        json!({"role": "mint-dr", "policy_name": "dr-read", "document": wanted().to_string()}),
        json!({"role": "mint-bare", "policy_name": "dr-access", "document": wanted()}),
    ] {
        let iam = FakeIam::mint();
        let case = Case::new(iam.registry(), "iam.put_role_policy", params)
            .refuses(
                json!({"role": "bad role", "policy_name": "p", "document": wanted()}),
                "role",
            )
            .refuses(
                json!({"role": "mint-dr", "policy_name": "", "document": wanted()}),
                "policy_name",
            )
            .refuses(
                json!({"role": "mint-dr", "policy_name": "p", "document": {"Statement": []}}),
                "document",
            );
        mutating(&case, iam.as_ref()).await;
    }
}

#[tokio::test]
async fn check_role() {
    let iam = FakeIam::mint();
    let registry = iam.registry();
    for params in [
        json!({"role": "mint-dr", "expect_actions": ["rds:DescribeDBClusters", "s3:GetObject"]}),
        json!({"role": "mint-bare"}),
    ] {
        let case = Case::new(registry.clone(), "iam.check_role", params)
            .refuses(json!({"role": "a/b"}), "role")
            .refuses(
                json!({"role": "mint-dr", "expect_actions": ["rds:*", "FailoverDBCluster"]}),
                "expect_actions[1]",
            );
        read_only(&case, iam.as_ref()).await;
    }
}
