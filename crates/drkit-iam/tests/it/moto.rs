//! The IAM actions against a real AWS API emulator (moto server), where the role's policies
//! really change. Needs `DRKIT_TEST_AWS_ENDPOINT` (scripts/test.sh starts moto and sets it);
//! under CI=true a missing emulator fails these tests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aws_sdk_iam::Client;
use drkit_aws::{Aws, AwsContext};
use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionError, ActionRef, Check, Context, ErrorKind, PortFactory};
use drkit_iam::{AttachedPolicy, IamApi, PolicyDocument, Role, SdkIam, decode_policy_document};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use drkit_testkit::{Moto, unique};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";

const OLD: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "rds:Describe*", "Resource": "*"}]}"#;

fn wanted() -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["rds:Describe*", "rds:FailoverDBCluster"], "Resource": "*"},
        {"Effect": "Allow", "Action": "ec2:*SecurityGroup*", "Resource": "*"}]})
}

async fn setup() -> Option<(Moto, Client, Registry)> {
    let moto = drkit_testkit::moto()?;
    let config = moto.sdk_config(REGION).await;
    let client = Client::new(&config);
    let mut registry = Registry::new();
    drkit_iam::register(&mut registry, AwsContext::from_sdk_config(config)).unwrap();
    Some((moto, client, registry))
}

async fn create_role(client: &Client) -> String {
    let role = unique("mint-replica-dr-role");
    client
        .create_role()
        .role_name(&role)
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    role
}

/// The inline policy as read with the SDK directly (decoded), or `None`.
async fn read_policy(client: &Client, role: &str, name: &str) -> Option<Value> {
    match client
        .get_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await
    {
        Ok(out) => Some(
            serde_json::from_str(&decode_policy_document(out.policy_document()).unwrap()).unwrap(),
        ),
        Err(e) => {
            assert_eq!(
                aws_sdk_iam::error::ProvideErrorMetadata::code(&e),
                Some("NoSuchEntity")
            );
            None
        }
    }
}

fn put(registry: &Registry, role: &str, name: &str, document: &Value) -> ActionRef {
    registry
        .build(&ActionSpec::new(
            "restore-dr-policy",
            "iam.put_role_policy",
            json!({"role": role, "policy_name": name, "document": document}),
        ))
        .unwrap()
}

fn same(a: &Value, b: &Value) -> bool {
    PolicyDocument::from_value(a.clone())
        .unwrap()
        .same_as_value(b)
}

/// moto, like real IAM, answers `GetRolePolicy` with the document URL-encoded (RFC 3986): the
/// adapter's one decoding place is what makes the comparison work.
#[tokio::test]
async fn moto_returns_the_policy_document_url_encoded_like_iam() {
    let Some((_moto, client, _)) = setup().await else {
        return;
    };
    let role = create_role(&client).await;
    client
        .put_role_policy()
        .role_name(&role)
        .policy_name("p")
        .policy_document(OLD)
        .send()
        .await
        .unwrap();
    let raw = client
        .get_role_policy()
        .role_name(&role)
        .policy_name("p")
        .send()
        .await
        .unwrap();
    assert!(
        raw.policy_document().starts_with("%7B"),
        "{}",
        raw.policy_document()
    );
    assert_eq!(decode_policy_document(raw.policy_document()).unwrap(), OLD);
}

#[tokio::test]
async fn replacing_a_policy_is_idempotent_and_rollback_restores_the_old_one() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let role = create_role(&client).await;
    client
        .put_role_policy()
        .role_name(&role)
        .policy_name("dr-access")
        .policy_document(OLD)
        .send()
        .await
        .unwrap();
    let action = put(&registry, &role, "dr-access", &wanted());
    let ctx = Context::new();
    assert!(matches!(
        action.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get("changed"), Some(&json!(true)));
    assert_eq!(out.get_str("previous_document"), Some(OLD));
    action.verify(&ctx).await.unwrap();
    assert!(same(
        &wanted(),
        &read_policy(&client, &role, "dr-access").await.unwrap()
    ));

    // A re-run (a fresh action, as after a restart) is done without writing.
    let again = put(&registry, &role, "dr-access", &wanted());
    let Check::Done { outputs, .. } = again.check(&ctx).await.unwrap() else {
        panic!("not done")
    };
    assert_eq!(outputs.get("changed"), Some(&json!(false)));

    action.rollback(&ctx).await.unwrap();
    let back = read_policy(&client, &role, "dr-access").await.unwrap();
    assert_eq!(back, serde_json::from_str::<Value>(OLD).unwrap());
}

#[tokio::test]
async fn a_new_policy_is_deleted_by_rollback() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let role = create_role(&client).await;
    let action = put(&registry, &role, "dr-access", &wanted());
    let ctx = Context::new();
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(out.get("had_previous"), Some(&json!(false)));
    assert!(read_policy(&client, &role, "dr-access").await.is_some());
    action.rollback(&ctx).await.unwrap();
    assert!(read_policy(&client, &role, "dr-access").await.is_none());
}

