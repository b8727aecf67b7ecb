//! The behaviour suite (`drkit_testkit::behaviour`) for every CloudFront kind, against an
//! in-memory CloudFront: a fake of the port that keeps distributions and their invalidations,
//! and counts the mutating calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, PortFactory};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use serde_json::{Value, json};

use crate::port::{CloudFrontApi, Distribution, Invalidation, Routing};
use crate::register_with;

const DIST: &str = "E2QWRUHAPOMQZL";

/// One invalidation: its distribution, caller reference, paths, and how it stands.
#[derive(Debug, Clone)]
struct Made {
    distribution: String,
    caller_reference: String,
    paths: Vec<String>,
    invalidation: Invalidation,
}

/// An in-memory CloudFront with one deployed, enabled distribution.
#[derive(Debug, Default)]
struct FakeCloudFront {
    distributions: Mutex<BTreeMap<String, Distribution>>,
    invalidations: Mutex<Vec<Made>>,
    routing: Mutex<BTreeMap<String, Routing>>,
    mutations: AtomicUsize,
}

impl FakeCloudFront {
    fn deployed() -> Arc<Self> {
        let fake = Self::default();
        let mut d = Distribution::new(DIST, "Deployed", true);
        d.domain_name = "d111111abcdef8.cloudfront.net".into();
        fake.distributions.lock().unwrap().insert(DIST.into(), d);
        let mut routing = Routing::new("E1", &["web", "web-dr"], "web");
        routing.behaviours = vec![
            ("/api/*".into(), "web".into()),
            ("/static/*".into(), "web".into()),
        ];
        fake.routing.lock().unwrap().insert(DIST.into(), routing);
        Arc::new(fake)
    }

    fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::new();
        let api: Arc<dyn CloudFrontApi> = Arc::clone(self) as _;
        register_with(&mut registry, &PortFactory::fixed(api)).unwrap();
        registry
    }
}

fn not_found(what: &str) -> ActionError {
    ActionError::new(ErrorKind::NotFound, format!("{what} not found"))
}

#[async_trait]
impl World for FakeCloudFront {
    async fn state(&self) -> Value {
        let invalidations: Vec<Value> = self
            .invalidations
            .lock()
            .unwrap()
            .iter()
            .map(|m| json!([m.distribution, m.invalidation.id, m.paths]))
            .collect();
        let routing: Vec<Value> = self
            .routing
            .lock()
            .unwrap()
            .values()
            .map(|r| json!([r.default_target, r.behaviours]))
            .collect();
        json!([invalidations, routing])
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl CloudFrontApi for FakeCloudFront {
    async fn get_distribution(&self, id: &str) -> Result<Distribution, ActionError> {
        self.distributions
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(id))
    }

    async fn create_invalidation(
        &self,
        distribution: &str,
        paths: Vec<String>,
        caller_reference: &str,
    ) -> Result<Invalidation, ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        if !self
            .distributions
            .lock()
            .unwrap()
            .contains_key(distribution)
        {
            return Err(not_found(distribution));
        }
        let mut all = self.invalidations.lock().unwrap();
        // The same reference and paths again: the same invalidation, as CloudFront does.
        if let Some(m) = all.iter().find(|m| {
            m.distribution == distribution
                && m.caller_reference == caller_reference
                && m.paths == paths
        }) {
            return Ok(m.invalidation.clone());
        }
        let made = Made {
            distribution: distribution.to_owned(),
            caller_reference: caller_reference.to_owned(),
            paths,
            invalidation: Invalidation::new(format!("I{}", all.len() + 1), "InProgress"),
        };
        all.push(made.clone());
        Ok(made.invalidation)
    }

    /// An invalidation is `InProgress` when created, `Completed` when next looked at.
    async fn get_invalidation(
        &self,
        distribution: &str,
        id: &str,
    ) -> Result<Invalidation, ActionError> {
        let mut all = self.invalidations.lock().unwrap();
        let m = all
            .iter_mut()
            .find(|m| m.distribution == distribution && m.invalidation.id == id)
            .ok_or_else(|| not_found(id))?;
        m.invalidation.status = "Completed".into();
        Ok(m.invalidation.clone())
    }

    async fn get_routing(&self, distribution: &str) -> Result<Routing, ActionError> {
        self.routing
            .lock()
            .unwrap()
            .get(distribution)
            .cloned()
            .ok_or_else(|| not_found(distribution))
    }

    /// As CloudFront: refused when the ETag is stale; a new ETag after each update.
    async fn set_routing(
        &self,
        distribution: &str,
        etag: &str,
        default_target: Option<String>,
        behaviours: Vec<(String, String)>,
    ) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        let mut all = self.routing.lock().unwrap();
        let r = all
            .get_mut(distribution)
            .ok_or_else(|| not_found(distribution))?;
        if r.etag != etag {
            return Err(
                ActionError::new(ErrorKind::Conflict, "stale").with_code("PreconditionFailed")
            );
        }
        if let Some(target) = default_target {
            r.default_target = target;
        }
        for (pattern, target) in behaviours {
            if let Some(b) = r.behaviours.iter_mut().find(|(p, _)| *p == pattern) {
                b.1 = target;
            }
        }
        r.etag = format!("{}x", r.etag);
        Ok(())
    }
}

#[tokio::test]
async fn switch_origin() {
    let cdn = FakeCloudFront::deployed();
    let case = Case::new(
        cdn.registry(),
        "cloudfront.switch_origin",
        json!({"distribution": DIST, "origin": "web-dr", "path_patterns": ["/api/*"]}),
    )
    .refuses(json!({"distribution": DIST, "origin": ""}), "origin")
    .refuses(
        json!({"distribution": DIST, "origin": "web-dr", "path_patterns": ["a=b"]}),
        "path_patterns",
    );
    mutating(&case, cdn.as_ref()).await;
}

#[tokio::test]
async fn invalidate() {
    let cdn = FakeCloudFront::deployed();
    let case = Case::new(
        cdn.registry(),
        "cloudfront.invalidate",
        json!({"distribution": DIST, "paths": ["/*", "/index.html"]}),
    )
    .refuses(
        json!({"distribution": "E2-QW", "paths": ["/*"]}),
        "distribution",
    )
    .refuses(
        json!({"distribution": DIST, "paths": ["index.html"]}),
        "paths",
    );
    mutating(&case, cdn.as_ref()).await;
}

#[tokio::test]
async fn check_distribution() {
    let cdn = FakeCloudFront::deployed();
    let case = Case::new(
        cdn.registry(),
        "cloudfront.check_distribution",
        json!({"distribution": DIST}),
    )
    .refuses(json!({"distribution": ""}), "distribution");
    read_only(&case, cdn.as_ref()).await;
}
