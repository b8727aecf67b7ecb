//! The behaviour suite (`drkit_testkit::behaviour`) for every RDS kind, against an in-memory
//! RDS: a fake of the port that keeps clusters, instances, snapshots and Aurora global
//! databases, and counts the mutating calls.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use drkit_core::registry::Registry;
use drkit_core::{ActionError, ErrorKind, PortFactory};
use drkit_testkit::behaviour::{Case, World, mutating, read_only};
use serde_json::{Value, json};

use crate::port::{
    ClusterMember, Datapoint, DbCluster, DbInstance, DbSnapshot, Endpoint, GlobalCluster,
    GlobalMember, MetricsApi, RdsApi, RestoreSettings, RestoreTime, SecondaryCluster, SnapshotOf,
};
use crate::{RdsPorts, register_with};

/// An in-memory RDS.
#[derive(Debug, Default)]
struct FakeRds {
    clusters: Mutex<BTreeMap<String, DbCluster>>,
    instances: Mutex<BTreeMap<String, DbInstance>>,
    snapshots: Mutex<BTreeMap<String, DbSnapshot>>,
    globals: Mutex<BTreeMap<String, GlobalCluster>>,
    lag: Mutex<Vec<Datapoint>>,
    mutations: AtomicUsize,
}

/// The Aurora global database of the fake.
const GLOBAL: &str = "mint-global";
/// Its primary (writer) cluster, in a Region the fake does not hold.
const EAST: &str = "arn:aws:rds:us-east-1:123456789012:cluster:mint-east";
/// Its secondary: the fake's cluster `mint-west`.
const WEST: &str = "arn:aws:rds:us-west-2:123456789012:cluster:mint-west";
/// A standalone cluster of the fake (`mint-solo`, writer `solo-1`): a detached secondary.
const SOLO: &str = "arn:aws:rds:us-west-2:123456789012:cluster:mint-solo";
/// Where the fake's `CreateDBCluster` of a global secondary puts it.
const SECONDARY_REGION: &str = "us-east-1";

fn not_found(what: &str) -> ActionError {
    ActionError::new(ErrorKind::NotFound, format!("{what} not found"))
}

fn ago(secs: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(secs)
}

/// A new, available instance `id` (with an endpoint), as a restore makes it.
fn restored(id: &str, settings: &RestoreSettings) -> DbInstance {
    let mut i = DbInstance::new(id, "available");
    i.created = Some(SystemTime::now());
    i.subnet_group.clone_from(&settings.subnet_group);
    i.security_groups.clone_from(&settings.security_groups);
    i.endpoint = Some(Endpoint {
        address: format!("{id}.fake.rds.amazonaws.com"),
        port: Some(5432),
    });
    i
}

