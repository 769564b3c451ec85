//! End-to-end tests against the reference files copied from the Chainlink
//! node and docs (testdata/), and the scenarios the project exists for.
//!
//! The node's expected error lists are parsed, not retyped, so a finding the
//! validator stops producing fails a test naming the node's own message.

use std::collections::BTreeSet;

use super::finding::{ConfigStyle, Finding, FindingCode, Severity, Validation};
use super::policy::EnvironmentPolicy;
use super::secret::SecretValue;
use super::test_support::{entries, read_testdata};
use super::validate::validate;
use FindingCode::*;

fn env_file(name: &str) -> Vec<(String, SecretValue)> {
    read_testdata(name)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), SecretValue::new(v)))
        .collect()
}

fn dev_policy() -> EnvironmentPolicy {
    EnvironmentPolicy::default()
}

fn prod_policy() -> EnvironmentPolicy {
    EnvironmentPolicy {
        production: true,
        chain_id: Some(1),
        allowed_db_hosts: vec!["db.prod.demo.internal".parse().unwrap()],
        allowed_rpc_hosts: vec!["*.rpc.prod.demo.internal".parse().unwrap()],
        forbidden_hosts: vec!["*.dev.*".parse().unwrap()],
        ..EnvironmentPolicy::default()
    }
}

fn dump(validation: &Validation) -> String {
    validation.to_string()
}

fn has(validation: &Validation, code: FindingCode, parameter: &str, field: Option<&str>) -> bool {
    validation
        .findings
        .iter()
        .any(|f| f.code == code && f.parameter == parameter && f.field.as_deref() == field)
}

fn at_least_error(validation: &Validation) -> BTreeSet<(String, String, Option<String>)> {
    validation
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Error)
        .map(|f| {
            (
                f.code.as_str().to_owned(),
                f.parameter.clone(),
                f.field.clone(),
            )
        })
        .collect()
}

fn codes_below_error(validation: &Validation) -> Vec<(FindingCode, String, Option<String>)> {
    validation
        .findings
        .iter()
        .filter(|f| f.severity < Severity::Error)
        .map(|f| (f.code, f.parameter.clone(), f.field.clone()))
        .collect()
}

/// Leaves of the node's nested error text as (full path, message): lines
/// `- Key: N errors:` open a level, `- Key: message` are leaves.
fn node_errors(text: &str, start_marker: &str) -> Vec<(String, String)> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut leaves = Vec::new();
    let mut started = false;
    for line in text.lines() {
        if line.starts_with(start_marker) {
            started = true;
            continue;
        }
        if !started || line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let depth = line.chars().take_while(|c| *c == '\t').count();
        let Some(item) = line.trim_start().strip_prefix("- ") else {
            break;
        };
        let Some((key, message)) = item.split_once(": ") else {
            continue;
        };
        stack.retain(|(d, _)| *d < depth);
        let prefix: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
        let path = if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", prefix.join("."))
        };
        if message.ends_with("errors:") {
            stack.push((depth, key.to_owned()));
        } else {
            leaves.push((path, message.to_owned()));
        }
    }
    leaves
}

/// Which finding answers a node error, from the node's key phrase.
fn code_for_node_error(path: &str, message: &str) -> FindingCode {
    let last = path.rsplit('.').next().unwrap_or(path);
    if message.contains("duplicate - must be unique") {
        return match last {
            "ChainID" => ChainIdDuplicate,
            "Name" => NodeNameDuplicate,
            "Key" => KeySpecificDuplicate,
            _ => NodeUrlDuplicate,
        };
    }
    let table = [
        ("P2P required", P2pRequiredForOcr),
        ("half of LeaseDuration", LeaseRefreshTooLong),
        ("LDAP", LdapFieldEmpty),
        ("must have a valid WSURL", PrimaryNodeWsUrlMissing),
        ("auto-purge", AutoPurgeIncomplete),
        ("must be set for scroll", AutoPurgeIncomplete),
        ("required for all chains", ChainIdMissing),
        ("at least one node", ChainNodesMissing),
        ("with this chain id", ChainTypeForChainId),
        ("must be one of", ChainTypeInvalid),
        ("must be ws or wss", WebsocketUrlScheme),
        ("must be http or https", HttpUrlScheme),
        ("expected bool", TomlValueType),
    ];
    if let Some((_, code)) = table.iter().find(|(phrase, _)| message.contains(phrase)) {
        return *code;
    }
    if message.contains("required for all nodes") {
        return if last == "Name" {
            NodeNameMissing
        } else {
            NodeHttpUrlMissing
        };
    }
    if path.contains("GasEstimator") {
        return GasEstimatorInconsistent;
    }
    if message.contains("must be greater than or equal to") {
        return EvmSettingOutOfRange;
    }
    panic!("no finding code for node error {path}: {message}");
}

