//! Actions by kind name: a kind such as `rds.failover_db_cluster` plus a parameter table builds
//! an action. Each provider registers its own actions; the runbook file and the CLI stand on this.
//!
//! ```
//! use std::sync::Arc;
//! use drkit_core::registry::{ActionDescriptor, ActionSpec, ParamDoc, Registry, decode_params};
//! # use drkit_core::{ActionRef, RecoveryAction};
//! # fn build_it(_: &ActionSpec, _: Params) -> ActionRef { unimplemented!() }
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Params { cluster: String }
//!
//! const DESCRIPTOR: ActionDescriptor = ActionDescriptor {
//!     kind: "demo.touch",
//!     summary: "Touches a cluster",
//!     mutates: true,
//!     iam_actions: &["demo:Touch"],
//!     params: &[ParamDoc::required("cluster", "string", "the cluster")],
//!     outputs: &[],
//! };
//!
//! let mut registry = Registry::new();
//! registry
//!     .register_fn(DESCRIPTOR, |spec| Ok(build_it(spec, decode_params(spec)?)))
//!     .unwrap();
//! let spec = ActionSpec::new("touch", "demo.tuoch", serde_json::json!({"cluster": "c"}));
//! let err = registry.build(&spec).unwrap_err();
//! assert!(err.to_string().contains("did you mean `demo.touch`"));
//! ```

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::kind::{ActionKind, StepSpec};
use crate::{ActionRef, RecoveryAction};

/// What is needed to build one action: the step id, the kind, its parameters, and the region
/// the step runs in (when the provider has regions).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionSpec {
    /// The step id (e.g. `failover-db`).
    pub id: String,
    /// The action kind (e.g. `rds.failover_db_cluster`).
    pub kind: String,
    /// The parameter table.
    pub params: Value,
    /// The region the step runs in, if given.
    pub region: Option<String>,
}

impl ActionSpec {
    /// A spec without a region.
    pub fn new(id: impl Into<String>, kind: impl Into<String>, params: Value) -> Self {
        Self {
            id: id.into(),
            kind: kind.into(),
            params,
            region: None,
        }
    }

    /// The same spec in `region`.
    #[must_use]
    pub fn in_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }
}

/// One parameter of an action, for `drkit actions` and the docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ParamDoc {
    /// The parameter name.
    pub name: &'static str,
    /// Its type in words (`string`, `integer`, `duration`, ...).
    pub ty: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// What it means.
    pub doc: &'static str,
}

impl ParamDoc {
    /// A required parameter.
    pub const fn required(name: &'static str, ty: &'static str, doc: &'static str) -> Self {
        Self {
            name,
            ty,
            required: true,
            doc,
        }
    }

    /// An optional parameter.
    pub const fn optional(name: &'static str, ty: &'static str, doc: &'static str) -> Self {
        Self {
            name,
            ty,
            required: false,
            doc,
        }
    }
}

/// One output of an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OutputDoc {
    /// The output name.
    pub name: &'static str,
    /// What it holds.
    pub doc: &'static str,
}

impl OutputDoc {
    /// An output `name` holding `doc`.
    pub const fn new(name: &'static str, doc: &'static str) -> Self {
        Self { name, doc }
    }
}

/// A parameter struct: what a step's parameter table decodes into, documented.
///
/// Derive it with `#[derive(Params)]` (from `drkit-derive`, re-exported as
/// `drkit_core::Params`): the docs come from the struct's fields and doc comments, so they are
/// written once.
pub trait Params: DeserializeOwned + fmt::Debug + Send + Sync + 'static {
    /// One entry per parameter, in declaration order.
    const DOCS: &'static [ParamDoc];
}

/// A parameter that is wrong beyond its type (a bad identifier, two parameters that exclude
/// each other): which one, and why. The registry turns it into a [`BuildError`] naming the
/// step and the kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", param_prefix(.param))]
pub struct ParamError {
    /// The parameter, when one is to blame.
    pub param: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ParamError {
    /// `param` is wrong: `message`.
    pub fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            param: Some(param.into()),
            message: message.into(),
        }
    }

    /// The parameters together are wrong (e.g. "give exactly one of `a` and `b`").
    pub fn general(message: impl Into<String>) -> Self {
        Self {
            param: None,
            message: message.into(),
        }
    }

    /// The build error for step `step` of kind `kind`.
    pub fn for_step(self, step: &str, kind: &str) -> BuildError {
        BuildError::InvalidParams {
            step: step.to_owned(),
            kind: kind.to_owned(),
            param: self.param,
            message: self.message,
        }
    }
}

