//! Go `time.Duration` strings (`10s`, `1m0s`, `1h30m`, `250ms`), as the node
//! reads durations both from legacy env vars and from TOML.
//!
//! Needed to compare settings the node relates to each other, such as the
//! lease refresh interval against half the lease duration.

/// Nanoseconds, or `None` if `text` is not a Go duration.
pub(super) fn parse_go_duration(text: &str) -> Option<u128> {
    let text = text.trim();
    if text == "0" {
        return Some(0);
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.is_empty() || rest.starts_with('-') {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_end == 0 {
            return None;
        }
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += number * nanos_per_unit;
        rest = &rest[unit_end..];
    }
    // Durations in config are far below f64's exact-integer range.
    Some(total.round() as u128)
}

/// Human form for messages: the input as written is clearest, so this is
/// only for computed values such as "half of LeaseDuration".
pub(super) fn format_nanos(nanos: u128) -> String {
    let seconds = nanos as f64 / 1e9;
    if seconds.fract() == 0.0 {
        format!("{seconds}s")
    } else {
        format!("{}ms", nanos / 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_table() {
        let s = 1_000_000_000u128;
        let cases = [
            ("10s", Some(10 * s)),
            ("1m0s", Some(60 * s)),
            ("1h0m0s", Some(3600 * s)),
            ("1h30m", Some(5400 * s)),
            ("250ms", Some(s / 4)),
            ("1.5s", Some(3 * s / 2)),
            ("0", Some(0)),
            ("0s", Some(0)),
            ("10", None),
            ("", None),
            ("-1s", None),
            ("invalid-test-value-LEASE_LOCK_DURATION", None),
            ("5 s", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_go_duration(text), expected, "{text:?}");
        }
        assert_eq!(format_nanos(5 * s), "5s");
        assert_eq!(format_nanos(s / 2), "500ms");
    }
}