#[test]
fn config_invalid_reports_every_node_error() {
    let config = read_testdata("config-invalid.toml");
    let secrets = read_testdata("example-secrets.toml");
    let validation = validate(
        &entries(&[("config.toml", &config), ("secrets.toml", &secrets)]),
        &dev_policy(),
    );
    let expected = node_errors(
        &read_testdata("config-invalid.toml.expected-error.txt"),
        "invalid configuration:",
    );
    assert_eq!(expected.len(), 77, "parsed node errors: {expected:#?}");
    let mut missing = Vec::new();
    for (path, message) in &expected {
        let code = code_for_node_error(path, message);
        if !has(&validation, code, "config.toml", Some(path)) {
            missing.push(format!("{code} {path}: {message}"));
        }
    }
    assert!(
        missing.is_empty(),
        "missing findings:\n{}\n\ngot:\n{}",
        missing.join("\n"),
        dump(&validation)
    );
    // Nothing beyond the node's own list is an error, except the node's
    // address checks it applies at decode time and our own cross-checks.
    let expected_keys: BTreeSet<(String, String, Option<String>)> = expected
        .iter()
        .map(|(path, message)| {
            (
                code_for_node_error(path, message).as_str().to_owned(),
                "config.toml".to_owned(),
                Some(path.clone()),
            )
        })
        .collect();
    let extra: Vec<_> = at_least_error(&validation)
        .difference(&expected_keys)
        .cloned()
        .collect();
    assert_eq!(extra, vec![], "unexpected errors:\n{}", dump(&validation));
}

fn secrets_case(toml: &str, policy: &EnvironmentPolicy) -> Validation {
    let config = read_testdata("example-config.toml");
    validate(
        &entries(&[("config.toml", &config), ("secrets.toml", toml)]),
        policy,
    )
}

#[test]
fn secrets_invalid_cases_match_the_node() {
    let reference = read_testdata("secrets-invalid.expected-errors.txt");
    assert!(reference.contains("Database.URL: empty: must be provided and non-empty"));

    let partial = secrets_case("Database.AllowSimplePasswords = true\n", &dev_policy());
    let errors = at_least_error(&partial);
    let want: BTreeSet<_> = [
        ("CL-DB-001", "secrets.toml", Some("Database.URL")),
        ("CL-PW-001", "secrets.toml", Some("Password.Keystore")),
    ]
    .into_iter()
    .map(|(c, p, f)| (c.to_owned(), p.to_owned(), f.map(str::to_owned)))
    .collect();
    assert_eq!(errors, want, "{}", dump(&partial));
    assert!(partial
        .findings
        .iter()
        .any(|f| f.message.contains("must be provided and non-empty")));

    let invalid_urls = "[Database]\nURL = \"postgresql://user:passlocalhost:5432/asdf\"\n\
                        BackupURL = \"foo-bar?password=asdf\"\nAllowSimplePasswords = false\n";
    let validation = secrets_case(invalid_urls, &dev_policy());
    assert!(
        has(
            &validation,
            DatabaseUrlUnauthenticated,
            "secrets.toml",
            Some("Database.URL")
        ),
        "{}",
        dump(&validation)
    );
    assert!(
        has(
            &validation,
            DatabasePasswordWeak,
            "secrets.toml",
            Some("Database.BackupURL")
        ),
        "{}",
        dump(&validation)
    );
    assert!(has(
        &validation,
        KeystorePasswordMissing,
        "secrets.toml",
        Some("Password.Keystore")
    ));
    assert!(validation
        .findings
        .iter()
        .any(|f| f.message.contains("plaintext URLs are not allowed")));
    assert!(validation.findings.iter().any(|f| f
        .message
        .contains("password is less than 16 characters long")));

    // Same URLs with AllowSimplePasswords: only the keystore remains (plus the
    // backup URL's scheme, which the node finds when it connects).
    let allowed = invalid_urls.replace(
        "AllowSimplePasswords = false",
        "AllowSimplePasswords = true",
    );
    let validation = secrets_case(&allowed, &dev_policy());
    let codes: BTreeSet<FindingCode> = validation
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Error)
        .map(|f| f.code)
        .collect();
    assert_eq!(
        codes,
        BTreeSet::from([KeystorePasswordMissing, DatabaseUrlScheme]),
        "{}",
        dump(&validation)
    );

    // On a production (secure) build AllowSimplePasswords itself is refused.
    let validation = secrets_case(
        &allowed,
        &EnvironmentPolicy {
            production: true,
            ..dev_policy()
        },
    );
    assert!(has(
        &validation,
        SimplePasswordsInProduction,
        "secrets.toml",
        Some("Database.AllowSimplePasswords")
    ));
}

#[test]
fn legacy_variables_under_v2_are_rejected_one_by_one() {
    let config = read_testdata("example-config.toml");
    let secrets = read_testdata("example-secrets.toml");
    let params = entries(&[
        ("config.toml", &config),
        ("secrets.toml", &secrets),
        ("LOG_LEVEL", "warn"),
        ("DATABASE_URL", "foo"),
        ("GAS_UPDATER_ENABLED", "true"),
        ("ETH_GAS_BUMP_TX_DEPTH", "7"),
    ]);
    let validation = validate(&params, &dev_policy());
    assert_eq!(validation.style, ConfigStyle::Mixed);
    for name in [
        "DATABASE_URL",
        "LOG_LEVEL",
        "ETH_GAS_BUMP_TX_DEPTH",
        "GAS_UPDATER_ENABLED",
    ] {
        assert!(
            has(&validation, LegacyWithV2, name, None),
            "{name}\n{}",
            dump(&validation)
        );
    }
    assert!(!validation.is_valid());
    let message = &validation
        .findings
        .iter()
        .find(|f| f.code == LegacyWithV2)
        .unwrap()
        .message;
    assert!(
        message.contains("legacy variables set alongside v2 config")
            && message.contains("config.toml")
    );
}

