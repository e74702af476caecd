//! The event of a CLI function invocation, as the Runtime API hands it over.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Any outcome but a panic: the function's contract is its own unit tests'.
    let _ = hover_core::cli::parse_event(data);
});
