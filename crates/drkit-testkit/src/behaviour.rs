//! One behaviour suite for every action kind, as opendal runs one suite against every service.
//!
//! A provider describes each kind once — a step in runbook form, the parameters that must be
//! refused, and a [`World`] the step acts on (an in-memory fake of its port, or moto) — and
//! [`mutating`] or [`read_only`] asserts what every kind must do:
//!
//! 1. a bad parameter is refused when the step is built, naming the parameter;
//! 2. a dry run sends no mutating call: `check` answers, `execute` is refused, the world is
//!    unchanged;
//! 3. `execute` changes the world, its outputs are among the declared ones (`drkit actions`),
//!    then `check` says `Done` and `verify` holds;
//! 4. for a kind with a rollback: the instance that ran undoes its change (the world is as
//!    before), and so does a *new* instance given only the step's recorded outputs, as after a
//!    resume in another process;
//! 5. for a read-only kind: `check`, `execute` and `verify` agree, the outputs are declared,
//!    and the world received no mutating call.
//!
//! ```no_run
//! # async fn demo(registry: drkit_core::registry::Registry, world: &dyn drkit_testkit::behaviour::World) {
//! use drkit_testkit::behaviour::{Case, mutating};
//! use serde_json::json;
//!
//! let case = Case::new(registry, "rds.failover_db_cluster", json!({"cluster": "mint"}))
//!     .refuses(json!({"cluster": "1bad"}), "cluster");
//! mutating(&case, world).await;
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionRef, Check, Context, Outputs};
use serde_json::Value;

/// What a kind acts on, seen from outside: the state its change touches, and how many
/// mutating calls reached it.
#[drkit_core::async_trait]
pub trait World: Send + Sync {
    /// The state the kind changes, to compare before and after (e.g. the writer of a cluster).
    async fn state(&self) -> Value;

    /// How many mutating calls the world has received so far.
    fn mutations(&self) -> usize;
}

/// One kind's step and the parameters it must refuse.
#[derive(Debug)]
pub struct Case {
    registry: Registry,
    spec: ActionSpec,
    refused: Vec<(Value, String)>,
}

impl Case {
    /// Step `kind` with `params` (its runbook table), built by `registry`.
    pub fn new(registry: Registry, kind: &str, params: Value) -> Self {
        let id = kind.replace(['.', '_'], "-");
        Self {
            registry,
            spec: ActionSpec::new(id, kind, params),
            refused: Vec::new(),
        }
    }

    /// The step runs in `region`.
    #[must_use]
    pub fn in_region(mut self, region: &str) -> Self {
        self.spec = self.spec.in_region(region);
        self
    }

    /// `params` must be refused at build time, with an error naming `param`.
    #[must_use]
    pub fn refuses(mut self, params: Value, param: &str) -> Self {
        self.refused.push((params, param.to_owned()));
        self
    }

    fn build(&self) -> ActionRef {
        match self.registry.build(&self.spec) {
            Ok(action) => action,
            Err(e) => panic!("{}: the step does not build: {e}", self.spec.kind),
        }
    }

    fn kind(&self) -> &str {
        &self.spec.kind
    }

    /// Bad parameters are refused, naming the parameter.
    fn assert_refusals(&self) {
        for (params, param) in &self.refused {
            let spec = ActionSpec {
                params: params.clone(),
                ..self.spec.clone()
            };
            match self.registry.build(&spec) {
                Ok(_) => panic!("{}: {params} was accepted", self.kind()),
                Err(e) => assert!(
                    e.to_string().contains(&format!("`{param}`")),
                    "{}: the error for {params} does not name `{param}`: {e}",
                    self.kind()
                ),
            }
        }
    }

    /// The outputs are among the ones the kind declares. A kind whose outputs are named by its
    /// parameters (a custom step's `<field>`) declares a `<placeholder>`: any other name is
    /// then its own.
    fn assert_declared(&self, outputs: &Outputs) {
        let declared: Vec<&str> = self
            .registry
            .descriptor(self.kind())
            .map(|d| d.outputs.iter().map(|o| o.name).collect())
            .unwrap_or_default();
        let open_ended = declared.iter().any(|n| n.starts_with('<'));
        for (name, _) in outputs.iter() {
            assert!(
                open_ended || declared.contains(&name),
                "{}: output `{name}` is not declared (declared: {declared:?})",
                self.kind()
            );
        }
    }
}

