//! Rules for v1.x (legacy) environment-variable configuration.
//!
//! Reproduces the node's startup checks (`general_config.go` `Validate()`,
//! the Ethereum client's URL checks, `ValidateDBURL`) for the variables a
//! stack stores, so a bad value is caught before a restart instead of in
//! the node's crash loop.

use super::credentials::{check_api_credentials, check_keystore_password, KeystoreSource, Located};
use super::db_url::{check_db_url, DbUrlContext, DbUrlRole, DbUrlSource};
use super::finding::{Finding, FindingCode};
use super::go_duration::{format_nanos, parse_go_duration};
use super::link_token::{check_address, check_link_address, AddressSource, AddressStrictness};
use super::parameters::{
    url_list, Parameters, API_EMAIL, API_PASSWORD, KEYSTORE_PASSWORD, SECONDARY_URL_VARIABLES,
};
use super::policy::EnvironmentPolicy;
use super::rpc_url::{check_rpc_url, RpcTransport};
use super::version_rules::legacy_weak_password;

const BOOL_VARIABLES: &[&str] = &[
    "AUTO_PPROF_ENABLED",
    "BALANCE_MONITOR_ENABLED",
    "BLOCK_BACKFILL_SKIP",
    "CHAINLINK_DEV",
    "CHAINLINK_TLS_REDIRECT",
    "DATABASE_BACKUP_ON_VERSION_UPGRADE",
    "ETH_NONCE_AUTO_SYNC",
    "ETH_USE_FORWARDERS",
    "EVM_EIP1559_DYNAMIC_FEES",
    "EVM_ENABLED",
    "EVM_RPC_ENABLED",
    "FEATURE_EXTERNAL_INITIATORS",
    "FEATURE_FEEDS_MANAGER",
    "FEATURE_LOG_POLLER",
    "FEATURE_OFFCHAIN_REPORTING",
    "FEATURE_OFFCHAIN_REPORTING2",
    "FEATURE_UI_CSA_KEYS",
    "FM_SIMULATE_TRANSACTIONS",
    "GAS_UPDATER_ENABLED",
    "INSECURE_FAST_SCRYPT",
    "JSON_CONSOLE",
    "KEEPER_CHECK_UPKEEP_GAS_PRICE_FEATURE_ENABLED",
    "KEEPER_TURN_FLAG_ENABLED",
    "LOG_SQL",
    "LOG_UNIX_TS",
    "MIGRATE_DATABASE",
    "OCR_SIMULATE_TRANSACTIONS",
    "OCR_TRACE_LOGGING",
    "SENTRY_DEBUG",
    "SOLANA_ENABLED",
    "SOLANA_NODES",
    "TELEMETRY_INGRESS_LOGGING",
    "TELEMETRY_INGRESS_UNICONN",
    "TELEMETRY_INGRESS_USE_BATCH_SEND",
    "TERRA_ENABLED",
    "TERRA_NODES",
];
const INTEGER_VARIABLES: &[&str] = &[
    "AUTHENTICATED_RATE_LIMIT",
    "AUTO_PPROF_BLOCK_PROFILE_RATE",
    "AUTO_PPROF_CPU_PROFILE_RATE",
    "AUTO_PPROF_GOROUTINE_THRESHOLD",
    "AUTO_PPROF_MEM_PROFILE_RATE",
    "AUTO_PPROF_MUTEX_PROFILE_FRACTION",
    "BLOCK_BACKFILL_DEPTH",
    "BLOCK_HISTORY_ESTIMATOR_BATCH_SIZE",
    "BLOCK_HISTORY_ESTIMATOR_BLOCK_DELAY",
    "BLOCK_HISTORY_ESTIMATOR_BLOCK_HISTORY_SIZE",
    "BLOCK_HISTORY_ESTIMATOR_EIP1559_FEE_CAP_BUFFER_BLOCKS",
    "BLOCK_HISTORY_ESTIMATOR_TRANSACTION_PERCENTILE",
    "DEFAULT_HTTP_LIMIT",
    "ETH_FINALITY_DEPTH",
    "ETH_GAS_BUMP_PERCENT",
    "ETH_GAS_BUMP_THRESHOLD",
    "ETH_GAS_BUMP_TX_DEPTH",
    "ETH_GAS_BUMP_WEI",
    "ETH_GAS_LIMIT_DEFAULT",
    "ETH_GAS_LIMIT_DR_JOB_TYPE",
    "ETH_GAS_LIMIT_FM_JOB_TYPE",
    "ETH_GAS_LIMIT_KEEPER_JOB_TYPE",
    "ETH_GAS_LIMIT_OCR_JOB_TYPE",
    "ETH_GAS_LIMIT_TRANSFER",
    "ETH_GAS_LIMIT_VRF_JOB_TYPE",
    "ETH_GAS_PRICE_DEFAULT",
    "ETH_HEAD_TRACKER_HISTORY_DEPTH",
    "ETH_HEAD_TRACKER_MAX_BUFFER_SIZE",
    "ETH_LOG_BACKFILL_BATCH_SIZE",
    "ETH_MAX_IN_FLIGHT_TRANSACTIONS",
    "ETH_MAX_QUEUED_TRANSACTIONS",
    "ETH_RPC_DEFAULT_BATCH_SIZE",
    "EVM_GAS_FEE_CAP_DEFAULT",
    "FM_DEFAULT_TRANSACTION_QUEUE_DEPTH",
    "GAS_UPDATER_BATCH_SIZE",
    "GAS_UPDATER_BLOCK_DELAY",
    "GAS_UPDATER_BLOCK_HISTORY_SIZE",
    "GAS_UPDATER_TRANSACTION_PERCENTILE",
    "JOB_PIPELINE_RESULT_WRITE_QUEUE_DEPTH",
    "KEEPER_BASE_FEE_BUFFER_PERCENT",
    "KEEPER_DEFAULT_TRANSACTION_QUEUE_DEPTH",
    "KEEPER_GAS_PRICE_BUFFER_PERCENT",
    "KEEPER_GAS_TIP_CAP_BUFFER_PERCENT",
    "KEEPER_MAXIMUM_GRACE_PERIOD",
    "KEEPER_REGISTRY_CHECK_GAS_OVERHEAD",
    "KEEPER_REGISTRY_PERFORM_GAS_OVERHEAD",
    "KEEPER_REGISTRY_SYNC_UPKEEP_QUEUE_SIZE",
    "KEEPER_TURN_LOOK_BACK",
    "LOG_FILE_MAX_AGE",
    "LOG_FILE_MAX_BACKUPS",
    "MINIMUM_CONTRACT_PAYMENT_LINK_JUELS",
    "MIN_INCOMING_CONFIRMATIONS",
    "NODE_POLL_FAILURE_THRESHOLD",
    "OCR2_CONTRACT_CONFIRMATIONS",
    "OCR_CONTRACT_CONFIRMATIONS",
    "OCR_DEFAULT_TRANSACTION_QUEUE_DEPTH",
    "OCR_DHT_LOOKUP_INTERVAL",
    "OCR_INCOMING_MESSAGE_BUFFER_SIZE",
    "OCR_OUTGOING_MESSAGE_BUFFER_SIZE",
    "ORM_MAX_IDLE_CONNS",
    "ORM_MAX_OPEN_CONNS",
    "P2P_DHT_ANNOUNCEMENT_COUNTER_USER_PREFIX",
    "P2P_DHT_LOOKUP_INTERVAL",
    "P2P_INCOMING_MESSAGE_BUFFER_SIZE",
    "P2P_OUTGOING_MESSAGE_BUFFER_SIZE",
    "TELEMETRY_INGRESS_BUFFER_SIZE",
    "TELEMETRY_INGRESS_MAX_BATCH_SIZE",
    "UNAUTHENTICATED_RATE_LIMIT",
];
const DURATION_VARIABLES: &[&str] = &[
    "ADVISORY_LOCK_CHECK_INTERVAL",
    "AUTHENTICATED_RATE_LIMIT_PERIOD",
    "AUTO_PPROF_GATHER_DURATION",
    "AUTO_PPROF_GATHER_TRACE_DURATION",
    "AUTO_PPROF_POLL_INTERVAL",
    "BLOCK_EMISSION_IDLE_WARNING_THRESHOLD",
    "DATABASE_BACKUP_FREQUENCY",
    "DATABASE_DEFAULT_IDLE_IN_TX_SESSION_TIMEOUT",
    "DATABASE_DEFAULT_LOCK_TIMEOUT",
    "DATABASE_DEFAULT_QUERY_TIMEOUT",
    "DATABASE_LISTENER_MAX_RECONNECT_DURATION",
    "DATABASE_LISTENER_MIN_RECONNECT_INTERVAL",
    "DEFAULT_HTTP_TIMEOUT",
    "ETH_HEAD_TRACKER_SAMPLING_INTERVAL",
    "ETH_LOG_POLL_INTERVAL",
    "ETH_TX_REAPER_INTERVAL",
    "ETH_TX_REAPER_THRESHOLD",
    "ETH_TX_RESEND_AFTER_THRESHOLD",
    "HTTP_SERVER_WRITE_TIMEOUT",
    "JOB_PIPELINE_MAX_RUN_DURATION",
    "JOB_PIPELINE_REAPER_INTERVAL",
    "JOB_PIPELINE_REAPER_THRESHOLD",
    "KEEPER_REGISTRY_SYNC_INTERVAL",
    "NODE_NO_NEW_HEADS_THRESHOLD",
    "NODE_POLL_INTERVAL",
    "OCR2_BLOCKCHAIN_TIMEOUT",
    "OCR2_CONTRACT_POLL_INTERVAL",
    "OCR2_CONTRACT_SUBSCRIBE_INTERVAL",
    "OCR2_CONTRACT_TRANSMITTER_TRANSMIT_TIMEOUT",
    "OCR2_DATABASE_TIMEOUT",
    "OCR_BLOCKCHAIN_TIMEOUT",
    "OCR_BOOTSTRAP_CHECK_INTERVAL",
    "OCR_CONTRACT_POLL_INTERVAL",
    "OCR_CONTRACT_SUBSCRIBE_INTERVAL",
    "OCR_CONTRACT_TRANSMITTER_TRANSMIT_TIMEOUT",
    "OCR_DATABASE_TIMEOUT",
    "OCR_NEW_STREAM_TIMEOUT",
    "OCR_OBSERVATION_GRACE_PERIOD",
    "OCR_OBSERVATION_TIMEOUT",
    "P2PV2_DELTA_DIAL",
    "P2PV2_DELTA_RECONCILE",
    "P2P_BOOTSTRAP_CHECK_INTERVAL",
    "P2P_NEW_STREAM_TIMEOUT",
    "P2P_PEERSTORE_WRITE_INTERVAL",
    "REAPER_EXPIRATION",
    "SESSION_TIMEOUT",
    "SHUTDOWN_GRACE_PERIOD",
    "TELEMETRY_INGRESS_SEND_INTERVAL",
    "TELEMETRY_INGRESS_SEND_TIMEOUT",
    "TRIGGER_FALLBACK_DB_POLL_INTERVAL",
    "UNAUTHENTICATED_RATE_LIMIT_PERIOD",
];

