//! Tests of the runbook file (`runbook`: no network, validated against the registry only) and of
//! the `drkit` binary (`cli`: against moto, and a local listener that proves bad input never
//! reaches AWS).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod runbook;