/// The suite for a mutating kind (see the module docs). The world must be in a state where
/// the step is ready to run.
pub async fn mutating(case: &Case, world: &dyn World) {
    let kind = case.kind();
    case.assert_refusals();
    let action = case.build();
    assert!(action.mutates(), "{kind}: declared as mutating");

    // A dry run: check only, execute refused, nothing sent.
    let before = world.state().await;
    let calls = world.mutations();
    let dry = Context::new().with_dry_run(true);
    let check = action.check(&dry).await;
    assert!(
        matches!(check, Ok(Check::Ready { .. })),
        "{kind}: the step should be ready: {check:?}"
    );
    assert!(
        action.execute(&dry).await.is_err(),
        "{kind}: execute must be refused in a dry run"
    );
    assert_eq!(
        world.mutations(),
        calls,
        "{kind}: a dry run sent a mutating call"
    );
    assert_eq!(
        world.state().await,
        before,
        "{kind}: a dry run changed the world"
    );

    // Execute, then check says done and verify holds.
    let ctx = Context::new();
    let outputs = match action.execute(&ctx).await {
        Ok(outputs) => outputs,
        Err(e) => panic!("{kind}: execute failed: {e}"),
    };
    case.assert_declared(&outputs);
    assert!(
        world.mutations() > calls,
        "{kind}: execute sent no mutating call"
    );
    assert_ne!(
        world.state().await,
        before,
        "{kind}: execute changed nothing"
    );
    let check = action.check(&ctx).await;
    assert!(
        matches!(check, Ok(Check::Done { .. })),
        "{kind}: check after execute should say done: {check:?}"
    );
    if let Err(e) = action.verify(&ctx).await {
        panic!("{kind}: verify after execute failed: {e}");
    }

    if !action.supports_rollback() {
        return;
    }
    // The instance that ran undoes its change.
    if let Err(e) = action.rollback(&ctx).await {
        panic!("{kind}: rollback failed: {e}");
    }
    assert_eq!(
        world.state().await,
        before,
        "{kind}: rollback did not restore the world"
    );

    // After a resume: a new instance undoes the change from the recorded outputs alone.
    let first = case.build();
    let outputs = match first.execute(&ctx).await {
        Ok(outputs) => outputs,
        Err(e) => panic!("{kind}: execute (again, after the rollback) failed: {e}"),
    };
    let resumed = case.build();
    let recorded =
        Context::new().with_outputs(Arc::new(BTreeMap::from([(case.spec.id.clone(), outputs)])));
    if let Err(e) = resumed.rollback(&recorded).await {
        panic!("{kind}: rollback from the recorded outputs failed: {e}");
    }
    assert_eq!(
        world.state().await,
        before,
        "{kind}: rollback from the recorded outputs did not restore the world"
    );
}

/// The suite for a read-only kind (see the module docs). The world must be in a state where
/// the probe holds.
pub async fn read_only(case: &Case, world: &dyn World) {
    let kind = case.kind();
    case.assert_refusals();
    let action = case.build();
    assert!(!action.mutates(), "{kind}: declared as read-only");
    let calls = world.mutations();
    let before = world.state().await;
    let dry = Context::new().with_dry_run(true);
    let outputs = match action.check(&dry).await {
        Ok(Check::Done { outputs, .. }) => outputs,
        other => panic!("{kind}: a holding probe's check should say done: {other:?}"),
    };
    case.assert_declared(&outputs);
    match action.execute(&dry).await {
        // The values may move (a datapoint's age); the names may not.
        Ok(executed) => assert_eq!(
            executed.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            outputs.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            "{kind}: execute and check disagree"
        ),
        Err(e) => panic!("{kind}: a read-only execute failed: {e}"),
    }
    if let Err(e) = action.verify(&dry).await {
        panic!("{kind}: verify failed: {e}");
    }
    assert_eq!(
        world.mutations(),
        calls,
        "{kind}: a read-only kind sent a mutating call"
    );
    assert_eq!(
        world.state().await,
        before,
        "{kind}: a read-only kind changed the world"
    );
}