const LOG_LEVELS: &[&str] = &["debug", "info", "warn", "error", "panic", "fatal"];
const LOCKING_MODES: &[&str] = &["dual", "lease", "advisorylock", "none"];
const NETWORKING_STACKS: &[&str] = &["V1", "V2", "V1V2"];
/// v1 and v2 chain types, compared case-insensitively: v1 spelled some in
/// lowercase (`optimism`, `xdai`) that v2 renamed.
const CHAIN_TYPES: &[&str] = &[
    "arbitrum",
    "astar",
    "celo",
    "gnosis",
    "hedera",
    "kroma",
    "mantle",
    "metis",
    "optimism",
    "optimismBedrock",
    "sei",
    "scroll",
    "wemix",
    "xdai",
    "xlayer",
    "zkevm",
    "zksync",
    "zircuit",
    "klaytn",
];

/// Go's `strconv.ParseBool`.
pub(super) fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn malformed(name: &str, expected: &str) -> Finding {
    // The value is not shown: a misplaced secret is still a secret.
    Finding::new(
        FindingCode::EnvValueMalformed,
        name,
        format!("{name} is not {expected}; the node rejects or ignores the value."),
    )
}

fn check_port(params: &Parameters<'_>, name: &str, out: &mut Vec<Finding>) -> Option<u16> {
    let text = params.text(name)?;
    let port = text.trim().parse::<u16>().ok();
    if port.is_none() {
        out.push(Finding::new(
            FindingCode::PortInvalid,
            name,
            format!("{name} must be a port number from 0 to 65535 (uint16)."),
        ));
    }
    port
}

