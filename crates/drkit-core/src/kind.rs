//! One shape for every provider action: an action kind is a type.
//!
//! The facts about a kind — its name, whether it mutates, the IAM actions it needs, its
//! parameter struct (documented by `#[derive(Params)]`), its outputs and its port — are written
//! once, on the type ([`ActionKind`]). Everything else comes from there:
//!
//! - the registry builds it by type ([`Registry::register`](crate::registry::Registry::register))
//!   and derives its [`ActionDescriptor`] (what `drkit actions` prints) from the type;
//! - a Rust program builds it from the typed parameter struct
//!   ([`Registry::typed`](crate::registry::Registry::typed));
//! - [`Base`] holds the step id, the parameters, the resource, the port and the wait policy,
//!   and gives every action its identity and `Debug` (`#[derive(Debug, HasBase)]` on a struct
//!   with a field `base: Base<Self>`);
//! - [`Act`] is what a kind writes: its `inspect` / `apply` / `confirm` / `undo`; the
//!   [`RecoveryAction`] impl around it is written once, here, and adds what every action needs:
//!   the dry-run refusal before a mutating `execute`, and the action's context (kind, step,
//!   resource) on every error;
//! - [`Probe`] is what a read-only kind writes instead: one `evaluate`, mapped to
//!   check / execute / verify here.
//!
//! ```
//! use std::sync::Arc;
//! use drkit_core::{
//!     Act, ActionError, ActionKind, Base, Check, Context, HasBase, Outputs, Params, PortFactory,
//!     Resource, StepSpec, async_trait,
//! };
//! use drkit_core::registry::{OutputDoc, ParamError, Registry};
//!
//! /// The port: what the action needs from the service (a mockall mock in tests).
//! #[async_trait]
//! pub trait DemoApi: std::fmt::Debug + Send + Sync {
//!     async fn touch(&self, name: &str) -> Result<(), ActionError>;
//!     async fn touched(&self, name: &str) -> Result<bool, ActionError>;
//! }
//!
//! /// The parameters of `demo.touch`.
//! #[derive(Clone, Debug, serde::Deserialize, Params)]
//! #[serde(deny_unknown_fields)]
//! pub struct TouchParams {
//!     /// The thing to touch.
//!     pub name: String,
//! }
//!
//! /// `demo.touch`: touches a thing.
//! #[derive(Debug, HasBase)]
//! pub struct Touch {
//!     base: Base<Self>,
//! }
//!
//! impl ActionKind for Touch {
//!     const KIND: &'static str = "demo.touch";
//!     const SUMMARY: &'static str = "Touch a thing";
//!     const MUTATES: bool = true;
//!     const IAM_ACTIONS: &'static [&'static str] = &["demo:Touch"];
//!     const OUTPUTS: &'static [OutputDoc] = &[OutputDoc::new("name", "what was touched")];
//!     type Params = TouchParams;
//!     type Port = dyn DemoApi;
//!     type Ports = PortFactory<dyn DemoApi>;
//!
//!     fn validate(params: &TouchParams) -> Result<(), ParamError> {
//!         if params.name.is_empty() {
//!             return Err(ParamError::new("name", "must not be empty"));
//!         }
//!         Ok(())
//!     }
//!
//!     fn build(step: StepSpec<TouchParams>, ports: &Self::Ports) -> Result<Self, ParamError> {
//!         let target = Resource::new("demo", "thing", step.params.name.clone());
//!         Ok(Self { base: step.into_base(target, ports) })
//!     }
//! }
//!
//! #[async_trait]
//! impl Act for Touch {
//!     async fn inspect(&self, _ctx: &Context) -> Result<Check, ActionError> {
//!         Ok(if self.base.port.touched(&self.base.params.name).await? {
//!             Check::done("already touched")
//!         } else {
//!             Check::ready(format!("touch {}", self.base.params.name))
//!         })
//!     }
//!     async fn apply(&self, _ctx: &Context) -> Result<Outputs, ActionError> {
//!         self.base.port.touch(&self.base.params.name).await?;
//!         Ok(Outputs::new().with("name", self.base.params.name.clone()))
//!     }
//!     async fn confirm(&self, _ctx: &Context) -> Result<String, ActionError> {
//!         Ok("touched".into())
//!     }
//! }
//!
//! # #[derive(Debug)] struct Real;
//! # #[async_trait] impl DemoApi for Real {
//! #   async fn touch(&self, _: &str) -> Result<(), ActionError> { Ok(()) }
//! #   async fn touched(&self, _: &str) -> Result<bool, ActionError> { Ok(false) }
//! # }
//! let mut registry = Registry::new();
//! registry.register::<Touch>(PortFactory::fixed(Arc::new(Real))).unwrap();
//! let action = registry.typed::<Touch>("touch-it", TouchParams { name: "x".into() }).unwrap();
//! assert_eq!(action.kind(), "demo.touch");
//! assert_eq!(registry.descriptor("demo.touch").unwrap().params[0].name, "name");
//! ```

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::registry::{ActionDescriptor, BuildError, OutputDoc, ParamError, Params};
use crate::{
    ActionError, Check, Context, ErrorKind, Outputs, RecoveryAction, Resource, WaitPolicy,
};

