//! Integration tests of drkit-runner: plans, scheduling, dry runs, rollback, journal, resume,
//! RTO/RPO, events (with a real local HTTP server for the webhook), reports and approvals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub,
    missing_docs
)]

mod approval;
mod common;
mod conditions;
mod dry_run;
mod events;
mod journal;
mod journal_durability;
mod lock_loss;
mod operator;
mod pause;
mod plan;
mod readiness;
mod report;
mod resume;
mod rollback;
mod rollback_resume;
mod rto;
mod scheduling;
