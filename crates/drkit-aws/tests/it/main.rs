//! Integration tests of drkit-aws against moto server (AWS APIs). One binary, one module per
//! peer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod moto;