/// What an action kind is: its name, what it does, its parameters, outputs and IAM actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ActionDescriptor {
    /// The kind name, `<service>.<operation>`.
    pub kind: &'static str,
    /// One line saying what it does.
    pub summary: &'static str,
    /// Whether it changes anything.
    pub mutates: bool,
    /// The IAM actions it needs.
    pub iam_actions: &'static [&'static str],
    /// Its parameters.
    pub params: &'static [ParamDoc],
    /// Its outputs.
    pub outputs: &'static [OutputDoc],
}

/// Why an action could not be built. Each variant names the step and, where it applies, the
/// parameter and what was expected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// No action is registered under that kind.
    #[error("step `{step}`: unknown action `{kind}`{}", suggestion(.suggestions))]
    UnknownKind {
        /// The step.
        step: String,
        /// The kind asked for.
        kind: String,
        /// Registered kinds with a close name, best first.
        suggestions: Vec<String>,
    },
    /// A parameter is missing, unknown, of the wrong type, or out of range.
    #[error("step `{step}` ({kind}): {}{message}", param_prefix(.param))]
    InvalidParams {
        /// The step.
        step: String,
        /// The action kind.
        kind: String,
        /// The parameter's path (e.g. `changes[2].ttl`), when known.
        param: Option<String>,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The action needs something the provider was not given (e.g. a region).
    #[error("step `{step}` ({kind}): {message}")]
    Provider {
        /// The step.
        step: String,
        /// The action kind.
        kind: String,
        /// What is missing.
        message: String,
    },
}

