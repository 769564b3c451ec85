//! The validator's output: findings with stable codes, and their sum.
//!
//! Codes are the contract with dashboards, alarms and the remediation
//! planner, so they never change meaning; messages are for people and may be
//! reworded. No message may carry a secret value (see `url_display`).

use std::fmt;

use serde::{Serialize, Serializer};

/// How bad a finding is. Ordered from least to most severe so `max()` gives
/// the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Severity {
    /// Advice; nothing is wrong.
    Info,
    /// Probably a mistake, but the node runs.
    Warning,
    /// The node rejects this value or misbehaves because of it.
    Error,
    /// The stack cannot work at all, or is wired to the wrong environment or chain.
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Critical => "critical",
        })
    }
}

macro_rules! finding_codes {
    ($($variant:ident = $code:literal, $severity:ident;)*) => {
        /// Stable identifier of a kind of finding; serializes as its code
        /// string (`"CL-DB-001"`). `CODES.md` documents each one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum FindingCode { $($variant,)* }

        impl FindingCode {
            pub const ALL: &'static [FindingCode] = &[$(FindingCode::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(FindingCode::$variant => $code,)* }
            }

            /// Severity unless the rule says otherwise (some depend on
            /// whether the stack is production; CODES.md says which).
            pub fn default_severity(self) -> Severity {
                match self { $(FindingCode::$variant => Severity::$severity,)* }
            }
        }
    };
}

