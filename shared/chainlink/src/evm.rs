//! Rules for `[[EVM]]` chains: chain type, addresses and the LINK token,
//! finality and head tracker settings, the gas estimator, auto-purge, and
//! each node's URLs.
//!
//! Each chain is checked as the node sees it, with its built-in defaults
//! underneath (`chain_defaults`), because many rules compare a user's value
//! with a default one.

use std::collections::HashSet;

use toml::Table;

use super::chain_defaults::{chain_defaults, required_chain_type};
use super::finding::FindingCode;
use super::link_token::{
    check_address, check_link_address, node_default_link_is_wrong, AddressSource, AddressStrictness,
};
use super::policy::EnvironmentPolicy;
use super::rpc_url::{check_rpc_url, RpcTransport};
use super::toml_tree::{merge_into, FindingSink, TableView};
use super::url_display::url_origin;

/// ChainType values the current node accepts (its "must be one of" list).
const CHAIN_TYPES: &[&str] = &[
    "arbitrum",
    "astar",
    "celo",
    "gnosis",
    "hedera",
    "kroma",
    "mantle",
    "metis",
    "optimismBedrock",
    "sei",
    "scroll",
    "wemix",
    "xlayer",
    "zkevm",
    "zksync",
    "zircuit",
    "tron",
    "rootstock",
    "pharos",
    "jovay",
];
/// Geth's minimum replacement bump (legacypool.DefaultConfig.PriceBump).
const MIN_BUMP_PERCENT: i64 = 10;

pub(super) fn check_evm_chains(
    root: &TableView<'_>,
    policy: &EnvironmentPolicy,
    sink: &mut FindingSink<'_>,
) {
    let mut ws_urls = HashSet::new();
    let mut http_urls = HashSet::new();
    for chain in root.tables("EVM") {
        // Type problems with ChainID are reported by chain_list.
        let chain_id = chain.get("ChainID").and_then(|v| {
            v.as_str()
                .map(str::to_owned)
                .or_else(|| v.as_integer().map(|i| i.to_string()))
        });
        let mut effective_table: Table = chain_defaults(chain_id.as_deref());
        merge_into(&mut effective_table, chain.raw());
        let effective = TableView::root(&effective_table).with_path(chain.path());
        check_chain_type(&chain, &effective, chain_id.as_deref(), sink);
        check_addresses(&chain, chain_id.as_deref(), policy, sink);
        check_depths(&effective, sink);
        check_gas_estimator(&effective, sink);
        check_auto_purge(&chain, &effective, sink);
        check_nodes(&chain, &effective, &mut ws_urls, &mut http_urls, sink);
    }
}

fn check_chain_type(
    chain: &TableView<'_>,
    effective: &TableView<'_>,
    chain_id: Option<&str>,
    sink: &mut FindingSink<'_>,
) {
    let user = chain.string("ChainType", sink);
    if let Some(value) = user {
        if !CHAIN_TYPES.contains(&value) {
            sink.push(
                FindingCode::ChainTypeInvalid,
                Some(chain.field("ChainType")),
                format!(
                    "{}: invalid value ({value}): must be one of {} or omitted",
                    chain.field("ChainType"),
                    CHAIN_TYPES.join(", ")
                ),
            );
        }
    }
    let Some(required) = chain_id.and_then(required_chain_type) else {
        return;
    };
    let is = effective
        .get("ChainType")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if is != required {
        let message = if required.is_empty() {
            "must not be set with this chain id".to_owned()
        } else {
            format!("only {required:?} can be used with this chain id")
        };
        sink.push(
            FindingCode::ChainTypeForChainId,
            Some(chain.field("ChainType")),
            format!(
                "{}: invalid value ({is}): {message}",
                chain.field("ChainType")
            ),
        );
    }
}

