//! What woke the engine up, in domain terms. An event is only ever a hint about where to look:
//! the engine re-reads the current state of whatever a signal names.

use crate::ids::SecurityGroupId;
use serde::Serialize;
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
    /// A parameter was created, updated, deleted or relabeled.
    ParameterChanged { name: String, operation: String },
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