impl FakeRds {
    /// An Aurora cluster `mint` (writer `mint-1`, reader `mint-2`, restorable for the last
    /// day), a replica instance `mint-replica` of `mint-1`, a replica cluster `mint-dr`, a
    /// standalone instance `mint-db` with a week of backups and a nightly snapshot, a fresh
    /// lag datapoint, and an Aurora global database `mint-global`: writer `mint-east` (in
    /// us-east-1, not held by the fake) and secondary `mint-west` (a cluster of the fake, in
    /// us-west-2, whose one instance `west-1` is a reader while it is a secondary).
    fn mint() -> Arc<Self> {
        let fake = Self::default();
        let mut cluster = DbCluster::new(
            "mint",
            "available",
            vec![
                ClusterMember::writer("mint-1"),
                ClusterMember::reader("mint-2"),
            ],
        );
        cluster.engine = Some("aurora-postgresql".into());
        cluster.earliest_restorable = Some(ago(86_400));
        cluster.latest_restorable = Some(ago(120));
        cluster.subnet_group = Some("mint-db-subnets".into());
        cluster.security_groups = vec!["sg-0a1b2c3d".into()];
        let mut dr = DbCluster::new("mint-dr", "available", vec![ClusterMember::writer("dr-1")]);
        dr.replication_source = Some("arn:aws:rds:us-east-1:123456789012:cluster:mint".into());
        let mut replica = DbInstance::new("mint-replica", "available");
        replica.replication_source = Some("mint-1".into());
        let mut db = DbInstance::new("mint-db", "available");
        db.created = Some(ago(2 * 86_400));
        db.latest_restorable = Some(ago(60));
        db.backup_retention_days = Some(7);
        db.subnet_group = Some("mint-db-subnets".into());
        db.security_groups = vec!["sg-0a1b2c3d".into()];
        let mut west = DbCluster::new(
            "mint-west",
            "available",
            vec![ClusterMember::reader("west-1")],
        );
        west.arn = Some(WEST.into());
        west.global_cluster = Some(GLOBAL.into());
        west.engine = Some("aurora-postgresql".into());
        west.endpoint = Some("mint-west.cluster-fake.us-west-2.rds.amazonaws.com".into());
        let mut solo = DbCluster::new(
            "mint-solo",
            "available",
            vec![ClusterMember::writer("solo-1")],
        );
        solo.arn = Some(SOLO.into());
        solo.engine = Some("aurora-postgresql".into());
        let mut west_1 = DbInstance::new("west-1", "available");
        west_1.cluster = Some("mint-west".into());
        let mut secondary = GlobalMember::new(WEST, false);
        secondary.synchronization = Some("connected".into());
        let global = GlobalCluster::new(
            GLOBAL,
            "available",
            vec![GlobalMember::new(EAST, true), secondary],
        );
        {
            let mut clusters = fake.clusters.lock().unwrap();
            clusters.insert("mint".into(), cluster);
            clusters.insert("mint-dr".into(), dr);
            clusters.insert("mint-west".into(), west);
            clusters.insert("mint-solo".into(), solo);
            let mut instances = fake.instances.lock().unwrap();
            for id in ["mint-1", "mint-2", "dr-1"] {
                instances.insert(id.into(), DbInstance::new(id, "available"));
            }
            instances.insert("mint-replica".into(), replica);
            instances.insert("mint-db".into(), db);
            instances.insert("west-1".into(), west_1);
            fake.snapshots.lock().unwrap().insert(
                "mint-db-nightly".into(),
                DbSnapshot::new("mint-db-nightly", "available", "mint-db", Some(ago(7200))),
            );
            fake.globals.lock().unwrap().insert(GLOBAL.into(), global);
        }
        *fake.lag.lock().unwrap() = vec![Datapoint {
            at: SystemTime::now() - Duration::from_secs(30),
            value: 2.0,
        }];
        Arc::new(fake)
    }

    fn mutated(&self) {
        self.mutations.fetch_add(1, Ordering::SeqCst);
    }

    /// The fake's cluster whose ARN is `arn` gets a writer instance when `writer` (a primary,
    /// or a standalone cluster), none when not (an Aurora secondary only reads).
    fn set_writes(&self, arn: &str, writer: bool) {
        let mut clusters = self.clusters.lock().unwrap();
        if let Some(c) = clusters
            .values_mut()
            .find(|c| c.arn.as_deref() == Some(arn))
            && let Some(first) = c.members.first_mut()
        {
            first.is_writer = writer;
        }
    }

    /// `SwitchoverGlobalCluster` and `FailoverGlobalCluster`: the writer moves to `target` at
    /// once, and the global cluster is settled (`available`, no failover state).
    fn switch_global(&self, global: &str, target: &str) -> Result<(), ActionError> {
        self.mutated();
        let roles: Vec<(String, bool)> = {
            let mut globals = self.globals.lock().unwrap();
            let g = globals.get_mut(global).ok_or_else(|| not_found(global))?;
            if !g.members.iter().any(|m| m.arn == target) {
                return Err(ActionError::precondition(format!(
                    "{target} is not a member of global cluster {global}"
                )));
            }
            for m in &mut g.members {
                m.is_writer = m.arn == target;
            }
            g.status = "available".into();
            g.failover = None;
            g.members
                .iter()
                .map(|m| (m.arn.clone(), m.is_writer))
                .collect()
        };
        for (arn, writer) in roles {
            self.set_writes(&arn, writer);
        }
        Ok(())
    }

    fn registry(self: &Arc<Self>) -> Registry {
        let mut registry = Registry::new();
        let rds: Arc<dyn RdsApi> = Arc::clone(self) as _;
        let metrics: Arc<dyn MetricsApi> = Arc::clone(self) as _;
        register_with(
            &mut registry,
            &RdsPorts {
                rds: PortFactory::fixed(rds),
                metrics: PortFactory::fixed(metrics),
            },
        )
        .unwrap();
        registry
    }
}

