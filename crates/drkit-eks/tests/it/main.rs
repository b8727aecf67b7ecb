//! Integration tests of drkit-eks. One binary, one module per peer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod moto;
