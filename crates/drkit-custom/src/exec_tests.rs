//! `exec.command` against a mock of its port: parameters, check / command / verify /
//! rollback order and exit codes, outputs, unknown outcomes, redaction.

use std::sync::{Arc, Mutex};

use drkit_core::registry::Registry;
use drkit_core::{Check, Context, ErrorKind, Outputs};
use mockall::Sequence;
use serde_json::json;

use super::*;
use crate::process::MockProcessApi;
use crate::{CustomPorts, register_with};

/// The registry over `mock`.
fn registry(mock: MockProcessApi) -> Registry {
    let mut registry = Registry::new();
    let port: std::sync::Arc<dyn ProcessApi> = std::sync::Arc::new(mock);
    register_with(
        &mut registry,
        &CustomPorts {
            process: PortFactory::fixed(port),
            ..CustomPorts::real()
        },
    )
    .unwrap();
    registry
}

fn build(mock: MockProcessApi, params: serde_json::Value) -> drkit_core::ActionRef {
    registry(mock)
        .build(&drkit_core::registry::ActionSpec::new(
            "drain",
            "exec.command",
            params,
        ))
        .unwrap()
}

/// The parameter a bad step is refused for.
fn refused(params: serde_json::Value) -> String {
    let err = registry(MockProcessApi::new())
        .build(&drkit_core::registry::ActionSpec::new(
            "drain",
            "exec.command",
            params,
        ))
        .unwrap_err();
    err.to_string()
}

/// Expects one run of the program `program`, answering `exit`.
fn expect(mock: &mut MockProcessApi, seq: &mut Sequence, program: &'static str, exit: Exit) {
    mock.expect_run()
        .withf(move |inv, _| inv.program() == program)
        .times(1)
        .in_sequence(seq)
        .returning(move |_, _| Ok(exit.clone()));
}

#[test]
fn bad_parameters_are_refused_naming_them() {
    let cases = [
        (json!({"command": []}), "command", "is empty"),
        (json!({"command": [""]}), "command", "argument 0"),
        (json!({"command": ["./drain.sh"]}), "command", "give `cwd`"),
        (
            json!({"command": ["drain", {"secret": "env:TOKEN"}]}),
            "command",
            "give it through `env`",
        ),
        (
            json!({"command": ["drain"], "check": []}),
            "check",
            "is empty",
        ),
        (
            json!({"command": ["drain"], "env": {"1X": "a"}}),
            "env",
            "not a variable name",
        ),
        (
            json!({"command": ["drain"], "env": {"DRKIT_RUN_ID": "a"}}),
            "env",
            "set by drkit",
        ),
        (
            json!({"command": ["drain"], "cwd": "rel/dir"}),
            "cwd",
            "relative",
        ),
        (
            json!({"command": ["drain"], "timeout": "0s"}),
            "timeout",
            "above zero",
        ),
        (
            json!({"command": ["drain"], "outputs": "yaml"}),
            "outputs",
            "unknown variant",
        ),
    ];
    for (params, param, says) in cases {
        let err = refused(params.clone());
        assert!(
            err.contains(param) && err.contains(says),
            "{params}: expected `{param}` / `{says}` in: {err}"
        );
    }
    // A number or a boolean (e.g. a `${env.NAME}` that reads as one) is passed as text.
    let params: ExecCommandParams =
        serde_json::from_value(json!({"command": ["sleep", 5], "env": {"FAST": true}})).unwrap();
    assert_eq!(texts(&params.command), ["sleep", "5"]);
    assert_eq!(params.env["FAST"], TextOrSecret::Text("true".into()));
    let err = refused(json!({"command": ["sleep", [1]]}));
    assert!(err.contains("expected text, a number, a boolean"), "{err}");
    // A relative program is fine with a working directory; a bare name is looked up in PATH.
    registry(MockProcessApi::new())
        .build(&drkit_core::registry::ActionSpec::new(
            "drain",
            "exec.command",
            json!({"command": ["./drain.sh"], "cwd": "/opt/mint"}),
        ))
        .unwrap();
}

