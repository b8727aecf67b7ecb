//! `drkit`: validate, plan, run, resume and report a recovery runbook. The whole command line
//! is [`drkit_cli::main_with`]; a team's own binary calls it with its own action kinds.

use std::process::ExitCode;

fn main() -> ExitCode {
    drkit_cli::main_with(|_| Ok(()))
}
