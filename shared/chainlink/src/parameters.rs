//! The stack's parameters by name, and which configuration style they use.
//!
//! Names are the SSM parameter names with the stack prefix removed. The style
//! decides which rules apply; a v2 node refuses to start when legacy
//! variables are also set, so "both" is itself a finding.

use super::finding::{ConfigStyle, Finding, FindingCode};
use super::secret::SecretValue;

pub(super) const CONFIG_TOML: &str = "config.toml";
pub(super) const SECRETS_TOML: &str = "secrets.toml";
pub(super) const CL_CONFIG: &str = "CL_CONFIG";
pub(super) const CL_DATABASE_URL: &str = "CL_DATABASE_URL";
pub(super) const CL_DATABASE_BACKUP_URL: &str = "CL_DATABASE_BACKUP_URL";
pub(super) const CL_DATABASE_ALLOW_SIMPLE_PASSWORDS: &str = "CL_DATABASE_ALLOW_SIMPLE_PASSWORDS";
pub(super) const CL_PASSWORD_KEYSTORE: &str = "CL_PASSWORD_KEYSTORE";
/// The keystore password file given to `chainlink node start -p` (both styles).
pub(super) const KEYSTORE_PASSWORD: &str = "KEYSTORE_PASSWORD";
/// The two lines of the `.api` file given to `-a` (both styles).
pub(super) const API_EMAIL: &str = "API_EMAIL";
pub(super) const API_PASSWORD: &str = "API_PASSWORD";

/// `CL_*` variables the node reads (core/config/env/env.go); others are ignored.
const KNOWN_CL_VARIABLES: &[&str] = &[
    "CL_CONFIG",
    "CL_DATABASE_URL",
    "CL_DATABASE_BACKUP_URL",
    "CL_DATABASE_ALLOW_SIMPLE_PASSWORDS",
    "CL_PASSWORD_KEYSTORE",
    "CL_PASSWORD_VRF",
    "CL_PYROSCOPE_AUTH_TOKEN",
    "CL_PROMETHEUS_AUTH_TOKEN",
    "CL_THRESHOLD_KEY_SHARE",
    "CL_EXPLORER_ACCESS_KEY",
    "CL_EXPLORER_SECRET",
    "CL_MEDIAN_CMD",
    "CL_SOLANA_CMD",
    "CL_STARKNET_CMD",
    "CL_PROMETHEUS_DISCOVERY_HOSTNAME",
    "CL_LOOPP_HOSTNAME",
];