fn check_addresses(
    chain: &TableView<'_>,
    chain_id: Option<&str>,
    policy: &EnvironmentPolicy,
    sink: &mut FindingSink<'_>,
) {
    let numeric_id = chain_id.and_then(|id| id.trim().parse::<u64>().ok());
    let parameter = sink.parameter.clone();
    let source = |key: &str, field: String| AddressSource {
        parameter: &parameter,
        field: Some(field),
        setting: match key {
            "LinkContractAddress" => "LinkContractAddress",
            "FlagsContractAddress" => "FlagsContractAddress",
            "OperatorFactoryAddress" => "OperatorFactoryAddress",
            _ => "address",
        },
        strictness: AddressStrictness::Eip55,
    };
    match chain.string("LinkContractAddress", sink) {
        Some(address) => {
            let address_source = source("LinkContractAddress", chain.field("LinkContractAddress"));
            check_link_address(
                address,
                numeric_id.or(policy.chain_id),
                &address_source,
                sink.out,
            );
        }
        None => {
            if let Some(expected) = numeric_id.and_then(node_default_link_is_wrong) {
                sink.push(
                    FindingCode::LinkTokenNodeDefaultWrong,
                    Some(chain.field("LinkContractAddress")),
                    format!(
                        "{}: not set, and the node's built-in default for chain {} differs from the documented LINK \
                         token {expected}; set LinkContractAddress = '{expected}' explicitly.",
                        chain.field("LinkContractAddress"),
                        numeric_id.unwrap_or_default()
                    ),
                );
            }
        }
    }
    for key in ["FlagsContractAddress", "OperatorFactoryAddress"] {
        if let Some(address) = chain.string(key, sink) {
            check_address(address, &source(key, chain.field(key)), sink.out);
        }
    }
    if let Some(workflow) = chain.table("Workflow") {
        for key in ["FromAddress", "ForwarderAddress"] {
            if let Some(address) = workflow.string(key, sink) {
                check_address(address, &source(key, workflow.field(key)), sink.out);
            }
        }
    }
    let mut keys = HashSet::new();
    for entry in chain.tables("KeySpecific") {
        let Some(key) = entry.string("Key", sink) else {
            continue;
        };
        check_address(key, &source("Key", entry.field("Key")), sink.out);
        if !keys.insert(key.to_owned()) {
            let field = chain.field("KeySpecific.Key");
            sink.push(
                FindingCode::KeySpecificDuplicate,
                Some(field.clone()),
                format!("{field}: invalid value ({key}): duplicate - must be unique"),
            );
        }
    }
}

fn out_of_range(
    view: &TableView<'_>,
    key: &str,
    value: i64,
    rule: &str,
    sink: &mut FindingSink<'_>,
) {
    sink.push(
        FindingCode::EvmSettingOutOfRange,
        Some(view.field(key)),
        format!("{}: invalid value ({value}): {rule}", view.field(key)),
    );
}

fn check_depths(effective: &TableView<'_>, sink: &mut FindingSink<'_>) {
    for key in ["FinalityDepth", "MinIncomingConfirmations"] {
        if let Some(value) = effective.integer(key, sink).filter(|v| *v < 1) {
            out_of_range(
                effective,
                key,
                value,
                "must be greater than or equal to 1",
                sink,
            );
        }
    }
    let head_tracker = effective.table("HeadTracker");
    let offset = effective.integer("FinalizedBlockOffset", sink).unwrap_or(0);
    if let Some(head_tracker) = head_tracker {
        if let Some(depth) = head_tracker
            .integer("HistoryDepth", sink)
            .filter(|d| *d < offset)
        {
            out_of_range(
                &head_tracker,
                "HistoryDepth",
                depth,
                "must be greater than or equal to FinalizedBlockOffset",
                sink,
            );
        }
        if let Some(depth) = head_tracker
            .integer("MaxAllowedFinalityDepth", sink)
            .filter(|d| *d < 1)
        {
            out_of_range(
                &head_tracker,
                "MaxAllowedFinalityDepth",
                depth,
                "must be greater than or equal to 1",
                sink,
            );
        }
    }
}