/// The facts about an action kind, on its type, and how to build it.
///
/// Implemented by every provider action; the registry, the descriptor, identity and `Debug`
/// come from here. See the [module docs](self).
pub trait ActionKind: HasBase + Sized + Send + Sync + fmt::Debug + 'static {
    /// The kind name, `<service>.<operation>` (e.g. `rds.failover_db_cluster`).
    const KIND: &'static str;
    /// One line saying what it does.
    const SUMMARY: &'static str;
    /// Whether `execute` changes anything (false for probes and checks).
    const MUTATES: bool;
    /// Every IAM action check / execute / verify / rollback may need.
    const IAM_ACTIONS: &'static [&'static str];
    /// The outputs it records.
    const OUTPUTS: &'static [OutputDoc];
    /// The parameter struct: what a runbook's `[steps.params]` table decodes into, and what a
    /// Rust program builds the step from.
    type Params: Params;
    /// The port the action talks to (a trait object such as `dyn RdsApi`).
    type Port: ?Sized + fmt::Debug + Send + Sync + 'static;
    /// What the registry is given to build this kind: usually a [`PortFactory`] of `Port`.
    type Ports: Send + Sync + 'static;

    /// The descriptor, derived from the constants above and the parameter docs.
    const DESCRIPTOR: ActionDescriptor = ActionDescriptor {
        kind: Self::KIND,
        summary: Self::SUMMARY,
        mutates: Self::MUTATES,
        iam_actions: Self::IAM_ACTIONS,
        params: <Self::Params as Params>::DOCS,
        outputs: Self::OUTPUTS,
    };

    /// Checks the parameters beyond their types (identifier syntax, either-or pairs), before
    /// any call: a typo fails at `drkit validate`, not mid-recovery.
    fn validate(params: &Self::Params) -> Result<(), ParamError> {
        let _ = params;
        Ok(())
    }

    /// Builds the action for a step (its parameters already validated).
    fn build(step: StepSpec<Self::Params>, ports: &Self::Ports) -> Result<Self, ParamError>;

    /// Uses `policy` for the waits after the change (tests use a fast one without jitter).
    #[must_use]
    fn with_wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.base_mut().wait = policy;
        self
    }
}

/// Builds `step` of kind `K` talking through `port`, parameters validated as the registry
/// does: for tests, and for programs that bring their own client.
///
/// ```text
/// let failover: FailoverDbCluster =
///     drkit_core::kind::with_port(StepSpec::new("failover", params), Arc::new(mock))?;
/// ```
pub fn with_port<K>(step: StepSpec<K::Params>, port: Arc<K::Port>) -> Result<K, BuildError>
where
    K: ActionKind<Ports = PortFactory<<K as ActionKind>::Port>>,
{
    let id = step.id.clone();
    K::validate(&step.params).map_err(|e| e.for_step(&id, K::KIND))?;
    K::build(step, &PortFactory::fixed(port)).map_err(|e| e.for_step(&id, K::KIND))
}

