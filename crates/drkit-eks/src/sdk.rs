//! The adapter: [`EksApi`] over `aws-sdk-eks`.

use async_trait::async_trait;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{NodegroupScalingConfig, Update};
use drkit_aws::SdkResultExt;
use drkit_core::{ActionError, ErrorKind};

use crate::port::{EksApi, EksCluster, HealthIssue, Nodegroup, NodegroupUpdate, Scaling};

drkit_aws::sdk_adapter! {
    /// [`EksApi`] over an `aws-sdk-eks` client.
    pub struct SdkEks(Client);
}

/// EKS sizes are `i32` on the wire; negative values never occur, and are read as 0.
fn size(value: Option<i32>) -> u32 {
    value.and_then(|v| u32::try_from(v).ok()).unwrap_or(0)
}

fn wire_size(value: u32, name: &str) -> Result<i32, ActionError> {
    i32::try_from(value).map_err(|_| {
        ActionError::invalid_input(format!("{name} {value} is too large for EKS"))
            .with_operation("UpdateNodegroupConfig")
    })
}

fn update_from_sdk(
    update: Option<&Update>,
    operation: &str,
) -> Result<NodegroupUpdate, ActionError> {
    let update = update.ok_or_else(|| {
        ActionError::new(ErrorKind::Other, "EKS answered without an update")
            .with_operation(operation)
    })?;
    Ok(NodegroupUpdate {
        id: update.id().unwrap_or_default().to_owned(),
        status: update.status().map_or("unknown", |s| s.as_str()).to_owned(),
        errors: update
            .errors()
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e.error_code().map_or("unknown", |c| c.as_str()),
                    e.error_message().unwrap_or_default()
                )
            })
            .collect(),
    })
}

#[async_trait]
impl EksApi for SdkEks {
    async fn describe_cluster(&self, cluster: &str) -> Result<EksCluster, ActionError> {
        let out = self
            .client()
            .await
            .describe_cluster()
            .name(cluster)
            .send()
            .await
            .or_action_error("DescribeCluster")?;
        let c = out.cluster().ok_or_else(|| {
            ActionError::new(
                ErrorKind::NotFound,
                format!("EKS cluster {cluster} not found"),
            )
            .with_operation("DescribeCluster")
        })?;
        Ok(EksCluster {
            name: c.name().unwrap_or(cluster).to_owned(),
            status: c.status().map_or("unknown", |s| s.as_str()).to_owned(),
            version: c.version().map(str::to_owned),
            endpoint: c.endpoint().map(str::to_owned),
            certificate_authority: c
                .certificate_authority()
                .and_then(|ca| ca.data())
                .map(str::to_owned),
            platform_version: c.platform_version().map(str::to_owned),
            health_issues: c
                .health()
                .map(|h| {
                    h.issues()
                        .iter()
                        .map(|i| HealthIssue {
                            code: i.code().map_or("unknown", |c| c.as_str()).to_owned(),
                            message: i.message().unwrap_or_default().to_owned(),
                            resource_ids: i.resource_ids().to_vec(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    async fn describe_nodegroup(
        &self,
        cluster: &str,
        nodegroup: &str,
    ) -> Result<Nodegroup, ActionError> {
        let out = self
            .client()
            .await
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(nodegroup)
            .send()
            .await
            .or_action_error("DescribeNodegroup")?;
        let n = out.nodegroup().ok_or_else(|| {
            ActionError::new(
                ErrorKind::NotFound,
                format!("node group {nodegroup} of EKS cluster {cluster} not found"),
            )
            .with_operation("DescribeNodegroup")
        })?;
        let scaling = n
            .scaling_config()
            .map(|s| Scaling {
                min_size: size(s.min_size()),
                max_size: size(s.max_size()),
                desired_size: size(s.desired_size()),
            })
            .unwrap_or_default();
        Ok(Nodegroup {
            cluster: n.cluster_name().unwrap_or(cluster).to_owned(),
            name: n.nodegroup_name().unwrap_or(nodegroup).to_owned(),
            status: n.status().map_or("unknown", |s| s.as_str()).to_owned(),
            scaling,
            health_issues: n
                .health()
                .map(|h| {
                    h.issues()
                        .iter()
                        .map(|i| HealthIssue {
                            code: i.code().map_or("unknown", |c| c.as_str()).to_owned(),
                            message: i.message().unwrap_or_default().to_owned(),
                            resource_ids: i.resource_ids().to_vec(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            instance_types: n.instance_types().to_vec(),
            capacity_type: n.capacity_type().map(|c| c.as_str().to_owned()),
        })
    }

    async fn update_nodegroup_scaling(
        &self,
        cluster: &str,
        nodegroup: &str,
        scaling: Scaling,
    ) -> Result<NodegroupUpdate, ActionError> {
        let config = NodegroupScalingConfig::builder()
            .min_size(wire_size(scaling.min_size, "min_size")?)
            .max_size(wire_size(scaling.max_size, "max_size")?)
            .desired_size(wire_size(scaling.desired_size, "desired_size")?)
            .build();
        let out = self
            .client()
            .await
            .update_nodegroup_config()
            .cluster_name(cluster)
            .nodegroup_name(nodegroup)
            .scaling_config(config)
            .send()
            .await
            .or_action_error("UpdateNodegroupConfig")?;
        update_from_sdk(out.update(), "UpdateNodegroupConfig")
    }

    async fn describe_nodegroup_update(
        &self,
        cluster: &str,
        nodegroup: &str,
        update_id: &str,
    ) -> Result<NodegroupUpdate, ActionError> {
        let out = self
            .client()
            .await
            .describe_update()
            .name(cluster)
            .nodegroup_name(nodegroup)
            .update_id(update_id)
            .send()
            .await
            .or_action_error("DescribeUpdate")?;
        update_from_sdk(out.update(), "DescribeUpdate")
    }
}
