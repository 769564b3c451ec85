//! The parameter planner's specification.

use chainlink::{EnvironmentPolicy, FindingCode, SecretValue};
use domain::ids::{KmsKeyRef, ParameterName};
use domain::parameters::*;
use std::collections::BTreeMap;

const PREFIX: &str = "/chainlink/demo/";
use test_support::{
    parameter_version, valid_legacy_parameters as valid_legacy, DEV_DATABASE_URL as DEV_DB,
    GOOD_DATABASE_URL as GOOD_DB, OTHER_KMS_KEY, STACK_KMS_KEY,
};

fn policy() -> EnvironmentPolicy {
    test_support::sample_stack_file().environment
}

/// Parameters at version `version`, labeled good at `labeled` (if any).
fn observed(set: &[(&str, &str)], version: i64, labeled: Option<i64>) -> Vec<ObservedParameter> {
    set.iter()
        .map(|(key, value)| ObservedParameter {
            name: ParameterName::new(format!("{PREFIX}{key}")),
            key: key.to_string(),
            kind: ParameterKind::SecureString,
            version,
            value: SecretValue::new(*value),
            labeled_version: labeled,
            expires_at: None,
        })
        .collect()
}

fn with_value(
    mut parameters: Vec<ObservedParameter>,
    key: &str,
    value: &str,
    version: i64,
    labeled: Option<i64>,
) -> Vec<ObservedParameter> {
    for p in parameters.iter_mut().filter(|p| p.key == key) {
        p.value = SecretValue::new(value);
        p.version = version;
        p.labeled_version = labeled;
    }
    parameters
}

/// Earlier versions of `name`, each a SecureString under the stack's key.
fn history(name: &str, versions: &[(i64, &str)]) -> BTreeMap<ParameterName, Vec<ParameterVersion>> {
    let versions: Vec<ParameterVersion> = versions
        .iter()
        .map(|(version, value)| parameter_version(*version, value, Some(STACK_KMS_KEY)))
        .collect();
    history_of(name, versions)
}

fn history_of(
    name: &str,
    mut versions: Vec<ParameterVersion>,
) -> BTreeMap<ParameterName, Vec<ParameterVersion>> {
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    BTreeMap::from([(ParameterName::new(format!("{PREFIX}{name}")), versions)])
}

/// Plans for a stack that declares no KMS key.
fn plan(
    parameters: &[ObservedParameter],
    history: &BTreeMap<ParameterName, Vec<ParameterVersion>>,
) -> ParameterPlan {
    plan_with_key(None, parameters, history)
}

/// Plans for a stack whose `[parameters]` declare `kms_key`, if any.
fn plan_with_key(
    kms_key: Option<&str>,
    parameters: &[ObservedParameter],
    history: &BTreeMap<ParameterName, Vec<ParameterVersion>>,
) -> ParameterPlan {
    let declared = kms_key.map(KmsKeyRef::new);
    let policy = policy();
    plan_parameters(
        PREFIX,
        "last-known-good",
        &policy,
        parameters,
        history,
        declared.as_ref(),
    )
}

#[test]
fn the_reference_valid_set_is_valid() {
    let result = plan(&observed(&valid_legacy(), 1, None), &BTreeMap::new());
    assert!(result.valid, "{:#?}", result.findings);
}

#[test]
fn a_valid_set_gets_its_unlabeled_versions_labeled_once() {
    let fresh = plan(&observed(&valid_legacy(), 1, None), &BTreeMap::new());
    assert_eq!(fresh.actions.len(), valid_legacy().len());
    assert!(fresh.actions.iter().all(|a| a.kind() == "LabelParameter"));

    let labeled = plan(&observed(&valid_legacy(), 1, Some(1)), &BTreeMap::new());
    assert!(
        labeled.actions.is_empty(),
        "already labeled: {:?}",
        labeled.actions
    );
}