/// v1.x environment variables (core/config/envvar/schema.go, as listed by
/// the node's full-custom.env and none-valid.env fixtures). The v2 node
/// rejects every one of them.
const LEGACY_VARIABLES: &[&str] = &[
    "ADVISORY_LOCK_CHECK_INTERVAL",
    "ADVISORY_LOCK_ID",
    "ALLOW_ORIGINS",
    "AUTHENTICATED_RATE_LIMIT",
    "AUTHENTICATED_RATE_LIMIT_PERIOD",
    "AUTO_PPROF_BLOCK_PROFILE_RATE",
    "AUTO_PPROF_CPU_PROFILE_RATE",
    "AUTO_PPROF_ENABLED",
    "AUTO_PPROF_GATHER_DURATION",
    "AUTO_PPROF_GATHER_TRACE_DURATION",
    "AUTO_PPROF_GOROUTINE_THRESHOLD",
    "AUTO_PPROF_MAX_PROFILE_SIZE",
    "AUTO_PPROF_MEM_PROFILE_RATE",
    "AUTO_PPROF_MEM_THRESHOLD",
    "AUTO_PPROF_MUTEX_PROFILE_FRACTION",
    "AUTO_PPROF_POLL_INTERVAL",
    "AUTO_PPROF_PROFILE_ROOT",
    "BALANCE_MONITOR_ENABLED",
    "BLOCK_BACKFILL_DEPTH",
    "BLOCK_BACKFILL_SKIP",
    "BLOCK_EMISSION_IDLE_WARNING_THRESHOLD",
    "BLOCK_HISTORY_ESTIMATOR_BATCH_SIZE",
    "BLOCK_HISTORY_ESTIMATOR_BLOCK_DELAY",
    "BLOCK_HISTORY_ESTIMATOR_BLOCK_HISTORY_SIZE",
    "BLOCK_HISTORY_ESTIMATOR_EIP1559_FEE_CAP_BUFFER_BLOCKS",
    "BLOCK_HISTORY_ESTIMATOR_TRANSACTION_PERCENTILE",
    "BRIDGE_RESPONSE_URL",
    "CHAINLINK_DEV",
    "CHAINLINK_PORT",
    "CHAINLINK_TLS_HOST",
    "CHAINLINK_TLS_PORT",
    "CHAINLINK_TLS_REDIRECT",
    "CHAIN_TYPE",
    "DATABASE_BACKUP_DIR",
    "DATABASE_BACKUP_FREQUENCY",
    "DATABASE_BACKUP_MODE",
    "DATABASE_BACKUP_ON_VERSION_UPGRADE",
    "DATABASE_BACKUP_URL",
    "DATABASE_DEFAULT_IDLE_IN_TX_SESSION_TIMEOUT",
    "DATABASE_DEFAULT_LOCK_TIMEOUT",
    "DATABASE_DEFAULT_QUERY_TIMEOUT",
    "DATABASE_LISTENER_MAX_RECONNECT_DURATION",
    "DATABASE_LISTENER_MIN_RECONNECT_INTERVAL",
    "DATABASE_LOCKING_MODE",
    "DATABASE_URL",
    "DEFAULT_HTTP_LIMIT",
    "DEFAULT_HTTP_TIMEOUT",
    "ETH_CHAIN_ID",
    "ETH_FINALITY_DEPTH",
    "ETH_GAS_BUMP_PERCENT",
    "ETH_GAS_BUMP_THRESHOLD",
    "ETH_GAS_BUMP_TX_DEPTH",
    "ETH_GAS_BUMP_WEI",
    "ETH_GAS_LIMIT_DEFAULT",
    "ETH_GAS_LIMIT_DR_JOB_TYPE",
    "ETH_GAS_LIMIT_FM_JOB_TYPE",
    "ETH_GAS_LIMIT_KEEPER_JOB_TYPE",
    "ETH_GAS_LIMIT_MULTIPLIER",
    "ETH_GAS_LIMIT_OCR_JOB_TYPE",
    "ETH_GAS_LIMIT_TRANSFER",
    "ETH_GAS_LIMIT_VRF_JOB_TYPE",
    "ETH_GAS_PRICE_DEFAULT",
    "ETH_HEAD_TRACKER_HISTORY_DEPTH",
    "ETH_HEAD_TRACKER_MAX_BUFFER_SIZE",
    "ETH_HEAD_TRACKER_SAMPLING_INTERVAL",
    "ETH_HTTP_URL",
    "ETH_LOG_BACKFILL_BATCH_SIZE",
    "ETH_LOG_POLL_INTERVAL",
    "ETH_MAX_IN_FLIGHT_TRANSACTIONS",
    "ETH_MAX_QUEUED_TRANSACTIONS",
    "ETH_NONCE_AUTO_SYNC",
    "ETH_RPC_DEFAULT_BATCH_SIZE",
    "ETH_SECONDARY_URL",
    "ETH_SECONDARY_URLS",
    "ETH_TX_REAPER_INTERVAL",
    "ETH_TX_REAPER_THRESHOLD",
    "ETH_TX_RESEND_AFTER_THRESHOLD",
    "ETH_URL",
    "ETH_USE_FORWARDERS",
    "EVM_EIP1559_DYNAMIC_FEES",
    "EVM_ENABLED",
    "EVM_GAS_FEE_CAP_DEFAULT",
    "EVM_NODES",
    "EVM_RPC_ENABLED",
    "EXPLORER_ACCESS_KEY",
    "EXPLORER_SECRET",
    "EXPLORER_URL",
    "FEATURE_EXTERNAL_INITIATORS",
    "FEATURE_FEEDS_MANAGER",
    "FEATURE_LOG_POLLER",
    "FEATURE_OFFCHAIN_REPORTING",
    "FEATURE_OFFCHAIN_REPORTING2",
    "FEATURE_UI_CSA_KEYS",
    "FLAGS_CONTRACT_ADDRESS",
    "FM_DEFAULT_TRANSACTION_QUEUE_DEPTH",
    "FM_SIMULATE_TRANSACTIONS",
    "GAS_ESTIMATOR_MODE",
    "GAS_UPDATER_BATCH_SIZE",
    "GAS_UPDATER_BLOCK_DELAY",
    "GAS_UPDATER_BLOCK_HISTORY_SIZE",
    "GAS_UPDATER_ENABLED",
    "GAS_UPDATER_TRANSACTION_PERCENTILE",
    "HTTP_SERVER_WRITE_TIMEOUT",
    "INSECURE_FAST_SCRYPT",
    "JOB_PIPELINE_MAX_RUN_DURATION",
    "JOB_PIPELINE_REAPER_INTERVAL",
    "JOB_PIPELINE_REAPER_THRESHOLD",
    "JOB_PIPELINE_RESULT_WRITE_QUEUE_DEPTH",
    "JSON_CONSOLE",
    "KEEPER_BASE_FEE_BUFFER_PERCENT",
    "KEEPER_CHECK_UPKEEP_GAS_PRICE_FEATURE_ENABLED",
    "KEEPER_DEFAULT_TRANSACTION_QUEUE_DEPTH",
    "KEEPER_GAS_PRICE_BUFFER_PERCENT",
    "KEEPER_GAS_TIP_CAP_BUFFER_PERCENT",
    "KEEPER_MAXIMUM_GRACE_PERIOD",
    "KEEPER_REGISTRY_CHECK_GAS_OVERHEAD",
    "KEEPER_REGISTRY_PERFORM_GAS_OVERHEAD",
    "KEEPER_REGISTRY_SYNC_INTERVAL",
    "KEEPER_REGISTRY_SYNC_UPKEEP_QUEUE_SIZE",
    "KEEPER_TURN_FLAG_ENABLED",
    "KEEPER_TURN_LOOK_BACK",
    "LEASE_LOCK_DURATION",
    "LEASE_LOCK_REFRESH_INTERVAL",
    "LINK_CONTRACT_ADDRESS",
    "LOG_FILE_DIR",
    "LOG_FILE_MAX_AGE",
    "LOG_FILE_MAX_BACKUPS",
    "LOG_FILE_MAX_SIZE",
    "LOG_LEVEL",
    "LOG_SQL",
    "LOG_UNIX_TS",
    "MFA_RPID",
    "MFA_RPORIGIN",
    "MIGRATE_DATABASE",
    "MINIMUM_CONTRACT_PAYMENT",
    "MINIMUM_CONTRACT_PAYMENT_LINK_JUELS",
    "MIN_INCOMING_CONFIRMATIONS",
    "NODE_NO_NEW_HEADS_THRESHOLD",
    "NODE_POLL_FAILURE_THRESHOLD",
    "NODE_POLL_INTERVAL",
    "OCR2_BLOCKCHAIN_TIMEOUT",
    "OCR2_CONTRACT_CONFIRMATIONS",
    "OCR2_CONTRACT_POLL_INTERVAL",
    "OCR2_CONTRACT_SUBSCRIBE_INTERVAL",
    "OCR2_CONTRACT_TRANSMITTER_TRANSMIT_TIMEOUT",
    "OCR2_DATABASE_TIMEOUT",
    "OCR2_KEY_BUNDLE_ID",
    "OCR_BLOCKCHAIN_TIMEOUT",
    "OCR_BOOTSTRAP_CHECK_INTERVAL",
    "OCR_CONTRACT_CONFIRMATIONS",
    "OCR_CONTRACT_POLL_INTERVAL",
    "OCR_CONTRACT_SUBSCRIBE_INTERVAL",
    "OCR_CONTRACT_TRANSMITTER_TRANSMIT_TIMEOUT",
    "OCR_DATABASE_TIMEOUT",
    "OCR_DEFAULT_TRANSACTION_QUEUE_DEPTH",
    "OCR_DHT_LOOKUP_INTERVAL",
    "OCR_INCOMING_MESSAGE_BUFFER_SIZE",
    "OCR_KEY_BUNDLE_ID",
    "OCR_NEW_STREAM_TIMEOUT",
    "OCR_OBSERVATION_GRACE_PERIOD",
    "OCR_OBSERVATION_TIMEOUT",
    "OCR_OUTGOING_MESSAGE_BUFFER_SIZE",
    "OCR_SIMULATE_TRANSACTIONS",
    "OCR_TRACE_LOGGING",
    "OCR_TRANSMITTER_ADDRESS",
    "OPERATOR_FACTORY_ADDRESS",
    "ORM_MAX_IDLE_CONNS",
    "ORM_MAX_OPEN_CONNS",
    "P2PV2_ANNOUNCE_ADDRESSES",
    "P2PV2_BOOTSTRAPPERS",
    "P2PV2_DELTA_DIAL",
    "P2PV2_DELTA_RECONCILE",
    "P2PV2_LISTEN_ADDRESSES",
    "P2P_ANNOUNCE_IP",
    "P2P_ANNOUNCE_PORT",
    "P2P_BOOTSTRAP_CHECK_INTERVAL",
    "P2P_BOOTSTRAP_PEERS",
    "P2P_DHT_ANNOUNCEMENT_COUNTER_USER_PREFIX",
    "P2P_DHT_LOOKUP_INTERVAL",
    "P2P_INCOMING_MESSAGE_BUFFER_SIZE",
    "P2P_LISTEN_IP",
    "P2P_LISTEN_PORT",
    "P2P_NETWORKING_STACK",
    "P2P_NEW_STREAM_TIMEOUT",
    "P2P_OUTGOING_MESSAGE_BUFFER_SIZE",
    "P2P_PEERSTORE_WRITE_INTERVAL",
    "P2P_PEER_ID",
    "REAPER_EXPIRATION",
    "ROOT",
    "SECURE_COOKIES",
    "SENTRY_DEBUG",
    "SENTRY_DSN",
    "SENTRY_ENVIRONMENT",
    "SENTRY_RELEASE",
    "SESSION_TIMEOUT",
    "SHUTDOWN_GRACE_PERIOD",
    "SKIP_DATABASE_PASSWORD_COMPLEXITY_CHECK",
    "SOLANA_ENABLED",
    "SOLANA_NODES",
    "TELEMETRY_INGRESS_BUFFER_SIZE",
    "TELEMETRY_INGRESS_LOGGING",
    "TELEMETRY_INGRESS_MAX_BATCH_SIZE",
    "TELEMETRY_INGRESS_SEND_INTERVAL",
    "TELEMETRY_INGRESS_SEND_TIMEOUT",
    "TELEMETRY_INGRESS_SERVER_PUB_KEY",
    "TELEMETRY_INGRESS_UNICONN",
    "TELEMETRY_INGRESS_URL",
    "TELEMETRY_INGRESS_USE_BATCH_SEND",
    "TERRA_ENABLED",
    "TERRA_NODES",
    "TLS_CERT_PATH",
    "TLS_KEY_PATH",
    "TRIGGER_FALLBACK_DB_POLL_INTERVAL",
    "UNAUTHENTICATED_RATE_LIMIT",
    "UNAUTHENTICATED_RATE_LIMIT_PERIOD",
];

