//! # drkit-arc
//!
//! Route 53 Application Recovery Controller (ARC) routing controls for drkit: DNS failover
//! through ARC's data plane, which AWS recommends for failover because it does not need Route
//! 53's control plane (hosted in us-east-1).
//!
//! | kind | what it does |
//! |---|---|
//! | `arc.update_routing_control` | sets routing controls `On`/`Off` in one transaction on one of the cluster's regional endpoints (tried in turn, impaired regions never called), waits until they read back; rollback restores the states before |
//! | `arc.check_routing_control` | read-only: reads routing controls; holds when each has its expected state |
//!
//! Parts, as in every provider: the port [`ArcApi`] (one call to one cluster endpoint;
//! `MockArcApi` with the `mock` feature), the adapter [`SdkArc`] (a client per endpoint, short
//! time-outs so a dark endpoint costs seconds), the actions ([`UpdateRoutingControl`],
//! [`CheckRoutingControl`]) and [`register`] / [`register_with`].
//!
//! ```no_run
//! use drkit_arc::{ClusterEndpoint, ControlState, ControlTarget, UpdateRoutingControlParams};
//!
//! let params = UpdateRoutingControlParams::new(
//!     vec![
//!         ControlTarget::new("arn:aws:route53-recovery-control::111122223333:controlpanel/p/routingcontrol/use1", ControlState::Off),
//!         ControlTarget::new("arn:aws:route53-recovery-control::111122223333:controlpanel/p/routingcontrol/usw2", ControlState::On),
//!     ],
//!     vec![
//!         ClusterEndpoint::new("https://host-aaaa.us-west-2.example.com/v1", "us-west-2"),
//!         ClusterEndpoint::new("https://host-bbbb.eu-west-1.example.com/v1", "eu-west-1"),
//!     ],
//! );
//! # let _ = params;
//! ```

mod actions;
#[cfg(test)]
mod behaviour_tests;
mod port;
mod register;
mod sdk;

pub use actions::{
    CheckRoutingControl, CheckRoutingControlParams, ControlExpectation, ControlTarget,
    UpdateRoutingControl, UpdateRoutingControlParams,
};
#[cfg(any(test, feature = "mock"))]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub use port::MockArcApi;
pub use port::{ArcApi, ClusterEndpoint, ControlState, RoutingControl};
pub use register::{DESCRIPTORS, ports, register, register_with};
pub use sdk::{ENDPOINT_ATTEMPT_TIMEOUT, ENDPOINT_OPERATION_TIMEOUT, SdkArc};
