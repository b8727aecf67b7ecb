//! Integration tests of the S3 journal store against moto server, which implements S3's
//! conditional writes (`If-None-Match: *`, `If-Match`). `lock`: the lock's fencing, time
//! source, release and renewal; `proxy`: what moto cannot do alone (lost answers, 409, 503).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod lock;
mod moto;
mod proxy;
