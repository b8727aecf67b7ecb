//! How late does a wait notice a finished change, and how many polls does it cost?
//!
//! For changes that complete after 5 s ... 2 h, this runs drkit's `wait_until` (default policy)
//! and a model of the SDK's generated RDS waiter (smithy waiter algorithm: min delay 30 s, max
//! delay 120 s, delay = min(max, min * 2^(n-1)), jitter removed by taking the midpoint of
//! [min, delay]) under tokio's paused clock, so hours of waiting take milliseconds and the
//! numbers are exact and repeatable.
//!
//! Target (drkit-core's promise): detection lag <= max(1 s, 10 % of the time waited), i.e. the
//! column `lag/bound` is <= 1.00 everywhere.
//!
//! Run: `cargo bench -p drkit-benches --bench wait_cadence`
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use std::time::Duration;

use drkit_core::{ActionError, Context, Poll, WaitPolicy, wait_until};
use tokio::time::Instant;

/// (lag, polls) for drkit's waiter on a change completing `after` the start.
async fn drkit_wait(after: Duration) -> (Duration, u32) {
    let start = Instant::now();
    let mut polls = 0;
    let ctx = Context::new().with_events(|_| {});
    let seen = wait_until(&ctx, "change", &WaitPolicy::default(), || {
        polls += 1;
        let elapsed = start.elapsed();
        async move {
            Ok::<_, ActionError>(if elapsed >= after {
                Poll::Ready(elapsed)
            } else {
                Poll::Pending(String::new())
            })
        }
    })
    .await
    .unwrap();
    (seen - after, polls)
}

/// (lag, polls) for the modelled SDK waiter.
async fn sdk_waiter(after: Duration) -> (Duration, u32) {
    let (min, max) = (Duration::from_secs(30), Duration::from_secs(120));
    let start = Instant::now();
    let mut polls = 0u32;
    loop {
        polls += 1;
        let elapsed = start.elapsed();
        if elapsed >= after {
            return (elapsed - after, polls);
        }
        let ceiling = min.saturating_mul(1 << (polls - 1).min(16)).min(max);
        tokio::time::sleep((min + ceiling) / 2).await;
    }
}

/// Change times per row, spread so round numbers do not flatter either side.
const OFFSETS: u32 = 20;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let cases = [5u64, 20, 45, 120, 600, 1800, 3600, 7200];
    println!(
        "wait_cadence: detection lag of a finished change (paused clock; {OFFSETS} change times per row)"
    );
    println!(
        "{:>7} | {:>10} {:>10} {:>6} {:>9} | {:>10} {:>6} | {:>9}",
        "change", "drkit mean", "drkit max", "polls", "max/bound", "SDK mean", "polls", "SDK/drkit"
    );
    let mut worst: f64 = 0.0;
    for base in cases {
        let (mut lag_sum, mut lag_max, mut polls_sum) = (0.0, 0.0_f64, 0u32);
        let (mut sdk_sum, mut sdk_polls_sum) = (0.0, 0u32);
        let mut bound_ratio: f64 = 0.0;
        for k in 0..OFFSETS {
            // Spread the change times over up to two minutes (both waiters' longest gap) so
            // each row samples every phase of the poll cycles, not one lucky spot.
            let span_ms = (base * 1000 / 2).min(120_000);
            let after = Duration::from_secs(base)
                + Duration::from_millis(span_ms * u64::from(k) / u64::from(OFFSETS) + 7);
            let (lag, polls) = rt.block_on(drkit_wait(after));
            let (sdk_lag, sdk_polls) = rt.block_on(sdk_waiter(after));
            let bound = WaitPolicy::default().lag_bound(after);
            bound_ratio = bound_ratio.max(lag.as_secs_f64() / bound.as_secs_f64());
            lag_sum += lag.as_secs_f64();
            lag_max = lag_max.max(lag.as_secs_f64());
            polls_sum += polls;
            sdk_sum += sdk_lag.as_secs_f64();
            sdk_polls_sum += sdk_polls;
        }
        let n = f64::from(OFFSETS);
        worst = worst.max(bound_ratio);
        println!(
            "{:>6}s | {:>9.2}s {:>9.2}s {:>6.1} {:>9.2} | {:>9.2}s {:>6.1} | {:>8.1}x",
            base,
            lag_sum / n,
            lag_max,
            f64::from(polls_sum) / n,
            bound_ratio,
            sdk_sum / n,
            f64::from(sdk_polls_sum) / n,
            sdk_sum / lag_sum.max(f64::EPSILON)
        );
    }
    println!(
        "worst lag/bound = {worst:.2} (target <= 1.00): {}",
        if worst <= 1.0 { "MET" } else { "MISSED" }
    );
}