/// An action's access to its [`Base`]: `#[derive(HasBase)]` (re-exported as
/// `drkit_core::HasBase`) writes it for a struct with a field `base: Base<Self>`.
pub trait HasBase {
    /// The id, parameters, resource, port and wait policy.
    fn base(&self) -> &Base<Self>
    where
        Self: ActionKind;

    /// The same, to change (e.g. the wait policy).
    fn base_mut(&mut self) -> &mut Base<Self>
    where
        Self: ActionKind;
}

/// What a step gives a kind's [`ActionKind::build`]: its id, its (validated) parameters, and
/// the region it runs in.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StepSpec<P> {
    /// The step id.
    pub id: String,
    /// The parameters.
    pub params: P,
    /// The step's region (`None`: the default one).
    pub region: Option<String>,
}

impl<P> StepSpec<P> {
    /// A step `id` with `params`, in the default region.
    pub fn new(id: impl Into<String>, params: P) -> Self {
        Self {
            id: id.into(),
            params,
            region: None,
        }
    }

    /// The same step in `region`.
    #[must_use]
    pub fn in_region(mut self, region: Option<impl Into<String>>) -> Self {
        self.region = region.map(Into::into);
        self
    }

    /// The region, if any.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The [`Base`] of an action on `target` (the step's region is added to it), with the port
    /// of the step's region.
    pub fn into_base<K>(self, target: Resource, ports: &PortFactory<K::Port>) -> Base<K>
    where
        K: ActionKind<Params = P>,
    {
        let port = ports.get(self.region());
        self.with_port(target, port)
    }

    /// The [`Base`] of an action on `target` with the given `port`.
    pub fn with_port<K>(self, target: Resource, port: Arc<K::Port>) -> Base<K>
    where
        K: ActionKind<Params = P>,
    {
        let target = target.in_region(self.region.clone());
        Base::new(self.id, self.params, target, port)
    }
}

/// What every provider action holds: its step id, parameters, resource, port and wait
/// policy. Gives the action its identity and its `Debug` (the port's `Debug` must not print
/// secrets; the parameters' neither: [`SecretRef`](crate::SecretRef) never does).
pub struct Base<K: ActionKind> {
    /// The step id.
    pub id: String,
    /// The parameters.
    pub params: K::Params,
    /// The resource acted on (with its region).
    pub target: Resource,
    /// The port to the service.
    pub port: Arc<K::Port>,
    /// How the action waits for its change to take effect.
    pub wait: WaitPolicy,
}

impl<K: ActionKind> Base<K> {
    /// A base with the default wait policy.
    pub fn new(
        id: impl Into<String>,
        params: K::Params,
        target: Resource,
        port: Arc<K::Port>,
    ) -> Self {
        Self {
            id: id.into(),
            params,
            target,
            port,
            wait: WaitPolicy::default(),
        }
    }

    /// The region of the resource, if any.
    pub fn region(&self) -> Option<&str> {
        self.target.region.as_deref()
    }
}

impl<K: ActionKind> fmt::Debug for Base<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Base")
            .field("kind", &K::KIND)
            .field("id", &self.id)
            .field("params", &self.params)
            .field("target", &self.target)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// What a mutating kind writes: the four phases of a [`RecoveryAction`], with the same
/// contract (see there). The `RecoveryAction` impl around them is written once: it refuses a
/// mutating `apply` in a dry run before the kind's code runs, and puts the action's kind, step
/// and resource on every error. Read-only kinds implement [`Probe`] instead.
#[async_trait]
pub trait Act: ActionKind {
    /// Read-only: is the change already done, ready to make, or blocked? (`check`)
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError>;

    /// Makes the change and waits until it has taken effect (`execute`). Never called in a
    /// dry run when the kind mutates.
    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError>;

    /// Read-only: does the post-condition hold? (`verify`)
    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError>;

    /// Compensates a completed `apply` (`rollback`); only called when [`can_undo`](Self::can_undo).
    async fn undo(&self, ctx: &Context) -> Result<(), ActionError> {
        let _ = ctx;
        Err(ActionError::unsupported("this action has no rollback"))
    }

