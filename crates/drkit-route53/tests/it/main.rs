//! Integration tests of drkit-route53 against moto server (`DRKIT_TEST_AWS_ENDPOINT`, started by
//! `scripts/test.sh`); under CI=true a missing emulator fails these tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod moto;
