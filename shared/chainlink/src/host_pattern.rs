//! Host names with `*` wildcards, as written in a stack file's allow- and
//! deny-lists.
//!
//! Environment isolation is decided by these patterns, so a typo in one must
//! fail loudly when the stack file is read rather than silently match nothing.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::wildcard::{self, Case, Star};

/// A host name such as `db.prod.demo.internal` or `*.rpc.prod.demo.internal`.
///
/// `*` matches one or more characters and may span labels, so `*.dev.*`
/// matches `db.dev.demo.internal`. Matching ignores ASCII case and a trailing
/// dot, as DNS does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern(String);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HostPatternError {
    #[error("host pattern is empty")]
    Empty,
    #[error("host pattern {pattern:?} contains {found:?}; only letters, digits, '-', '.' and '*' are allowed (no scheme, port or path)")]
    InvalidCharacter { pattern: String, found: char },
    #[error("host pattern {0:?} has an empty label (leading, trailing or doubled '.')")]
    EmptyLabel(String),
    #[error("host pattern {0:?} has '**'; a single '*' already matches any number of characters")]
    DoubleWildcard(String),
}

impl HostPattern {
    /// Whether `host` (a bare host name, no port) matches this pattern.
    pub fn matches(&self, host: &str) -> bool {
        wildcard::matches(
            &self.0,
            host.trim_end_matches('.'),
            Star::NonEmptyRun,
            Case::IgnoreAscii,
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for HostPattern {
    type Err = HostPatternError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let pattern = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        if pattern.is_empty() {
            return Err(HostPatternError::Empty);
        }
        if let Some(found) = pattern
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '*')))
        {
            return Err(HostPatternError::InvalidCharacter {
                pattern: raw.to_owned(),
                found,
            });
        }
        if pattern.split('.').any(str::is_empty) {
            return Err(HostPatternError::EmptyLabel(raw.to_owned()));
        }
        if pattern.contains("**") {
            return Err(HostPatternError::DoubleWildcard(raw.to_owned()));
        }
        Ok(Self(pattern))
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(raw: &str) -> HostPattern {
        raw.parse().unwrap()
    }

    #[test]
    fn matching_table() {
        let cases = [
            ("db.prod.demo.internal", "db.prod.demo.internal", true),
            ("db.prod.demo.internal", "DB.Prod.Demo.Internal.", true),
            ("db.prod.demo.internal", "db.dev.demo.internal", false),
            (
                "*.rpc.prod.demo.internal",
                "eth.rpc.prod.demo.internal",
                true,
            ),
            (
                "*.rpc.prod.demo.internal",
                "a.b.rpc.prod.demo.internal",
                true,
            ),
            ("*.rpc.prod.demo.internal", "rpc.prod.demo.internal", false),
            ("*.dev.*", "db.dev.demo.internal", true),
            ("*.dev.*", "db.prod.demo.internal", false),
            ("*.dev.*", "dev.demo.internal", false),
            ("db-*.internal", "db-1.internal", true),
            ("10.0.0.5", "10.0.0.5", true),
        ];
        for (p, host, expected) in cases {
            assert_eq!(pattern(p).matches(host), expected, "{p} vs {host}");
        }
    }

    #[test]
    fn invalid_patterns_are_rejected() {
        let cases = [
            ("", HostPatternError::Empty),
            ("  ", HostPatternError::Empty),
            (
                "db..internal",
                HostPatternError::EmptyLabel("db..internal".into()),
            ),
            (
                ".internal",
                HostPatternError::EmptyLabel(".internal".into()),
            ),
            (
                "**.internal",
                HostPatternError::DoubleWildcard("**.internal".into()),
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(raw.parse::<HostPattern>(), Err(expected), "{raw:?}");
        }
        for raw in ["postgres://db", "db:5432", "db/x", "db_1.internal"] {
            assert!(
                matches!(
                    raw.parse::<HostPattern>(),
                    Err(HostPatternError::InvalidCharacter { .. })
                ),
                "{raw:?}"
            );
        }
    }

    /// A host is whatever someone with write access to the parameter wrote: long hosts against
    /// patterns with many stars are answered (in linear time, see the `wildcard` benchmark).
    #[test]
    fn many_stars_against_long_hosts() {
        for labels in [4 * 1024, 32 * 1024] {
            let host = format!("{}Internal.", "a.".repeat(labels));
            assert!(!pattern("*.*.*.x").matches(&host));
            assert!(pattern("*.*.*.internal").matches(&host));
            assert!(!pattern("*.*.*.*.*.*.*.*.b.*.internal").matches(&host));
            assert!(pattern("a.*.a.*.a.*.a.internal").matches(&host));
        }
    }

    #[test]
    fn display_round_trips() {
        assert_eq!(pattern("*.Dev.*").to_string(), "*.dev.*");
    }
}
