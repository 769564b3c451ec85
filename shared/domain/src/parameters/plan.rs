//! The parameter planner: validate the whole set (one value is only valid relative to the
//! others), then label a valid set, or find the most recent valid values for what changed.
//!
//! A restore keeps the type and KMS key of the version it restores: the rejected version's
//! were chosen by whoever wrote the bad value, and could re-encrypt the good secret under a key
//! they hold. With a declared key, a restore under any other key is refused.

use super::{ObservedParameter, ParameterAction, ParameterKind, ParameterVersion};
use crate::ids::{KmsKeyRef, ParameterName};
use chainlink::{
    check_places, validate, ConfigStyle, EnvironmentPolicy, Finding, FindingCode, SecretValue,
    Severity, Validation,
};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize)]
pub struct ParameterPlan {
    pub prefix: String,
    pub style: ConfigStyle,
    pub valid: bool,
    pub findings: Vec<Finding>,
    pub actions: Vec<ParameterAction>,
    /// Why nothing (more) could be done, when the set is invalid; or, for a restore without a
    /// declared KMS key, which key it keeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The parameters changed since the set was last known good: where a bad value can be.
pub fn suspects(parameters: &[ObservedParameter]) -> Vec<&ObservedParameter> {
    parameters
        .iter()
        .filter(|p| p.labeled_version != Some(p.version))
        .collect()
}

fn pairs(
    parameters: &[ObservedParameter],
    replaced: &BTreeMap<&str, &SecretValue>,
) -> Vec<(String, SecretValue)> {
    parameters
        .iter()
        .map(|p| {
            let value = replaced.get(p.name.as_str()).copied().unwrap_or(&p.value);
            (p.key.clone(), value.clone())
        })
        .collect()
}

/// The parameters whose earlier versions a plan needs: the suspects of an invalid set, and
/// none for a valid one, so that a valid change costs no history read.
pub fn histories_needed<'a>(
    policy: &EnvironmentPolicy,
    parameters: &'a [ObservedParameter],
) -> Vec<&'a ObservedParameter> {
    if validate(&pairs(parameters, &BTreeMap::new()), policy).is_valid() {
        Vec::new()
    } else {
        suspects(parameters)
    }
}

/// Plans for the parameters under `prefix`. `history` holds earlier versions of the suspects
/// (newest first), read only when the set is invalid. `kms_key`, when the stack declares one, is
/// the only key a restored SecureString may be under.
pub fn plan_parameters(
    prefix: &str,
    label: &str,
    policy: &EnvironmentPolicy,
    parameters: &[ObservedParameter],
    history: &BTreeMap<ParameterName, Vec<ParameterVersion>>,
    kms_key: Option<&KmsKeyRef>,
) -> ParameterPlan {
    let current = validate(&pairs(parameters, &BTreeMap::new()), policy);
    let expiring = plan_expirations(policy, parameters, &current);
    let mut plan = ParameterPlan {
        prefix: prefix.to_string(),
        style: current.style,
        valid: current.is_valid(),
        findings: current
            .findings
            .iter()
            .cloned()
            .chain(expiring)
            .chain(check_places(
                parameters.iter().map(|p| p.key.as_str()),
                &policy.secrets_elsewhere,
            ))
            .collect(),
        actions: Vec::new(),
        note: None,
    };
    if current.is_valid() {
        plan.actions = parameters
            .iter()
            .filter(|p| p.labeled_version != Some(p.version))
            .map(|p| ParameterAction::LabelParameter {
                name: p.name.clone(),
                version: p.version,
                label: label.to_string(),
            })
            .collect();
        return plan;
    }
    let suspects = suspects(parameters);
    if suspects.is_empty() {
        plan.note = Some(if parameters.is_empty() {
            format!("no parameter exists under {prefix}: nothing to roll back to")
        } else {
            "every parameter is still at its last-known-good version (a required one may have been deleted, \
             and Parameter Store keeps no history of deleted parameters): fix the findings by hand"
                .to_string()
        });
        return plan;
    }
    match find_valid_values(parameters, &suspects, history, policy) {
        Some(restore) => {
            let refused: Vec<Finding> = restore
                .iter()
                .filter_map(|(parameter, earlier)| refuse_key(parameter, earlier, kms_key))
                .collect();
            if !refused.is_empty() {
                plan.findings.extend(refused);
                plan.note = Some(
                    "the rollback is refused (CL-SSM-002): a valid earlier value is under a KMS key \
                     the stack does not declare; left as is, nothing written"
                        .to_string(),
                );
                return plan;
            }
            if kms_key.is_none()
                && restore
                    .iter()
                    .any(|(_, earlier)| earlier.kind == ParameterKind::SecureString)
            {
                plan.note = Some(
                    "no kms_key is declared under [parameters]: each restored SecureString keeps \
                     the KMS key of the version restored (never the rejected version's), unchecked"
                        .to_string(),
                );
            }
            plan.actions = restore
                .into_iter()
                .map(|(parameter, earlier)| ParameterAction::RevertParameter {
                    name: parameter.name.clone(),
                    parameter_type: earlier.kind,
                    kms_key: earlier.kms_key.clone(),
                    from_version: parameter.version,
                    to_version: earlier.version,
                    label: label.to_string(),
                    rejected_for: codes_for(&current, &parameter.key),
                    value: earlier.value.clone(),
                })
                .collect();
        }
        None => {
            plan.note = Some(
                "no earlier version of the changed parameters makes the set valid: left as is; fix the findings by hand"
                    .to_string(),
            );
        }
    }
    plan
}

