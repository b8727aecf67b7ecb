//! The adapter: [`SnsApi`] over `aws-sdk-sns`.

use async_trait::async_trait;
use aws_sdk_sns::Client;
use drkit_aws::SdkResultExt;
use drkit_core::{ActionError, ErrorKind};

use crate::port::{PublishRequest, Published, SnsApi};

drkit_aws::sdk_adapter! {
    /// [`SnsApi`] over an `aws-sdk-sns` client.
    pub struct SdkSns(Client);
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
