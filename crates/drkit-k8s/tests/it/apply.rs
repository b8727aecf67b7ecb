//! `k8s.apply` against the mock API server.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use drkit_core::{Check, Context, ErrorKind, RecoveryAction};
use drkit_k8s::{ApplyManifests, ApplyParams, ClusterRef};
use serde_json::{Value, json};

use crate::mock::{MockApi, discovery, example_manifests, status};

fn action(api: &MockApi, params: ApplyParams) -> ApplyManifests {
    ApplyManifests::new(
        "deploy-services",
        params,
        &ClusterRef::Kubeconfig { context: None },
        api.connect(),
    )
}

/// Echoes an applied object with a resourceVersion and managedFields, as the API server does.
fn applied(body: &Value, rv: &str) -> Value {
    let mut out = body.clone();
    out["metadata"]["resourceVersion"] = json!(rv);
    out["metadata"]["managedFields"] =
        json!([{"manager": "drkit", "operation": "Apply", "time": "2026-11-29T01:00:00Z"}]);
    out
}

/// A first apply: nothing exists; every object is created with a server-side apply PATCH,
/// Namespace first, then the Service, then the Deployment (file order put right).
#[tokio::test]
async fn a_first_apply_creates_every_object_in_a_safe_order() {
    let api = MockApi::new(|r| {
        if let Some(d) = discovery(&r.path) {
            return d;
        }
        match r.method.as_str() {
            "GET" => status(404, "NotFound", "not found"),
            "PATCH" => (201, applied(&r.body, "1")),
            _ => status(405, "MethodNotAllowed", "unexpected"),
        }
    });
    let apply = action(&api, ApplyParams::new(example_manifests()));
    let out = apply.execute(&Context::new()).await.unwrap();
    assert_eq!(
        out.get("created"),
        Some(&json!([
            "Namespace mint-replica",
            "Service mint-replica/api",
            "Deployment mint-replica/api"
        ]))
    );
    assert_eq!(out.get("configured"), Some(&json!([])));
    assert_eq!(out.get("objects"), Some(&json!(3)));

    let patches: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    let order: Vec<_> = patches.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        order,
        [
            "/api/v1/namespaces/mint-replica",
            "/api/v1/namespaces/mint-replica/services/api",
            "/apis/apps/v1/namespaces/mint-replica/deployments/api"
        ]
    );
    for p in &patches {
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/apply-patch+yaml"),
            "{}",
            p.line()
        );
        assert!(p.has_param("fieldManager", "drkit"), "{}", p.query);
        assert!(p.has_param("force", "true"), "{}", p.query);
        assert!(!p.query.contains("dryRun"), "{}", p.query);
    }
    // The body is the object as written, with apiVersion and kind.
    assert_eq!(patches[2].body["kind"], "Deployment");
    assert_eq!(patches[2].body["apiVersion"], "apps/v1");
    assert_eq!(patches[2].body["spec"]["replicas"], 2);
}

/// Without `force_conflicts`, the PATCH has no `force`; the server's 409 conflict is a
/// `Conflict` error and `check` reports it as blocked.
#[tokio::test]
async fn without_force_a_field_conflict_is_reported() {
    let api = MockApi::new(|r| {
        if let Some(d) = discovery(&r.path) {
            return d;
        }
        match r.method.as_str() {
            "GET" => (
                200,
                json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "mint-replica", "resourceVersion": "3"}}),
            ),
            _ => status(
                409,
                "Conflict",
                "Apply failed with 1 conflict: conflict with \"kubectl\": .metadata.labels",
            ),
        }
    });
    let apply = action(
        &api,
        ApplyParams::new(example_manifests().join("00-namespace.yaml")).force_conflicts(false),
    );
    let check = apply.check(&Context::new()).await.unwrap();
    let Check::Blocked { reason } = check else {
        panic!("{check:?}")
    };
    assert!(reason.contains("conflict with \"kubectl\""), "{reason}");
    let err = apply.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(!err.is_retryable());
    let patch = api
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert!(!patch.query.contains("force"), "{}", patch.query);
}

