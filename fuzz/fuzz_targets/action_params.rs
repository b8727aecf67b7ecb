//! Every registered action kind built from hostile parameters: see
//! [`drkit_fuzz::action_params`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = drkit_fuzz::action_params(data);
});
