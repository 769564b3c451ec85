//! A stack's Chainlink node parameters in SSM Parameter Store: what was read, and the pure plan
//! that keeps them valid — mark a valid set as last known good, or roll a bad change back to
//! the most recent valid value as a new version (history is kept; nothing is ever deleted).
//!
//! Values are `SecretValue`s from the moment they are read: they never reach a log, a report or
//! an error, and a rollback's value is carried in memory only.

mod plan;
pub mod report;

pub use plan::{histories_needed, plan_parameters, suspects, ParameterPlan};

use crate::ids::ParameterName;
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

/// An earlier version of a parameter, from its history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterVersion {
    pub version: i64,
    pub value: SecretValue,
}

/// A change to Parameter Store. Never a deletion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind")]
pub enum ParameterAction {
    /// Put an earlier, valid value back as a new version, and label that version.
    RevertParameter {
        name: ParameterName,
        parameter_type: ParameterKind,
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
                from_version,
                to_version,
                rejected_for,
                ..
            } => write!(
                f,
                "revert {name}: version {from_version} is invalid ({}); put version {to_version}'s value back as a new version",
                rejected_for.join(", ")
            ),
            Self::LabelParameter { name, version, label } => {
                write!(f, "label {name} version {version} as {label}")
            }
        }
    }
}
