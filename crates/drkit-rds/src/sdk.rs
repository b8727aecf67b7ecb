//! The adapter: [`RdsApi`] over `aws-sdk-rds`.

use async_trait::async_trait;
use aws_sdk_rds::Client;
use drkit_aws::SdkResultExt;
use drkit_core::{ActionError, ErrorKind};

use crate::port::{ClusterMember, DbCluster, DbInstance, RdsApi};

/// [`RdsApi`] over an `aws-sdk-rds` client.
#[derive(Clone, Debug)]
pub struct SdkRds {
    client: Client,
}

impl SdkRds {
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

fn cluster_from_sdk(c: &aws_sdk_rds::types::DbCluster) -> DbCluster {
    DbCluster {
        id: c.db_cluster_identifier().unwrap_or_default().to_owned(),
        status: c.status().unwrap_or("unknown").to_owned(),
        engine: c.engine().map(str::to_owned),
        endpoint: c.endpoint().map(str::to_owned),
        reader_endpoint: c.reader_endpoint().map(str::to_owned),
        members: c
            .db_cluster_members()
            .iter()
            .map(|m| ClusterMember {
                instance_id: m.db_instance_identifier().unwrap_or_default().to_owned(),
                is_writer: m.is_cluster_writer().unwrap_or(false),
                promotion_tier: m.promotion_tier(),
            })
            .collect(),
    }
}

#[async_trait]
impl RdsApi for SdkRds {
    async fn describe_db_cluster(&self, cluster: &str) -> Result<DbCluster, ActionError> {
        let out = self
            .client
            .describe_db_clusters()
            .db_cluster_identifier(cluster)
            .send()
            .await
            .or_action_error("DescribeDBClusters")?;
        out.db_clusters()
            .iter()
            .find(|c| c.db_cluster_identifier() == Some(cluster))
            .map(cluster_from_sdk)
            .ok_or_else(|| {
                ActionError::new(
                    ErrorKind::NotFound,
                    format!("DB cluster {cluster} not found"),
                )
                .with_operation("DescribeDBClusters")
            })
    }

    async fn describe_db_instance(&self, instance: &str) -> Result<DbInstance, ActionError> {
        let out = self
            .client
            .describe_db_instances()
            .db_instance_identifier(instance)
            .send()
            .await
            .or_action_error("DescribeDBInstances")?;
        out.db_instances()
            .iter()
            .find(|i| i.db_instance_identifier() == Some(instance))
            .map(|i| DbInstance {
                id: instance.to_owned(),
                status: i.db_instance_status().unwrap_or("unknown").to_owned(),
                cluster: i.db_cluster_identifier().map(str::to_owned),
            })
            .ok_or_else(|| {
                ActionError::new(
                    ErrorKind::NotFound,
                    format!("DB instance {instance} not found"),
                )
                .with_operation("DescribeDBInstances")
            })
    }

    async fn failover_db_cluster<'a>(
        &self,
        cluster: &str,
        target: Option<&'a str>,
    ) -> Result<(), ActionError> {
        self.client
            .failover_db_cluster()
            .db_cluster_identifier(cluster)
            .set_target_db_instance_identifier(target.map(str::to_owned))
            .send()
            .await
            .or_action_error("FailoverDBCluster")?;
        Ok(())
    }
}
