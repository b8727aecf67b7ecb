use std::sync::Arc;

use drkit_core::registry::{ActionDescriptor, ActionSpec, Registry};
use drkit_core::{ActionRef, Outputs};
use drkit_runner::{OutputRef, Plan, PlanProblem, Runner, Step};

use crate::common::{Fake, Log, action};

fn step(id: &str, log: &Log) -> Step {
    Step::new(action(&Fake::new(id, log).arc()))
}

#[test]
fn a_valid_plan_is_ordered_and_fingerprinted() {
    let log = Log::default();
    let plan = Plan::new(
        "p",
        vec![
            step("c", &log).depends_on(["b"]),
            step("a", &log),
            step("b", &log).depends_on(["a"]),
        ],
    )
    .unwrap();
    let order: Vec<&str> = plan.topological_order().collect();
    assert_eq!(order, ["a", "b", "c"]);
    assert_eq!(plan.len(), 3);
    assert_eq!(plan.fingerprint().len(), 16);
    let same = Plan::new(
        "p",
        vec![
            step("c", &log).depends_on(["b"]),
            step("a", &log),
            step("b", &log).depends_on(["a"]),
        ],
    )
    .unwrap();
    assert_eq!(plan.fingerprint(), same.fingerprint());
    let other = Plan::new("p", vec![step("a", &log), step("b", &log)]).unwrap();
    assert_ne!(plan.fingerprint(), other.fingerprint());
}

#[test]
fn every_problem_is_reported_at_once_naming_the_steps() {
    let log = Log::default();
    let err = Plan::new(
        "broken",
        vec![
            step("a", &log),
            step("a", &log),
            step("b", &log).depends_on(["nope"]),
            step("x", &log).depends_on(["z"]),
            step("y", &log).depends_on(["x"]),
            step("z", &log).depends_on(["y"]),
        ],
    )
    .unwrap_err();
    assert_eq!(
        err.problems,
        [
            PlanProblem::DuplicateId { id: "a".into() },
            PlanProblem::UnknownDependency {
                step: "b".into(),
                dependency: "nope".into()
            },
            PlanProblem::Cycle {
                steps: vec!["x".into(), "y".into(), "z".into()]
            },
        ]
    );
    let text = err.to_string();
    assert!(text.starts_with("plan `broken` is invalid: "), "{text}");
    assert!(
        text.contains("step id `a` is used more than once"),
        "{text}"
    );
    assert!(
        text.contains("step `b` depends on `nope`, which is not in the plan"),
        "{text}"
    );
    assert!(
        text.contains("steps `x`, `y`, `z` depend on each other in a cycle"),
        "{text}"
    );
}

#[test]
fn a_self_dependency_is_a_cycle_and_an_empty_plan_is_refused() {
    let log = Log::default();
    let err = Plan::new("p", vec![step("a", &log).depends_on(["a"])]).unwrap_err();
    assert_eq!(
        err.problems,
        [PlanProblem::Cycle {
            steps: vec!["a".into()]
        }]
    );
    let err = Plan::new("p", vec![]).unwrap_err();
    assert_eq!(err.problems, [PlanProblem::Empty]);
}

fn deferred(id: &str, uses: Vec<OutputRef>, log: &Log) -> Step {
    let log = log.clone();
    let id2 = id.to_owned();
    Step::deferred(id, "demo", uses, move |_| {
        Ok(action(&Fake::new(&id2, &log).arc()))
    })
}

#[test]
fn a_reference_must_name_an_ancestor() {
    let log = Log::default();
    // `use` references `sibling`, which runs independently, and `later`, which depends on it.
    let err = Plan::new(
        "p",
        vec![
            step("root", &log),
            step("sibling", &log).depends_on(["root"]),
            deferred(
                "use",
                vec![
                    OutputRef::new("root", "arn"),
                    OutputRef::new("sibling", "x"),
                    OutputRef::new("later", "y"),
                    OutputRef::new("ghost", "z"),
                ],
                &log,
            )
            .depends_on(["root"]),
            step("later", &log).depends_on(["use"]),
        ],
    )
    .unwrap_err();
    assert_eq!(
        err.problems,
        [
            PlanProblem::NotAnAncestor {
                step: "use".into(),
                reference: "${steps.sibling.outputs.x}".into()
            },
            PlanProblem::NotAnAncestor {
                step: "use".into(),
                reference: "${steps.later.outputs.y}".into()
            },
            PlanProblem::UnknownReference {
                step: "use".into(),
                reference: "${steps.ghost.outputs.z}".into()
            },
        ]
    );
    assert!(err.to_string().contains("does not run before it"), "{err}");
    // A transitive ancestor is fine.
    Plan::new(
        "p",
        vec![
            step("root", &log),
            step("mid", &log).depends_on(["root"]),
            deferred("use", vec![OutputRef::new("root", "arn")], &log).depends_on(["mid"]),
        ],
    )
    .unwrap();
}

