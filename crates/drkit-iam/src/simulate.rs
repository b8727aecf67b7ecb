//! May the caller run the plan? The plan's least-privilege actions (what `drkit iam-policy`
//! prints) simulated for the caller's own identity with IAM's policy simulator
//! (`SimulatePrincipalPolicy`), the readiness check's permissions part.
//!
//! 1. `sts:GetCallerIdentity` names the caller. An assumed role
//!    (`arn:aws:sts::<account>:assumed-role/<name>/<session>`) is simulated as its role, whose
//!    ARN (with its path, which the assumed-role ARN leaves out) comes from `iam:GetRole`; an
//!    IAM user as itself. The account's root user and federated users cannot be simulated.
//! 2. `iam:SimulatePrincipalPolicy` evaluates every action against the principal's identity
//!    policies, group policies and permissions boundary, for every resource (`*`), following
//!    `Marker` while `IsTruncated`.
//!
//! When the caller may not call the simulator (`AccessDenied`), or IAM cannot be reached, the
//! answer is [`NotSimulated`] with the reason: readiness then says the permissions were not
//! checked, never that they hold. What this does not see: service control policies,
//! resource policies (a bucket's, a KMS key's), session policies and conditions, which only a
//! real call proves; the simulation runs against `*`, not the plan's resource ARNs.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_iam::types::PolicyEvaluationDecisionType;
use drkit_aws::{Aws, LazyClient, SdkResultExt};
use drkit_core::{ActionError, ErrorKind};

/// How many action names one `SimulatePrincipalPolicy` request carries.
pub const ACTIONS_PER_REQUEST: usize = 100;

/// The operations the permission simulation needs (mockable with `MockPolicySimulator`).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PolicySimulator: std::fmt::Debug + Send + Sync {
    /// `sts:GetCallerIdentity`: the caller's ARN.
    async fn caller_arn(&self) -> Result<String, ActionError>;
    /// `iam:GetRole`: the role's ARN (with its path).
    async fn role_arn(&self, role: &str) -> Result<String, ActionError>;
    /// `iam:SimulatePrincipalPolicy` of `actions` for `principal`, every page: each action's
    /// decision (`allowed`, `explicitDeny`, `implicitDeny`).
    async fn simulate(
        &self,
        principal: &str,
        actions: &[String],
    ) -> Result<Vec<(String, String)>, ActionError>;
}

/// A simulation that ran: who, and what each action was decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Simulated {
    /// The principal simulated (a role or user ARN).
    pub principal: String,
    /// The caller as STS named it (an assumed-role ARN for a role); the principal itself when
    /// it was given ([`simulate_for`]).
    pub caller: String,
    /// Every action's decision.
    pub decisions: BTreeMap<String, String>,
}

impl Simulated {
    /// The actions not allowed, with their decision (`explicitDeny`, `implicitDeny`).
    pub fn denied(&self) -> BTreeMap<String, String> {
        self.decisions
            .iter()
            .filter(|(_, d)| d.as_str() != "allowed")
            .map(|(a, d)| (a.clone(), d.clone()))
            .collect()
    }
}

/// Why no simulation ran (the permissions are then not known, not granted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotSimulated(pub String);

impl std::fmt::Display for NotSimulated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The principal to simulate for `caller` (an STS caller ARN), or why there is none.
/// `Ok((principal, Some(role)))` for an assumed role, whose ARN with its path is still to be
/// read with `GetRole`.
fn principal_of(caller: &str) -> Result<(String, Option<String>), NotSimulated> {
    // arn:<partition>:<service>::<account>:<resource>
    let parts: Vec<&str> = caller.splitn(6, ':').collect();
    let [_, partition, service, _, account, resource] = parts.as_slice() else {
        return Err(NotSimulated(format!(
            "the caller `{caller}` is not an ARN STS would return"
        )));
    };
    match (*service, resource.split_once('/')) {
        ("sts", Some(("assumed-role", rest))) => {
            let role = rest.split('/').next().unwrap_or_default();
            Ok((
                format!("arn:{partition}:iam::{account}:role/{role}"),
                Some(role.to_owned()),
            ))
        }
        ("iam", Some(("user", _))) => Ok((caller.to_owned(), None)),
        ("iam", None) if *resource == "root" => Err(NotSimulated(format!(
            "the caller is the account's root user ({caller}): the simulator cannot evaluate it \
             (root may do everything, and should not be a recovery's identity)"
        ))),
        _ => Err(NotSimulated(format!(
            "the caller `{caller}` is neither an IAM user nor an assumed role: the simulator \
             cannot evaluate it"
        ))),
    }
}

/// Why a failed call leaves the permissions unchecked, naming the call and, for access
/// denied, the permission that would let the check run.
fn unchecked(call: &str, permission: &str, e: &ActionError) -> NotSimulated {
    let code = e.code().map(|c| format!(" ({c})")).unwrap_or_default();
    if e.kind() == ErrorKind::AccessDenied {
        NotSimulated(format!(
            "the caller may not call {call}{code}: allow `{permission}` to have the plan's \
             permissions checked"
        ))
    } else {
        NotSimulated(format!("{call} failed{code}: {}", e.message()))
    }
}

