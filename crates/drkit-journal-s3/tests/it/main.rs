//! Integration tests of the S3 journal store against moto server, which implements S3's
//! conditional writes (`If-None-Match: *`, `If-Match`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod moto;