/// Version 1 of the set was labeled good; version 2 of DATABASE_URL points at the dev database.
fn dev_database_change() -> ParameterPlan {
    let parameters = with_value(
        observed(&valid_legacy(), 1, Some(1)),
        "DATABASE_URL",
        DEV_DB,
        2,
        Some(1),
    );
    plan(
        &parameters,
        &history("DATABASE_URL", &[(1, GOOD_DB), (2, DEV_DB)]),
    )
}

#[test]
fn production_pointed_at_the_dev_database_is_rolled_back_to_the_labeled_value() {
    let result = dev_database_change();
    assert!(!result.valid);
    assert!(
        result
            .findings
            .iter()
            .any(|f| f.parameter == "DATABASE_URL" && f.code.as_str().starts_with("CL-ISO")),
        "{:#?}",
        result.findings
    );
    let [ParameterAction::RevertParameter {
        name,
        from_version,
        to_version,
        value,
        rejected_for,
        ..
    }] = result.actions.as_slice()
    else {
        panic!("expected one revert: {:?}", result.actions)
    };
    assert_eq!(
        (name.as_str(), *from_version, *to_version),
        ("/chainlink/demo/DATABASE_URL", 2, 1)
    );
    assert_eq!(value.expose(), GOOD_DB);
    assert!(
        rejected_for.iter().any(|c| c.starts_with("CL-ISO")),
        "{rejected_for:?}"
    );
}

#[test]
fn without_a_label_the_newest_valid_version_is_found() {
    let short = "too-short";
    let parameters = with_value(
        observed(&valid_legacy(), 1, None),
        "KEYSTORE_PASSWORD",
        short,
        4,
        None,
    );
    let history = history(
        "KEYSTORE_PASSWORD",
        &[
            (1, "first-keystore-passw0rd!"),
            (2, "x"),
            (3, "second-keystore-passw0rd!"),
            (4, short),
        ],
    );
    let result = plan(&parameters, &history);
    let [ParameterAction::RevertParameter { to_version, .. }] = result.actions.as_slice() else {
        panic!(
            "expected one revert: {:?} {:?}",
            result.actions, result.note
        )
    };
    assert_eq!(
        *to_version, 3,
        "the most recent valid version, skipping the invalid 2"
    );
}

#[test]
fn no_valid_earlier_version_means_report_and_leave_it() {
    let parameters = with_value(
        observed(&valid_legacy(), 1, None),
        "ETH_URL",
        "http://eth-1.rpc.prod.demo.internal",
        2,
        None,
    );
    let result = plan(
        &parameters,
        &history(
            "ETH_URL",
            &[
                (1, "https://also-not-ws.rpc.prod.demo.internal"),
                (2, "http://eth-1.rpc.prod.demo.internal"),
            ],
        ),
    );
    assert!(result.actions.is_empty());
    assert!(result.note.unwrap_or_default().contains("left as is"));
}

#[test]
fn a_deleted_required_parameter_is_critical_and_never_recreated() {
    let mut parameters = observed(&valid_legacy(), 1, Some(1));
    parameters.retain(|p| p.key != "DATABASE_URL");
    let result = plan(&parameters, &BTreeMap::new());
    assert!(
        result
            .findings
            .iter()
            .any(|f| f.parameter.contains("DATABASE_URL")
                && f.severity == chainlink::Severity::Critical),
        "{:#?}",
        result.findings
    );
    assert!(result.actions.is_empty());
    assert!(result.note.unwrap_or_default().contains("deleted"));
}

fn expiring(mut parameters: Vec<ObservedParameter>, key: &str) -> Vec<ObservedParameter> {
    for p in parameters.iter_mut().filter(|p| p.key == key) {
        p.expires_at = Some("2026-12-05T11:00:00.000Z".into());
    }
    parameters
}

fn expiration_findings(result: &ParameterPlan) -> Vec<(&str, chainlink::Severity, &str)> {
    result
        .findings
        .iter()
        .filter(|f| f.code == chainlink::FindingCode::ParameterExpires)
        .map(|f| (f.parameter.as_str(), f.severity, f.message.as_str()))
        .collect()
}