#[tokio::test]
async fn a_missing_role_is_blocked() {
    let Some((_moto, _client, registry)) = setup().await else {
        return;
    };
    let role = unique("no-such-role");
    let action = put(&registry, &role, "dr-access", &wanted());
    assert_eq!(
        action.check(&Context::new()).await.unwrap(),
        Check::blocked(format!("role {role} does not exist"))
    );
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
}

fn check_role(registry: &Registry, role: &str, actions: &[&str]) -> ActionRef {
    registry
        .build(&ActionSpec::new(
            "dr-role-permissions",
            "iam.check_role",
            json!({"role": role, "expect_actions": actions}),
        ))
        .unwrap()
}

#[tokio::test]
async fn check_role_reads_inline_and_managed_policies() {
    let Some((_moto, client, registry)) = setup().await else {
        return;
    };
    let role = create_role(&client).await;
    client
        .put_role_policy()
        .role_name(&role)
        .policy_name("dr-access")
        .policy_document(wanted().to_string())
        .send()
        .await
        .unwrap();
    let managed = client
        .create_policy()
        .policy_name(unique("mint-dr-s3"))
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["s3:Get*", "s3:ListBucket"], "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let arn = managed.policy().unwrap().arn().unwrap().to_owned();
    client
        .attach_role_policy()
        .role_name(&role)
        .policy_arn(&arn)
        .send()
        .await
        .unwrap();
    let ctx = Context::new();

    let ok = check_role(
        &registry,
        &role,
        &[
            "rds:FailoverDBCluster",
            "rds:DescribeDBClusters",
            "ec2:AuthorizeSecurityGroupIngress",
            "s3:GetObject",
        ],
    );
    let Check::Done { outputs, .. } = ok.check(&ctx).await.unwrap() else {
        panic!("not done")
    };
    assert_eq!(outputs.get("missing"), Some(&json!([])));
    let policies = outputs.get("policies").unwrap().as_array().unwrap();
    assert_eq!(policies.len(), 2, "{policies:?}");
    ok.verify(&ctx).await.unwrap();

    let short = check_role(
        &registry,
        &role,
        &[
            "rds:FailoverDBCluster",
            "rds:DeleteDBCluster",
            "s3:PutObject",
        ],
    );
    let Check::Blocked { reason } = short.check(&ctx).await.unwrap() else {
        panic!("not blocked")
    };
    assert!(
        reason.contains("is not allowed rds:DeleteDBCluster, s3:PutObject"),
        "{reason}"
    );
    let err = short.verify(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);

    let missing = check_role(&registry, &unique("no-such-role"), &["rds:*"]);
    assert!(matches!(
        missing.check(&ctx).await.unwrap(),
        Check::Blocked { .. }
    ));
}

/// The IAM port over moto, its mutating calls counted for the behaviour suite.
#[derive(Debug)]
struct Counted {
    inner: SdkIam,
    mutations: Arc<AtomicUsize>,
}

#[async_trait]
impl IamApi for Counted {
    async fn get_role(&self, role: &str) -> Result<Role, ActionError> {
        self.inner.get_role(role).await
    }

    async fn get_role_policy(&self, role: &str, policy_name: &str) -> Result<String, ActionError> {
        self.inner.get_role_policy(role, policy_name).await
    }

    async fn put_role_policy(
        &self,
        role: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner
            .put_role_policy(role, policy_name, document)
            .await
    }

    async fn delete_role_policy(&self, role: &str, policy_name: &str) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        self.inner.delete_role_policy(role, policy_name).await
    }

    async fn list_role_policies(&self, role: &str) -> Result<Vec<String>, ActionError> {
        self.inner.list_role_policies(role).await
    }

    async fn list_attached_role_policies(
        &self,
        role: &str,
    ) -> Result<Vec<AttachedPolicy>, ActionError> {
        self.inner.list_attached_role_policies(role).await
    }

    async fn get_managed_policy_document(&self, arn: &str) -> Result<String, ActionError> {
        self.inner.get_managed_policy_document(arn).await
    }
}

/// moto's roles of one test: their inline policies, described through the SDK.
struct MotoWorld {
    client: Client,
    roles: Vec<String>,
    mutations: Arc<AtomicUsize>,
}