/// check exit 1 -> ready; the command runs with the step's identity in its environment;
/// verify exit 0 -> holds; rollback runs the rollback program.
#[tokio::test]
async fn check_command_verify_and_rollback_run_in_order() {
    let mut mock = MockProcessApi::new();
    let mut seq = Sequence::new();
    expect(&mut mock, &mut seq, "is-drained", Exit::exited(1, "", ""));
    mock.expect_run()
        .withf(|inv, _| {
            inv.program() == "drain"
                && inv
                    .env
                    .iter()
                    .any(|(k, v)| k == "DRKIT_STEP_ID" && format!("{v:?}") == "\"drain\"")
                && inv
                    .env
                    .iter()
                    .any(|(k, v)| k == "DRKIT_RUN_ID" && format!("{v:?}") == "\"run-7\"")
                && inv.argv == ["drain", "--queue", "jobs"]
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(Exit::exited(0, "drained 12\n", "")));
    expect(&mut mock, &mut seq, "is-drained", Exit::exited(0, "", ""));
    expect(&mut mock, &mut seq, "undrain", Exit::exited(0, "", ""));
    let action = build(
        mock,
        json!({"command": ["drain", "--queue", "jobs"], "check": ["is-drained"],
               "verify": ["is-drained"], "rollback": ["undrain"]}),
    );
    assert!(action.mutates() && action.supports_rollback());
    let ctx = Context::new()
        .with_step("drain")
        .with_run("run-7", std::time::SystemTime::now());
    let Check::Ready { change } = action.check(&ctx).await.unwrap() else {
        panic!("not ready")
    };
    assert!(change.contains("run `drain --queue jobs`"), "{change}");
    let outputs = action.execute(&ctx).await.unwrap();
    assert_eq!(outputs.get("exit_code"), Some(&json!(0)));
    assert_eq!(outputs.get_str("stdout"), Some("drained 12\n"));
    assert_eq!(action.verify(&ctx).await.unwrap(), "`is-drained` exited 0");
    action.rollback(&ctx).await.unwrap();
}

#[tokio::test]
async fn check_exit_0_is_done_and_another_code_blocks_with_its_stderr() {
    let mut mock = MockProcessApi::new();
    let mut seq = Sequence::new();
    expect(&mut mock, &mut seq, "is-drained", Exit::exited(0, "", ""));
    expect(
        &mut mock,
        &mut seq,
        "is-drained",
        Exit::exited(2, "", "queue service unreachable\n"),
    );
    let action = build(mock, json!({"command": ["drain"], "check": ["is-drained"]}));
    assert!(action.check(&Context::new()).await.unwrap().is_done());
    let Check::Blocked { reason } = action.check(&Context::new()).await.unwrap() else {
        panic!("not blocked")
    };
    assert_eq!(reason, "`is-drained` exited 2: queue service unreachable");
}

#[tokio::test]
async fn a_failing_command_fails_the_step_with_its_code_and_stderr() {
    let mut mock = MockProcessApi::new();
    mock.expect_run()
        .returning(|_, _| Ok(Exit::exited(3, "", "line 1\nno such queue: jobs\n")));
    let action = build(mock, json!({"command": ["drain"]}));
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.code(), Some("exit 3"));
    assert!(!err.is_retryable());
    assert!(
        err.message()
            .contains("`drain` exited 3: line 1 | no such queue: jobs"),
        "{err}"
    );
    assert_eq!(err.action(), Some("exec.command"));
}

#[tokio::test]
async fn json_outputs_become_step_outputs_and_bad_json_names_the_first_bytes() {
    let mut mock = MockProcessApi::new();
    let mut seq = Sequence::new();
    expect(
        &mut mock,
        &mut seq,
        "drain",
        Exit::exited(0, r#"{"drained": 12, "queue": "jobs"}"#, ""),
    );
    expect(
        &mut mock,
        &mut seq,
        "drain",
        Exit::exited(0, "drained 12 messages", ""),
    );
    expect(
        &mut mock,
        &mut seq,
        "drain",
        Exit::exited(0, r#"{"stderr": 1}"#, ""),
    );
    let action = build(mock, json!({"command": ["drain"], "outputs": "json"}));
    let outputs = action.execute(&Context::new()).await.unwrap();
    assert_eq!(outputs.get("drained"), Some(&json!(12)));
    assert_eq!(outputs.get_str("queue"), Some("jobs"));
    assert!(outputs.get("stdout").is_none());
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    assert!(
        err.message().contains("starts with `drained 12 messages`"),
        "{err}"
    );
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert!(err.message().contains("`stderr`"), "{err}");
}

/// The secret reaches the program only in its environment, and what the program printed of
/// it is redacted everywhere drkit keeps it: outputs, errors, Debug.
#[tokio::test]
async fn secret_env_values_are_redacted_from_outputs_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "tok-9f8e7d6c\n").unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut mock = MockProcessApi::new();
    let mut seq = Sequence::new();
    let record = Arc::clone(&seen);
    mock.expect_run()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |inv, _| {
            record.lock().unwrap().push(format!("{inv:?}"));
            Ok(Exit::exited(
                0,
                "token is tok-9f8e7d6c\n",
                "used tok-9f8e7d6c",
            ))
        });
    mock.expect_run()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(Exit::exited(4, "", "bad token tok-9f8e7d6c")));
    let action = build(
        mock,
        json!({"command": ["status"], "env": {"TOKEN": {"secret": format!("file:{}", token.display())}}}),
    );
    let outputs = action.execute(&Context::new()).await.unwrap();
    assert_eq!(outputs.get_str("stdout"), Some("token is [REDACTED]\n"));
    assert_eq!(outputs.get_str("stderr"), Some("used [REDACTED]"));
    let err = action.execute(&Context::new()).await.unwrap_err();
    assert!(err.message().contains("bad token [REDACTED]"), "{err}");
    let everything = format!(
        "{outputs:?} {err} {err:?} {action:?} {:?}",
        seen.lock().unwrap()
    );
    assert!(!everything.contains("tok-9f8e7d6c"), "{everything}");
}

