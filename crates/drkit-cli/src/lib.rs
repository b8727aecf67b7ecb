//! # drkit-cli
//!
//! The `drkit` command. The library half holds what the binary does, so it can be tested:
//! the runbook file ([`runbook`]) and the commands ([`commands`]).
//!
//! Exit codes: 0 success, 1 the run failed, 2 bad input (the runbook, a flag), 3 interrupted.

pub mod commands;
pub mod progress;
pub mod runbook;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the run failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad input.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code: interrupted (Ctrl-C).
pub const EXIT_INTERRUPTED: u8 = 3;
