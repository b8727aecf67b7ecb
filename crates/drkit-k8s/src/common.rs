//! What the `k8s.*` kinds share: the cluster a step reaches, its connection, its IAM actions,
//! and the name checks made before any call.

use std::fmt::Debug;
use std::sync::Arc;

use drkit_core::registry::ParamError;
use drkit_core::{ActionError, Context};
use kube::api::{Api, ListParams};
use serde::de::DeserializeOwned;

use crate::connect::{ClusterRef, Connect};
use crate::error::kube_error;
use crate::register::K8sPorts;

/// The only IAM action: `eks:DescribeCluster`, when a step names an EKS `cluster`. What the
/// actions do in the cluster needs Kubernetes RBAC instead (see `docs/actions/k8s.md`).
pub const EKS_IAM_ACTIONS: &[&str] = &["eks:DescribeCluster"];

/// The IAM actions of a step: `eks:DescribeCluster` with an EKS `cluster`, none otherwise.
pub(crate) fn iam_for(cluster: Option<&str>) -> &'static [&'static str] {
    if cluster.is_some() {
        EKS_IAM_ACTIONS
    } else {
        &[]
    }
}

/// The cluster of a step's `context`, `cluster` and `region` parameters.
pub(crate) fn cluster_ref(
    context: Option<&String>,
    cluster: Option<&String>,
    region: Option<&String>,
) -> Result<ClusterRef, ParamError> {
    ClusterRef::from_params(context.cloned(), cluster.cloned(), region.cloned())
}

/// The connection of a step to `cluster`; an error (e.g. no region for an EKS cluster) is
/// about the step as a whole.
pub(crate) fn connect(
    ports: &K8sPorts,
    cluster: &ClusterRef,
    step_region: Option<&str>,
) -> Result<Arc<dyn Connect>, ParamError> {
    ports
        .connect(cluster, step_region)
        .map_err(ParamError::general)
}

/// A DNS-1123 label (namespaces): 1-63 lowercase letters, digits and `-`, alphanumeric at
/// both ends.
pub(crate) fn label(param: &str, value: &str) -> Result<(), ParamError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ParamError::new(
            param,
            format!(
                "`{value}` is not a valid Kubernetes name: 1-63 lowercase letters, digits and \
                 `-`, starting and ending with a letter or digit"
            ),
        ))
    }
}

/// A Kubernetes label value (what a node group name must be to select its nodes): 1-63
/// letters, digits, `-`, `_` and `.`, alphanumeric at both ends.
pub(crate) fn label_value(param: &str, value: &str) -> Result<(), ParamError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ParamError::new(
            param,
            format!(
                "`{value}` cannot be a Kubernetes label value: 1-63 letters, digits, `-`, `_` \
                 and `.`, starting and ending with a letter or digit"
            ),
        ))
    }
}

/// A DNS-1123 subdomain (most object names): up to 253 characters of labels joined by `.`.
pub(crate) fn subdomain(param: &str, value: &str) -> Result<(), ParamError> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(ParamError::new(
            param,
            format!(
                "`{value}` is not a valid Kubernetes object name: lowercase letters, digits, \
                 `-` and `.`"
            ),
        ))
    }
}

/// `items` joined by `, `: the first `max` named, the rest counted (`..., and 5 more`).
pub(crate) fn named_list(items: &[String], max: usize) -> String {
    let mut named: Vec<String> = items.iter().take(max).cloned().collect();
    if items.len() > max {
        named.push(format!("and {} more", items.len() - max));
    }
    named.join(", ")
}

/// The objects `api` lists with `lp` (`what` names them in an error), bounded by the step's
/// deadline.
pub(crate) async fn list<K>(
    ctx: &Context,
    api: Api<K>,
    lp: &ListParams,
    what: &str,
) -> Result<Vec<K>, ActionError>
where
    K: Clone + Debug + DeserializeOwned,
{
    ctx.bounded(async { api.list(lp).await.map_err(|e| kube_error(e, "list", what)) })
        .await
        .map(|list| list.items)
}