#[async_trait]
impl World for FakeRds {
    async fn state(&self) -> Value {
        let clusters = self.clusters.lock().unwrap();
        let instances = self.instances.lock().unwrap();
        let snapshots = self.snapshots.lock().unwrap();
        let globals = self.globals.lock().unwrap();
        json!({
            "writers": clusters.values().map(|c| (c.id.clone(), c.writer().map(str::to_owned))).collect::<BTreeMap<_, _>>(),
            "sources": clusters.values().map(|c| (c.id.clone(), c.replication_source.clone()))
                .chain(instances.values().map(|i| (i.id.clone(), i.replication_source.clone())))
                .collect::<BTreeMap<_, _>>(),
            "snapshots": snapshots.keys().collect::<Vec<_>>(),
            "globals": globals.values().map(|g| (g.id.clone(), json!({
                "writer": g.writer().map(|w| w.arn.clone()),
                "members": g.members.iter().map(|m| m.arn.clone()).collect::<Vec<_>>(),
            }))).collect::<BTreeMap<_, _>>(),
        })
    }

    fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl RdsApi for FakeRds {
    async fn describe_global_cluster(&self, global: &str) -> Result<GlobalCluster, ActionError> {
        self.globals
            .lock()
            .unwrap()
            .get(global)
            .cloned()
            .ok_or_else(|| not_found(global))
    }

    async fn switchover_global_cluster(
        &self,
        global: &str,
        target: &str,
    ) -> Result<(), ActionError> {
        self.switch_global(global, target)
    }

    async fn failover_global_cluster(&self, global: &str, target: &str) -> Result<(), ActionError> {
        self.switch_global(global, target)
    }

    async fn remove_from_global_cluster(
        &self,
        global: &str,
        cluster: &str,
    ) -> Result<(), ActionError> {
        self.mutated();
        {
            let mut globals = self.globals.lock().unwrap();
            let g = globals.get_mut(global).ok_or_else(|| not_found(global))?;
            let member = g
                .members
                .iter()
                .find(|m| m.arn == cluster)
                .ok_or_else(|| not_found(cluster))?;
            if member.is_writer && g.members.len() > 1 {
                return Err(ActionError::precondition(format!(
                    "{cluster} is the primary of global cluster {global}: remove the secondaries \
                     first"
                )));
            }
            g.members.retain(|m| m.arn != cluster);
        }
        // A standalone cluster writes.
        self.set_writes(cluster, true);
        if let Some(c) = self
            .clusters
            .lock()
            .unwrap()
            .values_mut()
            .find(|c| c.arn.as_deref() == Some(cluster))
        {
            c.global_cluster = None;
        }
        Ok(())
    }

    async fn create_global_cluster(
        &self,
        global: &str,
        source: &str,
        _: Option<bool>,
    ) -> Result<(), ActionError> {
        self.mutated();
        let mut globals = self.globals.lock().unwrap();
        if globals.contains_key(global) {
            return Err(ActionError::new(ErrorKind::Conflict, "exists")
                .with_code("GlobalClusterAlreadyExistsFault"));
        }
        let mut clusters = self.clusters.lock().unwrap();
        let c = clusters
            .values_mut()
            .find(|c| c.arn.as_deref() == Some(source))
            .ok_or_else(|| not_found(source))?;
        c.global_cluster = Some(global.into());
        let mut g = GlobalCluster::new(global, "available", vec![GlobalMember::new(source, true)]);
        g.engine.clone_from(&c.engine);
        globals.insert(global.into(), g);
        Ok(())
    }

    async fn delete_global_cluster(&self, global: &str) -> Result<(), ActionError> {
        self.mutated();
        let mut globals = self.globals.lock().unwrap();
        let g = globals.get(global).ok_or_else(|| not_found(global))?;
        if !g.members.is_empty() {
            return Err(ActionError::new(ErrorKind::Conflict, "has members")
                .with_code("InvalidGlobalClusterStateFault"));
        }
        globals.remove(global);
        Ok(())
    }

    async fn create_global_secondary(
        &self,
        secondary: &SecondaryCluster,
    ) -> Result<(), ActionError> {
        self.mutated();
        let arn = format!(
            "arn:aws:rds:{SECONDARY_REGION}:123456789012:cluster:{}",
            secondary.cluster
        );
        let mut globals = self.globals.lock().unwrap();
        let g = globals
            .get_mut(&secondary.global)
            .ok_or_else(|| not_found(&secondary.global))?;
        let mut clusters = self.clusters.lock().unwrap();
        if clusters.contains_key(&secondary.cluster) {
            return Err(ActionError::new(ErrorKind::Conflict, "exists")
                .with_code("DBClusterAlreadyExistsFault"));
        }
        let mut c = DbCluster::new(secondary.cluster.as_str(), "available", Vec::new());
        c.arn = Some(arn.clone());
        c.engine = Some(secondary.engine.clone());
        c.global_cluster = Some(secondary.global.clone());
        clusters.insert(secondary.cluster.clone(), c);
        g.members.push(GlobalMember::new(arn, false));
        Ok(())
    }

    async fn describe_db_cluster(&self, cluster: &str) -> Result<DbCluster, ActionError> {
        self.clusters
            .lock()
            .unwrap()
            .get(cluster)
            .cloned()
            .ok_or_else(|| not_found(cluster))
    }

    async fn describe_db_instance(&self, instance: &str) -> Result<DbInstance, ActionError> {
        self.instances
            .lock()
            .unwrap()
            .get(instance)
            .cloned()
            .ok_or_else(|| not_found(instance))
    }

    async fn failover_db_cluster<'a>(
        &self,
        cluster: &str,
        target: Option<&'a str>,
    ) -> Result<(), ActionError> {
        self.mutated();
        let mut clusters = self.clusters.lock().unwrap();
        let c = clusters
            .get_mut(cluster)
            .ok_or_else(|| not_found(cluster))?;
        let to = target
            .map(str::to_owned)
            .or_else(|| c.readers().next().map(|m| m.instance_id.clone()))
            .ok_or_else(|| ActionError::precondition("no reader"))?;
        for m in &mut c.members {
            m.is_writer = m.instance_id == to;
        }
        Ok(())
    }

