//! Gas price amounts as the node writes them (`'20 gwei'`, `'0.1 gwei'`,
//! `'9.223372036854775807 ether'`, bare integers in wei).
//!
//! The gas estimator rules compare these; the largest default
//! (`115792...639935 tether`, 2^256-1 wei) overflows every integer type, so
//! amounts are kept as canonical decimal digit strings and compared by
//! length, then lexically.

use std::cmp::Ordering;
use std::fmt;

/// An amount in wei, exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Wei(String);

impl Wei {
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
            Some(i) => (text[..i].trim(), text[i..].trim()),
            None => (text, "wei"),
        };
        let exponent: usize = match unit.to_ascii_lowercase().as_str() {
            "wei" => 0,
            "kwei" => 3,
            "mwei" => 6,
            "gwei" => 9,
            "micro" => 12,
            "milli" => 15,
            "eth" | "ether" => 18,
            "keth" | "kether" => 21,
            "meth" | "mether" => 24,
            "geth" | "gether" => 27,
            "teth" | "tether" => 30,
            _ => return None,
        };
        let number = number.replace('_', "");
        let (whole, fraction) = number.split_once('.').unwrap_or((&number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        if !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut digits = whole.to_owned();
        let shifted: String = fraction
            .chars()
            .chain(std::iter::repeat('0'))
            .take(exponent)
            .collect();
        if fraction.len() > exponent && fraction[exponent..].bytes().any(|b| b != b'0') {
            // Fractions of a wei do not exist; the node rejects them too.
            return None;
        }
        digits.push_str(&shifted);
        let canonical = digits.trim_start_matches('0');
        Some(Self(if canonical.is_empty() {
            "0".to_owned()
        } else {
            canonical.to_owned()
        }))
    }

    pub fn from_integer(value: i64) -> Option<Self> {
        u64::try_from(value).ok().map(|v| Self(v.to_string()))
    }
}

impl Ord for Wei {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for Wei {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Wei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const GWEI_DIGITS: usize = 9;
        if self.0.len() > GWEI_DIGITS && self.0.ends_with("000000000") {
            write!(f, "{} gwei", &self.0[..self.0.len() - GWEI_DIGITS])
        } else {
            write!(f, "{} wei", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wei(text: &str) -> Wei {
        Wei::parse(text).unwrap()
    }

    #[test]
    fn parse_table() {
        let cases = [
            ("20 gwei", Some("20000000000")),
            ("0.1 gwei", Some("100000000")),
            ("13 wei", Some("13")),
            ("1", Some("1")),
            ("0", Some("0")),
            ("9.223372036854775807 ether", Some("9223372036854775807")),
            ("281.474976710655 micro", Some("281474976710655")),
            (
                "115792089237316195423570985008687907853269984665.640564039457584007913129639935 tether",
                Some("115792089237316195423570985008687907853269984665640564039457584007913129639935"),
            ),
            ("1.5 wei", None),
            ("ten gwei", None),
            ("5 parsecs", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                Wei::parse(text).map(|w| w.0),
                expected.map(str::to_owned),
                "{text}"
            );
        }
    }

    #[test]
    fn ordering_and_display() {
        assert!(wei("10 gwei") > wei("9 gwei"));
        assert!(wei("99") < wei("20 gwei"));
        assert!(wei("9.223372036854775807 ether") > wei("281.474976710655 micro"));
        assert_eq!(wei("101"), Wei::from_integer(101).unwrap());
        assert_eq!(wei("20 gwei").to_string(), "20 gwei");
        assert_eq!(wei("99").to_string(), "99 wei");
    }
}
