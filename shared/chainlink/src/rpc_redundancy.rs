//! Whether each chain's RPC nodes can stand in for one another.
//!
//! The node picks among a chain's primary nodes (`SendOnly = false`, or the
//! legacy `ETH_URL`) and only broadcasts transactions through send-only ones
//! (`SendOnly = true`, `ETH_SECONDARY_URLS`). A chain with no primary has
//! nothing to read the chain from; a chain with one keeps that node in use
//! even when it falls behind, because there is nothing to fail over to; a
//! send-only node on the primary's host adds no independent path. The node
//! boots with all three, so they are found here, not by its own validation.
//! A URL repeated among v2 nodes is the node's own rule (CL-NODE-004, in
//! `evm`); a legacy list repeating a URL is reported under the same code as
//! a warning, since v1 accepts it.

use std::collections::HashSet;

use toml::Value;

use super::finding::{ConfigStyle, Finding, FindingCode, Severity};
use super::parameters::{url_list, Parameters, SECONDARY_URL_VARIABLES};
use super::stack::Stack;
use super::toml_tree::TableView;
use super::url_display::{lenient_host_port, url_origin};

/// The node's own words when its only live node falls behind
/// (`common/client/node_lifecycle.go`).
const CANNOT_FAIL_OVER: &str =
    "RPC endpoint detected out of sync; but cannot disable this connection because there \
                                are no other RPC endpoints, or all other RPC endpoints are dead";

fn host_of(url: &str) -> Option<String> {
    lenient_host_port(url).map(|(host, _)| host)
}

fn text<'a>(node: &TableView<'a>, key: &str) -> Option<&'a str> {
    node.get(key)
        .and_then(Value::as_str)
        .filter(|url| !url.is_empty())
}

