//! The adapter: [`Ec2Api`] over `aws-sdk-ec2`.

use async_trait::async_trait;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, Ipv6Range, UserIdGroupPair};
use drkit_aws::SdkResultExt;
use drkit_core::{ActionError, ErrorKind};

use crate::port::{Ec2Api, GroupRef, SecurityGroup};
use crate::rule::{IngressRule, Source};

drkit_aws::sdk_adapter! {
    /// [`Ec2Api`] over an `aws-sdk-ec2` client.
    pub struct SdkEc2(Client);
}

/// One SDK permission -> one rule per source (CIDR, IPv6 CIDR, group). Prefix lists are not
/// compared by drkit and are skipped.
pub(crate) fn rules_from_permission(p: &IpPermission) -> Vec<IngressRule> {
    let protocol = p.ip_protocol().unwrap_or("-1");
    let (from, to) = (p.from_port(), p.to_port());
    let mut rules = Vec::new();
    for r in p.ip_ranges() {
        if let Some(cidr) = r.cidr_ip() {
            rules.push(IngressRule::described(
                protocol,
                from,
                to,
                Source::Ipv4(cidr.to_owned()),
                r.description().map(str::to_owned),
            ));
        }
    }
    for r in p.ipv6_ranges() {
        if let Some(cidr) = r.cidr_ipv6() {
            rules.push(IngressRule::described(
                protocol,
                from,
                to,
                Source::Ipv6(cidr.to_owned()),
                r.description().map(str::to_owned),
            ));
        }
    }
    for g in p.user_id_group_pairs() {
        if let Some(id) = g.group_id() {
            rules.push(IngressRule::described(
                protocol,
                from,
                to,
                Source::Group(id.to_owned()),
                g.description().map(str::to_owned),
            ));
        }
    }
    rules
}

/// One rule -> one SDK permission.
pub(crate) fn permission(rule: &IngressRule) -> IpPermission {
    let mut p = IpPermission::builder().ip_protocol(&rule.protocol);
    if rule.protocol != "-1" {
        p = p.from_port(rule.from_port).to_port(rule.to_port);
    }
    let description = rule.description.clone();
    match &rule.source {
        Source::Ipv4(cidr) => p.ip_ranges(
            IpRange::builder()
                .cidr_ip(cidr)
                .set_description(description)
                .build(),
        ),
        Source::Ipv6(cidr) => p.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(cidr)
                .set_description(description)
                .build(),
        ),
        Source::Group(id) => p.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(id)
                .set_description(description)
                .build(),
        ),
    }
    .build()
}

fn group_from_sdk(g: &aws_sdk_ec2::types::SecurityGroup) -> SecurityGroup {
    let mut group = SecurityGroup::new(
        g.group_id().unwrap_or_default(),
        g.group_name().unwrap_or_default(),
        g.ip_permissions()
            .iter()
            .flat_map(rules_from_permission)
            .collect(),
    );
    group.vpc_id = g.vpc_id().map(str::to_owned);
    group
}

#[async_trait]
impl Ec2Api for SdkEc2 {
    async fn describe_security_group(
        &self,
        group: &GroupRef,
    ) -> Result<SecurityGroup, ActionError> {
        const OP: &str = "DescribeSecurityGroups";
        let request = self.client().await.describe_security_groups();
        let request = match group {
            GroupRef::Id(id) => request.group_ids(id),
            GroupRef::Name(name) => {
                request.filters(Filter::builder().name("group-name").values(name).build())
            }
        };
        let out = request.send().await.or_action_error(OP)?;
        match out.security_groups() {
            [one] => Ok(group_from_sdk(one)),
            [] => Err(ActionError::new(
                ErrorKind::NotFound,
                format!("security group {group} not found"),
            )
            .with_operation(OP)
            .with_code("InvalidGroup.NotFound")),
            many => Err(ActionError::invalid_input(format!(
                "security group name {group} is ambiguous: {} groups have it ({}); give the \
                 group id",
                many.len(),
                many.iter()
                    .map(|g| format!(
                        "{} in {}",
                        g.group_id().unwrap_or("?"),
                        g.vpc_id().unwrap_or("no VPC")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .with_operation(OP)),
        }
    }

    async fn authorize_ingress(
        &self,
        group_id: &str,
        rules: &[IngressRule],
    ) -> Result<Vec<String>, ActionError> {
        let out = self
            .client()
            .await
            .authorize_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(rules.iter().map(permission).collect()))
            .send()
            .await
            .or_action_error("AuthorizeSecurityGroupIngress")?;
        Ok(out
            .security_group_rules()
            .iter()
            .filter_map(|r| r.security_group_rule_id().map(str::to_owned))
            .collect())
    }

    async fn revoke_ingress(
        &self,
        group_id: &str,
        rules: &[IngressRule],
    ) -> Result<(), ActionError> {
        self.client()
            .await
            .revoke_security_group_ingress()
            .group_id(group_id)
            .set_ip_permissions(Some(rules.iter().map(permission).collect()))
            .send()
            .await
            .or_action_error("RevokeSecurityGroupIngress")?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "sdk_tests.rs"]
mod tests;
