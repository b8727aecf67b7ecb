//! Tests of the runbook file (`runbook`: no network, validated against the registry only) and of
//! the `drkit` binary (`cli`: against moto, and a local listener that proves bad input never
//! reaches AWS), and `hardening`: the binary killed (SIGKILL), interrupted (SIGINT) and run twice
//! at once, with the file and the S3 journal stores.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod hardening;
mod runbook;