finding_codes! {
    LegacyWithV2 = "CL-STYLE-001", Error;
    NoConfiguration = "CL-STYLE-002", Critical;
    UnknownClVariable = "CL-STYLE-003", Info;

    DatabaseUrlMissing = "CL-DB-001", Critical;
    DatabaseUrlScheme = "CL-DB-002", Error;
    DatabaseUrlUnauthenticated = "CL-DB-003", Error;
    DatabasePasswordWeak = "CL-DB-004", Error;
    DatabasePasswordBreaksUrl = "CL-DB-005", Critical;
    DatabaseSslDisabled = "CL-DB-006", Error;
    SimplePasswordsInProduction = "CL-DB-007", Error;
    DatabaseLockingMode = "CL-DB-008", Error;
    LeaseRefreshTooLong = "CL-DB-009", Error;
    DatabaseUrlOverridden = "CL-DB-010", Warning;
    DatabaseConnectionsOverLimit = "CL-DB-011", Warning;

    DatabaseUrlOtherHost = "CL-RDS-001", Critical;
    DatabaseUrlOtherPort = "CL-RDS-002", Error;
    DatabaseSslRefused = "CL-RDS-003", Error;
    DatabaseSslNotRequired = "CL-RDS-004", Warning;
    DatabaseForceSslOff = "CL-RDS-005", Warning;
    DatabaseStorageAutoscalingOff = "CL-RDS-006", Warning;
    DatabaseLimitDisagrees = "CL-RDS-007", Warning;
    DatabaseLimitUnknown = "CL-RDS-008", Warning;
    DatabaseConnectionsWithinLimit = "CL-RDS-009", Info;

    KeystorePasswordMissing = "CL-PW-001", Critical;
    KeystorePasswordWeak = "CL-PW-002", Error;
    KeystorePasswordWhitespace = "CL-PW-003", Error;
    ApiEmailInvalid = "CL-API-001", Error;
    ApiPasswordWeak = "CL-API-002", Error;
    ApiPasswordTooLong = "CL-API-003", Error;

    WebsocketUrlScheme = "CL-RPC-001", Error;
    HttpUrlScheme = "CL-RPC-002", Error;
    RpcUrlUnparseable = "CL-RPC-003", Error;
    RpcMissing = "CL-RPC-004", Error;
    EthUrlWithEvmNodes = "CL-RPC-005", Error;
    HttpUrlWithoutWsUrl = "CL-RPC-006", Warning;
    RpcNoPrimaryNode = "CL-RPC-007", Error;
    RpcSinglePrimaryNode = "CL-RPC-008", Warning;
    RpcSendOnlyOnPrimaryHost = "CL-RPC-009", Warning;

    ChainIdMissing = "CL-CHAIN-001", Error;
    ChainIdMalformed = "CL-CHAIN-002", Error;
    ChainIdPolicyMismatch = "CL-CHAIN-003", Critical;
    ChainIdDuplicate = "CL-CHAIN-004", Error;
    ChainTypeInvalid = "CL-CHAIN-005", Error;
    ChainTypeForChainId = "CL-CHAIN-006", Error;
    ChainNodesMissing = "CL-CHAIN-007", Error;

    NodeNameMissing = "CL-NODE-001", Error;
    NodeNameDuplicate = "CL-NODE-002", Error;
    NodeHttpUrlMissing = "CL-NODE-003", Error;
    NodeUrlDuplicate = "CL-NODE-004", Error;
    PrimaryNodeWsUrlMissing = "CL-NODE-005", Error;

    EvmSettingOutOfRange = "CL-EVM-001", Error;
    GasEstimatorInconsistent = "CL-EVM-002", Error;
    KeySpecificDuplicate = "CL-EVM-003", Error;
    AutoPurgeIncomplete = "CL-EVM-004", Error;
    NoEvmChain = "CL-EVM-005", Error;

    AddressMalformed = "CL-ADDR-001", Error;
    AddressChecksum = "CL-ADDR-002", Error;
    LinkTokenOfOtherChain = "CL-LINK-001", Error;
    LinkTokenUnknown = "CL-LINK-002", Warning;
    LinkTokenNodeDefaultWrong = "CL-LINK-003", Warning;

    PortInvalid = "CL-WEB-001", Error;
    SecureCookiesWithoutTls = "CL-WEB-002", Warning;
    LdapFieldEmpty = "CL-WEB-003", Error;
    AllowOriginsWildcard = "CL-WEB-004", Warning;

    LogLevelInvalid = "CL-LOG-001", Error;
    LogLevelDebugInProduction = "CL-LOG-002", Warning;
    LogFileUncapped = "CL-LOG-003", Warning;

    AnnouncePortWithoutIp = "CL-P2P-001", Error;
    NetworkingStackInvalid = "CL-P2P-002", Error;
    P2pRequiredForOcr = "CL-P2P-003", Error;
    P2pListenAddressesMissing = "CL-P2P-004", Error;

    EnvValueMalformed = "CL-ENV-001", Error;
    DeprecatedFatalVariable = "CL-ENV-002", Error;

    ConfigTomlSyntax = "CL-TOML-001", Error;

    EndpointUnresolvable = "CL-PROBE-001", Error;
    EndpointUnreachable = "CL-PROBE-002", Error;
    RpcChainMismatch = "CL-PROBE-003", Critical;
    RpcNoChainId = "CL-PROBE-004", Warning;
    SecretsTomlSyntax = "CL-TOML-002", Error;
    TomlValueType = "CL-TOML-003", Error;

    LegacyConfigUnsupported = "CL-VER-001", Critical;
    DatabasePasswordRefusedAtBoot = "CL-VER-002", Critical;
    SimplePasswordsRefused = "CL-VER-003", Critical;
    P2pV1Retired = "CL-VER-004", Critical;
    TelemetryIngressFieldRetired = "CL-VER-005", Critical;
    TomlConfigUnsupported = "CL-VER-006", Critical;

    ParameterExpires = "CL-SSM-001", Critical;
    RestoreKeyNotDeclared = "CL-SSM-002", Critical;

    SecretKeptElsewhere = "CL-EXT-001", Info;
    SecretInTwoPlaces = "CL-EXT-002", Warning;
    SecretElsewhereMissing = "CL-EXT-003", Critical;
    SecretElsewhereUnchecked = "CL-EXT-004", Warning;

    NodePortUnknown = "CL-NET-001", Error;
    FlowPortDisagrees = "CL-NET-002", Warning;
    NodePortForbidden = "CL-NET-003", Error;
    NodePortsNotFollowed = "CL-NET-004", Info;
    NodePortOff = "CL-NET-005", Info;

    DatabaseHostNotAllowed = "CL-ISO-001", Critical;
    RpcHostNotAllowed = "CL-ISO-002", Critical;
    ForbiddenHost = "CL-ISO-003", Critical;
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FindingCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One problem (or piece of advice) about one parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: FindingCode,
    pub severity: Severity,
    /// The parameter's name under the stack prefix, never its value.
    pub parameter: String,
    /// Path inside a TOML document, in the node's own notation
    /// (`EVM.0.Nodes.1.HTTPURL`), when the finding is about one field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl Finding {
    pub fn new(
        code: FindingCode,
        parameter: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            severity: code.default_severity(),
            parameter: parameter.into(),
            field: None,
            message: message.into(),
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {} {}", self.severity, self.code, self.parameter)?;
        if let Some(field) = &self.field {
            write!(f, " ({field})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// How the stack's parameters configure the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigStyle {
    /// v1.x environment variables (`DATABASE_URL`, `ETH_URL`, ...).
    Legacy,
    /// v2 TOML (`config.toml`, `secrets.toml`) and `CL_*` overrides.
    V2,
    /// Both; the v2 node refuses to start.
    Mixed,
    /// Neither was found.
    Unknown,
}

impl fmt::Display for ConfigStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Legacy => "legacy",
            Self::V2 => "v2",
            Self::Mixed => "mixed",
            Self::Unknown => "unknown",
        })
    }
}

