//! The parameter planner: validate the whole set (one value is only valid relative to the
//! others), then label a valid set, or find the most recent valid values for what changed.

use super::{ObservedParameter, ParameterAction, ParameterVersion};
use crate::ids::ParameterName;
use chainlink::{
    validate, ConfigStyle, EnvironmentPolicy, Finding, FindingCode, SecretValue, Severity,
    Validation,
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
    /// Why nothing (more) could be done, when the set is invalid.
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
/// (newest first), read only when the set is invalid.
pub fn plan_parameters(
    prefix: &str,
    label: &str,
    policy: &EnvironmentPolicy,
    parameters: &[ObservedParameter],
    history: &BTreeMap<ParameterName, Vec<ParameterVersion>>,
) -> ParameterPlan {
    let current = validate(&pairs(parameters, &BTreeMap::new()), policy);
    let expiring = plan_expirations(policy, parameters, &current);
    let mut plan = ParameterPlan {
        prefix: prefix.to_string(),
        style: current.style,
        valid: current.is_valid(),
        findings: current.findings.iter().cloned().chain(expiring).collect(),
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
            plan.actions = restore
                .into_iter()
                .map(|(parameter, earlier)| ParameterAction::RevertParameter {
                    name: parameter.name.clone(),
                    parameter_type: parameter.kind,
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
