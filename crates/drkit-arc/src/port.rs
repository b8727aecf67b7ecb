//! The port: the ARC routing-control operations drkit uses, in drkit's own types, one call to
//! one regional cluster endpoint at a time (the actions choose the endpoint).

use std::fmt;

use async_trait::async_trait;
use drkit_core::ActionError;
use serde::{Deserialize, Deserializer};

/// A routing control's state: traffic flows to its cell when `On`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ControlState {
    /// Traffic flows.
    On,
    /// Traffic does not flow.
    Off,
}

impl ControlState {
    /// `On` or `Off`, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlState::On => "On",
            ControlState::Off => "Off",
        }
    }

    /// Parses `On` or `Off` (exactly, as the API spells them).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "On" => Some(ControlState::On),
            "Off" => Some(ControlState::Off),
            _ => None,
        }
    }
}

impl fmt::Display for ControlState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ControlState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ControlState::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a routing-control state: write \"On\" or \"Off\""
            ))
        })
    }
}

/// One of an ARC cluster's regional endpoints (`DescribeCluster` lists five).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ClusterEndpoint {
    /// Its URL, e.g. `https://abcd1234.route53-recovery-cluster.us-west-2.amazonaws.com/v1`.
    pub endpoint: String,
    /// Its region (requests to it are signed for it), e.g. `us-west-2`.
    pub region: String,
}

impl ClusterEndpoint {
    /// The endpoint `endpoint` in `region`.
    pub fn new(endpoint: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            region: region.into(),
        }
    }
}

impl fmt::Display for ClusterEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.endpoint, self.region)
    }
}

/// A routing control and its state, as `GetRoutingControlState` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoutingControl {
    /// Its ARN.
    pub arn: String,
    /// Its name, when the answer has one.
    pub name: Option<String>,
    /// Its state.
    pub state: ControlState,
}

impl RoutingControl {
    /// A routing control (handy in tests).
    pub fn new(arn: impl Into<String>, state: ControlState) -> Self {
        Self {
            arn: arn.into(),
            name: None,
            state,
        }
    }
}

/// The ARC routing-control (cluster data plane) operations drkit uses, each sent to one
/// cluster endpoint. Implemented by [`crate::SdkArc`] and by `MockArcApi` (feature `mock`).
///
/// Errors keep ARC's codes: `ResourceNotFoundException` (an unknown routing control) is
/// `NotFound`; `EndpointTemporarilyUnavailableException`, `InternalServerException`,
/// `ThrottlingException` and transport failures (time-outs, refused connections) say that this
/// endpoint did not answer, and the actions try the next one.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ArcApi: std::fmt::Debug + Send + Sync {
    /// `GetRoutingControlState` of `arn` at `endpoint`.
    async fn get_state(
        &self,
        endpoint: &ClusterEndpoint,
        arn: &str,
    ) -> Result<RoutingControl, ActionError>;

    /// `UpdateRoutingControlStates` at `endpoint`: sets every `(arn, state)` in one
    /// transaction, overriding the safety rules `safety_rules_to_override` (ARNs).
    async fn update_states(
        &self,
        endpoint: &ClusterEndpoint,
        states: &[(String, ControlState)],
        safety_rules_to_override: &[String],
    ) -> Result<(), ActionError>;
}