/// The result of validating one stack's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Validation {
    pub style: ConfigStyle,
    pub findings: Vec<Finding>,
}

impl Validation {
    /// No finding is an Error or worse.
    pub fn is_valid(&self) -> bool {
        self.worst().is_none_or(|worst| worst < Severity::Error)
    }

    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|finding| finding.severity).max()
    }
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.is_valid() { "valid" } else { "INVALID" };
        writeln!(
            f,
            "{} configuration: {verdict}, {} finding(s)",
            self.style,
            self.findings.len()
        )?;
        for finding in &self.findings {
            writeln!(f, "  {finding}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_documented() {
        let codes_md =
            std::fs::read_to_string(super::super::test_support::module_file("CODES.md")).unwrap();
        let mut seen = std::collections::HashSet::new();
        for code in FindingCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {code}");
            let row = format!("| {} | {} |", code.as_str(), code.default_severity());
            assert!(
                codes_md.contains(&row),
                "CODES.md lacks the row starting {row:?}"
            );
        }
    }

    #[test]
    fn severity_orders_and_serializes() {
        assert!(Severity::Critical > Severity::Error);
        assert!(Severity::Error > Severity::Warning);
        assert!(Severity::Warning > Severity::Info);
        let finding = Finding::new(FindingCode::DatabaseUrlMissing, "DATABASE_URL", "missing");
        let json = serde_json::to_string(&finding).unwrap();
        assert_eq!(
            json,
            r#"{"code":"CL-DB-001","severity":"Critical","parameter":"DATABASE_URL","message":"missing"}"#
        );
    }

    #[test]
    fn validation_verdicts() {
        let warning = Finding::new(FindingCode::LinkTokenUnknown, "ETH", "w");
        let error = Finding::new(FindingCode::PortInvalid, "CHAINLINK_PORT", "e");
        let table = [
            (vec![], true, None),
            (vec![warning.clone()], true, Some(Severity::Warning)),
            (vec![warning, error], false, Some(Severity::Error)),
        ];
        for (findings, valid, worst) in table {
            let validation = Validation {
                style: ConfigStyle::Legacy,
                findings,
            };
            assert_eq!(validation.is_valid(), valid);
            assert_eq!(validation.worst(), worst);
        }
        let style = serde_json::to_string(&ConfigStyle::V2).unwrap();
        assert_eq!(style, r#""v2""#);
    }
}
