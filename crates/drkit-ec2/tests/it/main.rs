//! Integration tests of drkit-ec2. One binary, one module per peer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::needless_pass_by_value)] // test helpers take `json!` values inline

mod moto;