#[test]
fn toml_syntax_errors_give_positions() {
    let cases = [("{ bad syntax {", 1, 1), ("Dev = false\nDev = true", 2, 1)];
    for (text, line, column) in cases {
        let validation = secrets_case("", &dev_policy());
        assert!(!validation
            .findings
            .iter()
            .any(|f| f.code == ConfigTomlSyntax));
        let validation = validate(&entries(&[("config.toml", text)]), &dev_policy());
        let finding = validation
            .findings
            .iter()
            .find(|f| f.code == ConfigTomlSyntax)
            .expect("syntax finding");
        assert!(
            finding
                .message
                .contains(&format!("line {line}, column {column}")),
            "{}",
            finding.message
        );
    }
    let validation = validate(
        &entries(&[(
            "secrets.toml",
            "[Database]\nURL = 'postgresql://u:pw@db/x\n",
        )]),
        &dev_policy(),
    );
    let finding = validation
        .findings
        .iter()
        .find(|f| f.code == SecretsTomlSyntax)
        .expect("syntax finding");
    assert!(
        finding.message.contains("line 2") && !finding.message.contains("postgresql"),
        "{}",
        finding.message
    );
}

/// The example files pass, with only the warnings each example earns.
#[test]
fn valid_examples_have_no_errors() {
    let config = read_testdata("example-config.toml");
    // example-config.toml gives chain 1 one primary node ('fake').
    let single_primary = (
        RpcSinglePrimaryNode,
        "config.toml".to_owned(),
        Some("EVM.0.Nodes".to_owned()),
    );
    let weak_db = |field: &str| {
        (
            DatabasePasswordWeak,
            "secrets.toml".to_owned(),
            Some(field.to_owned()),
        )
    };
    let weak_keystore = (
        KeystorePasswordWeak,
        "secrets.toml".to_owned(),
        Some("Password.Keystore".to_owned()),
    );
    let cases = [
        // 'pass' and 'keystore_pass' are the docs' placeholders; outside production they are warnings.
        (
            "example-secrets.toml",
            vec![
                single_primary.clone(),
                weak_db("Database.URL"),
                weak_keystore.clone(),
            ],
        ),
        (
            "secrets-full.toml",
            vec![
                single_primary.clone(),
                weak_db("Database.URL"),
                weak_db("Database.BackupURL"),
                weak_keystore.clone(),
            ],
        ),
        (
            "secrets.toml",
            vec![
                single_primary.clone(),
                weak_db("Database.URL"),
                weak_db("Database.BackupURL"),
                weak_keystore.clone(),
            ],
        ),
        (
            "secrets-multi.toml",
            vec![single_primary, weak_db("Database.URL"), weak_keystore],
        ),
    ];
    for (secrets_file, warnings) in cases {
        let secrets = read_testdata(secrets_file);
        let validation = validate(
            &entries(&[("config.toml", &config), ("secrets.toml", &secrets)]),
            &dev_policy(),
        );
        assert_eq!(validation.style, ConfigStyle::V2);
        assert!(
            validation.is_valid(),
            "{secrets_file}\n{}",
            dump(&validation)
        );
        assert_eq!(
            codes_below_error(&validation),
            warnings,
            "{secrets_file}\n{}",
            dump(&validation)
        );
    }
}

/// config-full.toml and config-multi-chain.toml are the node's decode
/// round-trip fixtures, not valid configs: the node's own Validate (with
/// the rules of config-invalid's version) rejects these settings too.
#[test]
fn node_round_trip_fixtures_fail_the_node_rules_they_break() {
    let secrets = read_testdata("example-secrets.toml");
    let cases = [
        (
            "config-full.toml",
            vec![
                ("CL-CHAIN-005", "EVM.0.ChainType"),
                ("CL-CHAIN-006", "EVM.0.ChainType"),
                ("CL-EVM-001", "EVM.0.HeadTracker.HistoryDepth"),
                ("CL-EVM-002", "EVM.0.GasEstimator.FeeCapDefault"),
                ("CL-EVM-002", "EVM.0.GasEstimator.PriceMax"),
                ("CL-P2P-003", "P2P.V2.Enabled"),
            ],
        ),
        (
            "config-multi-chain.toml",
            vec![
                ("CL-NODE-003", "EVM.0.Nodes.0.HTTPURL"),
                ("CL-NODE-003", "EVM.1.Nodes.0.HTTPURL"),
                ("CL-NODE-003", "EVM.2.Nodes.0.HTTPURL"),
                // OCR on, P2P on by default, no listen address: fails at runtime.
                ("CL-P2P-004", "P2P.V2.ListenAddresses"),
            ],
        ),
    ];
    for (file, expected) in cases {
        let config = read_testdata(file);
        let validation = validate(
            &entries(&[("config.toml", &config), ("secrets.toml", &secrets)]),
            &dev_policy(),
        );
        let got: BTreeSet<(String, String, Option<String>)> = at_least_error(&validation);
        let want: BTreeSet<(String, String, Option<String>)> = expected
            .into_iter()
            .map(|(code, field)| {
                (
                    code.to_owned(),
                    "config.toml".to_owned(),
                    Some(field.to_owned()),
                )
            })
            .collect();
        assert_eq!(got, want, "{file}\n{}", dump(&validation));
    }
}