/// A critical finding for each parameter the set needs that an `Expiration` policy will delete.
/// "Needs": without it, validation finds an error the set does not have now (a missing
/// database URL, keystore password, RPC URL…). Today's values may all be valid: the deletion
/// is what breaks the node, so the finding stands until the policy is gone.
pub fn plan_expirations(
    policy: &EnvironmentPolicy,
    parameters: &[ObservedParameter],
    current: &Validation,
) -> Vec<Finding> {
    let failing = |validation: &Validation| -> Vec<(FindingCode, String)> {
        validation
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Error)
            .map(|f| (f.code, f.parameter.clone()))
            .collect()
    };
    let now = failing(current);
    parameters
        .iter()
        .filter_map(|parameter| {
            let at = parameter.expires_at.as_deref()?;
            let without: Vec<(String, SecretValue)> = parameters
                .iter()
                .filter(|other| other.name != parameter.name)
                .map(|other| (other.key.clone(), other.value.clone()))
                .collect();
            let broken: Vec<&str> = failing(&validate(&without, policy))
                .iter()
                .filter(|finding| !now.contains(finding))
                .map(|(code, _)| code.as_str())
                .collect();
            (!broken.is_empty()).then(|| {
                Finding::new(
                    FindingCode::ParameterExpires,
                    parameter.key.as_str(),
                    format!(
                        "an Expiration policy makes Parameter Store delete it at {at}, and the set \
                         is invalid without it ({}): remove the policy or move the value to a \
                         parameter without one",
                        broken.join(", ")
                    ),
                )
            })
        })
        .collect()
}

/// The suspects to restore, each with the earlier version to restore. Tries, in order: every
/// suspect back at its labeled version; then one suspect at a time, newest version first.
fn find_valid_values<'a>(
    parameters: &[ObservedParameter],
    suspects: &[&'a ObservedParameter],
    history: &'a BTreeMap<ParameterName, Vec<ParameterVersion>>,
    policy: &EnvironmentPolicy,
) -> Option<Vec<(&'a ObservedParameter, &'a ParameterVersion)>> {
    let earlier =
        |p: &ObservedParameter| history.get(&p.name).map(Vec::as_slice).unwrap_or_default();
    let is_valid = |restore: &[(&ObservedParameter, &ParameterVersion)]| {
        let replaced = restore
            .iter()
            .map(|(p, v)| (p.name.as_str(), &v.value))
            .collect();
        validate(&pairs(parameters, &replaced), policy).is_valid()
    };

    let labeled: Option<Vec<_>> = suspects
        .iter()
        .filter(|p| p.labeled_version.is_some())
        .map(|p| {
            let target = earlier(p)
                .iter()
                .find(|v| Some(v.version) == p.labeled_version)?;
            Some((*p, target))
        })
        .collect();
    if let Some(labeled) = labeled.filter(|l| !l.is_empty()) {
        if is_valid(&labeled) {
            return Some(labeled);
        }
    }
    for suspect in suspects {
        for version in earlier(suspect)
            .iter()
            .filter(|v| v.version < suspect.version)
        {
            let restore = [(*suspect, version)];
            if is_valid(&restore) {
                return Some(restore.to_vec());
            }
        }
    }
    None
}

/// Why `earlier` may not be put back, when it may not: a SecureString under another key than
/// the declared one, or one whose key Parameter Store did not report (the write would fall
/// back to a key nobody chose). Keys are compared as written — see `KmsKeyRef`.
fn refuse_key(
    parameter: &ObservedParameter,
    earlier: &ParameterVersion,
    declared: Option<&KmsKeyRef>,
) -> Option<Finding> {
    if earlier.kind != ParameterKind::SecureString {
        return None;
    }
    let message = match (&earlier.kms_key, declared) {
        (Some(key), Some(declared)) if key == declared => return None,
        (Some(_), None) => return None,
        (Some(key), Some(declared)) => format!(
            "version {} holds the value to restore, but under KMS key {key}, not the declared \
             {declared}: the rollback is refused rather than re-encrypt the secret under a key the \
             stack does not own (if it is the same key written another way, declare it as {key}); \
             put the good value back under {declared} by hand",
            earlier.version
        ),
        (None, _) => format!(
            "version {} holds the value to restore, but Parameter Store reports no KMS key for \
             it: the rollback is refused rather than encrypt the secret under a key nobody chose",
            earlier.version
        ),
    };
    Some(Finding::new(
        FindingCode::RestoreKeyNotDeclared,
        parameter.key.as_str(),
        message,
    ))
}

fn codes_for(validation: &Validation, key: &str) -> Vec<String> {
    let mut codes: Vec<String> = validation
        .findings
        .iter()
        .filter(|f| f.parameter == key && f.severity >= chainlink::Severity::Error)
        .map(|f| f.code.as_str().to_string())
        .collect();
    codes.dedup();
    if codes.is_empty() {
        codes.push("invalid in combination with the other parameters".into());
    }
    codes
}