    /// Whether [`undo`](Self::undo) is supported.
    fn can_undo(&self) -> bool {
        false
    }

    /// The IAM actions this step needs (default: the kind's); a kind whose needs depend on its
    /// parameters narrows them here.
    fn iam(&self) -> &'static [&'static str] {
        Self::IAM_ACTIONS
    }

    /// Whether this step changes anything (default: the kind's `MUTATES`); a kind whose
    /// parameters can declare a step read-only (a custom program) says so here.
    fn mutating(&self) -> bool {
        Self::MUTATES
    }
}

#[async_trait]
impl<T: Act> RecoveryAction for T {
    fn id(&self) -> &str {
        &self.base().id
    }

    fn kind(&self) -> &'static str {
        T::KIND
    }

    fn target(&self) -> &Resource {
        &self.base().target
    }

    fn mutates(&self) -> bool {
        self.mutating()
    }

    fn iam_actions(&self) -> &'static [&'static str] {
        self.iam()
    }

    async fn check(&self, ctx: &Context) -> Result<Check, ActionError> {
        self.inspect(ctx).await.map_err(|e| e.in_action(self))
    }

    async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        if self.mutating() {
            ctx.refuse_dry_run().map_err(|e| e.in_action(self))?;
        }
        self.apply(ctx).await.map_err(|e| e.in_action(self))
    }

    async fn verify(&self, ctx: &Context) -> Result<String, ActionError> {
        self.confirm(ctx).await.map_err(|e| e.in_action(self))
    }

    async fn rollback(&self, ctx: &Context) -> Result<(), ActionError> {
        if !self.can_undo() {
            return Err(ActionError::unsupported("this action has no rollback").in_action(self));
        }
        self.undo(ctx).await.map_err(|e| e.in_action(self))?;
        // The change is undone: its intent no longer describes a change in flight, so running
        // the step again in this context starts afresh instead of waiting for it.
        ctx.forget_intent();
        Ok(())
    }

    fn supports_rollback(&self) -> bool {
        self.can_undo()
    }
}

/// What one read-only evaluation found: the measured values and whether they pass.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Finding {
    /// The measured values, recorded as the step's outputs (never a secret).
    pub outputs: Outputs,
    /// Pass (what was seen) or fail (why).
    pub verdict: Verdict,
}

/// Whether a [`Finding`] passes, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It holds: what was seen.
    Pass(String),
    /// It does not: why, in words an operator can act on.
    Fail(String),
}

impl Finding {
    /// It holds, with what was seen and the measured values.
    pub fn pass(detail: impl Into<String>, outputs: Outputs) -> Self {
        Self {
            outputs,
            verdict: Verdict::Pass(detail.into()),
        }
    }

    /// It does not hold: why, with the measured values.
    pub fn fail(reason: impl Into<String>, outputs: Outputs) -> Self {
        Self {
            outputs,
            verdict: Verdict::Fail(reason.into()),
        }
    }

    /// Whether it passes.
    pub fn passed(&self) -> bool {
        matches!(self.verdict, Verdict::Pass(_))
    }
}

/// What `execute` of a [`Probe`] does with a failed [`Finding`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeExecute {
    /// Fails with `PostconditionFailed`: the step asserts what the probe measures.
    Assert,
    /// Reports the finding as progress and returns its outputs: the step records what it saw
    /// (its `check` still blocks a run on a failed finding).
    Report,
}

/// What a read-only kind writes: one evaluation, mapped once to the three phases:
///
/// - `check`: pass -> `Done` with the outputs; fail -> `Blocked` with the reason — except a
///   failed measurement of data loss (outputs with `rpo_seconds`), which fails with
///   `PostconditionFailed` *carrying* its outputs, so the report can give the RPO verdict
///   instead of losing the number; a `NotFound` error -> `Blocked` (a missing resource blocks
///   the step, it is not an error of the run);
/// - `execute`: pass -> the outputs; fail -> `PostconditionFailed` with the reason and outputs
///   ([`ProbeExecute::Assert`], the default), or the finding reported as progress and its
///   outputs returned ([`ProbeExecute::Report`]: a check whose step records what it saw);
/// - `verify`: pass -> what was seen; fail -> `PostconditionFailed` with the reason and outputs.
///
/// A probe's kind has `MUTATES = false`.
#[async_trait]
pub trait Probe: ActionKind {
    /// What `execute` does with a failed finding.
    const EXECUTE: ProbeExecute = ProbeExecute::Assert;