#[test]
fn legacy_env_files() {
    let dev = validate(&env_file("dev.env"), &dev_policy());
    assert_eq!(dev.style, ConfigStyle::Legacy);
    assert!(
        has(&dev, DatabaseUrlMissing, "DATABASE_URL", None),
        "{}",
        dump(&dev)
    );
    assert!(has(
        &dev,
        KeystorePasswordMissing,
        "KEYSTORE_PASSWORD",
        None
    ));
    assert_eq!(dev.worst(), Some(Severity::Critical));

    let custom = validate(&env_file("full-custom.env"), &dev_policy());
    for (code, parameter) in [
        // CHAINLINK_DEV=true skips the node's authentication check, so no CL-DB-003.
        (DatabaseUrlScheme, "DATABASE_URL"),
        (DatabaseUrlScheme, "DATABASE_BACKUP_URL"),
        (DatabaseLockingMode, "DATABASE_LOCKING_MODE"),
        (LinkTokenUnknown, "LINK_CONTRACT_ADDRESS"),
    ] {
        assert!(
            has(&custom, code, parameter, None),
            "{code} {parameter}\n{}",
            dump(&custom)
        );
    }

    let none_valid = validate(&env_file("none-valid.env"), &dev_policy());
    for (code, parameter) in [
        (DatabaseUrlScheme, "DATABASE_URL"),
        (RpcUrlUnparseable, "ETH_URL"),
        (RpcUrlUnparseable, "ETH_HTTP_URL"),
        (RpcUrlUnparseable, "ETH_SECONDARY_URLS"),
        (ChainIdMalformed, "ETH_CHAIN_ID"),
        (EthUrlWithEvmNodes, "EVM_NODES"),
        (PortInvalid, "CHAINLINK_PORT"),
        (PortInvalid, "CHAINLINK_TLS_PORT"),
        (EnvValueMalformed, "SECURE_COOKIES"),
        (EnvValueMalformed, "LEASE_LOCK_DURATION"),
        (EnvValueMalformed, "JSON_CONSOLE"),
        (EnvValueMalformed, "ORM_MAX_OPEN_CONNS"),
        (EnvValueMalformed, "SESSION_TIMEOUT"),
        (LogLevelInvalid, "LOG_LEVEL"),
        (ChainTypeInvalid, "CHAIN_TYPE"),
        (NetworkingStackInvalid, "P2P_NETWORKING_STACK"),
        (AddressMalformed, "FLAGS_CONTRACT_ADDRESS"),
    ] {
        assert!(
            has(&none_valid, code, parameter, None),
            "{code} {parameter}\n{}",
            dump(&none_valid)
        );
    }
    // Every value in none-valid.env is invalid, so every typed variable it sets is reported.
    let reported: BTreeSet<&str> = none_valid
        .findings
        .iter()
        .map(|f| f.parameter.as_str())
        .collect();
    assert!(
        reported.len() >= 100,
        "only {} parameters reported",
        reported.len()
    );
}

const STRONG_DB: &str = "Str0ng-Passw0rd-4-DB";
const STRONG_KEYSTORE: &str = "keystore-Passw0rd-16plus";

fn prod_legacy(database_url: &str) -> Vec<(String, SecretValue)> {
    entries(&[
        ("DATABASE_URL", database_url),
        ("ETH_URL", "wss://eth.rpc.prod.demo.internal/ws"),
        ("ETH_CHAIN_ID", "1"),
        ("KEYSTORE_PASSWORD", STRONG_KEYSTORE),
    ])
}

#[test]
fn healthy_production_stacks_are_valid() {
    let legacy = prod_legacy(&format!(
        "postgresql://cl:{STRONG_DB}@db.prod.demo.internal:5432/cl?sslmode=require"
    ));
    let validation = validate(&legacy, &prod_policy());
    // Legacy variables configure one primary node: the only advice left.
    let codes: Vec<(FindingCode, Severity)> = validation
        .findings
        .iter()
        .map(|f| (f.code, f.severity))
        .collect();
    assert_eq!(
        codes,
        vec![(RpcSinglePrimaryNode, Severity::Warning)],
        "{}",
        dump(&validation)
    );
    assert!(validation.is_valid());

    let config = "[[EVM]]\nChainID = '1'\nLinkContractAddress = '0x514910771AF9Ca656af840dff83E8264EcF986CA'\n\
                  [[EVM.Nodes]]\nName = 'primary'\nWSURL = 'wss://eth.rpc.prod.demo.internal/ws'\n\
                  HTTPURL = 'https://eth.rpc.prod.demo.internal'\n\
                  [[EVM.Nodes]]\nName = 'second'\nWSURL = 'wss://eth2.rpc.prod.demo.internal/ws'\n\
                  HTTPURL = 'https://eth2.rpc.prod.demo.internal'\n";
    let secrets = format!(
        "[Database]\nURL = 'postgresql://cl:{STRONG_DB}@db.prod.demo.internal/cl?sslmode=require'\n\
         [Password]\nKeystore = '{STRONG_KEYSTORE}'\n"
    );
    let validation = validate(
        &entries(&[("config.toml", config), ("secrets.toml", &secrets)]),
        &prod_policy(),
    );
    assert_eq!(validation.findings, vec![], "{}", dump(&validation));
}

