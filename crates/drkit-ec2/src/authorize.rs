//! `ec2.authorize_ingress`: the seed's "Security Group Recovery", idempotently.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use drkit_core::{
    ActionError, Check, Context, ErrorKind, Outputs, Poll, RecoveryAction, Resource, WaitPolicy,
    wait_until,
};
use serde_json::Value;

use crate::port::{Ec2Api, GroupRef, SecurityGroup};
use crate::rule::{IngressRule, RuleParam};
use drkit_core::action_identity as identity;

pub(crate) const KIND: &str = "ec2.authorize_ingress";
pub(crate) const IAM: &[&str] = &[
    "ec2:DescribeSecurityGroups",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupIngress",
];

/// EC2's answer when a rule in the request already exists.
pub(crate) const DUPLICATE: &str = "InvalidPermission.Duplicate";
/// EC2's answer when a rule to revoke does not exist.
const NOT_THERE: &str = "InvalidPermission.NotFound";

/// What this action added to which group (so rollback revokes only that).
#[derive(Clone, Debug, Default, PartialEq)]
struct Added {
    group_id: String,
    rules: Vec<IngressRule>,
    rule_ids: Vec<String>,
}

/// Adds ingress rules to a security group, idempotently: rules the group already has (compared
/// normalized: protocol, ports, source; not the description) are left alone, only the missing
/// ones are authorized, and a rule that appears between the read and the write (EC2's
/// `InvalidPermission.Duplicate`) counts as already there.
///
/// Outputs: `group_id`, `group_name`, `added` (the rules this run added, in parameter form),
/// `added_rule_ids` (when EC2 reports them), `already_present` (how many wanted rules were
/// there). Rollback revokes only the rules this run added.
pub struct AuthorizeIngress {
    id: String,
    group: GroupRef,
    rules: Vec<IngressRule>,
    target: Resource,
    api: Arc<dyn Ec2Api>,
    wait: WaitPolicy,
    added: Mutex<Option<Added>>,
}

impl fmt::Debug for AuthorizeIngress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeIngress")
            .field("id", &self.id)
            .field("group", &self.group)
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