    /// Measures, read-only.
    async fn evaluate(&self, ctx: &Context) -> Result<Finding, ActionError>;

    /// The IAM actions this step needs (default: the kind's).
    fn probe_iam(&self) -> &'static [&'static str] {
        Self::IAM_ACTIONS
    }
}

#[async_trait]
impl<T: Probe> Act for T {
    async fn inspect(&self, ctx: &Context) -> Result<Check, ActionError> {
        match self.evaluate(ctx).await {
            Ok(Finding {
                outputs,
                verdict: Verdict::Pass(detail),
            }) => Ok(Check::Done { detail, outputs }),
            Ok(Finding {
                outputs,
                verdict: Verdict::Fail(reason),
            }) if outputs.get("rpo_seconds").is_some() => {
                Err(ActionError::postcondition(reason).with_outputs(outputs))
            }
            Ok(Finding {
                verdict: Verdict::Fail(reason),
                ..
            }) => Ok(Check::blocked(reason)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Check::blocked(e.message())),
            Err(e) => Err(e),
        }
    }

    async fn apply(&self, ctx: &Context) -> Result<Outputs, ActionError> {
        let found = self.evaluate(ctx).await?;
        match (found.verdict, Self::EXECUTE) {
            (Verdict::Pass(_), ProbeExecute::Assert) => Ok(found.outputs),
            (Verdict::Pass(seen) | Verdict::Fail(seen), ProbeExecute::Report) => {
                ctx.progress(seen);
                Ok(found.outputs)
            }
            (Verdict::Fail(reason), ProbeExecute::Assert) => {
                Err(ActionError::postcondition(reason).with_outputs(found.outputs))
            }
        }
    }

    async fn confirm(&self, ctx: &Context) -> Result<String, ActionError> {
        let found = self.evaluate(ctx).await?;
        match found.verdict {
            Verdict::Pass(detail) => Ok(detail),
            Verdict::Fail(reason) => {
                Err(ActionError::postcondition(reason).with_outputs(found.outputs))
            }
        }
    }

    fn iam(&self) -> &'static [&'static str] {
        self.probe_iam()
    }
}

/// Builds a port for a step's region: the one generic, region-scoped port factory every
/// provider registers with (the real SDK adapter, or the embedder's mock). Cheap to clone.
pub struct PortFactory<P: ?Sized> {
    make: Arc<MakePort<P>>,
}

/// Makes the port of a region.
type MakePort<P> = dyn Fn(Option<&str>) -> Arc<P> + Send + Sync;

impl<P: ?Sized> Clone for PortFactory<P> {
    fn clone(&self) -> Self {
        Self {
            make: Arc::clone(&self.make),
        }
    }
}

impl<P: ?Sized> fmt::Debug for PortFactory<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortFactory").finish_non_exhaustive()
    }
}

impl<P: ?Sized + 'static> PortFactory<P> {
    /// A factory that calls `make` with the step's region (`None`: the default region).
    pub fn new(make: impl Fn(Option<&str>) -> Arc<P> + Send + Sync + 'static) -> Self {
        Self {
            make: Arc::new(make),
        }
    }

    /// The same port for every region (a mock, or a service without regions).
    pub fn fixed(port: Arc<P>) -> Self
    where
        P: Send + Sync,
    {
        Self::new(move |_| Arc::clone(&port))
    }

    /// The port for `region`.
    pub fn get(&self, region: Option<&str>) -> Arc<P> {
        (self.make)(region)
    }
}

#[cfg(test)]
#[path = "kind_tests.rs"]
mod tests;
