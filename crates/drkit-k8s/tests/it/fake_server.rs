//! The k8s actions end to end over real HTTP, against the **fake** API server of
//! `drkit_testkit::fake_kube` (a fake: see its docs for what it does not do). The client comes
//! from a kubeconfig file the fake wrote (plain `http://127.0.0.1:PORT`, dummy token), read
//! with `Kubeconfig::read_from` — never through the process-wide `KUBECONFIG`.
//!
//! Real time: the fake's rollout clock is the wall clock, so the delays are kept short.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drkit_core::{ActionKind, Check, Context, ErrorKind, RecoveryAction, WaitPolicy};
use drkit_k8s::{
    ApplyManifests, ApplyParams, ClusterRef, Connect, FixedClient, ScaleKind, ScaleParams,
    ScaleWorkload, WaitReady, WaitReadyParams,
};
use drkit_testkit::fake_kube::{FakeKubeApi, FakeKubeHandle, FakeKubeOptions};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::json;

use crate::mock::example_manifests;

const CONTEXT: &str = "dr-fake";
const NS: &str = "mint-replica";

/// A running fake, its kubeconfig's folder, and a connection made from that kubeconfig.
pub(crate) struct Cluster {
    pub(crate) fake: FakeKubeHandle,
    _dir: tempfile::TempDir,
    pub(crate) connect: Arc<dyn Connect>,
}

async fn client_from_kubeconfig(path: &Path, context: &str) -> kube::Client {
    // kube builds its (unused, for http) TLS connector with the process default provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = Kubeconfig::read_from(path).unwrap();
    let options = KubeConfigOptions {
        context: Some(context.to_owned()),
        ..KubeConfigOptions::default()
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .unwrap();
    config.default_retry = false;
    kube::Client::try_from(config).unwrap()
}

pub(crate) async fn cluster(rollout_delay: Duration) -> Cluster {
    let fake = FakeKubeApi::start(FakeKubeOptions::default().rollout_delay(rollout_delay))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&path, CONTEXT).unwrap();
    let client = client_from_kubeconfig(&path, CONTEXT).await;
    Cluster {
        fake,
        _dir: dir,
        connect: Arc::new(FixedClient::new(client)),
    }
}

pub(crate) fn cluster_ref() -> ClusterRef {
    ClusterRef::Kubeconfig {
        context: Some(CONTEXT.into()),
    }
}

pub(crate) fn fast() -> WaitPolicy {
    WaitPolicy::without_jitter()
        .first_delay(Duration::from_millis(50))
        .max_delay(Duration::from_millis(100))
}

fn apply_action(c: &Cluster, manifests: impl Into<std::path::PathBuf>) -> ApplyManifests {
    ApplyManifests::new(
        "deploy-services",
        ApplyParams::new(manifests),
        &cluster_ref(),
        Arc::clone(&c.connect),
    )
    .with_wait_policy(fast())
}

fn wait_action(c: &Cluster) -> WaitReady {
    WaitReady::new(
        "services-ready",
        WaitReadyParams::new(NS),
        &cluster_ref(),
        Arc::clone(&c.connect),
    )
    .with_wait_policy(fast())
}

fn deployment(c: &Cluster) -> serde_json::Value {
    c.fake
        .object("apps", "v1", "deployments", Some(NS), "api")
        .unwrap()
}

pub(crate) fn ctx() -> Context {
    Context::new().with_timeout(Duration::from_secs(20))
}

