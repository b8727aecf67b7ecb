//! Registration of the custom-step kinds in a [`Registry`].

use std::sync::Arc;

use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};
use drkit_core::{ActionKind, PortFactory};

use crate::exec::ExecCommand;
use crate::http::HttpRequestAction;
use crate::http_port::{HttpApi, Reqwest};
use crate::process::{ProcessApi, TokioProcess};

/// The ports the custom kinds are built with: the real ones ([`CustomPorts::real`]) or the
/// embedder's own, e.g. mocks ([`register_with`]).
#[derive(Clone, Debug)]
pub struct CustomPorts {
    /// Local programs (`exec.command`).
    pub process: PortFactory<dyn ProcessApi>,
    /// HTTP (`http.request`).
    pub http: PortFactory<dyn HttpApi>,
}

impl CustomPorts {
    /// Programs run through `tokio::process`; HTTP through `reqwest` (one client per step,
    /// made when the step is built).
    pub fn real() -> Self {
        let process: Arc<dyn ProcessApi> = Arc::new(TokioProcess::new());
        Self {
            process: PortFactory::fixed(process),
            http: PortFactory::new(|_| Arc::new(Reqwest::new()) as Arc<dyn HttpApi>),
        }
    }
}

/// Every custom kind's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] =
    &[ExecCommand::DESCRIPTOR, HttpRequestAction::DESCRIPTOR];

/// Registers every custom kind over the real ports ([`CustomPorts::real`]).
pub fn register(registry: &mut Registry) -> Result<(), DuplicateKind> {
    register_with(registry, &CustomPorts::real())
}

/// Registers every custom kind with the given ports (e.g. mocks in the embedder's tests).
pub fn register_with(registry: &mut Registry, ports: &CustomPorts) -> Result<(), DuplicateKind> {
    registry.register::<ExecCommand>(ports.process.clone())?;
    registry.register::<HttpRequestAction>(ports.http.clone())
}

#[cfg(test)]
mod tests {
    /// docs/actions/custom.md documents every kind: row, parameters, outputs and a runbook
    /// example.
    #[test]
    fn the_actions_page_documents_every_action() {
        drkit_testkit::docs::documented(
            "docs/actions/custom.md",
            include_str!("../../../docs/actions/custom.md"),
            super::DESCRIPTORS,
        )
        .unwrap();
    }
}
