//! `fault-proxy`: a fault-injecting HTTP proxy in front of an AWS endpoint (see
//! `drkit_testkit::faults`).
//!
//! ```text
//! fault-proxy --upstream http://127.0.0.1:5000 [--listen 127.0.0.1:0] [--rate 0.3] [--seed N]
//!             [--faults throttle,5xx,timeout] [--pick rotate|random] [--hold 60s]
//!             [--blackhole-after N] [--max-faults N] [--lose-answer OPERATION[:N]]...
//!             [--dark-region REGION]... [--arc-control ARN=On|Off]... [--stats FILE]
//!             [--addr-file FILE]
//! ```
//!
//! `--arc-control ARN=On` (repeatable) makes the proxy answer ARC's routing-control cluster
//! requests itself, from a fake cluster with these controls (`drkit_testkit::fake_arc`); their
//! states are served at `GET /__fake-arc/states`.
//!
//! `--dark-region us-east-1` holds every request signed for us-east-1's regional services
//! forever (a dark region); Route 53, CloudFront, IAM and STS pass.
//!
//! `--lose-answer FailoverDBCluster:1` forwards the first `FailoverDBCluster` request, then breaks
//! the connection instead of answering (repeatable; N defaults to 1). `--faults` also takes
//! `lost`, to lose answers at the `--rate`.
//!
//! Prints `fault-proxy listening on http://ADDR` (and writes the URL to `--addr-file`); on
//! SIGTERM or SIGINT writes the counts as JSON to `--stats` (and prints a one-line summary to
//! stderr) and exits 0. The counts are also served at `GET /__fault-proxy/stats`.
#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use drkit_testkit::fake_arc::FakeArc;
use drkit_testkit::faults::{FaultConfig, FaultKind, FaultProxy, FaultStats, Pick};

struct Args {
    config: FaultConfig,
    listen: SocketAddr,
    stats: Option<String>,
    addr_file: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut upstream = None;
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut rate = 0.0;
    let mut seed = 0;
    let mut kinds = FaultKind::ALL.to_vec();
    let mut pick = Pick::Rotate;
    let mut hold = Duration::from_secs(60);
    let mut blackhole_after = None;
    let mut max_faults = None;
    let mut stats = None;
    let mut addr_file = None;
    let mut lose = Vec::new();
    let mut dark = Vec::new();
    let mut arc_controls = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--upstream" => upstream = Some(value()?),
            "--listen" => listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--rate" => rate = value()?.parse().map_err(|e| format!("--rate: {e}"))?,
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--faults" => {
                kinds = value()?
                    .split(',')
                    .map(|k| FaultKind::parse(k).ok_or_else(|| format!("--faults: unknown `{k}`")))
                    .collect::<Result<_, _>>()?;
            }
            "--pick" => {
                pick = match value()?.as_str() {
                    "rotate" => Pick::Rotate,
                    "random" => Pick::Random,
                    other => return Err(format!("--pick: `{other}` (rotate or random)")),
                }
            }
            "--hold" => {
                hold = humantime::parse_duration(&value()?).map_err(|e| format!("--hold: {e}"))?;
            }
            "--blackhole-after" => {
                blackhole_after = Some(
                    value()?
                        .parse()
                        .map_err(|e| format!("--blackhole-after: {e}"))?,
                );
            }
            "--max-faults" => {
                max_faults = Some(value()?.parse().map_err(|e| format!("--max-faults: {e}"))?);
            }
            "--lose-answer" => {
                let spec = value()?;
                let (operation, times) = match spec.split_once(':') {
                    Some((op, n)) => (
                        op.to_owned(),
                        n.parse()
                            .map_err(|e| format!("--lose-answer {spec}: {e}"))?,
                    ),
                    None => (spec, 1),
                };
                lose.push((operation, times));
            }
            "--dark-region" => dark.push(value()?),
            "--arc-control" => arc_controls.push(FakeArc::parse_control(&value()?)?),
            "--stats" => stats = Some(value()?),
            "--addr-file" => addr_file = Some(value()?),
            "-h" | "--help" => {
                return Err(
                    "usage: fault-proxy --upstream URL [--listen ADDR] [--rate R] \
                            [--seed N] [--faults throttle,5xx,timeout] [--pick rotate|random] \
                            [--hold 60s] [--blackhole-after N] [--max-faults N] \
                            [--lose-answer OPERATION[:N]] [--dark-region REGION] \
                            [--arc-control ARN=On|Off] [--stats FILE] \
                            [--addr-file FILE]"
                        .to_owned(),
                );
            }
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    let upstream = upstream.ok_or("--upstream URL is required")?;
    let mut config = FaultConfig::new(upstream)
        .rate(rate)
        .seed(seed)
        .kinds(&kinds)
        .pick(pick)
        .hold(hold);
    if let Some(n) = blackhole_after {
        config = config.blackhole_after(n);
    }
    if let Some(n) = max_faults {
        config = config.max_faults(n);
    }
    for (operation, times) in lose {
        config = config.lose_answer(operation, times);
    }
    for region in dark {
        config = config.dark_region(region);
    }
    if !arc_controls.is_empty() {
        let arc = arc_controls
            .into_iter()
            .fold(FakeArc::new(), |arc, (arn, state)| {
                arc.with_control(arn, state)
            });
        config = config.arc(std::sync::Arc::new(arc));
    }
    Ok(Args {
        config,
        listen,
        stats,
        addr_file,
    })
}

fn summary(stats: &FaultStats) -> String {
    let faults: Vec<String> = stats
        .faults
        .iter()
        .map(|(kind, n)| format!("{kind}={n}"))
        .collect();
    format!(
        "fault-proxy: {} requests, {} forwarded, {} faults [{}], {} answers lost, {} blackholed, \
         {} upstream errors",
        stats.requests,
        stats.forwarded,
        stats.faults_total,
        faults.join(" "),
        stats.answers_lost,
        stats.blackholed,
        stats.upstream_errors
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fault-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    let upstream = args.config.upstream.clone();
    let proxy = match FaultProxy::start(args.config, args.listen).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("fault-proxy: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    // The SIGTERM handler is in place before the proxy says it is ready.
    let stop = drkit_testkit::stop_signal();
    println!(
        "fault-proxy listening on {} (upstream {upstream})",
        proxy.url()
    );
    if let Some(file) = &args.addr_file
        && let Err(e) = std::fs::write(file, format!("{}\n", proxy.url()))
    {
        eprintln!("fault-proxy: writing {file}: {e}");
        return ExitCode::FAILURE;
    }
    stop.await;
    let stats = proxy.shutdown().await;
    eprintln!("{}", summary(&stats));
    if let Some(file) = &args.stats {
        let json = serde_json::to_string_pretty(&stats).unwrap_or_default();
        if let Err(e) = std::fs::write(file, json + "\n") {
            eprintln!("fault-proxy: writing {file}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
