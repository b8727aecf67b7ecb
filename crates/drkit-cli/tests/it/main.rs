//! Tests of the runbook file and the `drkit` commands. No network: every runbook here is
//! validated against the registry only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod runbook;
