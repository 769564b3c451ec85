//! The redacting holder for every parameter value read from the store.
//!
//! Values arrive from SSM without any notion of which are sensitive, so all of
//! them are held here; only the validator decides what may be shown. Printing
//! one by accident (`{:?}` in a log line, a panic message) must not leak it.

use std::fmt;

/// A parameter value whose `Debug` and `Display` never reveal it.
///
/// Deliberately not `Serialize`: a report that wants to show a value has to
/// call [`SecretValue::expose`] and so make that choice visibly.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

const REDACTED: &str = "<redacted>";

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the code that checks it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretValue {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretValue {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = SecretValue::new("hunter2-hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{secret}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(<redacted>)");
        assert_eq!(secret.expose(), "hunter2-hunter2-hunter2");
    }
}
