//! The adapter: [`SnsApi`] over `aws-sdk-sns`.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use drkit_aws::{Aws, LazyClient, SdkResultExt};
use drkit_core::{ActionError, ErrorKind};

use crate::port::{PublishRequest, Published, SnsApi};

/// [`SnsApi`] over an `aws-sdk-sns` client.
#[derive(Debug)]
pub struct SdkSns {
    client: LazyClient<Client>,
}

impl SdkSns {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Self {
            client: LazyClient::ready(client),
        }
    }

    /// A client for `config` (see `drkit_aws::AwsContext::for_region`).
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }

    /// A client for `region` (`None`: the default one), built from `aws` on its first call.
    pub fn lazy(aws: &Aws, region: Option<&str>) -> Self {
        Self {
            client: LazyClient::new(aws, region, Client::new),
        }
    }

    /// The wrapped client (built on the first call).
    pub async fn client(&self) -> &Client {
        self.client.get().await
    }
}

#[async_trait]
impl SnsApi for SdkSns {
    async fn publish(&self, request: PublishRequest) -> Result<Published, ActionError> {
        let out = self
            .client()
            .await
            .publish()
            .topic_arn(request.topic)
            .set_subject(request.subject)
            .message(request.message)
            .set_message_group_id(request.group)
            .set_message_deduplication_id(request.deduplication_id)
            .customize()
            // One attempt: the SDK's standard retry would publish again after a lost answer
            // (the step reconciles from its journalled intent instead).
            .config_override(
                aws_sdk_sns::Config::builder().retry_config(drkit_aws::single_attempt()),
            )
            .send()
            .await
            .or_action_error("Publish")?;
        let message_id = out.message_id.ok_or_else(|| {
            ActionError::new(ErrorKind::Other, "the answer has no MessageId")
                .with_operation("Publish")
        })?;
        Ok(Published {
            message_id,
            sequence_number: out.sequence_number,
        })
    }
}

#[cfg(test)]
#[path = "sdk_tests.rs"]
mod tests;
