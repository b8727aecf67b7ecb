//! Integration tests of drkit-k8s. One binary.
//!
//! No Kubernetes API server can run where these tests run, so the actions talk to kube-rs's
//! client over a mock service ([`mock::MockApi`]) that records every request and answers
//! as a scripted API server would. What they show: request shapes (server-side apply PATCHes,
//! field manager, dry runs, apply order, scale subresource), the actions' logic over scripted
//! states, and error classification. What they cannot show: that a real API server answers
//! the same way (see docs/actions/k8s.md).
//!
//! [`fake_server`] runs the actions over real HTTP against `drkit_testkit::fake_kube`, a fake
//! API server (discovery, server-side apply, label selectors, a simulated rollout): closer to a
//! cluster than the mock, and still a fake. [`fake_nodes`] runs `k8s.wait_nodes_ready` against
//! its Nodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod apply;
#[cfg(feature = "eks")]
mod eks;
mod fake_nodes;
mod fake_server;
mod mock;
mod nodes;
mod ready;
mod scale;
#[cfg(feature = "eks")]
mod token;