/// An earlier attempt started the command and its end was never recorded: without a check
/// program the step cannot tell, and asks; with the exit recorded, it knows.
#[tokio::test]
async fn an_unknown_earlier_outcome_asks_and_a_recorded_one_decides() {
    let action = build(MockProcessApi::new(), json!({"command": ["drain"]}));
    let started =
        Context::new().with_recorded_intent(Some(Outputs::new().with("command", "drain")));
    let Check::Unknown { question } = action.check(&started).await.unwrap() else {
        panic!("not unknown")
    };
    assert!(
        question.contains("may have run") && question.contains("no `check`"),
        "{question}"
    );

    let succeeded = Context::new().with_recorded_intent(Some(
        Outputs::new()
            .with("command", "drain")
            .with("exit_code", 0)
            .with("outputs", json!({"exit_code": 0, "drained": 3})),
    ));
    let Check::Done { outputs, .. } = action.check(&succeeded).await.unwrap() else {
        panic!("not done")
    };
    assert_eq!(outputs.get("drained"), Some(&json!(3)));

    let failed = Context::new().with_recorded_intent(Some(
        Outputs::new().with("command", "drain").with("exit_code", 2),
    ));
    let Check::Ready { change } = action.check(&failed).await.unwrap() else {
        panic!("not ready")
    };
    assert!(
        change.contains("exited 2 in an earlier attempt"),
        "{change}"
    );
}

/// The command's intent is recorded before it starts and its exit after; a time-out keeps the
/// outcome unknown (maybe applied).
#[tokio::test]
async fn the_intent_is_recorded_around_the_command() {
    let mut mock = MockProcessApi::new();
    let mut seq = Sequence::new();
    expect(&mut mock, &mut seq, "drain", Exit::exited(0, "", ""));
    expect(
        &mut mock,
        &mut seq,
        "drain",
        Exit::exited(0, "", "").with_ending(Ending::TimedOut),
    );
    let action = build(mock, json!({"command": ["drain"]}));
    let ctx = Context::new();
    action.execute(&ctx).await.unwrap();
    assert_eq!(ctx.intent().unwrap().get("exit_code"), Some(&json!(0)));
    let ctx = Context::new();
    let err = action.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.maybe_applied());
    assert!(err.message().contains("process group was killed"), "{err}");
    let intent = ctx.intent().unwrap();
    assert!(intent.get("exit_code").is_none(), "{intent:?}");
}

#[tokio::test]
async fn a_program_that_cannot_start_withdraws_the_intent() {
    let mut mock = MockProcessApi::new();
    mock.expect_run().returning(|_, _| {
        Err(drkit_core::ActionError::precondition(
            "`drain` could not be started",
        ))
    });
    let action = build(mock, json!({"command": ["drain"]}));
    let ctx = Context::new();
    assert!(action.execute(&ctx).await.is_err());
    assert!(ctx.intent().is_none());
}

#[tokio::test]
async fn a_read_only_command_is_refused_nothing_in_a_dry_run_and_says_it_does_not_mutate() {
    let mut probe = MockProcessApi::new();
    probe
        .expect_run()
        .returning(|_, _| Ok(Exit::exited(0, "reachable\n", "")));
    let action = build(probe, json!({"command": ["probe"], "mutates": false}));
    assert!(!action.mutates());
    let ctx = Context::new();
    let outputs = action.execute(&ctx).await.unwrap();
    assert_eq!(outputs.get_str("stdout"), Some("reachable\n"));
    assert!(
        ctx.intent().is_none(),
        "a read-only program journals no intent"
    );
    let action = build(MockProcessApi::new(), json!({"command": ["drain"]}));
    let err = action
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}
