//! Any bytes as an incoming event: `parse_event` must answer with a signal or a clean
//! `EventError`, never panic, and what it accepts must satisfy the signal's own promises.

#![no_main]

use libfuzzer_sys::fuzz_target;
use domain::event::parse_event;
use shared_fuzz::check_signal;

fuzz_target!(|data: &[u8]| {
    match parse_event(data) {
        Ok(signal) => check_signal(&signal),
        Err(error) => {
            // Messages are logged and reported: building them must not panic either.
            let _ = error.to_string();
        }
    }
});
