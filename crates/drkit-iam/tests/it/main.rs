//! Integration tests of drkit-iam. One binary, one module per peer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod moto;
