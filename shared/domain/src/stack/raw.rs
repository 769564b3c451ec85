//! The stack file exactly as written: serde types that mirror the TOML and reject unknown keys.
//!
//! Nothing here is trusted; `stack::StackFile::parse` turns it into validated domain types.

use super::approvals::RawApprovals;
use super::database::RawDatabase;
use super::organization::RawOrganization;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStackFile {
    pub stack: RawStack,
    #[serde(default)]
    pub roles: BTreeMap<String, RawRole>,
    #[serde(default)]
    pub flows: Vec<RawFlow>,
    #[serde(default)]
    pub egress: Vec<RawEgress>,
    #[serde(default)]
    pub forbidden: Vec<RawForbidden>,
    #[serde(default)]
    pub exceptions: Vec<RawException>,
    #[serde(default)]
    pub limits: RawLimits,
    pub environment: Option<RawEnvironment>,
    pub parameters: Option<RawParameters>,
    pub instances: Option<RawInstances>,
    #[serde(default)]
    pub alarms: Vec<RawAlarm>,
    pub database: Option<RawDatabase>,
    pub approvals: Option<RawApprovals>,
    pub organization: Option<RawOrganization>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInstances {
    #[serde(default = "default_cooldown")]
    pub cooldown_minutes: i64,
    #[serde(default = "default_resizes")]
    pub max_resizes_per_hour: i64,
    #[serde(default = "default_healthy")]
    pub min_healthy_percentage: i64,
    #[serde(default = "default_disk_step")]
    pub disk_step_percent: i64,
    #[serde(default = "default_disk_max")]
    pub disk_max_gib: i64,
}

impl Default for RawInstances {
    fn default() -> Self {
        Self {
            cooldown_minutes: default_cooldown(),
            max_resizes_per_hour: default_resizes(),
            min_healthy_percentage: default_healthy(),
            disk_step_percent: default_disk_step(),
            disk_max_gib: default_disk_max(),
        }
    }
}

fn default_cooldown() -> i64 {
    60
}

fn default_resizes() -> i64 {
    2
}

fn default_healthy() -> i64 {
    90
}

fn default_disk_step() -> i64 {
    50
}

fn default_disk_max() -> i64 {
    1000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlarm {
    pub name: Option<String>,
    pub metric: Option<String>,
    pub remediation: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnvironment {
    pub name: String,
    pub chain_id: Option<i64>,
    #[serde(default)]
    pub database_hosts: Vec<String>,
    #[serde(default)]
    pub rpc_hosts: Vec<String>,
    #[serde(default)]
    pub forbidden_hosts: Vec<String>,
    /// The Chainlink node version the stack runs (`"2.18.0"`).
    pub node_version: Option<String>,
    /// Or the tag of the node's instances that says it (`"chainlink:node-version"`).
    pub node_version_tag: Option<String>,
    /// The database's connection limit (Postgres `max_connections`).
    pub database_max_connections: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawParameters {
    pub prefix: String,
    #[serde(default = "default_label")]
    pub label: String,
    #[serde(default)]
    pub probes: bool,
    #[serde(default)]
    pub kms_key: Option<String>,
    /// Secrets the node gets from elsewhere, by the parameter name they stand for.
    #[serde(default)]
    pub external: BTreeMap<String, RawSecretPlace>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSecretPlace {
    pub file: Option<String>,
    pub secrets_manager: Option<String>,
}

fn default_label() -> String {
    "last-known-good".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStack {
    pub name: String,
    pub mode: String,
    /// The VPCs the stack's groups live in; a group anywhere else is never admitted.
    #[serde(default)]
    pub vpcs: Vec<String>,
    /// Why a production stack names no VPCs or accepted groups (trusting the tags alone).
    pub unpinned: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRole {
    #[serde(default)]
    pub description: String,
    /// Instance types, smallest first: where a resize of the role's instances goes.
    #[serde(default)]
    pub ladder: Vec<String>,
    /// The security groups accepted in this role; empty: any group of the stack carrying it.
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFlow {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub from: String,
    pub to: String,
    #[serde(default = "tcp")]
    pub protocol: String,
    /// A number or range; none when `config_port` gives the port.
    pub ports: Option<RawPorts>,
    /// The port of the node's configuration the flow serves (`p2p`, `http`, `https`,
    /// `database`): the flow's port when `ports` is absent, checked against it otherwise.
    pub config_port: Option<String>,
    /// Whether the flow needs a rule naming its source group itself, even where a rule naming
    /// a CIDR already admits every address of the group.
    #[serde(default)]
    pub group_rule: bool,
}

/// A path out of the stack the flow check verifies, towards declared CIDRs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEgress {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub from: String,
    pub to: Vec<String>,
    #[serde(default = "tcp")]
    pub protocol: String,
    pub ports: Option<RawPorts>,
    /// An outbound port of the node's configuration (`rpc`, `database`) instead of `ports`.
    pub config_port: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawForbidden {
    #[serde(default)]
    pub description: String,
    #[serde(default = "tcp")]
    pub protocol: String,
    pub ports: Vec<RawPorts>,
    /// Empty: every group of the stack, with or without a role.
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawException {
    pub reason: String,
    pub security_group: Option<String>,
    pub role: Option<String>,
    pub from: Option<String>,
    pub protocol: Option<String>,
    pub ports: Option<RawPorts>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    #[serde(default = "default_max_changes")]
    pub max_changes_per_run: i64,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            max_changes_per_run: default_max_changes(),
        }
    }
}

/// `5432` or `"30000-30100"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum RawPorts {
    Number(i64),
    Text(String),
}

fn tcp() -> String {
    "tcp".into()
}

fn default_max_changes() -> i64 {
    25
}
