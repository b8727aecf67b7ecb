//! The port: the one SNS operation drkit uses, in drkit's own types.

use async_trait::async_trait;
use drkit_core::ActionError;

/// A message for a topic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishRequest {
    /// The topic's ARN.
    pub topic: String,
    /// The subject (email notifications' subject line).
    pub subject: Option<String>,
    /// The message.
    pub message: String,
    /// `MessageGroupId` (FIFO topics).
    pub group: Option<String>,
    /// `MessageDeduplicationId` (FIFO topics): SNS drops a message with an id it has seen in
    /// the last 5 minutes.
    pub deduplication_id: Option<String>,
}

impl PublishRequest {
    /// `message` for `topic`.
    pub fn new(topic: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            subject: None,
            message: message.into(),
            group: None,
            deduplication_id: None,
        }
    }
}

/// What SNS answered: it has accepted the message for delivery to the topic's subscribers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// The message's id.
    pub message_id: String,
    /// Its sequence number in the message group (FIFO topics only).
    pub sequence_number: Option<String>,
}

impl Published {
    /// A message id (handy in tests).
    pub fn new(message_id: impl Into<String>) -> Self {
        Self {
            message_id: message_id.into(),
            sequence_number: None,
        }
    }
}

/// The SNS operation drkit uses. Implemented by [`crate::SdkSns`] and by `MockSnsApi`
/// (feature `mock`). A missing topic is `NotFound` (`NotFound`), a caller without
/// `sns:Publish` is `AccessDenied` (`AuthorizationError`), a bad parameter `InvalidInput`
/// (`InvalidParameter`); throttling (`Throttled`, `KMSThrottling`) and 5xx are retryable.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait SnsApi: std::fmt::Debug + Send + Sync {
    /// `Publish`, **one attempt** (the SDK does not send it again: a standard topic would
    /// deliver the message twice).
    async fn publish(&self, request: PublishRequest) -> Result<Published, ActionError>;
}