/// `k8s.apply` of the example manifests: check says what it would create and stores nothing;
/// a dry-run execute is refused; execute creates them (in order); check is then done and a
/// second execute changes nothing (same resourceVersions); a changed manifest is
/// "configured", its dry run storing nothing.
#[tokio::test]
async fn apply_of_the_example_manifests_end_to_end() {
    let started = Instant::now();
    // A long rollout: no status change races the comparisons below.
    let c = cluster(Duration::from_secs(60)).await;
    let apply = apply_action(&c, example_manifests());
    let objects_before = c.fake.object_count();

    let check = apply.check(&ctx()).await.unwrap();
    let Check::Ready { change } = &check else {
        panic!("{check:?}")
    };
    assert!(
        change.contains(
            "create Namespace mint-replica, Service mint-replica/api, Deployment mint-replica/api"
        ),
        "{change}"
    );
    let err = apply.execute(&ctx().with_dry_run(true)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(c.fake.object_count(), objects_before, "nothing stored");
    assert!(
        c.fake.requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        c.fake.requests()
    );

    let out = apply.execute(&ctx()).await.unwrap();
    assert_eq!(
        out.get("created"),
        Some(&json!([
            "Namespace mint-replica",
            "Service mint-replica/api",
            "Deployment mint-replica/api"
        ]))
    );
    assert_eq!(out.get("objects"), Some(&json!(3)));
    let patches: Vec<_> = c
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 3);
    for p in &patches {
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/apply-patch+yaml")
        );
        assert!(p.has_param("fieldManager", "drkit"), "{}", p.line());
        assert!(p.has_param("force", "true"), "{}", p.line());
    }
    let d = deployment(&c);
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["metadata"]["generation"], 1);
    // The Service got a cluster IP and defaults the manifest does not have.
    let svc = c
        .fake
        .object("", "v1", "services", Some(NS), "api")
        .unwrap();
    assert!(svc["spec"]["clusterIP"].is_string());
    assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");

    // Applied and unchanged, despite the server's defaults and the controller's status.
    let check = apply.check(&ctx()).await.unwrap();
    let Check::Done { detail, outputs } = &check else {
        panic!("{check:?}")
    };
    assert!(detail.contains("all 3 objects"), "{detail}");
    assert_eq!(outputs.get("objects"), Some(&json!(3)));
    let rv = c.fake.resource_version();
    let again = apply.execute(&ctx()).await.unwrap();
    assert_eq!(again.get("unchanged").unwrap().as_array().unwrap().len(), 3);
    assert_eq!(
        c.fake.resource_version(),
        rv,
        "an unchanged apply writes nothing"
    );
    assert!(apply.verify(&ctx()).await.unwrap().contains("all 3"));

    // A changed manifest: configured; its dry run (in check) stores nothing.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example_manifests().join("10-api.yaml")).unwrap();
    std::fs::write(
        dir.path().join("10-api.yaml"),
        text.replace("replicas: 2", "replicas: 3"),
    )
    .unwrap();
    let changed = apply_action(&c, dir.path());
    let check = changed.check(&ctx()).await.unwrap();
    assert_eq!(
        check,
        Check::ready(
            "server-side apply ".to_owned()
                + &dir.path().display().to_string()
                + " (field manager drkit, forcing conflicts): configure Deployment \
                   mint-replica/api; 1 unchanged"
        )
    );
    assert!(
        c.fake
            .requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.has_param("dryRun", "All"))
    );
    assert_eq!(
        deployment(&c)["spec"]["replicas"],
        2,
        "the dry run stored nothing"
    );
    let out = changed.execute(&ctx()).await.unwrap();
    assert_eq!(
        out.get("configured"),
        Some(&json!(["Deployment mint-replica/api"]))
    );
    assert_eq!(
        out.get("unchanged"),
        Some(&json!(["Service mint-replica/api"]))
    );
    let d = deployment(&c);
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["metadata"]["generation"], 2);
    eprintln!("apply end to end: {:?}", started.elapsed());
}

/// A kind the cluster does not serve: check is blocked, naming it.
#[tokio::test]
async fn a_kind_the_fake_does_not_serve_blocks_the_apply() {
    let c = cluster(Duration::from_millis(100)).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("widget.yaml"),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: default}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("hpa.yaml"),
        "apiVersion: apps/v1\nkind: Gizmo\nmetadata: {name: g, namespace: default}\n",
    )
    .unwrap();
    for file in ["widget.yaml", "hpa.yaml"] {
        let check = apply_action(&c, dir.path().join(file))
            .check(&ctx())
            .await
            .unwrap();
        let Check::Blocked { reason } = &check else {
            panic!("{check:?}")
        };
        assert!(
            reason.contains("the cluster does not serve kind"),
            "{reason}"
        );
    }
}

/// `k8s.wait_ready` on the applied namespace: first not ready (pending pods, why), then,
/// after the rollout delay, done.
#[tokio::test]
async fn wait_ready_follows_the_simulated_rollout() {
    let started = Instant::now();
    // Pods are Pending for the first half of the delay (the manifest has a readiness probe).
    let c = cluster(Duration::from_millis(600)).await;
    apply_action(&c, example_manifests())
        .execute(&ctx())
        .await
        .unwrap();
    let wait = wait_action(&c);
    let check = wait.check(&ctx()).await.unwrap();
    let Check::Ready { change } = &check else {
        panic!("{check:?}")
    };
    assert!(
        change.contains("Deployment api: 0 of 2 updated replicas available"),
        "{change}"
    );
    assert!(
        change.contains("0 pods ready (want at least 1)"),
        "{change}"
    );
    assert!(change.contains("not ready: api-"), "{change}");
    assert!(change.contains("-0: phase Pending"), "{change}");

    let out = wait.execute(&ctx()).await.unwrap();
    assert_eq!(out.get("ready_pods"), Some(&json!(2)));
    assert_eq!(
        out.get("workloads"),
        Some(&json!(["Deployment api: 2/2 available"]))
    );
    assert!(matches!(
        wait.check(&ctx()).await.unwrap(),
        Check::Done { .. }
    ));
    wait.verify(&ctx()).await.unwrap();
    // Every list of the wait went through the namespace, pods included.
    assert!(
        c.fake
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path == "/api/v1/namespaces/mint-replica/pods")
    );
    eprintln!("wait_ready end to end: {:?}", started.elapsed());
}