fn check_typed_variables(params: &Parameters<'_>, out: &mut Vec<Finding>) {
    for name in BOOL_VARIABLES.iter().chain(["SECURE_COOKIES"].iter()) {
        if params
            .text(name)
            .is_some_and(|v| parse_go_bool(v.trim()).is_none())
        {
            out.push(malformed(name, "a boolean (true/false)"));
        }
    }
    for name in INTEGER_VARIABLES {
        if params
            .text(name)
            .is_some_and(|v| v.trim().parse::<u64>().is_err())
        {
            out.push(malformed(name, "a non-negative integer"));
        }
    }
    for name in DURATION_VARIABLES {
        if params
            .text(name)
            .is_some_and(|v| parse_go_duration(v).is_none())
        {
            out.push(malformed(name, "a duration such as 10s or 1m"));
        }
    }
}

fn check_database(params: &Parameters<'_>, policy: &EnvironmentPolicy, out: &mut Vec<Finding>) {
    let skip_complexity = ["SKIP_DATABASE_PASSWORD_COMPLEXITY_CHECK", "CHAINLINK_DEV"]
        .iter()
        .any(|name| params.text(name).and_then(|v| parse_go_bool(v.trim())) == Some(true));
    if skip_complexity && policy.production {
        out.push(Finding::new(
            FindingCode::SimplePasswordsInProduction,
            "SKIP_DATABASE_PASSWORD_COMPLEXITY_CHECK",
            "the database password complexity check is disabled (SKIP_DATABASE_PASSWORD_COMPLEXITY_CHECK or \
             CHAINLINK_DEV) in a production stack; insecure configs are not allowed on secure builds.",
        ));
    }
    let context = DbUrlContext::new(policy, skip_complexity, legacy_weak_password(policy));
    match params.text("DATABASE_URL") {
        None => out.push(Finding::new(
            FindingCode::DatabaseUrlMissing,
            "DATABASE_URL",
            "DATABASE_URL is missing; it is the one variable the node requires (postgresql://USER:PASSWORD@HOST:5432/DATABASE).",
        )),
        Some(url) => {
            let source = DbUrlSource { parameter: "DATABASE_URL", field: None, role: DbUrlRole::Primary };
            check_db_url(url, &source, &context, out);
        }
    }
    if let Some(url) = params.text("DATABASE_BACKUP_URL") {
        let source = DbUrlSource {
            parameter: "DATABASE_BACKUP_URL",
            field: None,
            role: DbUrlRole::Backup,
        };
        check_db_url(url, &source, &context, out);
    }
    if let Some(mode) = params.text("DATABASE_LOCKING_MODE") {
        if !LOCKING_MODES.contains(&mode.trim()) {
            out.push(Finding::new(
                FindingCode::DatabaseLockingMode,
                "DATABASE_LOCKING_MODE",
                "unrecognised value for DATABASE_LOCKING_MODE (valid options are 'dual', 'lease', 'advisorylock' or 'none').",
            ));
        }
    }
    let duration = params.text("LEASE_LOCK_DURATION").map(parse_go_duration);
    let refresh = params
        .text("LEASE_LOCK_REFRESH_INTERVAL")
        .map(parse_go_duration);
    for (name, parsed) in [
        ("LEASE_LOCK_DURATION", &duration),
        ("LEASE_LOCK_REFRESH_INTERVAL", &refresh),
    ] {
        if matches!(parsed, Some(None)) {
            out.push(malformed(name, "a duration such as 10s or 1m"));
        }
    }
    const SECOND: u128 = 1_000_000_000;
    let duration = duration.unwrap_or(Some(10 * SECOND));
    let refresh = refresh.unwrap_or(Some(SECOND));
    if let (Some(duration), Some(refresh)) = (duration, refresh) {
        if refresh * 2 > duration {
            out.push(Finding::new(
                FindingCode::LeaseRefreshTooLong,
                "LEASE_LOCK_REFRESH_INTERVAL",
                format!(
                    "LEASE_LOCK_REFRESH_INTERVAL must be less than or equal to half of LEASE_LOCK_DURATION (got {} \
                     and {}); otherwise the lease can expire between refreshes and a standby node takes over.",
                    format_nanos(refresh),
                    format_nanos(duration)
                ),
            ));
        }
    }
}

