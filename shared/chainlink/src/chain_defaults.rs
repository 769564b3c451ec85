//! The node's built-in EVM chain defaults, which a chain's own settings are
//! layered on before the node validates them.
//!
//! Rules such as "PriceMax must be at least PriceDefault" compare a user's
//! value with a default, so validation must see the effective chain. Copies
//! of the node's default files live in data/evm-defaults (see
//! src/data/SOURCES.txt); chains not listed there get only the fallback.

use toml::{Table, Value};

use super::toml_tree::{merge_into, parse_toml};

const FALLBACK: &str = include_str!("data/evm-defaults/fallback.toml");

const CHAIN_FILES: &[&str] = &[
    include_str!("data/evm-defaults/Arbitrum_Mainnet.toml"),
    include_str!("data/evm-defaults/Arbitrum_Sepolia.toml"),
    include_str!("data/evm-defaults/Avalanche_Fuji.toml"),
    include_str!("data/evm-defaults/Avalanche_Mainnet.toml"),
    include_str!("data/evm-defaults/BSC_Mainnet.toml"),
    include_str!("data/evm-defaults/BSC_Testnet.toml"),
    include_str!("data/evm-defaults/Base_Mainnet.toml"),
    include_str!("data/evm-defaults/Base_Sepolia.toml"),
    include_str!("data/evm-defaults/Ethereum_Mainnet.toml"),
    include_str!("data/evm-defaults/Ethereum_Sepolia.toml"),
    include_str!("data/evm-defaults/Optimism_Mainnet.toml"),
    include_str!("data/evm-defaults/Optimism_Sepolia.toml"),
    include_str!("data/evm-defaults/Polygon_Amoy.toml"),
    include_str!("data/evm-defaults/Polygon_Mainnet.toml"),
];

fn chain_file(chain_id: &str) -> Option<Table> {
    CHAIN_FILES
        .iter()
        .filter_map(|text| parse_toml(text).ok())
        .find(|table| matches!(table.get("ChainID"), Some(Value::String(id)) if id == chain_id))
}

/// Fallback defaults with the chain's own defaults on top. The embedded
/// files are tested to parse, so a parse failure here cannot happen; it
/// would only leave fewer defaults.
pub(super) fn chain_defaults(chain_id: Option<&str>) -> Table {
    let mut defaults = parse_toml(FALLBACK).unwrap_or_default();
    if let Some(file) = chain_id.and_then(chain_file) {
        merge_into(&mut defaults, &file);
    }
    defaults
}

/// For a chain the node knows, the ChainType it requires ("" for none);
/// `None` for chains it does not know (node: `ChainTypeForID`).
pub(super) fn required_chain_type(chain_id: &str) -> Option<String> {
    let file = chain_file(chain_id)?;
    Some(
        file.get("ChainType")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_file_parses_and_has_a_chain_id() {
        assert!(parse_toml(FALLBACK).is_ok());
        for text in CHAIN_FILES {
            let table = parse_toml(text).unwrap();
            assert!(table.get("ChainID").and_then(Value::as_str).is_some());
        }
    }

    #[test]
    fn chain_type_requirements() {
        let cases = [
            ("1", Some("")),
            ("10", Some("optimismBedrock")),
            ("421614", Some("arbitrum")),
            ("99", None),
        ];
        for (chain, expected) in cases {
            assert_eq!(required_chain_type(chain).as_deref(), expected, "{chain}");
        }
    }

    #[test]
    fn chain_defaults_layer_on_fallback() {
        let polygon = chain_defaults(Some("137"));
        let gas = polygon
            .get("GasEstimator")
            .and_then(Value::as_table)
            .unwrap();
        assert_eq!(
            gas.get("PriceDefault").and_then(Value::as_str),
            Some("30 gwei")
        );
        assert_eq!(gas.get("BumpPercent").and_then(Value::as_integer), Some(20));
    }
}