/// Half-way through the delay the pods run but fail their readiness probe, and a selector
/// that matches nothing is "no workload matches".
#[tokio::test]
async fn wait_ready_names_a_failing_readiness_probe_and_uses_the_selector() {
    let c = cluster(Duration::from_millis(1000)).await;
    apply_action(&c, example_manifests())
        .execute(&ctx())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(550)).await;
    let check = wait_action(&c).check(&ctx()).await.unwrap();
    let Check::Ready { change } = &check else {
        panic!("{check:?}")
    };
    assert!(
        change.contains("container api running but not ready (readiness probe; restarts 0)"),
        "{change}"
    );
    let none = WaitReady::new(
        "none",
        WaitReadyParams::new(NS).selector("app=web"),
        &cluster_ref(),
        Arc::clone(&c.connect),
    );
    let Check::Ready { change } = none.check(&ctx()).await.unwrap() else {
        panic!()
    };
    assert!(change.contains("no workload matches"), "{change}");
    assert!(
        c.fake
            .requests()
            .iter()
            .any(|r| r.has_param("labelSelector", "app=web"))
    );
}

/// `k8s.scale` of the api Deployment through the scale subresource, waiting for the new pod;
/// rollback restores the previous count.
#[tokio::test]
async fn scale_then_rollback_against_the_fake() {
    let started = Instant::now();
    let c = cluster(Duration::from_millis(200)).await;
    apply_action(&c, example_manifests())
        .execute(&ctx())
        .await
        .unwrap();
    wait_action(&c).execute(&ctx()).await.unwrap();

    let scale = ScaleWorkload::new(
        "scale-api",
        ScaleParams::new(NS, ScaleKind::Deployment, "api", 3),
        &cluster_ref(),
        Arc::clone(&c.connect),
    )
    .with_wait_policy(fast());
    assert_eq!(
        scale.check(&ctx()).await.unwrap(),
        Check::ready("scale Deployment mint-replica/api: 2 -> 3 replicas")
    );
    let out = scale.execute(&ctx()).await.unwrap();
    assert_eq!(out.get("previous_replicas"), Some(&json!(2)));
    assert_eq!(out.get("replicas"), Some(&json!(3)));
    assert_eq!(
        out.get("ready"),
        Some(&json!("Deployment api: 3/3 available"))
    );
    let d = deployment(&c);
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["status"]["availableReplicas"], 3);
    let scale_patches: Vec<_> = c
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with("/deployments/api/scale"))
        .collect();
    assert_eq!(scale_patches.len(), 1);
    assert_eq!(
        scale_patches[0].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert!(matches!(
        scale.check(&ctx()).await.unwrap(),
        Check::Done { .. }
    ));

    scale.rollback(&ctx()).await.unwrap();
    let d = deployment(&c);
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["status"]["replicas"], 2);
    let ready = wait_action(&c).check(&ctx()).await.unwrap();
    let Check::Done { outputs, .. } = &ready else {
        panic!("{ready:?}")
    };
    assert_eq!(outputs.get("ready_pods"), Some(&json!(2)));

    // Back at 2 replicas, the cluster matches the manifests again.
    assert!(matches!(
        apply_action(&c, example_manifests())
            .check(&ctx())
            .await
            .unwrap(),
        Check::Done { .. }
    ));
    eprintln!("scale end to end: {:?}", started.elapsed());
}

/// The kubeconfig file the fake writes is one kube-rs accepts over plain http, with its
/// context, token user and namespace; a missing scale target is blocked.
#[tokio::test]
async fn a_client_from_the_written_kubeconfig_reaches_the_fake() {
    let fake = FakeKubeApi::start(FakeKubeOptions::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    fake.write_kubeconfig(&path, "elsewhere").unwrap();
    let client = client_from_kubeconfig(&path, "elsewhere").await;
    assert_eq!(client.default_namespace(), "default");
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");
    assert!(version.git_version.contains("fake"));
    let missing = ScaleWorkload::new(
        "scale-missing",
        ScaleParams::new("default", ScaleKind::Deployment, "nope", 1),
        &cluster_ref(),
        Arc::new(FixedClient::new(client)),
    );
    assert_eq!(
        missing.check(&ctx()).await.unwrap(),
        Check::blocked("Deployment default/nope does not exist")
    );
    // kube-rs sends the kubeconfig's token over plain http too.
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.auth_scheme.as_deref() == Some("Bearer"))
    );
    assert_eq!(
        fake.requests().last().map(|r| r.line()),
        Some("GET /apis/apps/v1/namespaces/default/deployments/nope/scale".to_owned())
    );
}