/// The parameters of one stack, looked up by name.
pub(super) struct Parameters<'a> {
    entries: &'a [(String, SecretValue)],
}

impl<'a> Parameters<'a> {
    pub fn new(entries: &'a [(String, SecretValue)]) -> Self {
        Self { entries }
    }

    /// The value of `name`; the last one wins if a name repeats.
    pub fn get(&self, name: &str) -> Option<&'a SecretValue> {
        self.entries
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The value of `name` as text, treating a blank value as absent (SSM
    /// cannot store an empty string, so blanks are placeholders).
    pub fn text(&self, name: &str) -> Option<&'a str> {
        self.get(name)
            .map(SecretValue::expose)
            .filter(|v| !v.trim().is_empty())
    }

    pub fn names(&self) -> impl Iterator<Item = &'a str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The legacy variables set, sorted, each once.
    pub fn legacy_names(&self) -> Vec<&'a str> {
        let mut names: Vec<&str> = self.names().filter(|n| is_legacy_variable(n)).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The v2 parameters set (`config.toml`, `secrets.toml`, `CL_*`), sorted, each once.
    pub fn v2_names(&self) -> Vec<&'a str> {
        let mut names: Vec<&str> = self
            .names()
            .filter(|n| *n == CONFIG_TOML || *n == SECRETS_TOML || n.starts_with("CL_"))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    pub fn style(&self) -> ConfigStyle {
        match (self.legacy_names().is_empty(), self.v2_names().is_empty()) {
            (false, true) => ConfigStyle::Legacy,
            (true, false) => ConfigStyle::V2,
            (false, false) => ConfigStyle::Mixed,
            (true, true) => ConfigStyle::Unknown,
        }
    }
}

