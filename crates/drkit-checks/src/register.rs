//! Registration of the checks in a [`Registry`].

use std::sync::Arc;

use drkit_core::registry::{ActionDescriptor, DuplicateKind, Registry};
use drkit_core::{ActionKind, PortFactory};

use crate::http_check::HttpCheck;
use crate::pg::PgApi;
use crate::pg_checks::{PgCompareCounts, PgDataLoss, PgRowCounts};
use crate::pg_client::TokioPg;
use crate::redis_client::RedisClient;
use crate::redis_port::RedisApi;
use crate::redis_role::RedisRoleCheck;
use crate::tls_check::TlsCheck;
use crate::web_client::{ReqwestHttp, RustlsTls};
use crate::web_port::{HttpApi, TlsApi};

/// The ports the checks are built with: the real clients ([`ChecksPorts::real`]) or the
/// embedder's own, e.g. mocks ([`register_with`]).
#[derive(Clone, Debug)]
pub struct ChecksPorts {
    /// PostgreSQL (`checks.pg_*`).
    pub pg: PortFactory<dyn PgApi>,
    /// Redis (`checks.redis_role`).
    pub redis: PortFactory<dyn RedisApi>,
    /// HTTP(S) (`checks.http`).
    pub http: PortFactory<dyn HttpApi>,
    /// TLS (`checks.tls`).
    pub tls: PortFactory<dyn TlsApi>,
}

impl ChecksPorts {
    /// Ports over `tokio-postgres`, the `redis` crate, `reqwest` (one HTTP client per step)
    /// and `tokio-rustls`.
    pub fn real() -> Self {
        let pg: Arc<dyn PgApi> = Arc::new(TokioPg::new());
        let redis: Arc<dyn RedisApi> = Arc::new(RedisClient::new());
        let tls: Arc<dyn TlsApi> = Arc::new(RustlsTls::new());
        Self {
            pg: PortFactory::fixed(pg),
            redis: PortFactory::fixed(redis),
            http: PortFactory::new(|_| Arc::new(ReqwestHttp::new()) as Arc<dyn HttpApi>),
            tls: PortFactory::fixed(tls),
        }
    }
}

/// Every check's descriptor.
pub const DESCRIPTORS: &[ActionDescriptor] = &[
    PgRowCounts::DESCRIPTOR,
    PgDataLoss::DESCRIPTOR,
    PgCompareCounts::DESCRIPTOR,
    RedisRoleCheck::DESCRIPTOR,
    HttpCheck::DESCRIPTOR,
    TlsCheck::DESCRIPTOR,
];

/// Registers every check over the real clients ([`ChecksPorts::real`]).
pub fn register(registry: &mut Registry) -> Result<(), DuplicateKind> {
    register_with(registry, &ChecksPorts::real())
}

/// Registers every check with the given ports (e.g. mocks in the embedder's tests).
pub fn register_with(registry: &mut Registry, ports: &ChecksPorts) -> Result<(), DuplicateKind> {
    registry.register::<PgRowCounts>(ports.pg.clone())?;
    registry.register::<PgDataLoss>(ports.pg.clone())?;
    registry.register::<PgCompareCounts>(ports.pg.clone())?;
    registry.register::<RedisRoleCheck>(ports.redis.clone())?;
    registry.register::<HttpCheck>(ports.http.clone())?;
    registry.register::<TlsCheck>(ports.tls.clone())
}

#[cfg(test)]
#[path = "register_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "register_docs_tests.rs"]
mod docs_tests;