    async fn promote_read_replica(&self, instance: &str) -> Result<(), ActionError> {
        self.mutated();
        let mut instances = self.instances.lock().unwrap();
        let i = instances
            .get_mut(instance)
            .ok_or_else(|| not_found(instance))?;
        i.replication_source = None;
        Ok(())
    }

    async fn promote_read_replica_db_cluster(&self, cluster: &str) -> Result<(), ActionError> {
        self.mutated();
        let mut clusters = self.clusters.lock().unwrap();
        let c = clusters
            .get_mut(cluster)
            .ok_or_else(|| not_found(cluster))?;
        c.replication_source = None;
        Ok(())
    }

    async fn restore_instance_to_point_in_time<'a>(
        &self,
        source: &str,
        target: &str,
        _: RestoreTime,
        _: Option<&'a str>,
        settings: &RestoreSettings,
    ) -> Result<(), ActionError> {
        self.mutated();
        self.describe_db_instance(source).await?;
        self.instances
            .lock()
            .unwrap()
            .insert(target.into(), restored(target, settings));
        Ok(())
    }

    async fn restore_instance_from_snapshot<'a>(
        &self,
        target: &str,
        snapshot: &str,
        _: Option<&'a str>,
        settings: &RestoreSettings,
    ) -> Result<(), ActionError> {
        self.mutated();
        self.describe_snapshot(SnapshotOf::Instance, snapshot)
            .await?;
        self.instances
            .lock()
            .unwrap()
            .insert(target.into(), restored(target, settings));
        Ok(())
    }

    async fn restore_cluster_to_point_in_time(
        &self,
        source: &str,
        target: &str,
        _: RestoreTime,
        settings: &RestoreSettings,
    ) -> Result<(), ActionError> {
        self.mutated();
        let source = self.describe_db_cluster(source).await?;
        let mut cluster = DbCluster::new(target, "available", vec![]);
        cluster.created = Some(SystemTime::now());
        cluster.subnet_group.clone_from(&settings.subnet_group);
        cluster
            .security_groups
            .clone_from(&settings.security_groups);
        cluster.engine = source.engine;
        cluster.endpoint = Some(format!("{target}.cluster-fake.rds.amazonaws.com"));
        self.clusters.lock().unwrap().insert(target.into(), cluster);
        Ok(())
    }

    async fn create_cluster_instance<'a>(
        &self,
        instance: &str,
        cluster: &str,
        _: &str,
        _: &str,
        _: Option<&'a str>,
    ) -> Result<(), ActionError> {
        self.mutated();
        let mut clusters = self.clusters.lock().unwrap();
        let c = clusters
            .get_mut(cluster)
            .ok_or_else(|| not_found(cluster))?;
        c.members.push(ClusterMember::writer(instance));
        let mut i = restored(instance, &RestoreSettings::default());
        i.cluster = Some(cluster.into());
        self.instances.lock().unwrap().insert(instance.into(), i);
        Ok(())
    }

    async fn describe_instance_snapshots(
        &self,
        instance: &str,
    ) -> Result<Vec<DbSnapshot>, ActionError> {
        Ok(self
            .snapshots
            .lock()
            .unwrap()
            .values()
            .filter(|s| s.source == instance)
            .cloned()
            .collect())
    }

    async fn describe_snapshot(
        &self,
        _: SnapshotOf,
        snapshot: &str,
    ) -> Result<DbSnapshot, ActionError> {
        self.snapshots
            .lock()
            .unwrap()
            .get(snapshot)
            .cloned()
            .ok_or_else(|| not_found(snapshot))
    }

    async fn create_snapshot(
        &self,
        of: SnapshotOf,
        source: &str,
        snapshot: &str,
    ) -> Result<(), ActionError> {
        self.mutated();
        let mut s = DbSnapshot::new(snapshot, "available", source, Some(SystemTime::now()));
        s.of = of;
        self.snapshots.lock().unwrap().insert(snapshot.into(), s);
        Ok(())
    }

    async fn delete_db_instance(&self, instance: &str) -> Result<(), ActionError> {
        self.mutated();
        let removed = self
            .instances
            .lock()
            .unwrap()
            .remove(instance)
            .ok_or_else(|| not_found(instance))?;
        if let Some(cluster) = removed.cluster
            && let Some(c) = self.clusters.lock().unwrap().get_mut(&cluster)
        {
            c.members.retain(|m| m.instance_id != instance);
        }
        Ok(())
    }

    async fn delete_db_cluster(&self, cluster: &str) -> Result<(), ActionError> {
        self.mutated();
        let mut clusters = self.clusters.lock().unwrap();
        let c = clusters.get(cluster).ok_or_else(|| not_found(cluster))?;
        if !c.members.is_empty() {
            return Err(ActionError::precondition(format!(
                "cluster {cluster} still has instances"
            )));
        }
        clusters.remove(cluster);
        Ok(())
    }
}

