#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use super::*;

const URL: &str = "https://hooks.example.com/services/T0FAKE/B0FAKE/fake-token-0f9a3c";

#[test]
fn scrub_removes_the_url_and_its_secret_parts() {
    let text = format!(
        "error sending request for url ({URL}): /services/T0FAKE/B0FAKE/fake-token-0f9a3c: {}",
        "https://user:hunter22@hooks.example.com/x?token=abcdef123"
    );
    let out = scrub(&text, URL);
    assert!(!out.contains("fake-token"), "{out}");
    assert!(out.contains("[redacted]"), "{out}");
    let with_auth = "https://user-name:hunter22@hooks.example.com/x?token=abcdef123";
    let out = scrub(
        "at hunter22 user-name token=abcdef123 https://user-name:hunter22@hooks.example.com/x?token=abcdef123",
        with_auth,
    );
    for secret in ["hunter22", "user-name", "abcdef123"] {
        assert!(!out.contains(secret), "{secret} in {out}");
    }
    // The host is no secret and stays, so the operator knows which webhook failed.
    assert_eq!(
        scrub("cannot connect to hooks.example.com", URL),
        "cannot connect to hooks.example.com"
    );
}

#[test]
fn a_bad_url_is_refused_without_being_shown() {
    for bad in [
        "hooks.example.com/services/fake-token-0f9a3c",
        "ftp://hooks.example.com/fake-token-0f9a3c",
        "env:WEBHOOK_fake-token-0f9a3c",
    ] {
        let err = check_url(bad).unwrap_err().to_string();
        assert!(!err.contains("fake-token"), "{err}");
        assert!(err.contains("webhook URL is not usable"), "{err}");
    }
    check_url(URL).unwrap();
    check_url("http://127.0.0.1:8080/hook").unwrap();
}

#[tokio::test]
async fn debug_never_shows_the_url() {
    let notifier = WebhookNotifier::start(URL, Duration::from_secs(60)).unwrap();
    let debug = format!("{notifier:?}");
    assert!(!debug.contains("fake-token"), "{debug}");
    assert!(!debug.contains("hooks.example.com"), "{debug}");
    // Nothing was queued: finishing is immediate.
    let stats = notifier.finish().await;
    assert_eq!(stats, WebhookStats::default());
}

#[tokio::test(start_paused = true)]
async fn finish_gives_up_on_a_post_that_hangs_after_the_flush_time_out() {
    // Accepts, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/services/fake-token-0f9a3c",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let options = WebhookOptions::default()
        .post_timeout(Duration::from_secs(60))
        .flush_timeout(Duration::from_secs(2));
    let notifier = WebhookNotifier::start_with(url, options).unwrap();
    notifier.enqueue(Note::Start("start".to_owned()));
    notifier.enqueue(Note::Finish("done".to_owned()));
    let started = tokio::time::Instant::now();
    let stats = notifier.finish().await;
    assert!(
        started.elapsed() <= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(stats.sent, 0);
    assert_eq!(
        stats.failed + stats.dropped,
        2,
        "both messages lost: {stats:?}"
    );
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_rather_than_waits() {
    let options = WebhookOptions {
        queue: 1,
        ..WebhookOptions::default()
    };
    // A port nobody listens on; the task may or may not have taken the first message yet.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    drop(listener);
    let notifier = WebhookNotifier::start_with(url, options).unwrap();
    for i in 0..50 {
        notifier.enqueue(Note::Start(format!("m{i}")));
    }
    let stats = notifier.finish().await;
    assert_eq!(stats.sent, 0);
    assert_eq!(stats.failed + stats.dropped, 50, "{stats:?}");
    assert!(stats.dropped >= 40, "{stats:?}");
}
