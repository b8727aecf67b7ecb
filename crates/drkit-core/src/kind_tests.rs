use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use serde_json::json;

use super::*;
use crate::registry::{ActionSpec, BuildError, Registry};

/// A port that counts its calls and holds one number.
#[derive(Debug, Default)]
struct Counter {
    value: Mutex<u32>,
    writes: AtomicUsize,
}

impl Counter {
    fn get(&self) -> u32 {
        *self.value.lock().unwrap()
    }
    fn set(&self, v: u32) {
        self.writes.fetch_add(1, Ordering::SeqCst);
        *self.value.lock().unwrap() = v;
    }
}

/// The parameters of `demo.set`.
#[derive(Clone, Debug, Deserialize, crate::Params)]
#[serde(deny_unknown_fields)]
struct SetParams {
    /// The value to set.
    value: u32,
    /// Why, for the journal.
    #[allow(dead_code)]
    #[serde(default)]
    reason: Option<String>,
    /// How long to wait.
    #[allow(dead_code)]
    #[serde(default, with = "humantime_serde")]
    #[param(ty = "duration, e.g. \"5m\"")]
    wait: Option<std::time::Duration>,
}

#[derive(Debug, crate::HasBase)]
struct Set {
    base: Base<Self>,
}

impl ActionKind for Set {
    const KIND: &'static str = "demo.set";
    const SUMMARY: &'static str = "Set the counter";
    const MUTATES: bool = true;
    const IAM_ACTIONS: &'static [&'static str] = &["demo:Set", "demo:Get"];
    const OUTPUTS: &'static [OutputDoc] = &[OutputDoc::new("previous", "the value before")];
    type Params = SetParams;
    type Port = Counter;
    type Ports = PortFactory<Counter>;

    fn validate(params: &SetParams) -> Result<(), ParamError> {
        if params.value > 100 {
            return Err(ParamError::new("value", "must be at most 100"));
        }
        Ok(())
    }

    fn build(step: StepSpec<SetParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        Ok(Self {
            base: step.into_base(Resource::new("demo", "counter", "c"), ports),
        })
    }
}

#[async_trait]
impl Act for Set {
    async fn inspect(&self, _: &Context) -> Result<Check, ActionError> {
        Ok(if self.base.port.get() == self.base.params.value {
            Check::done("already set")
        } else {
            Check::ready("set it")
        })
    }
    async fn apply(&self, _: &Context) -> Result<Outputs, ActionError> {
        let previous = self.base.port.get();
        if self.base.params.value == 13 {
            return Err(ActionError::precondition("unlucky"));
        }
        self.base.port.set(self.base.params.value);
        Ok(Outputs::new().with("previous", previous))
    }
    async fn confirm(&self, _: &Context) -> Result<String, ActionError> {
        Ok("set".into())
    }
}

/// The parameters of `demo.read`.
#[derive(Clone, Debug, Deserialize, crate::Params)]
#[serde(deny_unknown_fields)]
struct ReadParams {
    /// The largest acceptable value.
    max: u32,
}

#[derive(Debug, crate::HasBase)]
struct Read {
    base: Base<Self>,
}

impl ActionKind for Read {
    const KIND: &'static str = "demo.read";
    const SUMMARY: &'static str = "Read the counter";
    const MUTATES: bool = false;
    const IAM_ACTIONS: &'static [&'static str] = &["demo:Get"];
    const OUTPUTS: &'static [OutputDoc] = &[OutputDoc::new("value", "the value")];
    type Params = ReadParams;
    type Port = Counter;
    type Ports = PortFactory<Counter>;

    fn build(step: StepSpec<ReadParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
        Ok(Self {
            base: step.into_base(Resource::new("demo", "counter", "c"), ports),
        })
    }
}

#[async_trait]
impl Probe for Read {
    async fn evaluate(&self, _: &Context) -> Result<Finding, ActionError> {
        let value = self.base.port.get();
        if value == 99 {
            return Err(ActionError::new(ErrorKind::NotFound, "no counter"));
        }
        let outputs = Outputs::new().with("value", value);
        Ok(if value <= self.base.params.max {
            Finding::pass(format!("{value} is fine"), outputs)
        } else if value == 50 {
            Finding::fail("too much data lost", outputs.with("rpo_seconds", 50))
        } else {
            Finding::fail(format!("{value} is too high"), outputs)
        })
    }
}

fn registry(counter: &Arc<Counter>) -> Registry {
    let mut registry = Registry::new();
    let ports = PortFactory::fixed(Arc::clone(counter));
    registry.register::<Set>(ports.clone()).unwrap();
    registry.register::<Read>(ports).unwrap();
    registry
}

#[test]
fn the_descriptor_is_derived_from_the_type_and_the_params_doc_comments() {
    let registry = registry(&Arc::default());
    let d = registry.descriptor("demo.set").unwrap();
    assert_eq!(d, &Set::DESCRIPTOR);
    assert_eq!(d.summary, "Set the counter");
    assert!(d.mutates);
    assert_eq!(d.iam_actions, ["demo:Set", "demo:Get"]);
    assert_eq!(d.outputs[0].name, "previous");
    let params: Vec<_> = d
        .params
        .iter()
        .map(|p| (p.name, p.ty, p.required, p.doc))
        .collect();
    assert_eq!(
        params,
        [
            ("value", "integer", true, "The value to set"),
            ("reason", "string", false, "Why, for the journal"),
            ("wait", "duration, e.g. \"5m\"", false, "How long to wait"),
        ]
    );
    assert!(!registry.descriptor("demo.read").unwrap().mutates);
}