/// The incident: a production stack whose database URL points at dev.
#[test]
fn production_stack_pointing_at_dev_database_is_critical() {
    let legacy = prod_legacy(&format!(
        "postgresql://cl:{STRONG_DB}@db.dev.demo.internal:5432/cl"
    ));
    let validation = validate(&legacy, &prod_policy());
    assert!(
        has(&validation, ForbiddenHost, "DATABASE_URL", None),
        "{}",
        dump(&validation)
    );
    assert_eq!(validation.worst(), Some(Severity::Critical));
    assert!(validation.findings[0]
        .message
        .contains("db.dev.demo.internal"));

    // Without a deny-list, the allow-list alone catches it.
    let policy = EnvironmentPolicy {
        forbidden_hosts: vec![],
        ..prod_policy()
    };
    let validation = validate(&legacy, &policy);
    assert!(
        has(&validation, DatabaseHostNotAllowed, "DATABASE_URL", None),
        "{}",
        dump(&validation)
    );

    // Same incident in v2 form, through CL_DATABASE_URL.
    let params = entries(&[
        ("config.toml", "[[EVM]]\nChainID = '1'\n[[EVM.Nodes]]\nName = 'a'\nWSURL = 'wss://x.rpc.prod.demo.internal'\nHTTPURL = 'https://x.rpc.prod.demo.internal'\n"),
        ("CL_DATABASE_URL", &format!("postgresql://cl:{STRONG_DB}@db.dev.demo.internal/cl")),
        ("CL_PASSWORD_KEYSTORE", STRONG_KEYSTORE),
    ]);
    let validation = validate(&params, &prod_policy());
    assert!(
        has(&validation, ForbiddenHost, "CL_DATABASE_URL", None),
        "{}",
        dump(&validation)
    );
    assert!(!validation.is_valid());
}

#[test]
fn rpc_hosts_outside_the_allow_list_are_critical() {
    let params = entries(&[
        ("config.toml", "[[EVM]]\nChainID = '1'\n[[EVM.Nodes]]\nName = 'a'\nWSURL = 'wss://eth.rpc.prod.demo.internal'\nHTTPURL = 'https://mainnet.infura.io/v3/KEY'\n"),
        ("secrets.toml", &format!("[Database]\nURL = 'postgresql://cl:{STRONG_DB}@db.prod.demo.internal/cl'\n[Password]\nKeystore = '{STRONG_KEYSTORE}'\n")),
    ]);
    let validation = validate(&params, &prod_policy());
    let criticals: Vec<&Finding> = validation
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Critical)
        .collect();
    assert_eq!(criticals.len(), 1, "{}", dump(&validation));
    assert_eq!(
        (criticals[0].code, criticals[0].field.as_deref()),
        (RpcHostNotAllowed, Some("EVM.0.Nodes.0.HTTPURL"))
    );
    assert!(!criticals[0].message.contains("KEY"));
}

#[test]
fn mainnet_with_sepolia_link_is_flagged() {
    let sepolia = "0x779877A7B0D9E8603169DdbD7836e478b4624789";
    let config = format!(
        "[[EVM]]\nChainID = '1'\nLinkContractAddress = '{sepolia}'\n[[EVM.Nodes]]\nName = 'a'\n\
         WSURL = 'wss://eth.rpc.prod.demo.internal'\nHTTPURL = 'https://eth.rpc.prod.demo.internal'\n"
    );
    let secrets = read_testdata("example-secrets.toml");
    let validation = validate(
        &entries(&[("config.toml", &config), ("secrets.toml", &secrets)]),
        &dev_policy(),
    );
    assert!(
        has(
            &validation,
            LinkTokenOfOtherChain,
            "config.toml",
            Some("EVM.0.LinkContractAddress")
        ),
        "{}",
        dump(&validation)
    );
    let message = &validation
        .findings
        .iter()
        .find(|f| f.code == LinkTokenOfOtherChain)
        .unwrap()
        .message;
    assert!(
        message.contains("11155111")
            && message.contains("0x514910771AF9Ca656af840dff83E8264EcF986CA"),
        "{message}"
    );

    let mut legacy = prod_legacy(&format!(
        "postgresql://cl:{STRONG_DB}@db.prod.demo.internal/cl"
    ));
    legacy.push(("LINK_CONTRACT_ADDRESS".into(), SecretValue::new(sepolia)));
    let validation = validate(&legacy, &prod_policy());
    assert!(
        has(
            &validation,
            LinkTokenOfOtherChain,
            "LINK_CONTRACT_ADDRESS",
            None
        ),
        "{}",
        dump(&validation)
    );
}

#[test]
fn chain_ids_must_match_the_declared_chain() {
    let mut legacy = prod_legacy(&format!(
        "postgresql://cl:{STRONG_DB}@db.prod.demo.internal/cl"
    ));
    legacy.retain(|(k, _)| k != "ETH_CHAIN_ID");
    legacy.push(("ETH_CHAIN_ID".into(), SecretValue::new("11155111")));
    let validation = validate(&legacy, &prod_policy());
    assert!(
        has(&validation, ChainIdPolicyMismatch, "ETH_CHAIN_ID", None),
        "{}",
        dump(&validation)
    );

    let config = read_testdata("config-multi-chain.toml");
    let validation = validate(&entries(&[("config.toml", &config)]), &prod_policy());
    for field in ["EVM.1.ChainID", "EVM.2.ChainID"] {
        assert!(
            has(
                &validation,
                ChainIdPolicyMismatch,
                "config.toml",
                Some(field)
            ),
            "{field}\n{}",
            dump(&validation)
        );
    }
    assert!(!has(
        &validation,
        ChainIdPolicyMismatch,
        "config.toml",
        Some("EVM.0.ChainID")
    ));
}

