//! The Chainlink node version a stack declares it runs (`2.18.0`).
//!
//! Some of the node's boot-time refusals arrived with a release (legacy environment variables
//! went in 2.0.0, `P2P.V1` in 2.9.0), so a rule applies only when the declared version is at or
//! after the release that introduced it. Versions compare as the node's releases are numbered:
//! MAJOR.MINOR.PATCH, numerically.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// "Configuration with legacy environment variables is no longer supported. TOML is required."
/// From here every node validates its secrets at boot, the database password included. Here,
/// not with the rules (`version_rules`), because the password checks (`db_url`) name it too.
pub(super) const V2_CONFIG_REQUIRED: NodeVersion = NodeVersion::new(2, 0, 0);

impl NodeVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for NodeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a node version: use MAJOR.MINOR.PATCH, such as \"2.18.0\" (a leading \"v\" is allowed)")]
pub struct NodeVersionError(String);

impl FromStr for NodeVersion {
    type Err = NodeVersionError;

    /// `2.18.0` or `v2.18.0`; nothing else (no pre-release or build suffix: the rules are
    /// keyed to releases).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || NodeVersionError(text.to_owned());
        let trimmed = text.trim();
        let digits = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let mut parts = digits.split('.').map(|part| {
            // `u32::from_str` accepts a leading '+': a version part is digits only.
            if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                part.parse::<u32>().ok()
            } else {
                None
            }
        });
        let (Some(Some(major)), Some(Some(minor)), Some(Some(patch)), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        Ok(Self::new(major, minor, patch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_an_optional_v() {
        for (text, expected) in [
            ("2.18.0", NodeVersion::new(2, 18, 0)),
            ("v1.5.0", NodeVersion::new(1, 5, 0)),
            (" 2.9.1 ", NodeVersion::new(2, 9, 1)),
        ] {
            assert_eq!(text.parse::<NodeVersion>(), Ok(expected), "{text}");
        }
        for text in [
            "",
            "2",
            "2.18",
            "2.18.0.1",
            "2.18.x",
            "v",
            "V2.18.0",
            "2.+1.0",
            "2.18.0-beta",
        ] {
            assert!(text.parse::<NodeVersion>().is_err(), "{text:?} parsed");
        }
    }

    #[test]
    fn versions_order_numerically() {
        let parse = |text: &str| text.parse::<NodeVersion>().unwrap();
        assert!(parse("2.10.0") > parse("2.9.1"));
        assert!(parse("1.13.3") < parse("2.0.0"));
        assert_eq!(parse("v2.0.0").to_string(), "2.0.0");
    }
}