/// An action that records the parameters it was built with.
fn registry(built: Arc<std::sync::Mutex<Vec<serde_json::Value>>>, log: &Log) -> Arc<Registry> {
    const DESC: ActionDescriptor = ActionDescriptor {
        kind: "acm.use_certificate",
        summary: "uses a certificate",
        mutates: true,
        iam_actions: &[],
        params: &[],
        outputs: &[],
    };
    let log = log.clone();
    let mut reg = Registry::new();
    reg.register_fn(DESC, move |spec| {
        built.lock().unwrap().push(spec.params.clone());
        Ok(action(&Fake::new(&spec.id, &log).service("acm").arc()) as ActionRef)
    })
    .unwrap();
    Arc::new(reg)
}

#[tokio::test(start_paused = true)]
async fn spec_parameters_get_earlier_outputs_when_the_step_runs() {
    let log = Log::default();
    let built = Arc::new(std::sync::Mutex::new(Vec::new()));
    let reg = registry(Arc::clone(&built), &log);
    let request = Fake::new("request", &log)
        .output("arn", "arn:aws:acm:us-east-1:1:certificate/abc")
        .output("ttl", 300)
        .arc();
    let spec = ActionSpec::new(
        "attach",
        "acm.use_certificate",
        serde_json::json!({
            "certificate": "${steps.request.outputs.arn}",
            "ttl": "${steps.request.outputs.ttl}",
            "note": "cert ${steps.request.outputs.arn} for 1 day"
        }),
    );
    let attach = Step::from_spec(Arc::clone(&reg), spec).depends_on(["request"]);
    assert_eq!(attach.service(), "acm");
    assert_eq!(
        attach.uses(),
        [
            OutputRef::new("request", "arn"),
            OutputRef::new("request", "ttl")
        ]
    );
    let plan = Plan::new("certs", vec![Step::new(action(&request)), attach]).unwrap();
    assert!(built.lock().unwrap().is_empty(), "built before the run");
    let report = Runner::new().run(&plan).await.unwrap();
    assert!(report.is_success());
    let params = built.lock().unwrap().clone();
    assert_eq!(
        params,
        [serde_json::json!({
            "certificate": "arn:aws:acm:us-east-1:1:certificate/abc",
            "ttl": 300,
            "note": "cert arn:aws:acm:us-east-1:1:certificate/abc for 1 day"
        })]
    );
    assert_eq!(log.count("end:attach"), 1);
}

#[test]
fn a_spec_reference_to_a_non_ancestor_or_a_malformed_one_is_refused() {
    let log = Log::default();
    let reg = registry(Arc::default(), &log);
    let spec = ActionSpec::new(
        "attach",
        "acm.use_certificate",
        serde_json::json!({"certificate": "${steps.request.outputs.arn}", "x": "${step.request}"}),
    );
    let err = Plan::new(
        "certs",
        vec![step("request", &log), Step::from_spec(reg, spec)],
    )
    .unwrap_err();
    assert_eq!(
        err.problems,
        [
            PlanProblem::MalformedReference {
                step: "attach".into(),
                text: "${step.request}".into()
            },
            PlanProblem::NotAnAncestor {
                step: "attach".into(),
                reference: "${steps.request.outputs.arn}".into()
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_missing_output_fails_the_step_naming_it() {
    let log = Log::default();
    let request = Fake::new("request", &log).arc();
    let uses = Step::deferred(
        "use",
        "demo",
        [OutputRef::new("request", "arn")],
        |inputs| {
            let arn = inputs.get(&OutputRef::new("request", "arn"))?;
            panic!("unexpected {arn}")
        },
    )
    .depends_on(["request"]);
    let plan = Plan::new("p", vec![Step::new(action(&request)), uses]).unwrap();
    let report = crate::common::failed_report(Runner::new().run(&plan).await);
    let step = report.step("use").unwrap();
    assert!(
        step.error
            .as_deref()
            .unwrap()
            .contains("step `use` uses ${steps.request.outputs.arn}, but step `request` produced no output `arn`"),
        "{:?}",
        step.error
    );
    let _ = Outputs::new();
}