fn check_chain(parameter: &str, chain: &TableView<'_>, out: &mut Vec<Finding>) {
    let nodes = chain.tables("Nodes");
    if nodes.is_empty() {
        return; // CL-CHAIN-007
    }
    let (send_only, primary): (Vec<_>, Vec<_>) = nodes
        .into_iter()
        .partition(|node| node.get("SendOnly").and_then(Value::as_bool) == Some(true));
    let chain_id = chain
        .get("ChainID")
        .map(|id| id.as_str().map_or_else(|| id.to_string(), str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    let nodes_field = chain.field("Nodes");
    match primary.as_slice() {
        [] => out.push(
            Finding::new(
                FindingCode::RpcNoPrimaryNode,
                parameter,
                format!(
                    "{nodes_field}: chain {chain_id} has only send-only nodes: the node reads the chain through \
                     primary nodes alone and reports 'no primary nodes available: 0/0 nodes are alive'. Add a \
                     [[EVM.Nodes]] with SendOnly = false and a WSURL."
                ),
            )
            .with_field(nodes_field),
        ),
        [only] => out.push(
            Finding::new(
                FindingCode::RpcSinglePrimaryNode,
                parameter,
                format!(
                    "{nodes_field}: chain {chain_id} has one primary node ({}): when it falls behind the node \
                     cannot fail over and keeps using it ('{CANNOT_FAIL_OVER}'). Add a second primary node from \
                     another provider.",
                    text(only, "Name").unwrap_or("unnamed")
                ),
            )
            .with_field(nodes_field),
        ),
        _ => {}
    }
    let primary_hosts: HashSet<String> = primary
        .iter()
        .flat_map(|node| ["WSURL", "HTTPURL"].map(|key| text(node, key).and_then(host_of)))
        .flatten()
        .collect();
    for node in &send_only {
        let Some(url) = text(node, "HTTPURL") else {
            continue;
        };
        if let Some(host) = host_of(url).filter(|host| primary_hosts.contains(host)) {
            let field = node.field("HTTPURL");
            out.push(
                Finding::new(
                    FindingCode::RpcSendOnlyOnPrimaryHost,
                    parameter,
                    format!(
                        "{field}: the send-only node of chain {chain_id} is on {host}, a primary node's host: it \
                         broadcasts through the same provider, so an outage there takes both. Use another \
                         provider's endpoint."
                    ),
                )
                .with_field(field),
            );
        }
    }
}

fn check_legacy(params: &Parameters<'_>, out: &mut Vec<Finding>) {
    // Without ETH_URL there is no legacy primary (CL-RPC-004); EVM_NODES
    // beside it is refused (CL-RPC-005), and alone it is not read here.
    let Some(primary) = params.text("ETH_URL") else {
        return;
    };
    if params.has("EVM_NODES") {
        return;
    }
    out.push(Finding::new(
        FindingCode::RpcSinglePrimaryNode,
        "ETH_URL",
        format!(
            "ETH_URL is the chain's one primary node (ETH_SECONDARY_URLS are send-only): when it falls behind the \
             node cannot fail over and keeps using it ('{CANNOT_FAIL_OVER}'). Legacy variables configure one \
             primary; configure more as v2 [[EVM.Nodes]]."
        ),
    ));
    let primary_hosts: HashSet<String> = [Some(primary), params.text("ETH_HTTP_URL")]
        .into_iter()
        .flatten()
        .filter_map(host_of)
        .collect();
    let mut seen = HashSet::new();
    for name in SECONDARY_URL_VARIABLES {
        for url in params.text(name).map(url_list).into_iter().flatten() {
            if !seen.insert(url) {
                out.push(
                    Finding::new(
                        FindingCode::NodeUrlDuplicate,
                        name,
                        format!(
                            "{name} repeats {}: the node sends every transaction to it twice and gains no \
                             redundancy. List each send-only node once.",
                            url_origin(url)
                        ),
                    )
                    .with_severity(Severity::Warning),
                );
            } else if let Some(host) = host_of(url).filter(|host| primary_hosts.contains(host)) {
                out.push(Finding::new(
                    FindingCode::RpcSendOnlyOnPrimaryHost,
                    name,
                    format!(
                        "{name} lists a send-only node on {host}, the host of ETH_URL: it broadcasts through the \
                         same provider, so an outage there takes both. Use another provider's endpoint."
                    ),
                ));
            }
        }
    }
}

/// Every enabled chain's redundancy, in the stack's configuration style.
pub(super) fn check_rpc_redundancy(stack: &Stack<'_>, out: &mut Vec<Finding>) {
    match stack.style {
        ConfigStyle::Legacy => check_legacy(&stack.params, out),
        ConfigStyle::V2 | ConfigStyle::Mixed => {
            let Some((parameter, root)) = stack.config_view() else {
                return;
            };
            for chain in root.tables("EVM") {
                if chain.get("Enabled").and_then(Value::as_bool) != Some(false) {
                    check_chain(parameter, &chain, out);
                }
            }
        }
        ConfigStyle::Unknown => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::entries;
    use super::*;
    use FindingCode::*;

    fn run(pairs: &[(&str, &str)]) -> Vec<(FindingCode, Severity, String)> {
        let entries = entries(pairs);
        let mut out = Vec::new();
        let stack = Stack::load(&entries, &mut out);
        check_rpc_redundancy(&stack, &mut out);
        out.into_iter()
            .map(|f| (f.code, f.severity, f.field.unwrap_or(f.parameter)))
            .collect()
    }

    fn node(name: &str, ws: &str, http: &str, send_only: bool) -> String {
        let ws = if ws.is_empty() {
            String::new()
        } else {
            format!("WSURL = '{ws}'\n")
        };
        format!("[[EVM.Nodes]]\nName = '{name}'\n{ws}HTTPURL = '{http}'\nSendOnly = {send_only}\n")
    }

    fn chain(nodes: &[String]) -> String {
        format!("[[EVM]]\nChainID = '1'\n{}", nodes.concat())
    }

    #[test]
    fn v2_redundancy_table() {
        let a = node("a", "wss://a.rpc/ws", "https://a.rpc", false);
        let b = node("b", "wss://b.rpc/ws", "https://b.rpc", false);
        let send_c = node("c", "", "https://c.rpc", true);
        let send_a = node("s", "", "https://a.rpc/other-key", true);
        type Case<'a> = (String, Vec<(FindingCode, Severity, &'a str)>);
        let cases: Vec<Case<'_>> = vec![
            (chain(&[a.clone(), b.clone(), send_c.clone()]), vec![]),
            (
                chain(&[a.clone(), send_c.clone()]),
                vec![(RpcSinglePrimaryNode, Severity::Warning, "EVM.0.Nodes")],
            ),
            (
                chain(std::slice::from_ref(&send_c)),
                vec![(RpcNoPrimaryNode, Severity::Error, "EVM.0.Nodes")],
            ),
            (
                chain(&[a.clone(), b.clone(), send_a]),
                vec![(
                    RpcSendOnlyOnPrimaryHost,
                    Severity::Warning,
                    "EVM.0.Nodes.2.HTTPURL",
                )],
            ),
            // A disabled chain and a chain without nodes are not judged here.
            (
                format!("[[EVM]]\nChainID = '5'\nEnabled = false\n{send_c}"),
                vec![],
            ),
            ("[[EVM]]\nChainID = '5'\n".to_owned(), vec![]),
        ];
        for (config, expected) in cases {
            let got = run(&[("config.toml", &config)]);
            let expected: Vec<(FindingCode, Severity, String)> = expected
                .into_iter()
                .map(|(c, s, f)| (c, s, f.to_owned()))
                .collect();
            assert_eq!(got, expected, "{config}");
        }
    }

    #[test]
    fn each_chain_is_judged_on_its_own() {
        let a = node("a", "wss://a.rpc/ws", "https://a.rpc", false);
        let b = node("b", "wss://b.rpc/ws", "https://b.rpc", false);
        let config = format!(
            "{}[[EVM]]\nChainID = '10'\n{}",
            chain(&[a, b]),
            node("o", "wss://o.rpc/ws", "https://o.rpc", false)
        );
        assert_eq!(
            run(&[("config.toml", &config)]),
            vec![(
                RpcSinglePrimaryNode,
                Severity::Warning,
                "EVM.1.Nodes".into()
            )]
        );
    }

    #[test]
    fn legacy_redundancy_table() {
        let eth = ("ETH_URL", "wss://eth.rpc/ws");
        let single = (RpcSinglePrimaryNode, Severity::Warning, "ETH_URL");
        type Case<'a> = (
            Vec<(&'a str, &'a str)>,
            Vec<(FindingCode, Severity, &'a str)>,
        );
        let cases: Vec<Case<'_>> = vec![
            (vec![eth], vec![single]),
            (
                vec![eth, ("ETH_SECONDARY_URLS", "https://other.rpc")],
                vec![single],
            ),
            (
                vec![
                    eth,
                    ("ETH_SECONDARY_URLS", "https://other.rpc;https://other.rpc"),
                ],
                vec![
                    single,
                    (NodeUrlDuplicate, Severity::Warning, "ETH_SECONDARY_URLS"),
                ],
            ),
            (
                vec![eth, ("ETH_SECONDARY_URLS", "https://ETH.rpc/key")],
                vec![
                    single,
                    (
                        RpcSendOnlyOnPrimaryHost,
                        Severity::Warning,
                        "ETH_SECONDARY_URLS",
                    ),
                ],
            ),
            (
                vec![
                    eth,
                    ("ETH_HTTP_URL", "https://http.rpc"),
                    ("ETH_SECONDARY_URL", "https://http.rpc/x"),
                ],
                vec![
                    single,
                    (
                        RpcSendOnlyOnPrimaryHost,
                        Severity::Warning,
                        "ETH_SECONDARY_URL",
                    ),
                ],
            ),
            // No ETH_URL (CL-RPC-004), or EVM_NODES beside it (CL-RPC-005).
            (vec![("ETH_SECONDARY_URLS", "https://other.rpc")], vec![]),
            (vec![eth, ("EVM_NODES", "[]")], vec![]),
        ];
        for (pairs, expected) in cases {
            let expected: Vec<(FindingCode, Severity, String)> = expected
                .into_iter()
                .map(|(c, s, f)| (c, s, f.to_owned()))
                .collect();
            assert_eq!(run(&pairs), expected, "{pairs:?}");
        }
    }
}
