//! Integration tests of drkit-k8s. One binary.
//!
//! No Kubernetes API server can run where these tests run, so the actions talk to kube-rs's
//! client over a mock service ([`mock::MockApi`]) that records every request and answers
//! as a scripted API server would. What they show: request shapes (server-side apply PATCHes,
//! field manager, dry runs, apply order, scale subresource), the actions' logic over scripted
//! states, and error classification. What they cannot show: that a real API server answers
//! the same way (see docs/actions/k8s.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod apply;
mod eks;
mod mock;
mod ready;
mod scale;
mod token;
