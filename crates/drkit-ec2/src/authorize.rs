//! `ec2.authorize_ingress`: the seed's "Security Group Recovery", idempotently.

use std::sync::Arc;

use async_trait::async_trait;
use drkit_core::Memo;
use drkit_core::registry::{OutputDoc, ParamError};
use drkit_core::{
    Act, ActionError, ActionKind, Base, Check, Context, ErrorKind, HasBase, Outputs, Params, Poll,
    PortFactory, Resource, StepSpec, wait_until,
};
use serde::Deserialize;
use serde_json::Value;

use crate::port::{Ec2Api, GroupRef, SecurityGroup};
use crate::rule::{IngressRule, RuleParam};

/// EC2's answer when a rule in the request already exists.
pub(crate) const DUPLICATE: &str = "InvalidPermission.Duplicate";
/// EC2's answer when a rule to revoke does not exist.
const NOT_THERE: &str = "InvalidPermission.NotFound";

/// The parameters of `ec2.authorize_ingress`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Params)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthorizeIngressParams {
    /// The security group id (`sg-...`) or name.
    pub group: String,
    /// The ingress rules the group must allow.
    #[param(
        ty = "list of {protocol, port | from_port + to_port, cidr | source_group, description?}"
    )]
    pub rules: Vec<RuleParam>,
}

impl AuthorizeIngressParams {
    /// Make `group` (id or name) allow `rules`.
    pub fn new(group: impl Into<String>, rules: Vec<RuleParam>) -> Self {
        Self {
            group: group.into(),
            rules,
        }
    }
}

/// The `group` parameter: an id (`sg-` and hex digits) or a name.
pub(crate) fn group_param(group: &str) -> Result<GroupRef, ParamError> {
    let g = group.trim();
    if g.is_empty() || g.len() > 255 || g != group {
        return Err(ParamError::new(
            "group",
            format!(
                "`{group}` is not a security group id or name (1 to 255 characters, no surrounding spaces)"
            ),
        ));
    }
    if g.starts_with("sg-") && !crate::rule::is_group_id(g) {
        return Err(ParamError::new(
            "group",
            format!("`{group}` is not a security group id (`sg-` and hex digits)"),
        ));
    }
    Ok(GroupRef::parse(g))
}

/// A list of rules parameter (`rules`, `expect_rules`): at least one, each valid, no two the
/// same.
pub(crate) fn rules_param(
    param: &str,
    rules: &[RuleParam],
) -> Result<Vec<IngressRule>, ParamError> {
    if rules.is_empty() {
        return Err(ParamError::new(param, "give at least one rule"));
    }
    let mut out: Vec<IngressRule> = Vec::new();
    for (i, p) in rules.iter().enumerate() {
        let rule = IngressRule::from_param(p).map_err(|(field, message)| {
            ParamError::new(format!("{param}[{i}].{field}"), message)
        })?;
        if let Some(j) = out.iter().position(|r| r.same_as(&rule)) {
            return Err(ParamError::new(
                format!("{param}[{i}]"),
                format!("the same rule as {param}[{j}] ({rule})"),
            ));
        }
        out.push(rule);
    }
    Ok(out)
}

/// The resource of a step on `group`.
pub(crate) fn group_resource(group: &GroupRef) -> Resource {
    Resource::new("ec2", "security-group", group.as_str())
}

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
#[derive(Debug, HasBase)]
pub struct AuthorizeIngress {
    base: Base<Self>,
    group: GroupRef,
    rules: Vec<IngressRule>,
    added: Memo<Added>,
}

