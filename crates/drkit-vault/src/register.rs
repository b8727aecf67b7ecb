//! Registration of the Vault actions in a [`Registry`].

use std::sync::Arc;

use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};
use drkit_core::{ActionKind, PortFactory};

use crate::client::VaultrsApi;
use crate::health::CheckHealth;
use crate::port::VaultApi;
use crate::snapshot::{SnapshotRestore, SnapshotSave};
use crate::transit::VerifyTransitBackup;
use crate::transit_key::CheckTransitKey;
use crate::unseal::Unseal;

/// Every Vault action's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[
    Unseal::DESCRIPTOR,
    CheckHealth::DESCRIPTOR,
    SnapshotSave::DESCRIPTOR,
    SnapshotRestore::DESCRIPTOR,
    VerifyTransitBackup::DESCRIPTOR,
    CheckTransitKey::DESCRIPTOR,
];

/// Registers every Vault action over [`VaultrsApi`].
pub fn register(registry: &mut Registry) -> Result<(), DuplicateKind> {
    let api: Arc<dyn VaultApi> = Arc::new(VaultrsApi::new());
    register_with(registry, &PortFactory::fixed(api))
}

/// Registers every Vault action with the given port (e.g. a mock in the embedder's tests).
pub fn register_with(
    registry: &mut Registry,
    ports: &PortFactory<dyn VaultApi>,
) -> Result<(), DuplicateKind> {
    registry.register::<Unseal>(ports.clone())?;
    registry.register::<CheckHealth>(ports.clone())?;
    registry.register::<SnapshotSave>(ports.clone())?;
    registry.register::<SnapshotRestore>(ports.clone())?;
    registry.register::<VerifyTransitBackup>(ports.clone())?;
    registry.register::<CheckTransitKey>(ports.clone())
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