#[test]
fn database_password_with_unencoded_hash_is_critical() {
    let legacy = prod_legacy("postgresql://cl:Str0ng#Passw0rd-4-DB@db.prod.demo.internal:5432/cl");
    let validation = validate(&legacy, &prod_policy());
    assert!(
        has(&validation, DatabasePasswordBreaksUrl, "DATABASE_URL", None),
        "{}",
        dump(&validation)
    );
    // The misleading "less than 16 characters" is not reported on top.
    assert!(!has(
        &validation,
        DatabasePasswordWeak,
        "DATABASE_URL",
        None
    ));
    // The host is still read correctly, so isolation checks are not fooled.
    assert!(
        !has(&validation, DatabaseHostNotAllowed, "DATABASE_URL", None),
        "{}",
        dump(&validation)
    );
}

#[test]
fn fifteen_character_keystore_password() {
    let password = "fifteen-chars-x";
    assert_eq!(password.len(), 15);
    let secrets =
        format!("[Database]\nURL = 'postgresql://cl:{STRONG_DB}@db/cl'\n[Password]\nKeystore = '{password}'\n");
    for (policy, severity) in [
        (dev_policy(), Severity::Warning),
        (
            EnvironmentPolicy {
                production: true,
                ..dev_policy()
            },
            Severity::Error,
        ),
    ] {
        let validation = secrets_case(&secrets, &policy);
        let finding = validation
            .findings
            .iter()
            .find(|f| f.code == KeystorePasswordWeak)
            .expect("keystore finding");
        assert_eq!(
            (finding.severity, finding.field.as_deref()),
            (severity, Some("Password.Keystore"))
        );
    }
    let mut legacy = prod_legacy(&format!(
        "postgresql://cl:{STRONG_DB}@db.prod.demo.internal/cl"
    ));
    legacy.retain(|(k, _)| k != "KEYSTORE_PASSWORD");
    legacy.push((
        "KEYSTORE_PASSWORD".into(),
        SecretValue::new(format!("{password}\n")),
    ));
    let validation = validate(&legacy, &prod_policy());
    assert!(
        has(&validation, KeystorePasswordWeak, "KEYSTORE_PASSWORD", None),
        "{}",
        dump(&validation)
    );
}

#[test]
fn websocket_url_given_as_http() {
    let config = "[[EVM]]\nChainID = '1'\n[[EVM.Nodes]]\nName = 'a'\nWSURL = 'https://eth.example/ws'\nHTTPURL = 'https://eth.example'\n";
    let secrets = read_testdata("example-secrets.toml");
    let validation = validate(
        &entries(&[("config.toml", config), ("secrets.toml", &secrets)]),
        &dev_policy(),
    );
    assert!(
        has(
            &validation,
            WebsocketUrlScheme,
            "config.toml",
            Some("EVM.0.Nodes.0.WSURL")
        ),
        "{}",
        dump(&validation)
    );

    let mut legacy = prod_legacy(&format!(
        "postgresql://cl:{STRONG_DB}@db.prod.demo.internal/cl"
    ));
    legacy.retain(|(k, _)| k != "ETH_URL");
    legacy.push((
        "ETH_URL".into(),
        SecretValue::new("https://eth.rpc.prod.demo.internal"),
    ));
    let validation = validate(&legacy, &prod_policy());
    assert!(
        has(&validation, WebsocketUrlScheme, "ETH_URL", None),
        "{}",
        dump(&validation)
    );
}

#[test]
fn cl_config_applies_last() {
    let config = read_testdata("example-config.toml");
    let secrets = read_testdata("example-secrets.toml");
    let params = entries(&[
        ("config.toml", &config),
        ("secrets.toml", &secrets),
        (
            "CL_CONFIG",
            "[[EVM]]\nChainID = '1'\n[[EVM.Nodes]]\nName = 'fake'\nWSURL = 'http://wrong'\n",
        ),
    ]);
    let validation = validate(&params, &dev_policy());
    assert!(
        has(
            &validation,
            WebsocketUrlScheme,
            "config.toml",
            Some("EVM.0.Nodes.0.WSURL")
        ),
        "{}",
        dump(&validation)
    );

    let only_env = entries(&[("CL_CONFIG", &config), ("secrets.toml", &secrets)]);
    assert!(validate(&only_env, &dev_policy()).is_valid());
}