/// `check`: GET then a dry-run apply per object; equal to the live object (ignoring
/// managedFields and resourceVersion) -> done, with nothing but dry runs sent.
#[tokio::test]
async fn check_is_done_when_the_dry_run_changes_nothing() {
    let api = MockApi::new(|r| {
        if let Some(d) = discovery(&r.path) {
            return d;
        }
        let live = |body: &Value| {
            let mut v = body.clone();
            v["metadata"]["resourceVersion"] = json!("7");
            v["metadata"]["managedFields"] = json!([{"manager": "kubectl"}]);
            v
        };
        match r.method.as_str() {
            // The live object is the manifest itself (the mock knows it from the path).
            "GET" => (200, live(&manifest_for(&r.path))),
            "PATCH" => {
                assert!(
                    r.has_param("dryRun", "All"),
                    "check sent a real PATCH: {}",
                    r.query
                );
                (200, applied(&r.body, "7"))
            }
            _ => status(405, "MethodNotAllowed", "unexpected"),
        }
    });
    let apply = action(&api, ApplyParams::new(example_manifests()));
    let check = apply.check(&Context::new()).await.unwrap();
    let Check::Done { outputs, .. } = check else {
        panic!("{check:?}")
    };
    assert_eq!(outputs.get("objects"), Some(&json!(3)));
    assert_eq!(outputs.get("created"), Some(&json!([])));
    assert_eq!(
        outputs
            .get("unchanged")
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(3)
    );
    assert_eq!(
        apply.verify(&Context::new()).await.unwrap(),
        format!(
            "all 3 objects of {} are applied",
            example_manifests().display()
        )
    );
}

fn manifest_for(path: &str) -> Value {
    let objects = drkit_k8s::manifest::load(&example_manifests()).unwrap();
    let o = objects
        .iter()
        .find(|o| path.ends_with(&format!("/{}", o.name)) && path.contains(&kind_path(&o.kind)))
        .unwrap_or_else(|| panic!("no manifest for {path}"));
    o.value.clone()
}

fn kind_path(kind: &str) -> String {
    match kind {
        "Namespace" => "/api/v1/namespaces/mint-replica".to_owned(),
        other => format!("/{}s/", other.to_lowercase()),
    }
}

/// `check` reports what would change: a missing Deployment would be created, a Service whose
/// dry run differs would be configured.
#[tokio::test]
async fn check_lists_what_would_be_created_and_configured() {
    let api = MockApi::new(|r| {
        if let Some(d) = discovery(&r.path) {
            return d;
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", p) if p.contains("/deployments/") => status(404, "NotFound", "not found"),
            ("GET", p) => (200, manifest_for(p)),
            ("PATCH", p) if p.contains("/services/") => {
                let mut v = r.body.clone();
                v["spec"]["ports"][0]["port"] = json!(8081);
                (200, v)
            }
            ("PATCH", _) => (200, r.body.clone()),
            _ => status(405, "MethodNotAllowed", "unexpected"),
        }
    });
    let apply = action(&api, ApplyParams::new(example_manifests()));
    let check = apply.check(&Context::new()).await.unwrap();
    let Check::Ready { change } = check else {
        panic!("{check:?}")
    };
    assert!(
        change.ends_with(
            "create Deployment mint-replica/api; configure Service mint-replica/api; 1 unchanged"
        ),
        "{change}"
    );
    assert!(
        change.contains("field manager drkit, forcing conflicts"),
        "{change}"
    );
    let err = apply.verify(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PostconditionFailed);
}

/// `execute` on objects that exist: unchanged when the resourceVersion does not move (a no-op
/// apply is not written), configured when it does.
#[tokio::test]
async fn execute_tells_configured_from_unchanged_by_resource_version() {
    let api = MockApi::new(|r| {
        if let Some(d) = discovery(&r.path) {
            return d;
        }
        let mut live = manifest_for(&r.path);
        live["metadata"]["resourceVersion"] = json!("10");
        if r.path.contains("/deployments/") {
            // The live Deployment runs 1 replica; the manifest says 2.
            live["spec"]["replicas"] = json!(1);
        }
        match r.method.as_str() {
            "GET" => (200, live),
            "PATCH" if r.path.contains("/deployments/") => (200, applied(&r.body, "11")),
            "PATCH" => (200, applied(&r.body, "10")),
            _ => status(405, "MethodNotAllowed", "unexpected"),
        }
    });
    let apply = action(&api, ApplyParams::new(example_manifests()));
    let out = apply.execute(&Context::new()).await.unwrap();
    assert_eq!(
        out.get("configured"),
        Some(&json!(["Deployment mint-replica/api"]))
    );
    assert_eq!(
        out.get("unchanged"),
        Some(&json!([
            "Namespace mint-replica",
            "Service mint-replica/api"
        ]))
    );
}