#[test]
fn a_kind_registered_by_type_is_built_from_a_table_or_from_typed_params() {
    let counter = Arc::new(Counter::default());
    let registry = registry(&counter);
    let from_table = registry
        .build(&ActionSpec::new("s", "demo.set", json!({"value": 3})).in_region("eu-west-1"))
        .unwrap();
    assert_eq!(from_table.kind(), "demo.set");
    assert_eq!(from_table.id(), "s");
    assert_eq!(from_table.target().to_string(), "demo:counter/c@eu-west-1");
    assert!(from_table.mutates());

    let typed = registry
        .typed::<Set>(
            "t",
            SetParams {
                value: 4,
                reason: None,
                wait: None,
            },
        )
        .unwrap();
    assert_eq!(typed.id(), "t");
    assert_eq!(typed.target().region, None);
    let typed = registry
        .typed_in::<Read>("r", ReadParams { max: 1 }, "us-west-2")
        .unwrap();
    assert_eq!(typed.target().to_string(), "demo:counter/c@us-west-2");
}

#[test]
fn validation_names_the_parameter_on_both_paths() {
    let registry = registry(&Arc::default());
    let err = registry
        .build(&ActionSpec::new("s", "demo.set", json!({"value": 101})))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "step `s` (demo.set): parameter `value`: must be at most 100"
    );
    let err = registry
        .typed::<Set>(
            "s",
            SetParams {
                value: 101,
                reason: None,
                wait: None,
            },
        )
        .unwrap_err();
    assert!(matches!(err, BuildError::InvalidParams { param: Some(ref p), .. } if p == "value"));
    let err = registry
        .build(&ActionSpec::new("s", "demo.set", json!({"valeu": 1})))
        .unwrap_err();
    assert!(err.to_string().contains("unknown field `valeu`"), "{err}");
}

#[test]
fn typed_needs_the_kind_registered() {
    let registry = Registry::new();
    let err = registry
        .typed::<Read>("r", ReadParams { max: 1 })
        .unwrap_err();
    assert_eq!(err.to_string(), "step `r`: unknown action `demo.read`");
}

#[tokio::test]
async fn execute_refuses_a_dry_run_before_the_kinds_code_and_errors_carry_the_action() {
    let counter = Arc::new(Counter::default());
    let registry = registry(&counter);
    let set = registry
        .build(&ActionSpec::new("s", "demo.set", json!({"value": 7})))
        .unwrap();
    let err = set
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.step(), Some("s"));
    assert_eq!(
        counter.writes.load(Ordering::SeqCst),
        0,
        "no write in a dry run"
    );

    let out = set.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("previous"), Some(&json!(0)));
    assert!(set.check(&Context::new()).await.unwrap().is_done());
    assert_eq!(counter.writes.load(Ordering::SeqCst), 1);

    let unlucky = registry
        .build(&ActionSpec::new("u", "demo.set", json!({"value": 13})))
        .unwrap();
    let err = unlucky.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.action(), Some("demo.set"));
    assert_eq!(err.step(), Some("u"));
    assert_eq!(err.resource(), Some("demo:counter/c"));

    assert!(!set.supports_rollback());
    let err = set.rollback(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(err.step(), Some("s"));
}

#[tokio::test]
async fn a_probe_maps_one_evaluation_to_check_execute_and_verify() {
    let counter = Arc::new(Counter::default());
    let registry = registry(&counter);
    let read = registry
        .build(&ActionSpec::new("r", "demo.read", json!({"max": 10})))
        .unwrap();
    let ctx = Context::new().with_dry_run(true);

    counter.set(5);
    let Check::Done { detail, outputs } = read.check(&ctx).await.unwrap() else {
        panic!("a passing probe is done")
    };
    assert_eq!(detail, "5 is fine");
    assert_eq!(outputs.get("value"), Some(&json!(5)));
    // A read-only kind runs in a dry run.
    assert_eq!(read.execute(&ctx).await.unwrap(), outputs);
    assert_eq!(read.verify(&ctx).await.unwrap(), "5 is fine");

    counter.set(20);
    assert_eq!(
        read.check(&ctx).await.unwrap(),
        Check::blocked("20 is too high")
    );
    let err = read.execute(&ctx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
    assert_eq!(err.step(), Some("r"));
    assert_eq!(err.outputs().unwrap().get("value"), Some(&json!(20)));
    assert!(read.verify(&ctx).await.is_err());

    // A failed data-loss measurement fails the check, carrying its numbers.
    counter.set(50);
    let err = read.check(&ctx).await.unwrap_err();
    assert_eq!(err.outputs().unwrap().get("rpo_seconds"), Some(&json!(50)));

    // A missing resource blocks the check; execute reports it as it is.
    counter.set(99);
    assert_eq!(
        read.check(&ctx).await.unwrap(),
        Check::blocked("no counter")
    );
    assert_eq!(
        read.execute(&ctx).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn debug_shows_the_kind_id_and_params() {
    let registry = registry(&Arc::default());
    let action = registry
        .build(&ActionSpec::new("s", "demo.set", json!({"value": 7})))
        .unwrap();
    let text = format!("{action:?}");
    assert!(
        text.contains("demo.set") && text.contains("value: 7"),
        "{text}"
    );
}