#[async_trait]
impl MetricsApi for FakeRds {
    async fn lag(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: SystemTime,
    ) -> Result<Vec<Datapoint>, ActionError> {
        Ok(self.lag.lock().unwrap().clone())
    }
}

#[tokio::test]
async fn failover_db_cluster() {
    for params in [
        json!({"cluster": "mint"}),
        json!({"cluster": "mint", "target_instance": "mint-2"}),
    ] {
        let rds = FakeRds::mint();
        let case = Case::new(rds.registry(), "rds.failover_db_cluster", params)
            .refuses(json!({"cluster": "1bad"}), "cluster")
            .refuses(
                json!({"cluster": "mint", "target_instance": "bad-"}),
                "target_instance",
            );
        mutating(&case, rds.as_ref()).await;
    }
}

#[tokio::test]
async fn promote_read_replica() {
    let rds = FakeRds::mint();
    let case = Case::new(
        rds.registry(),
        "rds.promote_read_replica",
        json!({"instance": "mint-replica"}),
    )
    .refuses(json!({"instance": "a_b"}), "instance");
    mutating(&case, rds.as_ref()).await;
}

#[tokio::test]
async fn promote_read_replica_db_cluster() {
    let rds = FakeRds::mint();
    let case = Case::new(
        rds.registry(),
        "rds.promote_read_replica_db_cluster",
        json!({"cluster": "mint-dr"}),
    )
    .refuses(json!({"cluster": ""}), "cluster");
    mutating(&case, rds.as_ref()).await;
}

#[tokio::test]
async fn create_snapshot() {
    let rds = FakeRds::mint();
    let case = Case::new(
        rds.registry(),
        "rds.create_snapshot",
        json!({"cluster": "mint"}),
    )
    .refuses(
        json!({"cluster": "mint", "snapshot_id": "x--y"}),
        "snapshot_id",
    );
    mutating(&case, rds.as_ref()).await;
}