fn suggestion(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        many => format!(
            "; did you mean one of {}?",
            many.iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn param_prefix(param: &Option<String>) -> String {
    match param {
        Some(p) => format!("parameter `{p}`: "),
        None => String::new(),
    }
}

impl BuildError {
    /// An invalid-parameter error for `spec`.
    pub fn invalid(spec: &ActionSpec, param: Option<&str>, message: impl Into<String>) -> Self {
        Self::InvalidParams {
            step: spec.id.clone(),
            kind: spec.kind.clone(),
            param: param.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// Decodes `spec.params` into `T`, naming the offending parameter on error. `T` should use
/// `#[serde(deny_unknown_fields)]` so a misspelt parameter is refused, not ignored.
pub fn decode_params<T: DeserializeOwned>(spec: &ActionSpec) -> Result<T, BuildError> {
    serde_path_to_error::deserialize(&spec.params).map_err(|err| {
        let path = err.path().to_string();
        let param = (path != ".").then_some(path);
        BuildError::invalid(spec, param.as_deref(), err.into_inner().to_string())
    })
}

/// Builds actions of one kind.
pub trait ActionFactory: Send + Sync {
    /// What this kind is.
    fn descriptor(&self) -> &ActionDescriptor;
    /// Builds an action from `spec` (whose kind is this factory's).
    fn build(&self, spec: &ActionSpec) -> Result<ActionRef, BuildError>;
    /// The factory as `Any`, for [`Registry::typed`] (only the typed factory has one).
    fn as_any(&self) -> Option<&dyn Any> {
        None
    }
}

/// The factory of a kind registered by type ([`Registry::register`]).
struct KindFactory<K: ActionKind> {
    descriptor: ActionDescriptor,
    ports: K::Ports,
}

impl<K: ActionKind> KindFactory<K> {
    fn build_typed(&self, step: StepSpec<K::Params>) -> Result<K, BuildError> {
        let id = step.id.clone();
        K::validate(&step.params).map_err(|e| e.for_step(&id, K::KIND))?;
        K::build(step, &self.ports).map_err(|e| e.for_step(&id, K::KIND))
    }
}

impl<K: ActionKind + RecoveryAction> ActionFactory for KindFactory<K> {
    fn descriptor(&self) -> &ActionDescriptor {
        &self.descriptor
    }

    fn build(&self, spec: &ActionSpec) -> Result<ActionRef, BuildError> {
        let params: K::Params = decode_params(spec)?;
        let step = StepSpec::new(spec.id.clone(), params).in_region(spec.region.clone());
        Ok(Arc::new(self.build_typed(step)?))
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

type BuildFn = dyn Fn(&ActionSpec) -> Result<ActionRef, BuildError> + Send + Sync;

struct FnFactory {
    descriptor: ActionDescriptor,
    build: Box<BuildFn>,
}

impl ActionFactory for FnFactory {
    fn descriptor(&self) -> &ActionDescriptor {
        &self.descriptor
    }
    fn build(&self, spec: &ActionSpec) -> Result<ActionRef, BuildError> {
        (self.build)(spec)
    }
}

/// A kind was registered twice.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("action kind `{0}` is already registered")]
pub struct DuplicateKind(pub String);

/// The action kinds known to a program, each with its factory.
#[derive(Default, Clone)]
pub struct Registry {
    factories: BTreeMap<&'static str, Arc<dyn ActionFactory>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("kinds", &self.factories.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a factory under its descriptor's kind.
    pub fn register_factory(
        &mut self,
        factory: impl ActionFactory + 'static,
    ) -> Result<(), DuplicateKind> {
        let kind = factory.descriptor().kind;
        if self.factories.contains_key(kind) {
            return Err(DuplicateKind(kind.to_owned()));
        }
        self.factories.insert(kind, Arc::new(factory));
        Ok(())
    }

    /// Registers the action kind `K`, built with `ports` (the real SDK adapters, or the
    /// embedder's mocks). Its descriptor is derived from the type.
    pub fn register<K: ActionKind + RecoveryAction>(
        &mut self,
        ports: K::Ports,
    ) -> Result<(), DuplicateKind> {
        self.register_factory(KindFactory::<K> {
            descriptor: K::DESCRIPTOR,
            ports,
        })
    }

    /// Builds step `id` of kind `K` from its typed parameters, in the default region: the
    /// Rust program's path (a runbook's is [`build`](Self::build)). Validates the parameters
    /// as a runbook's are.
    pub fn typed<K: ActionKind + RecoveryAction>(
        &self,
        id: impl Into<String>,
        params: K::Params,
    ) -> Result<ActionRef, BuildError> {
        self.typed_step::<K>(StepSpec::new(id, params))
    }

    /// [`typed`](Self::typed) for a step in `region`.
    pub fn typed_in<K: ActionKind + RecoveryAction>(
        &self,
        id: impl Into<String>,
        params: K::Params,
        region: impl Into<String>,
    ) -> Result<ActionRef, BuildError> {
        self.typed_step::<K>(StepSpec::new(id, params).in_region(Some(region)))
    }

    /// The concrete action of kind `K` for `step` (e.g. to call its own methods in a test).
    pub fn typed_step<K: ActionKind + RecoveryAction>(
        &self,
        step: StepSpec<K::Params>,
    ) -> Result<ActionRef, BuildError> {
        Ok(Arc::new(self.build_kind::<K>(step)?))
    }

    /// The concrete action of kind `K` for `step`, not type-erased.
    pub fn build_kind<K: ActionKind + RecoveryAction>(
        &self,
        step: StepSpec<K::Params>,
    ) -> Result<K, BuildError> {
        let factory = self
            .factories
            .get(K::KIND)
            .and_then(|f| f.as_any())
            .and_then(|f| f.downcast_ref::<KindFactory<K>>())
            .ok_or_else(|| BuildError::UnknownKind {
                step: step.id.clone(),
                kind: K::KIND.to_owned(),
                suggestions: Vec::new(),
            })?;
        factory.build_typed(step)
    }

    /// Registers a closure as the factory of `descriptor.kind`.
    pub fn register_fn(
        &mut self,
        descriptor: ActionDescriptor,
        build: impl Fn(&ActionSpec) -> Result<ActionRef, BuildError> + Send + Sync + 'static,
    ) -> Result<(), DuplicateKind> {
        self.register_factory(FnFactory {
            descriptor,
            build: Box::new(build),
        })
    }

    /// Builds the action `spec` asks for.
    pub fn build(&self, spec: &ActionSpec) -> Result<ActionRef, BuildError> {
        match self.factories.get(spec.kind.as_str()) {
            Some(factory) => factory.build(spec),
            None => Err(BuildError::UnknownKind {
                step: spec.id.clone(),
                kind: spec.kind.clone(),
                suggestions: self.closest(&spec.kind),
            }),
        }
    }

    /// The descriptor of `kind`.
    pub fn descriptor(&self, kind: &str) -> Option<&ActionDescriptor> {
        self.factories.get(kind).map(|f| f.descriptor())
    }

    /// Every registered descriptor, by kind name.
    pub fn descriptors(&self) -> impl Iterator<Item = &ActionDescriptor> {
        self.factories.values().map(|f| f.descriptor())
    }

    /// Registered kinds whose names are close to `kind`, best first (at most three).
    pub fn closest(&self, kind: &str) -> Vec<String> {
        let mut scored: Vec<(f64, &str)> = self
            .factories
            .keys()
            .map(|known| (strsim::jaro_winkler(kind, known), *known))
            .filter(|(score, _)| *score >= 0.8)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored
            .into_iter()
            .take(3)
            .map(|(_, k)| k.to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;
    use serde::Deserialize;

    use super::*;
    use crate::{ActionError, Check, Context, Outputs, RecoveryAction, Resource};

    #[derive(Debug)]
    struct Touch {
        id: String,
        target: Resource,
    }

    #[async_trait]
    impl RecoveryAction for Touch {
        fn id(&self) -> &str {
            &self.id
        }
        fn kind(&self) -> &'static str {
            "demo.touch"
        }
        fn target(&self) -> &Resource {
            &self.target
        }
        fn mutates(&self) -> bool {
            true
        }
        fn iam_actions(&self) -> &'static [&'static str] {
            &["demo:Touch"]
        }
        async fn check(&self, _: &Context) -> Result<Check, ActionError> {
            Ok(Check::ready("touch"))
        }
        async fn execute(&self, _: &Context) -> Result<Outputs, ActionError> {
            Ok(Outputs::new())
        }
        async fn verify(&self, _: &Context) -> Result<String, ActionError> {
            Ok("touched".into())
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TouchParams {
        cluster: String,
        #[serde(default)]
        #[allow(dead_code)]
        count: Option<u32>,
    }

    const TOUCH: ActionDescriptor = ActionDescriptor {
        kind: "demo.touch",
        summary: "touch",
        mutates: true,
        iam_actions: &["demo:Touch"],
        params: &[ParamDoc::required("cluster", "string", "the cluster")],
        outputs: &[],
    };

    fn registry() -> Registry {
        let mut registry = Registry::new();
        registry
            .register_fn(TOUCH, |spec| {
                let p: TouchParams = decode_params(spec)?;
                Ok(Arc::new(Touch {
                    id: spec.id.clone(),
                    target: Resource::new("demo", "cluster", p.cluster),
                }) as ActionRef)
            })
            .unwrap();
        registry
    }

    #[test]
    fn builds_a_registered_kind() {
        let spec = ActionSpec::new("t1", "demo.touch", serde_json::json!({"cluster": "c1"}));
        let action = registry().build(&spec).unwrap();
        assert_eq!(action.id(), "t1");
        assert_eq!(action.target().to_string(), "demo:cluster/c1");
    }

    #[test]
    fn unknown_kind_suggests_the_closest_names() {
        let spec = ActionSpec::new("t1", "demo.tuch", serde_json::json!({}));
        let err = registry().build(&spec).unwrap_err();
        assert_eq!(
            err.to_string(),
            "step `t1`: unknown action `demo.tuch`; did you mean `demo.touch`?"
        );
        let spec = ActionSpec::new("t1", "zzz", serde_json::json!({}));
        let err = registry().build(&spec).unwrap_err();
        assert_eq!(err.to_string(), "step `t1`: unknown action `zzz`");
    }

    #[test]
    fn bad_parameters_name_the_field_and_what_was_expected() {
        let reg = registry();
        let cases = [
            (serde_json::json!({}), "missing field `cluster`"),
            (
                serde_json::json!({"cluster": 3}),
                "parameter `cluster`: invalid type: integer `3`, expected a string",
            ),
            (
                serde_json::json!({"cluster": "c", "clustr": "d"}),
                "unknown field `clustr`, expected `cluster` or `count`",
            ),
            (
                serde_json::json!({"cluster": "c", "count": -1}),
                "parameter `count`: invalid value: integer `-1`, expected u32",
            ),
        ];
        for (params, expected) in cases {
            let spec = ActionSpec::new("t1", "demo.touch", params);
            let err = reg.build(&spec).unwrap_err().to_string();
            assert!(err.starts_with("step `t1` (demo.touch): "), "{err}");
            assert!(err.contains(expected), "{err} lacks {expected}");
        }
    }

    #[test]
    fn a_kind_cannot_be_registered_twice() {
        let mut reg = registry();
        let err = reg.register_fn(TOUCH, |_| unreachable!()).unwrap_err();
        assert_eq!(err, DuplicateKind("demo.touch".into()));
    }

    #[test]
    fn descriptors_are_listed() {
        let reg = registry();
        let kinds: Vec<_> = reg.descriptors().map(|d| d.kind).collect();
        assert_eq!(kinds, ["demo.touch"]);
        assert_eq!(reg.descriptor("demo.touch"), Some(&TOUCH));
    }
}
