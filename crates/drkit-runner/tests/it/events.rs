use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drkit_core::{ErrorKind, ProgressKind, RetryPolicy};
use drkit_runner::events::{JsonLinesEvents, TracingEvents, WebhookNotifier};
use drkit_runner::{Plan, RunEventKind, Runner, Step};
use serde_json::Value;

use crate::common::{Fake, Log, action};

#[tokio::test(start_paused = true)]
async fn subscribers_see_every_record_in_order_and_progress() {
    let log = Log::default();
    let flaky = Fake::new("flaky", &log)
        .fails(1, ErrorKind::Throttled)
        .arc();
    let plan = Plan::new(
        "p",
        vec![Step::new(action(&flaky)).retry(RetryPolicy::attempts(3).jitter(false))],
    )
    .unwrap();
    let runner = Runner::new().with_sink(Arc::new(TracingEvents));
    let mut rx = runner.subscribe();
    let report = runner.run(&plan).await.unwrap();
    let mut seqs = Vec::new();
    let mut retries = 0;
    while let Ok(e) = rx.try_recv() {
        assert_eq!(e.run, report.run);
        assert!(e.budget.is_some());
        match e.kind {
            RunEventKind::Journal(r) => seqs.push(r.seq),
            RunEventKind::Progress(p) => {
                if matches!(p.kind, ProgressKind::Retry { attempt: 1, .. }) {
                    retries += 1;
                }
            }
        }
    }
    assert_eq!(seqs, (0..report.timeline.len() as u64).collect::<Vec<_>>());
    assert_eq!(retries, 1);
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn the_json_lines_sink_writes_one_event_per_line() {
    let log = Log::default();
    let plan = Plan::new("p", vec![Step::new(action(&Fake::new("a", &log).arc()))]).unwrap();
    let buffer = Buffer::default();
    let report = Runner::new()
        .with_sink(Arc::new(JsonLinesEvents::new(buffer.clone())))
        .run(&plan)
        .await
        .unwrap();
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), report.timeline.len());
    assert_eq!(lines[0]["journal"]["event"], "run_started");
    assert_eq!(lines[0]["budget"]["tier"], "full");
    assert!(lines[0]["budget"]["seconds"].as_f64().unwrap() > 8.0 * 3600.0 - 5.0);
    assert_eq!(lines.last().unwrap()["journal"]["outcome"], "succeeded");
}

/// A real HTTP server on 127.0.0.1 that keeps what it is posted.
async fn webhook_server() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let keep = Arc::clone(&keep);
            async move {
                keep.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

#[tokio::test]
async fn the_webhook_gets_a_start_notice_summaries_and_the_final_result() {
    let (url, got) = webhook_server().await;
    let log = Log::default();
    let plan = Plan::new(
        "failover",
        vec![
            Step::new(action(&Fake::new("a", &log).latency_ms(400).arc())),
            Step::new(action(&Fake::new("b", &log).latency_ms(10).arc())).depends_on(["a"]),
        ],
    )
    .unwrap();
    let notifier = Arc::new(WebhookNotifier::start(url, Duration::from_millis(150)).unwrap());
    Runner::new()
        .with_sink(Arc::clone(&notifier) as Arc<dyn drkit_runner::RunEventSink>)
        .run(&plan)
        .await
        .unwrap();
    let stats = notifier.finish().await;
    let texts: Vec<String> = got
        .lock()
        .unwrap()
        .iter()
        .map(|v| v["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stats.failed, 0);
    assert_eq!(stats.sent as usize, texts.len());
    assert!(texts.len() >= 3, "{texts:?}");
    assert!(
        texts[0].starts_with("drkit: recovery plan `failover` started"),
        "{texts:?}"
    );
    assert!(texts[0].contains("2 steps"), "{texts:?}");
    assert!(texts[1].contains("steps done"), "{texts:?}");
    let last = texts.last().unwrap();
    assert!(
        last.contains("finished: succeeded. 2/2 steps done"),
        "{last}"
    );
    assert!(last.contains("full RTO budget left"), "{last}");
}

#[tokio::test]
async fn a_webhook_that_is_down_does_not_stop_the_run() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    drop(listener);
    let log = Log::default();
    let plan = Plan::new(
        "p",
        vec![Step::new(action(
            &Fake::new("a", &log).latency_ms(10).arc(),
        ))],
    )
    .unwrap();
    let notifier = Arc::new(WebhookNotifier::start(url, Duration::from_secs(1800)).unwrap());
    let report = Runner::new()
        .with_sink(Arc::clone(&notifier) as Arc<dyn drkit_runner::RunEventSink>)
        .run(&plan)
        .await
        .unwrap();
    assert!(report.is_success());
    let stats = notifier.finish().await;
    assert_eq!(stats.sent, 0);
    assert_eq!(stats.failed, 2, "start notice and final result");
}

#[test]
fn a_webhook_needs_a_runtime() {
    let err =
        WebhookNotifier::start("http://127.0.0.1:9/hook", Duration::from_secs(60)).unwrap_err();
    assert!(err.to_string().contains("within a tokio runtime"), "{err}");
}

/// A local server that accepts connections and never answers (nor closes them).
async fn silent_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    format!("http://{addr}/services/fake-token-0f9a3c")
}

#[tokio::test]
async fn a_webhook_that_never_answers_delays_neither_the_run_nor_finish_beyond_the_bounds() {
    use drkit_runner::events::WebhookOptions;
    let url = silent_server().await;
    let log = Log::default();
    let plan = Plan::new(
        "p",
        vec![Step::new(action(
            &Fake::new("a", &log).latency_ms(10).arc(),
        ))],
    )
    .unwrap();
    let options = WebhookOptions::default()
        .post_timeout(Duration::from_millis(800))
        .flush_timeout(Duration::from_millis(500));
    let notifier = Arc::new(WebhookNotifier::start_with(url, options).unwrap());
    let started = std::time::Instant::now();
    let report = Runner::new()
        .with_sink(Arc::clone(&notifier) as Arc<dyn drkit_runner::RunEventSink>)
        .run(&plan)
        .await
        .unwrap();
    assert!(report.is_success());
    // The start notice's POST hangs: the run does not wait for it.
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    let finishing = std::time::Instant::now();
    let stats = notifier.finish().await;
    assert!(
        finishing.elapsed() < Duration::from_millis(1500),
        "{:?}",
        finishing.elapsed()
    );
    assert_eq!(stats.sent, 0);
    assert_eq!(stats.failed + stats.dropped, 2, "{stats:?}");
}

#[tokio::test]
async fn finish_returns_when_the_run_never_started() {
    // A run that fails before `run_started` (locked, plan changed, nothing to resume) gives the
    // notifier no event at all: finishing must not wait for one.
    let notifier = WebhookNotifier::start(silent_server().await, Duration::from_secs(60)).unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(2), notifier.finish())
        .await
        .expect("finish returned");
    assert_eq!(stats, Default::default());
}