fn check_ethereum(params: &Parameters<'_>, policy: &EnvironmentPolicy, out: &mut Vec<Finding>) {
    let eth_url = params.text("ETH_URL");
    let evm_nodes = params.text("EVM_NODES");
    match (eth_url, evm_nodes) {
        (None, None) => out.push(Finding::new(
            FindingCode::RpcMissing,
            "ETH_URL",
            "neither ETH_URL nor EVM_NODES is set: the node has no Ethereum RPC to use.",
        )),
        (Some(_), Some(_)) => out.push(Finding::new(
            FindingCode::EthUrlWithEvmNodes,
            "EVM_NODES",
            "It is not permitted to set both ETH_URL and EVM_NODES; keep one.",
        )),
        _ => {}
    }
    if let Some(url) = eth_url {
        out.extend(check_rpc_url(
            url,
            RpcTransport::Websocket,
            "ETH_URL",
            None,
            "ethereum url scheme must be websocket",
        ));
        if params.text("ETH_CHAIN_ID").is_none() {
            out.push(Finding::new(
                FindingCode::ChainIdMissing,
                "ETH_CHAIN_ID",
                "ETH_URL is set but ETH_CHAIN_ID is not; the node requires it (there is no default since PR #5823).",
            ));
        }
    }
    if let Some(url) = params.text("ETH_HTTP_URL") {
        out.extend(check_rpc_url(
            url,
            RpcTransport::Http,
            "ETH_HTTP_URL",
            None,
            "Invalid Ethereum HTTP URL",
        ));
        if eth_url.is_none() {
            out.push(Finding::new(
                FindingCode::HttpUrlWithoutWsUrl,
                "ETH_HTTP_URL",
                "ETH_HTTP_URL has no effect when ETH_URL is not set.",
            ));
        }
    }
    for name in SECONDARY_URL_VARIABLES {
        let Some(list) = params.text(name) else {
            continue;
        };
        for url in url_list(list) {
            out.extend(check_rpc_url(
                url,
                RpcTransport::Http,
                name,
                None,
                "sendonly ethereum rpc url scheme must be http(s)",
            ));
        }
    }
    let chain_id = match params.text("ETH_CHAIN_ID").map(str::trim) {
        Some(text) if text.bytes().all(|b| b.is_ascii_digit()) => text.parse::<u64>().ok(),
        Some(_) => {
            out.push(Finding::new(
                FindingCode::ChainIdMalformed,
                "ETH_CHAIN_ID",
                "ETH_CHAIN_ID must be a decimal integer such as 1 (Ethereum mainnet) or 11155111 (Sepolia).",
            ));
            None
        }
        None => None,
    };
    let chain_id = chain_id.or(policy.chain_id);
    if let Some(address) = params.text("LINK_CONTRACT_ADDRESS") {
        let source = AddressSource {
            parameter: "LINK_CONTRACT_ADDRESS",
            field: None,
            setting: "LINK_CONTRACT_ADDRESS",
            strictness: AddressStrictness::Lenient,
        };
        check_link_address(address.trim(), chain_id, &source, out);
    }
    for name in [
        "FLAGS_CONTRACT_ADDRESS",
        "OPERATOR_FACTORY_ADDRESS",
        "OCR_TRANSMITTER_ADDRESS",
    ] {
        if let Some(address) = params.text(name) {
            let source = AddressSource {
                parameter: name,
                field: None,
                setting: name,
                strictness: AddressStrictness::Lenient,
            };
            check_address(address.trim(), &source, out);
        }
    }
    if let Some(chain_type) = params.text("CHAIN_TYPE") {
        if !CHAIN_TYPES
            .iter()
            .any(|known| known.eq_ignore_ascii_case(chain_type.trim()))
        {
            out.push(Finding::new(
                FindingCode::ChainTypeInvalid,
                "CHAIN_TYPE",
                format!(
                    "CHAIN_TYPE is invalid; known values are {}, or leave it unset.",
                    CHAIN_TYPES.join(", ")
                ),
            ));
        }
    }
}

