//! Tests of the runbook file (`runbook`: no network, validated against the registry only) and of
//! the `drkit` binary (`cli`: against moto, and a local listener that proves bad input never
//! reaches AWS), and `hardening`: the binary killed (SIGKILL), interrupted (SIGINT) and run twice
//! at once, with the file and the S3 journal stores.
//! `webhook`: `--webhook` against local servers that answer 500 or never answer.
//! `resume`: what `drkit resume` shows and asks before running a journal's runbook.
//! `exactly_once`: the two cases against moto through the fault proxy: the answer to
//! `FailoverDBCluster` lost, and a SIGKILL while its outcome is unknown, then `drkit resume`.
//! `region_loss`: `--mode`, `--impaired-region` and a step's `modes`: nothing sent to the
//! impaired region (counted by the fault proxy), skips shown by `plan` and the report.
//! `custom`: `exec.command` with real programs: run twice, killed and resumed, the secret nowhere.
//! `readiness`: `drkit check` exit codes, metrics, drift, bad input.
//! `report`: the report's critical path, RTO until healthy and trend, through the binary.
//! `lock`: an S3-journal holder stopped (SIGSTOP), its lease taken over, then woken (SIGCONT).
//! `operator`: `plan` with no environment (the Mint runbook with an empty one), `completions`.
//! `schema`: `drkit schema` against the Mint runbook, the docs' examples and malformed steps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod custom;
mod exactly_once;
mod hardening;
mod lock;
mod operator;
mod readiness;
mod region_loss;
mod report;
mod resume;
mod runbook;
mod schema;
mod webhook;
