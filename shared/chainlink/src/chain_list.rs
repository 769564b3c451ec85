//! Rules every network family's chain list shares (`[[EVM]]`, `[[Solana]]`,
//! `[[Cosmos]]`, ...): a chain ID on each chain, unique chain IDs, at least
//! one node, unique node names, and a boolean `Enabled`.
//!
//! The node applies these per family with slightly different wording,
//! which is kept so operators recognise the messages.

use std::collections::HashSet;

use super::finding::FindingCode;
use super::toml_tree::{FindingSink, TableView};

const FAMILIES: &[&str] = &[
    "EVM", "Cosmos", "Solana", "Starknet", "Aptos", "Tron", "TON",
];

pub(super) fn check_chain_lists(root: &TableView<'_>, sink: &mut FindingSink<'_>) {
    for family in FAMILIES {
        check_family(root, family, sink);
    }
}

fn check_family(root: &TableView<'_>, family: &str, sink: &mut FindingSink<'_>) {
    let is_evm = family == "EVM";
    let mut chain_ids = HashSet::new();
    let mut node_names = HashSet::new();
    for chain in root.tables(family) {
        chain.bool("Enabled", sink);
        match chain.text("ChainID", sink) {
            None => sink.push(
                FindingCode::ChainIdMissing,
                Some(chain.field("ChainID")),
                format!(
                    "{}: missing: required for all chains",
                    chain.field("ChainID")
                ),
            ),
            Some(id) if id.trim().is_empty() => sink.push(
                FindingCode::ChainIdMissing,
                Some(chain.field("ChainID")),
                format!("{}: empty: required for all chains", chain.field("ChainID")),
            ),
            Some(id) => {
                if !chain_ids.insert(id.clone()) {
                    sink.push(
                        FindingCode::ChainIdDuplicate,
                        Some(chain.field("ChainID")),
                        format!(
                            "{}: invalid value ({id}): duplicate - must be unique",
                            chain.field("ChainID")
                        ),
                    );
                }
            }
        }
        let nodes = chain.tables("Nodes");
        if nodes.is_empty() {
            let text = if is_evm {
                "must have at least one node"
            } else {
                "expected at least one node"
            };
            sink.push(
                FindingCode::ChainNodesMissing,
                Some(chain.field("Nodes")),
                format!("{}: missing: {text}", chain.field("Nodes")),
            );
        }
        for node in nodes {
            match node.string("Name", sink) {
                found @ (None | Some("")) if is_evm => {
                    let how = if found.is_some() { "empty" } else { "missing" };
                    sink.push(
                        FindingCode::NodeNameMissing,
                        Some(node.field("Name")),
                        format!("{}: {how}: required for all nodes", node.field("Name")),
                    );
                }
                Some(name) if !name.is_empty() && !node_names.insert(name.to_owned()) => {
                    sink.push(
                        FindingCode::NodeNameDuplicate,
                        Some(node.field("Name")),
                        format!(
                            "{}: invalid value ({name}): duplicate - must be unique",
                            node.field("Name")
                        ),
                    );
                }
                _ => {}
            }
        }
    }
}