fn check_gas_estimator(effective: &TableView<'_>, sink: &mut FindingSink<'_>) {
    let Some(gas) = effective.table("GasEstimator") else {
        return;
    };
    let inconsistent = |key: &str, shown: String, rule: String, sink: &mut FindingSink<'_>| {
        sink.push(
            FindingCode::GasEstimatorInconsistent,
            Some(gas.field(key)),
            format!("{}: invalid value ({shown}): {rule}", gas.field(key)),
        );
    };
    let max_in_flight = effective
        .table("Transactions")
        .and_then(|t| t.integer("MaxInFlight", sink));
    if let (Some(depth), Some(max)) = (gas.integer("BumpTxDepth", sink), max_in_flight) {
        if depth > max {
            inconsistent(
                "BumpTxDepth",
                depth.to_string(),
                "must be less than or equal to Transactions.MaxInFlight".into(),
                sink,
            );
        }
    }
    if let Some(percent) = gas
        .integer("BumpPercent", sink)
        .filter(|p| *p < MIN_BUMP_PERCENT)
    {
        inconsistent(
            "BumpPercent",
            percent.to_string(),
            format!("may not be less than Geth's default of {MIN_BUMP_PERCENT}"),
            sink,
        );
    }
    let wei = |key: &str, sink: &mut FindingSink<'_>| gas.wei(key, sink);
    let (tip_default, tip_min) = (wei("TipCapDefault", sink), wei("TipCapMin", sink));
    let (fee_cap, price_max) = (wei("FeeCapDefault", sink), wei("PriceMax", sink));
    let (price_min, price_default) = (wei("PriceMin", sink), wei("PriceDefault", sink));
    if let (Some(tip_default), Some(tip_min)) = (&tip_default, &tip_min) {
        if tip_default < tip_min {
            inconsistent(
                "TipCapDefault",
                tip_default.to_string(),
                "must be greater than or equal to TipCapMinimum".into(),
                sink,
            );
        }
    }
    if let (Some(fee_cap), Some(tip_default)) = (&fee_cap, &tip_default) {
        if fee_cap < tip_default {
            inconsistent(
                "FeeCapDefault",
                fee_cap.to_string(),
                "must be greater than or equal to TipCapDefault".into(),
                sink,
            );
        }
    }
    let mode = gas.string("Mode", sink).unwrap_or("BlockHistory");
    let bump_threshold = gas.integer("BumpThreshold", sink);
    let eip1559 = gas.bool("EIP1559DynamicFees", sink).unwrap_or(false);
    if let (Some(fee_cap), Some(price_max)) = (&fee_cap, &price_max) {
        if mode == "FixedPrice" && bump_threshold == Some(0) && eip1559 && fee_cap != price_max {
            inconsistent(
                "FeeCapDefault",
                fee_cap.to_string(),
                format!(
                    "must be equal to PriceMax ({price_max}) since you are using FixedPrice estimation with gas \
                     bumping disabled in EIP1559 mode - PriceMax will be used as the FeeCap for transactions instead \
                     of FeeCapDefault"
                ),
                sink,
            );
        } else if fee_cap > price_max {
            inconsistent(
                "FeeCapDefault",
                fee_cap.to_string(),
                format!("must be less than or equal to PriceMax ({price_max})"),
                sink,
            );
        }
    }
    if let (Some(price_min), Some(price_default)) = (&price_min, &price_default) {
        if price_min > price_default {
            inconsistent(
                "PriceMin",
                price_min.to_string(),
                format!("must be less than or equal to PriceDefault ({price_default})"),
                sink,
            );
        }
    }
    if let (Some(price_max), Some(price_default)) = (&price_max, &price_default) {
        if price_max < price_default {
            inconsistent(
                "PriceMax",
                price_max.to_string(),
                format!("must be greater than or equal to PriceDefault ({price_default})"),
                sink,
            );
        }
    }
    if mode == "BlockHistory" {
        let size = gas
            .table("BlockHistory")
            .and_then(|b| b.integer("BlockHistorySize", sink));
        if let Some(size) = size.filter(|s| *s <= 0) {
            inconsistent(
                "BlockHistory.BlockHistorySize",
                size.to_string(),
                "must be greater than or equal to 1 with BlockHistory Mode".into(),
                sink,
            );
        }
    }
}

