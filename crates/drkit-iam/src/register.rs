//! Registration of the IAM actions in a [`Registry`].

use std::sync::Arc;

use drkit_aws::AwsContext;
use drkit_core::ActionRef;
use drkit_core::registry::{
    ActionDescriptor, ActionSpec, BuildError, DuplicateKind, OutputDoc, ParamDoc, Registry,
    decode_params,
};
use serde::Deserialize;
use serde_json::Value;

use crate::check_role::{self, CheckRole};
use crate::policy::PolicyDocument;
use crate::port::IamApi;
use crate::put_policy::{self, PutRolePolicy};
use crate::sdk::SdkIam;

const fn out(name: &'static str, doc: &'static str) -> OutputDoc {
    OutputDoc { name, doc }
}

/// `iam.put_role_policy`.
pub const PUT_ROLE_POLICY: ActionDescriptor = ActionDescriptor {
    kind: put_policy::KIND,
    summary: "Create or replace an IAM role's inline policy (validated first; done when the same)",
    mutates: true,
    iam_actions: put_policy::IAM,
    params: &[
        ParamDoc::required("role", "string", "the IAM role name"),
        ParamDoc::required("policy_name", "string", "the inline policy's name"),
        ParamDoc::required(
            "document",
            "JSON text, table, or \"file:<path>\"",
            "the policy document; validated before any call",
        ),
    ],
    outputs: &[
        out("role", "the role"),
        out("policy_name", "the inline policy"),
        out("changed", "whether this run wrote the policy"),
        out(
            "had_previous",
            "whether the role had this inline policy before",
        ),
        out(
            "previous_document",
            "the document found before (JSON text), or null; rollback restores it",
        ),
    ],
};

/// `iam.check_role`.
pub const CHECK_ROLE: ActionDescriptor = ActionDescriptor {
    kind: check_role::KIND,
    summary: "Check that an IAM role exists and its policies allow the given actions",
    mutates: false,
    iam_actions: check_role::IAM,
    params: &[
        ParamDoc::required("role", "string", "the IAM role name"),
        ParamDoc::optional(
            "expect_actions",
            "list of strings",
            "IAM actions that must be allowed (e.g. \"rds:FailoverDBCluster\"); simple wildcard \
             matching, not a full IAM evaluation",
        ),
    ],
    outputs: &[
        out("role", "the role name"),
        out("role_arn", "its ARN"),
        out(
            "policies",
            "the policies read (`inline:<name>`, `managed:<name>`)",
        ),
        out("allowed", "the expected actions that are allowed"),
        out("missing", "the expected actions that are not"),
    ],
};

/// Every IAM action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[PUT_ROLE_POLICY, CHECK_ROLE];

/// Builds the IAM port for a step's region (IAM is global; the region only picks the endpoint
/// the SDK signs for).
pub type IamApiFactory = Arc<dyn Fn(Option<&str>) -> Arc<dyn IamApi> + Send + Sync>;

/// The IAM port over the AWS SDK, configured by `aws`.
pub fn aws_factory(aws: &AwsContext) -> IamApiFactory {
    let aws = aws.clone();
    Arc::new(move |region| {
        Arc::new(SdkIam::from_config(&aws.for_region(region))) as Arc<dyn IamApi>
    })
}

/// Registers every IAM action, talking to AWS as configured in `aws`.
pub fn register(registry: &mut Registry, aws: &AwsContext) -> Result<(), DuplicateKind> {
    register_with(registry, &aws_factory(aws))
}

