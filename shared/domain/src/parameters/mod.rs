//! A stack's Chainlink node parameters in SSM Parameter Store: what was read, and the pure plan
//! that keeps them valid — mark a valid set as last known good, or roll a bad change back to
//! the most recent valid value as a new version (history is kept; nothing is ever deleted).
//!
//! Values are `SecretValue`s from the moment they are read: they never reach a log, a report or
//! an error, and a rollback's value is carried in memory only.

mod node_config;
mod plan;
pub mod report;

pub use node_config::{followed_configuration, ReadConfiguration};
pub use plan::{histories_needed, plan_expirations, plan_parameters, suspects, ParameterPlan};

use crate::ids::{KmsKeyRef, ParameterName};
use chainlink::SecretValue;
use serde::Serialize;

/// One parameter under a stack's prefix, at its current version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedParameter {
    /// The full name, `/chainlink/demo/DATABASE_URL`.
    pub name: ParameterName,
    /// The name under the prefix, `DATABASE_URL`: what the validator reads.
    pub key: String,
    pub kind: ParameterKind,
    pub version: i64,
    pub value: SecretValue,
    /// The version that carries the last-known-good label, if any.
    pub labeled_version: Option<i64>,
    /// When an `Expiration` policy makes Parameter Store delete the parameter, as the policy
    /// states it (see `expiration_of`).
    pub expires_at: Option<String>,
}

/// What an `Expiration` policy says, from one of a parameter's policies as `DescribeParameters`
/// returns it (`PolicyType`, and `PolicyText`: `{"Type":"Expiration","Version":"1.0",
/// "Attributes":{"Timestamp":"2026-12-05T11:00:00.000Z"}}`): the time, or a placeholder when
/// the text does not give one. `None` for the other policy types, which delete nothing.
pub fn expiration_of(policy_type: Option<&str>, policy_text: Option<&str>) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Policy {
        #[serde(rename = "Type")]
        kind: String,
        #[serde(rename = "Attributes", default)]
        attributes: Attributes,
    }
    #[derive(Default, serde::Deserialize)]
    struct Attributes {
        #[serde(rename = "Timestamp", default)]
        timestamp: Option<String>,
    }
    let policy: Option<Policy> = policy_text.and_then(|text| serde_json::from_str(text).ok());
    let kind = policy_type.or(policy.as_ref().map(|p| p.kind.as_str()))?;
    if kind != "Expiration" {
        return None;
    }
    let at = policy.and_then(|p| p.attributes.timestamp);
    Some(at.unwrap_or_else(|| "a time its policy does not state".to_string()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ParameterKind {
    String,
    SecureString,
    StringList,
}

impl ParameterKind {
    pub fn as_aws(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::SecureString => "SecureString",
            Self::StringList => "StringList",
        }
    }
}

/// An earlier version of a parameter, from its history: its value, and the type and KMS key it
/// was written with, which a restore of it keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterVersion {
    pub version: i64,
    pub value: SecretValue,
    pub kind: ParameterKind,
    /// The KMS key of a SecureString, as Parameter Store reports it (`KeyId`); `None` for the
    /// other types.
    pub kms_key: Option<KmsKeyRef>,
}

/// A change to Parameter Store. Never a deletion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind")]
pub enum ParameterAction {
    /// Put an earlier, valid value back as a new version, and label that version. The new
    /// version has the type and KMS key of the version restored, never the rejected one's.
    RevertParameter {
        name: ParameterName,
        parameter_type: ParameterKind,
        /// The key the value is encrypted under: `to_version`'s (a SecureString's only).
        #[serde(skip_serializing_if = "Option::is_none")]
        kms_key: Option<KmsKeyRef>,
        from_version: i64,
        to_version: i64,
        label: String,
        /// The finding codes the rejected value produced.
        rejected_for: Vec<String>,
        #[serde(skip)]
        value: SecretValue,
    },
    /// Mark the current version as the last one known to be valid.
    LabelParameter {
        name: ParameterName,
        version: i64,
        label: String,
    },
}

impl ParameterAction {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RevertParameter { .. } => "RevertParameter",
            Self::LabelParameter { .. } => "LabelParameter",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::RevertParameter { name, .. } | Self::LabelParameter { name, .. } => name.as_str(),
        }
    }
}

impl std::fmt::Display for ParameterAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RevertParameter {
                name,
                parameter_type,
                kms_key,
                from_version,
                to_version,
                rejected_for,
                ..
            } => {
                write!(
                    f,
                    "revert {name}: version {from_version} is invalid ({}); put version {to_version}'s value back as a new version, {}",
                    rejected_for.join(", "),
                    parameter_type.as_aws()
                )?;
                match kms_key {
                    Some(key) => write!(f, " under KMS key {key}"),
                    None => Ok(()),
                }
            }
            Self::LabelParameter {
                name,
                version,
                label,
            } => {
                write!(f, "label {name} version {version} as {label}")
            }
        }
    }
}
