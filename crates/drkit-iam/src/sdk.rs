//! The adapter: [`IamApi`] over `aws-sdk-iam`.

use async_trait::async_trait;
use aws_sdk_iam::Client;
use drkit_aws::SdkResultExt;
use drkit_core::{ActionError, ErrorKind};

use crate::port::{AttachedPolicy, IamApi, Role};

/// [`IamApi`] over an `aws-sdk-iam` client.
#[derive(Clone, Debug)]
pub struct SdkIam {
    client: Client,
}

impl SdkIam {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A client for `config` (see `drkit_aws::AwsContext::for_region`).
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }

    /// The wrapped client.
    pub fn client(&self) -> &Client {
        &self.client
    }
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
            .client
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
            .client
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
        self.client
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
        self.client
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
                .client
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
                .client
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
            .client
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
            .client
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
mod tests {
    use super::*;

    /// Real IAM (and moto) answer `GetRolePolicy` with the document URL-encoded (RFC 3986);
    /// plain JSON is kept as it is. Both give the same text.
    #[test]
    fn iam_url_encoded_documents_are_decoded_and_plain_ones_kept() {
        let plain = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds:Describe*","Resource":"*"}]}"#;
        // As real IAM returns it (captured shape: every reserved character escaped).
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22rds%3ADescribe%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
        assert_eq!(decode_policy_document(encoded).unwrap(), plain);
        assert_eq!(decode_policy_document(plain).unwrap(), plain);
        // Pretty-printed documents keep their layout; `+` is not a space in RFC 3986.
        let spaced = "%7B%0A%20%20%22Sid%22%3A%20%22a+b%22%0A%7D";
        assert_eq!(
            decode_policy_document(spaced).unwrap(),
            "{\n  \"Sid\": \"a+b\"\n}"
        );
        // Non-ASCII (UTF-8) characters survive.
        assert_eq!(
            decode_policy_document("%7B%22Sid%22%3A%22caf%C3%A9%22%7D").unwrap(),
            r#"{"Sid":"café"}"#
        );
        let e = decode_policy_document("%7B%2").unwrap_err();
        assert!(e.message().contains("bad escape"), "{e}");
    }
}
