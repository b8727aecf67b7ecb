//! # drkit-cli
//!
//! The `drkit` command. The library holds all of it, so it can be tested and reused: the
//! runbook file ([`runbook`]) and its JSON Schema ([`schema`]), the commands ([`commands`]),
//! and the whole command line, [`main_with`], which a team's own binary calls with its own
//! action kinds registered next to the built-in ones (see `examples/custom_drkit.rs` and
//! docs/custom-actions.md).
//!
//! Exit codes: 0 success, 1 the run failed, 2 bad input (the runbook, a flag), 3 interrupted.

mod app;
pub mod commands;
pub mod progress;
mod prompt;
pub mod runbook;
pub mod schema;

pub use app::{main_with, main_with_args};

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the run failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad input.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code: interrupted (Ctrl-C).
pub const EXIT_INTERRUPTED: u8 = 3;
