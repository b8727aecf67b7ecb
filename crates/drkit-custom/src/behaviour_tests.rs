//! The behaviour suite for `exec.command`, against real programs (`sh`, `test`) acting on a
//! file in a temporary directory: the world is whether the file exists, and every run of the
//! command or the rollback program appends a line to a log of mutations.

use std::path::PathBuf;

use drkit_core::registry::Registry;
use drkit_testkit::behaviour::{Case, World, mutating};
use serde_json::{Value, json};

/// The flag file and the log of mutating runs.
struct Flag {
    dir: PathBuf,
}

#[drkit_core::async_trait]
impl World for Flag {
    async fn state(&self) -> Value {
        json!({"flag": self.dir.join("flag").exists()})
    }

    fn mutations(&self) -> usize {
        std::fs::read_to_string(self.dir.join("log")).map_or(0, |log| log.lines().count())
    }
}

#[tokio::test]
async fn exec_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::new();
    crate::register(&mut registry).unwrap();
    let case = Case::new(
        registry,
        "exec.command",
        json!({
            "command": ["sh", "-c", "touch flag; echo set >> log"],
            "check": ["sh", "-c", "test -e flag && exit 0; exit 1"],
            "verify": ["test", "-e", "flag"],
            "rollback": ["sh", "-c", "rm flag; echo cleared >> log"],
            "cwd": dir.path(),
        }),
    )
    .refuses(json!({"command": []}), "command")
    .refuses(json!({"command": ["x", {"secret": "env:T"}]}), "command");
    mutating(
        &case,
        &Flag {
            dir: dir.path().to_owned(),
        },
    )
    .await;
}