/// No secret value may reach any rendering of the result, even when it is
/// malformed and triggers findings.
#[test]
fn canary_secrets_never_leak() {
    const CANARY: &str = "CANARY-s3cr3t-7f1e";
    let c = CANARY;
    let cases: Vec<Vec<(String, SecretValue)>> = vec![
        // Legacy, valid shapes.
        entries(&[
            (
                "DATABASE_URL",
                &format!("postgresql://cl:{c}@db.dev.demo.internal/cl?sslmode=disable"),
            ),
            (
                "DATABASE_BACKUP_URL",
                &format!("postgresql://cl@db.dev.demo.internal/cl?password={c}"),
            ),
            ("ETH_URL", &format!("https://eth.dev.rpc/v3/{c}")),
            ("ETH_HTTP_URL", &format!("wss://eth.rpc/?apikey={c}")),
            ("ETH_SECONDARY_URLS", &format!("ws://a.rpc/{c},https://b.rpc?key={c}")),
            ("KEYSTORE_PASSWORD", &format!(" {c}")),
            ("API_EMAIL", &format!("{c}@example.com")),
            ("API_PASSWORD", &format!("x{c}@example.com{c}{c}{c}")),
            ("ETH_CHAIN_ID", c),
            ("SECURE_COOKIES", c),
            ("LOG_LEVEL", c),
            ("CHAINLINK_PORT", c),
            ("DATABASE_LOCKING_MODE", c),
            ("LINK_CONTRACT_ADDRESS", c),
        ]),
        // Legacy, passwords that break the URL.
        entries(&[
            (
                "DATABASE_URL",
                &format!("postgresql://cl:{c}#{c}@db.prod.demo.internal/cl"),
            ),
            ("DATABASE_BACKUP_URL", &format!("postgresql://cl:{c}/{c}@db/cl")),
            ("ETH_URL", &format!("wss://u:{c}@eth.rpc/ws")),
            ("KEYSTORE_PASSWORD", "short"),
            ("API_PASSWORD", c),
        ]),
        // v2: secrets.toml, CL_* overrides and config.toml with keys in URLs.
        entries(&[
            (
                "config.toml",
                &format!(
                    "[[EVM]]\nChainID = '1'\n[[EVM.Nodes]]\nName = 'a'\nWSURL = 'http://eth.rpc/v3/{c}'\n\
                     HTTPURL = 'ws://eth.rpc/?key={c}'\n[[EVM.Nodes]]\nName = 'b'\nWSURL = 'http://eth.rpc/v3/{c}'\n\
                     HTTPURL = 'https://u:{c}@eth.rpc/x'\n"
                ),
            ),
            (
                "secrets.toml",
                &format!(
                    "[Database]\nURL = 'postgresql://cl:{c}@@db.dev.demo.internal/cl'\nBackupURL = '{c}?password={c}'\n\
                     AllowSimplePasswords = '{c}'\n[Password]\nKeystore = ' {c} '\nVRF = '{c}'\n"
                ),
            ),
            ("CL_DATABASE_URL", &format!("http://cl:{c}@db.dev.demo.internal/cl")),
            ("CL_PASSWORD_KEYSTORE", &format!("{c}{c}{c}")),
            ("DATABASE_URL", &format!("postgresql://cl:{c}@db/cl")),
        ]),
        // v2 with broken TOML around secrets.
        entries(&[
            (
                "config.toml",
                &format!("[[EVM]]\nChainID = '1'\nx = wss://eth.rpc/v3/{c}\n"),
            ),
            ("secrets.toml", &format!("[Password]\nKeystore = '{c}\n")),
            ("CL_CONFIG", &format!("Enabled = 'https://eth.rpc/{c}'\n")),
        ]),
        entries(&[("secrets.toml", &format!("[Password]\nKeystore = {c}\n"))]),
        entries(&[("secrets.toml", &format!("[Password]\nKeystore = 1\nKeystore = '{c}'\n"))]),
        entries(&[(
            "secrets.toml",
            &format!("[Database]\nURL = ['{c}']\n[Password]\nKeystore = 5\n"),
        )]),
    ];
    for (index, params) in cases.iter().enumerate() {
        for policy in [dev_policy(), prod_policy()] {
            let validation = validate(params, &policy);
            assert!(
                !validation.findings.is_empty(),
                "case {index} produced no findings"
            );
            let renderings = [
                format!("{validation}"),
                format!("{validation:?}"),
                serde_json::to_string(&validation).unwrap(),
            ];
            for rendering in renderings {
                assert!(
                    !rendering.contains(CANARY),
                    "case {index} leaked:\n{rendering}"
                );
                assert!(
                    !rendering.contains("s3cr3t"),
                    "case {index} leaked part:\n{rendering}"
                );
            }
            for finding in &validation.findings {
                for text in [
                    finding.to_string(),
                    format!("{finding:?}"),
                    serde_json::to_string(finding).unwrap(),
                ] {
                    assert!(
                        !text.contains("s3cr3t"),
                        "case {index} finding leaked: {text}"
                    );
                }
            }
            let endpoints = super::endpoint::endpoints(params);
            let rendered = format!(
                "{endpoints:?} {}",
                serde_json::to_string(&endpoints).unwrap()
            );
            assert!(
                !rendered.contains("s3cr3t"),
                "case {index} endpoints leaked: {rendered}"
            );
        }
    }
}

#[test]
fn validation_renders_for_people_and_machines() {
    let validation = validate(&env_file("dev.env"), &dev_policy());
    let json: serde_json::Value = serde_json::to_value(&validation).unwrap();
    assert_eq!(json["style"], "legacy");
    assert_eq!(json["findings"][0]["code"], "CL-DB-001");
    assert_eq!(json["findings"][0]["severity"], "Critical");
    let text = validation.to_string();
    assert!(text.starts_with("legacy configuration: INVALID"), "{text}");
    assert!(
        text.contains("[critical] CL-DB-001 DATABASE_URL: DATABASE_URL is missing"),
        "{text}"
    );
}

#[test]
fn unknown_style_is_critical() {
    let validation = validate(&entries(&[("API_EMAIL", "ops@example.com")]), &dev_policy());
    assert_eq!(validation.style, ConfigStyle::Unknown);
    assert_eq!(validation.findings[0].code, NoConfiguration);
}

fn message_of(validation: &Validation, code: FindingCode) -> &str {
    validation
        .findings
        .iter()
        .find(|f| f.code == code)
        .map_or("", |f| f.message.as_str())
}

fn running(version: &str, policy: EnvironmentPolicy) -> EnvironmentPolicy {
    EnvironmentPolicy {
        node_version: Some(version.parse().unwrap()),
        ..policy
    }
}

