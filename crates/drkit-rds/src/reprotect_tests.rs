//! Unit tests of the reprotect kinds against the mocked port, with AWS's documented error codes
//! (`GlobalClusterAlreadyExistsFault`, `DBClusterAlreadyExistsFault`,
//! `InvalidGlobalClusterStateFault`, `GlobalClusterNotFoundFault`) and lost answers: the call
//! reached RDS, its answer did not.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use drkit_core::registry::{ActionSpec, Registry};
use drkit_core::{ActionExt, ActionRef, RetryPolicy};
use serde_json::json;

use super::*;
use crate::port::{ClusterMember, DbInstance, GlobalMember, MockMetricsApi, MockRdsApi};
use crate::{MetricsApi, RdsPorts, register_with};

const OLD: &str = "mint-replica-global";
const NEW: &str = "mint-global-2";
/// The stale old primary, still the only member of the old global database.
const EAST: &str = "arn:aws:rds:us-east-1:123456789012:cluster:mint-replica-east";
/// The detached, promoted cluster: a standalone writer.
const WEST: &str = "arn:aws:rds:us-west-2:123456789012:cluster:mint-replica-west";

fn lost() -> ActionError {
    ActionError::new(
        ErrorKind::Unavailable,
        "response error: connection closed before message completed",
    )
}

fn fault(kind: ErrorKind, code: &str) -> ActionError {
    ActionError::new(kind, format!("{code} (from RDS)")).with_code(code)
}

/// The registry where each Region's port is `port(region)`.
fn registry(port: impl Fn(Option<&str>) -> Arc<dyn RdsApi> + Send + Sync + 'static) -> Registry {
    let mut registry = Registry::new();
    register_with(
        &mut registry,
        &RdsPorts {
            rds: PortFactory::new(port),
            metrics: PortFactory::new(|_| Arc::new(MockMetricsApi::new()) as Arc<dyn MetricsApi>),
        },
    )
    .unwrap();
    registry
}

fn build(api: MockRdsApi, kind: &str, params: serde_json::Value, region: &str) -> ActionRef {
    let api: Arc<dyn RdsApi> = Arc::new(api);
    registry(move |_| Arc::clone(&api))
        .build(&ActionSpec::new("reprotect", kind, params).in_region(region))
        .unwrap()
        .with_retry(RetryPolicy::attempts(3).jitter(false))
}

fn west_cluster() -> DbCluster {
    let mut c = DbCluster::new(
        "mint-replica-west",
        "available",
        vec![ClusterMember::writer("west-1")],
    );
    c.arn = Some(WEST.into());
    c.engine = Some("aurora-postgresql".into());
    c
}

/// A global database whose state the mock's calls change.
#[derive(Default)]
struct Globals(Mutex<Vec<GlobalCluster>>);

impl Globals {
    fn get(&self, id: &str) -> Result<GlobalCluster, ActionError> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .ok_or_else(|| fault(ErrorKind::NotFound, "GlobalClusterNotFoundFault"))
    }
    fn put(&self, g: GlobalCluster) {
        let mut all = self.0.lock().unwrap();
        all.retain(|o| o.id != g.id);
        all.push(g);
    }
    fn remove(&self, id: &str) {
        self.0.lock().unwrap().retain(|g| g.id != id);
    }
}

// --- rds.create_global_cluster ----------------------------------------------------------------

fn create_params() -> serde_json::Value {
    json!({"global_cluster": NEW, "source_cluster": WEST})
}