#[test]
fn a_required_parameter_about_to_expire_is_critical_though_every_value_is_valid() {
    let parameters = expiring(observed(&valid_legacy(), 1, Some(1)), "DATABASE_URL");
    let result = plan(&parameters, &BTreeMap::new());
    let found = expiration_findings(&result);
    assert_eq!(found.len(), 1, "{:#?}", result.findings);
    let (parameter, severity, message) = found[0];
    assert_eq!(
        (parameter, severity),
        ("DATABASE_URL", chainlink::Severity::Critical)
    );
    assert!(
        message.contains("2026-12-05T11:00:00.000Z") && message.contains("CL-DB-001"),
        "{message}"
    );
    // The values are valid: nothing to roll back, but the set needs a person before the date.
    assert!(result.valid);
    assert!(result.actions.is_empty());
    let report = report::ParameterReport::new(result, Vec::new());
    assert!(report.left_invalid());
}

#[test]
fn only_an_expiring_parameter_the_set_needs_is_a_finding() {
    let optional = expiring(
        observed(&valid_legacy(), 1, Some(1)),
        "LINK_CONTRACT_ADDRESS",
    );
    let result = plan(&optional, &BTreeMap::new());
    assert!(
        expiration_findings(&result).is_empty(),
        "{:#?}",
        result.findings
    );

    // An already invalid set: the keystore password is still needed, whatever else is wrong.
    let invalid = with_value(
        expiring(observed(&valid_legacy(), 1, Some(1)), "KEYSTORE_PASSWORD"),
        "ETH_URL",
        "http://eth-1.rpc.prod.demo.internal",
        2,
        Some(1),
    );
    let result = plan(&invalid, &BTreeMap::new());
    let found: Vec<&str> = expiration_findings(&result).iter().map(|f| f.0).collect();
    assert_eq!(found, ["KEYSTORE_PASSWORD"], "{:#?}", result.findings);
}

#[test]
fn only_an_expiration_policy_deletes_a_parameter() {
    let expiration = r#"{"Type":"Expiration","Version":"1.0","Attributes":{"Timestamp":"2026-12-05T11:00:00.000Z"}}"#;
    let notification = r#"{"Type":"ExpirationNotification","Version":"1.0","Attributes":{"Before":"15","Unit":"Days"}}"#;
    let no_change = r#"{"Type":"NoChangeNotification","Version":"1.0","Attributes":{"After":"60","Unit":"Days"}}"#;
    let cases = [
        (
            Some("Expiration"),
            Some(expiration),
            Some("2026-12-05T11:00:00.000Z"),
        ),
        (None, Some(expiration), Some("2026-12-05T11:00:00.000Z")),
        (Some("ExpirationNotification"), Some(notification), None),
        (Some("NoChangeNotification"), Some(no_change), None),
        (None, Some("not json"), None),
        (None, None, None),
        (
            Some("Expiration"),
            Some("{}"),
            Some("a time its policy does not state"),
        ),
    ];
    for (kind, text, expected) in cases {
        assert_eq!(
            expiration_of(kind, text).as_deref(),
            expected,
            "{kind:?} {text:?}"
        );
    }
}

#[test]
fn a_restored_value_is_valid_so_it_is_labeled_and_never_restored_again() {
    // After a revert, the new version 3 holds version 1's value: the next run only labels it.
    let parameters = with_value(
        observed(&valid_legacy(), 1, Some(1)),
        "DATABASE_URL",
        GOOD_DB,
        3,
        Some(1),
    );
    let result = plan(&parameters, &BTreeMap::new());
    assert!(result.valid);
    let kinds: Vec<&str> = result.actions.iter().map(ParameterAction::kind).collect();
    assert_eq!(kinds, ["LabelParameter"]);
}

