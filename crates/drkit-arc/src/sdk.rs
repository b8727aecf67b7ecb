//! The adapter: [`ArcApi`] over `aws-sdk-route53recoverycluster`, one client per cluster
//! endpoint (its URL, signed for its region).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_route53recoverycluster::Client;
use aws_sdk_route53recoverycluster::types::{RoutingControlState, UpdateRoutingControlStateEntry};
use drkit_aws::{Aws, SdkResultExt};
use drkit_core::{ActionError, ErrorKind};
use tokio::sync::Mutex;

use crate::port::{ArcApi, ClusterEndpoint, ControlState, RoutingControl};

/// How long one attempt at one endpoint may take: an endpoint that does not answer by then is
/// left for the next one (AWS: "try each endpoint in rotation").
pub const ENDPOINT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call to one endpoint may take, retries included.
pub const ENDPOINT_OPERATION_TIMEOUT: Duration = Duration::from_secs(12);
/// Attempts per call at one endpoint (the other endpoints are the real retry).
const ENDPOINT_ATTEMPTS: u32 = 2;

/// [`ArcApi`] over `aws-sdk-route53recoverycluster`: a client per cluster endpoint, built from
/// [`Aws`] (credentials, the signing region set to the endpoint's) on first use, with short
/// time-outs ([`ENDPOINT_ATTEMPT_TIMEOUT`], [`ENDPOINT_OPERATION_TIMEOUT`]) so that a dark
/// endpoint costs seconds before the next is tried.
#[derive(Debug)]
pub struct SdkArc {
    aws: Aws,
    clients: Mutex<HashMap<ClusterEndpoint, Client>>,
}

impl SdkArc {
    /// Clients configured by `aws` (loaded on the first call).
    pub fn new(aws: &Aws) -> Self {
        Self {
            aws: aws.clone(),
            clients: Mutex::new(HashMap::new()),
        }
    }

    async fn client(&self, endpoint: &ClusterEndpoint) -> Client {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(endpoint) {
            return c.clone();
        }
        let sdk = self.aws.config(Some(&endpoint.region)).await;
        let config = aws_sdk_route53recoverycluster::config::Builder::from(&sdk)
            .endpoint_url(endpoint.endpoint.clone())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(
                        sdk.timeout_config()
                            .and_then(TimeoutConfig::connect_timeout)
                            .unwrap_or(ENDPOINT_ATTEMPT_TIMEOUT)
                            .min(ENDPOINT_ATTEMPT_TIMEOUT),
                    )
                    .operation_attempt_timeout(ENDPOINT_ATTEMPT_TIMEOUT)
                    .operation_timeout(ENDPOINT_OPERATION_TIMEOUT)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(ENDPOINT_ATTEMPTS))
            .build();
        let client = Client::from_conf(config);
        clients.insert(endpoint.clone(), client.clone());
        client
    }
}

fn to_sdk(state: ControlState) -> RoutingControlState {
    match state {
        ControlState::On => RoutingControlState::On,
        ControlState::Off => RoutingControlState::Off,
    }
}

fn from_sdk(state: &RoutingControlState, operation: &str) -> Result<ControlState, ActionError> {
    ControlState::parse(state.as_str()).ok_or_else(|| {
        ActionError::new(
            ErrorKind::Other,
            format!("the answer has an unknown routing-control state `{state}`"),
        )
        .with_operation(operation)
    })
}

#[async_trait]
impl ArcApi for SdkArc {
    async fn get_state(
        &self,
        endpoint: &ClusterEndpoint,
        arn: &str,
    ) -> Result<RoutingControl, ActionError> {
        let out = self
            .client(endpoint)
            .await
            .get_routing_control_state()
            .routing_control_arn(arn)
            .send()
            .await
            .or_action_error("GetRoutingControlState")?;
        Ok(RoutingControl {
            arn: out.routing_control_arn().to_owned(),
            name: out.routing_control_name().map(str::to_owned),
            state: from_sdk(out.routing_control_state(), "GetRoutingControlState")?,
        })
    }

    async fn update_states(
        &self,
        endpoint: &ClusterEndpoint,
        states: &[(String, ControlState)],
        safety_rules_to_override: &[String],
    ) -> Result<(), ActionError> {
        let mut call = self
            .client(endpoint)
            .await
            .update_routing_control_states()
            .set_safety_rules_to_override(
                (!safety_rules_to_override.is_empty()).then(|| safety_rules_to_override.to_vec()),
            );
        for (arn, state) in states {
            let entry = UpdateRoutingControlStateEntry::builder()
                .routing_control_arn(arn)
                .routing_control_state(to_sdk(*state))
                .build()
                .map_err(|e| {
                    ActionError::new(ErrorKind::InvalidInput, e.to_string())
                        .with_operation("UpdateRoutingControlStates")
                })?;
            call = call.update_routing_control_state_entries(entry);
        }
        call.send()
            .await
            .or_action_error("UpdateRoutingControlStates")
            .map(drop)
    }
}
