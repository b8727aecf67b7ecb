//! The adapter: [`LambdaApi`] over `aws-sdk-lambda`.

use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use drkit_aws::SdkResultExt;
use drkit_core::ActionError;

use crate::port::{Invocation, InvokeRequest, LambdaApi};

drkit_aws::sdk_adapter! {
    /// [`LambdaApi`] over an `aws-sdk-lambda` client.
    pub struct SdkLambda(Client);
}

#[async_trait]
impl LambdaApi for SdkLambda {
    async fn invoke(&self, request: InvokeRequest) -> Result<Invocation, ActionError> {
        let out = self
            .client()
            .await
            .invoke()
            .function_name(request.function)
            .set_qualifier(request.qualifier)
            .invocation_type(InvocationType::RequestResponse)
            .log_type(LogType::None)
            .set_payload(request.payload.map(Blob::new))
            .customize()
            // One attempt: the SDK's standard retry would invoke the function again after a
            // lost answer (the step reconciles from its journalled intent instead).
            .config_override(
                aws_sdk_lambda::Config::builder().retry_config(drkit_aws::single_attempt()),
            )
            .send()
            .await
            .or_action_error("Invoke")?;
        Ok(Invocation {
            status_code: out.status_code(),
            function_error: out.function_error().map(str::to_owned),
            payload: out.payload.map(Blob::into_inner).unwrap_or_default(),
            executed_version: out.executed_version,
        })
    }
}

#[cfg(test)]
#[path = "sdk_tests.rs"]
mod tests;
