//! The behaviour suite (`drkit_testkit::behaviour`) for every ElastiCache kind, against an
//! in-memory ElastiCache: a fake of the port that keeps replication groups, changes their
//! primaries as ElastiCache would, and counts the mutating calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, PortFactory};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use serde_json::{Value, json};

use crate::port::{
    CacheClusterState, ElastiCacheApi, NodeGroup, NodeGroupMember, ReplicationGroup,
};
use crate::register_with;

/// An in-memory ElastiCache.
#[derive(Debug, Default)]
struct FakeElastiCache {
    groups: Mutex<BTreeMap<String, ReplicationGroup>>,
    mutations: AtomicUsize,
}

fn not_found(group: &str) -> ActionError {
    ActionError::new(
        ErrorKind::NotFound,
        format!("replication group {group} not found"),
    )
    .with_code("ReplicationGroupNotFoundFault")
}

/// A cluster-mode-disabled group `id` with node group `0001`: `<id>-001` primary, `<id>-002`
/// and `<id>-003` replicas.
fn group(id: &str, failover: &str) -> ReplicationGroup {
    let members = vec![
        NodeGroupMember::primary(format!("{id}-001")),
        NodeGroupMember::replica(format!("{id}-002")),
        NodeGroupMember::replica(format!("{id}-003")),
    ];
    let mut g = ReplicationGroup::new(
        id,
        "available",
        vec![NodeGroup::new("0001", "available", members)],
    );
    g.automatic_failover = failover.to_owned();
    g.multi_az = failover.to_owned();
    g
}

/// Makes `member` the primary of the node group it belongs to.
fn promote(group: &mut ReplicationGroup, member: &str) -> Result<(), ActionError> {
    let ng = group
        .node_groups
        .iter_mut()
        .find(|n| n.members.iter().any(|m| m.cache_cluster_id == member))
        .ok_or_else(|| ActionError::invalid_input(format!("{member} is not a member")))?;
    for m in &mut ng.members {
        let role = if m.cache_cluster_id == member {
            "primary"
        } else {
            "replica"
        };
        m.role = Some(role.to_owned());
    }
    Ok(())
}

impl FakeElastiCache {
    /// `mint-cache` (automatic failover and Multi-AZ disabled: a replica can be promoted by
    /// hand) and `mint-sessions` (both enabled: TestFailover can run).
    fn mint() -> Arc<Self> {
        let fake = Self::default();
        {
            let mut groups = fake.groups.lock().unwrap();
            groups.insert("mint-cache".into(), group("mint-cache", "disabled"));
            groups.insert("mint-sessions".into(), group("mint-sessions", "enabled"));
        }
        Arc::new(fake)
    }

    fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::new();
        let port: Arc<dyn ElastiCacheApi> = Arc::clone(self) as _;
        register_with(&mut registry, &PortFactory::fixed(port)).unwrap();
        registry
    }

    fn change(
        &self,
        group: &str,
        f: impl FnOnce(&mut ReplicationGroup) -> Result<(), ActionError>,
    ) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        let mut groups = self.groups.lock().unwrap();
        f(groups.get_mut(group).ok_or_else(|| not_found(group))?)
    }
}

#[async_trait]
impl World for FakeElastiCache {
    async fn state(&self) -> Value {
        let groups = self.groups.lock().unwrap();
        json!(
            groups
                .values()
                .map(|g| {
                    let primaries: BTreeMap<_, _> = g
                        .node_groups
                        .iter()
                        .map(|n| (n.id.clone(), n.primary().map(str::to_owned)))
                        .collect();
                    (g.id.clone(), primaries)
                })
                .collect::<BTreeMap<_, _>>()
        )
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ElastiCacheApi for FakeElastiCache {
    async fn describe_replication_group(
        &self,
        group: &str,
    ) -> Result<ReplicationGroup, ActionError> {
        self.groups
            .lock()
            .unwrap()
            .get(group)
            .cloned()
            .ok_or_else(|| not_found(group))
    }

    async fn member_states(&self, group: &str) -> Result<Vec<CacheClusterState>, ActionError> {
        let g = self.describe_replication_group(group).await?;
        Ok(g.member_ids()
            .into_iter()
            .map(|id| CacheClusterState::new(id, "available"))
            .collect())
    }

    async fn set_primary_cluster(
        &self,
        group: &str,
        cache_cluster: &str,
    ) -> Result<(), ActionError> {
        self.change(group, |g| promote(g, cache_cluster))
    }

    async fn test_failover(&self, group: &str, node_group: &str) -> Result<(), ActionError> {
        self.change(group, |g| {
            let to = g
                .node_group(node_group)
                .and_then(|n| n.replicas().next())
                .map(|m| m.cache_cluster_id.clone())
                .ok_or_else(|| ActionError::invalid_input("no replica"))?;
            promote(g, &to)
        })
    }
}

#[tokio::test]
async fn check_replication_group() {
    let fake = FakeElastiCache::mint();
    for group in ["mint-cache", "mint-sessions"] {
        let case = Case::new(
            fake.registry(),
            "elasticache.check_replication_group",
            json!({ "replication_group": group }),
        )
        .in_region("us-west-2")
        .refuses(json!({"replication_group": "1cache"}), "replication_group")
        .refuses(
            json!({"replication_group": "a".repeat(41)}),
            "replication_group",
        );
        read_only(&case, fake.as_ref()).await;
    }
}

#[tokio::test]
async fn set_primary() {
    let fake = FakeElastiCache::mint();
    let case = Case::new(
        fake.registry(),
        "elasticache.set_primary",
        json!({"replication_group": "mint-cache", "primary_cluster": "mint-cache-002"}),
    )
    .in_region("us-west-2")
    .refuses(
        json!({"replication_group": "mint-cache", "primary_cluster": "mint--002"}),
        "primary_cluster",
    )
    .refuses(
        json!({"replication_group": "mint_cache", "primary_cluster": "mint-cache-002"}),
        "replication_group",
    );
    mutating(&case, fake.as_ref()).await;
}

#[tokio::test]
async fn test_failover() {
    let fake = FakeElastiCache::mint();
    let case = Case::new(
        fake.registry(),
        "elasticache.test_failover",
        json!({"replication_group": "mint-sessions", "node_group": "0001"}),
    )
    .in_region("us-west-2")
    .refuses(
        json!({"replication_group": "mint-sessions", "node_group": "00001"}),
        "node_group",
    )
    .refuses(
        json!({"replication_group": "mint-sessions", "node_group": 1}),
        "node_group",
    );
    mutating(&case, fake.as_ref()).await;
}
