//! Integration tests of drkit-sns against moto server (`DRKIT_TEST_AWS_ENDPOINT`); under
//! CI=true a missing emulator fails these tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod moto;
