//! [`MockRecoveryAction`]: a mockall mock of [`RecoveryAction`], for unit tests of code that
//! composes actions (plans, layers, the embedder's own tools). Enabled by the `mock` feature.
//!
//! ```
//! use std::sync::Arc;
//! use drkit_core::{ActionRef, Check, Context, MockRecoveryAction, Resource};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let mut action = MockRecoveryAction::new();
//! action.expect_id().return_const("failover-db".to_owned());
//! action.expect_target().return_const(Resource::new("rds", "db-cluster", "mint"));
//! action.expect_check().returning(|_| Ok(Check::ready("fail over")));
//! action.expect_execute().never();
//! let action: ActionRef = Arc::new(action);
//! assert!(!action.check(&Context::new()).await.unwrap().is_done());
//! # }
//! ```

use async_trait::async_trait;

use crate::{ActionError, Check, Context, Outputs, RecoveryAction, Resource};

mockall::mock! {
    /// A mock [`RecoveryAction`].
    pub RecoveryAction {}

    #[async_trait]
    impl RecoveryAction for RecoveryAction {
        fn id(&self) -> &str;
        fn kind(&self) -> &'static str;
        fn target(&self) -> &Resource;
        fn mutates(&self) -> bool;
        fn iam_actions(&self) -> &'static [&'static str];
        async fn check(&self, ctx: &Context) -> Result<Check, ActionError>;
        async fn execute(&self, ctx: &Context) -> Result<Outputs, ActionError>;
        async fn verify(&self, ctx: &Context) -> Result<String, ActionError>;
        async fn rollback(&self, ctx: &Context) -> Result<(), ActionError>;
        fn supports_rollback(&self) -> bool;
    }
}

impl std::fmt::Debug for MockRecoveryAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockRecoveryAction").finish_non_exhaustive()
    }
}
