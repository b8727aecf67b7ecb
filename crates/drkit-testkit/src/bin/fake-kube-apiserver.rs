//! `fake-kube-apiserver`: a **fake** Kubernetes API server over plain HTTP, for running drkit's
//! `k8s.*` actions end to end without a cluster (see `drkit_testkit::fake_kube` for what it
//! implements and, above all, what it does not).
//!
//! ```text
//! fake-kube-apiserver [--port N] [--rollout-delay 2s] [--kubeconfig-out PATH] [--context NAME]
//!                     [--node NAME[,LABEL=VALUE...]]...
//! ```
//!
//! Prints `listening on http://127.0.0.1:PORT` (one line, flushed); with `--kubeconfig-out`,
//! writes a kubeconfig for it there first (context `--context`, default `fake-kube`, the
//! current one). Each `--node` registers a Node with those labels at start (e.g.
//! `--node ip-10-0-1-11.us-west-2.compute.internal,eks.amazonaws.com/nodegroup=primary-nodes`),
//! which its simulated kubelet makes Ready after the rollout delay. Runs until SIGTERM or SIGINT, then prints a one-line summary to stderr and
//! exits 0.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use drkit_testkit::fake_kube::{DEFAULT_ROLLOUT_DELAY, FakeKubeApi, FakeKubeOptions};
use serde_json::{Map, Value, json};

struct Args {
    options: FakeKubeOptions,
    kubeconfig_out: Option<String>,
    context: String,
    nodes: Vec<Value>,
}

const USAGE: &str = "usage: fake-kube-apiserver [--port N] [--rollout-delay 2s] \
                     [--kubeconfig-out PATH] [--context NAME] [--node NAME[,LABEL=VALUE...]]...";

/// The Node of `--node NAME[,LABEL=VALUE...]`.
fn node(spec: &str) -> Result<Value, String> {
    let mut parts = spec.split(',');
    let name = parts
        .next()
        .filter(|n| !n.is_empty())
        .ok_or("--node: no name")?;
    let mut labels = Map::new();
    for label in parts {
        let (key, value) = label
            .split_once('=')
            .ok_or_else(|| format!("--node {spec}: `{label}` is not LABEL=VALUE"))?;
        labels.insert(key.to_owned(), Value::from(value));
    }
    Ok(json!({"apiVersion": "v1", "kind": "Node",
              "metadata": {"name": name, "labels": labels}}))
}

fn parse_args() -> Result<Args, String> {
    let mut port = None;
    let mut rollout_delay: Duration = DEFAULT_ROLLOUT_DELAY;
    let mut kubeconfig_out = None;
    let mut context = "fake-kube".to_owned();
    let mut nodes = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => port = Some(value()?.parse().map_err(|e| format!("--port: {e}"))?),
            "--rollout-delay" => {
                rollout_delay = humantime::parse_duration(&value()?)
                    .map_err(|e| format!("--rollout-delay: {e}"))?;
            }
            "--kubeconfig-out" => kubeconfig_out = Some(value()?),
            "--context" => {
                context = value()?;
                if context.is_empty() {
                    return Err("--context: empty".to_owned());
                }
            }
            "--node" => nodes.push(node(&value()?)?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    Ok(Args {
        options: FakeKubeOptions {
            port,
            rollout_delay,
        },
        kubeconfig_out,
        context,
        nodes,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fake-kube-apiserver: {e}");
            return ExitCode::from(2);
        }
    };
    let port = args.options.port;
    let fake = match FakeKubeApi::start(args.options).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "fake-kube-apiserver: cannot listen on 127.0.0.1:{}: {e}",
                port.unwrap_or(0)
            );
            return ExitCode::FAILURE;
        }
    };
    for node in &args.nodes {
        if let Err(e) = fake.create(node) {
            eprintln!("fake-kube-apiserver: --node: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(path) = &args.kubeconfig_out
        && let Err(e) = fake.write_kubeconfig(path, &args.context)
    {
        eprintln!("fake-kube-apiserver: writing {path}: {e}");
        return ExitCode::FAILURE;
    }
    // The SIGTERM handler is installed before the announcement: a test that reads the line and
    // sends SIGTERM at once must find it in place.
    let stop = drkit_testkit::stop_signal();
    println!("listening on {}", fake.url());
    let _ = std::io::stdout().flush();
    stop.await;
    let requests = fake.requests().len();
    let objects = fake.object_count();
    fake.shutdown().await;
    eprintln!(
        "fake-kube-apiserver: {requests} requests served, {objects} objects stored (all gone now)"
    );
    ExitCode::SUCCESS
}