#[tokio::test]
async fn the_probes() {
    let rds = FakeRds::mint();
    let registry = rds.registry();
    for (kind, params, bad, param) in [
        (
            "rds.instance_status",
            json!({"instance": "mint-1"}),
            json!({"instance": "-"}),
            "instance",
        ),
        (
            "rds.cluster_status",
            json!({"cluster": "mint", "min_members": 2}),
            json!({"cluster": "mint", "min_members": "x"}),
            "min_members",
        ),
        (
            "rds.check_replica_lag",
            json!({"instance": "mint-replica", "max_lag": "5m"}),
            json!({"instance": "mint-replica", "max_lag": "5m", "max_age": "0s"}),
            "max_age",
        ),
    ] {
        let case = Case::new(registry.clone(), kind, params).refuses(bad, param);
        read_only(&case, rds.as_ref()).await;
    }
}

#[tokio::test]
async fn restore_instance_to_point_in_time() {
    let rds = FakeRds::mint();
    let case = Case::new(
        rds.registry(),
        "rds.restore_instance_to_point_in_time",
        json!({"source": "mint-db", "target": "mint-db-pitr", "use_latest_restorable_time": true}),
    )
    .refuses(
        json!({"source": "1db", "target": "mint-db-pitr", "use_latest_restorable_time": true}),
        "source",
    )
    .refuses(
        json!({"source": "mint-db", "target": "mint-db-pitr"}),
        "restore_time",
    );
    mutating(&case, rds.as_ref()).await;
}

#[tokio::test]
async fn restore_instance_from_snapshot() {
    for params in [
        json!({"target": "mint-db-copy", "latest_snapshot_of": "mint-db"}),
        json!({"target": "mint-db-copy", "snapshot": "mint-db-nightly"}),
    ] {
        let rds = FakeRds::mint();
        let case = Case::new(rds.registry(), "rds.restore_instance_from_snapshot", params)
            .refuses(
                json!({"target": "copy--1", "snapshot": "mint-db-nightly"}),
                "target",
            )
            .refuses(
                json!({"target": "mint-db-copy", "latest_snapshot_of": "db_1"}),
                "latest_snapshot_of",
            )
            .refuses(json!({"target": "mint-db-copy"}), "snapshot");
        mutating(&case, rds.as_ref()).await;
    }
}

#[tokio::test]
async fn restore_cluster_to_point_in_time() {
    let rds = FakeRds::mint();
    let case = Case::new(
        rds.registry(),
        "rds.restore_cluster_to_point_in_time",
        json!({
            "source": "mint",
            "target": "mint-restored",
            "use_latest_restorable_time": true,
            "instance_class": "db.r6g.large",
        }),
    )
    .refuses(
        json!({"source": "mint", "target": "mint-restored", "use_latest_restorable_time": true}),
        "instance_class",
    )
    .refuses(
        json!({
            "source": "mint",
            "target": "-x",
            "use_latest_restorable_time": true,
            "instance_class": "db.r6g.large",
        }),
        "target",
    );
    mutating(&case, rds.as_ref()).await;
}

#[tokio::test]
async fn check_global_cluster() {
    let rds = FakeRds::mint();
    let case = Case::new(
        rds.registry(),
        "rds.check_global_cluster",
        json!({"global_cluster": GLOBAL}),
    )
    .refuses(json!({"global_cluster": ""}), "global_cluster")
    .refuses(json!({"global_cluster": "mint_global"}), "global_cluster");
    read_only(&case, rds.as_ref()).await;
}

/// The target as an ARN (no region needed; an identifier without one is refused), or as an
/// identifier in the step's region.
fn global_switch(
    rds: &Arc<FakeRds>,
    kind: &str,
    allow_data_loss: Option<bool>,
    by_arn: bool,
) -> Case {
    let with = |target: &str, global: &str, allow: Option<bool>| {
        let mut params = json!({"global_cluster": global, "target_cluster": target});
        if let Some(allow) = allow {
            params["allow_data_loss"] = json!(allow);
        }
        params
    };
    let target = if by_arn { WEST } else { "mint-west" };
    let case = Case::new(rds.registry(), kind, with(target, GLOBAL, allow_data_loss))
        .refuses(with(target, "", allow_data_loss), "global_cluster")
        .refuses(with("mint_west", GLOBAL, allow_data_loss), "target_cluster")
        .refuses(
            with(
                "arn:aws:rds:us-west-2:123456789012:db:mint-west",
                GLOBAL,
                allow_data_loss,
            ),
            "target_cluster",
        );
    if by_arn {
        case.refuses(with("mint-west", GLOBAL, allow_data_loss), "target_cluster")
    } else {
        case.in_region("us-west-2")
    }
}

