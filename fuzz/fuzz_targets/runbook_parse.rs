//! Arbitrary bytes through `drkit validate`'s parse + validate path: see
//! [`drkit_fuzz::runbook_parse`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = drkit_fuzz::runbook_parse(data);
});
