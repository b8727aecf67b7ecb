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
    CacheClusterState, ElastiCacheApi, GlobalDatastore, GlobalDatastoreMember, NodeGroup,
    NodeGroupMember, ReplicationGroup,
};
use crate::register_with;

/// An in-memory ElastiCache.
#[derive(Debug, Default)]
struct FakeElastiCache {
    groups: Mutex<BTreeMap<String, ReplicationGroup>>,
    globals: Mutex<BTreeMap<String, GlobalDatastore>>,
    mutations: AtomicUsize,
}

const GLOBAL: &str = "ldgnf-mint-global";

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
    /// hand), `mint-sessions` (both enabled: TestFailover can run; a promotion by hand needs
    /// them disabled first) and the global datastore `ldgnf-mint-global` (primary
    /// `mint-cache-east` in us-east-1, secondary `mint-cache-west` in us-west-2).
    fn mint() -> Arc<Self> {
        let fake = Self::default();
        {
            let mut groups = fake.groups.lock().unwrap();
            groups.insert("mint-cache".into(), group("mint-cache", "disabled"));
            groups.insert("mint-sessions".into(), group("mint-sessions", "enabled"));
        }
        fake.globals.lock().unwrap().insert(
            GLOBAL.into(),
            GlobalDatastore::new(
                GLOBAL,
                "available",
                vec![
                    GlobalDatastoreMember::new("us-east-1", "mint-cache-east", "PRIMARY"),
                    GlobalDatastoreMember::new("us-west-2", "mint-cache-west", "SECONDARY"),
                ],
            ),
        );
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
        let globals = self.globals.lock().unwrap();
        json!({
            "groups": groups
                .values()
                .map(|g| {
                    let primaries: BTreeMap<_, _> = g
                        .node_groups
                        .iter()
                        .map(|n| (n.id.clone(), n.primary().map(str::to_owned)))
                        .collect();
                    (
                        g.id.clone(),
                        json!({
                            "primaries": primaries,
                            "automatic_failover": g.automatic_failover,
                            "multi_az": g.multi_az,
                        }),
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            "globals": globals
                .values()
                .map(|g| (g.id.clone(), g.primary().map(GlobalDatastoreMember::name)))
                .collect::<BTreeMap<_, _>>(),
        })
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
        self.change(group, |g| {
            // As ElastiCache: a replica is promoted by hand only without Multi-AZ and automatic
            // failover.
            if g.automatic_failover != "disabled" || g.multi_az != "disabled" {
                return Err(ActionError::new(
                    ErrorKind::Conflict,
                    "cannot promote a replica while Multi-AZ or automatic failover is enabled",
                )
                .with_code("InvalidReplicationGroupState"));
            }
            promote(g, cache_cluster)
        })
    }

    async fn set_failover_settings(
        &self,
        group: &str,
        automatic_failover: bool,
        multi_az: bool,
    ) -> Result<(), ActionError> {
        self.change(group, |g| {
            if multi_az && !automatic_failover {
                return Err(
                    ActionError::invalid_input("Multi-AZ needs automatic failover")
                        .with_code("InvalidParameterCombination"),
                );
            }
            let word = |on| if on { "enabled" } else { "disabled" };
            g.automatic_failover = word(automatic_failover).to_owned();
            g.multi_az = word(multi_az).to_owned();
            Ok(())
        })
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

    async fn describe_global_datastore(
        &self,
        global: &str,
    ) -> Result<GlobalDatastore, ActionError> {
        self.globals
            .lock()
            .unwrap()
            .get(global)
            .cloned()
            .ok_or_else(|| {
                ActionError::new(ErrorKind::NotFound, format!("{global} not found"))
                    .with_code("GlobalReplicationGroupNotFoundFault")
            })
    }

    async fn failover_global_datastore(
        &self,
        global: &str,
        primary_region: &str,
        primary_replication_group: &str,
    ) -> Result<(), ActionError> {
        self.mutations.fetch_add(1, Ordering::SeqCst);
        let mut globals = self.globals.lock().unwrap();
        let g = globals.get_mut(global).ok_or_else(|| {
            ActionError::new(ErrorKind::NotFound, format!("{global} not found"))
                .with_code("GlobalReplicationGroupNotFoundFault")
        })?;
        if g.member(primary_region, primary_replication_group)
            .is_none()
        {
            return Err(
                ActionError::invalid_input("not a member").with_code("InvalidParameterValue")
            );
        }
        for m in &mut g.members {
            let primary =
                m.region == primary_region && m.replication_group == primary_replication_group;
            m.role = if primary { "PRIMARY" } else { "SECONDARY" }.to_owned();
        }
        Ok(())
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

/// The Multi-AZ sequence: the fake refuses a promotion while Multi-AZ or automatic failover is
/// enabled, so the suite passes only if they are disabled around it and restored (the world's
/// state includes both settings), also by the rollback.
#[tokio::test]
async fn set_primary_with_multi_az() {
    let fake = FakeElastiCache::mint();
    let case = Case::new(
        fake.registry(),
        "elasticache.set_primary",
        json!({"replication_group": "mint-sessions", "primary_cluster": "mint-sessions-003"}),
    )
    .in_region("us-west-2");
    mutating(&case, fake.as_ref()).await;
}

#[tokio::test]
async fn failover_global_datastore() {
    let fake = FakeElastiCache::mint();
    let case = Case::new(
        fake.registry(),
        "elasticache.failover_global_datastore",
        json!({
            "global_replication_group": GLOBAL,
            "primary_region": "us-west-2",
            "primary_replication_group": "mint-cache-west",
        }),
    )
    .in_region("us-west-2")
    .refuses(
        json!({
            "global_replication_group": "",
            "primary_region": "us-west-2",
            "primary_replication_group": "mint-cache-west",
        }),
        "global_replication_group",
    )
    .refuses(
        json!({
            "global_replication_group": GLOBAL,
            "primary_region": "oregon",
            "primary_replication_group": "mint-cache-west",
        }),
        "primary_region",
    )
    .refuses(
        json!({
            "global_replication_group": GLOBAL,
            "primary_region": "us-west-2",
            "primary_replication_group": "",
        }),
        "primary_replication_group",
    );
    mutating(&case, fake.as_ref()).await;
}