fn check_web_and_logs(params: &Parameters<'_>, out: &mut Vec<Finding>) {
    check_port(params, "CHAINLINK_PORT", out);
    let tls_port = check_port(params, "CHAINLINK_TLS_PORT", out);
    let secure_cookies = params
        .text("SECURE_COOKIES")
        .map(|v| parse_go_bool(v.trim()));
    if tls_port == Some(0) && matches!(secure_cookies, None | Some(Some(true))) {
        out.push(Finding::new(
            FindingCode::SecureCookiesWithoutTls,
            "SECURE_COOKIES",
            "CHAINLINK_TLS_PORT=0 disables HTTPS while SECURE_COOKIES is true (the default): browsers drop the \
             login cookie over plain HTTP. Set SECURE_COOKIES=false, unless a TLS-terminating load balancer \
             serves the UI over HTTPS.",
        ));
    }
    if let Some(level) = params.text("LOG_LEVEL") {
        if !LOG_LEVELS.contains(&level.trim().to_ascii_lowercase().as_str()) {
            out.push(Finding::new(
                FindingCode::LogLevelInvalid,
                "LOG_LEVEL",
                format!("LOG_LEVEL must be one of {}.", LOG_LEVELS.join(", ")),
            ));
        }
    }
}

fn check_p2p(params: &Parameters<'_>, out: &mut Vec<Finding>) {
    check_port(params, "P2P_LISTEN_PORT", out);
    check_port(params, "P2P_ANNOUNCE_PORT", out);
    if params.text("P2P_ANNOUNCE_PORT").is_some() && params.text("P2P_ANNOUNCE_IP").is_none() {
        out.push(Finding::new(
            FindingCode::AnnouncePortWithoutIp,
            "P2P_ANNOUNCE_PORT",
            "P2P_ANNOUNCE_PORT was given but P2P_ANNOUNCE_IP was unset. You must also set P2P_ANNOUNCE_IP if \
             P2P_ANNOUNCE_PORT is set.",
        ));
    }
    if let Some(stack) = params.text("P2P_NETWORKING_STACK").map(str::trim) {
        if !NETWORKING_STACKS.contains(&stack) {
            out.push(Finding::new(
                FindingCode::NetworkingStackInvalid,
                "P2P_NETWORKING_STACK",
                "P2P_NETWORKING_STACK must be V1, V2 or V1V2.",
            ));
        } else if stack != "V1" && params.text("P2PV2_LISTEN_ADDRESSES").is_none() {
            out.push(Finding::new(
                FindingCode::NetworkingStackInvalid,
                "P2PV2_LISTEN_ADDRESSES",
                format!("P2P_NETWORKING_STACK={stack} requires P2PV2_LISTEN_ADDRESSES (e.g. 0.0.0.0:6690)."),
            ));
        }
    }
    if params.has("MINIMUM_CONTRACT_PAYMENT") {
        out.push(Finding::new(
            FindingCode::DeprecatedFatalVariable,
            "MINIMUM_CONTRACT_PAYMENT",
            "MINIMUM_CONTRACT_PAYMENT is deprecated, use MINIMUM_CONTRACT_PAYMENT_LINK_JUELS instead; the node \
             refuses to start while it is set.",
        ));
    }
}

