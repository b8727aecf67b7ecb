//! The adapter: [`IamApi`] over `aws-sdk-iam`.

use async_trait::async_trait;
use aws_sdk_iam::Client;
use drkit_aws::SdkResultExt;
use drkit_core::{ActionError, ErrorKind};

use crate::port::{AttachedPolicy, IamApi, Role};

drkit_aws::sdk_adapter! {
    /// [`IamApi`] over an `aws-sdk-iam` client.
    pub struct SdkIam(Client);
}

/// The one place IAM's policy-document quirk is handled: `GetRolePolicy`, `GetPolicyVersion`
/// (and `GetRole`'s trust policy) return the JSON document URL-encoded (RFC 3986, e.g.
/// `%7B%22Version%22...`); moto server does the same (checked in `tests/it`). A JSON document
/// always starts with `{` (possibly after white space) while its encoded form starts with
/// `%7B`, so plain JSON (another emulator, a proxy that decoded it) is returned as it is and
/// anything else is percent-decoded.
pub fn decode_policy_document(raw: &str) -> Result<String, ActionError> {
    if raw.trim_start().starts_with('{') {
        return Ok(raw.to_owned());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        ActionError::new(
                            ErrorKind::Other,
                            format!(
                                "IAM returned a policy document that is neither JSON nor \
                                 URL-encoded JSON (bad escape at byte {i})"
                            ),
                        )
                    })?;
                out.push(hex);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|e| {
        ActionError::new(
            ErrorKind::Other,
            "IAM returned a URL-encoded policy document that is not UTF-8",
        )
        .with_source(e)
    })
}

#[async_trait]
impl IamApi for SdkIam {
    async fn get_role(&self, role: &str) -> Result<Role, ActionError> {
        let out = self
            .client()
            .await
            .get_role()
            .role_name(role)
            .send()
            .await
            .or_action_error("GetRole")?;
        let r = out.role().ok_or_else(|| {
            ActionError::new(ErrorKind::NotFound, format!("role {role} not found"))
                .with_operation("GetRole")
        })?;
        Ok(Role::new(r.role_name(), r.arn()))
    }

    async fn get_role_policy(&self, role: &str, policy_name: &str) -> Result<String, ActionError> {
        let out = self
            .client()
            .await
            .get_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .send()
            .await
            .or_action_error("GetRolePolicy")?;
        decode_policy_document(out.policy_document()).map_err(|e| e.with_operation("GetRolePolicy"))
    }

    async fn put_role_policy(
        &self,
        role: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<(), ActionError> {
        self.client()
            .await
            .put_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .policy_document(document)
            .send()
            .await
            .or_action_error("PutRolePolicy")?;
        Ok(())
    }

    async fn delete_role_policy(&self, role: &str, policy_name: &str) -> Result<(), ActionError> {
        self.client()
            .await
            .delete_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .send()
            .await
            .or_action_error("DeleteRolePolicy")?;
        Ok(())
    }

    async fn list_role_policies(&self, role: &str) -> Result<Vec<String>, ActionError> {
        let mut names = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client()
                .await
                .list_role_policies()
                .role_name(role)
                .set_marker(marker.take())
                .send()
                .await
                .or_action_error("ListRolePolicies")?;
            names.extend(out.policy_names().iter().cloned());
            match out.marker() {
                Some(next) if out.is_truncated() => marker = Some(next.to_owned()),
                _ => return Ok(names),
            }
        }
    }

    async fn list_attached_role_policies(
        &self,
        role: &str,
    ) -> Result<Vec<AttachedPolicy>, ActionError> {
        let mut policies = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client()
                .await
                .list_attached_role_policies()
                .role_name(role)
                .set_marker(marker.take())
                .send()
                .await
                .or_action_error("ListAttachedRolePolicies")?;
            policies.extend(out.attached_policies().iter().map(|p| {
                AttachedPolicy::new(
                    p.policy_name().unwrap_or_default(),
                    p.policy_arn().unwrap_or_default(),
                )
            }));
            match out.marker() {
                Some(next) if out.is_truncated() => marker = Some(next.to_owned()),
                _ => return Ok(policies),
            }
        }
    }

    async fn get_managed_policy_document(&self, arn: &str) -> Result<String, ActionError> {
        let policy = self
            .client()
            .await
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .or_action_error("GetPolicy")?;
        let version = policy
            .policy()
            .and_then(|p| p.default_version_id())
            .ok_or_else(|| {
                ActionError::new(
                    ErrorKind::NotFound,
                    format!("managed policy {arn} has no default version"),
                )
                .with_operation("GetPolicy")
            })?;
        let out = self
            .client()
            .await
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
            .or_action_error("GetPolicyVersion")?;
        let document = out
            .policy_version()
            .and_then(|v| v.document())
            .ok_or_else(|| {
                ActionError::new(
                    ErrorKind::NotFound,
                    format!("managed policy {arn} version {version} has no document"),
                )
                .with_operation("GetPolicyVersion")
            })?;
        decode_policy_document(document).map_err(|e| e.with_operation("GetPolicyVersion"))
    }
}

#[cfg(test)]
#[path = "sdk_tests.rs"]
mod tests;