fn severity_of(validation: &Validation, code: FindingCode, field: &str) -> Option<Severity> {
    validation
        .findings
        .iter()
        .find(|f| f.code == code && f.field.as_deref() == Some(field))
        .map(|f| f.severity)
}

/// The node's examples, whose placeholder password 'pass' a 2.x node
/// refuses at boot: with a declared version that is no longer advice.
#[test]
fn a_declared_v2_node_refuses_the_examples_weak_database_password() {
    let config = read_testdata("example-config.toml");
    let secrets = read_testdata("secrets-full.toml");
    let params = entries(&[("config.toml", &config), ("secrets.toml", &secrets)]);

    let today = validate(&params, &dev_policy());
    assert!(today.is_valid(), "{}", dump(&today));

    let v2 = validate(&params, &running("2.18.0", dev_policy()));
    assert_eq!(
        severity_of(&v2, DatabasePasswordRefusedAtBoot, "Database.URL"),
        Some(Severity::Critical),
        "{}",
        dump(&v2)
    );
    // One finding per password: the primary URL's is the boot refusal...
    assert_eq!(severity_of(&v2, DatabasePasswordWeak, "Database.URL"), None);
    // ...and the backup URL keeps its code.
    assert_eq!(
        severity_of(&v2, DatabasePasswordWeak, "Database.BackupURL"),
        Some(Severity::Warning)
    );
    assert!(!v2.is_valid());
    let message = message_of(&v2, DatabasePasswordRefusedAtBoot);
    assert!(
        message.contains("node 2.18.0")
            && message.contains("since 2.0.0")
            && message.contains("missing or insufficiently complex password")
            && !message.contains("pass@"),
        "{message}"
    );
}

/// A 1.x node reading legacy variables only warns about a weak password,
/// even in production; from 2.0.0 it reads no legacy variable at all.
#[test]
fn legacy_sets_follow_the_declared_version() {
    let legacy = prod_legacy("postgresql://cl:short@db.prod.demo.internal:5432/cl?sslmode=require");
    let weak = |policy: EnvironmentPolicy| {
        severity_of_parameter(
            &validate(&legacy, &policy),
            DatabasePasswordWeak,
            "DATABASE_URL",
        )
    };
    assert_eq!(weak(prod_policy()), Some(Severity::Error));
    assert_eq!(
        weak(running("1.13.3", prod_policy())),
        Some(Severity::Warning)
    );

    let v2 = validate(&legacy, &running("2.0.0", prod_policy()));
    for name in [
        "DATABASE_URL",
        "ETH_CHAIN_ID",
        "ETH_URL",
        "KEYSTORE_PASSWORD",
    ] {
        let expected = if name == "KEYSTORE_PASSWORD" {
            // The password file is given to `node start -p`, not read from the environment.
            None
        } else {
            Some(Severity::Critical)
        };
        assert_eq!(
            severity_of_parameter(&v2, LegacyConfigUnsupported, name),
            expected,
            "{name}\n{}",
            dump(&v2)
        );
    }
}

fn severity_of_parameter(
    validation: &Validation,
    code: FindingCode,
    parameter: &str,
) -> Option<Severity> {
    validation
        .findings
        .iter()
        .find(|f| f.code == code && f.parameter == parameter)
        .map(|f| f.severity)
}

/// `AllowSimplePasswords` is refused by release builds from 2.6.0 in any
/// environment; before, only production stacks are held to it.
#[test]
fn simple_passwords_follow_the_declared_version() {
    let allowed = "[Database]\nURL = 'postgresql://u:pass@db/x'\nAllowSimplePasswords = true\n\
                   [Password]\nKeystore = 'keystore-Passw0rd-16plus'\n";
    let field = "Database.AllowSimplePasswords";
    let codes = |policy: EnvironmentPolicy| {
        let validation = secrets_case(allowed, &policy);
        (
            severity_of(&validation, SimplePasswordsRefused, field),
            severity_of(&validation, SimplePasswordsInProduction, field),
        )
    };
    let production = || EnvironmentPolicy {
        production: true,
        ..dev_policy()
    };
    assert_eq!(codes(dev_policy()), (None, None));
    assert_eq!(codes(running("2.5.0", dev_policy())), (None, None));
    assert_eq!(
        codes(running("2.6.0", dev_policy())),
        (Some(Severity::Critical), None)
    );
    assert_eq!(codes(production()), (None, Some(Severity::Error)));
    assert_eq!(
        codes(running("2.18.0", production())),
        (Some(Severity::Critical), None)
    );
}

/// The production rules, on the node's own examples: example-config.toml
/// logs at debug level and config-full.toml allows every origin.
#[test]
fn production_stacks_are_warned_about_the_examples_debug_and_wildcard() {
    let secrets = read_testdata("example-secrets.toml");
    for (file, code, field) in [
        (
            "example-config.toml",
            LogLevelDebugInProduction,
            "Log.Level",
        ),
        (
            "config-full.toml",
            AllowOriginsWildcard,
            "WebServer.AllowOrigins",
        ),
    ] {
        let config = read_testdata(file);
        let params = entries(&[("config.toml", &config), ("secrets.toml", &secrets)]);
        let production = EnvironmentPolicy {
            production: true,
            ..dev_policy()
        };
        let validation = validate(&params, &production);
        assert_eq!(
            severity_of(&validation, code, field),
            Some(Severity::Warning),
            "{file}\n{}",
            dump(&validation)
        );
        assert_eq!(
            severity_of(&validate(&params, &dev_policy()), code, field),
            None
        );
    }
}