/// A controller writes the Deployment's status between drkit's GET and its PATCH: the
/// `resourceVersion` moves, but the apply changed nothing, so it is *unchanged* (found against
/// drkit-testkit's fake API server while a rollout completed).
#[tokio::test]
async fn a_status_write_between_get_and_apply_is_not_a_change() {
    let api = MockApi::new(|r| {
        if let Some(d) = discovery(&r.path) {
            return d;
        }
        let mut live = manifest_for(&r.path);
        live["metadata"]["resourceVersion"] = json!("10");
        live["status"] = json!({"readyReplicas": 1});
        match r.method.as_str() {
            "GET" => (200, live),
            "PATCH" if r.path.contains("/deployments/") => {
                let mut after = applied(&r.body, "12");
                after["status"] = json!({"readyReplicas": 2});
                (200, after)
            }
            "PATCH" => {
                let mut after = applied(&r.body, "10");
                after["status"] = json!({"readyReplicas": 1});
                (200, after)
            }
            _ => status(405, "MethodNotAllowed", "unexpected"),
        }
    });
    let apply = action(&api, ApplyParams::new(example_manifests()));
    let out = apply.execute(&Context::new()).await.unwrap();
    assert_eq!(out.get("configured"), Some(&json!([])));
    assert_eq!(
        out.get("unchanged"),
        Some(&json!([
            "Namespace mint-replica",
            "Service mint-replica/api",
            "Deployment mint-replica/api"
        ]))
    );
}

/// 403 Forbidden: not retryable, the error names the object, the operation and the reason.
#[tokio::test]
async fn forbidden_is_permanent_and_names_the_object() {
    let api = MockApi::new(|r| {
        if let Some(d) = discovery(&r.path) {
            return d;
        }
        match r.method.as_str() {
            "GET" => status(404, "NotFound", "not found"),
            "PATCH" if r.path.contains("/deployments/") => status(
                403,
                "Forbidden",
                "deployments.apps \"api\" is forbidden: User \"dr-operator\" cannot patch \
                 resource \"deployments\" in API group \"apps\" in the namespace \"mint-replica\"",
            ),
            "PATCH" => (201, applied(&r.body, "1")),
            _ => status(405, "MethodNotAllowed", "unexpected"),
        }
    });
    let apply = action(&api, ApplyParams::new(example_manifests()));
    let err = apply
        .execute(&Context::new().with_step("deploy-services"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
    assert!(!err.is_retryable());
    assert_eq!(err.code(), Some("Forbidden"));
    assert_eq!(err.operation(), Some("apply"));
    let text = err.to_string();
    assert!(
        text.starts_with("k8s.apply [deploy-services] on k8s:manifests/"),
        "{text}"
    );
    assert!(text.contains("apply Deployment mint-replica/api"), "{text}");
    assert!(
        text.contains("cannot patch resource \"deployments\""),
        "{text}"
    );
}

/// 429 and 5xx: retryable (the retry layer will try again); 429's retryAfterSeconds is kept.
#[tokio::test]
async fn throttling_and_server_errors_are_retryable() {
    for (code, reason, kind) in [
        (429, "TooManyRequests", ErrorKind::Throttled),
        (500, "InternalError", ErrorKind::Unavailable),
        (503, "ServiceUnavailable", ErrorKind::Unavailable),
    ] {
        let api = MockApi::new(move |r| {
            if let Some(d) = discovery(&r.path) {
                return d;
            }
            let (c, mut v) = status(code, reason, "try later");
            if code == 429 {
                v["details"] = json!({"retryAfterSeconds": 3});
            }
            (c, v)
        });
        let apply = action(&api, ApplyParams::new(example_manifests()));
        let err = apply.execute(&Context::new()).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{code}");
        assert!(err.is_retryable(), "{code}");
        assert!(
            err.to_string().contains("get Namespace mint-replica"),
            "{err}"
        );
        if code == 429 {
            assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(3)));
        }
    }
}

