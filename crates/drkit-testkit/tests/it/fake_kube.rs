//! The fake Kubernetes API server over real HTTP (reqwest): discovery, `Status` errors,
//! server-side apply (create, unchanged, dry run, pruning), merge patches, label selectors,
//! the simulated rollout and scale, and the `fake-kube-apiserver` binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use drkit_testkit::fake_kube::{FAKE_NODE, FakeKubeApi, FakeKubeHandle, FakeKubeOptions};
use serde_json::{Value, json};

async fn start(delay_ms: u64) -> FakeKubeHandle {
    FakeKubeApi::start(FakeKubeOptions::default().rollout_delay(Duration::from_millis(delay_ms)))
        .await
        .unwrap()
}

struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    fn new(fake: &FakeKubeHandle) -> Self {
        Self {
            base: fake.url(),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    async fn send(&self, method: &str, path: &str, ctype: &str, body: &Value) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if !ctype.is_empty() {
            req = req
                .header("content-type", ctype)
                .body(serde_json::to_vec(body).unwrap());
        }
        let resp = req.send().await.unwrap();
        let code = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, "", &Value::Null).await
    }

    async fn apply(&self, path: &str, query: &str, body: &Value) -> (u16, Value) {
        let path = format!("{path}?fieldManager=test&force=true{query}");
        self.send("PATCH", &path, "application/apply-patch+yaml", body)
            .await
    }
}

const NS: &str = "/api/v1/namespaces/mint";
const DEPLOY: &str = "/apis/apps/v1/namespaces/mint/deployments/api";

fn deployment(replicas: u32, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "mint", "labels": {"app": "api"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": image,
                    "readinessProbe": {"httpGet": {"path": "/health", "port": 8080}}}]}}}})
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Discovery serves the known kinds; unknown groups and objects are 404 `Status` objects.
#[tokio::test]
async fn discovery_and_not_found_answers_are_shaped_like_the_real_ones() {
    let fake = start(100).await;
    let http = Http::new(&fake);
    let (code, version) = http.get("/version").await;
    assert_eq!(code, 200);
    assert_eq!(version["major"], "1");
    let (_, api) = http.get("/api").await;
    assert_eq!(api["versions"], json!(["v1"]));
    let (_, groups) = http.get("/apis").await;
    assert_eq!(groups["groups"][0]["name"], "apps");
    let (_, apps) = http.get("/apis/apps/v1").await;
    let res: Vec<&str> = apps["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(res.contains(&"deployments") && res.contains(&"deployments/scale"));
    let (_, core) = http.get("/api/v1").await;
    let ns = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "namespaces")
        .unwrap();
    assert_eq!(ns["namespaced"], false);

    let (code, status) = http.get("/apis/example.com/v1").await;
    assert_eq!(code, 404);
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "NotFound");
    let (code, status) = http.get("/api/v1/namespaces/default/pods/nope").await;
    assert_eq!(code, 404);
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "pods \"nope\" not found", "reason": "NotFound",
               "details": {"name": "nope", "group": "", "kind": "pods"}, "code": 404})
    );
    // The built-in namespaces exist.
    let (_, list) = http.get("/api/v1/namespaces").await;
    assert_eq!(
        names(&list),
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    assert!(list["items"][0].get("kind").is_none());
    assert!(fake.requests().iter().any(|r| r.path == "/apis/apps/v1"));
}

