//! [`Memo`]: what an action remembers of its own change between its phases.

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::{Context, Outputs};

/// What an action remembers of its own change between its phases: the writer a failover
/// started from, the configuration a change replaced, the rules it added. `execute` sets it;
/// `verify` and `rollback` read it. Only this action instance sees it: after a resume, the
/// same facts come from the step's journalled intent or outputs ([`Memo::or_intent`]).
///
/// A poisoned lock is not an error here: the value is plain data, whole before and after
/// every call.
///
/// ```
/// use drkit_core::Memo;
///
/// let from: Memo<String> = Memo::default();
/// assert_eq!(from.get(), None);
/// from.set("mint-db-1".to_owned());
/// assert_eq!(from.get().as_deref(), Some("mint-db-1"));
/// from.clear();
/// assert_eq!(from.get(), None);
/// ```
pub struct Memo<T>(Mutex<Option<T>>);

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<T: fmt::Debug> fmt::Debug for Memo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Memo").field(&*self.lock()).finish()
    }
}

impl<T> Memo<T> {
    fn lock(&self) -> MutexGuard<'_, Option<T>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers `value`.
    pub fn set(&self, value: T) {
        *self.lock() = Some(value);
    }

    /// Remembers `value`, or forgets when `None`.
    pub fn replace(&self, value: Option<T>) {
        *self.lock() = value;
    }

    /// Forgets what was remembered (after a rollback undid it).
    pub fn clear(&self) {
        *self.lock() = None;
    }

    /// Changes what is remembered in place; returns what `f` returns.
    pub fn update<R>(&self, f: impl FnOnce(&mut Option<T>) -> R) -> R {
        f(&mut self.lock())
    }
}

impl<T: Clone> Memo<T> {
    /// What is remembered.
    pub fn get(&self) -> Option<T> {
        self.lock().clone()
    }

    /// What is remembered, else what `read` finds in the step's journalled intent (this
    /// attempt's, an earlier one's, or that of the run `drkit resume` continues).
    pub fn or_intent(&self, ctx: &Context, read: impl FnOnce(&Outputs) -> Option<T>) -> Option<T> {
        self.get().or_else(|| ctx.intent().as_ref().and_then(read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_wins_over_the_intent_and_the_intent_fills_in_after_a_resume() {
        let memo: Memo<String> = Memo::default();
        let from = |o: &Outputs| o.get_str("from").map(str::to_owned);
        let resumed =
            Context::new().with_recorded_intent(Some(Outputs::new().with("from", "db-1")));
        assert_eq!(memo.or_intent(&resumed, from).as_deref(), Some("db-1"));
        assert_eq!(memo.or_intent(&Context::new(), from), None);
        memo.set("db-2".to_owned());
        assert_eq!(memo.or_intent(&resumed, from).as_deref(), Some("db-2"));
        memo.update(|v| v.as_mut().map(|s| s.push('!')));
        assert_eq!(format!("{memo:?}"), r#"Memo(Some("db-2!"))"#);
        memo.replace(None);
        assert_eq!(memo.get(), None);
    }
}