#[test]
fn plans_never_show_a_value() {
    let result = dev_database_change();
    let rendered = format!(
        "{}\n{:?}\n{}",
        serde_json::to_string(&result).unwrap_or_default(),
        result,
        result
            .actions
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    for secret in [
        "Str0ng-enough-passw0rd",
        "keystore-passw0rd-long-enough",
        "api-passw0rd-long-enough",
    ] {
        assert!(!rendered.contains(secret), "{secret} leaked: {rendered}");
    }
}

const V2_CONFIG: &str = include_str!("testdata/v2-config.toml");

const V2_SECRETS: &str = include_str!("testdata/v2-secrets.toml");

#[test]
fn the_reference_v2_set_is_valid_and_an_http_websocket_url_is_not() {
    let good = plan(
        &observed(
            &[("config.toml", V2_CONFIG), ("secrets.toml", V2_SECRETS)],
            1,
            None,
        ),
        &BTreeMap::new(),
    );
    assert!(good.valid, "{:#?}", good.findings);
    let http = V2_CONFIG.replace("wss://eth-1", "http://eth-1");
    let bad = plan(
        &observed(
            &[("config.toml", &http), ("secrets.toml", V2_SECRETS)],
            1,
            None,
        ),
        &BTreeMap::new(),
    );
    assert!(
        bad.findings.iter().any(|f| f.code.as_str() == "CL-RPC-001"),
        "{:#?}",
        bad.findings
    );
}

/// DATABASE_URL labeled good at version 1; version 2, the current one, points at the dev
/// database and was written under `bad_key` (a plain String for `None`).
fn dev_database_written(
    bad_key: Option<&str>,
    good: ParameterVersion,
) -> (
    Vec<ObservedParameter>,
    BTreeMap<ParameterName, Vec<ParameterVersion>>,
) {
    let mut parameters = with_value(
        observed(&valid_legacy(), 1, Some(1)),
        "DATABASE_URL",
        DEV_DB,
        2,
        Some(1),
    );
    for p in parameters.iter_mut().filter(|p| p.key == "DATABASE_URL") {
        p.kind = if bad_key.is_some() {
            ParameterKind::SecureString
        } else {
            ParameterKind::String
        };
    }
    let history = history_of(
        "DATABASE_URL",
        vec![good, parameter_version(2, DEV_DB, bad_key)],
    );
    (parameters, history)
}

/// What a restore of DATABASE_URL does: `Ok` with the type and key it writes, or `Err` with
/// the codes of the findings that refuse it.
fn restore_of(result: &ParameterPlan) -> Result<(ParameterKind, Option<&str>), Vec<&str>> {
    match result.actions.as_slice() {
        [ParameterAction::RevertParameter {
            parameter_type,
            kms_key,
            to_version: 1,
            ..
        }] => Ok((*parameter_type, kms_key.as_ref().map(KmsKeyRef::as_str))),
        [] => Err(result
            .findings
            .iter()
            .filter(|f| f.code == FindingCode::RestoreKeyNotDeclared)
            .map(|f| f.parameter.as_str())
            .collect()),
        other => panic!("unexpected actions {other:?}"),
    }
}

/// The restore takes the type and key of the version it restores, never the rejected
/// version's: whoever wrote the bad value chose those. A declared key refuses any other.
#[test]
fn a_restore_keeps_the_restored_versions_type_and_key_and_only_a_declared_one() {
    use ParameterKind::{SecureString, String as Plain};
    let secure_under = |key: &str| parameter_version(1, GOOD_DB, Some(key));
    let without_key = ParameterVersion {
        kms_key: None,
        ..secure_under(STACK_KMS_KEY)
    };
    let cases = [
        // (the rejected version's key, the version restored, declared key, expected)
        (
            Some(OTHER_KMS_KEY),
            secure_under(STACK_KMS_KEY),
            None,
            Ok((SecureString, Some(STACK_KMS_KEY))),
        ),
        (
            Some(OTHER_KMS_KEY),
            secure_under(STACK_KMS_KEY),
            Some(STACK_KMS_KEY),
            Ok((SecureString, Some(STACK_KMS_KEY))),
        ),
        (
            None,
            secure_under(STACK_KMS_KEY),
            Some(STACK_KMS_KEY),
            Ok((SecureString, Some(STACK_KMS_KEY))),
        ),
        (
            Some(STACK_KMS_KEY),
            parameter_version(1, GOOD_DB, None),
            Some(STACK_KMS_KEY),
            Ok((Plain, None)),
        ),
        (
            Some(OTHER_KMS_KEY),
            secure_under(OTHER_KMS_KEY),
            None,
            Ok((SecureString, Some(OTHER_KMS_KEY))),
        ),
        (
            Some(OTHER_KMS_KEY),
            secure_under(OTHER_KMS_KEY),
            Some(STACK_KMS_KEY),
            Err(vec!["DATABASE_URL"]),
        ),
        // The same key written another way is another reference: refused, never guessed.
        (
            Some(STACK_KMS_KEY),
            secure_under("arn:aws:kms:us-east-1:111122223333:alias/chainlink-demo"),
            Some(STACK_KMS_KEY),
            Err(vec!["DATABASE_URL"]),
        ),
        (
            Some(STACK_KMS_KEY),
            without_key.clone(),
            Some(STACK_KMS_KEY),
            Err(vec!["DATABASE_URL"]),
        ),
        (
            Some(STACK_KMS_KEY),
            without_key,
            None,
            Err(vec!["DATABASE_URL"]),
        ),
    ];
    for (bad_key, good, declared, expected) in cases {
        let case = format!("{bad_key:?} {good:?} {declared:?}");
        let (parameters, history) = dev_database_written(bad_key, good);
        let result = plan_with_key(declared, &parameters, &history);
        assert_eq!(restore_of(&result), expected, "{case}: {result:#?}");
        let note = result.note.clone().unwrap_or_default();
        match (&expected, declared) {
            (Err(_), _) => {
                assert!(note.contains("refused"), "{case}: {note}");
                assert!(
                    report::ParameterReport::new(result, Vec::new()).left_invalid(),
                    "{case}"
                );
            }
            (Ok((SecureString, _)), None) => {
                assert!(note.contains("no kms_key is declared"), "{case}: {note}")
            }
            (Ok(_), _) => assert_eq!(result.note, None, "{case}"),
        }
    }
}

#[test]
fn a_refusal_names_both_keys_and_the_plan_shows_the_key_a_restore_uses() {
    let (parameters, history) = dev_database_written(
        Some(OTHER_KMS_KEY),
        parameter_version(1, GOOD_DB, Some(OTHER_KMS_KEY)),
    );
    let refused = plan_with_key(Some(STACK_KMS_KEY), &parameters, &history);
    let finding = refused
        .findings
        .iter()
        .find(|f| f.code == FindingCode::RestoreKeyNotDeclared)
        .unwrap_or_else(|| panic!("{:#?}", refused.findings));
    assert_eq!(finding.severity, chainlink::Severity::Critical);
    assert!(
        finding.message.contains(OTHER_KMS_KEY) && finding.message.contains(STACK_KMS_KEY),
        "{}",
        finding.message
    );

    let (parameters, history) = dev_database_written(
        Some(OTHER_KMS_KEY),
        parameter_version(1, GOOD_DB, Some(STACK_KMS_KEY)),
    );
    let restored = plan_with_key(Some(STACK_KMS_KEY), &parameters, &history);
    let [action] = restored.actions.as_slice() else {
        panic!("{:?}", restored.actions)
    };
    assert!(
        action
            .to_string()
            .ends_with("as a new version, SecureString under KMS key alias/chainlink-demo"),
        "{action}"
    );
    let json = serde_json::to_value(action).unwrap_or_default();
    assert_eq!(json["parameter_type"], "SecureString");
    assert_eq!(json["kms_key"], STACK_KMS_KEY);
}