/// Simulates `actions` for the caller of `api`. Nothing is changed: every call is a read.
pub async fn simulate_caller(
    api: &dyn PolicySimulator,
    actions: &BTreeSet<String>,
) -> Result<Simulated, NotSimulated> {
    let caller = api
        .caller_arn()
        .await
        .map_err(|e| unchecked("sts:GetCallerIdentity", "sts:GetCallerIdentity", &e))?;
    let (mut principal, role) = principal_of(&caller)?;
    if let Some(role) = role {
        // The assumed-role ARN has no path; GetRole has the role's real ARN. Without
        // iam:GetRole the path-less ARN is the best guess (right for a role without a path).
        if let Ok(arn) = api.role_arn(&role).await {
            principal = arn;
        }
    }
    let mut simulated = simulate_for(api, &principal, actions).await?;
    simulated.caller = caller;
    Ok(simulated)
}

/// Whether `arn` names an IAM role or user, the principals the simulator evaluates
/// (`arn:<partition>:iam::<account>:role/...` or `.../user/...`).
pub fn is_principal_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if partition.starts_with("aws")
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && (resource.starts_with("role/") || resource.starts_with("user/"))
            && resource.len() > 5)
}

/// Simulates `actions` for `principal` (a role or user ARN: e.g. the role the run will use,
/// when the check itself runs with a read-only identity). Nothing is changed.
pub async fn simulate_for(
    api: &dyn PolicySimulator,
    principal: &str,
    actions: &BTreeSet<String>,
) -> Result<Simulated, NotSimulated> {
    let principal = principal.to_owned();
    let names: Vec<String> = actions.iter().cloned().collect();
    let mut decisions = BTreeMap::new();
    for chunk in names.chunks(ACTIONS_PER_REQUEST) {
        let answered = api.simulate(&principal, chunk).await.map_err(|e| {
            unchecked(
                &format!("iam:SimulatePrincipalPolicy for {principal}"),
                "iam:SimulatePrincipalPolicy",
                &e,
            )
        })?;
        for (action, decision) in answered {
            // An action evaluated for several resources is allowed only if allowed for all.
            let entry = decisions.entry(action).or_insert_with(|| decision.clone());
            if decision != "allowed" {
                *entry = decision;
            }
        }
    }
    for action in &names {
        if !decisions.contains_key(action) {
            return Err(NotSimulated(format!(
                "iam:SimulatePrincipalPolicy for {principal} gave no decision for {action}"
            )));
        }
    }
    Ok(Simulated {
        caller: principal.clone(),
        principal,
        decisions,
    })
}

/// [`PolicySimulator`] over `aws-sdk-sts` and `aws-sdk-iam` clients made on first use.
#[derive(Debug)]
pub struct SdkSimulator {
    sts: LazyClient<aws_sdk_sts::Client>,
    iam: LazyClient<aws_sdk_iam::Client>,
}

impl SdkSimulator {
    /// Clients from `aws`, built on the first call (IAM and STS are global; the configured
    /// Region picks the endpoints).
    pub fn lazy(aws: &Aws) -> Self {
        Self {
            sts: LazyClient::new(aws, None, aws_sdk_sts::Client::new),
            iam: LazyClient::new(aws, None, aws_sdk_iam::Client::new),
        }
    }
}

#[async_trait]
impl PolicySimulator for SdkSimulator {
    async fn caller_arn(&self) -> Result<String, ActionError> {
        let out = self
            .sts
            .get()
            .await
            .get_caller_identity()
            .send()
            .await
            .or_action_error("GetCallerIdentity")?;
        out.arn.ok_or_else(|| {
            ActionError::new(ErrorKind::Other, "STS named no caller ARN")
                .with_operation("GetCallerIdentity")
        })
    }

    async fn role_arn(&self, role: &str) -> Result<String, ActionError> {
        let out = self
            .iam
            .get()
            .await
            .get_role()
            .role_name(role)
            .send()
            .await
            .or_action_error("GetRole")?;
        out.role().map(|r| r.arn().to_owned()).ok_or_else(|| {
            ActionError::new(ErrorKind::NotFound, format!("role {role} not found"))
                .with_operation("GetRole")
        })
    }

    async fn simulate(
        &self,
        principal: &str,
        actions: &[String],
    ) -> Result<Vec<(String, String)>, ActionError> {
        let client = self.iam.get().await;
        let mut results = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = client
                .simulate_principal_policy()
                .policy_source_arn(principal)
                .set_action_names(Some(actions.to_vec()))
                .set_marker(marker.take())
                .send()
                .await
                .or_action_error("SimulatePrincipalPolicy")?;
            for r in out.evaluation_results() {
                results.push((r.eval_action_name().to_owned(), decision(r.eval_decision())));
            }
            match out.marker {
                Some(next) if out.is_truncated => marker = Some(next),
                _ => break,
            }
        }
        Ok(results)
    }
}

/// IAM's decision as the API names it.
fn decision(d: &PolicyEvaluationDecisionType) -> String {
    match d {
        PolicyEvaluationDecisionType::Allowed => "allowed".to_owned(),
        PolicyEvaluationDecisionType::ExplicitDeny => "explicitDeny".to_owned(),
        PolicyEvaluationDecisionType::ImplicitDeny => "implicitDeny".to_owned(),
        other => other.as_str().to_owned(),
    }
}

#[cfg(test)]
#[path = "simulate_tests.rs"]
mod tests;
