//! The ARC actions over the real SDK (`SdkArc`) against drkit-testkit's **fake** ARC cluster,
//! served by the fault proxy (moto has no ARC): requests, signing per endpoint region, the
//! documented error shapes, the endpoint rotation with its time-outs, and a dark us-east-1.
//! No peer is needed: the proxy runs in the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake_cluster;