/// The keystore password and API user, which both styles take from the
/// same parameters (password file and `.api` file contents).
pub(super) fn check_start_credentials(
    params: &Parameters<'_>,
    keystore_required: bool,
    policy: &EnvironmentPolicy,
    out: &mut Vec<Finding>,
) {
    match params.get(KEYSTORE_PASSWORD) {
        Some(value) => {
            let at = Located {
                parameter: KEYSTORE_PASSWORD,
                field: None,
            };
            check_keystore_password(
                value.expose(),
                KeystoreSource::PasswordFile,
                &at,
                policy.production,
                out,
            );
        }
        None if keystore_required => out.push(Finding::new(
            FindingCode::KeystorePasswordMissing,
            KEYSTORE_PASSWORD,
            "KEYSTORE_PASSWORD is missing: a node started without a terminal stops with 'no password provided' \
             and cannot unlock its keys.",
        )),
        None => {}
    }
    check_api_credentials(
        params.get(API_EMAIL).map(|v| v.expose().trim()),
        params
            .get(API_PASSWORD)
            .map(|v| v.expose().trim_end_matches(['\r', '\n'])),
        &Located {
            parameter: API_EMAIL,
            field: None,
        },
        &Located {
            parameter: API_PASSWORD,
            field: None,
        },
        policy.production,
        out,
    );
}

