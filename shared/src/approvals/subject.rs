//! What a person may be asked to approve, as a capability describes its plan.

use domain::ids::StackName;
use domain::stack::Remediation;

/// What a person may be asked to approve: one capability's remediation of one stack.
#[derive(Debug)]
pub struct Approvable {
    pub stack: StackName,
    pub remediation: Remediation,
    pub target: String,
    pub alarm: String,
    pub changed_at: String,
    /// The plan's `approval_digest`.
    pub digest: String,
    /// The nonces of approvals the target's records say were used.
    pub used: Vec<String>,
}
