//! EIP-55 mixed-case checksums for EVM addresses.
//!
//! The v2 node accepts an address only if it equals its own checksummed form
//! (`common.HexToAddress(s).Hex()`), so lowercase addresses copied from v1
//! setups fail at boot; v1 read them as plain strings.

use std::fmt;

use sha3::{Digest, Keccak256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AddressProblem {
    /// Not `0x` followed by 40 hex digits.
    Malformed,
    /// Well formed, but the letter casing is not the EIP-55 checksum.
    Checksum { expected: String },
}

impl fmt::Display for AddressProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("must be 0x followed by 40 hexadecimal digits"),
            Self::Checksum { expected } => {
                write!(f, "checksum casing is wrong; the EIP-55 form is {expected}")
            }
        }
    }
}

/// The EIP-55 form of `address` (`0x` + 40 hex digits, any case).
pub(super) fn to_checksum(address: &str) -> Option<String> {
    let hex = address.strip_prefix("0x")?;
    if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let lower = hex.to_ascii_lowercase();
    let hash = Keccak256::digest(lower.as_bytes());
    let checksummed = lower
        .bytes()
        .enumerate()
        .map(|(i, byte)| {
            let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
            if byte.is_ascii_alphabetic() && nibble >= 8 {
                byte.to_ascii_uppercase() as char
            } else {
                byte as char
            }
        })
        .collect::<String>();
    Some(format!("0x{checksummed}"))
}

/// Checks `address` the way the v2 node does.
pub(super) fn check_eip55(address: &str) -> Result<(), AddressProblem> {
    match to_checksum(address) {
        None => Err(AddressProblem::Malformed),
        Some(expected) if expected == address => Ok(()),
        Some(expected) => Err(AddressProblem::Checksum { expected }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_vectors() {
        let mut checked = 0;
        let vectors = super::super::test_support::read_testdata("eip55-test-vectors.txt");
        for line in vectors
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let mut words = line.split_whitespace();
            let (Some(verdict), Some(address)) = (words.next(), words.next()) else {
                panic!("bad vector line {line:?}");
            };
            let result = check_eip55(address);
            match verdict {
                "valid" => assert_eq!(result, Ok(()), "{address}"),
                "invalid" => assert!(result.is_err(), "{address}"),
                other => panic!("unknown verdict {other}"),
            }
            checked += 1;
        }
        assert_eq!(checked, 10);
    }

    #[test]
    fn lowercase_link_suggests_the_checksum() {
        assert_eq!(
            check_eip55("0x514910771af9ca656af840dff83e8264ecf986ca"),
            Err(AddressProblem::Checksum {
                expected: "0x514910771AF9Ca656af840dff83E8264EcF986CA".into()
            })
        );
        assert_eq!(
            check_eip55("514910771AF9Ca656af840dff83E8264EcF986CA"),
            Err(AddressProblem::Malformed)
        );
    }
}
