//! The structured variant of `event_parse`: the first byte picks an envelope (each EventBridge
//! source and detail type the functions handle, an SNS delivery, an alarm's direct action) and
//! the rest becomes its inner payload, so the fuzzer spends its time in the inner parsers
//! instead of rediscovering the envelopes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use domain::event::{parse_event, parse_event_value, EventError};
use domain::signal::SignalKind;
use shared_fuzz::{check_signal, Shape};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, inner)) = data.split_first() else {
        return;
    };
    let shape = Shape::pick(selector);
    let event = shape.wrap(inner);
    let result = parse_event_value(event.clone());
    // The value and the byte paths agree, except where the envelope pushed a deeply nested
    // payload past serde_json's recursion limit, which only the byte path applies. Errors are
    // compared by kind only: they may quote a float, which serde_json does not read back
    // bit for bit (7.777773777777777e38 written, 7.777773777777778e38 read).
    let bytes = serde_json::to_vec(&event).unwrap_or_default();
    match (parse_event(&bytes), &result) {
        (Err(EventError::Malformed(m)), _) if m.contains("recursion limit") => {}
        (Ok(from_bytes), Ok(from_value)) => assert_eq!(&from_bytes, from_value, "{shape:?}"),
        (Err(EventError::Malformed(_)), Err(EventError::Malformed(_))) => {}
        (from_bytes, from_value) => {
            panic!("{shape:?}: bytes gave {from_bytes:?}, the value {from_value:?}")
        }
    }
    match (&result, shape) {
        (Ok(signal), _) => {
            check_signal(signal);
            let prefix = shape.origin_prefix();
            assert!(
                prefix.is_some_and(|p| signal.origin.starts_with(p)),
                "{shape:?} gave origin {:?}",
                signal.origin
            );
            if matches!(shape, Shape::Schedule | Shape::Scheduler) {
                assert_eq!(signal.kind, SignalKind::Sweep);
            }
            if shape == Shape::OtherKind {
                assert!(
                    matches!(signal.kind, SignalKind::Ignored { .. }),
                    "a kind no function handles is ignored: {:?}",
                    signal.kind
                );
            }
        }
        (Err(EventError::Malformed(message)), _) => {
            assert!(!message.is_empty());
            assert_ne!(
                shape,
                Shape::OtherKind,
                "a kind no function handles is ignored before its detail is read"
            );
        }
    }
});