/// Registers every IAM action with the given port factory (e.g. mocks in the embedder's tests).
pub fn register_with(registry: &mut Registry, iam: &IamApiFactory) -> Result<(), DuplicateKind> {
    with_iam(registry, PUT_ROLE_POLICY, iam, |spec, p: PutParams, api| {
        validate_name(spec, "role", &p.role, 64)?;
        validate_name(spec, "policy_name", &p.policy_name, 128)?;
        let document = PolicyDocument::from_param(&p.document).map_err(|e| {
            BuildError::invalid(spec, Some("document"), format!("invalid IAM policy: {e}"))
        })?;
        Ok(Arc::new(PutRolePolicy::new(
            spec.id.clone(),
            p.role,
            p.policy_name,
            document,
            api,
        )))
    })?;
    with_iam(registry, CHECK_ROLE, iam, |spec, p: CheckParams, api| {
        validate_name(spec, "role", &p.role, 64)?;
        for (i, action) in p.expect_actions.iter().enumerate() {
            validate_action(spec, i, action)?;
        }
        Ok(Arc::new(CheckRole::new(
            spec.id.clone(),
            p.role,
            p.expect_actions,
            api,
        )))
    })
}

/// Validates decoded parameters and builds the action with the port.
type Build<P> = fn(&ActionSpec, P, Arc<dyn IamApi>) -> Result<ActionRef, BuildError>;

