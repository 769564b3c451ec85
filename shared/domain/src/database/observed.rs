//! An RDS DB instance as the engine reads it: a plain value the AWS side fills from
//! DescribeDBInstances (the instance, its subnet group and pending modifications),
//! DescribeDBParameters (`max_connections`, `rds.force_ssl`), DescribeEvents (the last storage
//! change) and its tags. Everything the checks and the planner decide is decided from this.

use super::connection_limit::{
    evaluate_max_connections, ConnectionLimit, ConnectionLimitError, FormulaContext,
    MaxConnectionsSetting,
};
use crate::ids::{
    DbInstanceArn, DbInstanceId, RoleName, SecurityGroupId, StackName, SubnetId, ROLE_TAG,
    STACK_TAG,
};
use crate::instances::{RemediationRecord, REMEDIATION_TAG};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The status in which a DB instance accepts a modification.
pub const AVAILABLE: &str = "available";
/// The status while RDS optimizes storage after a change: no storage change until it ends.
pub const STORAGE_OPTIMIZATION: &str = "storage-optimization";

/// One RDS DB instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObservedDatabase {
    pub id: DbInstanceId,
    pub arn: DbInstanceArn,
    /// `postgres`, `aurora-postgresql`…
    pub engine: String,
    /// `16.4`.
    pub engine_version: String,
    /// `db.m6i.large`, as AWS reports it (perhaps outside the class table).
    pub class: String,
    pub allocated_storage_gib: u32,
    /// The storage-autoscaling ceiling (`MaxAllocatedStorage`); `None`: autoscaling is off.
    pub max_allocated_storage_gib: Option<u32>,
    /// `gp3`, `io2`…
    pub storage_type: String,
    pub iops: Option<u32>,
    pub multi_az: bool,
    /// `DBInstanceStatus`: `available`, `modifying`, `storage-optimization`…
    pub status: String,
    pub pending: PendingModifications,
    /// `PreferredMaintenanceWindow` (`sun:05:00-sun:06:00`, UTC): when a scheduled change
    /// takes effect.
    pub maintenance_window: Option<String>,
    /// When storage was last modified: AWS has no field for it, so the AWS side reads it from
    /// DescribeEvents (or leaves it out); the remediation tag is read here too.
    pub storage_modified_at: Option<DateTime<Utc>>,
    /// `None` while the instance is being created.
    pub endpoint: Option<DatabaseEndpoint>,
    pub security_groups: Vec<SecurityGroupId>,
    /// The subnets of its DB subnet group.
    pub subnets: Vec<SubnetId>,
    pub max_connections: MaxConnectionsSetting,
    /// `rds.force_ssl` as the parameter group sets it; `None`: not set, the engine's default.
    pub force_ssl: Option<bool>,
    pub tags: BTreeMap<String, String>,
    /// The Aurora cluster the instance is a member of (`DBClusterIdentifier`); `None`: a
    /// standalone instance.
    pub cluster: Option<DatabaseCluster>,
}

/// An Aurora DB cluster as its members see it: the node connects to the cluster's endpoints,
/// not the instance's, and the cluster owns the storage, which grows by itself. Observed and
/// checked only: the engine changes nothing of a cluster or its members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatabaseCluster {
    pub id: String,
    /// The writer, reader and custom endpoints' host names.
    pub hosts: Vec<String>,
    pub port: Option<u16>,
}

/// Where clients connect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatabaseEndpoint {
    /// `demo-db.abcdefghijkl.us-east-1.rds.amazonaws.com`.
    pub host: String,
    pub port: u16,
}

/// `PendingModifiedValues`: changes RDS will apply in the maintenance window — or at once, with
/// the next modification sent with `ApplyImmediately`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PendingModifications {
    pub class: Option<String>,
    pub allocated_storage_gib: Option<u32>,
    /// The names of the other pending fields (`EngineVersion`, `MultiAZ`, `MasterUserPassword`…).
    pub other: Vec<String>,
}

impl PendingModifications {
    pub fn is_empty(&self) -> bool {
        self.class.is_none() && self.allocated_storage_gib.is_none() && self.other.is_empty()
    }
}

impl fmt::Display for PendingModifications {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(class) = &self.class {
            parts.push(format!("class {class}"));
        }
        if let Some(gib) = self.allocated_storage_gib {
            parts.push(format!("allocated storage {gib} GiB"));
        }
        parts.extend(self.other.iter().cloned());
        if parts.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&parts.join(", "))
    }
}

impl ObservedDatabase {
    pub fn stack(&self) -> Option<StackName> {
        self.tags.get(STACK_TAG).and_then(|s| StackName::parse(s))
    }

    pub fn role(&self) -> Option<RoleName> {
        self.tags.get(ROLE_TAG).and_then(|r| RoleName::parse(r))
    }

    /// The remediation tag of this engine, if any (a tag it did not write is ignored).
    pub fn last_remediation(&self) -> Option<RemediationRecord> {
        self.tags
            .get(REMEDIATION_TAG)
            .and_then(|value| RemediationRecord::parse(value))
    }

    /// Whether RDS for PostgreSQL refuses connections without TLS: the parameter when set,
    /// else the engine's default (on from major version 15, off before: "Updating applications
    /// to connect to PostgreSQL DB instances using new SSL/TLS certificates"). `None` for
    /// another engine, or a version that does not say its major.
    pub fn forces_ssl(&self) -> Option<bool> {
        if self.force_ssl.is_some() {
            return self.force_ssl;
        }
        if self.engine != "postgres" {
            return None;
        }
        let major: u32 = self.engine_version.split('.').next()?.parse().ok()?;
        Some(major >= 15)
    }

    /// Whether the node's URL may name `host` for this instance: its own endpoint, or one of its
    /// Aurora cluster's.
    pub fn answers_at(&self, host: &str) -> bool {
        let own = self.endpoint.iter().map(|e| e.host.as_str());
        let cluster = self
            .cluster
            .iter()
            .flat_map(|c| c.hosts.iter().map(String::as_str));
        own.chain(cluster)
            .any(|known| known.eq_ignore_ascii_case(host))
    }

    /// The port clients reach it on: the cluster's for an Aurora member, else its own.
    pub fn port(&self) -> Option<u16> {
        self.cluster
            .as_ref()
            .and_then(|c| c.port)
            .or(self.endpoint.as_ref().map(|e| e.port))
    }

    /// `max_connections` evaluated for this instance's class, storage and port.
    pub fn connection_limit(&self) -> Result<ConnectionLimit, ConnectionLimitError> {
        evaluate_max_connections(
            &self.max_connections,
            &FormulaContext {
                engine: &self.engine,
                class: &self.class,
                allocated_storage_gib: self.allocated_storage_gib,
                port: self.endpoint.as_ref().map(|e| e.port),
            },
        )
    }
}

impl fmt::Display for ObservedDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DB instance {}", self.id)
    }
}