/// `a; b; c`, for messages.
pub(crate) fn list(rules: &[&IngressRule]) -> String {
    rules
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl AuthorizeIngress {
    /// A step `id` that makes `group` (id or name) allow `rules` (validated by the registry).
    pub fn new(
        id: impl Into<String>,
        group: GroupRef,
        rules: Vec<IngressRule>,
        api: Arc<dyn Ec2Api>,
        region: Option<&str>,
    ) -> Self {
        Self {
            id: id.into(),
            target: Resource::new("ec2", "security-group", group.as_str()).in_region(region),
            group,
            rules,
            api,
            wait: WaitPolicy::default(),
            added: Mutex::new(None),
        }
    }

    /// Uses `policy` for the wait until EC2 shows the new rules.
    #[must_use]
    pub fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    fn added(&self) -> Option<Added> {
        self.added
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_added(&self, added: Option<Added>) {
        *self.added.lock().unwrap_or_else(PoisonError::into_inner) = added;
    }

    /// Adds to what this action remembers having added.
    fn remember(&self, group_id: &str, rules: &[IngressRule], ids: &[String]) {
        let mut guard = self.added.lock().unwrap_or_else(PoisonError::into_inner);
        let added = guard.get_or_insert_with(|| Added {
            group_id: group_id.to_owned(),
            ..Added::default()
        });
        added.rules.extend(rules.iter().cloned());
        added.rule_ids.extend(ids.iter().cloned());
    }

    async fn describe(&self, ctx: &Context) -> Result<SecurityGroup, ActionError> {
        ctx.bounded(self.api.describe_security_group(&self.group))
            .await
            .map_err(|e| e.in_action(self))
    }

    fn name(sg: &SecurityGroup) -> String {
        format!("security group {} ({})", sg.id, sg.name)
    }

    fn outputs(&self, sg: &SecurityGroup, added: Option<&Added>) -> Outputs {
        let (rules, ids) = added
            .filter(|a| a.group_id == sg.id)
            .map(|a| (a.rules.clone(), a.rule_ids.clone()))
            .unwrap_or_default();
        let params: Vec<Value> = rules
            .iter()
            .map(|r| serde_json::to_value(r.to_param()).unwrap_or(Value::Null))
            .collect();
        Outputs::new()
            .with("group_id", sg.id.clone())
            .with("group_name", sg.name.clone())
            .with(
                "already_present",
                self.rules.len().saturating_sub(rules.len()),
            )
            .with("added", params)
            .with("added_rule_ids", ids)
    }

    /// Authorizes `missing`; on the duplicate race (a rule appeared after the read, and EC2
    /// rejects the whole call), one by one, a duplicate counting as already there.
    async fn authorize(
        &self,
        ctx: &Context,
        sg: &SecurityGroup,
        missing: &[IngressRule],
    ) -> Result<(), ActionError> {
        match ctx
            .bounded(self.api.authorize_ingress(&sg.id, missing))
            .await
        {
            Ok(ids) => {
                self.remember(&sg.id, missing, &ids);
                return Ok(());
            }
            Err(e) if e.code() == Some(DUPLICATE) => {
                ctx.progress(format!(
                    "{}: a rule appeared since it was read ({DUPLICATE}); adding one at a time",
                    Self::name(sg)
                ));
            }
            Err(e) => return Err(e.in_action(self)),
        }
        for rule in missing {
            match ctx
                .bounded(
                    self.api
                        .authorize_ingress(&sg.id, std::slice::from_ref(rule)),
                )
                .await
            {
                Ok(ids) => self.remember(&sg.id, std::slice::from_ref(rule), &ids),
                Err(e) if e.code() == Some(DUPLICATE) => {
                    ctx.progress(format!("{rule}: already there (added concurrently)"));
                }
                Err(e) => return Err(e.in_action(self)),
            }
        }
        Ok(())
    }

    /// What to roll back: what this action remembers, else its recorded outputs.
    fn to_undo(&self, ctx: &Context) -> Result<Option<Added>, ActionError> {
        if let Some(added) = self.added() {
            return Ok(Some(added));
        }
        let Some(out) = ctx.outputs_of(&self.id) else {
            return Ok(None);
        };
        let (Some(group_id), Some(added)) = (out.get_str("group_id"), out.get("added")) else {
            return Ok(None);
        };
        let params: Vec<RuleParam> = serde_json::from_value(added.clone()).map_err(|e| {
            ActionError::invalid_input(format!("the recorded output `added` is unreadable: {e}"))
                .in_action(self)
        })?;
        let rules = params
            .iter()
            .map(IngressRule::from_param)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|(field, m)| {
                ActionError::invalid_input(format!("recorded rule, {field}: {m}")).in_action(self)
            })?;
        Ok(Some(Added {
            group_id: group_id.to_owned(),
            rules,
            rule_ids: Vec::new(),
        }))
    }
}

#[async_trait]
impl RecoveryAction for AuthorizeIngress {
    identity!(kind = KIND, mutates = true, iam = IAM);

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        let sg = match self.describe(ctx).await {
            Ok(sg) => sg,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Ok(Check::blocked(format!(
                    "security group {} does not exist",
                    self.group
                )));
            }
            Err(e) => return Err(e),
        };
        let missing = sg.missing(&self.rules);
        Ok(if missing.is_empty() {
            Check::Done {
                detail: format!(
                    "{} already allows all {} rules",
                    Self::name(&sg),
                    self.rules.len()
                ),
                outputs: self.outputs(&sg, self.added().as_ref()),
            }
        } else {
            Check::ready(format!(
                "authorize on {}: {}",
                Self::name(&sg),
                list(&missing)
            ))
        })
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        ctx.refuse_dry_run().map_err(|e| e.in_action(self))?;
        let sg = self.describe(ctx).await?;
        let missing: Vec<IngressRule> = sg.missing(&self.rules).into_iter().cloned().collect();
        if missing.is_empty() {
            ctx.progress(format!("{} already allows all rules", Self::name(&sg)));
            return Ok(self.outputs(&sg, self.added().as_ref()));
        }
        self.authorize(ctx, &sg, &missing).await?;
        let added = self.added();
        ctx.progress(format!(
            "{}: added {} rule(s), {} already there",
            Self::name(&sg),
            added.as_ref().map_or(0, |a| a.rules.len()),
            self.rules
                .len()
                .saturating_sub(added.as_ref().map_or(0, |a| a.rules.len()))
        ));
        // EC2 is eventually consistent: wait until a read shows every wanted rule.
        let what = format!("{} to show the new rules", Self::name(&sg));
        let sg = wait_until(ctx, &what, &self.wait, || async {
            let now = ctx
                .bounded(self.api.describe_security_group(&self.group))
                .await?;
            let missing = now.missing(&self.rules);
            Ok(if missing.is_empty() {
                Poll::Ready(now)
            } else {
                Poll::Pending(format!("missing {}", list(&missing)))
            })
        })
        .await
        .map_err(|e| e.in_action(self))?;
        Ok(self.outputs(&sg, added.as_ref()))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        let sg = self.describe(ctx).await?;
        let missing = sg.missing(&self.rules);
        if missing.is_empty() {
            Ok(format!(
                "{} allows all {} rules",
                Self::name(&sg),
                self.rules.len()
            ))
        } else {
            Err(
                ActionError::postcondition(format!("{} lacks {}", Self::name(&sg), list(&missing)))
                    .in_action(self),
            )
        }
    }

    async fn rollback(&self, ctx: &Context) -> Result<(), ActionError> {
        let Some(added) = self.to_undo(ctx)?.filter(|a| !a.rules.is_empty()) else {
            ctx.progress("nothing to roll back: this action added no rule");
            return Ok(());
        };
        match ctx
            .bounded(self.api.revoke_ingress(&added.group_id, &added.rules))
            .await
        {
            Ok(()) => {}
            // One of them is gone already: revoke the others one by one.
            Err(e) if e.code() == Some(NOT_THERE) || e.kind() == ErrorKind::NotFound => {
                for rule in &added.rules {
                    match ctx
                        .bounded(
                            self.api
                                .revoke_ingress(&added.group_id, std::slice::from_ref(rule)),
                        )
                        .await
                    {
                        Ok(()) => {}
                        Err(e) if e.code() == Some(NOT_THERE) => {}
                        Err(e) => return Err(e.in_action(self)),
                    }
                }
            }
            Err(e) => return Err(e.in_action(self)),
        }
        ctx.progress(format!(
            "revoked from {}: {}",
            added.group_id,
            list(&added.rules.iter().collect::<Vec<_>>())
        ));
        self.set_added(None);
        Ok(())
    }

    fn supports_rollback(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[path = "authorize_tests.rs"]
mod tests;