impl ActionKind for AuthorizeIngress {
    const KIND: &'static str = "ec2.authorize_ingress";
    const SUMMARY: &'static str =
        "Add the missing ingress rules to a security group (existing ones are left alone)";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &[
        "ec2:DescribeSecurityGroups",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
    ];
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc::new("group_id", "the group's id"),
        OutputDoc::new("group_name", "the group's name"),
        OutputDoc::new(
            "added",
            "the rules this run added (rollback revokes exactly these)",
        ),
        OutputDoc::new("added_rule_ids", "their rule ids, when EC2 reports them"),
        OutputDoc::new(
            "already_present",
            "how many of the rules were already there",
        ),
    ];
    type Params = AuthorizeIngressParams;
    type Port = dyn Ec2Api;
    type Ports = PortFactory<dyn Ec2Api>;

    fn validate(p: &Self::Params) -> Result<(), ParamError> {
        group_param(&p.group)?;
        rules_param("rules", &p.rules).map(drop)
    }

    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError> {
        let group = group_param(&step.params.group)?;
        let rules = rules_param("rules", &step.params.rules)?;
        let target = group_resource(&group);
        Ok(Self {
            base: step.into_base(target, ports),
            group,
            rules,
            added: Memo::default(),
        })
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
    /// A step `id` that makes `group` (id or name) allow `rules` (already validated), talking
    /// to EC2 through `api`; `region` only labels the resource.
    pub fn new(
        id: impl Into<String>,
        group: GroupRef,
        rules: Vec<IngressRule>,
        api: Arc<dyn Ec2Api>,
        region: Option<&str>,
    ) -> Self {
        let params = AuthorizeIngressParams::new(
            group.as_str(),
            rules.iter().map(IngressRule::to_param).collect(),
        );
        let target = group_resource(&group).in_region(region);
        Self {
            base: Base::new(id, params, target, api),
            group,
            rules,
            added: Memo::default(),
        }
    }

    /// Adds to what this action remembers having added.
    fn remember(&self, group_id: &str, rules: &[IngressRule], ids: &[String]) {
        self.added.update(|added| {
            let added = added.get_or_insert_with(|| Added {
                group_id: group_id.to_owned(),
                ..Added::default()
            });
            added.rules.extend(rules.iter().cloned());
            added.rule_ids.extend(ids.iter().cloned());
        });
    }

    async fn describe(&self, ctx: &Context) -> Result<SecurityGroup, ActionError> {
        ctx.bounded(self.base.port.describe_security_group(&self.group))
            .await
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
            .bounded(self.base.port.authorize_ingress(&sg.id, missing))
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
            Err(e) => return Err(e),
        }
        for rule in missing {
            match ctx
                .bounded(
                    self.base
                        .port
                        .authorize_ingress(&sg.id, std::slice::from_ref(rule)),
                )
                .await
            {
                Ok(ids) => self.remember(&sg.id, std::slice::from_ref(rule), &ids),
                Err(e) if e.code() == Some(DUPLICATE) => {
                    ctx.progress(format!("{rule}: already there (added concurrently)"));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// What to roll back: what this action remembers, else its recorded outputs.
    fn to_undo(&self, ctx: &Context) -> Result<Option<Added>, ActionError> {
        if let Some(added) = self.added.get() {
            return Ok(Some(added));
        }
        let Some(out) = ctx.outputs_of(&self.base.id) else {
            return Ok(None);
        };
        let (Some(group_id), Some(added)) = (out.get_str("group_id"), out.get("added")) else {
            return Ok(None);
        };
        let params: Vec<RuleParam> = serde_json::from_value(added.clone()).map_err(|e| {
            ActionError::invalid_input(format!("the recorded output `added` is unreadable: {e}"))
        })?;
        let rules = params
            .iter()
            .map(IngressRule::from_param)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|(field, m)| {
                ActionError::invalid_input(format!("recorded rule, {field}: {m}"))
            })?;
        Ok(Some(Added {
            group_id: group_id.to_owned(),
            rules,
            rule_ids: Vec::new(),
        }))
    }
}

#[async_trait]
impl Act for AuthorizeIngress {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
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
                outputs: self.outputs(&sg, self.added.get().as_ref()),
            }
        } else {
            Check::ready(format!(
                "authorize on {}: {}",
                Self::name(&sg),
                list(&missing)
            ))
        })
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let sg = self.describe(ctx).await?;
        let missing: Vec<IngressRule> = sg.missing(&self.rules).into_iter().cloned().collect();
        if missing.is_empty() {
            ctx.progress(format!("{} already allows all rules", Self::name(&sg)));
            return Ok(self.outputs(&sg, self.added.get().as_ref()));
        }
        self.authorize(ctx, &sg, &missing).await?;
        let added = self.added.get();
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
        let sg = wait_until(ctx, &what, &self.base.wait, || async {
            let now = ctx
                .bounded(self.base.port.describe_security_group(&self.group))
                .await?;
            let missing = now.missing(&self.rules);
            Ok(if missing.is_empty() {
                Poll::Ready(now)
            } else {
                Poll::Pending(format!("missing {}", list(&missing)))
            })
        })
        .await?;
        Ok(self.outputs(&sg, added.as_ref()))
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let sg = self.describe(ctx).await?;
        let missing = sg.missing(&self.rules);
        if missing.is_empty() {
            Ok(format!(
                "{} allows all {} rules",
                Self::name(&sg),
                self.rules.len()
            ))
        } else {
            Err(ActionError::postcondition(format!(
                "{} lacks {}",
                Self::name(&sg),
                list(&missing)
            )))
        }
    }

    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let Some(added) = self.to_undo(ctx)?.filter(|a| !a.rules.is_empty()) else {
            ctx.progress("nothing to roll back: this action added no rule");
            return Ok(());
        };
        match ctx
            .bounded(self.base.port.revoke_ingress(&added.group_id, &added.rules))
            .await
        {
            Ok(()) => {}
            // One of them is gone already: revoke the others one by one.
            Err(e) if e.code() == Some(NOT_THERE) || e.kind() == ErrorKind::NotFound => {
                for rule in &added.rules {
                    match ctx
                        .bounded(
                            self.base
                                .port
                                .revoke_ingress(&added.group_id, std::slice::from_ref(rule)),
                        )
                        .await
                    {
                        Ok(()) => {}
                        Err(e) if e.code() == Some(NOT_THERE) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
        ctx.progress(format!(
            "revoked from {}: {}",
            added.group_id,
            list(&added.rules.iter().collect::<Vec<_>>())
        ));
        self.added.clear();
        Ok(())
    }

    fn can_undo(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[path = "authorize_tests.rs"]
mod tests;