#[tokio::test]
async fn switchover_global_cluster() {
    for by_arn in [true, false] {
        let rds = FakeRds::mint();
        let case = global_switch(&rds, "rds.switchover_global_cluster", None, by_arn).refuses(
            json!({"global_cluster": GLOBAL, "target_cluster": WEST, "allow_data_loss": false}),
            "allow_data_loss",
        );
        mutating(&case, rds.as_ref()).await;
    }
}

#[tokio::test]
async fn failover_global_cluster() {
    for by_arn in [true, false] {
        let rds = FakeRds::mint();
        let case = global_switch(&rds, "rds.failover_global_cluster", Some(true), by_arn)
            .refuses(
                json!({"global_cluster": GLOBAL, "target_cluster": WEST, "allow_data_loss": false}),
                "allow_data_loss",
            )
            .refuses(
                json!({"global_cluster": GLOBAL, "target_cluster": WEST}),
                "allow_data_loss",
            );
        mutating(&case, rds.as_ref()).await;
    }
}

#[tokio::test]
async fn detach_global_secondary() {
    let rds = FakeRds::mint();
    let case = Case::new(
        rds.registry(),
        "rds.detach_global_secondary",
        json!({"global_cluster": GLOBAL, "cluster": "mint-west"}),
    )
    .in_region("us-west-2")
    .refuses(
        json!({"global_cluster": GLOBAL, "cluster": WEST}),
        "cluster",
    )
    .refuses(
        json!({"global_cluster": "", "cluster": "mint-west"}),
        "global_cluster",
    );
    mutating(&case, rds.as_ref()).await;
}

#[tokio::test]
async fn create_global_cluster() {
    for (source, region) in [(SOLO, None), ("mint-solo", Some("us-west-2"))] {
        let rds = FakeRds::mint();
        let mut case = Case::new(
            rds.registry(),
            "rds.create_global_cluster",
            json!({"global_cluster": "mint-global-2", "source_cluster": source}),
        )
        .refuses(
            json!({"global_cluster": "mint_global", "source_cluster": SOLO}),
            "global_cluster",
        )
        .refuses(
            json!({"global_cluster": "mint-global-2", "source_cluster": "arn:aws:rds:us-west-2:1:db:x"}),
            "source_cluster",
        );
        if let Some(region) = region {
            case = case.in_region(region);
        }
        mutating(&case, rds.as_ref()).await;
    }
}

#[tokio::test]
async fn retire_global_cluster() {
    let rds = FakeRds::mint();
    let case = Case::new(
        rds.registry(),
        "rds.retire_global_cluster",
        json!({"global_cluster": GLOBAL, "expect_members": [EAST, "mint-west"]}),
    )
    .refuses(
        json!({"global_cluster": GLOBAL, "expect_members": ["mint_west"]}),
        "expect_members",
    )
    .refuses(json!({"global_cluster": GLOBAL}), "expect_members");
    mutating(&case, rds.as_ref()).await;
}

#[tokio::test]
async fn add_global_secondary() {
    let rds = FakeRds::mint();
    let mut g = GlobalCluster::new(
        "mint-global-2",
        "available",
        vec![GlobalMember::new(SOLO, true)],
    );
    g.engine = Some("aurora-postgresql".into());
    rds.globals
        .lock()
        .unwrap()
        .insert("mint-global-2".into(), g);
    let params = |instances: Value| json!({"global_cluster": "mint-global-2", "cluster": "mint-east-2", "instances": instances});
    let case = Case::new(
        rds.registry(),
        "rds.add_global_secondary",
        params(json!([{"identifier": "mint-east-2-1", "class": "db.r6g.large"}])),
    )
    .in_region(SECONDARY_REGION)
    .refuses(params(json!([])), "instances")
    .refuses(
        params(json!([{"identifier": "mint-east-2-1", "class": "db.serverless"}])),
        "serverless_v2_scaling",
    )
    .refuses(
        params(json!([{"identifier": "mint_1", "class": "db.r6g.large"}])),
        "instances",
    );
    mutating(&case, rds.as_ref()).await;
}