fn check_auto_purge(chain: &TableView<'_>, effective: &TableView<'_>, sink: &mut FindingSink<'_>) {
    let transactions = effective.table("Transactions");
    let auto_purge = transactions.as_ref().and_then(|t| t.table("AutoPurge"));
    let Some(auto_purge) = auto_purge else { return };
    if auto_purge.bool("Enabled", sink) != Some(true) {
        return;
    }
    let chain_type = effective
        .get("ChainType")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_owned();
    let incomplete = |field: String, message: String, sink: &mut FindingSink<'_>| {
        sink.push(
            FindingCode::AutoPurgeIncomplete,
            Some(field.clone()),
            format!("{field}: {message}"),
        );
    };
    match chain_type.as_str() {
        "scroll" => {
            let field = auto_purge.field("DetectionApiUrl");
            match auto_purge.string("DetectionApiUrl", sink) {
                None => incomplete(field, "missing: must be set for scroll".into(), sink),
                Some("") => incomplete(
                    field,
                    "invalid value (): must be set for scroll".into(),
                    sink,
                ),
                Some(url)
                    if !matches!(
                        super::url_display::scheme_of(url).as_deref(),
                        Some("http" | "https")
                    ) =>
                {
                    incomplete(
                        field,
                        format!("invalid value ({}): must be http or https", url_origin(url)),
                        sink,
                    )
                }
                Some(_) => {}
            }
        }
        "zkevm" => {}
        other => {
            let gas = effective.table("GasEstimator");
            let bump_field = chain.field("GasEstimator.BumpThreshold");
            match gas.as_ref().and_then(|g| g.integer("BumpThreshold", sink)) {
                None => incomplete(
                    bump_field,
                    format!("missing: must be set if auto-purge feature is enabled for {other}"),
                    sink,
                ),
                Some(0) => incomplete(
                    bump_field,
                    format!("invalid value (0): cannot be 0 if auto-purge feature is enabled for {other}"),
                    sink,
                ),
                Some(_) => {}
            }
            for key in ["Threshold", "MinAttempts"] {
                match auto_purge.integer(key, sink) {
                    None => incomplete(
                        auto_purge.field(key),
                        format!("missing: needs to be set if auto-purge feature is enabled for {other}"),
                        sink,
                    ),
                    Some(0) => incomplete(
                        auto_purge.field(key),
                        format!("invalid value (0): cannot be 0 if auto-purge feature is enabled for {other}"),
                        sink,
                    ),
                    Some(_) => {}
                }
            }
        }
    }
}

fn check_nodes(
    chain: &TableView<'_>,
    effective: &TableView<'_>,
    ws_urls: &mut HashSet<String>,
    http_urls: &mut HashSet<String>,
    sink: &mut FindingSink<'_>,
) {
    let log_broadcaster = effective
        .bool("LogBroadcasterEnabled", sink)
        .unwrap_or(true);
    let polling = effective
        .table("NodePool")
        .and_then(|pool| pool.duration("NewHeadsPollInterval", sink))
        .unwrap_or(0);
    let parameter = sink.parameter.clone();
    for (index, node) in chain.tables("Nodes").into_iter().enumerate() {
        let send_only = node.bool("SendOnly", sink).unwrap_or(false);
        match node.string("WSURL", sink) {
            Some(url) => {
                let field = node.field("WSURL");
                sink.out.extend(check_rpc_url(
                    url,
                    RpcTransport::Websocket,
                    &parameter,
                    Some(&field),
                    "must be ws or wss",
                ));
                if !ws_urls.insert(url.to_owned()) {
                    sink.push(
                        FindingCode::NodeUrlDuplicate,
                        Some(field.clone()),
                        format!(
                            "{field}: invalid value ({}): duplicate - must be unique",
                            url_origin(url)
                        ),
                    );
                }
            }
            None if !send_only => {
                let when = if log_broadcaster {
                    Some("LogBroadcaster is enabled")
                } else if polling == 0 {
                    Some("http polling is disabled")
                } else {
                    None
                };
                if let Some(when) = when {
                    sink.push(
                        FindingCode::PrimaryNodeWsUrlMissing,
                        Some(chain.field("Nodes")),
                        format!(
                            "{}: missing: {index}th node (primary) must have a valid WSURL when {when}",
                            chain.field("Nodes")
                        ),
                    );
                }
            }
            None => {}
        }
        let field = node.field("HTTPURL");
        match node.string("HTTPURL", sink) {
            None => sink.push(
                FindingCode::NodeHttpUrlMissing,
                Some(field.clone()),
                format!("{field}: missing: required for all nodes"),
            ),
            Some("") => sink.push(
                FindingCode::NodeHttpUrlMissing,
                Some(field.clone()),
                format!("{field}: empty: required for all nodes"),
            ),
            Some(url) => {
                sink.out.extend(check_rpc_url(
                    url,
                    RpcTransport::Http,
                    &parameter,
                    Some(&field),
                    "must be http or https",
                ));
                if !http_urls.insert(url.to_owned()) {
                    sink.push(
                        FindingCode::NodeUrlDuplicate,
                        Some(field.clone()),
                        format!(
                            "{field}: invalid value ({}): duplicate - must be unique",
                            url_origin(url)
                        ),
                    );
                }
            }
        }
        if let Some(url) = node
            .string("HTTPURLExtraWrite", sink)
            .filter(|u| !u.is_empty())
        {
            let field = node.field("HTTPURLExtraWrite");
            sink.out.extend(check_rpc_url(
                url,
                RpcTransport::Http,
                &parameter,
                Some(&field),
                "must be http or https",
            ));
        }
    }
}