/// The legacy send-only RPC lists; v1 reads both names.
pub(super) const SECONDARY_URL_VARIABLES: [&str; 2] = ["ETH_SECONDARY_URLS", "ETH_SECONDARY_URL"];

/// The URLs of a legacy list such as `ETH_SECONDARY_URLS`: comma- or
/// semicolon-separated, blanks ignored, as the node splits it.
pub(super) fn url_list(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', ';'])
        .map(str::trim)
        .filter(|url| !url.is_empty())
}

pub(super) fn is_legacy_variable(name: &str) -> bool {
    LEGACY_VARIABLES.contains(&name)
}

/// Findings about the style itself: legacy variables next to v2 config,
/// nothing recognisable at all, and `CL_*` names the node ignores.
pub(super) fn check_style(params: &Parameters<'_>, out: &mut Vec<Finding>) {
    match params.style() {
        ConfigStyle::Mixed => {
            let v2 = params.v2_names().join(", ");
            for name in params.legacy_names() {
                out.push(Finding::new(
                    FindingCode::LegacyWithV2,
                    name,
                    format!(
                        "legacy variables set alongside v2 config ({v2}): the node fails with 'invalid \
                         environment: environment variable {name} must not be set: unsupported with config v2'. \
                         Move the setting into config.toml/secrets.toml and delete {name}."
                    ),
                ));
            }
        }
        ConfigStyle::Unknown => out.push(Finding::new(
            FindingCode::NoConfiguration,
            "*",
            "no Chainlink configuration found under the prefix: expected DATABASE_URL and ETH_URL (legacy) or \
             config.toml/secrets.toml/CL_* (v2). Check the parameter prefix.",
        )),
        ConfigStyle::Legacy | ConfigStyle::V2 => {}
    }
    for name in params.v2_names() {
        if name.starts_with("CL_") && !KNOWN_CL_VARIABLES.contains(&name) {
            out.push(Finding::new(
                FindingCode::UnknownClVariable,
                name,
                format!(
                    "{name} is not a variable the node reads; it is ignored. Check its spelling."
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(names: &[&str]) -> Vec<(String, SecretValue)> {
        names
            .iter()
            .map(|n| (n.to_string(), SecretValue::new("x")))
            .collect()
    }

    #[test]
    fn style_table() {
        let cases: &[(&[&str], ConfigStyle)] = &[
            (&["DATABASE_URL", "ETH_URL"], ConfigStyle::Legacy),
            (&["config.toml", "secrets.toml"], ConfigStyle::V2),
            (
                &["CL_DATABASE_URL", "CL_PASSWORD_KEYSTORE"],
                ConfigStyle::V2,
            ),
            (
                &["config.toml", "DATABASE_URL", "LOG_LEVEL"],
                ConfigStyle::Mixed,
            ),
            (
                &["API_EMAIL", "API_PASSWORD", "KEYSTORE_PASSWORD"],
                ConfigStyle::Unknown,
            ),
            (&[], ConfigStyle::Unknown),
        ];
        for (names, expected) in cases {
            let entries = params(names);
            assert_eq!(Parameters::new(&entries).style(), *expected, "{names:?}");
        }
    }

    #[test]
    fn mixed_names_each_legacy_variable() {
        let entries = params(&["secrets.toml", "LOG_LEVEL", "DATABASE_URL", "CL_FOO"]);
        let mut out = Vec::new();
        check_style(&Parameters::new(&entries), &mut out);
        let got: Vec<(FindingCode, &str)> =
            out.iter().map(|f| (f.code, f.parameter.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (FindingCode::LegacyWithV2, "DATABASE_URL"),
                (FindingCode::LegacyWithV2, "LOG_LEVEL"),
                (FindingCode::UnknownClVariable, "CL_FOO"),
            ]
        );
        assert!(out[0].message.contains("unsupported with config v2"));
    }

    #[test]
    fn last_value_wins_and_blank_is_absent() {
        let entries = vec![
            ("A".to_string(), SecretValue::new("1")),
            ("A".to_string(), SecretValue::new("2")),
            ("B".to_string(), SecretValue::new("  ")),
        ];
        let params = Parameters::new(&entries);
        assert_eq!(params.text("A"), Some("2"));
        assert_eq!(params.text("B"), None);
        assert!(params.has("B"));
    }
}