/// All legacy rules; the keystore password is checked by the caller.
pub(super) fn check_legacy(
    params: &Parameters<'_>,
    policy: &EnvironmentPolicy,
    out: &mut Vec<Finding>,
) {
    check_database(params, policy, out);
    check_ethereum(params, policy, out);
    check_web_and_logs(params, out);
    check_p2p(params, out);
    check_typed_variables(params, out);
}

#[cfg(test)]
mod tests {
    use super::super::secret::SecretValue;
    use super::*;

    fn run(pairs: &[(&str, &str)], policy: &EnvironmentPolicy) -> Vec<Finding> {
        let entries: Vec<(String, SecretValue)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), SecretValue::new(*v)))
            .collect();
        let mut out = Vec::new();
        check_legacy(&Parameters::new(&entries), policy, &mut out);
        out
    }

    const DB: (&str, &str) = (
        "DATABASE_URL",
        "postgresql://cl:Str0ng-Passw0rd-4-DB@db.prod/cl",
    );
    const ETH: (&str, &str) = ("ETH_URL", "wss://eth.rpc/ws");
    const CHAIN: (&str, &str) = ("ETH_CHAIN_ID", "1");

    #[test]
    fn legacy_rule_table() {
        use FindingCode::*;
        type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<(FindingCode, &'a str)>);
        let cases: Vec<Case<'_>> = vec![
            (vec![DB, ETH, CHAIN], vec![]),
            (vec![ETH, CHAIN], vec![(DatabaseUrlMissing, "DATABASE_URL")]),
            (vec![DB], vec![(RpcMissing, "ETH_URL")]),
            (
                vec![DB, ("ETH_URL", "https://eth.rpc"), CHAIN],
                vec![(WebsocketUrlScheme, "ETH_URL")],
            ),
            (vec![DB, ETH], vec![(ChainIdMissing, "ETH_CHAIN_ID")]),
            (
                vec![DB, ETH, ("ETH_CHAIN_ID", "0x1")],
                vec![(ChainIdMalformed, "ETH_CHAIN_ID")],
            ),
            (
                vec![DB, ETH, CHAIN, ("EVM_NODES", "[]")],
                vec![(EthUrlWithEvmNodes, "EVM_NODES")],
            ),
            (
                vec![
                    DB,
                    CHAIN,
                    ("EVM_NODES", "[]"),
                    ("ETH_HTTP_URL", "https://x"),
                ],
                vec![(HttpUrlWithoutWsUrl, "ETH_HTTP_URL")],
            ),
            (
                vec![DB, ETH, CHAIN, ("ETH_HTTP_URL", "ws://x")],
                vec![(HttpUrlScheme, "ETH_HTTP_URL")],
            ),
            (
                vec![DB, ETH, CHAIN, ("ETH_SECONDARY_URLS", "https://a;wss://b")],
                vec![(HttpUrlScheme, "ETH_SECONDARY_URLS")],
            ),
            (
                vec![
                    DB,
                    ETH,
                    CHAIN,
                    (
                        "LINK_CONTRACT_ADDRESS",
                        "0x514910771af9ca656af840dff83e8264ecf986ca",
                    ),
                ],
                vec![(AddressChecksum, "LINK_CONTRACT_ADDRESS")],
            ),
            (
                vec![
                    DB,
                    ETH,
                    CHAIN,
                    (
                        "LINK_CONTRACT_ADDRESS",
                        "0x779877A7B0D9E8603169DdbD7836e478b4624789",
                    ),
                ],
                vec![(LinkTokenOfOtherChain, "LINK_CONTRACT_ADDRESS")],
            ),
            (
                vec![DB, ETH, CHAIN, ("CHAINLINK_PORT", "70000")],
                vec![(PortInvalid, "CHAINLINK_PORT")],
            ),
            (
                vec![DB, ETH, CHAIN, ("CHAINLINK_TLS_PORT", "0")],
                vec![(SecureCookiesWithoutTls, "SECURE_COOKIES")],
            ),
            (
                vec![
                    DB,
                    ETH,
                    CHAIN,
                    ("CHAINLINK_TLS_PORT", "0"),
                    ("SECURE_COOKIES", "false"),
                ],
                vec![],
            ),
            (
                vec![DB, ETH, CHAIN, ("SECURE_COOKIES", "yes")],
                vec![(EnvValueMalformed, "SECURE_COOKIES")],
            ),
            (
                vec![DB, ETH, CHAIN, ("DATABASE_LOCKING_MODE", "advisory")],
                vec![(DatabaseLockingMode, "DATABASE_LOCKING_MODE")],
            ),
            (
                vec![DB, ETH, CHAIN, ("LEASE_LOCK_REFRESH_INTERVAL", "6s")],
                vec![(LeaseRefreshTooLong, "LEASE_LOCK_REFRESH_INTERVAL")],
            ),
            (
                vec![DB, ETH, CHAIN, ("LOG_LEVEL", "verbose")],
                vec![(LogLevelInvalid, "LOG_LEVEL")],
            ),
            (
                vec![DB, ETH, CHAIN, ("P2P_ANNOUNCE_PORT", "6690")],
                vec![(AnnouncePortWithoutIp, "P2P_ANNOUNCE_PORT")],
            ),
            (
                vec![DB, ETH, CHAIN, ("P2P_NETWORKING_STACK", "V2")],
                vec![(NetworkingStackInvalid, "P2PV2_LISTEN_ADDRESSES")],
            ),
            (
                vec![DB, ETH, CHAIN, ("MINIMUM_CONTRACT_PAYMENT", "1")],
                vec![(DeprecatedFatalVariable, "MINIMUM_CONTRACT_PAYMENT")],
            ),
            (
                vec![DB, ETH, CHAIN, ("CHAIN_TYPE", "Foo")],
                vec![(ChainTypeInvalid, "CHAIN_TYPE")],
            ),
        ];
        for (pairs, expected) in cases {
            let got: Vec<(FindingCode, String)> = run(&pairs, &EnvironmentPolicy::default())
                .into_iter()
                .map(|f| (f.code, f.parameter))
                .collect();
            let expected: Vec<(FindingCode, String)> = expected
                .into_iter()
                .map(|(c, p)| (c, p.to_owned()))
                .collect();
            assert_eq!(got, expected, "{pairs:?}");
        }
    }

    #[test]
    fn policy_chain_is_used_when_eth_chain_id_is_absent() {
        let policy = EnvironmentPolicy {
            chain_id: Some(1),
            ..EnvironmentPolicy::default()
        };
        let sepolia_link = (
            "LINK_CONTRACT_ADDRESS",
            "0x779877A7B0D9E8603169DdbD7836e478b4624789",
        );
        let codes: Vec<FindingCode> = run(&[DB, ("EVM_NODES", "[]"), sepolia_link], &policy)
            .into_iter()
            .map(|f| f.code)
            .collect();
        assert_eq!(codes, vec![FindingCode::LinkTokenOfOtherChain]);
    }
}