/// Server-side apply: 201 then an unchanged apply keeps the resourceVersion; a changed one
/// bumps it (and `generation` only for spec); dry runs store nothing; removed fields are
/// pruned; bad bodies are 400 / 422; a missing namespace is 404.
#[tokio::test]
async fn server_side_apply_creates_keeps_and_updates() {
    let fake = start(100).await;
    let http = Http::new(&fake);
    let cm_path = "/api/v1/namespaces/mint/configmaps/cfg";
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "cfg", "labels": {"a": "1", "b": "2"}},
                    "data": {"k": "v"}});
    let (code, err) = http.apply(cm_path, "", &cm).await;
    assert_eq!(
        (code, err["reason"].as_str()),
        (404, Some("NotFound")),
        "{err}"
    );
    assert_eq!(err["message"], "namespaces \"mint\" not found");

    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mint"}});
    let (code, created) = http.apply(NS, "", &ns).await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["status"]["phase"], "Active");
    assert_eq!(
        created["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "mint"
    );

    let (code, first) = http.apply(cm_path, "", &cm).await;
    assert_eq!(code, 201);
    let rv = first["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(first["metadata"]["uid"].is_string());
    assert!(first["metadata"]["creationTimestamp"].is_string());
    assert_eq!(first["metadata"]["namespace"], "mint");

    let (code, same) = http.apply(cm_path, "", &cm).await;
    assert_eq!(code, 200);
    assert_eq!(same, first, "an unchanged apply is not written");

    // Dry run of a change: the would-be object, nothing stored.
    let mut changed = cm.clone();
    changed["data"]["k"] = json!("w");
    changed["metadata"]["labels"] = json!({"a": "1"});
    let (code, dry) = http.apply(cm_path, "&dryRun=All", &changed).await;
    assert_eq!(code, 200);
    assert_eq!(dry["data"]["k"], "w");
    let (_, live) = http.get(cm_path).await;
    assert_eq!(live, first);

    let (_, updated) = http.apply(cm_path, "", &changed).await;
    assert_ne!(updated["metadata"]["resourceVersion"], json!(rv));
    assert_eq!(updated["data"]["k"], "w");
    assert_eq!(
        updated["metadata"]["labels"],
        json!({"a": "1"}),
        "label b, no longer applied, is pruned"
    );
    assert_eq!(
        updated["metadata"]["generation"], 1,
        "no spec, no new generation"
    );

    // A merge patch by another writer.
    let (code, patched) = http
        .send(
            "PATCH",
            cm_path,
            "application/merge-patch+json",
            &json!({"data": {"extra": "x"}}),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(patched["data"], json!({"k": "w", "extra": "x"}));

    // Bad bodies.
    let (code, err) = http
        .send(
            "PATCH",
            &format!("{cm_path}?fieldManager=test"),
            "application/apply-patch+yaml",
            &Value::String("k: v".into()),
        )
        .await;
    assert_eq!((code, err["reason"].as_str()), (400, Some("BadRequest")));
    let mut other = cm.clone();
    other["metadata"]["name"] = json!("other");
    let (code, _) = http.apply(cm_path, "", &other).await;
    assert_eq!(code, 400);
    let mut bad = deployment(2, "img:1");
    bad["spec"]["selector"]["matchLabels"]["app"] = json!("web");
    let (code, err) = http.apply(DEPLOY, "", &bad).await;
    assert_eq!(
        (code, err["reason"].as_str()),
        (422, Some("Invalid")),
        "{err}"
    );
    let (code, err) = http
        .send(
            "PATCH",
            cm_path,
            "application/strategic-merge-patch+json",
            &json!({}),
        )
        .await;
    assert_eq!(code, 415, "{err}");
    let (code, err) = http
        .send(
            "PATCH",
            cm_path,
            "application/merge-patch+json",
            &json!({"metadata": {"resourceVersion": "1"}, "data": {"k": "z"}}),
        )
        .await;
    assert_eq!(
        (code, err["reason"].as_str()),
        (409, Some("Conflict")),
        "{err}"
    );
}

/// A Deployment's pods are Pending, then Running but not ready (readiness probe), then Ready;
/// its status follows. Scaling adds pods; a new template replaces the ReplicaSet.
#[tokio::test]
async fn the_rollout_is_simulated_from_timestamps() {
    // Pending for 500 ms, then Running but not ready until 1 s (wide margins: real time).
    let fake = start(1000).await;
    let http = Http::new(&fake);
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "mint"}});
    http.apply(NS, "", &ns).await;
    let (code, d) = http.apply(DEPLOY, "", &deployment(2, "img:1")).await;
    assert_eq!(code, 201, "{d}");
    assert_eq!(d["metadata"]["generation"], 1);
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");

    let pods_path = "/api/v1/namespaces/mint/pods?labelSelector=app%3Dapi";
    let (_, pods) = http.get(pods_path).await;
    let pod_names = names(&pods);
    assert_eq!(pod_names.len(), 2);
    let pod = &pods["items"][0];
    assert!(pod_names[0].starts_with("api-") && pod_names[0].ends_with("-0"));
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["spec"]["nodeName"], FAKE_NODE);
    assert_eq!(
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ContainerCreating"
    );
    let owner = &pod["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "ReplicaSet");
    assert!(pod["metadata"]["labels"]["pod-template-hash"].is_string());
    let (_, d) = http.get(DEPLOY).await;
    assert_eq!(d["status"]["updatedReplicas"], 2);
    assert!(d["status"].get("availableReplicas").is_none(), "{d}");
    assert_eq!(d["status"]["conditions"][1]["reason"], "ReplicaSetUpdated");
    let (_, none) = http
        .get("/api/v1/namespaces/mint/pods?labelSelector=app%3Dweb")
        .await;
    assert!(names(&none).is_empty());

    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, pods) = http.get(pods_path).await;
    let pod = &pods["items"][0];
    assert_eq!(pod["status"]["phase"], "Running");
    assert_eq!(pod["status"]["containerStatuses"][0]["ready"], false);

    tokio::time::sleep(Duration::from_millis(450)).await;
    let (_, d) = http.get(DEPLOY).await;
    assert_eq!(d["status"]["observedGeneration"], 1);
    assert_eq!(d["status"]["availableReplicas"], 2);
    assert_eq!(d["status"]["readyReplicas"], 2);
    assert_eq!(d["status"]["conditions"][0]["status"], "True");
    assert_eq!(
        d["status"]["conditions"][1]["reason"],
        "NewReplicaSetAvailable"
    );
    // Reading again moves nothing.
    let (_, again) = http.get(DEPLOY).await;
    assert_eq!(again, d);

    // Scale to 3 through the subresource: one new pod, pending.
    let (code, scale) = http
        .send(
            "PATCH",
            &format!("{DEPLOY}/scale"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": 3}}),
        )
        .await;
    assert_eq!(code, 200, "{scale}");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 3);
    let (_, scale) = http.get(&format!("{DEPLOY}/scale")).await;
    assert_eq!(scale["status"]["replicas"], 3);
    assert_eq!(scale["status"]["selector"], "app=api");
    let (_, d) = http.get(DEPLOY).await;
    assert_eq!(d["metadata"]["generation"], 2);
    assert_eq!(d["status"]["availableReplicas"], 2);

    // A new image: a new ReplicaSet, its pods replace the old ones at once.
    let (_, before) = http.get("/apis/apps/v1/namespaces/mint/replicasets").await;
    http.apply(DEPLOY, "", &deployment(3, "img:2")).await;
    let (_, after) = http.get("/apis/apps/v1/namespaces/mint/replicasets").await;
    assert_eq!(names(&before).len(), 1);
    assert_eq!(names(&after).len(), 1);
    assert_ne!(names(&before), names(&after));
    let (_, pods) = http.get(pods_path).await;
    assert_eq!(names(&pods).len(), 3);
    assert!(
        pods["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"]["phase"] == "Pending")
    );
    // Deleting the Deployment collects its ReplicaSet and pods.
    let (code, _) = http.send("DELETE", DEPLOY, "", &Value::Null).await;
    assert_eq!(code, 200);
    let (_, pods) = http.get(pods_path).await;
    assert!(names(&pods).is_empty());
}

