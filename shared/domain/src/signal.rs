//! What woke the engine up, in domain terms. An event is only ever a hint about where to look:
//! the engine re-reads the current state of whatever a signal names.

use crate::ids::SecurityGroupId;
use serde::Serialize;
use sha3::{Digest, Sha3_256};
use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Signal {
    /// The event's own ID (EventBridge `id`, CloudTrail `eventID`), for logs and deduplication.
    pub id: String,
    /// Where it came from, for people: `cloudtrail:AuthorizeSecurityGroupIngress`, `schedule`…
    pub origin: String,
    pub kind: SignalKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignalKind {
    /// Check every stack the stack file guards.
    Sweep,
    /// These groups may have drifted.
    SecurityGroupsChanged { groups: Vec<SecurityGroupId> },
    /// A parameter was created, updated, deleted or relabeled (`operation` is the API's:
    /// `Update`…), or one of its policies acted (`Expiration policy`,
    /// `ExpirationNotification policy`, `NoChangeNotification policy`). Either way its set is
    /// re-read and re-validated, policies included.
    ParameterChanged { name: String, operation: String },
    /// A CloudWatch alarm went into `ALARM`.
    AlarmFired(AlarmNotice),
    /// A person decided on a remediation that waited for approval: the token says which
    /// (`approvals::verify`), and nothing is read before it verifies.
    Approval {
        /// Never echoed into a report or a log: it is a bearer credential until it expires.
        #[serde(skip_serializing)]
        token: String,
    },
    /// A well-formed event that calls for nothing, and why.
    Ignored { reason: String },
}

impl Signal {
    pub fn sweep(origin: impl Into<String>) -> Self {
        Self {
            id: String::new(),
            origin: origin.into(),
            kind: SignalKind::Sweep,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if !self.id.is_empty() {
            write!(f, " ({})", self.id)?;
        }
        Ok(())
    }
}

/// An alarm's transition into `ALARM`, whichever way it was delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlarmNotice {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// When the alarm changed state, as CloudWatch wrote it: the same in every delivery of
    /// one transition, whatever its shape.
    pub changed_at: String,
    pub metrics: Vec<AlarmMetric>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlarmMetric {
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
}

impl AlarmNotice {
    /// One incident = one transition of one alarm. Every delivery of it (EventBridge, SNS,
    /// the direct action, retries, replays) has the same key, short enough for a tag.
    pub fn incident(&self) -> String {
        let digest = Sha3_256::digest(format!("{}\n{}", self.name, self.changed_at));
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// `(namespace, metric name)` of each metric, for matching the stack file's alarm rules.
    pub fn metric_names(&self) -> Vec<(String, String)> {
        self.metrics
            .iter()
            .map(|m| (m.namespace.clone(), m.name.clone()))
            .collect()
    }

    /// The first value of a dimension among the alarm's metrics.
    pub fn dimension(&self, name: &str) -> Option<&str> {
        self.metrics
            .iter()
            .find_map(|m| m.dimensions.get(name))
            .map(String::as_str)
    }
}