/// A namespaced object without a namespace goes to the step's `namespace`; a custom resource
/// whose CRD is in the same set is applied once discovery serves its kind (polled, under
/// paused time); a kind nobody serves is a NotFound error naming it.
#[tokio::test(start_paused = true)]
async fn crds_first_then_their_custom_resources_once_served() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("all.yaml"),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: b}\n---\n\
         apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
         metadata: {name: widgets.example.com}\n\
         spec: {group: example.com, scope: Namespaced, names: {kind: Widget, plural: widgets}}\n",
    )
    .unwrap();
    let widget_polls = Arc::new(AtomicU32::new(0));
    let polls = Arc::clone(&widget_polls);
    let api = MockApi::new(move |r| {
        if let Some(d) = discovery(&r.path) {
            return d;
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/apis/apiextensions.k8s.io/v1") => (
                200,
                json!({"kind": "APIResourceList", "groupVersion": "apiextensions.k8s.io/v1",
                       "resources": [{"name": "customresourcedefinitions", "singularName": "",
                       "namespaced": false, "kind": "CustomResourceDefinition", "verbs": ["patch"]}]}),
            ),
            ("GET", "/apis/example.com/v1") => {
                // Served from the third discovery poll on.
                if polls.fetch_add(1, Ordering::SeqCst) < 2 {
                    status(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    )
                } else {
                    (
                        200,
                        json!({"kind": "APIResourceList", "groupVersion": "example.com/v1",
                               "resources": [{"name": "widgets", "singularName": "widget",
                               "namespaced": true, "kind": "Widget", "verbs": ["patch"]}]}),
                    )
                }
            }
            ("GET", _) => status(404, "NotFound", "not found"),
            ("PATCH", _) => (201, applied(&r.body, "1")),
            _ => status(405, "MethodNotAllowed", "unexpected"),
        }
    });
    let apply = action(&api, ApplyParams::new(dir.path()).namespace("mint-replica"));
    let out = apply.execute(&Context::new()).await.unwrap();
    assert_eq!(
        out.get("created"),
        Some(&json!([
            "CustomResourceDefinition widgets.example.com",
            "ConfigMap mint-replica/cfg",
            "Widget mint-replica/w"
        ]))
    );
    let patches: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.path)
        .collect();
    assert_eq!(
        patches,
        [
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
            "/api/v1/namespaces/mint-replica/configmaps/cfg",
            "/apis/example.com/v1/namespaces/mint-replica/widgets/w"
        ]
    );
    assert!(widget_polls.load(Ordering::SeqCst) >= 3);

    // Without the CRD in the set, an unknown kind is refused, naming it.
    std::fs::write(
        dir.path().join("all.yaml"),
        "apiVersion: example.com/v2\nkind: Gadget\nmetadata: {name: g}\n",
    )
    .unwrap();
    let check = apply.check(&Context::new()).await.unwrap();
    assert!(
        matches!(&check, Check::Blocked { reason } if reason.contains("kind Gadget")),
        "{check:?}"
    );
    let err = apply.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.to_string()
            .contains("does not serve kind Gadget of apiVersion example.com/v2"),
        "{err}"
    );
}

/// An object naming another namespace than the step's is refused before any PATCH.
#[tokio::test]
async fn a_namespace_mismatch_is_refused() {
    let seen = Arc::new(Mutex::new(0_u32));
    let count = Arc::clone(&seen);
    let api = MockApi::new(move |r| {
        if r.method == "PATCH" {
            *count.lock().unwrap() += 1;
        }
        discovery(&r.path).unwrap_or_else(|| status(404, "NotFound", "not found"))
    });
    let apply = action(
        &api,
        ApplyParams::new(example_manifests().join("10-api.yaml")).namespace("other"),
    );
    let err = apply.execute(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .contains("is in namespace mint-replica, but the step's namespace is other"),
        "{err}"
    );
    assert_eq!(*seen.lock().unwrap(), 0);
}

/// Dry runs never execute.
#[tokio::test]
async fn execute_refuses_a_dry_run() {
    let api = MockApi::new(|_| status(500, "InternalError", "must not be called"));
    let apply = action(&api, ApplyParams::new(example_manifests()));
    let err = apply
        .execute(&Context::new().with_dry_run(true))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(api.requests().is_empty());
}