#[tokio::test(start_paused = true)]
async fn a_global_cluster_name_held_by_the_stale_primary_is_blocked_naming_its_members() {
    let mut api = MockRdsApi::new();
    api.expect_describe_db_cluster()
        .returning(|_| Ok(west_cluster()));
    api.expect_describe_global_cluster().returning(|_| {
        Ok(GlobalCluster::new(
            OLD,
            "available",
            vec![GlobalMember::new(EAST, true)],
        ))
    });
    api.expect_create_global_cluster().never();
    let action = build(
        api,
        "rds.create_global_cluster",
        json!({"global_cluster": OLD, "source_cluster": WEST}),
        "us-west-2",
    );
    let ctx = Context::new();
    match action.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => {
            assert!(
                reason.contains("us-east-1/mint-replica-east (writer)"),
                "{reason}"
            );
            assert!(reason.contains("rds.retire_global_cluster"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let e = action.execute(&ctx).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PreconditionFailed, "{e}");
}

#[tokio::test(start_paused = true)]
async fn a_source_still_in_a_global_cluster_is_blocked() {
    let mut api = MockRdsApi::new();
    api.expect_describe_db_cluster().returning(|_| {
        let mut c = west_cluster();
        c.global_cluster = Some(OLD.into());
        Ok(c)
    });
    api.expect_describe_global_cluster()
        .returning(|_| Err(fault(ErrorKind::NotFound, "GlobalClusterNotFoundFault")));
    let action = build(
        api,
        "rds.create_global_cluster",
        create_params(),
        "us-west-2",
    );
    match action.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => {
            assert!(
                reason.contains(&format!("member of global cluster {OLD}")),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// CreateGlobalCluster reached RDS, its answer was lost: the action reads the global cluster,
/// never sends a second create, and waits until it is available with the source as writer.
#[tokio::test(start_paused = true)]
async fn a_lost_create_global_cluster_answer_is_read_not_sent_again() {
    let globals = Arc::new(Globals::default());
    let mut api = MockRdsApi::new();
    api.expect_describe_db_cluster()
        .returning(|_| Ok(west_cluster()));
    let g = Arc::clone(&globals);
    api.expect_describe_global_cluster()
        .returning(move |id| g.get(id));
    let g = Arc::clone(&globals);
    api.expect_create_global_cluster()
        .times(1)
        .returning(move |id, source, protection| {
            assert_eq!(source, WEST);
            assert_eq!(protection, Some(true));
            // Created, writer not yet shown, then the answer is lost.
            g.put(GlobalCluster::new(
                id,
                "creating",
                vec![GlobalMember::new(source, false)],
            ));
            Err(lost())
        });
    let action = build(
        api,
        "rds.create_global_cluster",
        json!({"global_cluster": NEW, "source_cluster": WEST, "deletion_protection": true}),
        "us-west-2",
    );
    let ctx = Context::new();
    assert!(matches!(
        action.check(&ctx).await.unwrap(),
        Check::Ready { .. }
    ));
    let settle = {
        let g = Arc::clone(&globals);
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(90)).await;
            g.put(GlobalCluster::new(
                NEW,
                "available",
                vec![GlobalMember::new(WEST, true)],
            ));
        })
    };
    let out = action.execute(&ctx).await.unwrap();
    settle.await.unwrap();
    assert_eq!(out.get_str("writer"), Some(WEST));
    assert_eq!(out.get("created"), Some(&json!(true)));
    assert!(matches!(
        action.check(&ctx).await.unwrap(),
        Check::Done { .. }
    ));
}

/// A refusal (the name is taken meanwhile) made no change: not retried, not taken over.
#[tokio::test(start_paused = true)]
async fn global_cluster_already_exists_is_a_conflict_not_retried() {
    let mut api = MockRdsApi::new();
    api.expect_describe_db_cluster()
        .returning(|_| Ok(west_cluster()));
    api.expect_describe_global_cluster()
        .returning(|_| Err(fault(ErrorKind::NotFound, "GlobalClusterNotFoundFault")));
    api.expect_create_global_cluster()
        .times(1)
        .returning(|_, _, _| {
            Err(fault(
                ErrorKind::Conflict,
                "GlobalClusterAlreadyExistsFault",
            ))
        });
    let action = build(
        api,
        "rds.create_global_cluster",
        create_params(),
        "us-west-2",
    );
    let e = action.execute(&Context::new()).await.unwrap_err();
    assert_eq!(e.code(), Some("GlobalClusterAlreadyExistsFault"));
    assert!(!e.is_retryable());
}

/// Rollback removes the source (in its Region) and deletes the global cluster; only what the
/// step created.
#[tokio::test(start_paused = true)]
async fn rollback_removes_the_source_then_deletes_the_global_cluster() {
    let globals = Arc::new(Globals::default());
    let mut api = MockRdsApi::new();
    api.expect_describe_db_cluster()
        .returning(|_| Ok(west_cluster()));
    let g = Arc::clone(&globals);
    api.expect_describe_global_cluster()
        .returning(move |id| g.get(id));
    let g = Arc::clone(&globals);
    api.expect_create_global_cluster()
        .times(1)
        .returning(move |id, source, _| {
            g.put(GlobalCluster::new(
                id,
                "available",
                vec![GlobalMember::new(source, true)],
            ));
            Ok(())
        });
    let g = Arc::clone(&globals);
    api.expect_remove_from_global_cluster()
        .times(1)
        .returning(move |id, arn| {
            assert_eq!(arn, WEST);
            g.put(GlobalCluster::new(id, "available", vec![]));
            Ok(())
        });
    let g = Arc::clone(&globals);
    api.expect_delete_global_cluster()
        .times(1)
        .returning(move |id| {
            g.remove(id);
            Ok(())
        });
    let action = build(
        api,
        "rds.create_global_cluster",
        create_params(),
        "us-west-2",
    );
    let ctx = Context::new();
    action.execute(&ctx).await.unwrap();
    action.rollback(&ctx).await.unwrap();
    assert!(globals.get(NEW).is_err());
}

// --- rds.retire_global_cluster ----------------------------------------------------------------

fn old_global() -> GlobalCluster {
    let mut g = GlobalCluster::new(
        OLD,
        "available",
        vec![
            GlobalMember::new(EAST, true),
            GlobalMember::new("arn:aws:rds:eu-west-1:123456789012:cluster:mint-eu", false),
        ],
    );
    g.engine = Some("aurora-postgresql".into());
    g
}

#[tokio::test(start_paused = true)]
async fn a_member_not_named_in_expect_members_refuses_the_retirement() {
    let mut api = MockRdsApi::new();
    api.expect_describe_global_cluster()
        .returning(|_| Ok(old_global()));
    api.expect_remove_from_global_cluster().never();
    api.expect_delete_global_cluster().never();
    let action = build(
        api,
        "rds.retire_global_cluster",
        json!({"global_cluster": OLD, "expect_members": [EAST]}),
        "us-east-1",
    );
    let ctx = Context::new();
    match action.check(&ctx).await.unwrap() {
        Check::Blocked { reason } => {
            assert!(
                reason.contains("not named in expect_members: eu-west-1/mint-eu"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        action.execute(&ctx).await.unwrap_err().kind(),
        ErrorKind::PreconditionFailed
    );
}

#[tokio::test(start_paused = true)]
async fn a_missing_global_cluster_is_already_retired() {
    let mut api = MockRdsApi::new();
    api.expect_describe_global_cluster()
        .returning(|_| Err(fault(ErrorKind::NotFound, "GlobalClusterNotFoundFault")));
    let action = build(
        api,
        "rds.retire_global_cluster",
        json!({"global_cluster": OLD, "expect_members": []}),
        "us-east-1",
    );
    assert!(matches!(
        action.check(&Context::new()).await.unwrap(),
        Check::Done { .. }
    ));
}

/// Each member is removed in its own Region, the secondary first; a busy global cluster
/// (`InvalidGlobalClusterStateFault`: the removal is still settling) is waited for; a lost
/// DeleteGlobalCluster answer is read, not sent again.
#[tokio::test(start_paused = true)]
async fn retirement_removes_each_member_in_its_region_then_deletes_once() {
    let globals = Arc::new(Globals::default());
    globals.put(old_global());
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let port = {
        let globals = Arc::clone(&globals);
        let calls = Arc::clone(&calls);
        move |region: Option<&str>| {
            let region = region.unwrap_or("none").to_owned();
            let mut api = MockRdsApi::new();
            let g = Arc::clone(&globals);
            api.expect_describe_global_cluster()
                .returning(move |id| g.get(id));
            let (g, c, r) = (Arc::clone(&globals), Arc::clone(&calls), region);
            api.expect_remove_from_global_cluster()
                .returning(move |id, arn| {
                    c.lock().unwrap().push(format!("remove {arn} in {r}"));
                    let mut now = g.get(id)?;
                    now.members.retain(|m| m.arn != arn);
                    g.put(now);
                    Ok(())
                });
            let (g, c) = (Arc::clone(&globals), Arc::clone(&calls));
            api.expect_delete_global_cluster().returning(move |id| {
                c.lock().unwrap().push(format!("delete {id}"));
                g.remove(id);
                Err(lost())
            });
            Arc::new(api) as Arc<dyn RdsApi>
        }
    };
    let action = registry(port)
        .build(
            &ActionSpec::new(
                "retire-old",
                "rds.retire_global_cluster",
                json!({"global_cluster": OLD, "expect_members": ["mint-replica-east", "mint-eu"]}),
            )
            .in_region("us-west-2"),
        )
        .unwrap();
    let ctx = Context::new();
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(
        *calls.lock().unwrap(),
        vec![
            "remove arn:aws:rds:eu-west-1:123456789012:cluster:mint-eu in eu-west-1".to_owned(),
            format!("remove {EAST} in us-east-1"),
            format!("delete {OLD}"),
        ]
    );
    assert_eq!(
        out.get("detached_clusters"),
        Some(&json!(["us-east-1/mint-replica-east", "eu-west-1/mint-eu"]))
    );
    assert!(matches!(
        action.check(&ctx).await.unwrap(),
        Check::Done { .. }
    ));
    action.verify(&ctx).await.unwrap();
}

// --- rds.add_global_secondary -----------------------------------------------------------------

fn new_global() -> GlobalCluster {
    let mut g = GlobalCluster::new(NEW, "available", vec![GlobalMember::new(WEST, true)]);
    g.engine = Some("aurora-postgresql".into());
    g.engine_version = Some("16.4".into());
    g.storage_encrypted = Some(true);
    g
}

fn add_params() -> serde_json::Value {
    json!({
        "global_cluster": NEW,
        "cluster": "mint-east-2",
        "instances": [
            {"identifier": "mint-east-2-1", "class": "db.r6g.large"},
            {"identifier": "mint-east-2-2", "class": "db.r6g.large"},
        ],
        "db_subnet_group": "mint-db-subnets",
        "vpc_security_group_ids": ["sg-0123456789abcdef0"],
        "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/mrk-1",
    })
}

#[tokio::test(start_paused = true)]
async fn a_stale_cluster_of_that_name_is_never_adopted() {
    let mut api = MockRdsApi::new();
    api.expect_describe_global_cluster()
        .returning(|_| Ok(new_global()));
    api.expect_describe_db_cluster().returning(|_| {
        let mut c = DbCluster::new("mint-east-2", "available", vec![ClusterMember::writer("x")]);
        c.arn = Some("arn:aws:rds:us-east-1:123456789012:cluster:mint-east-2".into());
        Ok(c)
    });
    api.expect_create_global_secondary().never();
    let action = build(api, "rds.add_global_secondary", add_params(), "us-east-1");
    match action.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => {
            assert!(reason.contains("never adopted"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn one_secondary_per_region_and_a_missing_global_cluster_block() {
    let mut api = MockRdsApi::new();
    api.expect_describe_global_cluster().returning(|_| {
        let mut g = new_global();
        g.members.push(GlobalMember::new(
            "arn:aws:rds:us-east-1:123456789012:cluster:other",
            false,
        ));
        Ok(g)
    });
    api.expect_describe_db_cluster()
        .returning(|_| Err(fault(ErrorKind::NotFound, "DBClusterNotFoundFault")));
    let action = build(api, "rds.add_global_secondary", add_params(), "us-east-1");
    match action.check(&Context::new()).await.unwrap() {
        Check::Blocked { reason } => {
            assert!(reason.contains("one secondary per Region"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let mut api = MockRdsApi::new();
    api.expect_describe_global_cluster()
        .returning(|_| Err(fault(ErrorKind::NotFound, "GlobalClusterNotFoundFault")));
    let action = build(api, "rds.add_global_secondary", add_params(), "us-east-1");
    assert!(matches!(
        action.check(&Context::new()).await.unwrap(),
        Check::Blocked { .. }
    ));
}

/// The cluster is created once even though the answer was lost (read back, not re-sent), with
/// the global database's engine, version and encryption and the runbook's network and key; an
/// instance that already exists in it (an earlier attempt's) is not created again.
#[tokio::test(start_paused = true)]
async fn a_lost_create_db_cluster_answer_is_read_and_existing_instances_are_kept() {
    let globals = Arc::new(Globals::default());
    globals.put(new_global());
    let cluster: Arc<Mutex<Option<DbCluster>>> = Arc::default();
    let instances: Arc<Mutex<Vec<DbInstance>>> = Arc::default();
    let mut existing = DbInstance::new("mint-east-2-1", "available");
    existing.cluster = Some("mint-east-2".into());
    instances.lock().unwrap().push(existing);
    let creates = Arc::new(AtomicUsize::new(0));

    let mut api = MockRdsApi::new();
    let g = Arc::clone(&globals);
    api.expect_describe_global_cluster()
        .returning(move |id| g.get(id));
    let c = Arc::clone(&cluster);
    api.expect_describe_db_cluster().returning(move |_| {
        c.lock()
            .unwrap()
            .clone()
            .ok_or_else(|| fault(ErrorKind::NotFound, "DBClusterNotFoundFault"))
    });
    let (c, g) = (Arc::clone(&cluster), Arc::clone(&globals));
    api.expect_create_global_secondary()
        .times(1)
        .returning(move |spec| {
            assert_eq!(spec.engine, "aurora-postgresql");
            assert_eq!(spec.engine_version.as_deref(), Some("16.4"));
            assert_eq!(spec.storage_encrypted, Some(true));
            assert_eq!(
                spec.kms_key_id.as_deref(),
                Some("arn:aws:kms:us-east-1:123456789012:key/mrk-1")
            );
            assert_eq!(
                spec.settings.subnet_group.as_deref(),
                Some("mint-db-subnets")
            );
            let arn = "arn:aws:rds:us-east-1:123456789012:cluster:mint-east-2";
            let mut made = DbCluster::new(spec.cluster.as_str(), "available", vec![]);
            made.arn = Some(arn.into());
            *c.lock().unwrap() = Some(made);
            let mut now = g.get(&spec.global)?;
            now.members.push(GlobalMember::new(arn, false));
            g.put(now);
            Err(lost())
        });
    let i = Arc::clone(&instances);
    api.expect_describe_db_instance().returning(move |id| {
        i.lock()
            .unwrap()
            .iter()
            .find(|x| x.id == id)
            .cloned()
            .ok_or_else(|| fault(ErrorKind::NotFound, "DBInstanceNotFound"))
    });
    let (i, n) = (Arc::clone(&instances), Arc::clone(&creates));
    api.expect_create_cluster_instance()
        .returning(move |id, cluster, engine, class, _| {
            assert_eq!(
                (cluster, engine, class),
                ("mint-east-2", "aurora-postgresql", "db.r6g.large")
            );
            n.fetch_add(1, Ordering::SeqCst);
            let mut made = DbInstance::new(id, "available");
            made.cluster = Some(cluster.into());
            i.lock().unwrap().push(made);
            Ok(())
        });
    let action = build(api, "rds.add_global_secondary", add_params(), "us-east-1");
    let ctx = Context::new();
    let out = action.execute(&ctx).await.unwrap();
    assert_eq!(
        creates.load(Ordering::SeqCst),
        1,
        "only the missing instance"
    );
    assert_eq!(
        out.get("instances"),
        Some(&json!(["mint-east-2-1", "mint-east-2-2"]))
    );
    assert_eq!(out.get_str("engine_version"), Some("16.4"));
    assert_eq!(out.get("created"), Some(&json!(true)));
    assert!(matches!(
        action.check(&ctx).await.unwrap(),
        Check::Done { .. }
    ));
}

#[test]
fn the_secondary_parameters_are_checked_before_any_call() {
    let reg = registry(|_| Arc::new(MockRdsApi::new()) as Arc<dyn RdsApi>);
    let refused = |params: serde_json::Value, region: Option<&str>| {
        let mut spec = ActionSpec::new("s", "rds.add_global_secondary", params);
        if let Some(r) = region {
            spec = spec.in_region(r);
        }
        reg.build(&spec).unwrap_err().to_string()
    };
    assert!(refused(add_params(), None).contains("region"));
    let mut p = add_params();
    p["serverless_v2_scaling"] = json!({"min_capacity": 4, "max_capacity": 2});
    assert!(refused(p, Some("us-east-1")).contains("serverless_v2_scaling"));
    let mut p = add_params();
    p["instances"] = json!([{"identifier": "a", "class": "r6g"}]);
    assert!(refused(p, Some("us-east-1")).contains("instances"));
}