/// Registers `descriptor`: decode the parameters as `P`, then validate them and build the
/// action (before any call) with the IAM port.
fn with_iam<P: serde::de::DeserializeOwned + 'static>(
    registry: &mut Registry,
    descriptor: ActionDescriptor,
    iam: &IamApiFactory,
    build: Build<P>,
) -> Result<(), DuplicateKind> {
    let iam = Arc::clone(iam);
    registry.register_fn(descriptor, move |spec| {
        let params: P = decode_params(spec)?;
        build(spec, params, iam(spec.region.as_deref()))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutParams {
    role: String,
    policy_name: String,
    document: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckParams {
    role: String,
    #[serde(default)]
    expect_actions: Vec<String>,
}

/// IAM role and policy names: 1 to `max` characters among letters, digits and `+=,.@_-`.
fn validate_name(
    spec: &ActionSpec,
    param: &str,
    value: &str,
    max: usize,
) -> Result<(), BuildError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    if value.is_empty() || value.len() > max || !value.chars().all(ok_char) {
        return Err(BuildError::invalid(
            spec,
            Some(param),
            format!("`{value}` is not a valid IAM name: 1 to {max} letters, digits or `+=,.@_-`"),
        ));
    }
    Ok(())
}

/// `service:Action`, with `*`/`?` wildcards allowed in the action part.
fn validate_action(spec: &ActionSpec, i: usize, action: &str) -> Result<(), BuildError> {
    let valid = action.split_once(':').is_some_and(|(service, name)| {
        !service.is_empty()
            && service
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
    });
    if valid || action == "*" {
        Ok(())
    } else {
        Err(BuildError::invalid(
            spec,
            Some(&format!("expect_actions[{i}]")),
            format!(
                "`{action}` is not an IAM action (`service:Action`, e.g. `rds:FailoverDBCluster`)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::port::MockIamApi;

    /// A registry whose port fails the test on any call: building must call nothing.
    fn registry() -> Registry {
        let mut registry = Registry::new();
        register_with(
            &mut registry,
            &(Arc::new(|_: Option<&str>| Arc::new(MockIamApi::new()) as Arc<dyn IamApi>)
                as IamApiFactory),
        )
        .unwrap();
        registry
    }

    fn build(kind: &str, params: Value) -> Result<ActionRef, BuildError> {
        registry().build(&ActionSpec::new("restore-iam", kind, params))
    }

    const POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "rds:*", "Resource": "*"}]}"#;

    #[test]
    fn the_document_is_accepted_as_text_table_or_file() {
        let a = build(
            "iam.put_role_policy",
            json!({"role": "mint-replica-dr-role", "policy_name": "dr", "document": POLICY}),
        )
        .unwrap();
        assert_eq!(a.kind(), "iam.put_role_policy");
        assert_eq!(a.target().to_string(), "iam:role/mint-replica-dr-role");
        assert!(a.mutates() && a.supports_rollback());
        let table: Value = serde_json::from_str(POLICY).unwrap();
        build(
            "iam.put_role_policy",
            json!({"role": "r", "policy_name": "dr", "document": table}),
        )
        .unwrap();
        let dir = std::env::temp_dir().join(drkit_testkit::unique("drkit-iam"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("dr-role-policy.json");
        std::fs::write(&file, POLICY).unwrap();
        build(
            "iam.put_role_policy",
            json!({"role": "r", "policy_name": "dr", "document": format!("file:{}", file.display())}),
        )
        .unwrap();
        std::fs::write(&file, "{\"Version\": \"2012-10-17\",\n \"Statement\": [}").unwrap();
        let err = build(
            "iam.put_role_policy",
            json!({"role": "r", "policy_name": "dr", "document": format!("file:{}", file.display())}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("parameter `document`: invalid IAM policy: file "),
            "{err}"
        );
        assert!(err.contains("line 2, column 16: not valid JSON"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Malformed policies are refused at build time: the mocked port (no expectations) would
    /// panic on any call, so nothing reaches IAM.
    #[test]
    fn malformed_policies_and_names_are_refused_before_any_call() {
        let cases = [
            (
                json!({"role": "r", "policy_name": "p", "document": "{not json"}),
                "parameter `document`: invalid IAM policy: line 1, column 2: not valid JSON",
            ),
            (
                json!({"role": "r", "policy_name": "p", "document":
                    {"Version": "2012-10-17", "Statement": [{"Effect": "Permit", "Action": "s3:*", "Resource": "*"}]}}),
                "Statement[0].Effect: must be \"Allow\" or \"Deny\", found \"Permit\"",
            ),
            (
                json!({"role": "r", "policy_name": "p", "document":
                    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}}),
                "Statement[0].Action: missing",
            ),
            (
                json!({"role": "r", "policy_name": "p", "document": {"Statement": []}}),
                "Version: missing",
            ),
            (
                json!({"role": "r", "policy_name": "p", "document": "file:/nonexistent/drkit.json"}),
                "file /nonexistent/drkit.json: cannot be read",
            ),
            (
                json!({"role": "r", "policy_name": "p", "document": 3}),
                "must be a JSON policy (text or table) or `file:<path>`",
            ),
            (
                json!({"role": "bad role", "policy_name": "p", "document": POLICY}),
                "parameter `role`: `bad role` is not a valid IAM name",
            ),
            (
                json!({"role": "r", "policy": "p", "document": POLICY}),
                "unknown field `policy`",
            ),
        ];
        for (params, expected) in cases {
            let err = build("iam.put_role_policy", params)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err} lacks {expected}");
            assert!(
                err.starts_with("step `restore-iam` (iam.put_role_policy): "),
                "{err}"
            );
        }
    }

    #[test]
    fn check_role_parameters_are_checked() {
        let a = build(
            "iam.check_role",
            json!({"role": "mint-replica-dr-role", "expect_actions": ["rds:Describe*", "ec2:AuthorizeSecurityGroupIngress"]}),
        )
        .unwrap();
        assert!(!a.mutates());
        build("iam.check_role", json!({"role": "r"})).unwrap();
        let err = build(
            "iam.check_role",
            json!({"role": "r", "expect_actions": ["rds:Describe*", "FailoverDBCluster"]}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("parameter `expect_actions[1]`: `FailoverDBCluster` is not an IAM action"),
            "{err}"
        );
    }

    #[test]
    fn descriptors_match_the_actions() {
        let reg = registry();
        for d in DESCRIPTORS {
            assert_eq!(reg.descriptor(d.kind), Some(d));
        }
        assert_eq!(reg.descriptors().count(), DESCRIPTORS.len());
    }
}

#[cfg(test)]
mod docs_tests {
    use super::DESCRIPTORS;

    /// docs/actions/iam.md names every registered kind, each of its parameters and outputs.
    #[test]
    fn the_actions_page_documents_every_action() {
        drkit_core::registry::documented(
            "docs/actions/iam.md",
            include_str!("../../../docs/actions/iam.md"),
            DESCRIPTORS,
        )
        .unwrap();
    }
}