#[async_trait]
impl World for MotoWorld {
    async fn state(&self) -> Value {
        let mut state = BTreeMap::new();
        for role in &self.roles {
            let names = self
                .client
                .list_role_policies()
                .role_name(role)
                .send()
                .await
                .unwrap();
            let mut policies = BTreeMap::new();
            for name in names.policy_names() {
                policies.insert(name.clone(), read_policy(&self.client, role, name).await);
            }
            state.insert(role.clone(), policies);
        }
        json!(state)
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

/// The behaviour suite for both IAM kinds on moto: replacing and creating an inline policy,
/// and checking a role's inline and managed policies.
#[tokio::test]
async fn the_behaviour_suite_on_moto() {
    let Some((moto, client, _)) = setup().await else {
        return;
    };
    let aws = Aws::from(AwsContext::from_sdk_config(moto.sdk_config(REGION).await));
    let mutations = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&mutations);
    let mut registry = Registry::new();
    drkit_iam::register_with(
        &mut registry,
        &PortFactory::new(move |region| {
            Arc::new(Counted {
                inner: SdkIam::lazy(&aws, region),
                mutations: Arc::clone(&counted),
            }) as Arc<dyn IamApi>
        }),
    )
    .unwrap();
    let with_old = create_role(&client).await;
    client
        .put_role_policy()
        .role_name(&with_old)
        .policy_name("dr-access")
        .policy_document(OLD)
        .send()
        .await
        .unwrap();
    let bare = create_role(&client).await;
    let world = MotoWorld {
        client: client.clone(),
        roles: vec![with_old.clone(), bare.clone()],
        mutations,
    };

    for role in [&with_old, &bare] {
        let case = Case::new(
            registry.clone(),
            "iam.put_role_policy",
            json!({"role": role, "policy_name": "dr-access", "document": wanted()}),
        )
        .refuses(
            json!({"role": role, "policy_name": "dr access", "document": wanted()}),
            "policy_name",
        )
        .refuses(
            json!({"role": role, "policy_name": "dr-access", "document": "{not json"}),
            "document",
        );
        mutating(&case, &world).await;
    }

    for (role, actions) in [
        (&with_old, json!(["rds:DescribeDBClusters"])),
        (&bare, json!([])),
    ] {
        let case = Case::new(
            registry.clone(),
            "iam.check_role",
            json!({"role": role, "expect_actions": actions}),
        )
        .refuses(json!({"role": ""}), "role");
        read_only(&case, &world).await;
    }
}

/// The permission simulation against moto (its `SimulatePrincipalPolicy` is drkit's fake in
/// scripts/lib/moto_server.py, evaluating with moto's own policy engine): the caller is an
/// assumed role with a path, found through STS and GetRole; allowed, explicitly and implicitly
/// denied actions come back as IAM names them; a caller IAM does not know is "not checked".
#[tokio::test]
async fn the_caller_s_permissions_are_simulated_for_its_role() {
    use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
    use drkit_iam::simulate::{SdkSimulator, simulate_caller};

    let Some((moto, client, _)) = setup().await else {
        return;
    };
    let role = unique("dr-operator");
    client
        .create_role()
        .role_name(&role)
        .path("/ops/")
        .assume_role_policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    client
        .put_role_policy()
        .role_name(&role)
        .policy_name("dr-operator")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["rds:Describe*", "rds:SwitchoverGlobalCluster"], "Resource": "*"},
                {"Effect": "Deny", "Action": "rds:DeleteDBCluster", "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let config = moto.sdk_config(REGION).await;
    let arn = format!("arn:aws:iam::123456789012:role/ops/{role}");
    let assumed = aws_sdk_sts::Client::new(&config)
        .assume_role()
        .role_arn(&arn)
        .role_session_name("drkit-check")
        .send()
        .await
        .unwrap();
    let c = assumed.credentials().unwrap();
    let as_role = config
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "assumed",
        )))
        .build();
    let simulator = SdkSimulator::lazy(&Aws::loaded(AwsContext::from_sdk_config(as_role)));
    let actions = [
        "rds:DescribeDBClusters",
        "rds:SwitchoverGlobalCluster",
        "rds:DeleteDBCluster",
        "rds:FailoverGlobalCluster",
    ]
    .map(String::from)
    .into_iter()
    .collect();
    let got = simulate_caller(&simulator, &actions).await.unwrap();
    assert_eq!(got.principal, arn, "the role's ARN with its path");
    assert!(got.caller.contains(":assumed-role/"), "{}", got.caller);
    assert_eq!(
        got.denied(),
        BTreeMap::from([
            ("rds:DeleteDBCluster".to_owned(), "explicitDeny".to_owned()),
            (
                "rds:FailoverGlobalCluster".to_owned(),
                "implicitDeny".to_owned()
            ),
        ])
    );

    // moto's default identity, `arn:aws:sts::123456789012:user/moto` (a shape AWS never
    // returns: an IAM user's caller ARN is `arn:aws:iam::...:user/...`): not checked, and why.
    let simulator = SdkSimulator::lazy(&Aws::loaded(AwsContext::from_sdk_config(config)));
    let e = simulate_caller(&simulator, &actions).await.unwrap_err();
    assert!(
        e.0.contains("arn:aws:sts::123456789012:user/moto")
            && e.0.contains("neither an IAM user nor an assumed role"),
        "{e}"
    );
}
