//! The behaviour suite for the custom kinds: `exec.command` against real programs (`sh`,
//! `test`) acting on a file in a temporary directory (the world is whether the file exists,
//! and every run of the command or the rollback program appends a line to a log of
//! mutations); `http.request` against a real local HTTP server (the world is its incidents,
//! each POST a mutation).

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

/// The status-page server of `http_tests.rs`: its POSTs are the mutations and the state.
struct StatusPage(crate::http::tests::Shared);

#[drkit_core::async_trait]
impl World for StatusPage {
    async fn state(&self) -> Value {
        json!({"incidents": self.0.lock().unwrap().posts.len()})
    }

    fn mutations(&self) -> usize {
        self.0.lock().unwrap().posts.len()
    }
}

#[tokio::test]
async fn http_request() {
    let (base, seen) = crate::http::tests::server().await;
    let mut registry = Registry::new();
    crate::register(&mut registry).unwrap();
    let case = Case::new(
        registry,
        "http.request",
        json!({
            "method": "POST",
            "url": format!("{base}/incidents"),
            "json": {"status": "degraded"},
            "outputs": {"incident_id": "/data/id"},
            "check": {"url": format!("{base}/incidents/current"), "expect_status": 200},
            "verify": {"url": format!("{base}/incidents/current"), "body_contains": "degraded"},
        }),
    )
    .refuses(json!({"method": "FETCH", "url": "http://x"}), "method")
    .refuses(
        json!({"method": "POST", "url": "http://x", "outputs": {"a": "b"}}),
        "outputs",
    );
    mutating(&case, &StatusPage(seen)).await;
}