fn node(name: &str, group: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": name, "labels": {"eks.amazonaws.com/nodegroup": group}}})
}

fn ready_condition(node: &Value) -> Value {
    node["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .cloned()
        .unwrap()
}

/// Nodes are cluster-scoped and listed by label; one created without a status is NotReady
/// (`KubeletNotReady`) for the delay, then Ready; one created with a status keeps it until a
/// `PATCH .../status` changes it, which the simulated kubelet then leaves alone.
#[tokio::test]
async fn nodes_register_become_ready_and_take_status_patches() {
    let fake = start(500).await;
    let http = Http::new(&fake);
    let (_, core) = http.get("/api/v1").await;
    let nodes = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "nodes")
        .unwrap();
    assert_eq!(nodes["namespaced"], false);
    assert_eq!(nodes["kind"], "Node");

    // Through the API (POST) and through the handle, the same way.
    let (code, joining) = http
        .send(
            "POST",
            "/api/v1/nodes",
            "application/json",
            &node("ip-10-0-1-11", "primary"),
        )
        .await;
    assert_eq!(code, 201, "{joining}");
    assert!(joining["metadata"].get("namespace").is_none());
    let mut stuck = node("ip-10-0-1-12", "primary");
    stuck["status"] = json!({"conditions": [{"type": "Ready", "status": "False",
        "reason": "KubeletNotReady", "message": "PLEG is not healthy"}]});
    fake.create(&stuck).unwrap();
    fake.create(&node("ip-10-0-9-99", "other")).unwrap();
    let again = fake.create(&node("ip-10-0-9-99", "other")).unwrap_err();
    assert!(again.contains("already exists"), "{again}");
    assert!(
        fake.create(&json!({"apiVersion": "v1", "kind": "Widget"}))
            .is_err()
    );

    let selected = "/api/v1/nodes?labelSelector=eks.amazonaws.com%2Fnodegroup%3Dprimary";
    let (code, list) = http.get(selected).await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["kind"], "NodeList");
    assert_eq!(names(&list), ["ip-10-0-1-11", "ip-10-0-1-12"]);
    let (_, one) = http.get("/api/v1/nodes/ip-10-0-1-11").await;
    let ready = ready_condition(&one);
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "KubeletNotReady");
    let (code, _) = http.get("/api/v1/namespaces/default/nodes").await;
    assert_eq!(code, 404, "nodes are not namespaced");

    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, one) = http.get("/api/v1/nodes/ip-10-0-1-11").await;
    let ready = ready_condition(&one);
    assert_eq!(ready["status"], "True", "{one}");
    assert_eq!(ready["reason"], "KubeletReady");
    let (_, two) = http.get("/api/v1/nodes/ip-10-0-1-12").await;
    assert_eq!(ready_condition(&two)["message"], "PLEG is not healthy");

    // A status patch (the test as the kubelet) changes only the status, and stays.
    let patch = json!({"metadata": {"labels": {"x": "y"}},
                       "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let (code, patched) = http
        .send(
            "PATCH",
            "/api/v1/nodes/ip-10-0-1-12/status",
            "application/merge-patch+json",
            &patch,
        )
        .await;
    assert_eq!(code, 200, "{patched}");
    assert_eq!(ready_condition(&patched)["status"], "True");
    assert!(patched["metadata"]["labels"].get("x").is_none());
    let (code, _) = http
        .send(
            "PATCH",
            "/api/v1/nodes/ip-10-0-1-11/status",
            "application/json-patch+json",
            &json!([]),
        )
        .await;
    assert_eq!(code, 415);
    let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "Unknown",
        "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}]}});
    http.send(
        "PATCH",
        "/api/v1/nodes/ip-10-0-1-11/status",
        "application/merge-patch+json",
        &patch,
    )
    .await;
    let (_, one) = http.get("/api/v1/nodes/ip-10-0-1-11").await;
    assert_eq!(
        ready_condition(&one)["status"],
        "Unknown",
        "the kubelet left it"
    );
    // Cordoned through a merge patch of the object.
    let (code, cordoned) = http
        .send(
            "PATCH",
            "/api/v1/nodes/ip-10-0-1-11",
            "application/merge-patch+json",
            &json!({"spec": {"unschedulable": true}}),
        )
        .await;
    assert_eq!(code, 200, "{cordoned}");
    assert_eq!(cordoned["spec"]["unschedulable"], true);
    assert_eq!(ready_condition(&cordoned)["status"], "Unknown");
}

/// The binary: prints its URL, writes the kubeconfig, registers its `--node`s, serves, and
/// exits 0 on SIGTERM.
#[tokio::test]
async fn the_binary_prints_its_url_writes_a_kubeconfig_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(drkit_testkit::unique("fake-kube"));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-kube-apiserver"))
        .args([
            "--rollout-delay",
            "50ms",
            "--context",
            "dr-fake",
            "--node",
            "ip-10-0-1-11,eks.amazonaws.com/nodegroup=primary-nodes,tier=standby",
            "--kubeconfig-out",
        ])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let config = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(config.contains(&format!("server: \"{url}\"")), "{config}");
    assert!(config.contains("current-context: \"dr-fake\""), "{config}");
    let version: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{url}/version"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version["major"], "1");
    let node: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{url}/api/v1/nodes/ip-10-0-1-11"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        node["metadata"]["labels"],
        json!({"eks.amazonaws.com/nodegroup": "primary-nodes", "tier": "standby"})
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("2 requests served"),
        "{out:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
